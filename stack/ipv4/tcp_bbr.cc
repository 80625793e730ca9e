// BBR congestion control, version 1 (Cardwell et al., "BBR: Congestion-Based
// Congestion Control", ACM Queue 2016; draft-cardwell-iccrg-bbr-congestion-
// control-00; kernel counterpart net/ipv4/tcp_bbr.c). BBR models the path
// instead of reacting to loss: the bottleneck bandwidth (a windowed maximum
// of delivery-rate samples over 10 round trips) and the round-trip
// propagation delay (a 10 s windowed minimum), paces at gain x bandwidth and
// caps what is in flight at gain x their product. Random loss does not shrink
// the model, so BBR keeps its rate where loss-based CUBIC collapses.
//
// States: STARTUP (gain 2/ln2 until the bandwidth stops growing 25% per
// round for 3 rounds), DRAIN (the inverse gain until the queue made in
// STARTUP is gone), PROBE_BW (eight-phase gain cycle 1.25, 0.75, 1 x 6),
// PROBE_RTT (4 segments for 200 ms when the minimum RTT is 10 s old).
// ACK aggregation (ACKs arriving in bursts, as from a tap device or a
// receiver coalescing) is measured and added to cwnd, so the sender keeps
// sending through the silences between bursts. Not implemented: the
// long-term bandwidth sampling that detects token-bucket policers, and the
// restart-from-idle pacing tweak.
#include <algorithm>
#include <cstring>

#include "core/stack.hh"
#include "ipv4/tcp.hh"

namespace dshim {

namespace {

constexpr uint32_t BBR_SCALE = 8;  // gains in 1/256ths
constexpr uint32_t BBR_UNIT = 1u << BBR_SCALE;
constexpr uint32_t BW_SCALE = 24;  // bandwidth: segments per microsecond << 24
constexpr uint64_t BW_UNIT = 1ull << BW_SCALE;

constexpr uint32_t bbr_high_gain = BBR_UNIT * 2885 / 1000 + 1;  // 2/ln(2): doubles the rate each round
constexpr uint32_t bbr_drain_gain = BBR_UNIT * 1000 / 2885;     // its inverse, to drain that queue
constexpr uint32_t bbr_cwnd_gain = BBR_UNIT * 2;                // PROBE_BW: 2 x BDP in flight
constexpr int bbr_cycle_len = 8;
constexpr uint32_t bbr_pacing_gain[bbr_cycle_len] = {
    BBR_UNIT * 5 / 4, BBR_UNIT * 3 / 4, BBR_UNIT, BBR_UNIT, BBR_UNIT, BBR_UNIT, BBR_UNIT, BBR_UNIT,
};
constexpr uint32_t bbr_bw_rtts = bbr_cycle_len + 2;      // bandwidth filter window, in rounds
constexpr nsec_t bbr_min_rtt_win = 10 * NSEC_PER_SEC;    // min RTT filter window
constexpr nsec_t bbr_probe_rtt_time = 200 * NSEC_PER_MSEC;
constexpr uint32_t bbr_cwnd_min_target = 4;
constexpr uint32_t bbr_full_bw_thresh = BBR_UNIT * 5 / 4;  // "still growing" = 25% per round
constexpr uint32_t bbr_full_bw_cnt = 3;
constexpr uint32_t bbr_pacing_margin_percent = 1;         // pace 1% below the estimate
constexpr uint32_t bbr_extra_acked_win_rtts = 5;          // aggregation filter: 5-10 rounds
constexpr uint64_t bbr_extra_acked_max_us = 100'000;      // at most 100 ms worth of bandwidth
constexpr uint32_t bbr_ack_epoch_acked_reset = 1u << 20;

enum bbr_mode : uint8_t { BBR_STARTUP, BBR_DRAIN, BBR_PROBE_BW, BBR_PROBE_RTT };

// Windowed running maximum keeping three samples (best, second best in a
// later sub-window, third), so the maximum of the last `win` rounds is
// known without storing every round (Nichols' min-max algorithm, the same
// idea as the kernel's lib/win_minmax.c).
struct minmax_sample {
    uint32_t t;  // round
    uint32_t v;  // bandwidth
};
struct minmax {
    minmax_sample s[3];

    uint32_t get() const { return s[0].v; }
    void reset(uint32_t t, uint32_t v) { s[0] = s[1] = s[2] = {t, v}; }
    uint32_t running_max(uint32_t win, uint32_t t, uint32_t v) {
        const minmax_sample val{t, v};
        if (v >= s[0].v || t - s[2].t > win) {
            reset(t, v);  // a new best, or nothing in the window left
            return v;
        }
        if (v >= s[1].v) {
            s[2] = s[1] = val;
        } else if (v >= s[2].v) {
            s[2] = val;
        }
        // Age the samples: the best expires after `win`; keep the others
        // spread over the window's quarters and halves.
        const uint32_t dt = t - s[0].t;
        if (dt > win) {
            s[0] = s[1];
            s[1] = s[2];
            s[2] = val;
            if (t - s[0].t > win) {
                s[0] = s[1];
                s[1] = s[2];
                s[2] = val;
            }
        } else if (s[1].t == s[0].t && dt > win / 4) {
            s[2] = s[1] = val;
        } else if (s[2].t == s[1].t && dt > win / 2) {
            s[2] = val;
        }
        return s[0].v;
    }
};

// Per-socket state in icsk_ca_priv (104 bytes, as Linux's: ordered so it
// packs without holes).
struct bbr_state {
    nsec_t min_rtt_stamp;         // when min_rtt_us was measured
    nsec_t probe_rtt_done_stamp;  // end of PROBE_RTT's 200 ms (0 = not started)
    nsec_t cycle_mstamp;          // start of the current PROBE_BW phase
    nsec_t ack_epoch_mstamp;      // start of the ACK-aggregation epoch
    minmax bw;                    // max delivery rate over bbr_bw_rtts rounds
    uint32_t min_rtt_us;          // min RTT in the filter window (~0 = none yet)
    uint32_t rtt_cnt;             // packet-timed rounds so far
    uint32_t next_rtt_delivered;  // tp->delivered at which the next round starts
    uint32_t prior_cwnd;          // cwnd before loss recovery or PROBE_RTT
    uint32_t full_bw;             // bandwidth when STARTUP last grew 25%
    uint32_t pacing_gain;
    uint32_t cwnd_gain;
    uint32_t ack_epoch_acked;     // segments acked in the aggregation epoch
    uint16_t extra_acked[2];      // max excess acked, two alternating windows
    uint8_t extra_acked_win_rtts;
    uint8_t extra_acked_win_idx;
    uint8_t mode;
    uint8_t prev_ca_state;
    uint8_t cycle_idx;
    uint8_t full_bw_cnt;
    bool packet_conservation;     // first round of recovery: send what was delivered
    bool round_start;             // this ACK started a new round
    bool full_bw_reached;         // STARTUP is over for good
    bool probe_rtt_round_done;
    bool has_seen_rtt;
};

bbr_state* bbr(tcp_sock* tp) { return tp->ca_priv<bbr_state>(); }

uint32_t bbr_max_bw(tcp_sock* tp) { return bbr(tp)->bw.get(); }

// Bytes per second for bandwidth `bw` at `gain`, less the pacing margin.
uint64_t bbr_rate_bytes_per_sec(tcp_sock* tp, uint64_t bw, uint32_t gain) {
    uint64_t rate = bw * tp->mss_cache;
    rate = rate * gain >> BBR_SCALE;
    rate *= 1'000'000 / 100 * (100 - bbr_pacing_margin_percent);
    return rate >> BW_SCALE;
}

void bbr_init_pacing_rate_from_rtt(tcp_sock* tp) {
    bbr_state* b = bbr(tp);
    uint32_t rtt_us = 1000;  // no RTT yet: assume 1 ms
    if (tp->srtt_us != 0) {
        rtt_us = std::max<uint32_t>(tp->srtt_us >> 3, 1);
        b->has_seen_rtt = true;
    }
    const uint64_t bw = uint64_t(tp->snd_cwnd) * BW_UNIT / rtt_us;
    tp->sk_pacing_rate = std::min(bbr_rate_bytes_per_sec(tp, bw, bbr_high_gain), tp->sk_max_pacing_rate);
}

// Pacing never drops below the rate in STARTUP (the estimate may still be
// low); once the pipe was filled it follows the model both ways.
void bbr_set_pacing_rate(tcp_sock* tp, uint32_t bw, uint32_t gain) {
    bbr_state* b = bbr(tp);
    if (!b->has_seen_rtt && tp->srtt_us != 0) {
        bbr_init_pacing_rate_from_rtt(tp);
    }
    const uint64_t rate = std::min(bbr_rate_bytes_per_sec(tp, bw, gain), tp->sk_max_pacing_rate);
    if (b->full_bw_reached || rate > tp->sk_pacing_rate) {
        tp->sk_pacing_rate = rate;
    }
}

void bbr_save_cwnd(tcp_sock* tp) {
    bbr_state* b = bbr(tp);
    if (b->prev_ca_state < TCP_CA_Recovery && b->mode != BBR_PROBE_RTT) {
        b->prior_cwnd = tp->snd_cwnd;
    } else {
        b->prior_cwnd = std::max(b->prior_cwnd, tp->snd_cwnd);  // already saved: keep the larger
    }
}

// How far ACKs run ahead of the bandwidth estimate: in an epoch that
// starts whenever they fall behind it, the segments acked beyond bw x time.
void bbr_update_ack_aggregation(tcp_sock* tp, const rate_sample* rs) {
    bbr_state* b = bbr(tp);
    if (rs->acked_sacked == 0 || rs->delivered < 0 || rs->interval_us <= 0) {
        return;
    }
    if (b->round_start) {
        b->extra_acked_win_rtts = uint8_t(std::min<uint32_t>(0x1f, b->extra_acked_win_rtts + 1u));
        if (b->extra_acked_win_rtts >= bbr_extra_acked_win_rtts) {
            b->extra_acked_win_rtts = 0;
            b->extra_acked_win_idx ^= 1;
            b->extra_acked[b->extra_acked_win_idx] = 0;
        }
    }
    const uint64_t epoch_us = uint64_t(std::max<nsec_t>(tp->delivered_mstamp - b->ack_epoch_mstamp, 0)) / NSEC_PER_USEC;
    uint64_t expected = uint64_t(bbr_max_bw(tp)) * epoch_us / BW_UNIT;
    if (b->ack_epoch_acked <= expected || b->ack_epoch_acked + rs->acked_sacked >= bbr_ack_epoch_acked_reset) {
        b->ack_epoch_acked = 0;  // ACKs fell behind the model: a new epoch
        b->ack_epoch_mstamp = tp->delivered_mstamp;
        expected = 0;
    }
    b->ack_epoch_acked = std::min<uint32_t>(0xfffff, b->ack_epoch_acked + rs->acked_sacked);
    uint64_t extra = b->ack_epoch_acked - expected;
    extra = std::min<uint64_t>({extra, tp->snd_cwnd, 0xffff});
    if (extra > b->extra_acked[b->extra_acked_win_idx]) {
        b->extra_acked[b->extra_acked_win_idx] = uint16_t(extra);
    }
}

// The cwnd headroom for aggregation: the recent maximum, at most 100 ms of
// bandwidth; none before STARTUP ends.
uint32_t bbr_ack_aggregation_cwnd(tcp_sock* tp) {
    bbr_state* b = bbr(tp);
    if (!b->full_bw_reached) {
        return 0;
    }
    const uint64_t max_aggr = uint64_t(bbr_max_bw(tp)) * bbr_extra_acked_max_us / BW_UNIT;
    const uint32_t extra = std::max(b->extra_acked[0], b->extra_acked[1]);
    return uint32_t(std::min<uint64_t>(extra, max_aggr));
}

// Segments in flight that would fill bandwidth x min RTT x gain.
uint32_t bbr_bdp(tcp_sock* tp, uint32_t bw, uint32_t gain) {
    bbr_state* b = bbr(tp);
    if (b->min_rtt_us == ~uint32_t(0)) {
        return 10;  // no RTT sample yet: the initial window
    }
    const uint64_t w = uint64_t(bw) * b->min_rtt_us;
    return uint32_t((((w * gain) >> BBR_SCALE) + BW_UNIT - 1) / BW_UNIT);
}

// The window target: BDP x gain plus room for the segments the sender and
// a delayed-ACK receiver hold back (Linux adds three TSO bursts; without
// TSO, bursts of two), even, and two more while probing for bandwidth.
uint32_t bbr_inflight(tcp_sock* tp, uint32_t bw, uint32_t gain) {
    uint32_t cwnd = bbr_bdp(tp, bw, gain);
    cwnd += 3 * 2;
    cwnd = (cwnd + 1) & ~1u;
    bbr_state* b = bbr(tp);
    if (b->mode == BBR_PROBE_BW && b->cycle_idx == 0) {
        cwnd += 2;
    }
    return cwnd;
}

void bbr_reset_startup_mode(tcp_sock* tp) {
    bbr_state* b = bbr(tp);
    b->mode = BBR_STARTUP;
    b->pacing_gain = bbr_high_gain;
    b->cwnd_gain = bbr_high_gain;
}

void bbr_reset_probe_bw_mode(tcp_sock* tp) {
    bbr_state* b = bbr(tp);
    b->mode = BBR_PROBE_BW;
    b->cwnd_gain = bbr_cwnd_gain;
    // Start at a random phase other than the 0.75 one (so flows that start
    // together do not probe in step); the phase advance below moves on.
    b->cycle_idx = uint8_t(bbr_cycle_len - 1 - int(tp->sk_net->random() % (bbr_cycle_len - 1)));
    b->cycle_idx = uint8_t((b->cycle_idx + 1) % bbr_cycle_len);
    b->cycle_mstamp = tp->delivered_mstamp;
    b->pacing_gain = bbr_pacing_gain[b->cycle_idx];
}

void bbr_reset_mode(tcp_sock* tp) {
    if (!bbr(tp)->full_bw_reached) {
        bbr_reset_startup_mode(tp);
    } else {
        bbr_reset_probe_bw_mode(tp);
    }
}

// A new round starts when a segment sent after the previous round began is
// delivered; the bandwidth sample goes into the max filter unless it is
// app-limited and lower than the estimate (it would only understate).
void bbr_update_bw(tcp_sock* tp, const rate_sample* rs) {
    bbr_state* b = bbr(tp);
    b->round_start = false;
    if (rs->delivered < 0 || rs->interval_us <= 0) {
        return;
    }
    if (int32_t(rs->prior_delivered - b->next_rtt_delivered) >= 0) {
        b->next_rtt_delivered = tp->delivered;
        ++b->rtt_cnt;
        b->round_start = true;
        b->packet_conservation = false;
    }
    const uint64_t bw = uint64_t(rs->delivered) * BW_UNIT / uint64_t(rs->interval_us);
    const uint32_t bw32 = uint32_t(std::min<uint64_t>(bw, ~uint32_t(0)));
    if (!rs->is_app_limited || bw32 >= bbr_max_bw(tp)) {
        b->bw.running_max(bbr_bw_rtts, b->rtt_cnt, bw32);
    }
}

// PROBE_BW: a phase lasts at least one min RTT; the probing phase (1.25)
// ends early only once it put its extra data in flight or saw loss, the
// draining one (0.75) as soon as the queue it targets is gone.
bool bbr_is_next_cycle_phase(tcp_sock* tp, const rate_sample* rs) {
    bbr_state* b = bbr(tp);
    const bool is_full_length = (tp->delivered_mstamp - b->cycle_mstamp) > nsec_t(b->min_rtt_us) * NSEC_PER_USEC;
    if (b->pacing_gain == BBR_UNIT) {
        return is_full_length;
    }
    const uint32_t inflight = rs->prior_in_flight;
    const uint32_t bw = bbr_max_bw(tp);
    if (b->pacing_gain > BBR_UNIT) {
        return is_full_length && (rs->losses != 0 || inflight >= bbr_inflight(tp, bw, b->pacing_gain));
    }
    return is_full_length || inflight <= bbr_inflight(tp, bw, BBR_UNIT);
}

void bbr_update_cycle_phase(tcp_sock* tp, const rate_sample* rs) {
    bbr_state* b = bbr(tp);
    if (b->mode == BBR_PROBE_BW && bbr_is_next_cycle_phase(tp, rs)) {
        b->cycle_idx = uint8_t((b->cycle_idx + 1) % bbr_cycle_len);
        b->cycle_mstamp = tp->delivered_mstamp;
        b->pacing_gain = bbr_pacing_gain[b->cycle_idx];
    }
}

// STARTUP ends when three rounds in a row did not grow the estimate 25%.
void bbr_check_full_bw_reached(tcp_sock* tp, const rate_sample* rs) {
    bbr_state* b = bbr(tp);
    if (b->full_bw_reached || !b->round_start || rs->is_app_limited) {
        return;
    }
    const uint64_t thresh = uint64_t(b->full_bw) * bbr_full_bw_thresh >> BBR_SCALE;
    if (bbr_max_bw(tp) >= thresh) {
        b->full_bw = bbr_max_bw(tp);
        b->full_bw_cnt = 0;
        return;
    }
    ++b->full_bw_cnt;
    b->full_bw_reached = b->full_bw_cnt >= bbr_full_bw_cnt;
}

void bbr_check_drain(tcp_sock* tp) {
    bbr_state* b = bbr(tp);
    if (b->mode == BBR_STARTUP && b->full_bw_reached) {
        b->mode = BBR_DRAIN;
        b->pacing_gain = bbr_drain_gain;
        b->cwnd_gain = bbr_high_gain;
        tp->snd_ssthresh = bbr_inflight(tp, bbr_max_bw(tp), BBR_UNIT);  // shown by TCP_INFO, as Linux
    }
    if (b->mode == BBR_DRAIN && tp->packets_in_flight() <= bbr_inflight(tp, bbr_max_bw(tp), BBR_UNIT)) {
        bbr_reset_probe_bw_mode(tp);
    }
}

void bbr_check_probe_rtt_done(tcp_sock* tp) {
    bbr_state* b = bbr(tp);
    const nsec_t now = tp->sk_net->now();
    if (b->probe_rtt_done_stamp == 0 || now < b->probe_rtt_done_stamp) {
        return;
    }
    b->min_rtt_stamp = now;  // wait another 10 s before the next probe
    tp->snd_cwnd = std::max(tp->snd_cwnd, b->prior_cwnd);
    bbr_reset_mode(tp);
}

// The min RTT filter; when it is 10 s old, PROBE_RTT drains the pipe to 4
// segments for 200 ms and one round so a fresh minimum can be seen.
void bbr_update_min_rtt(tcp_sock* tp, const rate_sample* rs) {
    bbr_state* b = bbr(tp);
    const nsec_t now = tp->sk_net->now();
    const bool filter_expired = now > b->min_rtt_stamp + bbr_min_rtt_win;
    if (rs->rtt_us >= 0 && (uint64_t(rs->rtt_us) < b->min_rtt_us || filter_expired)) {
        b->min_rtt_us = uint32_t(std::min<int64_t>(rs->rtt_us, INT32_MAX));
        b->min_rtt_stamp = now;
    }
    if (filter_expired && b->mode != BBR_PROBE_RTT) {
        b->mode = BBR_PROBE_RTT;
        b->pacing_gain = BBR_UNIT;
        b->cwnd_gain = BBR_UNIT;
        bbr_save_cwnd(tp);
        b->probe_rtt_done_stamp = 0;
    }
    if (b->mode == BBR_PROBE_RTT) {
        // Samples taken while drained say nothing about the bandwidth.
        const uint32_t mark = tp->delivered + tp->packets_in_flight();
        tp->app_limited = mark != 0 ? mark : 1;
        if (b->probe_rtt_done_stamp == 0 && tp->packets_in_flight() <= bbr_cwnd_min_target) {
            b->probe_rtt_done_stamp = now + bbr_probe_rtt_time;
            b->probe_rtt_round_done = false;
            b->next_rtt_delivered = tp->delivered;
        } else if (b->probe_rtt_done_stamp != 0) {
            if (b->round_start) {
                b->probe_rtt_round_done = true;
            }
            if (b->probe_rtt_round_done) {
                bbr_check_probe_rtt_done(tp);
            }
        }
    }
}

// Loss recovery: losses come off cwnd; the first round of recovery sends no
// more than was delivered (packet conservation); leaving recovery restores
// the window from before it. Returns true with *new_cwnd when conserving.
bool bbr_set_cwnd_to_recover_or_restore(tcp_sock* tp, const rate_sample* rs, uint32_t acked, uint32_t* new_cwnd) {
    bbr_state* b = bbr(tp);
    const uint8_t prev_state = b->prev_ca_state;
    const uint8_t state = tp->icsk_ca_state;
    uint32_t cwnd = tp->snd_cwnd;
    if (rs->losses > 0) {
        cwnd = uint32_t(std::max<int64_t>(int64_t(cwnd) - rs->losses, 1));
    }
    if (state == TCP_CA_Recovery && prev_state != TCP_CA_Recovery) {
        b->packet_conservation = true;
        b->next_rtt_delivered = tp->delivered;  // the conserving round starts now
        cwnd = tp->packets_in_flight() + acked;
    } else if (prev_state >= TCP_CA_Recovery && state < TCP_CA_Recovery) {
        cwnd = std::max(cwnd, b->prior_cwnd);
        b->packet_conservation = false;
    }
    b->prev_ca_state = state;
    if (b->packet_conservation) {
        // Deviation from Linux and the BBR draft, which let the
        // conserving window fall to what is in flight (1 segment after a
        // lost tail): we keep BBR's minimum of 4. With 1 segment out, a
        // lost retransmission can only be repaired by the RTO; with 4, the
        // segments sent behind it get SACKed and RACK sees the loss.
        // Measured over net_tap at 10% loss both ways, 8 MiB upload to a
        // kernel receiver: 34 RTOs and 10.2 s without the floor, 10-11
        // RTOs and 2.8-3.6 s with it.
        *new_cwnd = std::max({cwnd, tp->packets_in_flight() + acked, bbr_cwnd_min_target});
        return true;
    }
    *new_cwnd = cwnd;
    return false;
}

// cwnd grows by what each ACK delivered towards the target (no further once
// STARTUP is over), never below 4 segments, 4 at most in PROBE_RTT.
void bbr_set_cwnd(tcp_sock* tp, const rate_sample* rs, uint32_t acked, uint32_t bw, uint32_t gain) {
    bbr_state* b = bbr(tp);
    uint32_t cwnd = tp->snd_cwnd;
    if (acked != 0 && !bbr_set_cwnd_to_recover_or_restore(tp, rs, acked, &cwnd)) {
        const uint32_t target = bbr_inflight(tp, bw, gain) + bbr_ack_aggregation_cwnd(tp);
        if (b->full_bw_reached) {
            cwnd = std::min(cwnd + acked, target);
        } else if (cwnd < target || tp->delivered < 10) {
            cwnd = cwnd + acked;
        }
        cwnd = std::max(cwnd, bbr_cwnd_min_target);
    }
    tp->snd_cwnd = cwnd;
    if (b->mode == BBR_PROBE_RTT) {
        tp->snd_cwnd = std::min(tp->snd_cwnd, bbr_cwnd_min_target);
    }
}

void bbr_main(tcp_sock* tp, const rate_sample* rs) {
    bbr_state* b = bbr(tp);
    bbr_update_bw(tp, rs);
    bbr_update_ack_aggregation(tp, rs);
    bbr_update_cycle_phase(tp, rs);
    bbr_check_full_bw_reached(tp, rs);
    bbr_check_drain(tp);
    bbr_update_min_rtt(tp, rs);
    const uint32_t bw = bbr_max_bw(tp);
    bbr_set_pacing_rate(tp, bw, b->pacing_gain);
    bbr_set_cwnd(tp, rs, rs->acked_sacked, bw, b->cwnd_gain);
}

void bbr_init(tcp_sock* tp) {
    bbr_state* b = bbr(tp);
    std::memset(b, 0, sizeof(*b));
    tp->snd_ssthresh = 0x7fffffff;
    b->next_rtt_delivered = tp->delivered;
    b->prev_ca_state = TCP_CA_Open;
    b->min_rtt_us = tp->rtt_min_us != 0 ? tp->rtt_min_us : ~uint32_t(0);
    b->min_rtt_stamp = tp->sk_net->now();
    b->ack_epoch_mstamp = tp->delivered_mstamp;
    bbr_init_pacing_rate_from_rtt(tp);
    bbr_reset_startup_mode(tp);
    // BBR needs pacing: turn the socket's internal pacing on.
    if (tp->sk_pacing_status == SK_PACING_NONE) {
        tp->sk_pacing_status = SK_PACING_NEEDED;
    }
}

// Loss and recovery do not change ssthresh (the model does not shrink on
// loss); remember cwnd to restore after recovery.
uint32_t bbr_ssthresh(tcp_sock* tp) {
    bbr_save_cwnd(tp);
    return tp->snd_ssthresh;
}

// A spurious loss: STARTUP may resume probing.
uint32_t bbr_undo_cwnd(tcp_sock* tp) {
    bbr_state* b = bbr(tp);
    b->full_bw = 0;
    b->full_bw_cnt = 0;
    return tp->snd_cwnd;
}

// An RTO ends the round (the next ACK starts a new one) and forgets the
// STARTUP growth record.
void bbr_set_state(tcp_sock* tp, uint8_t new_state) {
    if (new_state == TCP_CA_Loss) {
        bbr_state* b = bbr(tp);
        b->prev_ca_state = TCP_CA_Loss;
        b->full_bw = 0;
        b->round_start = true;
    }
}

}  // namespace

const tcp_congestion_ops tcp_bbr_cong_ops = {
    .name = "bbr",
    .init = bbr_init,
    .ssthresh = bbr_ssthresh,
    .cong_avoid = nullptr,
    .set_state = bbr_set_state,
    .undo_cwnd = bbr_undo_cwnd,
    .cong_control = bbr_main,
    .sndbuf_expand = 3,  // BBR may slow-start even in recovery: room for 3 x cwnd
};

}  // namespace dshim
