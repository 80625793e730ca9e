// Memory pressure (architecture.md §3): the advertised window is capped by
// the socket's share of the buffer pool, small segments are collapsed when
// receive memory is tight, a reader that never reads cannot drain the pool
// for the others, and exhaustion on send gives ENOBUFS and a counter.
// Kernel counterpart: tcp_input.c (tcp_try_rmem_schedule, tcp_collapse),
// tcp_output.c (__tcp_select_window).
#include "tcp/loss_fixture.hh"

using namespace dshim;
using namespace dshim::test;
using wire::TCPF_ACK;
using wire::TCPF_SYN;

namespace {

std::string read_all(usock& s) {
    std::string out;
    for (;;) {
        std::string p = s.recv_str();
        if (p.empty() || p[0] == '<') {
            break;
        }
        out += p;
    }
    return out;
}

}  // namespace

TEST_CASE("memory: the advertised window is capped by the socket's share of the pool") {
    // 128 buffers of 2048 + 128 bytes, a quarter each: 69632 bytes of
    // buffer, so at most 34816 bytes of window (half goes to overhead).
    tcp_fixture f(tcp_profile::linux, 128);
    peer_conn pc(f);
    pc.open();
    const uint32_t cap = 34816;
    // The window we offer, in bytes (the peer sent no window scale).
    pc.data(0, 1000);
    auto v = f.drain_tcp();
    REQUIRE(!v.empty());
    CHECK(v.back().tcp.window <= cap);
    CHECK(v.back().tcp.window >= cap - 2 * 1460);
    // With a big pool the same socket offers its full buffer.
    tcp_fixture g(tcp_profile::linux, 4096);
    peer_conn pg(g);
    pg.open();
    pg.data(0, 1000);
    auto w = g.drain_tcp();
    REQUIRE(!w.empty());
    CHECK(w.back().tcp.window > cap);
    pc.s.close();
    pg.s.close();
}

TEST_CASE("memory: small segments are collapsed when receive memory is tight, and all data stays readable") {
    tcp_fixture f;
    usock c = usock::create(f.net);
    REQUIRE(c.setsockopt_int(SOL_SOCKET, SO_RCVBUF, 4096) == 0);  // 8192 bytes
    REQUIRE(c.connect(PEER_IP, 81) == -EINPROGRESS);
    auto syn = next_tcp(f, TCPF_SYN);
    auto sa = seg(81, syn.tcp.sport, 7000, syn.tcp.seq.v + 1, TCPF_SYN | TCPF_ACK, 65535);
    sa.opt.has_mss = true;
    sa.opt.mss = 1000;
    f.inject(sa);
    next_tcp(f, TCPF_ACK);
    REQUIRE(c.state() == TCP_ESTABLISHED);
    // 100-byte segments, sent as the offered window allows: each costs a
    // whole buffer (truesize > 2 KiB), so more than three of them only fit
    // in 8 KiB because they are collapsed into shared buffers.
    std::string want;
    uint32_t win = 4000;
    uint32_t i = 0;
    for (; i < 20 && (i + 1) * 100 <= win; ++i) {
        std::string p(100, char('a' + i));
        want += p;
        f.inject(seg(81, syn.tcp.sport, 7001 + i * 100, syn.tcp.seq.v + 1, TCPF_ACK, 65535), p);
        auto v = f.drain_tcp();
        if (!v.empty()) {
            CHECK(v.back().tcp.ack.v == 7001 + (i + 1) * 100);
            win = (i + 1) * 100 + v.back().tcp.window;
        }
    }
    CHECK(i >= 10);
    CHECK(f.net.counters().tcp_rcv_collapsed > 0);
    CHECK(c.sk()->sk_rmem_alloc <= c.sk()->sk_rcvbuf);
    CHECK(c.sk()->sk_receive_queue.size() < 20);
    CHECK(read_all(c) == want);
    c.close();
}

TEST_CASE("memory: a reader that never reads holds at most its share; another connection still receives") {
    tcp_fixture f(tcp_profile::linux, 128);
    peer_conn a(f, {.port = 80});
    a.open();
    peer_conn b(f, {.port = 81});
    b.peer_isn = 90000;
    b.open();
    // The peer pushes to `a` as long as its window allows; `a` never reads.
    uint32_t off = 0;
    for (int i = 0; i < 200; ++i) {
        const uint32_t wnd = a.s.tp()->rcv_wnd - uint32_t(a.s.tp()->rcv_nxt - a.s.tp()->rcv_wup);
        if (wnd < 1000) {
            break;
        }
        a.data(off, 1000);
        off += 1000;
        f.drain_tcp();
    }
    const size_t free_after = f.pool.available();
    CHECK(a.s.sk()->sk_rmem_alloc <= int(128 * (2048 + 128) / 4));
    CHECK(free_after >= f.net.sysctl().rx_reserve);
    // `b` is not starved: its data is accepted and readable.
    for (uint32_t i = 0; i < 10; ++i) {
        b.data(i * 1000, 1000);
    }
    auto v = f.drain_tcp();
    REQUIRE(!v.empty());
    CHECK(b.ack_off(v.back()) == 10000);
    CHECK(read_all(b.s) == expected_peer_bytes(0, 10000));
    // And `a` gets everything once it reads.
    CHECK(read_all(a.s) == expected_peer_bytes(0, off));
    a.s.close();
    b.s.close();
}

TEST_CASE("memory: an empty pool makes send fail with ENOBUFS and counts it; the socket recovers") {
    tcp_fixture f;
    peer_conn pc(f);
    pc.open();
    const uint64_t before = f.net.counters().tcp_enobufs;
    f.pool.fail_next_allocs(1);
    CHECK(pc.send_bytes(500) == -ENOBUFS);
    CHECK(f.net.counters().tcp_enobufs == before + 1);
    CHECK(pc.s.state() == TCP_ESTABLISHED);
    CHECK(pc.send_bytes(500) == 500);
    auto v = data_frames(f.drain_tcp());
    REQUIRE(v.size() == 1);
    CHECK(pc.off(v[0]) == 0);
    pc.s.close();
}

TEST_CASE("memory: an empty pool at retransmission time retries soon without backing off") {
    tcp_fixture f;
    peer_conn pc(f, {.rtt_ms = 100});
    pc.open();
    pc.send_bytes(500);
    f.drain_tcp();
    f.advance_ms(299);
    f.pool.fail_next_allocs(1000000);
    f.advance_ms(1);  // the RTO finds no buffer
    f.pool.fail_next_allocs(0);
    CHECK(pc.s.tp()->icsk_backoff == 0);
    // It tries again within the resource-probe interval (at most RTO).
    auto v = run_until_tcp(f, 500 * NSEC_PER_MSEC);
    REQUIRE(v.size() == 1);
    CHECK(pc.off(v[0]) == 0);
    CHECK(pc.s.state() == TCP_ESTABLISHED);
    pc.s.close();
}
