// Flow control (RFC 9293 §3.8.6: zero window and probing §3.8.6.1, SWS
// avoidance §3.8.6.2, never shrinking the window §3.8.6.2.2; RFC 7323 §2
// window scaling; RFC 1122 §4.2.2.17 persist timer): what we advertise as a
// receiver, what we send into the peer's window, and the persist timer with
// its backoff, checked against Linux's choices.
#include <sys/ioctl.h>

#include <algorithm>
#include <vector>

#include "sim/transfer.hh"
#include "tcp/conn_fixture.hh"

using namespace dshim;
using namespace dshim::test;
using wire::TCPF_ACK;
using wire::TCPF_PSH;
using wire::TCPF_SYN;

namespace {

constexpr uint8_t PA = TCPF_PSH | TCPF_ACK;

conn open_conn(tcp_fixture& f, peer_syn_opts o = {.isn = 5000}) {
    return dshim::test::open_active(f, o);
}

std::string pattern(size_t n) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) {
        s[i] = char('a' + i % 26);
    }
    return s;
}

// Everything we sent, the peer answering ARP requests for its address as a
// live host would (its cache entry in our stack goes stale over minutes).
std::vector<parsed_frame> peer_tx(tcp_fixture& f) {
    std::vector<parsed_frame> out;
    f.net.flush();
    while (f.dev.tx_pending() > 0) {
        pbuf_ptr p = f.dev.pop_tx();
        parsed_frame fr = parse_frame(*p);
        if (fr.is_arp && fr.arp.op == wire::arp_op_request && fr.arp.tpa == PEER_IP) {
            f.inject_raw(make_arp_reply(f.peer));
        } else if (fr.is_tcp) {
            out.push_back(std::move(fr));
        }
    }
    return out;
}

}  // namespace

TEST_CASE("window scaling: ours (7) scales every window after the SYN, the peer's (2) scales its windows") {
    tcp_fixture f;
    conn c = open_conn(f, {.wscale = 2, .win = 29200});
    tcp_sock* tp = c.u.tp();
    CHECK(tp->rx_opt.snd_wscale == 2);
    CHECK(tp->rx_opt.rcv_wscale == 7);
    // RFC 7323 §2.2: the window in the SYN-ACK itself is not scaled.
    CHECK(tp->snd_wnd == 29200);

    // A window of 1000 units is 4000 bytes: two 1460-byte segments fit,
    // a third would pass the right edge (RFC 9293 §3.8.6.2.1 sends only
    // what fits the offered window).
    f.inject(c.from_peer(TCPF_ACK, 1000));
    CHECK(tp->snd_wnd == 4000);
    REQUIRE(c.u.send(pattern(10000)) == 10000);
    auto segs = f.drain_tcp();
    REQUIRE(segs.size() == 2);
    // Our window field is our window >> 7 and covers at least the
    // initial 64240 bytes.
    for (auto& s : segs) {
        CHECK(uint32_t(s.tcp.window) == (tp->rcv_wnd >> 7));
        CHECK((uint32_t(s.tcp.window) << 7) >= 64240u);
    }
    // The peer opens to 1000 << 2 past what it acknowledged.
    auto a = c.from_peer(TCPF_ACK, 1000);
    a.ack = wire::seq32(c.snd + 2920);
    f.inject(a);
    auto more = f.drain_tcp();
    REQUIRE(more.size() == 2);
    CHECK(more[0].tcp.seq.v == c.snd + 2920);

    // Our scaled window is what we accept: data that ends past
    // ack + (window << 7) is outside it and dropped.
    const uint32_t right = c.rcv + (uint32_t(segs[0].tcp.window) << 7);
    auto past = c.from_peer(PA, 1000);
    past.seq = wire::seq32(right);
    const uint64_t oow = f.net.counters().drop(drop_reason::tcp_out_of_window);
    f.inject(past, "beyond");
    CHECK(f.net.counters().drop(drop_reason::tcp_out_of_window) == oow + 1);
    auto dup = f.expect_tcp(TCPF_ACK);  // RFC 9293 §3.10.7.4: ACK it
    CHECK(dup.tcp.ack.v == c.rcv);
    CHECK(c.u.recv_str() == "<" + std::to_string(-EAGAIN) + ">");
    c.u.close();
}

TEST_CASE("window scaling: the peer's shift 14 is used, above 14 it is clamped to 14 (RFC 7323 §2.3)") {
    for (int ws : {14, 15, 255}) {
        DYNAMIC_SECTION("peer wscale " << ws) {
            tcp_fixture f;
            conn c = open_conn(f, {.wscale = ws});
            CHECK(c.u.tp()->rx_opt.snd_wscale == 14);
            f.inject(c.from_peer(TCPF_ACK, 3));
            CHECK(c.u.tp()->snd_wnd == 3u << 14);
            c.u.close();
        }
    }
}

TEST_CASE("window scaling: without the peer's option neither side scales") {
    tcp_fixture f;
    conn c = open_conn(f);
    tcp_sock* tp = c.u.tp();
    CHECK(tp->rx_opt.rcv_wscale == 0);
    CHECK(tp->rx_opt.snd_wscale == 0);
    f.inject(c.from_peer(PA, 700), "x");
    c.rcv += 1;
    auto a = f.expect_tcp(TCPF_ACK);
    CHECK(a.tcp.window == tp->rcv_wnd);
    CHECK(tp->snd_wnd == 700);
    c.u.close();
}

TEST_CASE("zero window (receiver): a reader that never reads closes the window without moving its right edge left") {
    tcp_fixture f;
    conn c = open_conn(f);
    const uint32_t mss = 1460;
    uint32_t right = c.rcv + 64240;  // what our SYN advertised
    uint32_t max_right = right;
    uint32_t last_win = 64240;
    unsigned acks = 0;
    std::vector<uint32_t> advances;
    auto take_acks = [&] {
        for (auto& a : f.drain_tcp()) {
            ++acks;
            INFO("ack " << acks << ": " << describe(a));
            CHECK(a.tcp.ack.v == c.rcv);
            const uint32_t r = a.tcp.ack.v + a.tcp.window;  // no scaling here
            // RFC 9293 §3.8.6.2.2: the right edge never moves left.
            CHECK(!wire::before(wire::seq32(r), wire::seq32(max_right)));
            if (wire::after(wire::seq32(r), wire::seq32(max_right))) {
                advances.push_back(r - max_right);
                max_right = r;
            }
            right = r;
            last_win = a.tcp.window;
        }
    };
    // The peer sends what our last ACK allows, full segments first.
    for (int round = 0; round < 400 && last_win != 0; ++round) {
        const uint32_t room = right - c.rcv;
        if (room == 0) {
            f.advance_ms(200);  // collect a delayed ACK
            take_acks();
            continue;
        }
        const uint32_t n = std::min(room, mss);
        f.inject(c.from_peer(PA, 65535), pattern(n));
        c.rcv += n;
        take_acks();
    }
    REQUIRE(last_win == 0);
    // Receiver SWS avoidance (RFC 9293 §3.8.6.2.2, RFC 1122 §4.2.3.3): the
    // right edge only ever advanced by at least one MSS.
    for (uint32_t adv : advances) {
        CHECK(adv >= mss);
    }
    const int queued = int(c.rcv - 5001);
    int inq = 0;
    REQUIRE(c.u.s->ops->ioctl(c.u.s, FIONREAD, reinterpret_cast<unsigned long>(&inq)) == 0);
    CHECK(inq == queued);

    // A segment into the closed window is dropped and answered with the
    // zero window (what answers a zero-window probe).
    f.advance_ms(1000);
    f.inject(c.from_peer(PA, 65535), "z");
    auto zw = f.expect_tcp(TCPF_ACK);
    CHECK(zw.tcp.ack.v == c.rcv);
    CHECK(zw.tcp.window == 0);

    // Reading part of a segment frees no buffer: no window update.
    char buf[1460];
    CHECK(c.u.recv(buf, 100) == 100);
    f.expect_no_tx();
    // Reading segment by segment: an update goes out only once an MSS or
    // more can be offered (receiver SWS avoidance), and each one offers at
    // least twice the window left (tcp_cleanup_rbuf).
    const uint64_t updates = f.net.counters().tcp_window_updates;
    uint32_t offered = 0;
    unsigned nupd = 0;
    for (long n; (n = c.u.recv(buf, sizeof(buf))) > 0;) {
        for (auto& u : f.drain_tcp()) {
            INFO("update " << describe(u));
            CHECK(u.tcp.ack.v == c.rcv);
            CHECK(u.tcp.window >= mss);
            CHECK(u.tcp.window >= 2 * offered);
            offered = u.tcp.window;
            ++nupd;
        }
    }
    CHECK(nupd >= 1);
    CHECK(offered >= 32768);  // the buffer is empty again
    CHECK(f.net.counters().tcp_window_updates == updates + nupd);
    f.expect_no_tx();
    c.u.close();
}

TEST_CASE("zero window (sender): persist timer probes with exponential backoff, an opening resumes the data") {
    tcp_fixture f;
    // 10 ms RTT samples: RTO = 10 + max(4 * RTTVAR, 200) = 210 ms.
    conn c = open_conn(f, {.rtt_ms = 10});
    REQUIRE(c.u.send(pattern(1000)) == 1000);
    f.expect_tcp(PA);
    f.advance_ms(10);
    c.snd += 1000;
    f.inject(c.from_peer(TCPF_ACK, 0));  // everything acked, window closed
    f.expect_no_tx();
    const nsec_t rto = c.u.tp()->icsk_rto;
    REQUIRE(rto == 210 * NSEC_PER_MSEC);

    REQUIRE(c.u.send(pattern(500)) == 500);
    f.expect_no_tx();  // nothing fits a zero window
    CHECK(c.u.tp()->icsk_pending == ICSK_TIME_PROBE0);
    // Probes at RTO, then 2, 4, 8 RTO apart (RFC 1122 §4.2.2.17 "exponentially
    // increasing"; Linux's tcp_probe0_when).
    for (int k = 0; k < 5; ++k) {
        INFO("probe " << k);
        const uint64_t gap_ms = uint64_t((rto << k) / NSEC_PER_MSEC);
        f.advance_ms(gap_ms - 1);
        f.expect_no_tx();
        f.advance_ms(1);
        auto p = f.expect_tcp(TCPF_ACK);
        // A pure ACK one below snd_una: the peer must answer with its window.
        CHECK(p.tcp.seq.v == c.snd - 1);
        CHECK(p.payload.empty());
        f.expect_no_tx();
        f.inject(c.from_peer(TCPF_ACK, 0));  // still closed
        f.expect_no_tx();
    }
    CHECK(f.net.counters().tcp_zero_window_probes == 5);
    CHECK(c.u.state() == TCP_ESTABLISHED);

    // The window opens: the data goes at once, the probing stops.
    f.inject(c.from_peer(TCPF_ACK, 65535));
    auto d = f.expect_tcp(PA);
    CHECK(d.tcp.seq.v == c.snd);
    CHECK(d.payload.size() == 500);
    CHECK(c.u.tp()->icsk_pending == ICSK_TIME_RETRANS);
    c.snd += 500;
    f.inject(c.from_peer(TCPF_ACK, 65535));
    f.advance_ms(60000);
    f.expect_no_tx();
    c.u.close();
}

TEST_CASE("zero window (sender): probes answered with a closed window never time the connection out") {
    tcp_fixture f;
    conn c = open_conn(f, {.rtt_ms = 10});
    REQUIRE(c.u.send(pattern(100)) == 100);
    f.expect_tcp(PA);
    c.snd += 100;
    f.inject(c.from_peer(TCPF_ACK, 0));
    REQUIRE(c.u.send(pattern(100)) == 100);
    // 30 minutes of probes, each answered: the connection lives (Linux
    // resets icsk_probes_out on every ACK; only unanswered probes count).
    unsigned probes = 0;
    const nsec_t rto = c.u.tp()->icsk_rto;
    for (int i = 0; i < 30 * 60; ++i) {
        f.advance_ms(1000);
        for (auto& p : peer_tx(f)) {
            CHECK(p.tcp.seq.v == c.snd - 1);
            ++probes;
            f.inject(c.from_peer(TCPF_ACK, 0));
        }
    }
    CHECK(c.u.state() == TCP_ESTABLISHED);
    // Ten probes with doubling gaps take rto * (2^10 - 1) (about 214 s);
    // after that the gap is capped at the 120 s RTO maximum.
    const nsec_t doubling = rto * 1023;
    REQUIRE(doubling < 1800 * NSEC_PER_SEC);
    CHECK(probes == 10 + (1800 * NSEC_PER_SEC - doubling) / (120 * NSEC_PER_SEC));
    c.u.close();
}

TEST_CASE("sender SWS avoidance: no small segment into a small window until the persist timer") {
    tcp_fixture f;
    conn c = open_conn(f, {.rtt_ms = 10});
    tcp_sock* tp = c.u.tp();
    // The peer offers 100 bytes (having offered 65535 before).
    f.inject(c.from_peer(TCPF_ACK, 100));
    REQUIRE(c.u.send(pattern(1460)) == 1460);
    // A full segment is queued: a 100-byte sliver is not sent now
    // (RFC 9293 §3.8.6.2.1; Linux's tcp_snd_wnd_test).
    f.expect_no_tx();
    f.advance(tp->icsk_rto - NSEC_PER_MSEC);
    f.expect_no_tx();
    // The override timeout (the persist timer, as Linux's tcp_write_wakeup):
    // what fits the window goes, pushed.
    f.advance_ms(1);
    auto s = f.expect_tcp(PA);
    CHECK(s.payload.size() == 100);
    CHECK(s.tcp.seq.v == c.snd);
    f.expect_no_tx();
    c.snd += 100;
    // Window opens: the rest.
    f.inject(c.from_peer(TCPF_ACK, 65535));
    auto r = f.expect_tcp(PA);
    CHECK(r.payload.size() == 1360);
    c.u.close();
}

TEST_CASE("sender SWS avoidance: a small write that fits the small window is all that is queued, so it goes") {
    tcp_fixture f;
    conn c = open_conn(f);
    f.inject(c.from_peer(TCPF_ACK, 1000));
    REQUIRE(c.u.send(pattern(300)) == 300);
    auto s = f.expect_tcp(PA);
    CHECK(s.payload.size() == 300);
    // 700 bytes of window left, a full segment queued: held.
    REQUIRE(c.u.setsockopt_int(IPPROTO_TCP, 1 /* TCP_NODELAY */, 1) == 0);
    REQUIRE(c.u.send(pattern(1460)) == 1460);
    f.expect_no_tx();
    c.u.close();
}

TEST_CASE("small peer window: segments shrink to half the largest window, so a window below the MSS still moves data") {
    tcp_fixture f;
    conn c = open_conn(f, {.win = 1000});
    tcp_sock* tp = c.u.tp();
    CHECK(tp->mss_cache == 1460);
    CHECK(tcp_current_mss(c.u.sk()) == 500);  // tcp_bound_to_half_wnd
    const std::string data = pattern(3000);
    REQUIRE(c.u.send(data) == 3000);
    std::string got;
    for (int round = 0; round < 3; ++round) {
        INFO("round " << round);
        auto segs = f.drain_tcp();
        REQUIRE(segs.size() == 2);  // 2 * 500 = the whole window
        for (auto& s : segs) {
            CHECK(s.payload.size() == 500);
            CHECK(s.tcp.seq.v == c.snd + uint32_t(got.size()));
            got.append(reinterpret_cast<const char*>(s.payload.data()), s.payload.size());
        }
        auto a = c.from_peer(TCPF_ACK, 1000);
        a.ack = wire::seq32(c.snd + uint32_t(got.size()));
        f.inject(a);
    }
    CHECK(got == data);
    f.expect_no_tx();
    c.u.close();
}

TEST_CASE("sim: a receiver that stops reading stalls the sender on a zero window; reading resumes it byte-exact") {
    sim_wire_config wc;
    wc.a_to_b.delay = 1 * NSEC_PER_MSEC;
    wc.b_to_a.delay = 1 * NSEC_PER_MSEC;
    sim_pair p(wc);
    usock c, s;
    connect_pair(p, 9200, c, s);  // c on B sends, s on A receives
    const uint64_t total = 2u << 20;
    stream_state st{&c, &s, total, 9};
    // Only the sender pumps: the receive queue fills and the window closes.
    p.run_until(
        [&] {
            uint8_t buf[65536];
            while (st.sent < total) {
                for (size_t i = 0; i < sizeof(buf); ++i) {
                    buf[i] = stream_byte(st.sent + i, 9);
                }
                const long r = c.send(buf, size_t(std::min<uint64_t>(sizeof(buf), total - st.sent)));
                if (r <= 0) {
                    break;
                }
                st.sent += uint64_t(r);
            }
            return false;
        },
        5 * NSEC_PER_SEC);
    CHECK(tcp_receive_window(s.tp()) == 0);
    CHECK(p.b.counters().tcp_zero_window_probes > 0);
    CHECK(st.sent < total);
    const uint64_t updates = p.a.counters().tcp_window_updates;
    REQUIRE(run_streams(p, {&st}, 60 * NSEC_PER_SEC));
    CHECK(st.mismatches == 0);
    CHECK(st.received == total);
    CHECK(p.a.counters().tcp_window_updates > updates);
    CHECK(p.b.counters().tcp_retrans_segs == 0);
    c.close();
    s.close();
}
