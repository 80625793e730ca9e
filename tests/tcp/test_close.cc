// Connection teardown (RFC 9293 §3.6, §3.10.4, §3.10.7.4 FIN handling):
// every close order, half-close, FIN with data, TIME_WAIT life and its
// 2*MSL timer (Linux: 60 s), orphaned FIN_WAIT2 (tcp_fin_timeout), and the
// Linux RST-on-close cases (unread data, SO_LINGER {1,0}; RFC 2525 §2.17).
// Kernel counterparts: tcp_close, tcp_shutdown, tcp_fin, tcp_time_wait.
// Profile: linux. Expected poll bits and errno were checked against the
// kernel on 127.0.0.1 (testing.md "Oracle: Linux itself").
#include "tcp/conn_fixture.hh"

using namespace dshim;
using namespace dshim::test;
using wire::TCPF_ACK;
using wire::TCPF_FIN;
using wire::TCPF_PSH;
using wire::TCPF_RST;
using wire::TCPF_SYN;

namespace {

constexpr uint32_t PEER_ISN = 100000;
// <netinet/tcp.h> would clash with our tcp_state names; the ABI value.
constexpr int OPT_TCP_LINGER2 = 8;

// The peer answers our SYN without options (MSS 536, no TS/WS), so every
// number below is plain.
conn open_conn(tcp_fixture& f, uint16_t pport = 80, uint16_t win = 65535) {
    return dshim::test::open_active(f, {.mss = 0, .win = win, .isn = PEER_ISN, .pport = pport});
}

conn accept_conn(tcp_fixture& f, usock& l, uint16_t lport, uint16_t pport, uint32_t pisn = PEER_ISN) {
    return dshim::test::open_passive(f, l, lport, pport, pisn);
}

// Past 30 s of virtual time our neighbour entry for the peer is stale; a
// live peer's ARP traffic keeps it fresh (without it the stack re-resolves
// first, which is the ARP tests' business, not ours).
void refresh_arp(tcp_fixture& f) {
    f.inject_raw(make_arp_reply(f.peer));
}

constexpr uint32_t WR = POLLOUT | POLLWRNORM;

}  // namespace

TEST_CASE("active close: FIN_WAIT1 -> FIN_WAIT2 -> TIME_WAIT with exact segments, socket freed") {
    tcp_fixture f;
    const size_t pool_base = f.pool.in_use();
    conn c = open_conn(f);
    CHECK(f.net.sock_count == 1);
    sock* sk = c.u.sk();
    c.u.close();
    auto fin = f.expect_tcp(TCPF_FIN | TCPF_ACK);
    check_seg(fin, c.snd, c.rcv);
    CHECK(sk->sk_state == TCP_FIN_WAIT1);
    CHECK(f.net.orphan_count == 1);
    f.expect_no_tx();

    f.inject(seg(80, c.lport, c.rcv, c.snd + 1, TCPF_ACK));
    f.expect_no_tx();
    CHECK(sk->sk_state == TCP_FIN_WAIT2);

    f.inject(seg(80, c.lport, c.rcv, c.snd + 1, TCPF_FIN | TCPF_ACK));
    auto ack = f.expect_tcp(TCPF_ACK);
    check_seg(ack, c.snd + 1, c.rcv + 1);
    f.expect_no_tx();
    // The full socket is gone; a minisocket holds the tuple.
    sock* tw = lookup(f, c);
    REQUIRE(tw != nullptr);
    CHECK(tw->sk_state == TCP_TIME_WAIT);
    CHECK(f.net.sock_count == 0);
    CHECK(f.net.orphan_count == 0);

    f.advance_ms(60000);
    CHECK(lookup(f, c) == nullptr);
    CHECK(f.net.ehash_count == 0);
    f.expect_no_tx();
    CHECK(f.pool.in_use() == pool_base);
}

TEST_CASE("active close by shutdown(SHUT_WR): states visible to the owner, POLLHUP once both sides shut") {
    tcp_fixture f;
    conn c = open_conn(f);
    CHECK((c.u.poll() & (WR | POLLHUP | POLLIN | POLLRDHUP)) == WR);
    REQUIRE(c.u.shutdown(SHUT_WR) == 0);
    auto fin = f.expect_tcp(TCPF_FIN | TCPF_ACK);
    check_seg(fin, c.snd, c.rcv);
    CHECK(c.u.state() == TCP_FIN_WAIT1);
    // Linux: after SHUT_WR poll shows POLLOUT (a write fails at once), no HUP.
    CHECK((c.u.poll() & (POLLOUT | POLLHUP | POLLIN)) == POLLOUT);
    CHECK(c.u.send("x") == -EPIPE);

    f.inject(seg(80, c.lport, c.rcv, c.snd + 1, TCPF_ACK));
    CHECK(c.u.state() == TCP_FIN_WAIT2);
    f.inject(seg(80, c.lport, c.rcv, c.snd + 1, TCPF_FIN | TCPF_ACK));
    check_seg(f.expect_tcp(TCPF_ACK), c.snd + 1, c.rcv + 1);
    // The user's socket is CLOSE; the tuple lives on in TIME_WAIT.
    CHECK(c.u.state() == TCP_CLOSE);
    REQUIRE(lookup(f, c) != nullptr);
    CHECK(lookup(f, c)->sk_state == TCP_TIME_WAIT);
    // Linux (oracle): POLLIN|POLLOUT|POLLHUP|POLLRDHUP once both are shut.
    const uint32_t m = c.u.poll();
    CHECK((m & (POLLIN | POLLOUT | POLLHUP | POLLRDHUP | POLLERR)) == (POLLIN | POLLOUT | POLLHUP | POLLRDHUP));
    CHECK(c.u.recv_str() == "");
    c.u.close();
    CHECK(f.net.sock_count == 0);
    f.expect_no_tx();
}

TEST_CASE("passive close: CLOSE_WAIT -> LAST_ACK -> CLOSE, read returns 0 after the FIN") {
    tcp_fixture f;
    const size_t pool_base = f.pool.in_use();
    conn c = open_conn(f);
    f.inject(c.from_peer(TCPF_FIN | TCPF_ACK));
    // The FIN is acknowledged at once.
    check_seg(f.expect_tcp(TCPF_ACK), c.snd, c.rcv + 1);
    CHECK(c.u.state() == TCP_CLOSE_WAIT);
    // Linux: POLLIN|POLLRDHUP and still writable, no POLLHUP.
    const uint32_t m = c.u.poll();
    CHECK((m & (POLLIN | POLLRDHUP | POLLOUT | POLLHUP | POLLERR)) == (POLLIN | POLLRDHUP | POLLOUT));
    CHECK(c.u.recv_str() == "");
    CHECK(c.u.recv_str() == "");
    // Writing in CLOSE_WAIT still works.
    REQUIRE(c.u.send("bye") == 3);
    auto d = f.expect_tcp(TCPF_ACK | TCPF_PSH);
    check_seg(d, c.snd, c.rcv + 1);
    CHECK(payload_of(d) == "bye");
    c.snd += 3;
    c.rcv += 1;
    f.inject(c.from_peer(TCPF_ACK));
    f.expect_no_tx();

    sock* sk = c.u.sk();
    c.u.close();
    check_seg(f.expect_tcp(TCPF_FIN | TCPF_ACK), c.snd, c.rcv);
    CHECK(sk->sk_state == TCP_LAST_ACK);
    f.inject(seg(80, c.lport, c.rcv, c.snd + 1, TCPF_ACK));
    f.expect_no_tx();
    // LAST_ACK -> CLOSED: no TIME_WAIT on the passive side.
    CHECK(lookup(f, c) == nullptr);
    CHECK(f.net.sock_count == 0);
    CHECK(f.net.orphan_count == 0);
    CHECK(f.pool.in_use() == pool_base);
}

TEST_CASE("passive close with the socket held: LAST_ACK then CLOSE, POLLHUP, then a segment gets RST") {
    tcp_fixture f;
    conn c = open_conn(f);
    f.inject(c.from_peer(TCPF_FIN | TCPF_ACK));
    f.drain_tcp();
    c.rcv += 1;
    REQUIRE(c.u.shutdown(SHUT_WR) == 0);
    check_seg(f.expect_tcp(TCPF_FIN | TCPF_ACK), c.snd, c.rcv);
    CHECK(c.u.state() == TCP_LAST_ACK);
    f.inject(seg(80, c.lport, c.rcv, c.snd + 1, TCPF_ACK));
    CHECK(c.u.state() == TCP_CLOSE);
    CHECK((c.u.poll() & POLLHUP) != 0);
    CHECK((c.u.poll() & POLLERR) == 0);
    // The tuple is free: the peer's late ACK is answered by the closed port.
    f.inject(seg(80, c.lport, c.rcv, c.snd + 1, TCPF_ACK));
    auto rst = f.expect_tcp(TCPF_RST);
    CHECK(rst.tcp.seq.v == c.snd + 1);
    c.u.close();
    CHECK(f.net.sock_count == 0);
}

TEST_CASE("simultaneous close: FIN_WAIT1 -> CLOSING -> TIME_WAIT (RFC 9293 §3.6 fig. 13)") {
    tcp_fixture f;
    conn c = open_conn(f);
    sock* sk = c.u.sk();
    c.u.close();
    check_seg(f.expect_tcp(TCPF_FIN | TCPF_ACK), c.snd, c.rcv);
    // The peer's FIN crosses ours: it does not acknowledge our FIN.
    f.inject(seg(80, c.lport, c.rcv, c.snd, TCPF_FIN | TCPF_ACK));
    check_seg(f.expect_tcp(TCPF_ACK), c.snd + 1, c.rcv + 1);
    CHECK(sk->sk_state == TCP_CLOSING);
    f.expect_no_tx();
    f.inject(seg(80, c.lport, c.rcv + 1, c.snd + 1, TCPF_ACK));
    f.expect_no_tx();
    REQUIRE(lookup(f, c) != nullptr);
    CHECK(lookup(f, c)->sk_state == TCP_TIME_WAIT);
    CHECK(f.net.sock_count == 0);
    f.advance_ms(60000);
    CHECK(lookup(f, c) == nullptr);
}

TEST_CASE("simultaneous close on two stacks: both reach TIME_WAIT and then nothing is left") {
    sim_pair p(delayed_wire());
    auto [l, c, s] = open_sim(p, 7100);
    sockaddr_in me{};
    REQUIRE(c.s->ops->getname(c.s, reinterpret_cast<sockaddr*>(&me), 0) == sizeof(sockaddr_in));
    const uint16_t cport = ntohs(me.sin_port);
    l.close();
    // Both shut down in the same instant: the FINs cross on the wire.
    REQUIRE(c.shutdown(SHUT_WR) == 0);
    REQUIRE(s.shutdown(SHUT_WR) == 0);
    REQUIRE(p.run_until([&] { return c.state() == TCP_CLOSE && s.state() == TCP_CLOSE; }, 5 * NSEC_PER_SEC));
    sock* twa = inet_lookup_established(p.a, LOCAL_IP, cport, PEER_IP, 7100);
    sock* twb = inet_lookup_established(p.b, PEER_IP, 7100, LOCAL_IP, cport);
    REQUIRE(twa != nullptr);
    REQUIRE(twb != nullptr);
    CHECK(twa->sk_state == TCP_TIME_WAIT);
    CHECK(twb->sk_state == TCP_TIME_WAIT);
    // And the wire goes quiet: two TIME_WAIT ends must not ACK each other's
    // bare ACKs forever (Linux answers a bare in-window ACK with nothing).
    p.run_for(100 * NSEC_PER_MSEC);
    const uint64_t sent = p.wire.stats(sim_dir::a_to_b).sent + p.wire.stats(sim_dir::b_to_a).sent;
    p.run_for(NSEC_PER_SEC);
    CHECK(p.wire.stats(sim_dir::a_to_b).sent + p.wire.stats(sim_dir::b_to_a).sent == sent);
    CHECK(c.recv_str() == "");
    CHECK(s.recv_str() == "");
    c.close();
    s.close();
    p.run_for(61 * NSEC_PER_SEC);
    CHECK(p.a.ehash_count == 0);
    CHECK(p.b.ehash_count == 0);
    CHECK(p.a.sock_count == 0);
    CHECK(p.b.sock_count == 0);
}

TEST_CASE("sim: client closes first, server reads the rest then 0, closes; client TIME_WAIT, server freed") {
    sim_pair p(delayed_wire());
    auto [l, c, s] = open_sim(p, 7101);
    REQUIRE(c.send("last words") == 10);
    c.close();
    REQUIRE(p.run_until([&] { return (s.poll() & POLLRDHUP) != 0; }));
    CHECK(s.recv_str() == "last words");
    CHECK(s.recv_str() == "");
    CHECK(s.state() == TCP_CLOSE_WAIT);
    s.close();
    REQUIRE(p.run_until([&] { return p.a.sock_count == 1 && p.b.sock_count == 0; }));  // only the listener
    CHECK(p.b.ehash_count == 1);  // the client's TIME_WAIT
    CHECK(p.a.ehash_count == 0);
    p.run_for(61 * NSEC_PER_SEC);
    CHECK(p.b.ehash_count == 0);
    l.close();
    CHECK(p.a.sock_count == 0);
}

TEST_CASE("FIN piggybacks on queued data: close with unsent data delivers the data, then FIN") {
    tcp_fixture f;
    // The peer offers 1000 bytes: one 536-byte segment fits, the rest waits.
    conn c = open_conn(f, 80, 1000);
    std::string data(1500, '\0');
    for (size_t i = 0; i < data.size(); ++i) {
        data[i] = char('a' + i % 26);
    }
    REQUIRE(c.u.send(data) == 1500);
    // What fits the 1000-byte window goes at once (Linux sizes segments to
    // half the largest window the peer offered: 500 bytes).
    std::string got;
    for (auto& fr : f.drain_tcp()) {
        CHECK((fr.tcp.flags & TCPF_FIN) == 0);
        check_seg(fr, c.snd + uint32_t(got.size()), c.rcv);
        got += payload_of(fr);
    }
    REQUIRE(got.size() > 0);
    REQUIRE(got.size() <= 1000);
    sock* sk = c.u.sk();
    c.u.close();
    // FIN is queued behind the data, not sent ahead of it.
    f.expect_no_tx();
    CHECK(sk->sk_state == TCP_FIN_WAIT1);
    const uint32_t acked = c.snd + uint32_t(got.size());
    // The peer acknowledges and opens the window for the rest.
    f.inject(seg(80, c.lport, c.rcv, acked, TCPF_ACK, 8000));
    auto segs = f.drain_tcp();
    REQUIRE(!segs.empty());
    for (size_t i = 0; i < segs.size(); ++i) {
        check_seg(segs[i], c.snd + uint32_t(got.size()), c.rcv);
        got += payload_of(segs[i]);
        if (i + 1 < segs.size()) {
            CHECK((segs[i].tcp.flags & TCPF_FIN) == 0);
        }
    }
    // The last data segment carries the FIN.
    CHECK(segs.back().tcp.flags == (TCPF_FIN | TCPF_ACK | TCPF_PSH));
    CHECK(!segs.back().payload.empty());
    CHECK(got == data);
    const uint32_t end = c.snd + 1500;
    f.inject(seg(80, c.lport, c.rcv, end + 1, TCPF_FIN | TCPF_ACK));
    check_seg(f.expect_tcp(TCPF_ACK), end + 1, c.rcv + 1);
    REQUIRE(lookup(f, c) != nullptr);
    CHECK(lookup(f, c)->sk_state == TCP_TIME_WAIT);
    CHECK(f.net.sock_count == 0);
}

TEST_CASE("peer FIN piggybacked on data: data is read first, then 0; one ACK covers both") {
    tcp_fixture f;
    conn c = open_conn(f);
    f.inject(c.from_peer(TCPF_FIN | TCPF_ACK | TCPF_PSH), std::string("tail"));
    check_seg(f.expect_tcp(TCPF_ACK), c.snd, c.rcv + 5);
    f.expect_no_tx();
    CHECK(c.u.state() == TCP_CLOSE_WAIT);
    CHECK(c.u.recv_str() == "tail");
    CHECK(c.u.recv_str() == "");
    c.u.close();
    f.drain_tcp();
}

TEST_CASE("half-close: after shutdown(SHUT_WR) data still arrives and is acknowledged and read") {
    tcp_fixture f;
    conn c = open_conn(f);
    REQUIRE(c.u.shutdown(SHUT_WR) == 0);
    check_seg(f.expect_tcp(TCPF_FIN | TCPF_ACK), c.snd, c.rcv);
    f.inject(seg(80, c.lport, c.rcv, c.snd + 1, TCPF_ACK));
    CHECK(c.u.state() == TCP_FIN_WAIT2);
    f.inject(seg(80, c.lport, c.rcv, c.snd + 1, TCPF_ACK | TCPF_PSH), std::string("still here"));
    check_seg(f.expect_tcp(TCPF_ACK), c.snd + 1, c.rcv + 10);
    CHECK((c.u.poll() & POLLIN) != 0);
    CHECK(c.u.recv_str() == "still here");
    CHECK(c.u.recv(nullptr, 0) == 0);
    char b[4];
    CHECK(c.u.recv(b, sizeof(b)) == -EAGAIN);  // half-closed, not finished
    CHECK(c.u.send("no") == -EPIPE);
    CHECK(c.u.shutdown(SHUT_WR) == 0);  // again: Linux says 0
    f.expect_no_tx();
    f.inject(seg(80, c.lport, c.rcv + 10, c.snd + 1, TCPF_FIN | TCPF_ACK));
    check_seg(f.expect_tcp(TCPF_ACK), c.snd + 1, c.rcv + 11);
    CHECK(c.u.recv_str() == "");
    c.u.close();
    CHECK(f.net.sock_count == 0);
}

TEST_CASE("shutdown(SHUT_RD): nothing is sent, read returns 0, later data is still readable (Linux)") {
    tcp_fixture f;
    conn c = open_conn(f);
    REQUIRE(c.u.shutdown(SHUT_RD) == 0);
    f.expect_no_tx();
    CHECK(c.u.state() == TCP_ESTABLISHED);
    // Linux: POLLIN|POLLRDHUP|POLLOUT (oracle 0x2005), no POLLHUP.
    CHECK((c.u.poll() & (POLLIN | POLLRDHUP | POLLOUT | POLLHUP)) == (POLLIN | POLLRDHUP | POLLOUT));
    CHECK(c.u.recv_str() == "");
    f.inject(c.from_peer(TCPF_ACK | TCPF_PSH), std::string("late"));
    check_seg(f.expect_tcp(TCPF_ACK), c.snd, c.rcv + 4);
    CHECK(c.u.recv_str() == "late");
    // Sending is unaffected.
    REQUIRE(c.u.send("ok") == 2);
    CHECK(payload_of(f.expect_tcp(TCPF_ACK | TCPF_PSH)) == "ok");
    CHECK(c.u.shutdown(SHUT_RD) == 0);
    REQUIRE(c.u.shutdown(SHUT_RDWR) == 0);
    check_seg(f.expect_tcp(TCPF_FIN | TCPF_ACK), c.snd + 2, c.rcv + 4);
    CHECK((c.u.poll() & POLLHUP) != 0);  // both directions shut (oracle 0x2015)
    c.u.close();
    f.drain_tcp();
}

TEST_CASE("TIME_WAIT: expires after exactly 60 s, then the tuple and the port are free") {
    tcp_fixture f;
    conn c = open_conn(f);
    REQUIRE(c.u.shutdown(SHUT_WR) == 0);
    f.drain_tcp();
    f.inject(seg(80, c.lport, c.rcv, c.snd + 1, TCPF_FIN | TCPF_ACK));
    check_seg(f.expect_tcp(TCPF_ACK), c.snd + 1, c.rcv + 1);
    c.u.close();
    REQUIRE(lookup(f, c) != nullptr);
    // The port stays taken while TIME_WAIT holds it.
    usock b = usock::create(f.net);
    CHECK(b.bind(LOCAL_IP, c.lport) == -EADDRINUSE);
    f.advance_ms(59999);
    REQUIRE(lookup(f, c) != nullptr);
    f.expect_no_tx();
    f.advance_ms(1);
    CHECK(lookup(f, c) == nullptr);
    f.expect_no_tx();
    CHECK(b.bind(LOCAL_IP, c.lport) == 0);
    b.close();
    refresh_arp(f);
    // The peer's stray ACK now meets a closed port: RST with seq = its ACK.
    f.inject(seg(80, c.lport, c.rcv + 1, c.snd + 1, TCPF_ACK));
    auto rst = f.expect_tcp(TCPF_RST);
    CHECK(rst.tcp.seq.v == c.snd + 1);
}

TEST_CASE("TIME_WAIT: a retransmitted FIN is ACKed again and restarts the 60 s timer") {
    tcp_fixture f;
    conn c = open_conn(f);
    c.u.close();
    f.drain_tcp();
    f.inject(seg(80, c.lport, c.rcv, c.snd + 1, TCPF_FIN | TCPF_ACK));
    check_seg(f.expect_tcp(TCPF_ACK), c.snd + 1, c.rcv + 1);
    REQUIRE(lookup(f, c) != nullptr);
    f.advance_ms(30000);
    refresh_arp(f);
    // Our ACK was lost: the peer repeats its FIN.
    f.inject(seg(80, c.lport, c.rcv, c.snd + 1, TCPF_FIN | TCPF_ACK));
    check_seg(f.expect_tcp(TCPF_ACK), c.snd + 1, c.rcv + 1);
    f.advance_ms(59999);  // 89.999 s after the first FIN
    REQUIRE(lookup(f, c) != nullptr);
    f.advance_ms(1);
    CHECK(lookup(f, c) == nullptr);
    f.expect_no_tx();
}

TEST_CASE("TIME_WAIT: a bare in-window ACK gets no answer (Linux), other segments get an ACK") {
    tcp_fixture f;
    conn c = open_conn(f);
    c.u.close();
    f.drain_tcp();
    f.inject(seg(80, c.lport, c.rcv, c.snd + 1, TCPF_FIN | TCPF_ACK));
    f.drain_tcp();
    f.inject(seg(80, c.lport, c.rcv + 1, c.snd + 1, TCPF_ACK));
    f.expect_no_tx();
    // Data after the FIN: acknowledged with the TIME_WAIT numbers.
    f.inject(seg(80, c.lport, c.rcv + 1, c.snd + 1, TCPF_ACK | TCPF_PSH), std::string("zz"));
    check_seg(f.expect_tcp(TCPF_ACK), c.snd + 1, c.rcv + 1);
    REQUIRE(lookup(f, c) != nullptr);
}

TEST_CASE("TIME_WAIT: a new SYN with a higher sequence reopens the tuple; an old one gets an ACK") {
    tcp_fixture f;
    usock l = usock::create(f.net);
    REQUIRE(l.bind(0, 8080) == 0);
    REQUIRE(l.listen(8) == 0);
    conn c = accept_conn(f, l, 8080, 40000);
    // Our side closes first, so our side holds TIME_WAIT.
    c.u.close();
    check_seg(f.expect_tcp(TCPF_FIN | TCPF_ACK), c.snd, c.rcv);
    f.inject(seg(40000, 8080, c.rcv, c.snd + 1, TCPF_FIN | TCPF_ACK));
    check_seg(f.expect_tcp(TCPF_ACK), c.snd + 1, c.rcv + 1);
    REQUIRE(lookup(f, c) != nullptr);
    REQUIRE(lookup(f, c)->sk_state == TCP_TIME_WAIT);

    // An old duplicate SYN (below RCV.NXT): the TIME_WAIT ACK, no SYN-ACK.
    f.inject(seg(40000, 8080, c.rcv - 50, 0, TCPF_SYN));
    check_seg(f.expect_tcp(TCPF_ACK), c.snd + 1, c.rcv + 1);
    CHECK(f.net.counters().tcp_time_wait_recycled == 0);

    // A new incarnation's SYN above RCV.NXT: the listener takes it.
    const uint32_t isn2 = c.rcv + 1000000;
    f.inject(seg(40000, 8080, isn2, 0, TCPF_SYN));
    auto sa = f.expect_tcp(TCPF_SYN | TCPF_ACK);
    CHECK(sa.tcp.ack.v == isn2 + 1);
    CHECK(f.net.counters().tcp_time_wait_recycled == 1);
    sock* child = lookup(f, c);
    REQUIRE(child != nullptr);
    CHECK(child->sk_state == TCP_SYN_RECV);
    f.inject(seg(40000, 8080, isn2 + 1, sa.tcp.seq.v + 1, TCPF_ACK));
    f.expect_no_tx();
    usock a;
    REQUIRE(l.accept(&a) == 0);
    CHECK(a.state() == TCP_ESTABLISHED);
    a.close();
    l.close();
    f.drain_tcp();
}

TEST_CASE("orphaned FIN_WAIT2 is freed after tcp_fin_timeout (60 s) silently; later segments get RST") {
    tcp_fixture f;
    const size_t pool_base = f.pool.in_use();
    conn c = open_conn(f);
    sock* sk = c.u.sk();
    c.u.close();
    check_seg(f.expect_tcp(TCPF_FIN | TCPF_ACK), c.snd, c.rcv);
    f.advance_ms(100);
    f.inject(seg(80, c.lport, c.rcv, c.snd + 1, TCPF_ACK));
    CHECK(sk->sk_state == TCP_FIN_WAIT2);
    f.advance_ms(59999);
    REQUIRE(lookup(f, c) != nullptr);
    CHECK(f.net.sock_count + f.net.ehash_count >= 1);
    f.advance_ms(1);
    CHECK(lookup(f, c) == nullptr);
    CHECK(f.net.sock_count == 0);
    CHECK(f.net.orphan_count == 0);
    f.expect_no_tx();
    CHECK(f.pool.in_use() == pool_base);
    refresh_arp(f);
    // The peer finally sends its FIN: the port is closed now.
    f.inject(seg(80, c.lport, c.rcv, c.snd + 1, TCPF_FIN | TCPF_ACK));
    auto rst = f.expect_tcp(TCPF_RST);
    CHECK(rst.tcp.seq.v == c.snd + 1);
}

TEST_CASE("orphaned FIN_WAIT2 honours TCP_LINGER2") {
    tcp_fixture f;
    conn c = open_conn(f);
    REQUIRE(c.u.setsockopt_int(IPPROTO_TCP, OPT_TCP_LINGER2, 5) == 0);
    c.u.close();
    f.drain_tcp();
    f.inject(seg(80, c.lport, c.rcv, c.snd + 1, TCPF_ACK));
    f.advance_ms(4999);
    REQUIRE(lookup(f, c) != nullptr);
    f.advance_ms(1);
    CHECK(lookup(f, c) == nullptr);
    CHECK(f.net.sock_count == 0);
}

TEST_CASE("close with unread data sends RST|ACK (seq=SND.NXT, ack=RCV.NXT) instead of FIN (Linux)") {
    tcp_fixture f;
    const size_t pool_base = f.pool.in_use();
    conn c = open_conn(f);
    f.inject(c.from_peer(TCPF_ACK | TCPF_PSH), std::string("unread"));
    check_seg(f.expect_tcp(TCPF_ACK), c.snd, c.rcv + 6);
    const uint64_t rsts = f.net.counters().tcp_out_rsts;
    c.u.close();
    auto rst = f.expect_tcp(TCPF_RST | TCPF_ACK);
    check_seg(rst, c.snd, c.rcv + 6);
    CHECK(rst.payload.empty());
    f.expect_no_tx();
    CHECK(lookup(f, c) == nullptr);
    CHECK(f.net.sock_count == 0);
    CHECK(f.net.orphan_count == 0);
    CHECK(f.pool.in_use() == pool_base);
    (void)rsts;
}

TEST_CASE("SO_LINGER {1,0}: close aborts with RST, no FIN, nothing left behind") {
    tcp_fixture f;
    const size_t pool_base = f.pool.in_use();
    conn c = open_conn(f);
    linger lg{1, 0};
    REQUIRE(c.u.s->ops->setsockopt(c.u.s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
    c.u.close();
    auto rst = f.expect_tcp(TCPF_RST | TCPF_ACK);
    check_seg(rst, c.snd, c.rcv);
    f.expect_no_tx();
    CHECK(lookup(f, c) == nullptr);
    CHECK(f.net.sock_count == 0);
    CHECK(f.pool.in_use() == pool_base);
    f.advance_ms(120000);
    f.expect_no_tx();
}

TEST_CASE("SO_LINGER {1,5} is a graceful close: FIN as usual") {
    tcp_fixture f;
    conn c = open_conn(f);
    linger lg{1, 5};
    REQUIRE(c.u.s->ops->setsockopt(c.u.s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
    c.u.close();
    check_seg(f.expect_tcp(TCPF_FIN | TCPF_ACK), c.snd, c.rcv);
}

TEST_CASE("close of a never-connected or connecting socket: freed, port released, no FIN") {
    tcp_fixture f;
    usock a = usock::create(f.net);
    REQUIRE(a.bind(LOCAL_IP, 5000) == 0);
    a.close();
    f.expect_no_tx();
    usock b = usock::create(f.net);
    CHECK(b.bind(LOCAL_IP, 5000) == 0);  // the port was released
    REQUIRE(b.connect(PEER_IP, 80) == -EINPROGRESS);
    f.expect_tcp(TCPF_SYN);
    b.close();  // SYN_SENT -> CLOSE: no RST, no FIN
    f.expect_no_tx();
    CHECK(f.net.sock_count == 0);
    CHECK(f.net.ehash_count == 0);
    f.advance_ms(10000);
    f.expect_no_tx();  // no SYN retransmission from the dead socket
}

TEST_CASE("many connections opened and closed in every order leave no socket and no buffer behind") {
    tcp_fixture f;
    const size_t pool_base = f.pool.in_use();
    usock l = usock::create(f.net);
    REQUIRE(l.bind(0, 9000) == 0);
    REQUIRE(l.listen(64) == 0);
    for (uint16_t i = 0; i < 8; ++i) {
        conn c = accept_conn(f, l, 9000, uint16_t(41000 + i), PEER_ISN + i * 1000);
        switch (i % 4) {
        case 0:  // we close first
            c.u.close();
            f.drain_tcp();
            f.inject(seg(c.pport, 9000, c.rcv, c.snd + 1, TCPF_FIN | TCPF_ACK));
            break;
        case 1:  // the peer closes first
            f.inject(c.from_peer(TCPF_FIN | TCPF_ACK));
            c.u.close();
            f.drain_tcp();
            f.inject(seg(c.pport, 9000, c.rcv + 1, c.snd + 1, TCPF_ACK));
            break;
        case 2: {  // abort
            linger lg{1, 0};
            REQUIRE(c.u.s->ops->setsockopt(c.u.s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
            c.u.close();
            break;
        }
        default: {  // unread data -> RST
            f.inject(c.from_peer(TCPF_ACK | TCPF_PSH), std::string("x"));
            c.u.close();
            break;
        }
        }
        f.drain_tcp();
    }
    f.advance_ms(61000);
    f.drain_tcp();
    CHECK(f.net.sock_count == 1);  // the listener
    CHECK(f.net.ehash_count == 0);
    CHECK(f.net.orphan_count == 0);
    l.close();
    CHECK(f.net.sock_count == 0);
    CHECK(f.pool.in_use() == pool_base);
}
