// Passive side: listen backlog and accept queue (Linux semantics: the queue
// is full when it holds more than the backlog), SYN-ACK retransmission and
// embryo expiry (tcp_synack_retries), listener close, ephemeral ports
// (RFC 6056, Linux range 32768..60999) and port-sharing rules (EADDRINUSE,
// SO_REUSEADDR). Kernel counterparts: inet_listen, inet_csk_accept,
// tcp_conn_request, tcp_check_req, inet_csk_listen_stop, inet_csk_get_port.
// Profile: linux. Port rules and backlog counts checked against the kernel.
#include <set>

#include "tcp/tcp_fixture.hh"

using namespace dshim;
using namespace dshim::test;
using wire::TCPF_ACK;
using wire::TCPF_FIN;
using wire::TCPF_PSH;
using wire::TCPF_RST;
using wire::TCPF_SYN;

namespace {

constexpr uint16_t LPORT = 8080;

usock make_listener(tcp_fixture& f, int backlog, uint16_t port = LPORT) {
    usock l = usock::create(f.net);
    REQUIRE(l.bind(0, port) == 0);
    REQUIRE(l.listen(backlog) == 0);
    return l;
}

// The peer's SYN from pport; returns our ISS (from the SYN-ACK).
uint32_t peer_syn(tcp_fixture& f, uint16_t pport, uint32_t pisn, uint16_t lport = LPORT) {
    f.inject(seg(pport, lport, pisn, 0, TCPF_SYN));
    auto sa = f.expect_tcp(TCPF_SYN | TCPF_ACK);
    CHECK(sa.tcp.ack.v == pisn + 1);
    CHECK(sa.tcp.dport == pport);
    return sa.tcp.seq.v;
}

void peer_ack(tcp_fixture& f, uint16_t pport, uint32_t pisn, uint32_t iss, uint16_t lport = LPORT) {
    f.inject(seg(pport, lport, pisn + 1, iss + 1, TCPF_ACK));
}

uint16_t peer_port_of(usock& a) {
    sockaddr_in sin{};
    REQUIRE(a.s->ops->getname(a.s, reinterpret_cast<sockaddr*>(&sin), 1) == sizeof(sin));
    return ntohs(sin.sin_port);
}

uint16_t local_port_of(usock& a) {
    sockaddr_in sin{};
    REQUIRE(a.s->ops->getname(a.s, reinterpret_cast<sockaddr*>(&sin), 0) == sizeof(sin));
    return ntohs(sin.sin_port);
}

sock* lookup(tcp_fixture& f, uint16_t pport, uint16_t lport = LPORT) {
    return inet_lookup_established(f.net, PEER_IP, pport, LOCAL_IP, lport);
}

}  // namespace

TEST_CASE("accept: connections come out in the order their handshakes completed, not SYN order") {
    tcp_fixture f;
    usock l = make_listener(f, 16);
    const uint32_t a = peer_syn(f, 41001, 1000);
    const uint32_t b = peer_syn(f, 41002, 2000);
    const uint32_t c = peer_syn(f, 41003, 3000);
    CHECK(inet_csk(l.sk())->icsk_syn_queue_len == 3);
    usock none;
    CHECK(l.accept(&none) == -EAGAIN);
    peer_ack(f, 41002, 2000, b);
    peer_ack(f, 41003, 3000, c);
    peer_ack(f, 41001, 1000, a);
    f.expect_no_tx();
    CHECK(l.sk()->sk_ack_backlog == 3);
    CHECK(inet_csk(l.sk())->icsk_syn_queue_len == 0);
    usock s1, s2, s3;
    REQUIRE(l.accept(&s1) == 0);
    REQUIRE(l.accept(&s2) == 0);
    REQUIRE(l.accept(&s3) == 0);
    CHECK(peer_port_of(s1) == 41002);
    CHECK(peer_port_of(s2) == 41003);
    CHECK(peer_port_of(s3) == 41001);
    CHECK(l.accept(&none) == -EAGAIN);
    CHECK((l.poll() & POLLIN) == 0);
    CHECK(l.sk()->sk_ack_backlog == 0);
    s1.close();
    s2.close();
    s3.close();
    l.close();
    f.drain_tcp();
}

TEST_CASE("backlog overflow: listen(1) queues two (Linux); a third SYN is dropped silently and counted") {
    tcp_fixture f;
    usock l = make_listener(f, 1);
    for (uint16_t i = 0; i < 2; ++i) {
        const uint32_t iss = peer_syn(f, uint16_t(42000 + i), 1000u * (i + 1));
        peer_ack(f, uint16_t(42000 + i), 1000u * (i + 1), iss);
    }
    f.expect_no_tx();
    CHECK(l.sk()->sk_ack_backlog == 2);
    const uint64_t ovf = f.net.counters().tcp_listen_overflows;
    f.inject(seg(42002, LPORT, 5000, 0, TCPF_SYN));
    f.expect_no_tx();  // no SYN-ACK and no RST: the client will retry
    CHECK(f.net.counters().tcp_listen_overflows == ovf + 1);
    CHECK(f.net.counters().tcp_out_rsts == 0);
    CHECK(lookup(f, 42002) == nullptr);
    // Room again after accept(): the retried SYN is served.
    usock s;
    REQUIRE(l.accept(&s) == 0);
    CHECK(peer_port_of(s) == 42000);
    f.inject(seg(42002, LPORT, 5000, 0, TCPF_SYN));
    CHECK(f.expect_tcp(TCPF_SYN | TCPF_ACK).tcp.ack.v == 5001);
    s.close();
    l.close();
    f.drain_tcp();
}

TEST_CASE("backlog overflow: the ACK completing an embryo while the queue is full is ignored, the SYN-ACK retransmitted") {
    tcp_fixture f;
    usock l = make_listener(f, 0);  // Linux: one connection fits
    CHECK(l.sk()->sk_max_ack_backlog == 0);
    const uint32_t a = peer_syn(f, 43001, 1000);
    const uint32_t b = peer_syn(f, 43002, 2000);
    peer_ack(f, 43001, 1000, a);
    f.expect_no_tx();
    CHECK(l.sk()->sk_ack_backlog == 1);
    const uint64_t ovf = f.net.counters().tcp_listen_overflows;
    peer_ack(f, 43002, 2000, b);
    f.expect_no_tx();
    CHECK(f.net.counters().tcp_listen_overflows == ovf + 1);
    REQUIRE(lookup(f, 43002) != nullptr);
    CHECK(lookup(f, 43002)->sk_state == TCP_SYN_RECV);
    f.advance_ms(999);
    f.expect_no_tx();
    f.advance_ms(1);
    auto re = f.expect_tcp(TCPF_SYN | TCPF_ACK);
    CHECK(re.tcp.dport == 43002);
    CHECK(re.tcp.seq.v == b);
    CHECK(re.tcp.ack.v == 2001);
    f.expect_no_tx();  // nothing for the established one
    usock s1;
    REQUIRE(l.accept(&s1) == 0);
    CHECK(peer_port_of(s1) == 43001);
    // The peer answers the retransmitted SYN-ACK: now there is room.
    peer_ack(f, 43002, 2000, b);
    f.expect_no_tx();
    usock s2;
    REQUIRE(l.accept(&s2) == 0);
    CHECK(peer_port_of(s2) == 43002);
    CHECK(s2.state() == TCP_ESTABLISHED);
    s1.close();
    s2.close();
    l.close();
    f.drain_tcp();
}

TEST_CASE("listen: a negative backlog means somaxconn; listen() again changes the backlog") {
    tcp_fixture f;
    usock l = usock::create(f.net);
    REQUIRE(l.bind(0, LPORT) == 0);
    REQUIRE(l.listen(-1) == 0);
    CHECK(l.sk()->sk_max_ack_backlog == f.net.sysctl().somaxconn);
    REQUIRE(l.listen(100000) == 0);
    CHECK(l.sk()->sk_max_ack_backlog == f.net.sysctl().somaxconn);
    REQUIRE(l.listen(3) == 0);
    CHECK(l.sk()->sk_max_ack_backlog == 3);
    CHECK(l.state() == TCP_LISTEN);
    l.close();
}

TEST_CASE("syn_recv: SYN-ACK retransmitted at 1, 3, 7, 15, 31 s; the embryo dropped silently at 63 s") {
    tcp_fixture f;
    usock l = make_listener(f, 8);
    const uint32_t iss = peer_syn(f, 44000, 1000);
    const uint64_t times[] = {1000, 3000, 7000, 15000, 31000};
    uint64_t now = 0;
    for (uint64_t t : times) {
        // A live peer keeps our neighbour entry fresh (ARP ages at 30 s).
        f.inject_raw(make_arp_reply(f.peer));
        f.advance_ms(t - now - 1);
        f.expect_no_tx();
        f.advance_ms(1);
        now = t;
        auto re = f.expect_tcp(TCPF_SYN | TCPF_ACK);
        INFO("at " << t << " ms");
        CHECK(re.tcp.seq.v == iss);
        CHECK(re.tcp.ack.v == 1001);
        f.expect_no_tx();
    }
    f.inject_raw(make_arp_reply(f.peer));
    f.advance_ms(63000 - now - 1);
    f.expect_no_tx();
    REQUIRE(lookup(f, 44000) != nullptr);
    f.advance_ms(1);
    f.expect_no_tx();  // dropped without a RST
    CHECK(lookup(f, 44000) == nullptr);
    CHECK(inet_csk(l.sk())->icsk_syn_queue_len == 0);
    CHECK(f.net.sock_count == 1);
    // A late ACK for it meets the listener: RST with seq = its ACK.
    f.inject_raw(make_arp_reply(f.peer));
    peer_ack(f, 44000, 1000, iss);
    CHECK(f.expect_tcp(TCPF_RST).tcp.seq.v == iss + 1);
    usock none;
    CHECK(l.accept(&none) == -EAGAIN);
    l.close();
}

TEST_CASE("syn_recv: a repeated SYN (our SYN-ACK lost) is answered with the same SYN-ACK") {
    tcp_fixture f;
    usock l = make_listener(f, 8);
    const uint32_t iss = peer_syn(f, 44100, 1000);
    f.inject(seg(44100, LPORT, 1000, 0, TCPF_SYN));
    auto re = f.expect_tcp(TCPF_SYN | TCPF_ACK);
    CHECK(re.tcp.seq.v == iss);
    CHECK(re.tcp.ack.v == 1001);
    f.expect_no_tx();
    CHECK(inet_csk(l.sk())->icsk_syn_queue_len == 1);
    l.close();
}

TEST_CASE("listener close: established-but-unaccepted children are reset, embryos forgotten silently") {
    tcp_fixture f;
    const size_t pool_base = f.pool.in_use();
    usock l = make_listener(f, 8);
    const uint32_t a = peer_syn(f, 45001, 1000);
    const uint32_t b = peer_syn(f, 45002, 2000);
    const uint32_t c = peer_syn(f, 45003, 3000);  // stays in SYN_RECV
    peer_ack(f, 45001, 1000, a);
    peer_ack(f, 45002, 2000, b);
    // Data from one of them, unread.
    f.inject(seg(45002, LPORT, 2001, b + 1, TCPF_ACK | TCPF_PSH), std::string("hi"));
    f.drain_tcp();
    CHECK(f.net.sock_count == 4);
    l.close();
    auto out = f.drain_tcp();
    REQUIRE(out.size() == 2);
    for (auto& r : out) {
        CHECK(tcp_flags_str(r.tcp.flags) == tcp_flags_str(TCPF_RST | TCPF_ACK));
        if (r.tcp.dport == 45001) {
            CHECK(r.tcp.seq.v == a + 1);
            CHECK(r.tcp.ack.v == 1001);
        } else {
            CHECK(r.tcp.dport == 45002);
            CHECK(r.tcp.seq.v == b + 1);
            CHECK(r.tcp.ack.v == 2003);
        }
    }
    CHECK(f.net.sock_count == 0);
    CHECK(f.net.ehash_count == 0);
    CHECK(lookup(f, 45003) == nullptr);
    f.advance_ms(5000);
    f.expect_no_tx();  // no SYN-ACK retransmission for the forgotten embryo
    // The embryo's peer completes its handshake: the port is closed.
    peer_ack(f, 45003, 3000, c);
    CHECK(f.expect_tcp(TCPF_RST).tcp.seq.v == c + 1);
    CHECK(f.pool.in_use() == pool_base);
}

TEST_CASE("listener close: accepted connections are not affected") {
    tcp_fixture f;
    usock l = make_listener(f, 8);
    const uint32_t a = peer_syn(f, 45101, 1000);
    peer_ack(f, 45101, 1000, a);
    usock s;
    REQUIRE(l.accept(&s) == 0);
    l.close();
    f.expect_no_tx();
    CHECK(s.state() == TCP_ESTABLISHED);
    REQUIRE(s.send("still") == 5);
    CHECK(f.expect_tcp(TCPF_ACK | TCPF_PSH).tcp.seq.v == a + 1);
    s.close();
    f.drain_tcp();
}

TEST_CASE("sim: a listener with backlog 2 on one stack; five clients, two queued at once, the rest after accept") {
    sim_wire_config w;
    w.a_to_b.delay = NSEC_PER_MSEC;
    w.b_to_a.delay = NSEC_PER_MSEC;
    sim_pair p(w);
    usock l = usock::create(p.a);
    REQUIRE(l.bind(0, 7300) == 0);
    REQUIRE(l.listen(2) == 0);
    std::vector<usock> cs(5);
    for (auto& c : cs) {
        c = usock::create(p.b);
        REQUIRE(c.connect(PEER_IP, 7300) == -EINPROGRESS);
    }
    p.run_for(500 * NSEC_PER_MSEC);
    CHECK(l.sk()->sk_ack_backlog == 3);  // backlog + 1, as Linux
    CHECK(p.a.counters().tcp_listen_overflows > 0);
    std::vector<usock> ss;
    REQUIRE(p.run_until([&] {
        usock s;
        if (l.accept(&s) == 0) {
            ss.push_back(s);
        }
        return ss.size() == 5;
    }, 30 * NSEC_PER_SEC));
    REQUIRE(p.run_until([&] {
        for (auto& c : cs) {
            if (c.state() != TCP_ESTABLISHED) {
                return false;
            }
        }
        return true;
    }));
    for (auto& s : ss) {
        s.close();
    }
    for (auto& c : cs) {
        c.close();
    }
    l.close();
}

TEST_CASE("ephemeral ports: connect picks distinct ports in 32768..60999") {
    tcp_fixture f;
    std::vector<usock> cs;
    std::set<uint16_t> ports;
    for (int i = 0; i < 200; ++i) {
        usock c = usock::create(f.net);
        REQUIRE(c.connect(PEER_IP, 80) == -EINPROGRESS);
        const uint16_t p = local_port_of(c);
        CHECK(p >= 32768);
        CHECK(p <= 60999);
        ports.insert(p);
        cs.push_back(c);
    }
    CHECK(ports.size() == 200);
    f.drain_tcp();
    for (auto& c : cs) {
        c.close();
    }
    CHECK(f.net.sock_count == 0);
}

TEST_CASE("ephemeral ports: bind(port 0) and listen() without bind choose a free port in range") {
    tcp_fixture f;
    usock a = usock::create(f.net);
    REQUIRE(a.bind(LOCAL_IP, 0) == 0);
    const uint16_t pa = local_port_of(a);
    CHECK(pa >= 32768);
    CHECK(pa <= 60999);
    usock b = usock::create(f.net);
    REQUIRE(b.listen(4) == 0);  // autobind
    const uint16_t pb = local_port_of(b);
    CHECK(pb >= 32768);
    CHECK(pb <= 60999);
    CHECK(pa != pb);
    // The autobound listener answers on its port.
    f.inject(seg(46000, pb, 1, 0, TCPF_SYN));
    CHECK(f.expect_tcp(TCPF_SYN | TCPF_ACK).tcp.sport == pb);
    a.close();
    b.close();
}

TEST_CASE("ports: a second bind to a used port is EADDRINUSE, also over a listener with SO_REUSEADDR") {
    tcp_fixture f;
    usock l = make_listener(f, 4);
    usock b = usock::create(f.net);
    CHECK(b.bind(0, LPORT) == -EADDRINUSE);
    CHECK(b.bind(LOCAL_IP, LPORT) == -EADDRINUSE);  // addresses overlap with the wildcard
    REQUIRE(l.setsockopt_int(SOL_SOCKET, SO_REUSEADDR, 1) == 0);
    REQUIRE(b.setsockopt_int(SOL_SOCKET, SO_REUSEADDR, 1) == 0);
    CHECK(b.bind(LOCAL_IP, LPORT) == -EADDRINUSE);  // never over a listener (Linux)
    CHECK(b.bind(LOCAL_IP, LPORT + 1) == 0);
    b.close();
    l.close();
    usock c = usock::create(f.net);
    CHECK(c.bind(0, LPORT) == 0);  // freed by close
    c.close();
}

TEST_CASE("ports: SO_REUSEADDR on both lets two sockets bind one port; only one of them may listen") {
    tcp_fixture f;
    usock a = usock::create(f.net);
    usock b = usock::create(f.net);
    REQUIRE(a.bind(0, LPORT) == 0);
    CHECK(b.bind(0, LPORT) == -EADDRINUSE);  // a has no SO_REUSEADDR
    REQUIRE(a.setsockopt_int(SOL_SOCKET, SO_REUSEADDR, 1) == 0);
    REQUIRE(b.setsockopt_int(SOL_SOCKET, SO_REUSEADDR, 1) == 0);
    REQUIRE(b.bind(0, LPORT) == 0);
    CHECK(a.listen(4) == 0);
    CHECK(b.listen(4) == -EADDRINUSE);
    CHECK(b.state() == TCP_CLOSE);
    a.close();
    b.close();
}

TEST_CASE("ports: bind over a TIME_WAIT needs SO_REUSEADDR on both the old and the new socket (Linux)") {
    for (int old_reuse = 0; old_reuse < 2; ++old_reuse) {
        tcp_fixture f;
        usock c = usock::create(f.net);
        REQUIRE(c.setsockopt_int(SOL_SOCKET, SO_REUSEADDR, old_reuse) == 0);
        REQUIRE(c.bind(LOCAL_IP, 5555) == 0);
        REQUIRE(c.connect(PEER_IP, 80) == -EINPROGRESS);
        auto syn = f.expect_tcp(TCPF_SYN);
        const uint32_t snd = syn.tcp.seq.v + 1;
        f.inject(seg(80, 5555, 100, snd, TCPF_SYN | TCPF_ACK));
        f.expect_tcp(TCPF_ACK);
        c.close();
        f.expect_tcp(TCPF_FIN | TCPF_ACK);
        f.inject(seg(80, 5555, 101, snd + 1, TCPF_FIN | TCPF_ACK));
        f.expect_tcp(TCPF_ACK);
        REQUIRE(lookup(f, 80, 5555) != nullptr);
        REQUIRE(lookup(f, 80, 5555)->sk_state == TCP_TIME_WAIT);
        INFO("old socket SO_REUSEADDR=" << old_reuse);
        usock plain = usock::create(f.net);
        CHECK(plain.bind(LOCAL_IP, 5555) == -EADDRINUSE);
        usock reuse = usock::create(f.net);
        REQUIRE(reuse.setsockopt_int(SOL_SOCKET, SO_REUSEADDR, 1) == 0);
        CHECK(reuse.bind(LOCAL_IP, 5555) == (old_reuse ? 0 : -EADDRINUSE));
        plain.close();
        reuse.close();
    }
}
