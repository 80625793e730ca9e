// Retransmission timer (RFC 6298): initial RTO, SRTT/RTTVAR, Karn's rule,
// exponential backoff at exact virtual times in both profiles, R2 giving up
// with ETIMEDOUT (RFC 1122 §4.2.3.5), SYN and SYN-ACK retry limits.
// Kernel counterpart: net/ipv4/tcp_timer.c, tcp_input.c (tcp_ack_update_rtt).
#include "tcp/loss_fixture.hh"

using namespace dshim;
using namespace dshim::test;
using wire::TCPF_ACK;
using wire::TCPF_SYN;

namespace {

// Advances `ms` and expects nothing before its last millisecond and a frame
// exactly at it; returns that frame.
parsed_frame expect_at(tcp_fixture& f, uint64_t ms, uint8_t flags) {
    REQUIRE(ms >= 1);
    f.advance_ms(ms - 1);
    INFO("nothing may be sent before the deadline");
    expect_no_tcp(f);
    f.advance_ms(1);
    return next_tcp(f, flags);
}

uint64_t now_ms(tcp_fixture& f) { return f.clk.now() / NSEC_PER_MSEC; }

}  // namespace

TEST_CASE("rto: SYN retransmits after 1, 2, 4, 8, 16, 32 s and connect fails with ETIMEDOUT at 127 s (linux)") {
    tcp_fixture f;
    usock c = usock::create(f.net);
    REQUIRE(c.connect(PEER_IP, 80) == -EINPROGRESS);
    auto syn = next_tcp(f, TCPF_SYN);
    const uint64_t t0 = now_ms(f);
    uint64_t gap = 1000;  // RFC 6298 (2.1): 1 s before any sample
    for (int i = 0; i < 6; ++i) {
        auto r = expect_at(f, gap, TCPF_SYN);
        CHECK(r.tcp.seq == syn.tcp.seq);
        gap *= 2;
    }
    CHECK(now_ms(f) - t0 == 63000);
    CHECK(c.state() == TCP_SYN_SENT);
    f.advance_ms(63999);
    expect_no_tcp(f);
    CHECK(c.state() == TCP_SYN_SENT);
    f.advance_ms(1);
    expect_no_tcp(f);  // no seventh SYN, no RST
    CHECK(now_ms(f) - t0 == 127000);
    CHECK(c.state() == TCP_CLOSE);
    CHECK(c.connect(PEER_IP, 80) == -ETIMEDOUT);
    CHECK(f.net.counters().tcp_retrans_segs == 6);
    c.close();
}

TEST_CASE("rto: OPT_TCP_SYNCNT 2 gives up after the second SYN retransmission (1 + 2 + 4 s)") {
    tcp_fixture f;
    usock c = usock::create(f.net);
    REQUIRE(c.setsockopt_int(IPPROTO_TCP, OPT_TCP_SYNCNT, 2) == 0);
    REQUIRE(c.connect(PEER_IP, 80) == -EINPROGRESS);
    next_tcp(f, TCPF_SYN);
    expect_at(f, 1000, TCPF_SYN);
    expect_at(f, 2000, TCPF_SYN);
    f.advance_ms(3999);
    CHECK(c.state() == TCP_SYN_SENT);
    f.advance_ms(1);
    CHECK(c.state() == TCP_CLOSE);
    expect_no_tcp(f);
    CHECK(c.connect(PEER_IP, 80) == -ETIMEDOUT);
    c.close();
}

TEST_CASE("rto: SYN-ACK is retransmitted 5 times, then the embryo is forgotten and a late ACK gets RST") {
    tcp_fixture f;
    usock l = usock::create(f.net);
    REQUIRE(l.bind(0, 8080) == 0);
    REQUIRE(l.listen(8) == 0);
    auto syn = seg(40000, 8080, 100, 0, TCPF_SYN, 65535);
    syn.opt.has_mss = true;
    syn.opt.mss = 1460;
    f.inject(syn);
    auto sa = next_tcp(f, TCPF_SYN | TCPF_ACK);
    uint64_t gap = 1000;
    for (int i = 0; i < 5; ++i) {
        auto r = expect_at(f, gap, TCPF_SYN | TCPF_ACK);
        CHECK(r.tcp.seq == sa.tcp.seq);
        gap *= 2;
    }
    // 1+2+4+8+16 = 31 s; the sixth timer (at 63 s) drops the request.
    f.advance_ms(32000);
    expect_no_tcp(f);
    f.advance_ms(10000);
    expect_no_tcp(f);
    // The handshake's ACK now finds no embryo: the listener answers RST.
    f.inject(seg(40000, 8080, 101, sa.tcp.seq.v + 1, TCPF_ACK, 65535));
    auto rst = next_tcp(f, wire::TCPF_RST);
    CHECK(rst.tcp.seq.v == sa.tcp.seq.v + 1);
    usock a;
    CHECK(l.accept(&a) == -EAGAIN);
    l.close();
}

TEST_CASE("rto: first sample gives SRTT = R, RTTVAR = R/2 and RTO = SRTT + max(4 RTTVAR, 200 ms) (linux)") {
    tcp_fixture f;
    peer_conn pc(f, {.rtt_ms = 100});
    pc.open();
    CHECK(pc.s.tp()->srtt_us >> 3 == 100000);
    CHECK(pc.s.tp()->rttvar_us == 50000);
    CHECK(pc.s.tp()->icsk_rto == 300 * NSEC_PER_MSEC);
    REQUIRE(pc.send_bytes(500) == 500);
    auto d = next_tcp(f, TCPF_ACK | wire::TCPF_PSH);
    auto r = expect_at(f, 300, TCPF_ACK | wire::TCPF_PSH);
    CHECK(r.tcp.seq == d.tcp.seq);
    CHECK(r.payload.size() == 500);
    pc.s.close();
}

TEST_CASE("rto: a small RTT is floored at SRTT + 200 ms in linux and at 1 s in rfc") {
    SECTION("linux") {
        tcp_fixture f;
        peer_conn pc(f, {.rtt_ms = 10});
        pc.open();
        CHECK(pc.s.tp()->icsk_rto == 210 * NSEC_PER_MSEC);
        pc.send_bytes(100);
        f.drain_tcp();
        expect_at(f, 210, TCPF_ACK | wire::TCPF_PSH);
        pc.s.close();
    }
    SECTION("rfc") {
        tcp_fixture f(tcp_profile::rfc);
        peer_conn pc(f, {.rtt_ms = 10});
        pc.open();
        CHECK(pc.s.tp()->icsk_rto == 1000 * NSEC_PER_MSEC);
        pc.send_bytes(100);
        f.drain_tcp();
        expect_at(f, 1000, TCPF_ACK | wire::TCPF_PSH);
        pc.s.close();
    }
}

TEST_CASE("rto: a second sample updates SRTT and RTTVAR per RFC 6298 (2.3)") {
    tcp_fixture f;
    peer_conn pc(f, {.rtt_ms = 100});
    pc.open();
    pc.send_bytes(100);
    f.drain_tcp();
    f.advance_ms(299);  // R' = 299 ms, just before the RTO
    expect_no_tcp(f);
    pc.ack(100);
    // err = 199: SRTT = 100 + 199/8, RTTVAR = 3/4*50 + 1/4*199.
    CHECK(pc.s.tp()->srtt_us >> 3 == 124875);
    CHECK(pc.s.tp()->mdev_us == 349000);           // 4 * RTTVAR
    CHECK(pc.s.tp()->icsk_rto == (124875 + 349000) * NSEC_PER_USEC);
    // A third sample equal to SRTT shrinks RTTVAR only.
    pc.send_bytes(100);
    f.drain_tcp();
    f.advance(124875 * NSEC_PER_USEC);
    pc.ack(200);
    CHECK(pc.s.tp()->srtt_us >> 3 == 124875);
    CHECK(pc.s.tp()->mdev_us == 349000 * 3 / 4);
    pc.s.close();
}

TEST_CASE("rto: backoff timeline, 1st/2nd/3rd retransmission at +300/+900/+2100 ms (linux, RTT 100 ms)") {
    tcp_fixture f;
    peer_conn pc(f, {.rtt_ms = 100});
    pc.open();
    pc.send_bytes(1000);
    auto d = next_tcp(f, TCPF_ACK | wire::TCPF_PSH);
    const uint64_t t0 = now_ms(f);
    const uint64_t want[] = {300, 900, 2100, 4500};
    for (uint64_t w : want) {
        auto r = expect_at(f, w - (now_ms(f) - t0), TCPF_ACK | wire::TCPF_PSH);
        CHECK(r.tcp.seq == d.tcp.seq);
        CHECK(now_ms(f) - t0 == w);
    }
    CHECK(pc.s.tp()->icsk_backoff == 4);
    CHECK(f.net.counters().tcp_retrans_segs == 4);
    CHECK(f.net.counters().tcp_timeouts == 4);
    pc.s.close();
}

TEST_CASE("rto: backoff timeline, 1st/2nd/3rd retransmission at +1/+3/+7 s (rfc profile)") {
    tcp_fixture f(tcp_profile::rfc);
    peer_conn pc(f, {.rtt_ms = 100});
    pc.open();
    pc.send_bytes(1000);
    auto d = next_tcp(f, TCPF_ACK | wire::TCPF_PSH);
    const uint64_t t0 = now_ms(f);
    for (uint64_t w : {1000, 3000, 7000}) {
        auto r = expect_at(f, w - (now_ms(f) - t0), TCPF_ACK | wire::TCPF_PSH);
        CHECK(r.tcp.seq == d.tcp.seq);
        CHECK(now_ms(f) - t0 == w);
    }
    pc.s.close();
}

TEST_CASE("rto: backoff is capped at 120 s") {
    tcp_fixture f;
    peer_conn pc(f, {.rtt_ms = 100});
    pc.open();
    pc.send_bytes(1000);
    f.drain_tcp();
    // 300 ms << 9 = 153.6 s > 120 s: from the 9th retransmission on, 120 s apart.
    uint64_t last = now_ms(f);
    std::vector<uint64_t> gaps;
    for (int i = 0; i < 11; ++i) {
        auto v = data_frames(run_until_tcp(f, 200 * NSEC_PER_SEC));
        REQUIRE(v.size() == 1);
        gaps.push_back(now_ms(f) - last);
        last = now_ms(f);
    }
    const std::vector<uint64_t> want = {300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 76800, 120000, 120000};
    CHECK(gaps == want);
    pc.s.close();
}

TEST_CASE("karn: an ACK for a retransmitted segment gives no RTT sample and the backed-off RTO is kept") {
    tcp_fixture f;
    peer_conn pc(f, {.rtt_ms = 100});
    pc.open();
    const uint32_t srtt = pc.s.tp()->srtt_us;
    pc.send_bytes(1000);
    f.drain_tcp();
    expect_at(f, 300, TCPF_ACK | wire::TCPF_PSH);
    // The ACK arrives 5 ms after the retransmission: an ambiguous sample.
    f.advance_ms(5);
    pc.ack(1000);
    CHECK(pc.s.tp()->srtt_us == srtt);
    CHECK(pc.s.tp()->icsk_backoff == 1);
    // New data is timed with the backed-off RTO (RFC 6298 §5 note, Karn).
    pc.send_bytes(1000);
    f.drain_tcp();
    expect_at(f, 600, TCPF_ACK | wire::TCPF_PSH);
    pc.s.close();
}

TEST_CASE("karn: with timestamps the echoed TSval gives a sample even for a retransmission (RFC 7323 §4)") {
    tcp_fixture f;
    peer_conn pc(f, {.ts = true, .rtt_ms = 100});
    pc.open();
    pc.send_bytes(500);
    f.drain_tcp();
    auto r = expect_at(f, 300, TCPF_ACK | wire::TCPF_PSH);
    pc.note(r);  // the peer echoes the retransmission's TSval
    f.advance_ms(20);
    pc.ack(500);
    // Sample 20 ms: SRTT = 100 + (20 - 100)/8 = 90 ms.
    CHECK(pc.s.tp()->srtt_us >> 3 == 90000);
    CHECK(pc.s.tp()->icsk_backoff == 0);
    pc.s.close();
}

TEST_CASE("rto: a retransmitted SYN gives no sample, data then starts with a 3 s RTO (RFC 6298 5.7)") {
    tcp_fixture f;
    usock c = usock::create(f.net);
    REQUIRE(c.connect(PEER_IP, 80) == -EINPROGRESS);
    auto syn = next_tcp(f, TCPF_SYN);
    expect_at(f, 1000, TCPF_SYN);
    f.advance_ms(50);
    auto sa = seg(80, syn.tcp.sport, 7000, syn.tcp.seq.v + 1, TCPF_SYN | TCPF_ACK, 65535);
    sa.opt.has_mss = true;
    sa.opt.mss = 1000;
    f.inject(sa);
    next_tcp(f, TCPF_ACK);
    REQUIRE(c.state() == TCP_ESTABLISHED);
    CHECK(c.tp()->srtt_us == 0);
    std::string d(100, 'q');
    REQUIRE(c.send(d) == 100);
    f.drain_tcp();
    expect_at(f, 3000, TCPF_ACK | wire::TCPF_PSH);
    c.close();
}

TEST_CASE("rto: an ACK of new data restarts the timer for what is still outstanding (RFC 6298 5.3)") {
    tcp_fixture f;
    peer_conn pc(f, {.rtt_ms = 100});
    pc.open();
    pc.send_bytes(2000);
    auto v = data_frames(f.drain_tcp());
    REQUIRE(v.size() == 2);
    f.advance_ms(100);
    pc.ack(1000);  // sample 100 ms: RTO stays 300 ms
    REQUIRE(pc.s.tp()->icsk_rto == 300 * NSEC_PER_MSEC);
    auto r = expect_at(f, 300, TCPF_ACK | wire::TCPF_PSH);
    CHECK(pc.off(r) == 1000);
    pc.s.close();
}

TEST_CASE("rto: expiry collapses cwnd to 1 and halves ssthresh; the rest follows in slow start") {
    tcp_fixture f;
    peer_conn pc(f, {.rtt_ms = 100});
    pc.open();
    pc.send_bytes(10000);
    auto v = data_frames(f.drain_tcp());
    REQUIRE(v.size() == 10);
    auto r = expect_at(f, 300, TCPF_ACK);
    CHECK(pc.off(r) == 0);
    CHECK(pc.s.tp()->snd_cwnd == 1);
    CHECK(pc.s.tp()->snd_ssthresh == 5);
    expect_no_tcp(f);  // one segment only (cwnd 1)
    pc.ack(1000);
    // cwnd 2: the next two lost segments go out.
    v = data_frames(f.drain_tcp());
    REQUIRE(v.size() == 2);
    CHECK(pc.off(v[0]) == 1000);
    CHECK(pc.off(v[1]) == 2000);
    pc.s.close();
}

TEST_CASE("r2: 15 retransmissions over 924.6 s, then ETIMEDOUT through recv, SO_ERROR and poll") {
    tcp_fixture f;
    peer_conn pc(f, {.rtt_ms = 100});
    pc.open();
    pc.send_bytes(1000);
    f.drain_tcp();
    const uint64_t t0 = now_ms(f);
    int retrans = 0;
    uint64_t last_retrans = 0;
    while (retrans < 15 && pc.s.state() == TCP_ESTABLISHED) {
        auto v = run_until_tcp(f, 200 * NSEC_PER_SEC);
        REQUIRE(!v.empty());
        for (auto& fr : v) {
            CHECK((fr.tcp.flags & wire::TCPF_RST) == 0);
            if (!fr.payload.empty()) {
                ++retrans;
                last_retrans = now_ms(f) - t0;
            }
        }
    }
    // 0.3 .. 153.3 s doubling, then 120 s apart: the 15th at 873.3 s; the
    // next expiry (993.3 s) is past the R2 budget of 924.6 s from the first
    // transmission: no 16th retransmission, the connection is dropped.
    CHECK(last_retrans == 873300);
    f.advance_ms(119999);
    CHECK(pc.s.state() == TCP_ESTABLISHED);
    f.advance_ms(1);
    CHECK(now_ms(f) - t0 == 993300);
    REQUIRE(pc.s.state() == TCP_CLOSE);
    expect_no_tcp(f);  // no RST either (Linux sends none on timeout)
    CHECK(f.net.counters().tcp_retrans_segs == 15);
    CHECK((pc.s.poll() & POLLERR) != 0);
    SECTION("recv") {
        char b[16];
        CHECK(pc.s.recv(b, sizeof b) == -ETIMEDOUT);
    }
    SECTION("SO_ERROR") {
        int e = 0;
        REQUIRE(pc.s.getsockopt_int(SOL_SOCKET, SO_ERROR, &e) == 0);
        CHECK(e == ETIMEDOUT);
        REQUIRE(pc.s.getsockopt_int(SOL_SOCKET, SO_ERROR, &e) == 0);
        CHECK(e == 0);
    }
    SECTION("send") {
        CHECK(pc.send_bytes(10) == -ETIMEDOUT);
    }
    pc.s.close();
}

TEST_CASE("rto: a timestamp echo of the current millisecond is a 1 ms RTT sample, never 0 (Linux's tcp_rtt_tsopt_us)") {
    tcp_fixture f;
    peer_conn pc(f, {.ts = true, .rtt_ms = 5});
    pc.open();
    REQUIRE(pc.s.tp()->rtt_min_us == 5000);
    REQUIRE(pc.send_bytes(500) == 500);
    (void)next_tcp(f, TCPF_ACK | wire::TCPF_PSH);
    // The RTO retransmits; the peer ACKs it within the same millisecond.
    // The segment was retransmitted (Karn), so only the timestamp gives an
    // RTT: the echo of the current TSval.
    auto r = expect_at(f, 205, TCPF_ACK | wire::TCPF_PSH);
    pc.note(r);
    pc.ack(500);
    CHECK(pc.s.tp()->rtt_min_us == 1000);
    CHECK(pc.s.tp()->srtt_us != 0);
    pc.s.close();
}
