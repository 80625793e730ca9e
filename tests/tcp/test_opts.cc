// Socket options and stack-wide limits of issue 5: TCP_USER_TIMEOUT (RFC
// 5482, Linux's clamp of the last RTO) and the RFC 5961 §7 global
// challenge-ACK limit. Kernel counterpart: tcp_timer.c, tcp_input.c.
#include "tcp/loss_fixture.hh"

using namespace dshim;
using namespace dshim::test;

namespace {
constexpr int OPT_TCP_USER_TIMEOUT = 18;
}

TEST_CASE("TCP_USER_TIMEOUT: the last RTO is shortened so the connection fails exactly at the timeout") {
    tcp_fixture f;
    peer_conn pc(f, {.mss = 1000});
    pc.open();
    REQUIRE(pc.s.setsockopt_int(IPPROTO_TCP, OPT_TCP_USER_TIMEOUT, 1500) == 0);
    pc.send_bytes(1000);
    f.drain_tcp();
    const nsec_t t0 = f.clk.now();
    // RTO 300 ms (SRTT 100 ms + 200 ms floor): retransmissions at 300 and
    // 900 ms; the next would be at 2100 ms, it is clamped to 1500 ms.
    std::vector<nsec_t> at;
    nsec_t died = 0;
    while (pc.s.state() == TCP_ESTABLISHED && f.clk.now() - t0 < 5 * NSEC_PER_SEC) {
        const nsec_t next = f.net.next_timer();
        REQUIRE(next != TIME_NEVER);
        f.advance(next > f.clk.now() ? next - f.clk.now() : 0);
        for (auto& fr : f.drain_tcp()) {
            if (!fr.payload.empty()) {
                at.push_back(f.clk.now() - t0);
            }
        }
        died = f.clk.now() - t0;
    }
    CHECK(at == std::vector<nsec_t>{300 * NSEC_PER_MSEC, 900 * NSEC_PER_MSEC});
    CHECK(pc.s.state() == TCP_CLOSE);
    CHECK(died == 1500 * NSEC_PER_MSEC);
    int err = 0;
    REQUIRE(pc.s.getsockopt_int(SOL_SOCKET, SO_ERROR, &err) == 0);
    CHECK(err == ETIMEDOUT);
    pc.s.close();
}

TEST_CASE("rfc5961: challenge ACKs are limited stack-wide per second, the budget drawn around the limit (§7)") {
    tcp_fixture f;
    f.net.sysctl().challenge_ack_limit = 4;  // budget in [2, 6) per second
    std::vector<std::unique_ptr<peer_conn>> conns;
    for (int i = 0; i < 10; ++i) {
        conns.push_back(std::make_unique<peer_conn>(f, peer_opts{.mss = 1000}));
        conns.back()->open();
    }
    f.drain_tcp();
    const uint64_t ch0 = f.net.counters().tcp_challenge_acks;
    // An in-window RST not at RCV.NXT on each: one challenge each wanted.
    for (auto& pc : conns) {
        f.inject(pc->pseg(100, 0, wire::TCPF_RST));
    }
    const uint64_t sent = f.net.counters().tcp_challenge_acks - ch0;
    CHECK(sent >= 2);
    CHECK(sent < 6);
    CHECK(f.net.counters().tcp_challenge_ack_limited == 10 - sent);
    CHECK(f.drain_tcp().size() == sent);
    for (auto& pc : conns) {
        CHECK(pc->s.state() == TCP_ESTABLISHED);
    }
    // A second later there is a new budget.
    f.advance_ms(1000);
    f.inject(conns[0]->pseg(100, 0, wire::TCPF_RST));
    CHECK(f.net.counters().tcp_challenge_acks - ch0 == sent + 1);
    for (auto& pc : conns) {
        pc->s.close();
    }
}
