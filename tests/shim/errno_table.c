// Errno fidelity table (issue 6): the same socket call sequences, one line
// per step (call, return value or -1 and the errno name). Run once on the
// kernel and once under dshim; shim_errno.sh compares the two line by line,
// so the kernel is the oracle and any difference is a failure.
//
// usage: errno_table PEER_IP SELF_IP
//   PEER_IP: a kernel host serving 7100 (echo), 7101 (accepts, never reads),
//            7102 (accepts and closes at once); nothing listens on port 9.
//   SELF_IP: the address this program's listeners use (dshim's under dshim).
// Lines print only what is the same on any correct stack (no fd numbers,
// ephemeral ports or buffer sizes).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static struct sockaddr_in g_peer, g_self;

static const char* ename(int e) {
    const char* n = strerrorname_np(e);
    return n ? n : "E?";
}

// step NAME RESULT: "NAME: R" or "NAME: -1 ENAME".
static long step(const char* name, long r) {
    if (r < 0) {
        printf("%-44s -1 %s\n", name, ename(errno));
    } else {
        printf("%-44s %ld\n", name, r);
    }
    return r;
}
// A step that returns a new fd: prints "fd" instead of the number.
static int step_fd(const char* name, int r) {
    if (r < 0) {
        printf("%-44s -1 %s\n", name, ename(errno));
    } else {
        printf("%-44s fd\n", name);
    }
    return r;
}
static void val(const char* name, long v) { printf("%-44s = %ld\n", name, v); }
static void hexval(const char* name, long v) { printf("%-44s = 0x%lx\n", name, v); }

static struct sockaddr_in at(const struct sockaddr_in* base, int port) {
    struct sockaddr_in a = *base;
    a.sin_port = htons((uint16_t)port);
    return a;
}
#define SA(x) ((struct sockaddr*)(x))

static int tcp(int flags) { return socket(AF_INET, SOCK_STREAM | flags, 0); }

static int wait_ev(int fd, short ev, int ms) {
    struct pollfd p = {fd, ev, 0};
    int r = poll(&p, 1, ms);
    return r > 0 ? p.revents : r;
}

static int geti(int fd, int level, int name) {
    int v = -12345;
    socklen_t l = sizeof(v);
    if (getsockopt(fd, level, name, &v, &l) < 0) {
        return -1000 - errno;
    }
    return v;
}

static void section(const char* s) { printf("# %s\n", s); }

static void bad_fds(void) {
    section("bad fds and non-sockets");
    char b[16];
    int v = 0;
    socklen_t l = sizeof(v);
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    step("recv(-1)", recv(-1, b, 1, 0));
    step("send(999)", send(999, b, 1, MSG_NOSIGNAL));
    step("getsockopt(-1)", getsockopt(-1, SOL_SOCKET, SO_ERROR, &v, &l));
    step("shutdown(-1)", shutdown(-1, SHUT_RDWR));
    step("accept(-1)", accept(-1, NULL, NULL));
    step("connect(-1)", connect(-1, SA(&g_peer), sizeof(g_peer)));
    int nf = open("/dev/null", O_RDONLY);
    step("recv(/dev/null)", recv(nf, b, 1, 0));
    step("getsockname(/dev/null)", getsockname(nf, SA(&a), &al));
    step("shutdown(/dev/null)", shutdown(nf, SHUT_RD));
    step("setsockopt(/dev/null)", setsockopt(nf, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v)));
    step("listen(/dev/null)", listen(nf, 1));
    step("accept(/dev/null)", accept(nf, NULL, NULL));
    step("connect(/dev/null)", connect(nf, SA(&g_peer), sizeof(g_peer)));
    close(nf);
}

static void options(int s, const char* what) {
    char name[80];
    int one = 1, v;
    socklen_t l;
#define N(x) (snprintf(name, sizeof(name), "%s %s", what, x), name)
    step(N("setsockopt SO_RCVBUF len 2"), setsockopt(s, SOL_SOCKET, SO_RCVBUF, &one, 2));
    step(N("setsockopt SOL_SOCKET 9999"), setsockopt(s, SOL_SOCKET, 9999, &one, sizeof(one)));
    step(N("setsockopt IPPROTO_TCP 9999"), setsockopt(s, IPPROTO_TCP, 9999, &one, sizeof(one)));
    step(N("setsockopt TCP_NODELAY len 2"), setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, 2));
    step(N("setsockopt TCP_NODELAY"), setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)));
    val(N("TCP_NODELAY set"), geti(s, IPPROTO_TCP, TCP_NODELAY) != 0);
    step(N("setsockopt SO_RCVTIMEO len 8"), setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &one, 8));
    step(N("setsockopt SO_LINGER len 4"), setsockopt(s, SOL_SOCKET, SO_LINGER, &one, 4));
    step(N("setsockopt SO_SNDLOWAT"), setsockopt(s, SOL_SOCKET, SO_SNDLOWAT, &one, sizeof(one)));
    val(N("SO_SNDLOWAT"), geti(s, SOL_SOCKET, SO_SNDLOWAT));
    val(N("SO_RCVLOWAT"), geti(s, SOL_SOCKET, SO_RCVLOWAT));
    val(N("SO_TYPE"), geti(s, SOL_SOCKET, SO_TYPE));
    val(N("SO_DOMAIN"), geti(s, SOL_SOCKET, SO_DOMAIN));
    val(N("SO_PROTOCOL"), geti(s, SOL_SOCKET, SO_PROTOCOL));
    val(N("SO_ERROR"), geti(s, SOL_SOCKET, SO_ERROR));
    val(N("SO_ACCEPTCONN"), geti(s, SOL_SOCKET, SO_ACCEPTCONN));
    step(N("setsockopt SO_KEEPALIVE"), setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)));
    val(N("SO_KEEPALIVE"), geti(s, SOL_SOCKET, SO_KEEPALIVE));
    v = 0;
    step(N("setsockopt TCP_KEEPIDLE 0"), setsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof(v)));
    v = -12345;
    l = 2;
    step(N("getsockopt SO_TYPE len 2"), getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &l));
    val(N("  len"), l);
    l = 0;
    step(N("getsockopt SO_TYPE len 0"), getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &l));
    val(N("  len"), l);
    l = (socklen_t)-1;
    step(N("getsockopt SO_TYPE len -1"), getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &l));
    l = sizeof(v);
    step(N("getsockopt SOL_SOCKET 9999"), getsockopt(s, SOL_SOCKET, 9999, &v, &l));
    l = sizeof(v);
    step(N("getsockopt IPPROTO_TCP 9999"), getsockopt(s, IPPROTO_TCP, 9999, &v, &l));
    l = 2;
    step(N("getsockopt TCP_NODELAY len 2"), getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, &l));
    val(N("  len"), l);
#undef N
}

static void fresh_and_listener(void) {
    section("fresh socket");
    char b[16] = "x";
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int s = tcp(0);
    step("fresh recv MSG_DONTWAIT", recv(s, b, 1, MSG_DONTWAIT));
    step("fresh getpeername", getpeername(s, SA(&a), &al));
    step("fresh shutdown SHUT_RD", shutdown(s, SHUT_RD));
    step("fresh send", send(s, b, 1, MSG_NOSIGNAL));
    step("fresh accept", accept(s, NULL, NULL));
    al = sizeof(a);
    step("fresh getsockname", getsockname(s, SA(&a), &al));
    val("  len", al);
    val("  port", ntohs(a.sin_port));
    options(s, "fresh");
    close(s);

    section("listen without bind (autobind)");
    s = tcp(0);
    step("listen unbound", listen(s, 8));
    al = sizeof(a);
    step("getsockname", getsockname(s, SA(&a), &al));
    val("  port set", a.sin_port != 0);
    val("SO_ACCEPTCONN", geti(s, SOL_SOCKET, SO_ACCEPTCONN));
    options(s, "listener");
    step("fcntl O_NONBLOCK", fcntl(s, F_SETFL, O_NONBLOCK));
    step("accept (none pending)", accept(s, NULL, NULL));
    step("recv on listener", recv(s, b, 1, 0));
    step("send on listener", send(s, b, 1, MSG_NOSIGNAL));
    al = sizeof(a);
    step("getpeername on listener", getpeername(s, SA(&a), &al));
    int n = -7;
    step("FIONREAD on listener", ioctl(s, FIONREAD, &n));
    step("connect on listener", connect(s, SA(&g_peer), sizeof(g_peer)));
    step("listen again", listen(s, 16));
    struct sockaddr_in any = at(&g_self, 0);
    step("bind on listener", bind(s, SA(&any), sizeof(any)));
    hexval("poll listener", wait_ev(s, POLLIN | POLLOUT, 0));
    step("shutdown listener SHUT_WR", shutdown(s, SHUT_WR));
    step("accept after SHUT_WR", accept(s, NULL, NULL));
    step("shutdown listener SHUT_RD", shutdown(s, SHUT_RD));
    step("accept after SHUT_RD", accept(s, NULL, NULL));
    val("SO_ACCEPTCONN after SHUT_RD", geti(s, SOL_SOCKET, SO_ACCEPTCONN));
    step("close", close(s));
    step("recv after close", recv(s, b, 1, 0));
}

static void accepted(void) {
    section("accept4 and the accepted socket");
    char b[64];
    struct sockaddr_in a;
    socklen_t al;
    int one = 1;
    int l = tcp(0);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in self0 = at(&g_self, 0);
    step("bind self:0", bind(l, SA(&self0), sizeof(self0)));
    struct sockaddr_in self1 = at(&g_self, 0);
    int l2 = tcp(0);
    al = sizeof(a);
    getsockname(l, SA(&a), &al);
    self1.sin_port = a.sin_port;
    step("bind same port again", bind(l2, SA(&self1), sizeof(self1)));
    close(l2);
    step("listen", listen(l, 4));
    int c = tcp(0);
    step("connect to own listener", connect(c, SA(&self1), sizeof(self1)));
    int c2 = tcp(0);
    step("connect again to own listener", connect(c2, SA(&self1), sizeof(self1)));
    wait_ev(l, POLLIN, 2000);
    step("accept4 bad flags", accept4(l, NULL, NULL, 0x1));
    al = sizeof(a);
    int s = step_fd("accept4 SOCK_NONBLOCK|SOCK_CLOEXEC", accept4(l, SA(&a), &al, SOCK_NONBLOCK | SOCK_CLOEXEC));
    val("  addrlen", al);
    val("  O_NONBLOCK", (fcntl(s, F_GETFL) & O_NONBLOCK) != 0);
    val("  FD_CLOEXEC", (fcntl(s, F_GETFD) & FD_CLOEXEC) != 0);
    wait_ev(l, POLLIN, 2000);
    al = 4;
    memset(&a, 0, sizeof(a));
    int s2 = step_fd("accept short addrlen 4", accept(l, SA(&a), &al));
    val("  addrlen", al);
    val("  family copied", a.sin_family);
    val("  addr not copied", a.sin_addr.s_addr);
    val("  O_NONBLOCK", (fcntl(s2, F_GETFL) & O_NONBLOCK) != 0);
    close(s2);
    close(c2);
    options(s, "accepted");
    step("recv MSG_DONTWAIT empty", recv(s, b, sizeof(b), MSG_DONTWAIT));
    int n = -7;
    step("FIONREAD empty", ioctl(s, FIONREAD, &n));
    val("  value", n);
    step("send 5", send(c, "hello", 5, 0));
    hexval("poll POLLIN", wait_ev(s, POLLIN, 2000));
    usleep(50000);
    step("FIONREAD", ioctl(s, FIONREAD, &n));
    val("  value", n);
    step("recv 2 MSG_PEEK", recv(s, b, 2, MSG_PEEK));
    step("recv 64", recv(s, b, sizeof(b), 0));
    step("SO_RCVLOWAT 5", setsockopt(s, SOL_SOCKET, SO_RCVLOWAT, (int[]){5}, sizeof(int)));
    val("SO_RCVLOWAT", geti(s, SOL_SOCKET, SO_RCVLOWAT));
    step("send 3", send(c, "abc", 3, 0));
    usleep(100000);
    hexval("poll POLLIN with 3 < lowat 5", wait_ev(s, POLLIN, 100));
    step("recv MSG_DONTWAIT below lowat", recv(s, b, sizeof(b), MSG_DONTWAIT));
    step("SO_RCVLOWAT 1", setsockopt(s, SOL_SOCKET, SO_RCVLOWAT, (int[]){1}, sizeof(int)));
    step("send 10", send(c, "0123456789", 10, 0));
    wait_ev(s, POLLIN, 2000);
    usleep(50000);
    step("recv 10 MSG_WAITALL", recv(s, b, 10, MSG_WAITALL));
    step("send 4", send(c, "wxyz", 4, 0));
    wait_ev(s, POLLIN, 2000);
    usleep(50000);
    step("recv 10 MSG_WAITALL|MSG_DONTWAIT", recv(s, b, 10, MSG_WAITALL | MSG_DONTWAIT));
    al = 4;
    step("getsockname len 4", getsockname(s, SA(&a), &al));
    val("  len", al);
    al = 0;
    step("getpeername len 0", getpeername(s, SA(&a), &al));
    val("  len", al);
    al = (socklen_t)-1;
    step("getpeername len -1", getpeername(s, SA(&a), &al));
    step("getpeername NULL len", getpeername(s, SA(&a), NULL));
    step("connect connected", connect(s, SA(&g_peer), sizeof(g_peer)));
    step("listen connected", listen(s, 1));
    step("bind connected", bind(s, SA(&self0), sizeof(self0)));
    step("accept connected", accept(s, NULL, NULL));
    step("shutdown how 7", shutdown(s, 7));
    step("shutdown how -1", shutdown(s, -1));
    step("shutdown SHUT_RD", shutdown(s, SHUT_RD));
    step("recv after SHUT_RD", recv(s, b, sizeof(b), MSG_DONTWAIT));
    step("shutdown SHUT_WR", shutdown(s, SHUT_WR));
    step("send after SHUT_WR", send(s, "x", 1, MSG_NOSIGNAL));
    step("shutdown SHUT_WR again", shutdown(s, SHUT_WR));
    hexval("peer sees EOF: poll", wait_ev(c, POLLIN, 2000));
    step("peer recv", recv(c, b, sizeof(b), 0));
    close(c);
    usleep(200000);
    hexval("closed both ways: poll", wait_ev(s, POLLIN | POLLOUT | POLLRDHUP, 0));
    step("shutdown closed", shutdown(s, SHUT_RDWR));
    al = sizeof(a);
    step("getpeername closed", getpeername(s, SA(&a), &al));
    step("recv closed", recv(s, b, sizeof(b), 0));
    step("send closed", send(s, "x", 1, MSG_NOSIGNAL));
    val("SO_ERROR closed", geti(s, SOL_SOCKET, SO_ERROR));
    close(s);
    close(l);
}

static void client(void) {
    section("non-blocking client to the echo server");
    char b[64];
    struct sockaddr_in a;
    socklen_t al;
    struct sockaddr_in echo = at(&g_peer, 7100);
    int c = tcp(SOCK_NONBLOCK);
    val("SOCK_NONBLOCK: O_NONBLOCK", (fcntl(c, F_GETFL) & O_NONBLOCK) != 0);
    step("connect", connect(c, SA(&echo), sizeof(echo)));
    hexval("poll POLLOUT", wait_ev(c, POLLOUT, 3000));
    step("connect after completion", connect(c, SA(&echo), sizeof(echo)));
    step("connect again", connect(c, SA(&echo), sizeof(echo)));
    val("SO_ERROR", geti(c, SOL_SOCKET, SO_ERROR));
    al = sizeof(a);
    step("getpeername", getpeername(c, SA(&a), &al));
    val("  port", ntohs(a.sin_port));
    val("  len", al);
    step("recv empty", recv(c, b, sizeof(b), 0));
    step("read empty", read(c, b, sizeof(b)));
    step("send 4", send(c, "ping", 4, 0));
    hexval("poll POLLIN", wait_ev(c, POLLIN, 2000));
    usleep(20000);
    step("recv 64", recv(c, b, sizeof(b), 0));
    options(c, "client");
    step("shutdown SHUT_WR", shutdown(c, SHUT_WR));
    hexval("poll after peer close", wait_ev(c, POLLIN, 2000));
    usleep(100000);
    step("recv EOF", recv(c, b, sizeof(b), 0));
    step("send after SHUT_WR", send(c, "x", 1, MSG_NOSIGNAL));
    hexval("poll", wait_ev(c, POLLIN | POLLOUT | POLLRDHUP, 0));
    close(c);

    section("blocking client: refused, and again");
    struct sockaddr_in refused = at(&g_peer, 9);
    c = tcp(0);
    step("connect refused", connect(c, SA(&refused), sizeof(refused)));
    val("SO_ERROR", geti(c, SOL_SOCKET, SO_ERROR));
    step("connect refused again", connect(c, SA(&refused), sizeof(refused)));
    close(c);

    section("non-blocking refused connect");
    c = tcp(SOCK_NONBLOCK);
    step("connect", connect(c, SA(&refused), sizeof(refused)));
    hexval("poll POLLOUT", wait_ev(c, POLLOUT, 3000));
    int e = geti(c, SOL_SOCKET, SO_ERROR);
    printf("%-44s = %s\n", "SO_ERROR", e > 0 ? ename(e) : "0");
    val("SO_ERROR again", geti(c, SOL_SOCKET, SO_ERROR));
    step("connect after the error was read", connect(c, SA(&refused), sizeof(refused)));
    close(c);
    c = tcp(SOCK_NONBLOCK);
    step("connect (2)", connect(c, SA(&refused), sizeof(refused)));
    wait_ev(c, POLLOUT, 3000);
    step("connect with the error unread", connect(c, SA(&refused), sizeof(refused)));
    close(c);

    section("connect twice while in progress (no answer), shutdown in SYN_SENT");
    struct sockaddr_in nohost;
    memset(&nohost, 0, sizeof(nohost));
    nohost.sin_family = AF_INET;
    nohost.sin_port = htons(80);
    inet_pton(AF_INET, "198.18.0.77", &nohost.sin_addr);
    c = tcp(SOCK_NONBLOCK);
    step("connect", connect(c, SA(&nohost), sizeof(nohost)));
    step("connect again", connect(c, SA(&nohost), sizeof(nohost)));
    val("SO_ERROR", geti(c, SOL_SOCKET, SO_ERROR));
    hexval("poll", wait_ev(c, POLLIN | POLLOUT, 0));
    step("recv in SYN_SENT", recv(c, b, 1, 0));
    step("send in SYN_SENT", send(c, "x", 1, MSG_NOSIGNAL));
    al = sizeof(a);
    step("getpeername in SYN_SENT", getpeername(c, SA(&a), &al));
    step("shutdown SHUT_RDWR in SYN_SENT", shutdown(c, SHUT_RDWR));
    hexval("poll after", wait_ev(c, POLLIN | POLLOUT, 0));
    close(c);

    section("passive close: CLOSE_WAIT, LAST_ACK, CLOSE");
    struct sockaddr_in closer = at(&g_peer, 7102);
    c = tcp(0);
    step("connect closer", connect(c, SA(&closer), sizeof(closer)));
    hexval("poll POLLIN", wait_ev(c, POLLIN, 2000));
    usleep(50000);
    hexval("poll in CLOSE_WAIT", wait_ev(c, POLLIN | POLLOUT | POLLRDHUP, 0));
    step("recv EOF", recv(c, b, sizeof(b), 0));
    step("shutdown SHUT_RD in CLOSE_WAIT", shutdown(c, SHUT_RD));
    al = sizeof(a);
    step("getpeername in CLOSE_WAIT", getpeername(c, SA(&a), &al));
    step("shutdown SHUT_WR in CLOSE_WAIT", shutdown(c, SHUT_WR));
    usleep(200000);
    al = sizeof(a);
    step("getpeername closed", getpeername(c, SA(&a), &al));
    step("shutdown closed", shutdown(c, SHUT_RDWR));
    step("send closed", send(c, "x", 1, MSG_NOSIGNAL));
    close(c);
}

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: errno_table PEER_IP SELF_IP\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    memset(&g_peer, 0, sizeof(g_peer));
    g_peer.sin_family = AF_INET;
    g_peer.sin_port = htons(7100);
    g_self = g_peer;
    if (inet_pton(AF_INET, argv[1], &g_peer.sin_addr) != 1 || inet_pton(AF_INET, argv[2], &g_self.sin_addr) != 1) {
        fprintf(stderr, "bad address\n");
        return 2;
    }
    bad_fds();
    fresh_and_listener();
    accepted();
    client();
    printf("# end\n");
    return 0;
}
