// ICMP errors delivered to TCP (RFC 1122 §4.2.3.9, RFC 1191, RFC 5927):
// destination unreachable fails a connection attempt with Linux's errno and
// is only a soft error once established; fragmentation needed lowers the
// path MTU and resends smaller. Kernel counterpart: tcp_ipv4.c tcp_v4_err.
#include "tcp/loss_fixture.hh"

using namespace dshim;
using namespace dshim::test;

namespace {

// An ICMP error from the peer quoting a TCP segment we sent (IP header and
// the first 8 bytes of TCP: ports and sequence number).
void inject_icmp_err(tcp_fixture& f, uint8_t type, uint8_t code, uint32_t rest, uint16_t sport, uint16_t dport,
                     uint32_t seq) {
    std::vector<std::byte> q(28);
    auto* p = q.data();
    wire::store8(p, 0x45);
    wire::store16(p + 2, 1500);  // the original's length: more than is quoted
    wire::store8(p + 8, 64);
    wire::store8(p + 9, wire::ipproto_tcp);
    wire::store32(p + 12, LOCAL_IP);
    wire::store32(p + 16, PEER_IP);
    wire::store16(p + 20, sport);
    wire::store16(p + 22, dport);
    wire::store32(p + 24, seq);
    wire::icmp_repr icmp{type, code, rest, {q.data(), q.size()}};
    f.inject_raw(make_icmp_frame(f.peer, icmp));
}

int so_error(usock& u) {
    int v = -1;
    REQUIRE(u.getsockopt_int(SOL_SOCKET, SO_ERROR, &v) == 0);
    return v;
}

}  // namespace

TEST_CASE("icmp: destination unreachable for our SYN fails connect with Linux's errno") {
    struct { uint8_t code; int err; } cases[] = {
        {0, ENETUNREACH}, {1, EHOSTUNREACH}, {2, ENOPROTOOPT}, {3, ECONNREFUSED}, {13, EHOSTUNREACH}};
    for (auto c : cases) {
        tcp_fixture f;
        usock u = usock::create(f.net);
        REQUIRE(u.connect(PEER_IP, 80) == -EINPROGRESS);
        auto syn = f.expect_tcp(wire::TCPF_SYN);
        inject_icmp_err(f, wire::icmp_dest_unreach, c.code, 0, syn.tcp.sport, 80, syn.tcp.seq.v);
        INFO("code " << int(c.code));
        CHECK(u.state() == TCP_CLOSE);
        CHECK(so_error(u) == c.err);
        CHECK(f.net.counters().icmp_in_dest_unreachs == 1);
        CHECK(f.net.counters().tcp_attempt_fails == 1);
        f.expect_no_tx();
        u.close();
    }
}

TEST_CASE("icmp: an error quoting a sequence number we never sent is ignored (RFC 5927 §4.1)") {
    tcp_fixture f;
    usock u = usock::create(f.net);
    REQUIRE(u.connect(PEER_IP, 80) == -EINPROGRESS);
    auto syn = f.expect_tcp(wire::TCPF_SYN);
    inject_icmp_err(f, wire::icmp_dest_unreach, 3, 0, syn.tcp.sport, 80, syn.tcp.seq.v + 100000);
    CHECK(u.state() == TCP_SYN_SENT);
    // Nor one for another port pair.
    inject_icmp_err(f, wire::icmp_dest_unreach, 3, 0, uint16_t(syn.tcp.sport + 1), 80, syn.tcp.seq.v);
    CHECK(u.state() == TCP_SYN_SENT);
    CHECK(so_error(u) == 0);
    u.close();
}

TEST_CASE("icmp: host unreachable on an established connection is a soft error, kept for the timeout") {
    tcp_fixture f;
    peer_conn pc(f, {.mss = 1000});
    pc.open();
    pc.send_bytes(1000);
    f.drain_tcp();
    inject_icmp_err(f, wire::icmp_dest_unreach, 1, 0, pc.lport, 80, pc.snd0());
    CHECK(pc.s.state() == TCP_ESTABLISHED);
    CHECK(pc.s.sk()->sk_err == 0);
    CHECK(pc.s.sk()->sk_err_soft == EHOSTUNREACH);
    // The peer answers after all: the data flows on.
    pc.ack(1000);
    CHECK(pc.s.tp()->packets_out == 0);
    pc.s.close();
}

TEST_CASE("icmp: fragmentation needed lowers the PMTU, resyncs the MSS and resends the data smaller (RFC 1191)") {
    tcp_fixture f;
    peer_conn pc(f, {.mss = 1460});
    pc.open();
    REQUIRE(pc.s.tp()->icsk_pmtu_cookie == 1500);
    pc.send_bytes(3 * 1460);
    auto first = data_frames(f.drain_tcp());
    REQUIRE(first.size() == 3);
    CHECK(first[0].payload.size() == 1460);
    const uint32_t cwnd = pc.s.tp()->snd_cwnd;
    // A router on the path takes only 1000-byte datagrams.
    inject_icmp_err(f, wire::icmp_dest_unreach, wire::icmp_code_frag_needed, 1000, pc.lport, 80, pc.snd0());
    CHECK(f.net.counters().icmp_in_frag_needed == 1);
    CHECK(pc.s.tp()->icsk_pmtu_cookie == 1000);
    CHECK(pc.s.tp()->mss_cache == 960);
    auto again = data_frames(f.drain_tcp());
    REQUIRE(!again.empty());
    uint32_t next = 0;
    for (auto& fr : again) {
        CHECK(fr.payload.size() <= 960);
        CHECK(pc.off(fr) == next);
        next += uint32_t(fr.payload.size());
    }
    CHECK(next == 3 * 1460);  // everything resent, in order, smaller
    CHECK(pc.s.tp()->snd_cwnd == cwnd);  // not a congestion signal
    CHECK(f.net.counters().tcp_timeouts == 0);
    pc.ack(3 * 1460);
    CHECK(pc.s.tp()->packets_out == 0);
    CHECK(pc.s.tp()->icsk_ca_state == TCP_CA_Open);
    pc.s.close();
}

TEST_CASE("icmp: a next-hop MTU below 552 is raised to 552; a larger one changes nothing") {
    tcp_fixture f;
    peer_conn pc(f, {.mss = 1460});
    pc.open();
    pc.send_bytes(1460);
    f.drain_tcp();
    inject_icmp_err(f, wire::icmp_dest_unreach, wire::icmp_code_frag_needed, 1600, pc.lport, 80, pc.snd0());
    CHECK(pc.s.tp()->icsk_pmtu_cookie == 1500);
    inject_icmp_err(f, wire::icmp_dest_unreach, wire::icmp_code_frag_needed, 68, pc.lport, 80, pc.snd0());
    CHECK(pc.s.tp()->icsk_pmtu_cookie == 552);
    CHECK(pc.s.tp()->mss_cache == 512);
    pc.s.close();
}
