// TCP input: the per-state segment processing of RFC 9293 §3.10.7, ACK
// processing with RTT estimation (RFC 6298) and NewReno loss recovery
// (RFC 5681, 6582, 3042), receive queueing with reassembly, delayed ACKs
// (RFC 1122 §4.2.3.2, RFC 5681 §4.2) and FIN handling.
// Kernel counterpart: net/ipv4/tcp_input.c.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/stack.hh"
#include "ipv4/ip.hh"
#include "ipv4/tcp.hh"
#include "ipv4/tcp_ecn.hh"

namespace dshim {

using wire::after;
using wire::before;
using wire::TCPF_ACK;
using wire::TCPF_FIN;
using wire::TCPF_PSH;
using wire::TCPF_RST;
using wire::TCPF_SYN;

namespace {

// Result flags of tcp_ack
enum : unsigned {
    FLAG_DATA_ACKED = 1u << 0,
    FLAG_WIN_UPDATE = 1u << 1,
    FLAG_SND_UNA_ADVANCED = 1u << 2,
    FLAG_RETRANS_DATA_ACKED = 1u << 3,
    FLAG_SYN_ACKED = 1u << 4,
    FLAG_DATA = 1u << 5,       // the segment carries data
    FLAG_RTT_SAMPLE = 1u << 6,
    FLAG_ECE = 1u << 7,        // ECN-Echo on an ECN connection (RFC 3168 §6.1.2)
};

uint32_t seg_payload(const pbuf* skb) { return skb->len; }

// ------------------------------------------------------------ options

// Negotiation on the SYN or SYN-ACK we received (tcp_parse_options +
// tcp_openreq_init / tcp_rcv_synsent_state_process).
void tcp_negotiate_syn_options(tcp_sock* tp, const wire::tcp_repr& th) {
    const stack_sysctl& sys = tp->sk_net->sysctl();
    tcp_options_received& rx = tp->rx_opt;
    rx.mss_clamp = th.opt.has_mss && th.opt.mss != 0 ? th.opt.mss : TCP_MSS_DEFAULT;
    if (rx.user_mss != 0 && rx.mss_clamp > rx.user_mss) {
        rx.mss_clamp = rx.user_mss;
    }
    rx.wscale_ok = th.opt.has_wscale && sys.window_scaling;
    if (rx.wscale_ok) {
        // RFC 7323 §2.3: a shift above 14 is treated as 14.
        rx.snd_wscale = std::min<uint8_t>(th.opt.wscale, TCP_MAX_WSCALE);
    } else {
        rx.snd_wscale = 0;
        rx.rcv_wscale = 0;
    }
    rx.sack_ok = th.opt.sack_permitted && sys.sack;
    rx.tstamp_ok = th.opt.has_ts && sys.timestamps;
    if (rx.tstamp_ok) {
        rx.ts_recent = th.opt.ts_val;
        rx.ts_recent_stamp = tp->sk_net->now();
    }
}

}  // namespace

void tcp_parse_options_into(tcp_sock* tp, const wire::tcp_repr& th) {
    tcp_options_received& rx = tp->rx_opt;
    rx.saw_tstamp = th.opt.has_ts && rx.tstamp_ok;
    if (rx.saw_tstamp) {
        rx.rcv_tsval = th.opt.ts_val;
        rx.rcv_tsecr = th.opt.ts_ecr;
    }
}

// ------------------------------------------------------------ RTT / RTO

void tcp_rtt_estimator(sock* sk, long mrtt_us) {
    tcp_sock* tp = tcp_sk(sk);
    long m = std::max(mrtt_us, 1L);
    if (tp->rtt_min_us == 0 || uint32_t(m) < tp->rtt_min_us) {
        tp->rtt_min_us = uint32_t(m);
    }
    if (tp->srtt_us == 0) {
        // RFC 6298 (2.2): SRTT = R, RTTVAR = R/2 (mdev is 4*RTTVAR).
        tp->srtt_us = uint32_t(m << 3);
        tp->mdev_us = uint32_t(m << 1);
    } else {
        // RFC 6298 (2.3) with alpha = 1/8, beta = 1/4.
        long err = m - long(tp->srtt_us >> 3);
        tp->srtt_us = uint32_t(long(tp->srtt_us) + err);
        if (err < 0) {
            err = -err;
        }
        tp->mdev_us = uint32_t(long(tp->mdev_us) + err - long(tp->mdev_us >> 2));
    }
    tp->rttvar_us = tp->mdev_us >> 2;
}

void tcp_set_rto(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    const stack_sysctl& sys = sk->sk_net->sysctl();
    const nsec_t srtt = nsec_t(tp->srtt_us >> 3) * NSEC_PER_USEC;
    const nsec_t var4 = nsec_t(tp->mdev_us) * NSEC_PER_USEC;  // 4 * RTTVAR
    nsec_t rto;
    if (sk->sk_net->config().profile == tcp_profile::linux) {
        // Linux: SRTT + max(4*RTTVAR, rto_min).
        rto = srtt + std::max(var4, sys.rto_min);
    } else {
        // RFC 6298 (2.3)+(2.4): SRTT + max(G, 4*RTTVAR), at least 1 s.
        rto = std::max(srtt + std::max<nsec_t>(var4, NSEC_PER_MSEC), sys.rto_min);
    }
    tp->icsk_rto = std::min(rto, sys.rto_max);
}

// ---------------------------------------------------- congestion (Reno)

void tcp_enter_quickack_mode(sock* sk, unsigned max_quickacks) {
    tcp_sock* tp = tcp_sk(sk);
    if (!sk->sk_net->sysctl().quickack) {
        return;
    }
    const uint32_t mss = std::max<uint32_t>(tp->icsk_ack.rcv_mss, 1);
    unsigned quickacks = std::max<unsigned>(tp->rcv_wnd / (2 * mss), 2);
    tp->icsk_ack.quick = uint8_t(std::min(quickacks, max_quickacks));
    tp->icsk_ack.pingpong = false;
    tp->icsk_ack.ato = sk->sk_net->sysctl().ato_min;
}

namespace {

bool tcp_in_quickack_mode(const tcp_sock* tp) { return tp->icsk_ack.quick != 0 && !tp->icsk_ack.pingpong; }

void tcp_set_ca_state(sock* sk, uint8_t state) {
    tcp_sock* tp = tcp_sk(sk);
    if (tp->icsk_ca_ops && tp->icsk_ca_ops->set_state) {
        tp->icsk_ca_ops->set_state(tp, state);
    }
    tp->icsk_ca_state = state;
}

void tcp_mark_head_lost(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    pbuf* skb = sk->sk_write_queue.front();
    if (!skb || skb == tp->send_head) {
        return;
    }
    tcp_skb_cb* cb = TCP_SKB_CB(skb);
    if (!(cb->sacked & TCPCB_LOST)) {
        cb->sacked |= TCPCB_LOST;
        ++tp->lost_out;
        ++tp->lost;
    }
    // NewReno retransmits the head again on a partial ACK even if it was
    // retransmitted before.
    if (cb->sacked & TCPCB_RETRANS) {
        cb->sacked &= uint8_t(~TCPCB_RETRANS);
        --tp->retrans_out;
    }
}

// Entering fast recovery on the third duplicate ACK (RFC 5681 §3.2 steps
// 2-3, RFC 6582 §3.2 step 2).
void tcp_enter_recovery(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    ++sk->sk_net->counters().tcp_fast_retrans;
    ++sk->sk_net->counters().tcp_reno_recovery;
    if (tp->icsk_ca_state == TCP_CA_CWR) {
        tp->prior_ssthresh = 0;  // reduced for ECN in this window already: not twice, no undo (Linux)
    } else {
        tp->prior_ssthresh = tp->snd_ssthresh;
        tp->prior_cwnd = tp->snd_cwnd;
        tp->snd_ssthresh = tp->icsk_ca_ops->ssthresh(tp);
    }
    tp->high_seq = tp->snd_nxt;
    tp->undo_marker = tp->snd_una;
    tcp_ecn_queue_cwr(tp);
    // The duplicate ACKs (sacked_out) already count as having left the
    // network, which gives the "ssthresh + 3*SMSS" inflation.
    if (!tcp_ca_controls_cwnd(tp)) {
        tp->snd_cwnd = std::max<uint32_t>(tp->snd_ssthresh, 2);
    }
    tp->snd_cwnd_cnt = 0;
    tcp_set_ca_state(sk, TCP_CA_Recovery);
    tcp_mark_head_lost(sk);
}

// Reno's stand-in for SACK: each duplicate ACK means one segment left.
void tcp_add_reno_sack(tcp_sock* tp) {
    if (tp->sacked_out + 1 < tp->packets_out) {
        ++tp->sacked_out;
    }
}

void tcp_remove_reno_sacks(tcp_sock* tp, uint32_t acked) {
    if (acked > 0) {
        const uint32_t dec = std::min(acked - 1, tp->sacked_out);
        tp->sacked_out -= dec;
    }
}

// Fast retransmit (RFC 5681 §3.2 step 3) and the retransmission on a
// partial ACK (RFC 6582 §3.2 step 4) send the head at once, whatever the
// pipe says; further segments wait for cwnd as usual.
void tcp_retransmit_head_now(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    pbuf* head = sk->sk_write_queue.front();
    if (!head || head == tp->send_head) {
        return;
    }
    if ((TCP_SKB_CB(head)->sacked & (TCPCB_LOST | TCPCB_RETRANS)) != TCPCB_LOST) {
        return;
    }
    if (tcp_retransmit_skb(sk, head) == 0) {
        tcp_rearm_rto(sk);
    }
}

// Loss recovery state machine for Reno/NewReno (a reduced
// tcp_fastretrans_alert). Called for every acceptable ACK.
void tcp_fastretrans_alert(sock* sk, uint32_t acked_pkts, unsigned flag, bool is_dupack) {
    tcp_sock* tp = tcp_sk(sk);
    if (tp->packets_out == 0) {
        tp->sacked_out = 0;
    }
    if (tp->icsk_ca_state == TCP_CA_CWR) {
        // ECN reduction (RFC 3168 §6.1.2) spread by PRR over one window,
        // held until the ACK goes above high_seq (the CWR segment arrived).
        if (after(tp->snd_una, tp->high_seq)) {
            if (!tcp_ca_controls_cwnd(tp)) {
                tp->snd_cwnd = std::max<uint32_t>(tp->snd_ssthresh, 2);
            }
            tcp_set_ca_state(sk, TCP_CA_Open);
        } else {
            tcp_cwnd_reduction(sk, acked_pkts + (is_dupack ? 1 : 0), false, (flag & FLAG_SND_UNA_ADVANCED) != 0,
                               false);
        }
    }
    switch (tp->icsk_ca_state) {
    case TCP_CA_Recovery:
        if (!before(tp->snd_una, tp->high_seq)) {
            // Full ACK (RFC 6582 §3.2 step 3): leave recovery with
            // cwnd = ssthresh (option 2, Linux's tcp_end_cwnd_reduction).
            if (!tcp_ca_controls_cwnd(tp)) {
                tp->snd_cwnd = std::max<uint32_t>(tp->snd_ssthresh, 2);
            }
            tp->snd_cwnd_cnt = 0;
            tp->sacked_out = 0;
            tcp_set_ca_state(sk, TCP_CA_Open);
            return;
        }
        if (is_dupack) {
            tcp_add_reno_sack(tp);
        } else if (flag & FLAG_SND_UNA_ADVANCED) {
            // Partial ACK (RFC 6582 §3.2 step 4): the next hole is lost too.
            tcp_remove_reno_sacks(tp, acked_pkts);
            tcp_mark_head_lost(sk);
            tcp_retransmit_head_now(sk);
        }
        tcp_xmit_retransmit_queue(sk);
        return;
    case TCP_CA_Loss:
        if (!before(tp->snd_una, tp->high_seq)) {
            tp->sacked_out = 0;
            tcp_set_ca_state(sk, TCP_CA_Open);
        } else {
            tcp_xmit_retransmit_queue(sk);
        }
        return;
    default:
        break;
    }
    if (flag & FLAG_SND_UNA_ADVANCED) {
        tp->sacked_out = 0;  // Open/Disorder: a cumulative ACK resets the count
    }
    if (is_dupack) {
        tcp_add_reno_sack(tp);
    }
    if (tp->sacked_out >= 3 && tp->packets_out > 0) {
        tcp_enter_recovery(sk);
        tcp_retransmit_head_now(sk);
        tcp_xmit_retransmit_queue(sk);
        return;
    }
    if (tp->icsk_ca_state != TCP_CA_CWR) {  // an ECN reduction lasts its window
        tcp_set_ca_state(sk, tp->sacked_out ? TCP_CA_Disorder : TCP_CA_Open);
    }
}

// Removes fully acknowledged segments from the write queue, takes an RTT
// sample (Karn's rule: never from a retransmitted segment, RFC 6298 §3)
// and returns how many segments left. (tcp_clean_rtx_queue)
uint32_t tcp_clean_rtx_queue(sock* sk, unsigned* flag, rate_sample* rs) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    const nsec_t now = net.now();
    uint32_t acked = 0;
    nsec_t seq_rtt_sent = 0;  // send time of the newest non-retransmitted acked segment
    while (pbuf* skb = sk->sk_write_queue.front()) {
        if (skb == tp->send_head) {
            break;
        }
        tcp_skb_cb* cb = TCP_SKB_CB(skb);
        if (after(cb->end_seq, tp->snd_una)) {
            break;  // partially acknowledged: trimmed when retransmitted
        }
        tcp_rate_skb_delivered(sk, skb, rs, false);
        if (cb->sacked & TCPCB_RETRANS) {
            --tp->retrans_out;
        }
        if (cb->sacked & TCPCB_LOST) {
            --tp->lost_out;
        }
        if (cb->sacked & TCPCB_SACKED) {
            --tp->sacked_out;  // counted as delivered when it was SACKed
        } else {
            ++tp->delivered;
            if (tp->rx_opt.sack_ok) {
                // An original below the highest SACK arrived late: reordering.
                if (tp->sacked_out != 0 && !(cb->sacked & TCPCB_EVER_RETRANS) &&
                    before(cb->end_seq, tp->highest_sack)) {
                    tp->rack.reord = true;
                }
                tcp_rack_advance(tp, cb->sacked, cb->end_seq, cb->when);
            }
        }
        if (cb->sacked & TCPCB_EVER_RETRANS) {
            *flag |= FLAG_RETRANS_DATA_ACKED;
        } else if (cb->when != 0) {
            seq_rtt_sent = cb->when;
        }
        if (cb->tcp_flags & TCPF_SYN) {
            *flag |= FLAG_SYN_ACKED;
        } else {
            *flag |= FLAG_DATA_ACKED;
        }
        tp->bytes_acked += uint32_t(cb->end_seq - cb->seq);
        --tp->packets_out;
        ++acked;
        sk->sk_wmem_queued -= int(skb->truesize);
        sk->sk_write_queue.pop_front();
    }
    if (acked == 0) {
        return 0;
    }
    long rtt_us = -1;
    if (seq_rtt_sent != 0) {
        rtt_us = long((now - seq_rtt_sent) / NSEC_PER_USEC);
    } else if (tp->rx_opt.saw_tstamp && tp->rx_opt.rcv_tsecr != 0) {
        // RFC 7323 §4.1: timestamps give a sample even for retransmissions.
        // A 1 ms clock: an echo of the current tick is under 1 ms, counted
        // as 1 ms (Linux's tcp_rtt_tsopt_us), never as 0, which would
        // pull the minimum RTT (RACK's reordering window, BBR) to nothing.
        const uint32_t delta_ms = tcp_time_stamp(tp) - tp->rx_opt.rcv_tsecr;
        if (delta_ms < 0x7fffffff) {
            rtt_us = long(std::max<uint32_t>(delta_ms, 1)) * 1000;
        }
    }
    if (rtt_us >= 0) {
        tcp_rtt_estimator(sk, rtt_us);
        tcp_set_rto(sk);
        tp->icsk_backoff = 0;
        *flag |= FLAG_RTT_SAMPLE;
    }
    return acked;
}

// RFC 9293 §3.10.7.4 "SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK)"
// in the kernel's form (tcp_may_update_window).
bool tcp_may_update_window(const tcp_sock* tp, seq32 ack, seq32 ack_seq, uint32_t nwin) {
    return after(ack, tp->snd_una) || after(ack_seq, tp->snd_wl1) || (ack_seq == tp->snd_wl1 && (nwin > tp->snd_wnd || nwin == 0));
}

void tcp_ack_probe(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    pbuf* head = tp->send_head;
    if (!head) {
        return;
    }
    if (!after(TCP_SKB_CB(head)->end_seq, tp->snd_una + tp->snd_wnd)) {
        // The window opened: stop probing, send normally.
        tp->icsk_backoff = 0;
        tp->icsk_probes_out = 0;
        if (tp->icsk_pending == ICSK_TIME_PROBE0) {
            inet_csk_clear_xmit_timer(sk, ICSK_TIME_PROBE0);
        }
    }
}

// Grows the send buffer with cwnd unless the user fixed it
// (tcp_sndbuf_expand / tcp_new_space).
void tcp_sndbuf_expand(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    if (sk->sock_flag(SOCK_SNDBUF_LOCK)) {
        return;
    }
    const int per_mss = int(tp->mss_cache) + int(MAX_HEADER) + 256;  // payload + overhead
    const int factor = tp->icsk_ca_ops && tp->icsk_ca_ops->sndbuf_expand ? tp->icsk_ca_ops->sndbuf_expand : 2;
    const int want = int(std::max<uint32_t>(tp->snd_cwnd, 10)) * factor * per_mss;
    if (want > sk->sk_sndbuf) {
        sk->sk_sndbuf = std::min(want, sk->sk_net->sysctl().wmem_max);
    }
}

void tcp_new_space(sock* sk) {
    if (sk->sk_socket && (sk->sk_socket->flags & SOCK_NOSPACE) && sk->sk_stream_is_writeable()) {
        sk->sk_socket->flags &= ~SOCK_NOSPACE;
        sk_write_space(sk);
    }
}

// Processes the ACK field of an acceptable segment. Returns > 0 when the
// ACK was acceptable, 0 for an old duplicate, < 0 for an ACK of unsent
// data or one too old (RFC 5961 §5.2). (tcp_ack)
int tcp_ack(sock* sk, const wire::tcp_repr& th, const pbuf* skb) {
    tcp_sock* tp = tcp_sk(sk);
    const seq32 prior_snd_una = tp->snd_una;
    const seq32 ack = th.ack;
    unsigned flag = 0;
    if (before(ack, prior_snd_una)) {
        if (before(ack, prior_snd_una - tp->max_window)) {
            tcp_send_challenge_ack(sk);
            return -1;
        }
        // Old duplicate: ignore the cumulative ACK, keep the data; its SACK
        // blocks (a reordered ACK) still inform the scoreboard, as in Linux.
        if (tp->rx_opt.sack_ok && th.opt.num_sacks != 0 && tp->packets_out != 0) {
            const uint32_t prior_delivered = tp->delivered;
            rate_sample rs;  // recorded on the segments; no sample from an old ACK (Linux)
            const tcp_sack_result sr = tcp_sacktag_write_queue(sk, th, &rs);
            if (sr.newly_sacked != 0 || sr.dsack) {
                tcp_sack_fastretrans_alert(sk, tp->delivered - prior_delivered, false, sr.dsack);
            }
        }
        return 0;
    }
    if (after(ack, tp->snd_nxt)) {
        return -1;
    }
    if (seg_payload(skb) > 0) {
        flag |= FLAG_DATA;
    }
    // Not on the handshake's ACK: Linux's child has nothing in flight then.
    if (sk->sk_state != TCP_SYN_RECV && tcp_ecn_rcv_ecn_echo(tp, th.flags)) {
        flag |= FLAG_ECE;
    }
    tcp_ecn_accept_cwr(sk, th.flags, seg_payload(skb) > 0);
    const uint32_t nwin = uint32_t(th.window) << ((th.flags & TCPF_SYN) ? 0 : tp->rx_opt.snd_wscale);
    const uint32_t prior_wnd = tp->snd_wnd;
    if (tcp_may_update_window(tp, ack, th.seq, nwin)) {
        if (tp->snd_wnd != nwin) {
            tp->snd_wnd = nwin;
            flag |= FLAG_WIN_UPDATE;
            if (nwin > tp->max_window) {
                tp->max_window = nwin;
            }
        }
        tp->snd_wl1 = th.seq;
        tp->snd_wl2 = ack;
    }
    if (after(ack, prior_snd_una)) {
        flag |= FLAG_SND_UNA_ADVANCED;
        tp->snd_una = ack;
        tp->icsk_retransmits = 0;
        tp->retrans_stamp = 0;
    }
    tp->rcv_tstamp = sk->sk_net->now();
    tp->icsk_probes_out = 0;

    const uint32_t prior_packets = tp->packets_out;
    const uint32_t prior_delivered = tp->delivered;
    const uint32_t prior_lost = tp->lost;
    rate_sample rs;
    rs.prior_in_flight = tp->packets_in_flight();
    uint32_t acked = 0;
    tcp_sack_result sr;
    if (tp->rx_opt.sack_ok && th.opt.num_sacks != 0) {
        // RFC 2018 blocks update the scoreboard before the cumulative ACK
        // removes what it covers (tcp_sacktag_write_queue).
        sr = tcp_sacktag_write_queue(sk, th, &rs);
    }
    if (prior_packets != 0 && (flag & FLAG_SND_UNA_ADVANCED)) {
        acked = tcp_clean_rtx_queue(sk, &flag, &rs);
    }
    // RFC 5681 §2 duplicate ACK: data outstanding, no data, no window
    // change, no new data acked, not SYN/FIN.
    const bool is_dupack = prior_packets != 0 && !(flag & (FLAG_SND_UNA_ADVANCED | FLAG_DATA)) &&
                           nwin == prior_wnd && !(th.flags & (TCPF_SYN | TCPF_FIN));
    if (prior_packets != 0) {
        // No growth on an ECE that is about to reduce cwnd (Linux reduces
        // before it would grow); a path-modelling module grows its own.
        if (acked > 0 && tp->icsk_ca_state != TCP_CA_Recovery && tp->icsk_ca_state != TCP_CA_CWR &&
            !((flag & FLAG_ECE) && tp->icsk_ca_state < TCP_CA_CWR) && !tcp_ca_controls_cwnd(tp)) {
            tp->icsk_ca_ops->cong_avoid(tp, acked);
        }
        tcp_process_tlp_ack(sk, ack, sr.dsack, (flag & FLAG_SND_UNA_ADVANCED) != 0, sr.newly_sacked != 0);
        if (flag & FLAG_SND_UNA_ADVANCED) {
            // tcp_set_xmit_timer: a tail loss probe when it applies, else the RTO.
            if (!tcp_schedule_loss_probe(sk)) {
                tcp_rearm_rto(sk);
            }
        }
        if (tp->rx_opt.sack_ok) {
            // NewReno's duplicate-ACK counting stays for peers without SACK.
            tcp_sack_fastretrans_alert(sk, tp->delivered - prior_delivered, (flag & FLAG_SND_UNA_ADVANCED) != 0,
                                       sr.dsack);
        } else {
            tcp_fastretrans_alert(sk, acked, flag, is_dupack);
        }
        if ((flag & FLAG_ECE) && tp->icsk_ca_state < TCP_CA_CWR) {
            // Congestion Experienced, echoed: reduce once per window
            // (tcp_try_to_open -> tcp_enter_cwr), unless recovery began.
            tcp_enter_cwr(sk);
            ++sk->sk_net->counters().tcp_ecn_cwr;
            tcp_cwnd_reduction(sk, tp->delivered - prior_delivered + (is_dupack ? 1 : 0), false,
                               (flag & FLAG_SND_UNA_ADVANCED) != 0, false);
        }
        if (tp->rack.reo_deadline != 0 && tp->packets_out != 0) {
            const nsec_t now = sk->sk_net->now();
            const nsec_t left = tp->rack.reo_deadline > now ? tp->rack.reo_deadline - now : 0;
            tp->rack.reo_deadline = 0;
            inet_csk_reset_xmit_timer(sk, ICSK_TIME_REO_TIMEOUT, left);
        }
    } else if (sr.dsack) {
        // Nothing outstanding, but a D-SACK may still prove the last
        // recovery spurious (Linux's no_queue path).
        tcp_sack_fastretrans_alert(sk, 0, false, true);
    }
    if (prior_packets != 0) {
        // tcp_cong_control, after loss detection settled: a path-modelling
        // module takes the ACK's rate sample; the others get the pacing
        // rate recomputed from cwnd.
        tcp_rate_gen(sk, tp->delivered - prior_delivered, tp->lost - prior_lost, &rs);
        if (tcp_ca_controls_cwnd(tp)) {
            tp->icsk_ca_ops->cong_control(tp, &rs);
        } else {
            tcp_update_pacing_rate(sk);
        }
    }
    if (acked > 0) {
        tcp_sndbuf_expand(sk);
        tcp_new_space(sk);
    }
    if (tp->send_head && tp->packets_out == 0) {
        tcp_ack_probe(sk);
    }
    return 1;
}

// ---------------------------------------------------------- receiving

void tcp_measure_rcv_mss(tcp_sock* tp, uint32_t len) {
    if (len >= tp->icsk_ack.rcv_mss) {
        tp->icsk_ack.rcv_mss = uint16_t(std::min<uint32_t>(len, tp->advmss));
    } else {
        // A segment shorter than the peer's full size was pushed: the
        // reader draining it ACKs at once (tcp_cleanup_rbuf), as Linux.
        tp->icsk_ack.pending |= ICSK_ACK_PUSHED;
    }
}

// tcp_event_data_recv: schedules an ACK and tunes the delayed-ACK engine.
void tcp_event_data_recv(sock* sk, uint32_t len) {
    tcp_sock* tp = tcp_sk(sk);
    const nsec_t now = sk->sk_net->now();
    tp->icsk_ack.pending |= ICSK_ACK_SCHED;
    tcp_measure_rcv_mss(tp, len);
    if (tp->icsk_ack.ato == 0) {
        // The first data: start in quick-ACK mode (Linux).
        tcp_enter_quickack_mode(sk, TCP_MAX_QUICKACKS);
        tp->icsk_ack.ato = sk->sk_net->sysctl().ato_min;
    }
    tp->icsk_ack.lrcvtime = now;
}

// Recomputes the SACK blocks we report from the out-of-order queue: the
// block holding the latest segment first, then those reported before, most
// recent first (RFC 2018 §4 SHOULD; Linux's tcp_sack_new_ofo_skb order, so
// the oldest block is the one that falls off when more than fit).
void tcp_update_sack_blocks(tcp_sock* tp, seq32 latest) {
    wire::sack_block prev[4];
    const unsigned nprev = std::min<unsigned>(tp->num_sacks, 4);
    for (unsigned i = 0; i < nprev; ++i) {
        prev[i] = tp->selective_acks[i];
    }
    tp->num_sacks = 0;
    if (!tp->rx_opt.sack_ok) {
        return;
    }
    wire::sack_block blocks[32];
    unsigned n = 0;
    for (pbuf* p = tp->out_of_order_queue.front(); p; p = p->next) {
        tcp_skb_cb* cb = TCP_SKB_CB(p);
        if (n > 0 && !after(cb->seq, blocks[n - 1].end)) {
            blocks[n - 1].end = wire::seq_max(blocks[n - 1].end, cb->end_seq);
        } else if (n < 32) {
            blocks[n++] = {cb->seq, cb->end_seq};
        }
    }
    unsigned first = 0;
    for (unsigned i = 0; i < n; ++i) {
        if (!before(latest, blocks[i].start) && before(latest, blocks[i].end)) {
            first = i;
        }
    }
    if (n == 0) {
        return;
    }
    bool used[32] = {};
    used[first] = true;
    tp->selective_acks[tp->num_sacks++] = blocks[first];
    for (unsigned j = 0; j < nprev && tp->num_sacks < 4; ++j) {
        for (unsigned i = 0; i < n; ++i) {
            if (!used[i] && !before(prev[j].start, blocks[i].start) && !after(prev[j].end, blocks[i].end)) {
                used[i] = true;
                tp->selective_acks[tp->num_sacks++] = blocks[i];
                break;
            }
        }
    }
    for (unsigned i = 0; i < n && tp->num_sacks < 4; ++i) {
        if (!used[i]) {
            tp->selective_acks[tp->num_sacks++] = blocks[i];
        }
    }
}

// Frees receive memory held by the out-of-order queue (tcp_prune_ofo_queue).
void tcp_prune_ofo_queue(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    while (!tp->out_of_order_queue.empty()) {
        pbuf_ptr p = tp->out_of_order_queue.pop_front();
        sk->sk_rmem_alloc -= int(p->truesize);
        ++sk->sk_net->counters().tcp_ofo_drops;
    }
    tp->num_sacks = 0;
}

// Copies small segments of the receive queue into full buffers, so their
// truesize overhead stops eating the window (tcp_collapse).
void tcp_collapse_receive_queue(sock* sk) {
    stack& net = *sk->sk_net;
    pbuf_queue& q = sk->sk_receive_queue;
    const uint32_t room = net.pool().buf_size();
    pbuf_queue out;
    int new_rmem = 0;
    pbuf* cur = nullptr;
    while (!q.empty()) {
        pbuf_ptr p = q.pop_front();
        uint32_t off = 0;
        while (off < p->len) {
            if (!cur || cur->tailroom() == 0) {
                pbuf* n = net.pool().alloc(0, room);
                if (!n) {
                    // No memory to collapse into: keep the rest as it was.
                    if (off > 0) {
                        p->adj(off);
                    }
                    new_rmem += int(p->truesize);
                    out.push_back(std::move(p));
                    while (!q.empty()) {
                        pbuf_ptr r = q.pop_front();
                        new_rmem += int(r->truesize);
                        out.push_back(std::move(r));
                    }
                    goto done;
                }
                out.push_back(pbuf_ptr(n));
                cur = n;
                new_rmem += int(n->truesize);
            }
            const uint32_t chunk = std::min(p->len - off, cur->tailroom());
            std::memcpy(cur->append(chunk), p->data + off, chunk);
            off += chunk;
        }
    }
done:
    while (!out.empty()) {
        q.push_back(out.pop_front());
    }
    (void)new_rmem;  // the caller recounts receive memory
    ++net.counters().tcp_rcv_collapsed;
}

int ofo_rmem(const tcp_sock* tp) {
    int m = 0;
    for (pbuf* p = tp->out_of_order_queue.front(); p; p = p->next) {
        m += int(p->truesize);
    }
    return m;
}

// Can we take `size` more bytes of receive memory? Under pressure, collapse
// and then drop the out-of-order queue before refusing (tcp_try_rmem_schedule).
bool tcp_try_rmem_schedule(sock* sk, uint32_t size) {
    tcp_sock* tp = tcp_sk(sk);
    // The pool share bounds what a socket holds, not only the window: a
    // reader that never reads cannot take more than its share.
    const int limit = tcp_rcvbuf_limit(sk);
    if (sk->sk_rmem_alloc + int(size) <= limit && !sk->sk_net->under_memory_pressure()) {
        return true;
    }
    if (sk->sk_receive_queue.size() > 1) {
        const int ofo = ofo_rmem(tp);
        tcp_collapse_receive_queue(sk);
        sk->sk_rmem_alloc = ofo;
        for (pbuf* p = sk->sk_receive_queue.front(); p; p = p->next) {
            sk->sk_rmem_alloc += int(p->truesize);
        }
    }
    if (sk->sk_rmem_alloc + int(size) <= limit && sk->sk_net->pool().available() > 0) {
        return true;
    }
    if (!tp->out_of_order_queue.empty()) {
        tcp_prune_ofo_queue(sk);
    }
    ++sk->sk_net->counters().tcp_rcv_pruned;
    return sk->sk_rmem_alloc + int(size) <= limit && sk->sk_net->pool().available() > 0;
}

void tcp_queue_rcv(sock* sk, pbuf_ptr skb) {
    tcp_sock* tp = tcp_sk(sk);
    tcp_skb_cb* cb = TCP_SKB_CB(skb.get());
    tp->rcv_nxt = cb->end_seq;
    if (skb->len > 0) {
        tp->bytes_received += skb->len;
        sk->sk_rmem_alloc += int(skb->truesize);
        sk->sk_receive_queue.push_back(std::move(skb));
    }
}

// Moves segments that became in-order from the out-of-order queue
// (tcp_ofo_queue). Returns true when a FIN was among them.
bool tcp_ofo_queue(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    bool fin = false;
    while (pbuf* p = tp->out_of_order_queue.front()) {
        tcp_skb_cb* cb = TCP_SKB_CB(p);
        if (after(cb->seq, tp->rcv_nxt)) {
            break;
        }
        pbuf_ptr skb = tp->out_of_order_queue.pop_front();
        sk->sk_rmem_alloc -= int(skb->truesize);
        if (!after(cb->end_seq, tp->rcv_nxt)) {
            ++sk->sk_net->counters().tcp_dup_segs;
            continue;  // wholly duplicate
        }
        const uint32_t overlap = uint32_t(tp->rcv_nxt - cb->seq);
        if (overlap > 0) {
            skb->adj(std::min(overlap, skb->len));
            cb->seq = tp->rcv_nxt;
        }
        if (cb->tcp_flags & TCPF_FIN) {
            fin = true;
        }
        tcp_queue_rcv(sk, std::move(skb));
        if (fin) {
            break;
        }
    }
    return fin;
}

// Out-of-order segment: insert in sequence order, trimming overlaps, bounded
// in count (tcp_data_queue_ofo).
void tcp_data_queue_ofo(sock* sk, pbuf_ptr skb) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    tcp_skb_cb* cb = TCP_SKB_CB(skb.get());
    tcp_ecn_check_ce(sk, cb->ip_dsfield);
    tcp_enter_quickack_mode(sk, TCP_MAX_QUICKACKS);
    tp->icsk_ack.pending |= ICSK_ACK_SCHED;  // RFC 5681 §4.2: ACK out-of-order data at once
    if (tp->out_of_order_queue.size() >= net.sysctl().ofo_max_segs ||
        !tcp_try_rmem_schedule(sk, skb->truesize)) {
        ++net.counters().tcp_ofo_drops;
        net.drop(drop_reason::tcp_ofo);
        return;
    }
    ++tp->rcv_ooopack;
    ++net.counters().tcp_ofo_queued;
    const seq32 latest = cb->seq;
    pbuf_queue& q = tp->out_of_order_queue;
    // Find the last segment starting at or before ours.
    pbuf* prev = nullptr;
    for (pbuf* p = q.front(); p && !after(TCP_SKB_CB(p)->seq, cb->seq); p = p->next) {
        prev = p;
    }
    if (prev) {
        tcp_skb_cb* pcb = TCP_SKB_CB(prev);
        if (!before(pcb->end_seq, cb->end_seq)) {
            ++net.counters().tcp_dup_segs;  // wholly inside an earlier segment
            tcp_dsack_set(tp, cb->seq, cb->end_seq);  // RFC 2883 §4.1.2
            tcp_update_sack_blocks(tp, latest);
            return;
        }
        if (after(pcb->end_seq, cb->seq)) {
            const uint32_t overlap = uint32_t(pcb->end_seq - cb->seq);
            skb->adj(std::min(overlap, skb->len));
            cb->seq = pcb->end_seq;
        }
    }
    // Later segments wholly covered by ours go; a partly covered one trims us.
    while (pbuf* next = prev ? prev->next : q.front()) {
        tcp_skb_cb* ncb = TCP_SKB_CB(next);
        if (!after(cb->end_seq, ncb->seq)) {
            break;
        }
        if (before(cb->end_seq, ncb->end_seq)) {
            const uint32_t keep = uint32_t(ncb->seq - cb->seq);
            skb->trim(keep);
            cb->end_seq = ncb->seq;
            cb->tcp_flags &= uint8_t(~TCPF_FIN);
            break;
        }
        pbuf_ptr gone = q.unlink_after(prev);
        sk->sk_rmem_alloc -= int(gone->truesize);
        ++net.counters().tcp_dup_segs;
    }
    sk->sk_rmem_alloc += int(skb->truesize);
    q.insert_after(prev, std::move(skb));
    tcp_update_sack_blocks(tp, latest);
}

// Sends the ACK now or later (__tcp_ack_snd_check): at once for more than
// one full segment of new data (RFC 5681 §4.2 "at least every second
// full-sized segment"), in quick-ACK mode, or with out-of-order data.
void tcp_ack_snd_check(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    if (!(tp->icsk_ack.pending & ICSK_ACK_SCHED)) {
        return;
    }
    const uint32_t rcv_mss = std::max<uint32_t>(tp->icsk_ack.rcv_mss, 1);
    if ((uint32_t(tp->rcv_nxt - tp->rcv_wup) > rcv_mss && tcp_space(sk) >= tp->rcv_wnd / 2) ||
        tcp_in_quickack_mode(tp) || !tp->out_of_order_queue.empty() || (tp->icsk_ack.pending & ICSK_ACK_NOW)) {
        if (tcp_in_quickack_mode(tp)) {
            ++sk->sk_net->counters().tcp_quick_acks;
        }
        tcp_send_ack(sk);
        return;
    }
    tcp_send_delayed_ack(sk);
}

void tcp_data_queue(sock* sk, pbuf_ptr skb) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    tcp_skb_cb* cb = TCP_SKB_CB(skb.get());
    if (cb->seq == cb->end_seq) {
        return;  // nothing to queue (pure ACK)
    }
    ++tp->data_segs_in;
    const bool fin_only = skb->len == 0 && (cb->tcp_flags & TCPF_FIN);
    if (cb->seq == tp->rcv_nxt) {
        if (tcp_receive_window(tp) == 0 && !fin_only) {
            // Zero window: drop, but tell the sender where we are.
            net.drop(drop_reason::tcp_out_of_window);
            tcp_enter_quickack_mode(sk, TCP_MAX_QUICKACKS);
            tp->icsk_ack.pending |= ICSK_ACK_SCHED;
            return;
        }
queue_and_out:
        if (skb->len > 0 && !tcp_try_rmem_schedule(sk, skb->truesize)) {
            net.drop(drop_reason::tcp_rmem);
            tp->icsk_ack.pending |= ICSK_ACK_SCHED;
            return;
        }
        const uint32_t len = skb->len;
        const bool fin = (cb->tcp_flags & TCPF_FIN) != 0;
        const uint8_t dsfield = cb->ip_dsfield;
        tcp_queue_rcv(sk, std::move(skb));
        if (len > 0) {
            tcp_event_data_recv(sk, len);
            tcp_ecn_check_ce(sk, dsfield);
        }
        bool ofo_fin = false;
        if (!tp->out_of_order_queue.empty()) {
            ofo_fin = tcp_ofo_queue(sk);
            if (tp->out_of_order_queue.empty()) {
                tp->icsk_ack.pingpong = false;
            }
            tcp_update_sack_blocks(tp, tp->rcv_nxt);
            tp->icsk_ack.pending |= ICSK_ACK_SCHED;
        }
        if (fin || ofo_fin) {
            tcp_fin(sk);
        }
        if (!sk->sock_is_dead()) {
            sk_data_ready(sk);
        }
        return;
    }
    if (!after(cb->end_seq, tp->rcv_nxt)) {
        // A retransmission of what we have: ACK at once (RFC 9293 §3.10.7.4),
        // reporting the duplicate as a D-SACK block (RFC 2883 §4.1.1).
        ++net.counters().tcp_dup_segs;
        tcp_dsack_set(tp, cb->seq, cb->end_seq);
        tcp_enter_quickack_mode(sk, TCP_MAX_QUICKACKS);
        tp->icsk_ack.pending |= ICSK_ACK_SCHED;
        return;
    }
    if (!before(cb->seq, tp->rcv_nxt + tcp_receive_window(tp))) {
        net.drop(drop_reason::tcp_out_of_window);
        tcp_enter_quickack_mode(sk, TCP_MAX_QUICKACKS);
        tp->icsk_ack.pending |= ICSK_ACK_SCHED;
        return;
    }
    if (before(cb->seq, tp->rcv_nxt)) {
        // Partly new: keep the part after rcv_nxt; D-SACK the old part
        // (RFC 2883 §4.1.1).
        tcp_dsack_set(tp, cb->seq, tp->rcv_nxt);
        const uint32_t overlap = uint32_t(tp->rcv_nxt - cb->seq);
        skb->adj(std::min(overlap, skb->len));
        cb->seq = tp->rcv_nxt;
        if (tcp_receive_window(tp) == 0) {
            net.drop(drop_reason::tcp_out_of_window);
            tp->icsk_ack.pending |= ICSK_ACK_SCHED;
            return;
        }
        goto queue_and_out;
    }
    tcp_data_queue_ofo(sk, std::move(skb));
}

// ------------------------------------------------------- validation

// RFC 9293 §3.10.7.4 first check, in the kernel's form (tcp_sequence).
bool tcp_sequence(const tcp_sock* tp, seq32 seq, seq32 end_seq) {
    return !before(end_seq, tp->rcv_wup) && !after(seq, tp->rcv_nxt + tcp_receive_window(tp));
}

// PAWS (RFC 7323 §5): a segment whose TSval is older than ts_recent is a
// stale duplicate, unless ts_recent itself is older than 24 days.
bool tcp_paws_discard(const tcp_sock* tp, const wire::tcp_repr& th) {
    if (!tp->rx_opt.saw_tstamp || tp->rx_opt.ts_recent_stamp == 0 || (th.flags & TCPF_RST)) {
        return false;
    }
    // Linux tolerates one tick of disorder here (TCP_PAWS_WINDOW in
    // tcp_paws_discard); the rfc profile keeps RFC 7323 §5.3 R1 strict.
    const int32_t paws_win = tp->sk_net->config().profile == tcp_profile::linux ? 1 : 0;
    if (int32_t(tp->rx_opt.ts_recent - tp->rx_opt.rcv_tsval) <= paws_win) {
        return false;
    }
    const nsec_t age = tp->sk_net->now() - tp->rx_opt.ts_recent_stamp;
    return age < nsec_t(24) * 24 * 3600 * NSEC_PER_SEC;
}

void tcp_send_dupack(sock* sk) {
    tcp_enter_quickack_mode(sk, TCP_MAX_QUICKACKS);
    if (!tcp_oow_rate_limited(sk)) {
        tcp_send_ack(sk);
    }
}

// Steps 1-4 of RFC 9293 §3.10.7.4 for synchronized states, with RFC 5961.
// Returns false when the segment was handled (dropped) here.
bool tcp_validate_incoming(sock* sk, const pbuf* skb, const wire::tcp_repr& th) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    const tcp_skb_cb* cb = const_cast<pbuf*>(skb)->cb_as<tcp_skb_cb>();
    if (tcp_paws_discard(tp, th)) {
        net.drop(drop_reason::tcp_out_of_window);
        tcp_send_dupack(sk);
        return false;
    }
    if (!tcp_sequence(tp, cb->seq, cb->end_seq)) {
        net.drop(drop_reason::tcp_out_of_window);
        if (!(th.flags & TCPF_RST)) {
            if (th.flags & TCPF_SYN) {
                tcp_send_challenge_ack(sk);  // RFC 5961 §4.2
            } else {
                tcp_send_dupack(sk);
            }
        }
        return false;
    }
    if (th.flags & TCPF_RST) {
        // RFC 5961 §3.2: reset only on an exact match, challenge otherwise.
        net.drop(drop_reason::tcp_rst);
        if (cb->seq == tp->rcv_nxt) {
            tcp_reset(sk);
        } else {
            tcp_send_challenge_ack(sk);
        }
        return false;
    }
    // RFC 7323 §4.3: remember the peer's timestamp to echo.
    if (tp->rx_opt.saw_tstamp && !after(cb->seq, tp->rcv_wup) &&
        int32_t(tp->rx_opt.rcv_tsval - tp->rx_opt.ts_recent) >= 0) {
        tp->rx_opt.ts_recent = tp->rx_opt.rcv_tsval;
        tp->rx_opt.ts_recent_stamp = net.now();
    }
    if (th.flags & TCPF_SYN) {
        // Simultaneous open: the peer's SYN-ACK answering our SYN while we
        // are in SYN_RECV is the handshake's last step (as Linux lets it pass).
        if (sk->sk_state == TCP_SYN_RECV && !tp->icsk_parent && (th.flags & TCPF_ACK) &&
            cb->seq + 1 == tp->rcv_nxt && th.ack == tp->snd_nxt) {
            return true;
        }
        if (sk->sk_state == TCP_SYN_RECV && cb->seq == tp->irs && !(th.flags & TCPF_ACK)) {
            // Our SYN-ACK was lost: the peer repeats its SYN.
            pbuf* head = sk->sk_write_queue.front();
            if (head && (TCP_SKB_CB(head)->tcp_flags & TCPF_SYN)) {
                (void)tcp_retransmit_skb(sk, head);
            }
            return false;
        }
        // RFC 5961 §4.2: a SYN in a synchronized state gets a challenge ACK.
        net.drop(drop_reason::tcp_bad_flags);
        tcp_send_challenge_ack(sk);
        return false;
    }
    return true;
}

// ------------------------------------------------------------- SYN_SENT

void tcp_finish_connect(sock* sk) {
    tcp_set_state(sk, TCP_ESTABLISHED);
    tcp_init_transfer(sk);
    if (!sk->sock_is_dead()) {
        sk_state_change(sk);
    }
}

void tcp_rcv_synsent_state_process(sock* sk, pbuf_ptr skb, const wire::tcp_repr& th) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    tcp_skb_cb* cb = TCP_SKB_CB(skb.get());
    if (th.flags & TCPF_ACK) {
        // RFC 9293 §3.10.7.3 first check.
        if (!after(th.ack, tp->iss) || after(th.ack, tp->snd_nxt)) {
            net.drop(drop_reason::tcp_old_ack);
            if (!(th.flags & TCPF_RST)) {
                tcp_v4_send_reset(net, tp->inet_daddr, tp->inet_saddr, th, skb->len);
            }
            return;
        }
        if (th.flags & TCPF_RST) {
            tcp_reset(sk);  // ECONNREFUSED
            return;
        }
        if (!(th.flags & TCPF_SYN)) {
            net.drop(drop_reason::tcp_bad_flags);
            return;
        }
        // SYN-ACK: the connection is open.
        tcp_negotiate_syn_options(tp, th);
        tcp_ecn_rcv_synack(tp, th.flags);
        tcp_parse_options_into(tp, th);
        tp->irs = th.seq;
        tp->rcv_nxt = th.seq + 1;
        tp->rcv_wup = tp->rcv_nxt;
        tp->copied_seq = tp->rcv_nxt;
        tp->snd_wnd = th.window;  // not scaled in a SYN
        tp->max_window = tp->snd_wnd;
        tp->snd_wl1 = th.seq;
        tp->snd_wl2 = th.ack;
        tp->snd_una = th.ack;
        unsigned flag = 0;
        (void)tcp_clean_rtx_queue(sk, &flag, nullptr);
        // The SYN is acknowledged: stop its retransmission timer (RFC 6298
        // (5.2)), so the first data gets a fresh RTO.
        tcp_rearm_rto(sk);
        tcp_sync_mss(sk, tp->icsk_pmtu_cookie);
        tcp_finish_connect(sk);
        // Data in the SYN-ACK (rare): it starts after the SYN.
        cb->seq = cb->seq + 1;
        if (skb->len > 0 || (th.flags & TCPF_FIN)) {
            tcp_data_queue(sk, std::move(skb));
        }
        if (sk->sk_state == TCP_CLOSE) {
            return;
        }
        tcp_send_ack(sk);
        tcp_push_pending_frames(sk);
        return;
    }
    if (th.flags & TCPF_RST) {
        net.drop(drop_reason::tcp_rst);
        return;
    }
    if (th.flags & TCPF_SYN) {
        // Simultaneous open (RFC 9293 §3.5, Figure 8): SYN_RECV, send SYN-ACK.
        tcp_negotiate_syn_options(tp, th);
        tcp_parse_options_into(tp, th);
        tcp_set_state(sk, TCP_SYN_RECV);
        tp->irs = th.seq;
        tp->rcv_nxt = th.seq + 1;
        tp->rcv_wup = tp->rcv_nxt;
        tp->copied_seq = tp->rcv_nxt;
        tp->snd_wnd = th.window;
        tp->max_window = tp->snd_wnd;
        tp->snd_wl1 = th.seq;
        tcp_sync_mss(sk, tp->icsk_pmtu_cookie);
        tcp_ecn_rcv_syn(tp, th.flags);
        pbuf* syn = sk->sk_write_queue.front();
        if (syn) {
            TCP_SKB_CB(syn)->tcp_flags = tcp_ecn_synack_flags(tp, TCP_SKB_CB(syn)->tcp_flags);
            (void)tcp_retransmit_skb(sk, syn);  // now sent as SYN-ACK
        }
        return;
    }
    net.drop(drop_reason::tcp_bad_flags);
}

}  // namespace

void tcp_init_transfer(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    if (tp->srtt_us == 0 && tp->total_retrans > 0) {
        // RFC 6298 (5.7): the SYN was retransmitted, start data at 3 s.
        tp->icsk_rto = std::max<nsec_t>(3 * NSEC_PER_SEC, net.sysctl().rto_min);
    }
    tp->snd_cwnd = tcp_init_cwnd(tp);
    tp->snd_ssthresh = 0x7fffffff;
    tp->snd_cwnd_cnt = 0;
    tp->retrans_stamp = 0;
    tp->icsk_retransmits = 0;
    tp->icsk_backoff = 0;
    tp->rcv_tstamp = net.now();
    tp->icsk_ack.lrcvtime = net.now();
    tcp_init_congestion_control(sk);
    if (!tcp_ca_controls_cwnd(tp)) {
        tcp_update_pacing_rate(sk);
    }
    tcp_sndbuf_expand(sk);
    tp->rcvq_space = std::min<uint32_t>(tp->rcv_wnd, 10 * uint32_t(tp->advmss));  // tcp_init_buffer_space
    tp->rcvq_seq = tp->copied_seq;
    tp->rcvq_time = net.now();
    if (sk->sock_flag(SOCK_KEEPOPEN)) {
        tcp_reset_keepalive_timer(sk, keepalive_time_when(tp));
    }
}

void tcp_fin(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    tp->icsk_ack.pending |= ICSK_ACK_SCHED;
    sk->sk_shutdown |= RCV_SHUTDOWN;
    sk->sock_set_flag(SOCK_DONE);
    switch (sk->sk_state) {
    case TCP_SYN_RECV:
    case TCP_ESTABLISHED:
        tcp_set_state(sk, TCP_CLOSE_WAIT);
        tp->icsk_ack.pingpong = true;
        tcp_send_ack(sk);
        break;
    case TCP_CLOSE_WAIT:
    case TCP_CLOSING:
    case TCP_LAST_ACK:
        break;  // a retransmitted FIN
    case TCP_FIN_WAIT1:
        // Simultaneous close (RFC 9293 §3.6, Figure 13).
        tcp_send_ack(sk);
        tcp_set_state(sk, TCP_CLOSING);
        break;
    case TCP_FIN_WAIT2:
        tcp_send_ack(sk);
        tcp_time_wait(sk, TCP_TIME_WAIT, 0);
        break;
    default:
        break;
    }
    // Nothing after the FIN can be delivered.
    while (!tp->out_of_order_queue.empty()) {
        pbuf_ptr p = tp->out_of_order_queue.pop_front();
        sk->sk_rmem_alloc -= int(p->truesize);
    }
    tp->num_sacks = 0;
    if (!sk->sock_is_dead()) {
        sk_state_change(sk);
    }
}

void tcp_rcv_state_process(sock* sk, pbuf_ptr skb, const wire::tcp_repr& th) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    ++tp->segs_in;
    switch (sk->sk_state) {
    case TCP_CLOSE:
        net.drop(drop_reason::tcp_closed);
        return;
    case TCP_SYN_SENT:
        tcp_rcv_synsent_state_process(sk, std::move(skb), th);
        tcp_push_pending_frames(sk);
        return;
    default:
        break;
    }
    tcp_parse_options_into(tp, th);
    if (!tcp_validate_incoming(sk, skb.get(), th)) {
        return;
    }
    if (!(th.flags & TCPF_ACK)) {
        net.drop(drop_reason::tcp_bad_flags);  // RFC 9293: no ACK, drop
        return;
    }
    if (sk->sk_state == TCP_SYN_RECV) {
        // The ACK must cover our SYN exactly within what we sent.
        if (!after(th.ack, tp->snd_una) || after(th.ack, tp->snd_nxt)) {
            net.drop(drop_reason::tcp_old_ack);
            tcp_v4_send_reset(net, tp->inet_daddr, tp->inet_saddr, th, skb->len);
            return;
        }
        inet_connection_sock* parent = tp->icsk_parent;
        if (parent && parent->sk_ack_backlog > parent->sk_max_ack_backlog) {  // sk_acceptq_is_full
            // Accept queue full: ignore the ACK, our SYN-ACK will be
            // retransmitted and the peer's ACK with it (Linux, with
            // tcp_abort_on_overflow off).
            ++net.counters().tcp_listen_overflows;
            ++net.counters().tcp_listen_drops;
            net.drop(drop_reason::tcp_listen_overflow);
            return;
        }
    }
    const int acceptable = tcp_ack(sk, th, skb.get());
    if (acceptable < 0) {
        net.drop(drop_reason::tcp_old_ack);
        tcp_send_challenge_ack(sk);
        return;
    }
    const bool fin_acked = tp->snd_una == tp->write_seq && !tp->send_head;
    switch (sk->sk_state) {
    case TCP_SYN_RECV:
        tp->snd_wnd = uint32_t(th.window) << tp->rx_opt.snd_wscale;
        tp->max_window = std::max(tp->max_window, tp->snd_wnd);
        tp->snd_wl1 = th.seq;
        tp->snd_wl2 = th.ack;
        tcp_set_state(sk, TCP_ESTABLISHED);
        tcp_init_transfer(sk);
        if (tp->icsk_parent) {
            inet_csk_child_established(sk);
        } else if (!sk->sock_is_dead()) {
            sk_state_change(sk);  // simultaneous open completes
        }
        break;
    case TCP_FIN_WAIT1:
        if (fin_acked) {
            tcp_set_state(sk, TCP_FIN_WAIT2);
            sk->sk_shutdown |= SEND_SHUTDOWN;
            if (!sk->sock_is_dead()) {
                sk_state_change(sk);
            } else {
                // Orphan: wait for the peer's FIN at most fin_timeout.
                const nsec_t tmo = tp->linger2 != 0 ? tp->linger2 : net.sysctl().fin_timeout;
                tcp_reset_keepalive_timer(sk, tmo);
            }
        }
        break;
    case TCP_CLOSING:
        if (fin_acked) {
            tcp_time_wait(sk, TCP_TIME_WAIT, 0);
            return;
        }
        break;
    case TCP_LAST_ACK:
        if (fin_acked) {
            tcp_done(sk);
            return;
        }
        break;
    default:
        break;
    }
    // Step 7: the segment text.
    const tcp_skb_cb* cb = TCP_SKB_CB(skb.get());
    switch (sk->sk_state) {
    case TCP_CLOSE_WAIT:
    case TCP_CLOSING:
    case TCP_LAST_ACK:
        if (!before(cb->seq, tp->rcv_nxt)) {
            break;  // after the peer's FIN: nothing more can come
        }
        [[fallthrough]];
    case TCP_FIN_WAIT1:
    case TCP_FIN_WAIT2:
        // RFC 1122 §4.2.2.13: new data for a socket closed for reading
        // resets the connection.
        if ((sk->sk_shutdown & RCV_SHUTDOWN) && sk->sock_is_dead() && skb->len > 0 &&
            after(cb->end_seq - ((cb->tcp_flags & TCPF_FIN) ? 1 : 0), tp->rcv_nxt)) {
            tcp_send_active_reset(sk);
            tcp_reset(sk);
            return;
        }
        [[fallthrough]];
    case TCP_ESTABLISHED:
        tcp_data_queue(sk, std::move(skb));
        break;
    default:
        break;
    }
    if (sk->sk_state == TCP_CLOSE || sk->sk_state == TCP_TIME_WAIT) {
        return;
    }
    tcp_push_pending_frames(sk);
    tcp_ack_snd_check(sk);
}

}  // namespace dshim
