// SACK-based loss recovery on the sender (RFC 2018 scoreboard, RFC 6675
// recovery, RFC 8985 RACK-TLP, RFC 6937 PRR), D-SACK both ways (RFC 2883)
// and spurious-retransmission undo (RFC 3522 Eifel, RFC 3708 D-SACK).
// Kernel counterpart: tcp_input.c (tcp_sacktag_write_queue,
// tcp_fastretrans_alert), tcp_recovery.c. Profile: linux.
#include <initializer_list>
#include <utility>

#include "tcp/loss_fixture.hh"

using namespace dshim;
using namespace dshim::test;
using wire::TCPF_ACK;

namespace {

using offs = std::vector<uint32_t>;
using blocks = std::initializer_list<std::pair<uint32_t, uint32_t>>;

std::vector<uint32_t> sent_offsets(peer_conn& pc) {
    std::vector<uint32_t> out;
    for (auto& fr : data_frames(pc.f.drain_tcp())) {
        out.push_back(pc.off(fr));
    }
    return out;
}

// An ACK from the peer for ack_off carrying SACK blocks (offsets into our
// byte stream).
wire::tcp_repr sack_seg(peer_conn& pc, uint32_t ack_off, blocks b) {
    auto th = pc.pseg(0, ack_off);
    uint8_t n = 0;
    for (auto [s, e] : b) {
        th.opt.sacks[n++] = {wire::seq32(pc.snd0() + s), wire::seq32(pc.snd0() + e)};
    }
    th.opt.num_sacks = n;
    return th;
}
void sack(peer_conn& pc, uint32_t ack_off, blocks b) { pc.f.inject(sack_seg(pc, ack_off, b)); }

// Queues n bytes, takes the first flight (ten segments) off the wire and
// lets one RTT (100 ms) pass: where most cases start.
void first_flight(peer_conn& pc, size_t n) {
    pc.send_bytes(n);
    REQUIRE(sent_offsets(pc).size() == 10);
    pc.f.advance_ms(100);
}

// Segment 0 (of size m) is missing: the peer SACKs one, two, then three
// segments above it (DupThresh).
void three_sacks_above_hole(peer_conn& pc, uint32_t m) {
    for (uint32_t k = 2; k <= 4; ++k) {
        sack(pc, 0, {{m, k * m}});
    }
}

peer_opts sack_peer() {
    peer_opts o;
    o.mss = 1000;
    o.sack = true;
    return o;
}

peer_opts sack_ts_peer() {
    peer_opts o = sack_peer();
    o.ts = true;
    return o;
}

// The peer ACKs up to ack_off, echoing tsecr: which of our transmissions
// the ACK answers.
void ack_echoing(peer_conn& pc, uint32_t ack_off, uint32_t tsecr) {
    auto th = pc.pseg(0, ack_off);
    th.opt.ts_ecr = tsecr;
    pc.f.inject(th);
}

}  // namespace

TEST_CASE("sack: SACK blocks mark whole segments on the scoreboard; an invalid block is ignored") {
    tcp_fixture f;
    peer_conn pc(f, sack_peer());
    pc.open();
    first_flight(pc, 10000);
    sack(pc, 0, {{2000, 4000}});
    CHECK(pc.s.tp()->sacked_out == 2);
    CHECK(pc.s.tp()->highest_sack.v == pc.snd0() + 4000);
    // A block beyond snd_nxt and a block covering half a segment change nothing.
    sack(pc, 0, {{9000, 12000}, {4000, 4500}});
    CHECK(pc.s.tp()->sacked_out == 2);
    // The same block again counts once.
    sack(pc, 0, {{2000, 4000}});
    CHECK(pc.s.tp()->sacked_out == 2);
    // The cumulative ACK removes SACKed segments from the count.
    pc.ack(4000);
    CHECK(pc.s.tp()->sacked_out == 0);
    CHECK(pc.s.tp()->packets_out == 6);
    pc.s.close();
}

TEST_CASE("sack: three SACKed segments above a hole start recovery and resend only the hole (RFC 6675 §5)") {
    tcp_fixture f;
    peer_conn pc(f, sack_peer());
    pc.open();
    first_flight(pc, 30000);
    // Segment 0 is lost. The first two SACKs allow one new segment each
    // (RFC 3042 limited transmit falls out of the pipe).
    sack(pc, 0, {{1000, 2000}});
    CHECK(sent_offsets(pc) == offs{10000});
    sack(pc, 0, {{1000, 3000}});
    CHECK(sent_offsets(pc) == offs{11000});
    CHECK(pc.s.tp()->icsk_ca_state == TCP_CA_Disorder);
    // The third: DupThresh SACKed segments above the hole, it is lost.
    sack(pc, 0, {{1000, 4000}});
    CHECK(sent_offsets(pc) == offs{0});
    CHECK(pc.s.tp()->icsk_ca_state == TCP_CA_Recovery);
    CHECK(pc.s.tp()->snd_ssthresh == 5);  // reno: half of cwnd 10
    CHECK(f.net.counters().tcp_sack_recovery == 1);
    CHECK(f.net.counters().tcp_reno_recovery == 0);
    // More SACKs for the first flight: new data only (the SACKed segments
    // are never resent, nor is the retransmission still in flight).
    for (uint32_t e = 5000; e <= 10000; e += 1000) {
        sack(pc, 0, {{1000, e}});
        for (uint32_t o : sent_offsets(pc)) {
            CHECK(o >= 12000);
        }
    }
    // The full ACK ends recovery with cwnd = ssthresh (RFC 6937 §3).
    const uint32_t high = pc.s.tp()->high_seq.v - pc.snd0();
    pc.ack(high);
    CHECK(pc.s.tp()->icsk_ca_state == TCP_CA_Open);
    CHECK(pc.s.tp()->snd_cwnd == 5);
    CHECK(f.net.counters().tcp_retrans_segs == 1);
    CHECK(f.net.counters().tcp_timeouts == 0);
    pc.s.close();
}

TEST_CASE("sack: several holes in one window are repaired in one recovery, without a timeout") {
    tcp_fixture f;
    peer_conn pc(f, sack_peer());
    pc.open();
    first_flight(pc, 10000);
    // Lost: 0, 3 and 6.
    sack(pc, 0, {{1000, 3000}});
    sack(pc, 0, {{4000, 6000}, {1000, 3000}});
    sack(pc, 0, {{7000, 10000}, {4000, 6000}, {1000, 3000}});
    offs all = sent_offsets(pc);
    CHECK(pc.s.tp()->icsk_ca_state == TCP_CA_Recovery);
    CHECK(pc.s.tp()->lost_out + pc.s.tp()->retrans_out >= 3);
    // Retransmissions go out as PRR allows on the next ACKs.
    for (int i = 0; i < 3 && all.size() < 3; ++i) {
        sack(pc, 0, {{7000, 10000}, {4000, 6000}, {1000, 3000}});
        for (uint32_t o : sent_offsets(pc)) {
            all.push_back(o);
        }
        pc.ack(0);
        for (uint32_t o : sent_offsets(pc)) {
            all.push_back(o);
        }
    }
    std::sort(all.begin(), all.end());
    CHECK(all == offs{0, 3000, 6000});
    pc.ack(10000);
    CHECK(pc.s.tp()->icsk_ca_state == TCP_CA_Open);
    CHECK(pc.s.tp()->packets_out == 0);
    CHECK(f.net.counters().tcp_timeouts == 0);
    CHECK(f.net.counters().tcp_retrans_segs == 3);
    pc.s.close();
}

TEST_CASE("sack: a lost retransmission is found by RACK and resent without an RTO (RFC 8985 §6)") {
    tcp_fixture f;
    peer_conn pc(f, sack_peer());
    pc.open();
    REQUIRE(pc.s.setsockopt_int(IPPROTO_TCP, OPT_TCP_NODELAY, 1) == 0);
    first_flight(pc, 40000);
    three_sacks_above_hole(pc, 1000);
    offs o = sent_offsets(pc);
    REQUIRE(o.size() == 3);
    CHECK(o.back() == 0);  // the retransmission, at t1
    // Still at t1: more SACKs let PRR send new data after the retransmission.
    for (uint32_t e = 5000; e <= 10000; e += 1000) {
        sack(pc, 0, {{1000, e}});
    }
    o = sent_offsets(pc);
    REQUIRE(!o.empty());
    const uint32_t newest_end = o.back() + 1000;
    CHECK(o.front() >= 12000);
    // One RTT later the new data is SACKed but 0 is still missing: its
    // retransmission was lost too.
    f.advance_ms(100);
    sack(pc, 0, {{1000, newest_end}});
    o = sent_offsets(pc);
    REQUIRE(!o.empty());
    CHECK(o.front() == 0);
    CHECK(f.net.counters().tcp_lost_retransmits == 1);
    CHECK(f.net.counters().tcp_timeouts == 0);
    pc.ack(newest_end);
    CHECK(pc.s.tp()->icsk_ca_state == TCP_CA_Open);
    pc.s.close();
}

TEST_CASE("sack: with RACK off, DupThresh alone decides: two SACKed segments are not enough (RFC 6675 IsLost)") {
    tcp_fixture f;
    f.net.sysctl().recovery_rack = 0;
    peer_conn pc(f, sack_peer());
    pc.open();
    first_flight(pc, 10000);
    sack(pc, 0, {{2000, 4000}});
    CHECK(pc.s.tp()->lost_out == 0);
    f.advance_ms(50);  // no time-based rule: nothing happens (PTO and RTO are later)
    CHECK(pc.s.tp()->icsk_ca_state != TCP_CA_Recovery);
    // A third SACKed segment above the holes 0 and 1: both are lost
    // (each has three SACKed segments above it).
    sack(pc, 0, {{2000, 5000}});
    CHECK(pc.s.tp()->icsk_ca_state == TCP_CA_Recovery);
    CHECK(pc.s.tp()->lost_out == 2);  // lost stays marked while retransmitted
    offs o = sent_offsets(pc);
    REQUIRE(!o.empty());
    CHECK(o.front() == 0);
    pc.s.close();
}

TEST_CASE("sack: RACK waits a quarter RTT for reordering before one SACK makes a hole lost (RFC 8985 §6.2)") {
    tcp_fixture f;
    peer_conn pc(f, sack_peer());
    pc.open();
    first_flight(pc, 10000);
    sack(pc, 0, {{1000, 2000}});
    CHECK(pc.s.tp()->lost_out == 0);
    CHECK(pc.s.tp()->icsk_pending == ICSK_TIME_REO_TIMEOUT);
    // The reordering timer (min_rtt/4 = 25 ms) fires: segment 0 is lost.
    auto o = run_until_tcp(f, 30 * NSEC_PER_MSEC);
    REQUIRE(!o.empty());
    CHECK(pc.off(o.front()) == 0);
    CHECK(f.net.counters().tcp_rack_reo_timeouts == 1);
    CHECK(pc.s.tp()->icsk_ca_state == TCP_CA_Recovery);
    pc.s.close();
}

TEST_CASE("prr: cwnd falls to ssthresh over one round, one segment per two delivered (RFC 6937)") {
    tcp_fixture f;
    peer_conn pc(f, sack_peer());
    pc.open();
    REQUIRE(pc.s.setsockopt_int(IPPROTO_TCP, OPT_TCP_NODELAY, 1) == 0);
    first_flight(pc, 40000);
    // Hole at 0; SACKs for 1..9 (9 delivered). Limited transmit sends 2 first.
    sack(pc, 0, {{1000, 2000}});
    sack(pc, 0, {{1000, 3000}});
    REQUIRE(sent_offsets(pc).size() == 2);
    size_t during = 0;
    for (uint32_t e = 4000; e <= 12000; e += 1000) {
        sack(pc, 0, {{1000, e}});
        during += sent_offsets(pc).size();
    }
    // RecoverFS = 10, ssthresh = 5: ceil(9 * 5 / 10) = 5 segments for 9
    // delivered (the retransmission included), not a burst.
    CHECK(pc.s.tp()->icsk_ca_state == TCP_CA_Recovery);
    CHECK(pc.s.tp()->prr_delivered == 9);
    CHECK(during == 5);
    CHECK(pc.s.tp()->prr_out == 5);
    CHECK(pc.s.tp()->snd_cwnd <= 6);
    pc.s.close();
}

TEST_CASE("no sack: a peer without SACK gets NewReno duplicate-ACK recovery") {
    tcp_fixture f;
    peer_conn pc(f, {.mss = 1000, .sack = false});
    pc.open();
    pc.send_bytes(30000);
    REQUIRE(sent_offsets(pc).size() == 10);
    pc.ack(0);
    pc.ack(0);
    CHECK(pc.s.tp()->sacked_out == 2);  // duplicate ACKs stand in for SACKs
    pc.ack(0);
    CHECK(sent_offsets(pc) == offs{10000, 11000, 0});
    CHECK(f.net.counters().tcp_reno_recovery == 1);
    CHECK(f.net.counters().tcp_sack_recovery == 0);
    pc.s.close();
}

TEST_CASE("dsack: a duplicate segment is reported in a D-SACK first block, once (RFC 2883 §4.1.1)") {
    tcp_fixture f;
    peer_conn pc(f, sack_peer());
    pc.open();
    pc.data(0, 1000);
    f.drain_tcp();
    pc.data(0, 1000);  // the same segment again
    auto a = f.expect_tcp(TCPF_ACK);
    CHECK(pc.ack_off(a) == 1000);
    REQUIRE(a.tcp.opt.num_sacks == 1);
    CHECK(a.tcp.opt.sacks[0].start.v == pc.rcv0());
    CHECK(a.tcp.opt.sacks[0].end.v == pc.rcv0() + 1000);
    CHECK(f.net.counters().tcp_dsack_tx == 1);
    // The next ACK carries no D-SACK.
    pc.data(1000, 1000);
    pc.data(2000, 1000);
    for (auto& fr : f.drain_tcp()) {
        CHECK(fr.tcp.opt.num_sacks == 0);
    }
    pc.s.close();
}

TEST_CASE("dsack: a duplicate of out-of-order data comes first, then the SACK blocks (RFC 2883 §4.1.2)") {
    tcp_fixture f;
    peer_conn pc(f, sack_peer());
    pc.open();
    pc.data(2000, 500);
    f.drain_tcp();
    pc.data(2000, 500);
    auto a = f.expect_tcp(TCPF_ACK);
    CHECK(pc.ack_off(a) == 0);
    REQUIRE(a.tcp.opt.num_sacks == 2);
    CHECK(a.tcp.opt.sacks[0].start.v == pc.rcv0() + 2000);  // D-SACK
    CHECK(a.tcp.opt.sacks[0].end.v == pc.rcv0() + 2500);
    CHECK(a.tcp.opt.sacks[1].start.v == pc.rcv0() + 2000);  // the OFO block
    CHECK(a.tcp.opt.sacks[1].end.v == pc.rcv0() + 2500);
    pc.s.close();
}

TEST_CASE("dsack: a partly old segment D-SACKs the old part and keeps the new one") {
    tcp_fixture f;
    peer_conn pc(f, sack_peer());
    pc.open();
    pc.data(0, 1000);
    f.drain_tcp();
    pc.data(500, 1000);  // 500..1000 is old, 1000..1500 new
    auto a = f.expect_tcp(TCPF_ACK);
    CHECK(pc.ack_off(a) == 1500);
    REQUIRE(a.tcp.opt.num_sacks == 1);
    CHECK(a.tcp.opt.sacks[0].start.v == pc.rcv0() + 500);
    CHECK(a.tcp.opt.sacks[0].end.v == pc.rcv0() + 1000);
    pc.s.close();
}

TEST_CASE("dsack: no D-SACK when the peer did not negotiate SACK") {
    tcp_fixture f;
    peer_conn pc(f, {.sack = false});
    pc.open();
    pc.data(0, 1000);
    f.drain_tcp();
    pc.data(0, 1000);
    auto a = f.expect_tcp(TCPF_ACK);
    CHECK(a.tcp.opt.num_sacks == 0);
    CHECK(f.net.counters().tcp_dsack_tx == 0);
    pc.s.close();
}

TEST_CASE("undo: a D-SACK for the only retransmission restores cwnd and ssthresh (RFC 3708)") {
    tcp_fixture f;
    peer_conn pc(f, sack_peer());
    pc.open();
    first_flight(pc, 10000);
    three_sacks_above_hole(pc, 1000);
    REQUIRE(pc.s.tp()->icsk_ca_state == TCP_CA_Recovery);
    REQUIRE(pc.s.tp()->snd_ssthresh == 5);
    f.drain_tcp();
    // Segment 0 was only delayed: it and the retransmission both arrive;
    // the full ACK ends recovery, then the duplicate is D-SACKed.
    pc.ack(10000);
    CHECK(pc.s.tp()->icsk_ca_state == TCP_CA_Open);
    CHECK(pc.s.tp()->snd_cwnd == 5);
    sack(pc, 10000, {{0, 1000}});
    CHECK(f.net.counters().tcp_dsack_rx == 1);
    CHECK(f.net.counters().tcp_spurious_undos == 1);
    CHECK(pc.s.tp()->snd_cwnd == 10);
    CHECK(pc.s.tp()->snd_ssthresh > 5);
    pc.s.close();
}

TEST_CASE("undo: a D-SACK for new data (network duplication) undoes nothing") {
    tcp_fixture f;
    peer_conn pc(f, sack_peer());
    pc.open();
    pc.send_bytes(4000);
    f.drain_tcp();
    f.advance_ms(100);
    pc.ack(2000);
    sack(pc, 2000, {{1000, 2000}});
    CHECK(f.net.counters().tcp_dsack_rx == 1);
    CHECK(f.net.counters().tcp_spurious_undos == 0);
    CHECK(pc.s.tp()->icsk_ca_state == TCP_CA_Open);
    pc.s.close();
}

TEST_CASE("undo: the ACK echoes the original's timestamp, so the fast retransmit was spurious (RFC 3522)") {
    tcp_fixture f;
    peer_conn pc(f, sack_ts_peer());
    pc.open();
    constexpr uint32_t m = 988;  // mss 1000 minus the timestamp option
    pc.send_bytes(10 * m);
    auto first = data_frames(f.drain_tcp());
    REQUIRE(first.size() == 10);
    const uint32_t orig_tsval = first[0].tcp.opt.ts_val;
    f.advance_ms(100);
    three_sacks_above_hole(pc, m);
    REQUIRE(pc.s.tp()->icsk_ca_state == TCP_CA_Recovery);
    f.drain_tcp();
    // The original segment 0 arrives late; the peer's ACK echoes its TSval,
    // which is older than our retransmission.
    ack_echoing(pc, 10 * m, orig_tsval);
    CHECK(pc.s.tp()->icsk_ca_state == TCP_CA_Open);
    CHECK(f.net.counters().tcp_spurious_undos == 1);
    CHECK(pc.s.tp()->snd_cwnd == 10);
    pc.s.close();
}

TEST_CASE("undo: an ACK echoing the retransmission's timestamp proves a real loss, no undo") {
    tcp_fixture f;
    peer_conn pc(f, sack_ts_peer());
    pc.open();
    constexpr uint32_t m = 988;  // mss 1000 minus the timestamp option
    pc.send_bytes(10 * m);
    f.drain_tcp();
    f.advance_ms(100);
    three_sacks_above_hole(pc, m);
    auto rtx = data_frames(f.drain_tcp());
    REQUIRE(!rtx.empty());
    REQUIRE(pc.off(rtx.back()) == 0);
    f.advance_ms(100);
    ack_echoing(pc, 10 * m, rtx.back().tcp.opt.ts_val);
    CHECK(pc.s.tp()->icsk_ca_state == TCP_CA_Open);
    CHECK(f.net.counters().tcp_spurious_undos == 0);
    CHECK(pc.s.tp()->snd_cwnd == 5);
    pc.s.close();
}

TEST_CASE("undo: an RTO proven spurious by timestamps restores the window (Linux tcp_try_undo_loss)") {
    tcp_fixture f;
    peer_conn pc(f, sack_ts_peer());
    pc.open();
    pc.send_bytes(10 * 988);
    auto first = data_frames(f.drain_tcp());
    REQUIRE(first.size() == 10);
    auto rto = run_until_tcp(f, 2 * NSEC_PER_SEC);  // TLP first, then the RTO
    while (f.net.counters().tcp_timeouts == 0) {
        REQUIRE(!rto.empty());
        rto = run_until_tcp(f, 2 * NSEC_PER_SEC);
    }
    REQUIRE(pc.s.tp()->icsk_ca_state == TCP_CA_Loss);
    ack_echoing(pc, 10 * 988, first[0].tcp.opt.ts_val);  // the originals all arrived
    CHECK(pc.s.tp()->icsk_ca_state == TCP_CA_Open);
    CHECK(f.net.counters().tcp_spurious_undos == 1);
    CHECK(pc.s.tp()->snd_cwnd >= 10);
    pc.s.close();
}

TEST_CASE("tlp: a lost tail is probed after 2*SRTT and repaired without an RTO (RFC 8985 §7)") {
    tcp_fixture f;
    peer_conn pc(f, sack_peer());
    pc.open();
    REQUIRE(pc.s.setsockopt_int(IPPROTO_TCP, OPT_TCP_NODELAY, 1) == 0);
    pc.send_bytes(3000);
    REQUIRE(sent_offsets(pc) == offs{0, 1000, 2000});
    f.advance_ms(100);
    pc.ack(1000);  // 1000 and 2000 are lost: no SACK will ever come
    CHECK(pc.s.tp()->icsk_pending == ICSK_TIME_LOSS_PROBE);
    const nsec_t t0 = f.clk.now();
    auto o = run_until_tcp(f, 2 * NSEC_PER_SEC);
    REQUIRE(o.size() == 1);
    CHECK(pc.off(o[0]) == 2000);  // the last segment again
    const nsec_t pto = f.clk.now() - t0;
    const nsec_t srtt = nsec_t(pc.s.tp()->srtt_us >> 3) * NSEC_PER_USEC;
    CHECK(pto == 2 * srtt + 2 * NSEC_PER_MSEC);
    CHECK(f.net.counters().tcp_loss_probes == 1);
    CHECK(f.net.counters().tcp_timeouts == 0);
    // The probe's SACK reveals the hole at 1000.
    f.advance_ms(100);
    sack(pc, 1000, {{2000, 3000}});
    o = data_frames(f.drain_tcp());
    REQUIRE(o.size() == 1);
    CHECK(pc.off(o[0]) == 1000);
    pc.ack(3000);
    CHECK(pc.s.tp()->packets_out == 0);
    CHECK(f.net.counters().tcp_timeouts == 0);
    pc.s.close();
}

TEST_CASE("tlp: no probe without SACK; the RTO fires as before") {
    tcp_fixture f;
    peer_conn pc(f, {.mss = 1000, .sack = false});
    pc.open();
    pc.send_bytes(3000);
    f.drain_tcp();
    CHECK(pc.s.tp()->icsk_pending == ICSK_TIME_RETRANS);
    auto o = run_until_tcp(f, 2 * NSEC_PER_SEC);
    REQUIRE(!o.empty());
    CHECK(f.net.counters().tcp_loss_probes == 0);
    CHECK(f.net.counters().tcp_timeouts == 1);
    pc.s.close();
}

TEST_CASE("sack: an RTO keeps SACKed segments on the scoreboard and resends only the holes") {
    tcp_fixture f;
    peer_conn pc(f, sack_peer());
    f.net.sysctl().tlp = false;
    pc.open();
    pc.send_bytes(5000);
    REQUIRE(sent_offsets(pc).size() == 5);
    f.advance_ms(100);
    sack(pc, 0, {{1000, 2000}});  // one SACK: below DupThresh, RACK waits
    f.drain_tcp();
    // Nothing else arrives: RACK's timer marks 0 lost and recovery resends
    // it; then the RTO marks the rest except the SACKed segment.
    size_t n = 0;
    offs all;
    while (f.net.counters().tcp_timeouts == 0 && n++ < 10) {
        for (auto& fr : run_until_tcp(f, 5 * NSEC_PER_SEC)) {
            all.push_back(pc.off(fr));
        }
    }
    REQUIRE(f.net.counters().tcp_timeouts == 1);
    CHECK(pc.s.tp()->sacked_out == 1);
    for (uint32_t o : all) {
        CHECK(o != 1000);
    }
    pc.s.close();
}

TEST_CASE("sim sack: 4 MiB through 3% loss, byte-exact, recovered by SACK without RTO storms") {
    sim_wire_config wc;
    link_faults lf;
    lf.loss = 0.03;
    lf.delay = 1 * NSEC_PER_MSEC;
    lf.bandwidth_bps = 1'000'000'000ull;
    wc.a_to_b = lf;
    wc.b_to_a = lf;
    wc.seed = 99;
    wc.capture_frames = 0;
    sim_pair p(wc);
    usock c, s;
    // connect by hand (tests/sim/transfer.hh lives with the sim tests)
    REQUIRE(s.s == nullptr);
    s = usock::create(p.a);
    REQUIRE(s.bind(PEER_IP, 9300) == 0);
    REQUIRE(s.listen(8) == 0);
    c = usock::create(p.b);
    REQUIRE(c.connect(PEER_IP, 9300) == -EINPROGRESS);
    usock acc;
    REQUIRE(p.run_until([&] { return s.accept(&acc) == 0; }, 10 * NSEC_PER_SEC));
    CHECK(acc.tp()->rx_opt.sack_ok);
    const size_t total = 4u << 20;
    std::string got;
    size_t sent = 0;
    std::vector<char> buf(65536);
    REQUIRE(p.run_until(
        [&] {
            while (sent < total) {
                const size_t n = std::min(buf.size(), total - sent);
                for (size_t i = 0; i < n; ++i) {
                    buf[i] = char((sent + i) * 31 / 7);
                }
                const long r = c.send(buf.data(), n);
                if (r <= 0) {
                    break;
                }
                sent += size_t(r);
            }
            for (;;) {
                const long r = acc.recv(buf.data(), buf.size());
                if (r <= 0) {
                    break;
                }
                got.append(buf.data(), size_t(r));
            }
            return got.size() == total;
        },
        60 * NSEC_PER_SEC));
    bool exact = true;
    for (size_t i = 0; i < total && exact; ++i) {
        exact = got[i] == char(i * 31 / 7);
    }
    CHECK(exact);
    const auto& cb = p.b.counters();
    CHECK(cb.tcp_sack_recovery > 0);
    CHECK(cb.tcp_reno_recovery == 0);
    // SACK recovery repairs nearly everything; timeouts stay rare.
    CHECK(cb.tcp_timeouts * 20 < cb.tcp_sack_recovery);
    c.close();
    acc.close();
    s.close();
}
