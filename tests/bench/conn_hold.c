// conn_hold: many idle established connections, for scripts/bench's memory
// row. The client first opens WARM connections and closes each at once (the
// one-time costs: allocator arenas, the first touch of the packet buffer
// pool's pages as buffers cycle); the server accepts and closes them, notes
// its resident memory (/proc/self/statm) and malloc'd bytes, creates
// SYNC_FILE, and the client then opens N connections (at most 256 connects
// in flight) and holds them; the server accepts them all, reports the growth
// and closes everything.
//
// usage: conn_hold server ADDR PORT N WARM SYNC_FILE
//            prints "rss_kb before=B after=A conns=N heap_bytes=H"
//        conn_hold client ADDR PORT N WARM SYNC_FILE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static long rss_kb(void) {
    long pages = 0, resident = 0;
    FILE* f = fopen("/proc/self/statm", "r");
    if (f == NULL || fscanf(f, "%ld %ld", &pages, &resident) != 2) {
        resident = -1;
    }
    if (f != NULL) {
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int set_nonblock(int fd) { return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static int server(struct sockaddr_in* a, int n, int warm, const char* sync) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, (struct sockaddr*)a, sizeof *a) != 0 || listen(l, 4096) != 0) {
        perror("conn_hold: bind/listen");
        return 1;
    }
    // Warm-up: connections accepted and closed at once pay the one-time
    // costs (allocator arenas, the first touch of the packet buffer pool's
    // pages as buffers cycle) before the measurement.
    for (int i = 0; i < warm; ++i) {
        int c = accept(l, NULL, NULL);
        if (c < 0) {
            perror("conn_hold: accept");
            return 1;
        }
        close(c);
    }
    int* fds = calloc((size_t)n, sizeof(int));
    const long before = rss_kb();
    const struct mallinfo2 m0 = mallinfo2();
    FILE* go = fopen(sync, "w");  // the client starts the measured connections now
    if (go == NULL) {
        perror("conn_hold: sync file");
        return 1;
    }
    fclose(go);
    for (int i = 0; i < n; ++i) {
        fds[i] = accept(l, NULL, NULL);
        if (fds[i] < 0) {
            perror("conn_hold: accept");
            return 1;
        }
    }
    const long after = rss_kb();
    const struct mallinfo2 m1 = mallinfo2();
    printf("rss_kb before=%ld after=%ld conns=%d heap_bytes=%ld\n", before, after, n,
           (long)(m1.uordblks - m0.uordblks));
    fflush(stdout);
    for (int i = 0; i < n; ++i) {
        close(fds[i]);
    }
    close(l);
    return 0;
}

// Opens n connections, at most 256 connects in flight; hold: keep them
// until the server closes them, else close each once it is established.
static int connect_all(struct sockaddr_in* a, int n, int hold) {
    struct pollfd* p = calloc((size_t)n, sizeof(struct pollfd));
    int done = 0, started = 0, inflight = 0;
    while (done < n) {
        while (started < n && inflight < 256) {
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            if (fd < 0) {
                perror("conn_hold: socket");
                return 1;
            }
            set_nonblock(fd);
            if (connect(fd, (struct sockaddr*)a, sizeof *a) != 0 && errno != EINPROGRESS) {
                perror("conn_hold: connect");
                return 1;
            }
            p[started].fd = fd;
            p[started].events = POLLOUT;
            ++started;
            ++inflight;
        }
        if (poll(p, (nfds_t)started, 1000) < 0 && errno != EINTR) {
            perror("conn_hold: poll");
            return 1;
        }
        for (int i = 0; i < started; ++i) {
            if (p[i].events == POLLOUT && (p[i].revents & (POLLOUT | POLLERR | POLLHUP))) {
                int err = 0;
                socklen_t l = sizeof err;
                getsockopt(p[i].fd, SOL_SOCKET, SO_ERROR, &err, &l);
                if (err != 0) {
                    fprintf(stderr, "conn_hold: connection %d: %s\n", i, strerror(err));
                    return 1;
                }
                p[i].events = POLLIN;  // now wait for the server's close
                ++done;
                --inflight;
                if (!hold) {
                    close(p[i].fd);
                    p[i].fd = -1;
                    p[i].events = 0;
                }
            }
        }
    }
    if (!hold) {
        free(p);
        return 0;
    }
    printf("connected %d\n", n);
    fflush(stdout);
    // Hold them until the server closes (every one reads EOF).
    int closed = 0;
    while (closed < n) {
        if (poll(p, (nfds_t)n, 60000) <= 0) {
            break;
        }
        for (int i = 0; i < n; ++i) {
            if (p[i].fd >= 0 && (p[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                close(p[i].fd);
                p[i].fd = -1;
                ++closed;
            }
        }
    }
    return 0;
}

int main(int argc, char** argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: conn_hold server|client ADDR PORT N WARM SYNC_FILE\n");
        return 2;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[3]))};
    if (inet_pton(AF_INET, argv[2], &a.sin_addr) != 1) {
        fprintf(stderr, "conn_hold: bad address %s\n", argv[2]);
        return 2;
    }
    const int n = atoi(argv[4]);
    const int warm = atoi(argv[5]);
    if (strcmp(argv[1], "server") == 0) {
        return server(&a, n, warm, argv[6]);
    }
    if (connect_all(&a, warm, 0) != 0) {
        return 1;
    }
    for (int i = 0; access(argv[6], F_OK) != 0; ++i) {
        if (i > 60000) {
            fprintf(stderr, "conn_hold: the server never signalled\n");
            return 1;
        }
        usleep(1000);
    }
    return connect_all(&a, n, 1);
}
