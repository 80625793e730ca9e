// Congestion control selection and CUBIC (RFC 9438): the default as on
// Linux, TCP_CONGESTION per socket, the stack-wide default, beta = 0.7, the
// cubic growth curve, and appropriate byte counting (RFC 3465) in the rfc
// profile. Kernel counterpart: tcp_cong.c, tcp_cubic.c.
#include <cmath>

#include "tcp/loss_fixture.hh"

using namespace dshim;
using namespace dshim::test;

namespace {

constexpr int OPT_TCP_CONGESTION = 13;

std::string get_cc(usock& u) {
    char name[16] = {};
    unsigned len = sizeof(name);
    REQUIRE(u.s->ops->getsockopt(u.s, IPPROTO_TCP, OPT_TCP_CONGESTION, name, &len) == 0);
    return std::string(name);
}
int set_cc(usock& u, const char* name) {
    return u.s->ops->setsockopt(u.s, IPPROTO_TCP, OPT_TCP_CONGESTION, name, unsigned(std::strlen(name)));
}

size_t sent_count(tcp_fixture& f) { return data_frames(f.drain_tcp()).size(); }

}  // namespace

TEST_CASE("congestion: new sockets use cubic, as Linux") {
    tcp_fixture f;
    usock u = usock::create(f.net);
    CHECK(get_cc(u) == "cubic");
    CHECK(u.tp()->icsk_ca_ops == &tcp_cubic);
    u.close();
}

TEST_CASE("congestion: TCP_CONGESTION selects reno or cubic; an unknown name fails with ENOENT") {
    tcp_fixture f;
    usock u = usock::create(f.net);
    CHECK(set_cc(u, "reno") == 0);
    CHECK(get_cc(u) == "reno");
    CHECK(set_cc(u, "cubic") == 0);
    CHECK(get_cc(u) == "cubic");
    CHECK(set_cc(u, "vegas") == -ENOENT);
    CHECK(get_cc(u) == "cubic");
    u.close();
}

TEST_CASE("congestion: the stack's congestion_control sysctl sets the default for new sockets") {
    tcp_fixture f;
    std::strcpy(f.net.sysctl().congestion_control, "reno");
    usock u = usock::create(f.net);
    CHECK(get_cc(u) == "reno");
    u.close();
}

TEST_CASE("cubic: a loss event sets ssthresh to 0.7 * cwnd (RFC 9438 §4.6)") {
    tcp_fixture f;
    peer_opts o;
    o.mss = 1000;
    o.cc = nullptr;  // the default: cubic
    peer_conn pc(f, o);
    pc.open();
    REQUIRE(get_cc(pc.s) == "cubic");
    pc.send_bytes(30000);
    REQUIRE(sent_count(f) == 10);
    pc.ack(0);
    pc.ack(0);
    pc.ack(0);
    CHECK(pc.s.tp()->icsk_ca_state == TCP_CA_Recovery);
    CHECK(pc.s.tp()->snd_ssthresh == 7);
    pc.s.close();
}

TEST_CASE("cubic: after a reduction cwnd regrows concavely to W_max at t = K, then probes beyond (RFC 9438 §4.2)") {
    tcp_fixture f;
    usock u = usock::create(f.net);
    tcp_sock* tp = u.tp();
    tp->rtt_min_us = 100000;  // 100 ms
    tp->srtt_us = 100000 << 3;
    tp->snd_cwnd = 100;
    tp->icsk_ca_ops->init(tp);
    // First loss at 100 segments: W_max = 100, cwnd 70.
    tp->snd_ssthresh = tp->icsk_ca_ops->ssthresh(tp);
    REQUIRE(tp->snd_ssthresh == 70);
    tp->snd_cwnd = 70;
    tp->packets_out = 70;  // window-limited, so it may grow
    // K = cbrt(W_max * (1 - beta) / C) = cbrt(75) = 4.22 s.
    const double k = std::cbrt(30.0 / 0.4);
    std::vector<uint32_t> per_rtt;
    for (int rtt = 0; rtt < 80; ++rtt) {
        const uint32_t w = tp->snd_cwnd;
        for (uint32_t i = 0; i < w; ++i) {
            tp->icsk_ca_ops->cong_avoid(tp, 1);
        }
        tp->packets_out = tp->snd_cwnd;
        per_rtt.push_back(tp->snd_cwnd);
        f.advance_ms(100);
    }
    tp->packets_out = 0;
    // Concave: the first second grows more than the second before K.
    const int at_k = int(k * 10);  // RTT index at t = K
    CHECK(per_rtt[10] - per_rtt[0] > per_rtt[at_k] - per_rtt[at_k - 10]);
    // At K the window is back near W_max (one RTT of lookahead in the curve).
    CHECK(per_rtt[at_k] >= 97);
    CHECK(per_rtt[at_k] <= 104);
    // Convex beyond: the last second grows more than the second after K.
    CHECK(per_rtt[79] - per_rtt[69] > per_rtt[at_k + 10] - per_rtt[at_k]);
    CHECK(per_rtt[79] > 110);
    u.close();
}

TEST_CASE("cubic: fast convergence aims below the last W_max when the window did not get back to it (RFC 9438 §4.7)") {
    tcp_fixture f;
    usock u = usock::create(f.net);
    tcp_sock* tp = u.tp();
    tp->icsk_ca_ops->init(tp);
    tp->snd_cwnd = 100;
    (void)tp->icsk_ca_ops->ssthresh(tp);  // W_max = 100
    tp->snd_cwnd = 80;                   // lost again below W_max
    CHECK(tp->icsk_ca_ops->ssthresh(tp) == 56);
    // Reaching W_max in CA now plateaus at 80 * 1.7 / 2 = 68, below 80.
    tp->snd_cwnd = 56;
    tp->snd_ssthresh = 56;
    tp->rtt_min_us = 100000;
    tp->packets_out = 56;
    for (int rtt = 0; rtt < 20; ++rtt) {
        const uint32_t w = tp->snd_cwnd;
        for (uint32_t i = 0; i < w; ++i) {
            tp->icsk_ca_ops->cong_avoid(tp, 1);
        }
        tp->packets_out = tp->snd_cwnd;
        f.advance_ms(100);
    }
    // K = cbrt((68 - 56) / 0.4) = 3.1 s: after 2 s the window levels off
    // at the plateau of 68 instead of racing back towards 80.
    CHECK(tp->snd_cwnd <= 68);
    CHECK(tp->snd_cwnd > 60);
    tp->packets_out = 0;
    u.close();
}

TEST_CASE("cubic: below W_max the Reno-friendly region keeps growth at least alpha per RTT (RFC 9438 §4.3)") {
    tcp_fixture f;
    usock u = usock::create(f.net);
    tcp_sock* tp = u.tp();
    tp->icsk_ca_ops->init(tp);
    // A tiny RTT makes the cubic curve flat for a long time near the start.
    tp->rtt_min_us = 1000;
    tp->snd_cwnd = 20;
    (void)tp->icsk_ca_ops->ssthresh(tp);
    tp->snd_cwnd = 14;
    tp->snd_ssthresh = 14;
    tp->packets_out = 14;
    for (int rtt = 0; rtt < 40; ++rtt) {
        const uint32_t w = tp->snd_cwnd;
        for (uint32_t i = 0; i < w; ++i) {
            tp->icsk_ca_ops->cong_avoid(tp, 1);
        }
        tp->packets_out = tp->snd_cwnd;
        f.advance_ms(1);
    }
    // 40 RTTs * alpha (0.53) = 21 segments of Reno-friendly growth at least.
    CHECK(tp->snd_cwnd >= 14 + 20);
    tp->packets_out = 0;
    u.close();
}

TEST_CASE("abc: the rfc profile grows slow start by at most 2 segments per ACK (RFC 3465 §2.2)") {
    for (const bool rfc : {false, true}) {
        tcp_fixture f(rfc ? tcp_profile::rfc : tcp_profile::linux);
        peer_conn pc(f, {.mss = 1000});
        pc.open();
        REQUIRE(pc.s.setsockopt_int(IPPROTO_TCP, OPT_TCP_NODELAY, 1) == 0);
        pc.send_bytes(30000);
        const uint32_t iw = pc.s.tp()->snd_cwnd;
        REQUIRE(sent_count(f) == iw);
        pc.ack(4000);  // a stretch ACK for four segments
        CHECK(pc.s.tp()->snd_cwnd == iw + (rfc ? 2 : 4));
        pc.s.close();
    }
}
