// ECN (RFC 3168 §6.1) as Linux does it: negotiation both ways and its
// refusals, ECT(0) only on new data, CE -> ECE until CWR, ECE -> one cwnd
// reduction per window with CWR on the next new data, the SYN-cookie path,
// TCP_INFO's ECN bits. Profile: linux; Reno unless said (exact arithmetic).
#include "ipv4/syncookies.hh"
#include "ipv4/tcp_ecn.hh"
#include "tcp/loss_fixture.hh"

using namespace dshim;
using namespace dshim::test;
using wire::TCPF_ACK;
using wire::TCPF_CWR;
using wire::TCPF_ECE;
using wire::TCPF_PSH;
using wire::TCPF_SYN;

namespace {

constexpr uint16_t LPORT = 8080;
constexpr int OPT_TCP_INFO = 11;
constexpr int OPT_IP_TOS = 1;  // IP_TOS at IPPROTO_IP

uint8_t ecn_of(const parsed_frame& fr) { return fr.ip.tos & INET_ECN_MASK; }

// tcpi_options is the sixth byte of struct tcp_info.
uint8_t tcpi_options(usock& s) {
    unsigned char info[256] = {};
    unsigned len = sizeof(info);
    REQUIRE(s.s->ops->getsockopt(s.s, IPPROTO_TCP, OPT_TCP_INFO, info, &len) == 0);
    return info[5];
}
constexpr uint8_t TCPI_ECN = 8, TCPI_ECN_SEEN = 16;

// A segment from the peer with the given ECN field in its IP header.
void inject_ecn(tcp_fixture& f, const wire::tcp_repr& th, uint8_t ecn, const std::string& payload = {}) {
    f.peer.tos = ecn;
    f.inject(th, payload);
    f.peer.tos = 0;
}

usock make_listener(tcp_fixture& f) {
    usock l = usock::create(f.net);
    REQUIRE(l.bind(0, LPORT) == 0);
    REQUIRE(l.listen(16) == 0);
    return l;
}

sock* child_of(tcp_fixture& f, uint16_t pport) {
    return inet_lookup_established(f.net, PEER_IP, pport, LOCAL_IP, LPORT);
}

// An established ECN connection opened by us (peer_conn with an ECE SYN-ACK).
peer_conn ecn_conn(tcp_fixture& f, peer_opts o = {}) {
    f.net.sysctl().ecn = 1;
    o.ecn = true;
    peer_conn c(f, o);
    c.open();
    REQUIRE((c.s.tp()->ecn_flags & TCP_ECN_OK) != 0);
    return c;
}

}  // namespace

// ------------------------------------------------------------ negotiation

TEST_CASE("ecn: tcp_ecn=1 sends ECE|CWR on a Not-ECT SYN; an ECE SYN-ACK turns ECN on", "[ecn]") {
    tcp_fixture f;
    f.net.sysctl().ecn = 1;
    usock s = usock::create(f.net);
    REQUIRE(s.connect(PEER_IP, 80) == -EINPROGRESS);
    auto syn = f.expect_tcp(TCPF_SYN | TCPF_ECE | TCPF_CWR);
    CHECK(ecn_of(syn) == INET_ECN_NOT_ECT);
    f.inject(seg(80, syn.tcp.sport, 500, syn.tcp.seq.v + 1, TCPF_SYN | TCPF_ACK | TCPF_ECE));
    auto ack = f.expect_tcp(TCPF_ACK);
    CHECK(ecn_of(ack) == INET_ECN_NOT_ECT);
    REQUIRE(s.state() == TCP_ESTABLISHED);
    CHECK((s.tp()->ecn_flags & TCP_ECN_OK) != 0);
    CHECK((tcpi_options(s) & TCPI_ECN) != 0);
    CHECK((tcpi_options(s) & TCPI_ECN_SEEN) == 0);
    s.close();
}

TEST_CASE("ecn: the active side keeps ECN off unless the SYN-ACK has ECE without CWR", "[ecn]") {
    tcp_fixture f;
    f.net.sysctl().ecn = 1;
    uint8_t synack_flags = 0;
    SECTION("no ECE") { synack_flags = 0; }
    SECTION("ECE|CWR (a reflected SYN, RFC 3168 §6.1.1)") { synack_flags = TCPF_ECE | TCPF_CWR; }
    SECTION("CWR alone") { synack_flags = TCPF_CWR; }
    usock s = usock::create(f.net);
    REQUIRE(s.connect(PEER_IP, 80) == -EINPROGRESS);
    auto syn = f.expect_tcp(TCPF_SYN | TCPF_ECE | TCPF_CWR);
    f.inject(seg(80, syn.tcp.sport, 500, syn.tcp.seq.v + 1, TCPF_SYN | TCPF_ACK | synack_flags));
    f.expect_tcp(TCPF_ACK);
    REQUIRE(s.state() == TCP_ESTABLISHED);
    CHECK((s.tp()->ecn_flags & TCP_ECN_OK) == 0);
    CHECK((tcpi_options(s) & TCPI_ECN) == 0);
    REQUIRE(s.send("data") == 4);
    auto d = f.expect_tcp(TCPF_ACK | TCPF_PSH);
    CHECK(ecn_of(d) == INET_ECN_NOT_ECT);  // no ECT without ECN
    s.close();
}

TEST_CASE("ecn: tcp_ecn=2 (default) and 0 send a plain SYN and ignore an ECE SYN-ACK", "[ecn]") {
    tcp_fixture f;
    SECTION("2") { CHECK(f.net.sysctl().ecn == 2); }
    SECTION("0") { f.net.sysctl().ecn = 0; }
    usock s = usock::create(f.net);
    REQUIRE(s.connect(PEER_IP, 80) == -EINPROGRESS);
    auto syn = f.expect_tcp(TCPF_SYN);
    f.inject(seg(80, syn.tcp.sport, 500, syn.tcp.seq.v + 1, TCPF_SYN | TCPF_ACK | TCPF_ECE));
    f.expect_tcp(TCPF_ACK);
    CHECK((s.tp()->ecn_flags & TCP_ECN_OK) == 0);
    s.close();
}

TEST_CASE("ecn: a retransmitted SYN drops ECE|CWR; a late ECE SYN-ACK still negotiates", "[ecn]") {
    tcp_fixture f;
    f.net.sysctl().ecn = 1;
    usock s = usock::create(f.net);
    REQUIRE(s.connect(PEER_IP, 80) == -EINPROGRESS);
    auto syn = f.expect_tcp(TCPF_SYN | TCPF_ECE | TCPF_CWR);
    f.advance_ms(1000);
    auto syn2 = f.expect_tcp(TCPF_SYN);  // tcp_ecn_clear_syn (tcp_ecn_fallback)
    CHECK(syn2.tcp.seq == syn.tcp.seq);
    f.advance_ms(2000);
    f.expect_tcp(TCPF_SYN);
    // The peer answers the first SYN: ECN still on (Linux decides on the SYN-ACK).
    f.inject(seg(80, syn.tcp.sport, 500, syn.tcp.seq.v + 1, TCPF_SYN | TCPF_ACK | TCPF_ECE));
    f.expect_tcp(TCPF_ACK);
    CHECK((s.tp()->ecn_flags & TCP_ECN_OK) != 0);
    s.close();
}

TEST_CASE("ecn: passive open answers an ECN SYN with an ECE SYN-ACK (kept on retransmission)", "[ecn]") {
    tcp_fixture f;
    SECTION("tcp_ecn=2") {}
    SECTION("tcp_ecn=1") { f.net.sysctl().ecn = 1; }
    usock l = make_listener(f);
    f.inject(seg(3000, LPORT, 100, 0, TCPF_SYN | TCPF_ECE | TCPF_CWR));
    auto sa = f.expect_tcp(TCPF_SYN | TCPF_ACK | TCPF_ECE);
    CHECK(ecn_of(sa) == INET_ECN_NOT_ECT);
    f.advance_ms(1000);
    auto sa2 = f.expect_tcp(TCPF_SYN | TCPF_ACK | TCPF_ECE);
    CHECK(sa2.tcp.seq == sa.tcp.seq);
    f.inject(seg(3000, LPORT, 101, sa.tcp.seq.v + 1, TCPF_ACK));
    usock c;
    REQUIRE(l.accept(&c) == 0);
    CHECK((c.tp()->ecn_flags & TCP_ECN_OK) != 0);
    CHECK((tcpi_options(c) & TCPI_ECN) != 0);
    c.close();
    l.close();
}

TEST_CASE("ecn: passive refusals: tcp_ecn=0, ECE without CWR, an ECT SYN", "[ecn]") {
    tcp_fixture f;
    uint8_t flags = TCPF_SYN | TCPF_ECE | TCPF_CWR;
    uint8_t tos = 0;
    SECTION("tcp_ecn=0") { f.net.sysctl().ecn = 0; }
    SECTION("ECE alone") { flags = TCPF_SYN | TCPF_ECE; }
    SECTION("no ECE") { flags = TCPF_SYN; }
    SECTION("SYN marked ECT(0)") { tos = INET_ECN_ECT_0; }
    SECTION("SYN marked CE") { tos = INET_ECN_CE; }
    usock l = make_listener(f);
    inject_ecn(f, seg(3000, LPORT, 100, 0, flags), tos);
    auto sa = f.expect_tcp(TCPF_SYN | TCPF_ACK);  // no ECE
    f.inject(seg(3000, LPORT, 101, sa.tcp.seq.v + 1, TCPF_ACK));
    usock c;
    REQUIRE(l.accept(&c) == 0);
    CHECK((c.tp()->ecn_flags & TCP_ECN_OK) == 0);
    c.close();
    l.close();
}

// ------------------------------------------------------------ data path

TEST_CASE("ecn: ECT(0) on new data only; ACKs and retransmissions Not-ECT; IP_TOS kept", "[ecn]") {
    tcp_fixture f;
    f.net.sysctl().ecn = 1;
    peer_opts o;
    o.ecn = true;
    peer_conn c(f, o);
    c.open();
    // IP_TOS: its upper six bits stay on every segment; the ECN bits are ours.
    REQUIRE(c.s.setsockopt_int(IPPROTO_IP, OPT_IP_TOS, 0x28 | 3) == 0);  // low bits ignored
    REQUIRE(c.send_bytes(1000) == 1000);
    auto d = next_tcp(f, TCPF_ACK | TCPF_PSH);
    CHECK(d.ip.tos == (0x28 | INET_ECN_ECT_0));
    // A pure ACK (for peer data) is Not-ECT.
    c.data(0, 100, 0);
    f.advance_ms(200);
    auto a = next_tcp(f, TCPF_ACK);
    CHECK(a.payload.empty());
    CHECK(a.ip.tos == 0x28);
    // The RTO retransmission of our data is Not-ECT (RFC 3168 §6.1.5).
    auto rtx = run_until_tcp(f, 3 * NSEC_PER_SEC);
    REQUIRE(!rtx.empty());
    CHECK(rtx[0].payload.size() == 1000);
    CHECK(rtx[0].ip.tos == 0x28);
    // Linux reports the ECN bits of the last segment in IP_TOS (inet->tos).
    int tos = -1;
    REQUIRE(c.s.getsockopt_int(IPPROTO_IP, OPT_IP_TOS, &tos) == 0);
    CHECK(tos == 0x28);
    c.s.close();
}

TEST_CASE("ecn: without ECN, CE on received data is ignored", "[ecn]") {
    tcp_fixture f;
    peer_conn c(f);
    c.open();
    inject_ecn(f, c.pseg(0, 0), INET_ECN_CE, std::string(500, 'a'));
    f.advance_ms(300);
    for (auto& fr : f.drain_tcp()) {
        CHECK((fr.tcp.flags & TCPF_ECE) == 0);
    }
    CHECK(f.net.counters().tcp_ecn_ce_rx == 0);
    c.s.close();
}

// ------------------------------------------------------------ receiver

TEST_CASE("ecn: CE on data -> immediate ACK with ECE, ECE on every ACK until CWR", "[ecn]") {
    tcp_fixture f;
    peer_conn c = ecn_conn(f);
    // ECT data: no echo, ECN seen.
    inject_ecn(f, c.pseg(0, 0), INET_ECN_ECT_0, expected_peer_bytes(0, 100));
    f.advance_ms(300);
    for (auto& fr : f.drain_tcp()) {
        CHECK((fr.tcp.flags & TCPF_ECE) == 0);
    }
    CHECK((tcpi_options(c.s) & TCPI_ECN_SEEN) != 0);
    // Enough reads that quick-ACK mode from the start is over.
    CHECK(c.s.recv_str().size() == 100);
    c.s.tp()->icsk_ack.quick = 0;
    c.s.tp()->icsk_ack.pingpong = false;
    // CE: ACKed at once (quick ACK), with ECE.
    inject_ecn(f, c.pseg(100, 0), INET_ECN_CE, expected_peer_bytes(100, 100));
    auto a1 = next_tcp(f, TCPF_ACK | TCPF_ECE);
    CHECK(c.ack_off(a1) == 200);
    CHECK(ecn_of(a1) == INET_ECN_NOT_ECT);
    CHECK(f.net.counters().tcp_ecn_ce_rx == 1);
    // Not-CE data still gets ECE: the sender has not said CWR.
    inject_ecn(f, c.pseg(200, 0), INET_ECN_ECT_0, expected_peer_bytes(200, 100));
    f.advance_ms(300);
    auto v = f.drain_tcp();
    REQUIRE(!v.empty());
    CHECK((v.back().tcp.flags & TCPF_ECE) != 0);
    // Our own data carries ECE too.
    REQUIRE(c.send_bytes(10) == 10);
    auto d = next_tcp(f, TCPF_ACK | TCPF_PSH | TCPF_ECE);
    CHECK(ecn_of(d) == INET_ECN_ECT_0);
    // CWR with data: the echo stops and the ACK goes at once.
    inject_ecn(f, c.pseg(300, 10, TCPF_ACK | TCPF_CWR), INET_ECN_ECT_0, expected_peer_bytes(300, 100));
    auto a2 = next_tcp(f, TCPF_ACK);
    CHECK(c.ack_off(a2) == 400);
    CHECK(f.net.counters().tcp_ecn_ce_rx == 1);
    c.s.close();
}

TEST_CASE("ecn: CWR on a pure ACK also ends the echo (Linux since 2020)", "[ecn]") {
    tcp_fixture f;
    peer_conn c = ecn_conn(f);
    inject_ecn(f, c.pseg(0, 0), INET_ECN_CE, expected_peer_bytes(0, 100));
    auto a1 = next_tcp(f, TCPF_ACK | TCPF_ECE);
    (void)a1;
    f.inject(c.pseg(100, 0, TCPF_ACK | TCPF_CWR));
    expect_no_tcp(f);  // no ACK for an ACK
    inject_ecn(f, c.pseg(100, 0), INET_ECN_ECT_0, expected_peer_bytes(100, 100));
    f.advance_ms(300);
    auto v = f.drain_tcp();
    REQUIRE(!v.empty());
    CHECK((v.back().tcp.flags & TCPF_ECE) == 0);
    c.s.close();
}

// ------------------------------------------------------------ sender

TEST_CASE("ecn: ECE reduces cwnd once per window, CWR rides on the next new data", "[ecn]") {
    tcp_fixture f;
    peer_opts o;
    SECTION("Reno (no SACK)") { o.sack = false; }
    SECTION("SACK") { o.sack = true; }
    peer_conn c = ecn_conn(f, o);
    tcp_sock* tp = c.s.tp();
    REQUIRE(c.send_bytes(40000) == 40000);
    auto first = data_frames(f.drain_tcp());
    REQUIRE(first.size() == 10);  // IW10
    for (auto& fr : first) {
        CHECK(ecn_of(fr) == INET_ECN_ECT_0);
        CHECK((fr.tcp.flags & TCPF_CWR) == 0);
    }
    const uint32_t high = 10000;  // snd_nxt when the reduction starts
    // ECE on the ACK of two segments: CWR state, ssthresh = cwnd / 2.
    f.inject(c.pseg(0, 2000, TCPF_ACK | TCPF_ECE));
    CHECK(tp->icsk_ca_state == TCP_CA_CWR);
    CHECK(tp->snd_ssthresh == 5);
    CHECK(f.net.counters().tcp_ecn_cwr == 1);
    auto after1 = data_frames(f.drain_tcp());
    REQUIRE(after1.size() >= 1);
    CHECK(c.off(after1[0]) == high);
    CHECK((after1[0].tcp.flags & TCPF_CWR) != 0);
    CHECK(ecn_of(after1[0]) == INET_ECN_ECT_0);
    for (size_t i = 1; i < after1.size(); ++i) {
        CHECK((after1[i].tcp.flags & TCPF_CWR) == 0);
    }
    uint32_t sent_end = c.off(after1.back()) + 1000;
    // More ECE within the window (the receiver has not seen CWR yet), up to
    // and including an ACK of exactly high_seq: no second reduction.
    for (uint32_t ack : {4000u, 7000u, high}) {
        f.inject(c.pseg(0, ack, TCPF_ACK | TCPF_ECE));
        CHECK(tp->icsk_ca_state == TCP_CA_CWR);
        CHECK(tp->snd_ssthresh == 5);
        for (auto& fr : data_frames(f.drain_tcp())) {
            CHECK((fr.tcp.flags & TCPF_CWR) == 0);
            sent_end = c.off(fr) + 1000;
        }
    }
    CHECK(f.net.counters().tcp_ecn_cwr == 1);
    // The ACK of the CWR segment (no ECE): the reduction is over, cwnd = ssthresh.
    f.inject(c.pseg(0, high + 1000));
    CHECK(tp->icsk_ca_state == TCP_CA_Open);
    CHECK(tp->snd_cwnd == 5);
    for (auto& fr : data_frames(f.drain_tcp())) {
        sent_end = c.off(fr) + 1000;
    }
    // A new CE episode, a window later: reduced again.
    f.inject(c.pseg(0, sent_end - 1000, TCPF_ACK | TCPF_ECE));
    CHECK(tp->icsk_ca_state == TCP_CA_CWR);
    CHECK(f.net.counters().tcp_ecn_cwr == 2);
    CHECK(tp->snd_ssthresh < 5);
    c.s.close();
}

TEST_CASE("ecn: ECE without ECN, or on a SYN-ACK, is not a congestion signal", "[ecn]") {
    tcp_fixture f;
    peer_conn c(f);
    c.open();  // no ECN
    tcp_sock* tp = c.s.tp();
    REQUIRE(c.send_bytes(10000) == 10000);
    f.drain_tcp();
    f.inject(c.pseg(0, 2000, TCPF_ACK | TCPF_ECE));
    CHECK(tp->icsk_ca_state == TCP_CA_Open);
    CHECK(tp->snd_ssthresh == 0x7fffffffu);
    CHECK(f.net.counters().tcp_ecn_cwr == 0);
    c.s.close();
}

// ------------------------------------------------------------ cookies

TEST_CASE("ecn: a SYN cookie keeps ECN in the TSval bit (timestamps needed)", "[ecn][syncookies]") {
    tcp_fixture f;
    f.net.sysctl().syncookies = 2;
    bool ts = true;
    SECTION("with timestamps") { ts = true; }
    SECTION("without timestamps") { ts = false; }
    usock l = make_listener(f);
    auto syn = seg(4000, LPORT, 900, 0, TCPF_SYN | TCPF_ECE | TCPF_CWR);
    syn.opt.has_mss = true;
    syn.opt.mss = 1460;
    syn.opt.has_ts = ts;
    syn.opt.ts_val = 77;
    f.inject(syn);
    auto sa = f.expect_tcp(TCPF_SYN | TCPF_ACK | (ts ? TCPF_ECE : 0));
    CHECK(f.net.counters().tcp_syncookies_sent == 1);
    CHECK(child_of(f, 4000) == nullptr);  // stateless
    auto ack = seg(4000, LPORT, 901, sa.tcp.seq.v + 1, TCPF_ACK);
    ack.opt.has_ts = ts;
    ack.opt.ts_val = 78;
    ack.opt.ts_ecr = sa.tcp.opt.ts_val;
    f.inject(ack);
    CHECK(f.net.counters().tcp_syncookies_recv == 1);
    usock c;
    REQUIRE(l.accept(&c) == 0);
    CHECK(((c.tp()->ecn_flags & TCP_ECN_OK) != 0) == ts);
    REQUIRE(c.send("x") == 1);
    auto d = f.expect_tcp(TCPF_ACK | TCPF_PSH);
    CHECK(ecn_of(d) == (ts ? INET_ECN_ECT_0 : INET_ECN_NOT_ECT));
    c.close();
    l.close();
}

// ------------------------------------------------------------ two stacks

#include "sim/transfer.hh"

TEST_CASE("ecn: two stacks, CE marks on the data path: byte-exact, ECE echoed, sender reduces, no loss", "[ecn][sim]") {
    sim_wire_config wc;
    wc.a_to_b.delay = NSEC_PER_MSEC;
    wc.b_to_a.delay = NSEC_PER_MSEC;
    wc.b_to_a.bandwidth_bps = 100'000'000;
    wc.b_to_a.ce = 0.02;  // b's data towards a crosses a marking AQM
    wc.seed = 77;
    wc.capture_frames = 0;
    bool ecn = true;
    SECTION("ECN negotiated (b requests, a accepts by default)") { ecn = true; }
    SECTION("ECN off: the marks mean nothing") { ecn = false; }
    sim_pair p(wc);
    p.b.sysctl().ecn = ecn ? 1 : 2;
    usock c, s;
    connect_pair(p, 9300, c, s);  // client on b, server on a
    CHECK(((c.tp()->ecn_flags & TCP_ECN_OK) != 0) == ecn);
    CHECK(((s.tp()->ecn_flags & TCP_ECN_OK) != 0) == ecn);
    const uint64_t size = 4u << 20;
    stream_state up{&c, &s, size, 0x3c};
    REQUIRE(run_streams(p, {&up}, 60 * NSEC_PER_SEC));
    CHECK(up.received == size);
    CHECK(up.mismatches == 0);
    const uint64_t marked = p.wire.stats(sim_dir::b_to_a).ce_marked;
    INFO("marked " << marked << " ce_rx " << p.a.counters().tcp_ecn_ce_rx << " cwr " << p.b.counters().tcp_ecn_cwr);
    CHECK(p.b.counters().tcp_retrans_segs == 0);  // congestion signalled without loss
    if (ecn) {
        CHECK(marked > 20);
        CHECK(p.a.counters().tcp_ecn_ce_rx == marked);
        CHECK(p.b.counters().tcp_ecn_cwr > 0);
        CHECK(p.b.counters().tcp_ecn_cwr <= marked);  // at most one reduction per window
        CHECK((tcpi_options(s) & TCPI_ECN_SEEN) != 0);
    } else {
        CHECK(marked == 0);  // Not-ECT frames are never marked
        CHECK(p.a.counters().tcp_ecn_ce_rx == 0);
        CHECK(p.b.counters().tcp_ecn_cwr == 0);
    }
    c.close();
    s.close();
}

TEST_CASE("ecn: ECE on the handshake's final ACK is not a congestion signal", "[ecn]") {
    tcp_fixture f;
    usock l = make_listener(f);
    f.inject(seg(3000, LPORT, 100, 0, TCPF_SYN | TCPF_ECE | TCPF_CWR));
    auto sa = f.expect_tcp(TCPF_SYN | TCPF_ACK | TCPF_ECE);
    f.inject(seg(3000, LPORT, 101, sa.tcp.seq.v + 1, TCPF_ACK | TCPF_ECE));
    usock c;
    REQUIRE(l.accept(&c) == 0);
    CHECK(c.tp()->icsk_ca_state == TCP_CA_Open);
    CHECK(f.net.counters().tcp_ecn_cwr == 0);
    c.close();
    l.close();
}

TEST_CASE("ecn: ECE during fast recovery is ignored; recovery's reduction is signalled with CWR", "[ecn]") {
    tcp_fixture f;
    peer_opts o;
    SECTION("Reno") { o.sack = false; }
    SECTION("SACK") { o.sack = true; }
    peer_conn c = ecn_conn(f, o);
    tcp_sock* tp = c.s.tp();
    REQUIRE(c.send_bytes(30000) == 30000);
    REQUIRE(data_frames(f.drain_tcp()).size() == 10);
    // Segment 0 lost: three duplicate ACKs (with SACK blocks when SACK is on).
    for (uint32_t k = 1; k <= 3; ++k) {
        auto th = c.pseg(0, 0);
        if (o.sack) {
            th.opt.num_sacks = 1;
            th.opt.sacks[0] = {wire::seq32(c.snd0() + 1000), wire::seq32(c.snd0() + 1000 * (k + 1))};
        }
        f.inject(th);
    }
    REQUIRE(tp->icsk_ca_state == TCP_CA_Recovery);
    const uint32_t ssthresh = tp->snd_ssthresh;
    // Limited transmit (RFC 3042) sent new data before recovery, without
    // CWR; the fast retransmission is Not-ECT and has no CWR either.
    uint32_t sent_end = 10000;
    bool rexmit = false;
    for (auto& fr : data_frames(f.drain_tcp())) {
        if (c.off(fr) == 0) {
            rexmit = true;
            CHECK(ecn_of(fr) == INET_ECN_NOT_ECT);
        } else {
            sent_end = std::max(sent_end, c.off(fr) + 1000);
        }
        CHECK((fr.tcp.flags & TCPF_CWR) == 0);
    }
    CHECK(rexmit);
    // An ECE now (a CE from before the loss) changes nothing.
    auto th = c.pseg(0, 0, TCPF_ACK | TCPF_ECE);
    if (o.sack) {
        th.opt.num_sacks = 1;
        th.opt.sacks[0] = {wire::seq32(c.snd0() + 1000), wire::seq32(c.snd0() + 5000)};
    }
    f.inject(th);
    CHECK(tp->icsk_ca_state == TCP_CA_Recovery);
    CHECK(tp->snd_ssthresh == ssthresh);
    CHECK(f.net.counters().tcp_ecn_cwr == 0);
    // The first new data segment after the reduction carries CWR.
    bool cwr_seen = false;
    for (uint32_t ack = 2000; ack <= 10000 && !cwr_seen; ack += 1000) {
        f.inject(c.pseg(0, ack));
        for (auto& fr : data_frames(f.drain_tcp())) {
            if (c.off(fr) >= sent_end) {
                CHECK((fr.tcp.flags & TCPF_CWR) != 0);
                CHECK(ecn_of(fr) == INET_ECN_ECT_0);
                cwr_seen = true;
                break;
            }
        }
    }
    CHECK(cwr_seen);
    c.s.close();
}

TEST_CASE("ecn: Reno: loss in the window of an ECN reduction does not cut ssthresh again", "[ecn]") {
    tcp_fixture f;
    peer_conn c = ecn_conn(f);
    tcp_sock* tp = c.s.tp();
    REQUIRE(c.send_bytes(30000) == 30000);
    REQUIRE(data_frames(f.drain_tcp()).size() == 10);
    // Half the flight ACKed with ECE: PRR brings cwnd down to ssthresh (5).
    f.inject(c.pseg(0, 5000, TCPF_ACK | TCPF_ECE));
    REQUIRE(tp->icsk_ca_state == TCP_CA_CWR);
    REQUIRE(tp->snd_ssthresh == 5);
    REQUIRE(tp->snd_cwnd == 5);
    f.drain_tcp();
    for (int k = 0; k < 3; ++k) {
        f.inject(c.pseg(0, 5000));  // segment 5 lost
    }
    // Linux: no second cut (cwnd / 2 = 2 here) for the same window.
    CHECK(tp->icsk_ca_state == TCP_CA_Recovery);
    CHECK(tp->snd_ssthresh == 5);
    c.s.close();
}

TEST_CASE("ecn: an RTO while the ECN reduction is under way keeps its ssthresh (one cut per window)", "[ecn]") {
    // Linux's tcp_enter_loss recomputes ssthresh only when the window was
    // not cut already (high_seq acknowledged, or Open/Disorder).
    tcp_fixture f;
    peer_opts o;
    o.sack = true;
    peer_conn c = ecn_conn(f, o);
    tcp_sock* tp = c.s.tp();
    REQUIRE(c.send_bytes(40000) == 40000);
    REQUIRE(data_frames(f.drain_tcp()).size() == 10);
    f.inject(c.pseg(0, 2000, TCPF_ACK | TCPF_ECE));
    REQUIRE(tp->icsk_ca_state == TCP_CA_CWR);
    REQUIRE(tp->snd_ssthresh == 5);
    (void)f.drain_tcp();
    const uint64_t rto0 = f.net.counters().tcp_timeouts;
    // Silence: the RTO fires inside the reduction's window.
    f.advance_ms(1500);
    REQUIRE(f.net.counters().tcp_timeouts > rto0);
    CHECK(tp->icsk_ca_state == TCP_CA_Loss);
    CHECK(tp->snd_cwnd == 1);
    CHECK(tp->snd_ssthresh == 5);  // not halved again to 2
    c.s.close();
}
