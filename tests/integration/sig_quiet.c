// Run under dshim on net_tap while a kernel peer streams into the
// connection: the port's input signals (net_tap raises one per burst of
// frames) must never interrupt a program thread. One thread receives; the
// main thread sleeps 20 x 50 ms with nanosleep (which no SA_RESTART
// restarts) and reads an empty pipe with a 50 ms alarm-free poll timeout.
// Prints "eintr N bytes M"; exit 0 when no call saw EINTR and all data came.
//
// usage: sig_quiet IP PORT EXPECTED_BYTES
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

static int g_fd;
static long long g_got;

static void* reader(void* arg) {
    (void)arg;
    static char buf[1 << 16];
    for (;;) {
        ssize_t n = recv(g_fd, buf, sizeof buf, 0);
        if (n <= 0) {
            break;
        }
        g_got += n;
    }
    return NULL;
}

int main(int argc, char** argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: sig_quiet IP PORT EXPECTED_BYTES\n");
        return 2;
    }
    g_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1 || connect(g_fd, (struct sockaddr*)&a, sizeof a) != 0) {
        perror("connect");
        return 2;
    }
    pthread_t t;
    pthread_create(&t, NULL, reader, NULL);
    int eintr = 0;
    for (int i = 0; i < 20; ++i) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        while (nanosleep(&ts, &ts) != 0) {
            if (errno != EINTR) {
                perror("nanosleep");
                return 2;
            }
            ++eintr;
        }
    }
    pthread_join(t, NULL);
    printf("eintr %d bytes %lld\n", eintr, g_got);
    return eintr == 0 && g_got == atoll(argv[3]) ? 0 : 1;
}
