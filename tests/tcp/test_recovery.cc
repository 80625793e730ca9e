// Sender-side congestion and flow control: fast retransmit and NewReno
// recovery (RFC 5681 §3.2, RFC 6582), limited transmit (RFC 3042), initial
// window (RFC 6928 IW10 in linux, RFC 3390 in rfc), slow start and
// congestion avoidance, Nagle and TCP_NODELAY (RFC 1122 §4.2.3.4),
// zero-window probing with backoff and sender SWS avoidance (RFC 9293
// §3.8.6). Kernel counterpart: tcp_input.c (tcp_fastretrans_alert), tcp_output.c.
#include "tcp/loss_fixture.hh"

using namespace dshim;
using namespace dshim::test;
using wire::TCPF_ACK;
using wire::TCPF_PSH;

namespace {

// Byte offsets of the data segments we sent since the last look.
std::vector<uint32_t> sent_offsets(peer_conn& pc) {
    std::vector<uint32_t> out;
    for (auto& fr : data_frames(pc.f.drain_tcp())) {
        out.push_back(pc.off(fr));
    }
    return out;
}

using offs = std::vector<uint32_t>;

}  // namespace

TEST_CASE("iw: the linux profile sends 10 segments at once (RFC 6928)") {
    tcp_fixture f;
    peer_conn pc(f, {.mss = 1000});
    pc.open();
    REQUIRE(pc.send_bytes(50000) == 50000);  // SO_SNDBUF is large
    auto o = sent_offsets(pc);
    CHECK(o.size() == 10);
    CHECK(pc.s.tp()->snd_cwnd == 10);
    pc.s.close();
}

TEST_CASE("iw: the rfc profile sends min(4 MSS, max(2 MSS, 4380)) bytes (RFC 3390)") {
    SECTION("mss 1460: 3 segments") {
        tcp_fixture f(tcp_profile::rfc);
        peer_conn pc(f, {.mss = 1460});
        pc.open();
        pc.send_bytes(50000);
        CHECK(sent_offsets(pc).size() == 3);
        pc.s.close();
    }
    SECTION("mss 1000: 4 segments") {
        tcp_fixture f(tcp_profile::rfc);
        peer_conn pc(f, {.mss = 1000});
        pc.open();
        pc.send_bytes(50000);
        CHECK(sent_offsets(pc).size() == 4);
        pc.s.close();
    }
    SECTION("mss 2500: 2 segments") {
        tcp_fixture f(tcp_profile::rfc);
        peer_conn pc(f, {.mss = 2500});
        pc.open();
        pc.send_bytes(50000);
        // The device MTU (1500) bounds the segment to 1460 bytes, and the
        // window counts segments of that size: 3 of them.
        CHECK(sent_offsets(pc).size() == 3);
        pc.s.close();
    }
}

TEST_CASE("slow start: each ACK grows cwnd by the segments it acknowledges") {
    tcp_fixture f;
    peer_conn pc(f, {.mss = 1000});
    pc.open();
    pc.send_bytes(60000);
    CHECK(sent_offsets(pc).size() == 10);
    pc.ack(1000);  // one segment acked: cwnd 11, two new segments
    CHECK(pc.s.tp()->snd_cwnd == 11);
    CHECK(sent_offsets(pc) == offs{10000, 11000});
    pc.ack(3000);  // two more acked: cwnd 13, four new segments
    CHECK(pc.s.tp()->snd_cwnd == 13);
    CHECK(sent_offsets(pc) == offs{12000, 13000, 14000, 15000});
    pc.s.close();
}

TEST_CASE("congestion avoidance: above ssthresh cwnd grows by one segment per window acked") {
    tcp_fixture f;
    peer_conn pc(f, {.mss = 1000});
    pc.open();
    pc.s.tp()->snd_ssthresh = 10;  // as after a loss: start in avoidance
    pc.send_bytes(200000);
    CHECK(sent_offsets(pc).size() == 10);
    uint32_t acked = 0;
    for (int i = 0; i < 9; ++i) {
        acked += 1000;
        pc.ack(acked);
        CHECK(pc.s.tp()->snd_cwnd == 10);
    }
    acked += 1000;
    pc.ack(acked);  // the tenth ACKed segment: a full window
    CHECK(pc.s.tp()->snd_cwnd == 11);
    pc.s.close();
}

TEST_CASE("fast retransmit: dup ACKs 1 and 2 send new data (RFC 3042), the 3rd retransmits the head") {
    tcp_fixture f;
    peer_conn pc(f, {.mss = 1000});
    pc.open();
    pc.send_bytes(30000);
    REQUIRE(sent_offsets(pc).size() == 10);
    pc.ack(0);  // dup 1
    CHECK(sent_offsets(pc) == offs{10000});
    pc.ack(0);  // dup 2
    CHECK(sent_offsets(pc) == offs{11000});
    CHECK(pc.s.tp()->icsk_ca_state != TCP_CA_Recovery);
    pc.ack(0);  // dup 3: fast retransmit, no new data
    CHECK(sent_offsets(pc) == offs{0});
    CHECK(pc.s.tp()->icsk_ca_state == TCP_CA_Recovery);
    CHECK(pc.s.tp()->snd_ssthresh == 5);
    CHECK(f.net.counters().tcp_fast_retrans == 1);
    CHECK(f.net.counters().tcp_timeouts == 0);
    // Dups 4..7 only deflate the pipe; the 8th lets one new segment out
    // (cwnd = ssthresh + 3 + 5 dups = 13 > 12 outstanding, RFC 5681 step 4).
    for (int i = 0; i < 4; ++i) {
        pc.ack(0);
        CHECK(sent_offsets(pc).empty());
    }
    pc.ack(0);
    CHECK(sent_offsets(pc) == offs{12000});
    pc.ack(0);
    CHECK(sent_offsets(pc) == offs{13000});
    pc.s.close();
}

TEST_CASE("newreno: a partial ACK retransmits the next hole at once and stays in recovery (RFC 6582)") {
    tcp_fixture f;
    peer_conn pc(f, {.mss = 1000});
    pc.open();
    pc.send_bytes(30000);
    REQUIRE(sent_offsets(pc).size() == 10);
    // Segments 0 and 4 are lost.
    pc.ack(0);
    pc.ack(0);
    pc.ack(0);
    auto o = sent_offsets(pc);
    REQUIRE(o == offs{10000, 11000, 0});
    const uint32_t high = pc.s.tp()->high_seq.v - pc.snd0();
    CHECK(high == 12000);
    // The retransmission fills the first hole: the ACK stops at the second.
    pc.ack(4000);
    o = sent_offsets(pc);
    REQUIRE(!o.empty());
    CHECK(o[0] == 4000);
    CHECK(pc.s.tp()->icsk_ca_state == TCP_CA_Recovery);
    CHECK(f.net.counters().tcp_timeouts == 0);
    // The full ACK (everything up to high_seq) leaves recovery with
    // cwnd = ssthresh (RFC 6582 §3.2 step 3, Linux's choice).
    pc.ack(12000 + 1000 * uint32_t(o.size() - 1));
    CHECK(pc.s.tp()->icsk_ca_state == TCP_CA_Open);
    CHECK(pc.s.tp()->snd_cwnd == pc.s.tp()->snd_ssthresh);
    CHECK(pc.s.tp()->snd_ssthresh == 5);
    CHECK(f.net.counters().tcp_fast_retrans == 1);
    CHECK(f.net.counters().tcp_retrans_segs == 2);
    pc.s.close();
}

TEST_CASE("newreno: three holes are repaired one per partial ACK, without a timeout") {
    tcp_fixture f;
    peer_conn pc(f, {.mss = 1000});
    pc.open();
    pc.send_bytes(10000);
    REQUIRE(sent_offsets(pc).size() == 10);
    // Lost: 2, 5, 8. The peer ACKs 0-1 and then dups.
    pc.ack(2000);
    sent_offsets(pc);
    for (int i = 0; i < 3; ++i) {
        pc.ack(2000);
    }
    auto o = sent_offsets(pc);
    REQUIRE(!o.empty());
    CHECK(o.back() == 2000);
    pc.ack(5000);
    o = sent_offsets(pc);
    REQUIRE(!o.empty());
    CHECK(o[0] == 5000);
    pc.ack(8000);
    o = sent_offsets(pc);
    REQUIRE(!o.empty());
    CHECK(o[0] == 8000);
    pc.ack(10000);
    CHECK(pc.s.tp()->icsk_ca_state == TCP_CA_Open);
    CHECK(f.net.counters().tcp_timeouts == 0);
    CHECK(f.net.counters().tcp_retrans_segs == 3);
    CHECK(pc.s.tp()->packets_out == 0);
    pc.s.close();
}

TEST_CASE("dup ACKs: a window update or an ACK carrying data is not a duplicate (RFC 5681 §2)") {
    tcp_fixture f;
    peer_conn pc(f, {.mss = 1000});
    pc.open();
    pc.send_bytes(10000);
    REQUIRE(sent_offsets(pc).size() == 10);
    pc.ack(0, 60000);
    pc.ack(0, 61000);
    pc.ack(0, 62000);
    pc.data(0, 100);
    pc.data(100, 100);
    pc.data(200, 100);
    CHECK(pc.s.tp()->icsk_ca_state == TCP_CA_Open);
    CHECK(f.net.counters().tcp_fast_retrans == 0);
    pc.s.close();
}

TEST_CASE("nagle: a small write waits while an earlier small segment is unacknowledged") {
    tcp_fixture f;
    peer_conn pc(f, {.mss = 1000});
    pc.open();
    pc.send_bytes(100);
    CHECK(sent_offsets(pc) == offs{0});
    pc.send_bytes(100);
    pc.send_bytes(100);
    CHECK(sent_offsets(pc).empty());
    pc.ack(100);
    auto v = data_frames(f.drain_tcp());
    REQUIRE(v.size() == 1);
    CHECK(pc.off(v[0]) == 100);
    CHECK(v[0].payload.size() == 200);  // coalesced
    // A full segment is never held back.
    pc.send_bytes(1000);
    CHECK(sent_offsets(pc) == offs{300});
    pc.s.close();
}

TEST_CASE("nagle: TCP_NODELAY sends small writes at once, and setting it flushes what waits") {
    tcp_fixture f;
    peer_conn pc(f, {.mss = 1000});
    pc.open();
    pc.send_bytes(100);
    pc.send_bytes(100);
    CHECK(sent_offsets(pc) == offs{0});
    REQUIRE(pc.s.setsockopt_int(IPPROTO_TCP, OPT_TCP_NODELAY, 1) == 0);
    CHECK(sent_offsets(pc) == offs{100});
    pc.send_bytes(100);
    CHECK(sent_offsets(pc) == offs{200});
    pc.send_bytes(100);
    CHECK(sent_offsets(pc) == offs{300});
    pc.s.close();
}

TEST_CASE("zero window: probes at RTO, 2 RTO, 4 RTO; the reopened window resumes sending") {
    tcp_fixture f;
    peer_conn pc(f, {.mss = 1000, .rtt_ms = 100});
    pc.open();
    pc.send_bytes(2000);
    REQUIRE(sent_offsets(pc).size() == 2);
    f.advance_ms(100);
    pc.ack(2000, 0);  // everything acked after 100 ms, window closed
    pc.send_bytes(3000);
    CHECK(sent_offsets(pc).empty());
    // SRTT 100 ms, 4 RTTVAR 150 ms: RTO = 100 + max(150, 200) = 300 ms.
    const nsec_t rto = pc.s.tp()->icsk_rto;
    REQUIRE(rto == 300 * NSEC_PER_MSEC);
    nsec_t gap = rto;
    for (int i = 0; i < 4; ++i) {
        f.advance(gap - NSEC_PER_MSEC);
        expect_no_tcp(f);
        f.advance(NSEC_PER_MSEC);
        auto pr = next_tcp(f, TCPF_ACK);
        CHECK(pr.payload.empty());
        CHECK(pr.tcp.seq.v == pc.snd0() + 2000 - 1);  // snd_una - 1: elicits an ACK
        pc.ack(2000, 0);  // the peer answers: still closed
        expect_no_tcp(f);
        gap *= 2;
    }
    CHECK(f.net.counters().tcp_zero_window_probes == 4);
    CHECK(pc.s.state() == TCP_ESTABLISHED);
    pc.ack(2000, 65535);
    CHECK(sent_offsets(pc) == offs{2000, 3000, 4000});
    pc.s.close();
}

TEST_CASE("zero window: an unanswered persist timer does not kill the connection while the peer ACKs") {
    tcp_fixture f;
    peer_conn pc(f, {.mss = 1000, .rtt_ms = 100});
    pc.open();
    pc.send_bytes(1000);
    sent_offsets(pc);
    pc.ack(1000, 0);
    pc.send_bytes(1000);
    // 30 probes over a long time, each answered: the connection stays.
    for (int i = 0; i < 30; ++i) {
        auto v = run_until_tcp(f, 200 * NSEC_PER_SEC);
        REQUIRE(v.size() == 1);
        pc.ack(1000, 0);
    }
    CHECK(pc.s.state() == TCP_ESTABLISHED);
    pc.s.close();
}

TEST_CASE("sender sws: no small segment into a small window; sent once a full segment fits") {
    tcp_fixture f;
    peer_conn pc(f, {.mss = 1000});
    pc.open();
    pc.send_bytes(3000);
    REQUIRE(sent_offsets(pc).size() == 3);
    // Everything acked, but only 300 bytes of window offered.
    pc.ack(3000, 300);
    pc.send_bytes(5000);
    CHECK(sent_offsets(pc).empty());
    pc.ack(3000, 999);
    CHECK(sent_offsets(pc).empty());
    pc.ack(3000, 2000);
    CHECK(sent_offsets(pc) == offs{3000, 4000});
    pc.s.close();
}
