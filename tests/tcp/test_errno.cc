// The socket-call errno contract (testing.md layer 3: Linux socket-API
// behaviour). Every expected value below was produced by running the same
// call on a kernel TCP socket on 127.0.0.1 on this machine (Linux 6.x,
// a small C program; the value it printed is quoted as "oracle").
// Kernel counterparts: __sys_socket/inet_create, inet_bind, inet_listen,
// __inet_stream_connect, inet_accept, inet_shutdown, inet_getname,
// sock_setsockopt/sock_getsockopt, tcp_sendmsg/tcp_recvmsg.
#include "tcp/tcp_fixture.hh"

using namespace dshim;
using namespace dshim::test;
using wire::TCPF_ACK;
using wire::TCPF_SYN;

namespace {

int bind_raw(usock& u, const void* addr, int len) {
    return u.s->ops->bind(u.s, static_cast<const sockaddr*>(addr), len);
}

int connect_raw(usock& u, const void* addr, int len) {
    return u.s->ops->connect(u.s, static_cast<const sockaddr*>(addr), len, usock::O_NONBLOCK_FLAG);
}

int getsockopt_int(usock& u, int name) {
    int v = -12345;
    REQUIRE(u.getsockopt_int(SOL_SOCKET, name, &v) == 0);
    return v;
}

// An established active connection (peer answers without options).
usock connected(tcp_fixture& f) {
    usock c = usock::create(f.net);
    REQUIRE(c.connect(PEER_IP, 80) == -EINPROGRESS);
    auto syn = f.expect_tcp(TCPF_SYN);
    f.inject(seg(80, syn.tcp.sport, 100, syn.tcp.seq.v + 1, TCPF_SYN | TCPF_ACK));
    f.expect_tcp(TCPF_ACK);
    REQUIRE(c.connect(PEER_IP, 80) == 0);
    return c;
}

}  // namespace

// ----------------------------------------------------------------- socket()

TEST_CASE("errno: socket() with bad protocol, type or family (oracle)") {
    tcp_fixture f;
    stack_init();
    struct row {
        int family, type, protocol, err;
    };
    const row rows[] = {
        {AF_INET, SOCK_STREAM, IPPROTO_UDP, EPROTONOSUPPORT},  // oracle: 93
        {AF_INET, SOCK_STREAM, 99, EPROTONOSUPPORT},           // oracle: 93
        {AF_INET, SOCK_STREAM, -1, EINVAL},                    // oracle: 22
        {AF_INET, SOCK_STREAM, 300, EINVAL},                   // oracle: 22 (>= IPPROTO_MAX)
        {AF_INET, 7, 0, ESOCKTNOSUPPORT},                      // oracle: 94 (unused type < SOCK_MAX)
        {AF_INET, SOCK_SEQPACKET, 0, ESOCKTNOSUPPORT},         // oracle: 94
        {AF_INET, 20, 0, EINVAL},                              // oracle: 22 (>= SOCK_MAX)
        {200, SOCK_STREAM, 0, EAFNOSUPPORT},                   // oracle: 97
    };
    for (const row& r : rows) {
        INFO("socket(" << r.family << ", " << r.type << ", " << r.protocol << ")");
        auto res = sock_create(&f.net, r.family, r.type, r.protocol);
        REQUIRE_FALSE(res.ok());
        CHECK(res.err() == r.err);
    }
    CHECK(f.net.sock_count == 0);
    auto ok = sock_create(&f.net, AF_INET, SOCK_STREAM, IPPROTO_TCP);
    REQUIRE(ok.ok());
    sock_release(ok.value());
}

// ------------------------------------------------------------------- bind()

TEST_CASE("errno: bind table (oracle: EINVAL twice/short, EADDRNOTAVAIL, EAFNOSUPPORT)") {
    tcp_fixture f;
    usock u = usock::create(f.net);
    sockaddr_in sin = make_sin(LOCAL_IP, 6000);
    CHECK(bind_raw(u, &sin, sizeof(sin) - 1) == -EINVAL);  // oracle: 22
    sockaddr_in v6 = sin;
    v6.sin_family = AF_INET6;
    CHECK(bind_raw(u, &v6, sizeof(v6)) == -EAFNOSUPPORT);  // oracle: 97
    sockaddr_in un = sin;
    un.sin_family = AF_UNIX;
    CHECK(bind_raw(u, &un, sizeof(un)) == -EAFNOSUPPORT);  // oracle: 97
    sockaddr_in unspec = sin;
    unspec.sin_family = AF_UNSPEC;
    CHECK(bind_raw(u, &unspec, sizeof(unspec)) == -EAFNOSUPPORT);  // oracle: 97 (only with INADDR_ANY)
    sockaddr_in foreign = make_sin(wire::ipv4(198, 18, 5, 5), 6000);
    CHECK(bind_raw(u, &foreign, sizeof(foreign)) == -EADDRNOTAVAIL);  // oracle: 99
    CHECK(u.bind(LOCAL_IP, 6000) == 0);
    CHECK(u.bind(LOCAL_IP, 6001) == -EINVAL);  // bind twice, oracle: 22
    CHECK(u.bind(LOCAL_IP, 6000) == -EINVAL);
    u.close();
    // AF_UNSPEC with INADDR_ANY is accepted (oracle: 0).
    usock w = usock::create(f.net);
    sockaddr_in any = make_sin(0, 6002);
    any.sin_family = AF_UNSPEC;
    CHECK(bind_raw(w, &any, sizeof(any)) == 0);
    w.close();
}

TEST_CASE("errno: bind on a connected socket is EINVAL (oracle)") {
    tcp_fixture f;
    usock c = connected(f);
    CHECK(c.bind(LOCAL_IP, 6003) == -EINVAL);
    c.close();
}

// ---------------------------------------------------------------- connect()

TEST_CASE("errno: connect sequence EINPROGRESS, EALREADY, then 0 once, then EISCONN") {
    tcp_fixture f;
    usock c = usock::create(f.net);
    CHECK(c.connect(PEER_IP, 80) == -EINPROGRESS);
    auto syn = f.expect_tcp(TCPF_SYN);
    CHECK(c.connect(PEER_IP, 80) == -EALREADY);
    CHECK(c.connect(PEER_IP, 80) == -EALREADY);
    f.inject(seg(80, syn.tcp.sport, 100, syn.tcp.seq.v + 1, TCPF_SYN | TCPF_ACK));
    CHECK(c.connect(PEER_IP, 80) == 0);
    CHECK(c.connect(PEER_IP, 80) == -EISCONN);  // oracle: 106
    CHECK(c.connect(PEER_IP, 81) == -EISCONN);
    c.close();
}

TEST_CASE("errno: connect on a listening socket is EISCONN (oracle)") {
    tcp_fixture f;
    usock l = usock::create(f.net);
    REQUIRE(l.bind(0, 7000) == 0);
    REQUIRE(l.listen(4) == 0);
    CHECK(l.connect(PEER_IP, 80) == -EISCONN);  // oracle: 106
    CHECK(l.state() == TCP_LISTEN);
    f.expect_no_tx();
    l.close();
}

TEST_CASE("errno: connect to unroutable and martian addresses is ENETUNREACH; bad address args") {
    tcp_fixture f;
    const uint32_t bad[] = {
        0xffffffffu,                      // oracle: 101
        wire::ipv4(224, 0, 0, 1),         // oracle: 101
        wire::ipv4(240, 0, 0, 1),         // class E
        wire::ipv4(198, 19, 0, 1),        // off-link, no gateway configured
        wire::ipv4(198, 18, 0, 255),      // our subnet's broadcast
    };
    for (uint32_t a : bad) {
        INFO("dst " << format_ip(a));
        usock c = usock::create(f.net);
        CHECK(c.connect(a, 80) == -ENETUNREACH);
        CHECK(c.state() == TCP_CLOSE);
        c.close();
    }
    f.expect_no_tx();
    usock c = usock::create(f.net);
    sockaddr_in sin = make_sin(PEER_IP, 80);
    CHECK(connect_raw(c, &sin, 8) == -EINVAL);  // short addrlen, oracle: 22
    sockaddr_in v6 = sin;
    v6.sin_family = AF_INET6;
    CHECK(connect_raw(c, &v6, sizeof(v6)) == -EAFNOSUPPORT);  // oracle: 97
    CHECK(c.state() == TCP_CLOSE);
    c.close();
    CHECK(f.net.sock_count == 0);
}

// ------------------------------------------------------- listen()/accept()

TEST_CASE("errno: listen on a connected socket and accept on a non-listener are EINVAL (oracle)") {
    tcp_fixture f;
    usock c = connected(f);
    CHECK(c.listen(4) == -EINVAL);  // oracle: 22
    usock none;
    CHECK(c.accept(&none) == -EINVAL);  // oracle: 22
    CHECK(c.state() == TCP_ESTABLISHED);
    usock fresh = usock::create(f.net);
    CHECK(fresh.accept(&none) == -EINVAL);  // oracle: 22
    fresh.close();
    c.close();
    f.drain_tcp();
}

TEST_CASE("errno: listen(0) and listen(-1) succeed (oracle: 0)") {
    tcp_fixture f;
    usock a = usock::create(f.net);
    CHECK(a.listen(0) == 0);
    usock b = usock::create(f.net);
    CHECK(b.listen(-1) == 0);
    a.close();
    b.close();
}

// ------------------------------------------------------------ data calls

TEST_CASE("errno: recv/send/shutdown/getpeername on an unconnected socket (oracle)") {
    tcp_fixture f;
    usock u = usock::create(f.net);
    char b[8];
    CHECK(u.recv(b, sizeof(b)) == -ENOTCONN);  // oracle: 107
    CHECK(u.send("x") == -EPIPE);              // oracle: 32
    CHECK(u.shutdown(SHUT_RDWR) == -ENOTCONN);  // oracle: 107
    CHECK(u.shutdown(7) == -EINVAL);            // oracle: 22
    CHECK(u.shutdown(-1) == -EINVAL);           // oracle: 22
    sockaddr_in sin{};
    CHECK(u.s->ops->getname(u.s, reinterpret_cast<sockaddr*>(&sin), 1) == -ENOTCONN);  // oracle: 107
    // getsockname of an unbound socket: 0.0.0.0:0 (oracle).
    REQUIRE(u.s->ops->getname(u.s, reinterpret_cast<sockaddr*>(&sin), 0) == sizeof(sin));
    CHECK(sin.sin_family == AF_INET);
    CHECK(sin.sin_port == 0);
    CHECK(sin.sin_addr.s_addr == 0);
    f.expect_no_tx();
    u.close();
}

TEST_CASE("errno: recv on a listener is ENOTCONN; getpeername while connecting is ENOTCONN") {
    tcp_fixture f;
    usock l = usock::create(f.net);
    REQUIRE(l.listen(1) == 0);
    char b[4];
    CHECK(l.recv(b, sizeof(b)) == -ENOTCONN);
    usock c = usock::create(f.net);
    REQUIRE(c.connect(PEER_IP, 80) == -EINPROGRESS);
    sockaddr_in sin{};
    CHECK(c.s->ops->getname(c.s, reinterpret_cast<sockaddr*>(&sin), 1) == -ENOTCONN);
    CHECK(c.send("x") == -EAGAIN);  // would wait for the connection
    c.close();
    l.close();
}

TEST_CASE("errno: send after shutdown(SHUT_WR) is EPIPE; shutdown twice is 0 (oracle)") {
    tcp_fixture f;
    usock c = connected(f);
    CHECK(c.shutdown(SHUT_WR) == 0);
    CHECK(c.send("x") == -EPIPE);  // oracle: 32
    CHECK(c.shutdown(SHUT_WR) == 0);
    CHECK(c.shutdown(SHUT_RD) == 0);
    c.close();
    f.drain_tcp();
}

// ------------------------------------------------------------ socket options

TEST_CASE("errno: setsockopt with a short optlen is EINVAL, unknown options ENOPROTOOPT (oracle)") {
    tcp_fixture f;
    usock u = usock::create(f.net);
    int v = 1;
    CHECK(u.s->ops->setsockopt(u.s, SOL_SOCKET, SO_REUSEADDR, &v, 2) == -EINVAL);     // oracle: 22
    linger lg{1, 0};
    CHECK(u.s->ops->setsockopt(u.s, SOL_SOCKET, SO_LINGER, &lg, 4) == -EINVAL);       // oracle: 22
    CHECK(u.s->ops->setsockopt(u.s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
    CHECK(u.setsockopt_int(SOL_SOCKET, 9999, 1) == -ENOPROTOOPT);                     // oracle: 92
    CHECK(u.setsockopt_int(IPPROTO_TCP, 9999, 1) == -ENOPROTOOPT);                    // oracle: 92
    int out = 0;
    CHECK(u.getsockopt_int(SOL_SOCKET, 9999, &out) == -ENOPROTOOPT);                  // oracle: 92
    CHECK(u.setsockopt_int(SOL_SOCKET, SO_TYPE, 1) == -ENOPROTOOPT);                  // read-only, oracle: 92
    u.close();
}

TEST_CASE("errno: SO_RCVBUF/SO_SNDBUF store twice the request, with Linux's minimums") {
    tcp_fixture f;
    usock u = usock::create(f.net);
    REQUIRE(u.setsockopt_int(SOL_SOCKET, SO_RCVBUF, 10000) == 0);
    CHECK(getsockopt_int(u, SO_RCVBUF) == 20000);  // oracle: 20000
    REQUIRE(u.setsockopt_int(SOL_SOCKET, SO_SNDBUF, 10000) == 0);
    CHECK(getsockopt_int(u, SO_SNDBUF) == 20000);  // oracle: 20000
    REQUIRE(u.setsockopt_int(SOL_SOCKET, SO_RCVBUF, 1) == 0);
    CHECK(getsockopt_int(u, SO_RCVBUF) == 2304);   // oracle: 2304 (SOCK_MIN_RCVBUF)
    REQUIRE(u.setsockopt_int(SOL_SOCKET, SO_SNDBUF, 1) == 0);
    CHECK(getsockopt_int(u, SO_SNDBUF) == 4608);   // oracle: 4608 (SOCK_MIN_SNDBUF)
    // Capped at net.core.rmem_max (stack sysctl; the oracle's host had 4 MiB).
    REQUIRE(u.setsockopt_int(SOL_SOCKET, SO_RCVBUF, 1 << 30) == 0);
    CHECK(getsockopt_int(u, SO_RCVBUF) == 2 * f.net.sysctl().sysctl_rmem_max);
    u.close();
}

TEST_CASE("errno: SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_ACCEPTCONN, SO_ERROR values (oracle)") {
    tcp_fixture f;
    usock u = usock::create(f.net);
    CHECK(getsockopt_int(u, SO_TYPE) == SOCK_STREAM);     // oracle: 1
    CHECK(getsockopt_int(u, SO_DOMAIN) == AF_INET);       // oracle: 2
    CHECK(getsockopt_int(u, SO_PROTOCOL) == IPPROTO_TCP);  // oracle: 6
    CHECK(getsockopt_int(u, SO_ACCEPTCONN) == 0);         // oracle: 0
    CHECK(getsockopt_int(u, SO_ERROR) == 0);
    REQUIRE(u.listen(4) == 0);
    CHECK(getsockopt_int(u, SO_ACCEPTCONN) == 1);         // oracle: 1
    // Short optlen: Linux copies what fits.
    char one = 0x55;
    unsigned len = 1;
    REQUIRE(u.s->ops->getsockopt(u.s, SOL_SOCKET, SO_TYPE, &one, &len) == 0);
    CHECK(len == 1);
    CHECK(one == SOCK_STREAM);
    u.close();
}

TEST_CASE("errno: a fresh socket polls POLLOUT|POLLHUP (oracle 0x14)") {
    tcp_fixture f;
    usock u = usock::create(f.net);
    CHECK((u.poll() & (POLLIN | POLLOUT | POLLHUP | POLLERR | POLLRDHUP)) == (POLLOUT | POLLHUP));
    u.close();
}
