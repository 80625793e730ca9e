// CUBIC congestion control (RFC 9438), the default as on Linux: window
// growth as a cubic function of the time since the last reduction, with the
// Reno-friendly region (§4.3), fast convergence (§4.7) and beta = 0.7.
// Kernel counterpart: net/ipv4/tcp_cubic.c (which computes the same curve in
// fixed point; we use doubles, the result is in whole segments either way).
// HyStart (Linux's slow-start exit heuristic) is not implemented.
#include <algorithm>
#include <cmath>

#include "core/stack.hh"
#include "ipv4/tcp.hh"

namespace dshim {

namespace {

constexpr double CUBIC_C = 0.4;      // RFC 9438 §5: segments / s^3
constexpr double CUBIC_BETA = 0.7;   // RFC 9438 §4.6: multiplicative decrease
// RFC 9438 §4.3: alpha_cubic = 3 * (1 - beta) / (1 + beta), so the
// Reno-friendly estimate grows as fast as Reno would with this beta.
constexpr double CUBIC_ALPHA = 3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA);

// Per-socket state in icsk_ca_priv (struct bictcp).
struct cubic_state {
    double w_max;           // window before the last reduction (RFC W_max)
    double k;               // seconds until the curve reaches origin again
    double origin;          // the plateau the curve is centred on
    double w_est;           // Reno-friendly estimate (RFC W_est)
    nsec_t epoch_start;     // start of the current avoidance epoch (0 = none)
    uint32_t cnt;           // ACKed segments per one-segment increase
};

cubic_state* cubic(tcp_sock* tp) { return tp->ca_priv<cubic_state>(); }

void cubic_reset(cubic_state* ca) { *ca = cubic_state{}; }

void cubic_init(tcp_sock* tp) { cubic_reset(cubic(tp)); }

// RFC 9438 §4.2-4.4: the number of ACKed segments per cwnd increment.
void cubic_update(tcp_sock* tp, uint32_t acked) {
    cubic_state* ca = cubic(tp);
    const nsec_t now = tp->sk_net->now();
    const double cwnd = double(tp->snd_cwnd);
    if (ca->epoch_start == 0) {
        // A new epoch (§4.2): the curve starts at cwnd and plateaus at W_max.
        ca->epoch_start = now;
        if (cwnd < ca->w_max) {
            ca->k = std::cbrt((ca->w_max - cwnd) / CUBIC_C);
            ca->origin = ca->w_max;
        } else {
            ca->k = 0;
            ca->origin = cwnd;
        }
        ca->w_est = cwnd;
    }
    // W_cubic(t + RTT): where the window should be one RTT from now.
    const double rtt = double(tp->rtt_min_us) / 1e6;
    const double t = double(now - ca->epoch_start) / 1e9 + rtt;
    const double d = t - ca->k;
    double target = ca->origin + CUBIC_C * d * d * d;
    // §4.4: the target is kept within [cwnd, 1.5 * cwnd].
    target = std::clamp(target, cwnd, 1.5 * cwnd);
    double cnt = target > cwnd ? cwnd / (target - cwnd) : 100.0 * cwnd;
    // §4.3 Reno-friendly region: at least as fast as AIMD with alpha_cubic
    // (alpha becomes 1 once W_est passes W_max).
    const double alpha = ca->w_est >= ca->w_max ? 1.0 : CUBIC_ALPHA;
    ca->w_est += alpha * double(acked) / cwnd;
    if (ca->w_est > cwnd) {
        cnt = std::min(cnt, cwnd / (ca->w_est - cwnd));
    }
    ca->cnt = uint32_t(std::max(cnt, 1.0));
}

void cubic_cong_avoid(tcp_sock* tp, uint32_t acked) {
    // Grow only when the window was used (RFC 7661 spirit, Linux's
    // tcp_is_cwnd_limited).
    if (!(tp->packets_out * 2 >= tp->snd_cwnd || tp->snd_cwnd < tp->snd_ssthresh)) {
        return;
    }
    if (tp->snd_cwnd < tp->snd_ssthresh) {
        acked = tcp_slow_start(tp, acked);
        if (acked == 0) {
            return;
        }
    }
    cubic_update(tp, acked);
    tcp_cong_avoid_ai(tp, cubic(tp)->cnt, acked);
}

// §4.6-4.7: multiplicative decrease by beta, with fast convergence.
uint32_t cubic_ssthresh(tcp_sock* tp) {
    cubic_state* ca = cubic(tp);
    const double cwnd = double(tp->snd_cwnd);
    ca->epoch_start = 0;
    // Fast convergence: a flow whose window ended below its previous W_max
    // is losing share, so it releases some by aiming lower.
    if (cwnd < ca->w_max) {
        ca->w_max = cwnd * (1.0 + CUBIC_BETA) / 2.0;
    } else {
        ca->w_max = cwnd;
    }
    return std::max<uint32_t>(uint32_t(cwnd * CUBIC_BETA), 2);
}

void cubic_set_state(tcp_sock* tp, uint8_t new_state) {
    if (new_state == TCP_CA_Loss) {
        // After a timeout the curve restarts (Linux's bictcp_state).
        cubic_state* ca = cubic(tp);
        const double w_max = ca->w_max;
        cubic_reset(ca);
        ca->w_max = w_max;
    }
}

uint32_t cubic_undo_cwnd(tcp_sock* tp) {
    cubic(tp)->epoch_start = 0;
    return std::max(tp->snd_cwnd, tp->prior_cwnd);
}

}  // namespace

const tcp_congestion_ops tcp_cubic = {
    .name = "cubic",
    .init = cubic_init,
    .ssthresh = cubic_ssthresh,
    .cong_avoid = cubic_cong_avoid,
    .set_state = cubic_set_state,
    .undo_cwnd = cubic_undo_cwnd,
};

}  // namespace dshim
