// Receiver side: the out-of-order queue (reassembly, duplicates, overlaps on
// either side, a segment covering several queued ones, the bound), the SACK
// blocks we report for it (RFC 2018), delayed ACK and quick-ACK (RFC 1122
// §4.2.3.2, RFC 5681 §4.2) and receiver SWS avoidance (RFC 9293 §3.8.6.2.2).
// Kernel counterpart: tcp_input.c (tcp_data_queue_ofo, __tcp_ack_snd_check).
#include "tcp/loss_fixture.hh"

using namespace dshim;
using namespace dshim::test;
using wire::TCPF_ACK;
using wire::TCPF_FIN;
using wire::TCPF_PSH;

namespace {

// Everything readable now.
std::string read_all(peer_conn& pc) {
    std::string out;
    for (;;) {
        std::string s = pc.s.recv_str();
        if (s.empty() || s[0] == '<') {
            break;
        }
        out += s;
    }
    return out;
}

// The last ACK we sent, after draining.
parsed_frame last_ack(tcp_fixture& f) {
    auto v = f.drain_tcp();
    REQUIRE(!v.empty());
    return v.back();
}

}  // namespace

TEST_CASE("ofo: reordered segments are reassembled and delivered once the hole fills") {
    tcp_fixture f;
    peer_conn pc(f, {.sack = true});
    pc.open();
    pc.data(1000, 1000);
    pc.data(2000, 1000);
    CHECK(pc.s.recv_str() == "<-11>");  // nothing in order yet
    auto a = last_ack(f);
    CHECK(pc.ack_off(a) == 0);          // immediate duplicate ACK
    pc.data(0, 1000);
    a = last_ack(f);
    CHECK(pc.ack_off(a) == 3000);
    CHECK(read_all(pc) == expected_peer_bytes(0, 3000));
    CHECK(f.net.counters().tcp_ofo_queued == 2);
    CHECK(pc.s.tp()->out_of_order_queue.empty());
    pc.s.close();
}

TEST_CASE("ofo: SACK blocks report the queue, the block with the latest segment first (RFC 2018 §4)") {
    tcp_fixture f;
    peer_conn pc(f, {.sack = true});
    pc.open();
    pc.data(1000, 500);
    auto a = last_ack(f);
    REQUIRE(a.tcp.opt.num_sacks == 1);
    CHECK(a.tcp.opt.sacks[0].start.v == pc.rcv0() + 1000);
    CHECK(a.tcp.opt.sacks[0].end.v == pc.rcv0() + 1500);
    pc.data(3000, 500);
    a = last_ack(f);
    REQUIRE(a.tcp.opt.num_sacks == 2);
    CHECK(a.tcp.opt.sacks[0].start.v == pc.rcv0() + 3000);
    CHECK(a.tcp.opt.sacks[1].start.v == pc.rcv0() + 1000);
    // Adjacent data merges into the first block, which is now the latest.
    pc.data(1500, 500);
    a = last_ack(f);
    REQUIRE(a.tcp.opt.num_sacks == 2);
    CHECK(a.tcp.opt.sacks[0].start.v == pc.rcv0() + 1000);
    CHECK(a.tcp.opt.sacks[0].end.v == pc.rcv0() + 2000);
    CHECK(a.tcp.opt.sacks[1].start.v == pc.rcv0() + 3000);
    // The hole fills up to 2000: only the block at 3000 remains.
    pc.data(0, 1000);
    a = last_ack(f);
    CHECK(pc.ack_off(a) == 2000);
    REQUIRE(a.tcp.opt.num_sacks == 1);
    CHECK(a.tcp.opt.sacks[0].start.v == pc.rcv0() + 3000);
    pc.data(2000, 1000);
    a = last_ack(f);
    CHECK(pc.ack_off(a) == 3500);
    CHECK(a.tcp.opt.num_sacks == 0);
    CHECK(read_all(pc) == expected_peer_bytes(0, 3500));
    pc.s.close();
}

TEST_CASE("ofo: no SACK option without sack_ok") {
    tcp_fixture f;
    peer_conn pc(f, {.sack = false});
    pc.open();
    pc.data(1000, 500);
    auto a = last_ack(f);
    CHECK(a.tcp.opt.num_sacks == 0);
    CHECK(pc.ack_off(a) == 0);
    pc.s.close();
}

TEST_CASE("ofo: duplicates of queued and of delivered data are dropped and counted") {
    tcp_fixture f;
    peer_conn pc(f, {.sack = true});
    pc.open();
    pc.data(1000, 1000);
    pc.data(1000, 1000);  // the same again
    pc.data(1200, 300);   // inside it
    const uint64_t dups = f.net.counters().tcp_dup_segs;
    CHECK(dups >= 2);
    CHECK(pc.s.tp()->out_of_order_queue.size() == 1);
    pc.data(0, 1000);
    pc.data(0, 1000);     // already delivered: ACKed at once
    auto a = last_ack(f);
    CHECK(pc.ack_off(a) == 2000);
    CHECK(read_all(pc) == expected_peer_bytes(0, 2000));
    pc.s.close();
}

TEST_CASE("ofo: overlaps on the left, on the right and over several queued segments reassemble exactly") {
    tcp_fixture f;
    peer_conn pc(f, {.sack = true});
    pc.open();
    pc.data(2000, 300);   // [2000,2300)
    pc.data(1800, 300);   // overlaps it on the left: [1800,2100)
    pc.data(2200, 300);   // overlaps on the right: [2200,2500)
    pc.data(2700, 100);   // [2700,2800)
    pc.data(2900, 100);   // [2900,3000)
    pc.data(2600, 500);   // covers both: [2600,3100)
    pc.data(1000, 1400);  // covers the start, overlaps the left part: [1000,2400)
    pc.data(2450, 200);   // bridges the gap, overlapping both sides: [2450,2650)
    seq32 prev_end = seq32(pc.rcv0() + 1000);
    uint32_t total = 0;
    for (pbuf* p = pc.s.tp()->out_of_order_queue.front(); p; p = p->next) {
        auto* cb = TCP_SKB_CB(p);
        CHECK(cb->seq == prev_end);
        CHECK(uint32_t(cb->end_seq - cb->seq) == p->len);
        prev_end = cb->end_seq;
        total += p->len;
    }
    CHECK(total == 2100);
    pc.data(0, 1200);     // in order, overlapping the queue's head
    auto a = last_ack(f);
    CHECK(pc.ack_off(a) == 3100);
    CHECK(read_all(pc) == expected_peer_bytes(0, 3100));
    pc.s.close();
}

TEST_CASE("ofo: a FIN held in the queue closes once the hole fills") {
    tcp_fixture f;
    peer_conn pc(f, {.sack = true});
    pc.open();
    pc.data(1000, 500, 0, TCPF_ACK | TCPF_FIN);
    CHECK(pc.s.state() == TCP_ESTABLISHED);
    pc.data(0, 1000);
    CHECK(pc.s.state() == TCP_CLOSE_WAIT);
    auto a = last_ack(f);
    CHECK(pc.ack_off(a) == 1501);
    CHECK(read_all(pc) == expected_peer_bytes(0, 1500));
    CHECK(pc.s.recv_str() == "");
    pc.s.close();
}

TEST_CASE("ofo: the queue is bounded; what does not fit is dropped and later retransmitted") {
    tcp_fixture f;
    f.net.sysctl().ofo_max_segs = 4;
    peer_conn pc(f, {.sack = true});
    pc.open();
    for (uint32_t i = 1; i <= 6; ++i) {
        pc.data(i * 1000, 500);  // six disjoint islands
    }
    CHECK(pc.s.tp()->out_of_order_queue.size() == 4);
    CHECK(f.net.counters().tcp_ofo_drops == 2);
    // Refill: everything arrives again in order.
    for (uint32_t i = 0; i <= 6; ++i) {
        pc.data(i * 1000, 1000);
    }
    CHECK(pc.ack_off(last_ack(f)) == 7000);
    CHECK(read_all(pc) == expected_peer_bytes(0, 7000));
    pc.s.close();
}

TEST_CASE("ofo: data beyond the window is dropped and answered with an ACK") {
    tcp_fixture f;
    peer_conn pc(f, {.sack = true});
    pc.open();
    const uint32_t wnd = pc.s.tp()->rcv_wnd;
    pc.data(wnd + 1000, 100);
    auto a = last_ack(f);
    CHECK(pc.ack_off(a) == 0);
    CHECK(pc.s.tp()->out_of_order_queue.empty());
    pc.s.close();
}

TEST_CASE("delayed ack (rfc): one full segment is ACKed after 200 ms, the second at once") {
    tcp_fixture f(tcp_profile::rfc);
    peer_conn pc(f);
    pc.open();
    pc.data(0, 1000);
    expect_no_tcp(f);
    f.advance_ms(199);
    expect_no_tcp(f);
    f.advance_ms(1);
    CHECK(pc.ack_off(next_tcp(f, TCPF_ACK)) == 1000);
    pc.data(1000, 1000);
    expect_no_tcp(f);
    pc.data(2000, 1000);  // every second full segment (RFC 5681 §4.2)
    CHECK(pc.ack_off(next_tcp(f, TCPF_ACK)) == 3000);
    pc.data(3000, 1000);
    pc.data(4000, 1000);
    CHECK(pc.ack_off(next_tcp(f, TCPF_ACK)) == 5000);
    CHECK(f.net.counters().tcp_quick_acks == 0);
    pc.s.close();
}

TEST_CASE("delayed ack (rfc): out-of-order data is ACKed at once") {
    tcp_fixture f(tcp_profile::rfc);
    peer_conn pc(f);
    pc.open();
    pc.data(1000, 1000);
    CHECK(pc.ack_off(next_tcp(f, TCPF_ACK)) == 0);
    pc.data(0, 1000);  // fills the hole: ACKed at once too
    CHECK(pc.ack_off(next_tcp(f, TCPF_ACK)) == 2000);
    pc.s.close();
}

TEST_CASE("quick ack (linux): the first segments are ACKed at once, later ones delayed 40 ms") {
    tcp_fixture f;
    peer_conn pc(f);
    pc.open();
    unsigned immediate = 0;
    uint32_t off = 0;
    for (int i = 0; i < 40; ++i) {
        pc.data(off, 1000);
        off += 1000;
        if (f.has_tx()) {
            ++immediate;
            f.drain_tcp();
        } else {
            break;
        }
    }
    // Linux: up to 16 quick ACKs at start (bounded by rcv_wnd / 2 MSS).
    CHECK(immediate >= 2);
    CHECK(immediate <= 16);
    CHECK(f.net.counters().tcp_quick_acks == immediate);
    f.advance_ms(39);
    expect_no_tcp(f);
    f.advance_ms(1);
    CHECK(pc.ack_off(next_tcp(f, TCPF_ACK)) == off);
    // Out-of-order data re-enters quick-ACK mode.
    pc.data(off + 1000, 1000);
    CHECK(pc.ack_off(next_tcp(f, TCPF_ACK)) == off);
    pc.data(off, 1000);
    CHECK(pc.ack_off(next_tcp(f, TCPF_ACK)) == off + 2000);
    pc.s.close();
}

TEST_CASE("receiver sws: a nearly full buffer offers 0, not a sliver; reading reopens with an update") {
    tcp_fixture f(tcp_profile::rfc);
    // Open with a small buffer set before connect.
    usock c = usock::create(f.net);
    REQUIRE(c.setsockopt_int(SOL_SOCKET, SO_RCVBUF, 8192) == 0);
    REQUIRE(c.connect(PEER_IP, 81) == -EINPROGRESS);
    auto syn = next_tcp(f, wire::TCPF_SYN);
    auto sa = seg(81, syn.tcp.sport, 7000, syn.tcp.seq.v + 1, wire::TCPF_SYN | TCPF_ACK, 65535);
    sa.opt.has_mss = true;
    sa.opt.mss = 1000;
    f.inject(sa);
    auto ack = next_tcp(f, TCPF_ACK);
    const uint32_t win0 = ack.tcp.window;  // no window scaling: bytes
    INFO("initial window " << win0);
    CHECK(win0 <= 8192);
    CHECK(win0 >= 2000);
    // Fill it without reading, one segment at a time.
    uint32_t off = 0;
    uint32_t last_win = win0;
    for (int i = 0; i < 40 && last_win > 0; ++i) {
        const uint32_t n = std::min<uint32_t>(1000, last_win);
        std::string p(n, 'z');
        f.inject(seg(81, syn.tcp.sport, 7001 + off, syn.tcp.seq.v + 1, TCPF_ACK | TCPF_PSH, 65535), p);
        off += n;
        f.advance_ms(300);
        for (auto& fr : f.drain_tcp()) {
            last_win = fr.tcp.window;
            // Never a silly window: zero or at least one MSS.
            CHECK((fr.tcp.window == 0 || fr.tcp.window >= 1000));
        }
    }
    CHECK(last_win == 0);
    // Reading everything sends a window update (tcp_cleanup_rbuf).
    std::string got;
    for (;;) {
        std::string s2 = c.recv_str();
        if (s2.empty() || s2[0] == '<') {
            break;
        }
        got += s2;
    }
    CHECK(got.size() == off);
    auto upd = next_tcp(f, TCPF_ACK);
    CHECK(upd.tcp.window >= 1000);
    c.close();
}
