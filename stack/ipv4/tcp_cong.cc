// Congestion control framework and Reno/NewReno (RFC 5681 §3.1 slow start
// and congestion avoidance; recovery itself is in tcp_input.cc).
// Kernel counterpart: net/ipv4/tcp_cong.c.
#include <algorithm>
#include <cstring>

#include "core/stack.hh"
#include "ipv4/tcp.hh"

namespace dshim {

// Slow start (RFC 5681 §3.1 eq. 2 without ABC's L limit beyond ssthresh):
// returns the ACKed segments left over once cwnd reaches ssthresh.
// With abc_l set, growth per ACK is at most abc_l segments (RFC 3465 §2.2,
// the rfc profile's L = 2); Linux counts every delivered segment.
uint32_t tcp_slow_start(tcp_sock* tp, uint32_t acked) {
    const uint32_t l = tp->sk_net->sysctl().abc_l;
    const uint32_t grow = l != 0 ? std::min(acked, l) : acked;
    const uint32_t cwnd = std::min(tp->snd_cwnd + grow, tp->snd_ssthresh);
    const uint32_t used = cwnd - tp->snd_cwnd;
    tp->snd_cwnd = cwnd;
    // What is left once cwnd reached ssthresh goes to congestion avoidance.
    return used < grow ? acked - used : 0;
}

// Congestion avoidance: one segment per window of ACKed segments
// (RFC 5681 §3.1 eq. 3, counted in segments).
void tcp_cong_avoid_ai(tcp_sock* tp, uint32_t w, uint32_t acked) {
    if (tp->snd_cwnd_cnt >= w) {
        tp->snd_cwnd_cnt = 0;
        ++tp->snd_cwnd;
    }
    tp->snd_cwnd_cnt += acked;
    if (tp->snd_cwnd_cnt >= w) {
        const uint32_t delta = tp->snd_cwnd_cnt / w;
        tp->snd_cwnd_cnt -= delta * w;
        tp->snd_cwnd += delta;
    }
}

namespace {

bool tcp_is_cwnd_limited(const tcp_sock* tp) {
    // Grow only when the window was actually used (RFC 7661 spirit): at
    // least half of it in flight.
    return tp->packets_out * 2 >= tp->snd_cwnd || tp->snd_cwnd < tp->snd_ssthresh;
}

void reno_cong_avoid(tcp_sock* tp, uint32_t acked) {
    if (!tcp_is_cwnd_limited(tp)) {
        return;
    }
    if (tp->snd_cwnd < tp->snd_ssthresh) {
        acked = tcp_slow_start(tp, acked);
        if (acked == 0) {
            return;
        }
    }
    tcp_cong_avoid_ai(tp, tp->snd_cwnd, acked);
}

// RFC 5681 eq. 4: ssthresh = max(FlightSize / 2, 2 * SMSS).
uint32_t reno_ssthresh(tcp_sock* tp) { return std::max<uint32_t>(tp->snd_cwnd >> 1, 2); }

uint32_t reno_undo_cwnd(tcp_sock* tp) { return std::max(tp->snd_cwnd, tp->prior_cwnd); }

}  // namespace

const tcp_congestion_ops tcp_reno = {
    .name = "reno",
    .init = nullptr,
    .ssthresh = reno_ssthresh,
    .cong_avoid = reno_cong_avoid,
    .set_state = nullptr,
    .undo_cwnd = reno_undo_cwnd,
};

const tcp_congestion_ops* tcp_ca_find(const char* name) {
    if (std::strcmp(name, "reno") == 0 || std::strcmp(name, "newreno") == 0) {
        return &tcp_reno;
    }
    if (std::strcmp(name, "cubic") == 0) {
        return &tcp_cubic;
    }
    if (std::strcmp(name, "bbr") == 0) {
        return &tcp_bbr_cong_ops;
    }
    return nullptr;
}

void tcp_init_congestion_control(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    if (!tp->icsk_ca_ops) {
        // The stack's default (net.ipv4.tcp_congestion_control), Reno if
        // the name is unknown.
        const tcp_congestion_ops* ca = tcp_ca_find(sk->sk_net->sysctl().congestion_control);
        tp->icsk_ca_ops = ca ? ca : &tcp_reno;
    }
    if (tp->icsk_ca_ops->init) {
        tp->icsk_ca_ops->init(tp);
    }
}

}  // namespace dshim
