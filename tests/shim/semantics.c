// Event-loop and thread semantics under dshim (issue 6): epoll in full
// (errno, level/edge, EPOLLONESHOT, EPOLLEXCLUSIVE, EPOLLRDHUP, ERR/HUP,
// epoll_pwait2, nesting, several sets, close rules, mixed sets), many threads
// on one socket set, SO_REUSEPORT listeners in two threads, and EINTR versus
// SA_RESTART for every blocking call.
// Every expectation is Linux's: shim_semantics.sh runs this on the kernel
// first (the oracle: all checks must pass there) and then under dshim.
//
// usage: semantics PEER_IP SELF_IP  (services as errno_table.c: 7100 echo,
// 7101 accepts and never reads, 7102 accepts and closes; nothing on 9)
// Prints "ok - ..." / "FAIL - ..." and "semantics: P passed, F failed".
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int g_pass, g_fail;
static struct sockaddr_in g_peer, g_self;
static const char* g_nohost = "198.18.0.77";  // an address that never answers

static void check(int ok, const char* what, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
static void check(int ok, const char* what, const char* fmt, ...) {
    if (ok) {
        ++g_pass;
        printf("ok - %s\n", what);
        return;
    }
    ++g_fail;
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    printf("FAIL - %s: %s\n", what, buf);
}
#define ERR_IS(r, e) ((r) == -1 && errno == (e))

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct sockaddr_in at(const struct sockaddr_in* base, int port) {
    struct sockaddr_in a = *base;
    a.sin_port = htons((uint16_t)port);
    return a;
}
#define SA(x) ((struct sockaddr*)(x))

static int connect_to(const struct sockaddr_in* base, int port) {
    struct sockaddr_in a = at(base, port);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(s, SA(&a), sizeof(a)) < 0) {
        fprintf(stderr, "connect port %d: %s\n", port, strerror(errno));
        close(s);
        return -1;
    }
    return s;
}

static int ep_add(int ep, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void drain(int fd) {
    char b[4096];
    while (recv(fd, b, sizeof(b), MSG_DONTWAIT) > 0) {
    }
}

// Echo round trip: sends one byte and waits until the echo is readable.
static void echo_ready(int c) {
    send(c, "e", 1, 0);
    struct pollfd p = {c, POLLIN, 0};
    poll(&p, 1, 2000);
    usleep(20000);
}

static void epoll_errors(void) {
    int r = epoll_create(0);
    check(ERR_IS(r, EINVAL), "epoll_create(0) is EINVAL", "r=%d errno=%d", r, errno);
    r = epoll_create1(0x1);
    check(ERR_IS(r, EINVAL), "epoll_create1(bad flag) is EINVAL", "r=%d errno=%d", r, errno);
    int c = connect_to(&g_peer, 7100);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int pfd[2];
    pipe(pfd);
    struct epoll_event ev = {.events = EPOLLIN};
    r = epoll_ctl(c, EPOLL_CTL_ADD, pfd[0], &ev);
    check(ERR_IS(r, EINVAL), "epoll_ctl on a socket as epfd is EINVAL", "r=%d errno=%d", r, errno);
    r = epoll_ctl(pfd[0], EPOLL_CTL_ADD, c, &ev);
    check(ERR_IS(r, EINVAL), "epoll_ctl on a pipe as epfd (dshim member) is EINVAL", "r=%d errno=%d", r, errno);
    r = epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev);
    check(ERR_IS(r, EINVAL), "epoll_ctl adding the epfd to itself is EINVAL", "r=%d errno=%d", r, errno);
    r = epoll_ctl(c, EPOLL_CTL_ADD, c, &ev);
    check(ERR_IS(r, EINVAL), "epoll_ctl with epfd == fd (a socket) is EINVAL", "r=%d errno=%d", r, errno);
    r = epoll_ctl(ep, EPOLL_CTL_MOD, c, &ev);
    check(ERR_IS(r, ENOENT), "MOD of an unregistered socket is ENOENT", "r=%d errno=%d", r, errno);
    r = epoll_ctl(ep, EPOLL_CTL_DEL, c, NULL);
    check(ERR_IS(r, ENOENT), "DEL of an unregistered socket is ENOENT", "r=%d errno=%d", r, errno);
    r = epoll_ctl(ep, EPOLL_CTL_ADD, c, NULL);
    check(ERR_IS(r, EFAULT), "ADD with a NULL event is EFAULT", "r=%d errno=%d", r, errno);
    r = epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
    check(r == 0, "ADD of a socket succeeds", "r=%d errno=%d", r, errno);
    r = epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
    check(ERR_IS(r, EEXIST), "ADD twice is EEXIST", "r=%d errno=%d", r, errno);
    r = epoll_ctl(ep, 99, c, &ev);
    check(ERR_IS(r, EINVAL), "an unknown op is EINVAL", "r=%d errno=%d", r, errno);
    struct epoll_event out[4];
    r = epoll_wait(ep, out, 0, 0);
    check(ERR_IS(r, EINVAL), "epoll_wait with maxevents 0 is EINVAL", "r=%d errno=%d", r, errno);
    volatile int minus_one = -1;
    r = epoll_wait(ep, out, minus_one, 0);
    check(ERR_IS(r, EINVAL), "epoll_wait with maxevents -1 is EINVAL", "r=%d errno=%d", r, errno);
    int bad = dup(pfd[0]);
    close(bad);
    r = epoll_ctl(bad, EPOLL_CTL_ADD, c, &ev);
    check(ERR_IS(r, EBADF), "epoll_ctl on a closed epfd is EBADF", "r=%d errno=%d", r, errno);
    r = epoll_wait(bad, out, 4, 0);
    check(ERR_IS(r, EBADF), "epoll_wait on a closed epfd is EBADF", "r=%d errno=%d", r, errno);
    int ep2 = epoll_create1(0);
    struct epoll_event x = {.events = EPOLLIN | EPOLLEXCLUSIVE};
    r = epoll_ctl(ep2, EPOLL_CTL_ADD, c, &x);
    check(r == 0, "ADD with EPOLLEXCLUSIVE succeeds", "r=%d errno=%d", r, errno);
    r = epoll_ctl(ep2, EPOLL_CTL_MOD, c, &x);
    check(ERR_IS(r, EINVAL), "MOD with EPOLLEXCLUSIVE is EINVAL", "r=%d errno=%d", r, errno);
    r = epoll_ctl(ep2, EPOLL_CTL_MOD, c, &ev);
    check(ERR_IS(r, EINVAL), "MOD of an EPOLLEXCLUSIVE member is EINVAL", "r=%d errno=%d", r, errno);
    int ep3 = epoll_create1(0);
    x.events = EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT;
    r = epoll_ctl(ep3, EPOLL_CTL_ADD, c, &x);
    check(ERR_IS(r, EINVAL), "ADD with EPOLLEXCLUSIVE|EPOLLONESHOT is EINVAL", "r=%d errno=%d", r, errno);
    r = epoll_ctl(ep, EPOLL_CTL_DEL, c, NULL);
    check(r == 0, "DEL of a member succeeds", "r=%d errno=%d", r, errno);
    close(ep3);
    close(ep2);
    close(ep);
    close(pfd[0]);
    close(pfd[1]);
    close(c);
}

static void epoll_triggers(void) {
    struct epoll_event out[8];
    int c = connect_to(&g_peer, 7100);
    int ep = epoll_create1(0);
    ep_add(ep, c, EPOLLIN, 11);
    int r = epoll_wait(ep, out, 8, 100);
    check(r == 0, "level: nothing to read, no event", "r=%d", r);
    echo_ready(c);
    r = epoll_wait(ep, out, 8, 2000);
    check(r == 1 && out[0].data.u64 == 11 && (out[0].events & EPOLLIN), "level: data reported", "r=%d", r);
    r = epoll_wait(ep, out, 8, 0);
    check(r == 1, "level: reported again while unread", "r=%d", r);
    close(ep);

    ep = epoll_create1(0);
    ep_add(ep, c, EPOLLIN | EPOLLET, 12);
    r = epoll_wait(ep, out, 8, 1000);
    check(r == 1 && out[0].data.u64 == 12, "edge: ready at ADD is reported once", "r=%d", r);
    r = epoll_wait(ep, out, 8, 100);
    check(r == 0, "edge: not again without a new event", "r=%d", r);
    drain(c);
    echo_ready(c);
    r = epoll_wait(ep, out, 8, 2000);
    check(r == 1, "edge: new data is a new event", "r=%d", r);
    r = epoll_wait(ep, out, 8, 100);
    check(r == 0, "edge: and only once", "r=%d", r);
    drain(c);
    close(ep);

    ep = epoll_create1(0);
    ep_add(ep, c, EPOLLIN | EPOLLONESHOT, 13);
    echo_ready(c);
    r = epoll_wait(ep, out, 8, 2000);
    check(r == 1 && out[0].data.u64 == 13, "oneshot: reported", "r=%d", r);
    r = epoll_wait(ep, out, 8, 100);
    check(r == 0, "oneshot: disabled after one report (data still unread)", "r=%d", r);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 14};
    epoll_ctl(ep, EPOLL_CTL_MOD, c, &ev);
    r = epoll_wait(ep, out, 8, 1000);
    check(r == 1 && out[0].data.u64 == 14, "oneshot: MOD re-arms it (new data)", "r=%d", r);
    drain(c);
    close(ep);

    // Two sets hold the same socket: both report it.
    int a = epoll_create1(0), b = epoll_create1(0);
    ep_add(a, c, EPOLLIN, 21);
    ep_add(b, c, EPOLLIN, 22);
    echo_ready(c);
    int ra = epoll_wait(a, out, 8, 2000);
    uint64_t da = out[0].data.u64;
    int rb = epoll_wait(b, out, 8, 2000);
    check(ra == 1 && rb == 1 && da == 21 && out[0].data.u64 == 22, "one socket in two epoll sets: both report it",
          "ra=%d rb=%d", ra, rb);
    drain(c);
    close(a);
    close(b);

    // Peer closes: EPOLLRDHUP with EPOLLIN.
    int k = connect_to(&g_peer, 7102);
    ep = epoll_create1(0);
    ep_add(ep, k, EPOLLIN | EPOLLRDHUP, 31);
    r = epoll_wait(ep, out, 8, 2000);
    check(r == 1 && (out[0].events & EPOLLRDHUP) && (out[0].events & EPOLLIN), "peer close: EPOLLIN|EPOLLRDHUP",
          "r=%d events=0x%x", r, r > 0 ? out[0].events : 0);
    close(ep);
    close(k);

    // A refused connect: EPOLLERR|EPOLLHUP although not asked for.
    struct sockaddr_in refused = at(&g_peer, 9);
    k = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(k, SA(&refused), sizeof(refused));
    ep = epoll_create1(0);
    ep_add(ep, k, 0, 32);
    r = epoll_wait(ep, out, 8, 2000);
    check(r == 1 && (out[0].events & EPOLLERR) && (out[0].events & EPOLLHUP), "refused: EPOLLERR|EPOLLHUP always reported",
          "r=%d events=0x%x", r, r > 0 ? out[0].events : 0);
    close(ep);
    close(k);

    // epoll_pwait2: a timespec timeout.
    ep = epoll_create1(0);
    ep_add(ep, c, EPOLLIN, 33);
    struct timespec ts = {0, 30 * 1000 * 1000};
    double t = now_s();
    r = epoll_pwait2(ep, out, 8, &ts, NULL);
    t = now_s() - t;
    check(r == 0 && t >= 0.025 && t < 1.0, "epoll_pwait2 waits its 30 ms timespec", "r=%d t=%.3f", r, t);
    ts.tv_nsec = 2000000000L;
    r = epoll_pwait2(ep, out, 8, &ts, NULL);
    check(ERR_IS(r, EINVAL), "epoll_pwait2 with tv_nsec out of range is EINVAL", "r=%d", r);
    close(ep);
    close(c);
}

static void epoll_nesting(void) {
    struct epoll_event out[8];
    int c = connect_to(&g_peer, 7100);
    int inner = epoll_create1(0), outer = epoll_create1(0);
    int p[2], q[2];
    pipe(p);
    pipe(q);
    ep_add(inner, c, EPOLLIN, 1);
    ep_add(outer, inner, EPOLLIN, 77);
    ep_add(outer, p[0], EPOLLIN, 88);
    int r = epoll_wait(outer, out, 8, 100);
    check(r == 0, "nested: nothing ready, no event", "r=%d", r);
    echo_ready(c);
    r = epoll_wait(outer, out, 8, 2000);
    check(r == 1 && out[0].data.u64 == 77, "nested: a ready dshim member makes the inner epoll ready in the outer",
          "r=%d data=%llu", r, r > 0 ? (unsigned long long)out[0].data.u64 : 0ull);
    struct pollfd pf = {inner, POLLIN, 0};
    r = poll(&pf, 1, 0);
    check(r == 1 && (pf.revents & POLLIN), "nested: poll() sees the epoll fd readable", "r=%d revents=0x%x", r, pf.revents);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(inner, &rs);
    struct timeval tv = {0, 0};
    r = select(inner + 1, &rs, NULL, NULL, &tv);
    check(r == 1 && FD_ISSET(inner, &rs), "nested: select() sees the epoll fd readable", "r=%d", r);
    write(p[1], "x", 1);
    r = epoll_wait(outer, out, 8, 1000);
    int seen77 = 0, seen88 = 0;
    for (int i = 0; i < r; ++i) {
        seen77 += out[i].data.u64 == 77;
        seen88 += out[i].data.u64 == 88;
    }
    check(r == 2 && seen77 == 1 && seen88 == 1, "mixed outer set: the nested epoll and a pipe, each once", "r=%d", r);
    // The inner set's kernel member (a pipe) and its dshim member ready at
    // once: the inner fd is still reported once.
    ep_add(inner, q[0], EPOLLIN, 2);
    write(q[1], "y", 1);
    r = epoll_wait(outer, out, 8, 1000);
    seen77 = 0;
    for (int i = 0; i < r; ++i) {
        seen77 += out[i].data.u64 == 77;
    }
    check(seen77 == 1, "nested: kernel and dshim members ready, the inner fd reported once", "r=%d seen=%d", r, seen77);
    r = epoll_wait(inner, out, 8, 0);
    check(r == 2, "the inner set itself reports its two members", "r=%d", r);
    drain(c);
    char b[8];
    read(p[0], b, sizeof(b));
    read(q[0], b, sizeof(b));
    r = epoll_wait(outer, out, 8, 100);
    check(r == 0, "nested: all drained, no event", "r=%d", r);
    close(outer);
    close(inner);
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(q[1]);
    close(c);
}

static void epoll_close_and_mix(void) {
    struct epoll_event out[8];
    // Registration is by file: closing one of two fds keeps it.
    int c = connect_to(&g_peer, 7100);
    int d = dup(c);
    int ep = epoll_create1(0);
    ep_add(ep, c, EPOLLIN, 5);
    close(c);
    echo_ready(d);
    int r = epoll_wait(ep, out, 8, 2000);
    check(r == 1 && out[0].data.u64 == 5, "closing one fd of a dup'ed socket keeps it registered", "r=%d", r);
    close(d);
    r = epoll_wait(ep, out, 8, 100);
    check(r == 0, "closing the last fd removes it from the set", "r=%d", r);
    // The number reused by a new socket: the new one is not registered.
    c = connect_to(&g_peer, 7100);
    echo_ready(c);
    r = epoll_wait(ep, out, 8, 100);
    check(r == 0, "a new socket on a reused fd number is not registered", "r=%d", r);
    r = ep_add(ep, c, EPOLLIN, 6);
    check(r == 0, "and can be added", "r=%d errno=%d", r, errno);
    r = epoll_wait(ep, out, 8, 1000);
    check(r == 1 && out[0].data.u64 == 6, "and is then reported", "r=%d", r);
    close(ep);

    // Mixed set, maxevents 1: the kernel fd and the dshim fd both get a turn.
    int p[2];
    pipe(p);
    write(p[1], "x", 1);
    ep = epoll_create1(0);
    ep_add(ep, c, EPOLLIN, 100);
    ep_add(ep, p[0], EPOLLIN, 200);
    int got100 = 0, got200 = 0, total = 0;
    for (int i = 0; i < 4; ++i) {
        r = epoll_wait(ep, out, 1, 1000);
        if (r == 1) {
            ++total;
            got100 += out[0].data.u64 == 100;
            got200 += out[0].data.u64 == 200;
        }
    }
    check(total == 4 && got100 >= 1 && got200 >= 1, "mixed set, maxevents 1: neither side starves",
          "total=%d dshim=%d kernel=%d", total, got100, got200);
    r = epoll_wait(ep, out, 8, 0);
    check(r == 2 && out[0].data.u64 != out[1].data.u64, "mixed set: both reported, each once", "r=%d", r);
    close(ep);
    close(p[0]);
    close(p[1]);
    drain(c);
    close(c);
}

// ------------------------------------------------------------------ threads

#define NCONN 6
#define ROUNDS 150
struct worker {
    int ep;
    pthread_t th;
    int served;
};
static struct worker g_workers[2];
static int g_listener;

static void* worker_main(void* arg) {
    struct worker* w = arg;
    struct epoll_event out[16];
    int open_conns = NCONN / 2;
    while (open_conns > 0) {
        int n = epoll_wait(w->ep, out, 16, 10000);
        if (n <= 0) {
            fprintf(stderr, "worker: epoll_wait returned %d (%s), %d connections open\n", n, n < 0 ? strerror(errno) : "timeout",
                    open_conns);
            break;
        }
        for (int i = 0; i < n; ++i) {
            int fd = (int)out[i].data.u64;
            char b[256];
            ssize_t k = recv(fd, b, sizeof(b), MSG_DONTWAIT);
            if (k > 0) {
                send(fd, b, (size_t)k, 0);
                ++w->served;
            } else if (k == 0) {
                epoll_ctl(w->ep, EPOLL_CTL_DEL, fd, NULL);
                close(fd);
                --open_conns;
            }
        }
    }
    return NULL;
}

static void* acceptor_main(void* arg) {
    (void)arg;
    for (int i = 0; i < NCONN; ++i) {
        int fd = accept4(g_listener, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0) {
            fprintf(stderr, "acceptor: accept4: %s\n", strerror(errno));
            return NULL;
        }
        ep_add(g_workers[i % 2].ep, fd, EPOLLIN, (uint64_t)fd);
    }
    return NULL;
}

struct client {
    pthread_t th;
    int ok;
    double max_rtt;
};
static struct sockaddr_in g_listen_addr;

static void* client_main(void* arg) {
    struct client* cl = arg;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(s, SA(&g_listen_addr), sizeof(g_listen_addr)) < 0) {
        return NULL;
    }
    cl->ok = 1;
    for (int i = 0; i < ROUNDS && cl->ok; ++i) {
        char m[16], b[16];
        snprintf(m, sizeof(m), "%015d", i);
        double t = now_s();
        send(s, m, 16, 0);
        size_t got = 0;
        while (got < 16) {
            ssize_t k = recv(s, b + got, 16 - got, 0);
            if (k <= 0) {
                cl->ok = 0;
                break;
            }
            got += (size_t)k;
        }
        t = now_s() - t;
        if (t > cl->max_rtt) {
            cl->max_rtt = t;
        }
        if (cl->ok && memcmp(m, b, 16) != 0) {
            cl->ok = 0;
        }
    }
    close(s);
    return NULL;
}

static void threads_accept_and_io(void) {
    g_listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = at(&g_self, 0);
    bind(g_listener, SA(&a), sizeof(a));
    listen(g_listener, 16);
    socklen_t al = sizeof(g_listen_addr);
    getsockname(g_listener, SA(&g_listen_addr), &al);
    for (int i = 0; i < 2; ++i) {
        g_workers[i].ep = epoll_create1(0);
        pthread_create(&g_workers[i].th, NULL, worker_main, &g_workers[i]);
    }
    pthread_t acc;
    pthread_create(&acc, NULL, acceptor_main, NULL);
    struct client cl[NCONN];
    memset(cl, 0, sizeof(cl));
    double t = now_s();
    for (int i = 0; i < NCONN; ++i) {
        pthread_create(&cl[i].th, NULL, client_main, &cl[i]);
    }
    int ok = 0;
    double max_rtt = 0;
    for (int i = 0; i < NCONN; ++i) {
        pthread_join(cl[i].th, NULL);
        ok += cl[i].ok;
        if (cl[i].max_rtt > max_rtt) {
            max_rtt = cl[i].max_rtt;
        }
    }
    pthread_join(acc, NULL);
    for (int i = 0; i < 2; ++i) {
        pthread_join(g_workers[i].th, NULL);
        close(g_workers[i].ep);
    }
    t = now_s() - t;
    int served = g_workers[0].served + g_workers[1].served;
    check(ok == NCONN && served >= NCONN * ROUNDS,
          "accept thread + 2 epoll worker threads + 6 client threads: every round trip answered", "ok=%d served=%d",
          ok, served);
    check(max_rtt < 0.08, "no lost wake-up: slowest round trip under 80 ms", "max %.1f ms (%d x %d in %.2f s)",
          max_rtt * 1000, NCONN, ROUNDS, t);
    close(g_listener);
}

// SO_REUSEPORT within one process: two threads, each waiting in poll() and
// accept() on its own listener of one group (same address and port).
// Connections from different source ports spread over both (Linux's 4-tuple
// hash). Each connection carries one byte, which its acceptor reads before
// closing, so when the client loop ends every connection has been accepted.
#define RP_CONNS 40
struct rp_acceptor {
    pthread_t th;
    int listener;
    int accepted;
};
static volatile int g_rp_stop;
static void* rp_acceptor_main(void* arg) {
    struct rp_acceptor* a = arg;
    while (!__atomic_load_n(&g_rp_stop, __ATOMIC_SEQ_CST)) {
        struct pollfd p = {a->listener, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0) {
            continue;
        }
        int fd = accept(a->listener, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        char c = 0;
        if (recv(fd, &c, 1, 0) == 1) {
            ++a->accepted;
        }
        close(fd);
    }
    return NULL;
}
// One connection carrying one byte; waits for the acceptor's close.
static int rp_connect_send(const struct sockaddr_in* to) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    char c = 'x';
    int ok = connect(s, SA(to), sizeof(*to)) == 0 && send(s, &c, 1, MSG_NOSIGNAL) == 1;
    if (ok) {
        ok = recv(s, &c, 1, 0) == 0;  // orderly close after the byte was read
    }
    close(s);
    return ok;
}
static void threads_reuseport(void) {
    struct rp_acceptor acc[2];
    memset(acc, 0, sizeof(acc));
    struct sockaddr_in a = at(&g_self, 0);
    int setup_ok = 1;
    for (int i = 0; i < 2; ++i) {
        acc[i].listener = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setup_ok &= setsockopt(acc[i].listener, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == 0;
        setup_ok &= bind(acc[i].listener, SA(&a), sizeof(a)) == 0;
        setup_ok &= listen(acc[i].listener, 64) == 0;
        if (i == 0) {
            socklen_t al = sizeof(a);
            getsockname(acc[0].listener, SA(&a), &al);  // the second binds the port the first got
        }
    }
    check(setup_ok, "SO_REUSEPORT: two listeners bind and listen on one address and port", "port %d",
          ntohs(a.sin_port));
    if (setup_ok) {
        g_rp_stop = 0;
        for (int i = 0; i < 2; ++i) {
            pthread_create(&acc[i].th, NULL, rp_acceptor_main, &acc[i]);
        }
        int sent = 0;
        for (int i = 0; i < RP_CONNS; ++i) {
            sent += rp_connect_send(&a);
        }
        __atomic_store_n(&g_rp_stop, 1, __ATOMIC_SEQ_CST);
        pthread_join(acc[0].th, NULL);
        pthread_join(acc[1].th, NULL);
        check(sent == RP_CONNS && acc[0].accepted + acc[1].accepted == RP_CONNS,
              "SO_REUSEPORT: every connection accepted once by one of the two threads", "sent=%d accepted=%d+%d",
              sent, acc[0].accepted, acc[1].accepted);
        check(acc[0].accepted > 0 && acc[1].accepted > 0, "SO_REUSEPORT: both threads' listeners got connections",
              "accepted=%d+%d", acc[0].accepted, acc[1].accepted);
    }
    close(acc[0].listener);
    close(acc[1].listener);
}

#define BIG (4 << 20)
struct reader {
    int fd;
    size_t got;
    int ok;
};
static void* reader_main(void* arg) {
    struct reader* r = arg;
    static unsigned char b[65536];
    r->ok = 1;
    while (r->got < BIG) {
        ssize_t k = recv(r->fd, b, sizeof(b), 0);
        if (k <= 0) {
            r->ok = 0;
            break;
        }
        for (ssize_t i = 0; i < k; ++i) {
            if (b[i] != (unsigned char)((r->got + (size_t)i) % 251)) {
                r->ok = 0;
            }
        }
        r->got += (size_t)k;
    }
    return NULL;
}

static void threads_recv_send_same_socket(void) {
    int c = connect_to(&g_peer, 7100);
    struct reader rd = {c, 0, 0};
    pthread_t th;
    double t = now_s();
    pthread_create(&th, NULL, reader_main, &rd);
    static unsigned char b[BIG];
    for (size_t i = 0; i < BIG; ++i) {
        b[i] = (unsigned char)(i % 251);
    }
    size_t sent = 0;
    while (sent < BIG) {
        size_t n = BIG - sent < 65536 ? BIG - sent : 65536;
        ssize_t k = send(c, b + sent, n, 0);
        if (k <= 0) {
            break;
        }
        sent += (size_t)k;
    }
    pthread_join(th, NULL);
    t = now_s() - t;
    check(sent == BIG && rd.ok && rd.got == BIG,
          "blocking recv in one thread and send in another on one socket: 4 MiB both ways", "sent=%zu got=%zu ok=%d %.2fs",
          sent, rd.got, rd.ok, t);
    close(c);
}

// ------------------------------------------------------------------ signals

static volatile sig_atomic_t g_hits;
static void on_alarm(int sig) {
    (void)sig;
    ++g_hits;
}
static void handler(int restart) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
}
static void arm(int ms) {
    g_hits = 0;
    struct itimerval it = {{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

struct later {
    int fd;
    int ms;
    int what;  // 0: send one byte on fd; 1: connect to g_listen_addr
};
static void* later_main(void* arg) {
    struct later* l = arg;
    usleep((useconds_t)l->ms * 1000);
    if (l->what == 0) {
        send(l->fd, "L", 1, 0);
    } else {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        connect(s, SA(&g_listen_addr), sizeof(g_listen_addr));
        usleep(300000);
        close(s);
    }
    return NULL;
}

static void signals(void) {
    // The helper threads must not take SIGALRM.
    sigset_t alrm, old;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    char b[64];
    int silent = connect_to(&g_peer, 7101);
    int echo = connect_to(&g_peer, 7100);
    double t;
    ssize_t r;

    handler(0);
    arm(100);
    t = now_s();
    r = recv(silent, b, sizeof(b), 0);
    t = now_s() - t;
    check(ERR_IS(r, EINTR) && g_hits == 1, "recv, handler without SA_RESTART: EINTR", "r=%zd errno=%d hits=%d t=%.2f", r,
          errno, (int)g_hits, t);
    arm(100);
    r = read(silent, b, sizeof(b));
    check(ERR_IS(r, EINTR), "read, handler without SA_RESTART: EINTR", "r=%zd errno=%d", r, errno);

    handler(1);
    pthread_sigmask(SIG_BLOCK, &alrm, &old);
    struct later l = {echo, 400, 0};
    pthread_t th;
    pthread_create(&th, NULL, later_main, &l);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    arm(100);
    r = recv(echo, b, sizeof(b), 0);
    pthread_join(th, NULL);
    check(r == 1 && g_hits == 1, "recv, SA_RESTART: restarted, returns the data that came later", "r=%zd errno=%d hits=%d", r,
          r < 0 ? errno : 0, (int)g_hits);

    struct timeval tv = {2, 0};
    setsockopt(silent, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    arm(100);
    t = now_s();
    r = recv(silent, b, sizeof(b), 0);
    t = now_s() - t;
    check(ERR_IS(r, EINTR) && t < 1.5, "recv with SO_RCVTIMEO, SA_RESTART: EINTR all the same", "r=%zd errno=%d t=%.2f", r,
          errno, t);
    tv.tv_sec = 0;
    setsockopt(silent, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

    struct pollfd pf = {silent, POLLIN, 0};
    arm(100);
    int pr = poll(&pf, 1, 3000);
    check(ERR_IS(pr, EINTR), "poll, SA_RESTART: EINTR (never restarted)", "r=%d errno=%d", pr, errno);
    arm(100);
    struct timespec pts = {3, 0};
    pr = ppoll(&pf, 1, &pts, NULL);
    check(ERR_IS(pr, EINTR), "ppoll, SA_RESTART: EINTR", "r=%d errno=%d", pr, errno);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(silent, &rs);
    struct timeval stv = {3, 0};
    arm(100);
    pr = select(silent + 1, &rs, NULL, NULL, &stv);
    check(ERR_IS(pr, EINTR), "select, SA_RESTART: EINTR", "r=%d errno=%d", pr, errno);
    int ep = epoll_create1(0);
    ep_add(ep, silent, EPOLLIN, 1);
    struct epoll_event out[4];
    arm(100);
    pr = epoll_wait(ep, out, 4, 3000);
    check(ERR_IS(pr, EINTR), "epoll_wait, SA_RESTART: EINTR", "r=%d errno=%d", pr, errno);
    arm(100);
    pr = epoll_pwait2(ep, out, 4, &pts, NULL);
    check(ERR_IS(pr, EINTR), "epoll_pwait2, SA_RESTART: EINTR", "r=%d errno=%d", pr, errno);
    // epoll_pwait's mask blocks SIGALRM for the call: it times out instead.
    arm(50);
    t = now_s();
    pr = epoll_pwait(ep, out, 4, 300, &alrm);
    t = now_s() - t;
    check(pr == 0 && t >= 0.25, "epoll_pwait with SIGALRM masked: no EINTR, times out", "r=%d errno=%d t=%.2f", pr,
          pr < 0 ? errno : 0, t);
    usleep(1000);
    check(g_hits == 1, "the masked signal is delivered after the call", "hits=%d", (int)g_hits);
    close(ep);

    // accept: restarted with SA_RESTART, EINTR without.
    g_listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = at(&g_self, 0);
    bind(g_listener, SA(&a), sizeof(a));
    listen(g_listener, 4);
    socklen_t al = sizeof(g_listen_addr);
    getsockname(g_listener, SA(&g_listen_addr), &al);
    pthread_sigmask(SIG_BLOCK, &alrm, &old);
    struct later lc = {-1, 400, 1};
    pthread_create(&th, NULL, later_main, &lc);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    arm(100);
    t = now_s();
    int fd = accept(g_listener, NULL, NULL);
    t = now_s() - t;
    check(fd >= 0 && g_hits == 1, "accept, SA_RESTART: restarted, returns the later connection", "r=%d errno=%d hits=%d t=%.3f",
          fd, fd < 0 ? errno : 0, (int)g_hits, t);
    pthread_join(th, NULL);
    if (fd >= 0) {
        close(fd);
    }
    handler(0);
    arm(100);
    fd = accept(g_listener, NULL, NULL);
    check(ERR_IS(fd, EINTR), "accept, no SA_RESTART: EINTR", "r=%d errno=%d", fd, errno);
    close(g_listener);

    // connect to a host that never answers: EINTR, then EALREADY.
    struct sockaddr_in nohost = at(&g_peer, 80);
    inet_pton(AF_INET, g_nohost, &nohost.sin_addr);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    arm(100);
    int cr = connect(c, SA(&nohost), sizeof(nohost));
    check(ERR_IS(cr, EINTR), "blocking connect, no SA_RESTART: EINTR", "r=%d errno=%d", cr, errno);
    fcntl(c, F_SETFL, O_NONBLOCK);  // a blocking connect would wait for the handshake again
    cr = connect(c, SA(&nohost), sizeof(nohost));
    check(ERR_IS(cr, EALREADY), "non-blocking connect after EINTR: EALREADY (still in progress)", "r=%d errno=%d", cr, errno);
    close(c);

    // send to a peer that never reads: a blocking send interrupted after
    // some data returns the count sent.
    static char big[32 << 20];
    arm(300);
    r = send(silent, big, sizeof(big), MSG_NOSIGNAL);
    check(r > 0 && r < (ssize_t)sizeof(big), "blocking send interrupted after some data: the partial count",
          "r=%zd errno=%d", r, r < 0 ? errno : 0);
    while (send(silent, big, 65536, MSG_NOSIGNAL | MSG_DONTWAIT) > 0) {
    }
    usleep(200000);
    while (send(silent, big, 65536, MSG_NOSIGNAL | MSG_DONTWAIT) > 0) {
    }
    arm(100);
    r = send(silent, big, sizeof(big), MSG_NOSIGNAL);
    check(ERR_IS(r, EINTR), "blocking send interrupted with nothing sent: EINTR", "r=%zd errno=%d", r, r < 0 ? errno : 0);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    close(silent);
    close(echo);
}

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: semantics PEER_IP SELF_IP [section...]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    memset(&g_peer, 0, sizeof(g_peer));
    g_peer.sin_family = AF_INET;
    g_self = g_peer;
    inet_pton(AF_INET, argv[1], &g_peer.sin_addr);
    inet_pton(AF_INET, argv[2], &g_self.sin_addr);
    const char* only = argc > 3 ? argv[3] : "";
    if (argc > 4) {
        g_nohost = argv[4];
    }
#define RUN(name, fn)                                   \
    if (!*only || strstr(only, name)) {                 \
        printf("# %s\n", name);                         \
        fn();                                           \
    }
    RUN("epoll_errors", epoll_errors);
    RUN("epoll_triggers", epoll_triggers);
    RUN("epoll_nesting", epoll_nesting);
    RUN("epoll_close", epoll_close_and_mix);
    RUN("threads_io", threads_accept_and_io);
    RUN("threads_same", threads_recv_send_same_socket);
    RUN("threads_reuseport", threads_reuseport);
    RUN("signals", signals);
    printf("semantics: %d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
