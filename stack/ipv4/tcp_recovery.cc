// SACK-based loss recovery: the SACK scoreboard (RFC 2018 blocks received,
// D-SACK of RFC 2883 recognised), loss detection by RACK (RFC 8985 §6) or by
// the DupThresh rule (RFC 6675 IsLost), PRR for cwnd during recovery
// (RFC 6937), spurious-retransmission undo (Eifel RFC 3522 with timestamps,
// D-SACK RFC 3708) and the tail loss probe (RFC 8985 §7).
// Kernel counterparts: tcp_input.c (tcp_sacktag_write_queue,
// tcp_fastretrans_alert, tcp_cwnd_reduction, tcp_try_undo_*), tcp_recovery.c.
#include <algorithm>

#include "core/stack.hh"
#include "ipv4/tcp.hh"
#include "ipv4/tcp_ecn.hh"

namespace dshim {

using wire::after;
using wire::before;

namespace {

// Was segment 1 (t1, seq1) sent after segment 2 (t2, seq2)? Equal times are
// ordered by sequence (RFC 8985 §6.2 RACK_sent_after).
bool rack_sent_after(nsec_t t1, nsec_t t2, seq32 seq1, seq32 seq2) {
    return t1 > t2 || (t1 == t2 && after(seq1, seq2));
}

void tcp_mark_skb_lost(sock* sk, pbuf* skb) {
    tcp_sock* tp = tcp_sk(sk);
    tcp_skb_cb* cb = TCP_SKB_CB(skb);
    if (cb->sacked & TCPCB_RETRANS) {
        // The retransmission itself was lost.
        cb->sacked &= uint8_t(~TCPCB_RETRANS);
        --tp->retrans_out;
        ++sk->sk_net->counters().tcp_lost_retransmits;
    }
    if (!(cb->sacked & TCPCB_LOST)) {
        cb->sacked |= TCPCB_LOST;
        ++tp->lost_out;
        ++tp->lost;
    }
}

// RFC 8985 §6.2 step 4: the reordering window. Zero while no reordering was
// seen and DupThresh SACKed segments (or recovery) already prove loss, so
// RACK never waits longer than the classic rule would; otherwise a quarter
// of the minimum RTT, bounded by SRTT (Linux's tcp_rack_reo_wnd).
nsec_t tcp_rack_reo_wnd(const tcp_sock* tp) {
    if (!tp->rack.reord) {
        if (tp->icsk_ca_state >= TCP_CA_Recovery || tp->sacked_out >= tp->reordering) {
            return 0;
        }
    }
    const uint64_t wnd_us = std::min<uint64_t>(uint64_t(tp->rtt_min_us / 4) * tp->rack.reo_wnd_steps,
                                               tp->srtt_us >> 3);
    return nsec_t(wnd_us) * NSEC_PER_USEC;
}

}  // namespace

void tcp_rack_advance(tcp_sock* tp, uint8_t sacked, seq32 end_seq, nsec_t xmit_time) {
    if (xmit_time == 0) {
        return;
    }
    const nsec_t now = tp->sk_net->now();
    const uint32_t rtt_us = uint32_t((now - xmit_time) / NSEC_PER_USEC);
    // RFC 8985 §6.2 step 2: a retransmitted segment delivered faster than
    // the minimum RTT was probably the original's ACK: no information.
    if ((sacked & TCPCB_EVER_RETRANS) && rtt_us < tp->rtt_min_us) {
        return;
    }
    tp->rack.advanced = true;
    tp->rack.rtt_us = rtt_us;
    if (rack_sent_after(xmit_time, tp->rack.mstamp, end_seq, tp->rack.end_seq)) {
        tp->rack.mstamp = xmit_time;
        tp->rack.end_seq = end_seq;
    }
}

// RFC 8985 §6.2 step 5 (RACK_detect_loss): every segment sent before the
// most recently delivered one, and longer ago than RACK.rtt + reo_wnd, is
// lost. Returns the time until the next one would be (0 = none waits).
nsec_t tcp_rack_detect_loss(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    const nsec_t now = sk->sk_net->now();
    const nsec_t reo_wnd = tcp_rack_reo_wnd(tp);
    const nsec_t rack_rtt = nsec_t(tp->rack.rtt_us) * NSEC_PER_USEC;
    nsec_t reo_timeout = 0;
    for (pbuf* skb = sk->sk_write_queue.front(); skb && skb != tp->send_head; skb = skb->next) {
        tcp_skb_cb* cb = TCP_SKB_CB(skb);
        if (cb->sacked & TCPCB_SACKED) {
            continue;
        }
        if ((cb->sacked & (TCPCB_LOST | TCPCB_RETRANS)) == TCPCB_LOST) {
            continue;  // already waiting for its retransmission
        }
        if (cb->when == 0 || !rack_sent_after(tp->rack.mstamp, cb->when, tp->rack.end_seq, cb->end_seq)) {
            continue;
        }
        const nsec_t deadline = cb->when + rack_rtt + reo_wnd;
        if (deadline <= now) {
            tcp_mark_skb_lost(sk, skb);
        } else {
            reo_timeout = std::max(reo_timeout, deadline - now);
        }
    }
    return reo_timeout;
}

// RFC 6675 §4 IsLost: a hole with DupThresh SACKed segments above it is
// lost (segment-counting form, as Linux's tcp_mark_head_lost).
void tcp_sack_mark_lost(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    uint32_t sacked_above = tp->sacked_out;
    for (pbuf* skb = sk->sk_write_queue.front(); skb && skb != tp->send_head; skb = skb->next) {
        if (sacked_above < tp->reordering) {
            break;
        }
        tcp_skb_cb* cb = TCP_SKB_CB(skb);
        if (cb->sacked & TCPCB_SACKED) {
            --sacked_above;
            continue;
        }
        if (!(cb->sacked & (TCPCB_LOST | TCPCB_RETRANS))) {
            cb->sacked |= TCPCB_LOST;
            ++tp->lost_out;
            ++tp->lost;
        }
    }
}

void tcp_dsack_set(tcp_sock* tp, seq32 seq, seq32 end_seq) {
    if (!tp->rx_opt.sack_ok || !tp->sk_net->sysctl().dsack || !before(seq, end_seq)) {
        return;
    }
    tp->dsack = true;
    tp->duplicate_sack = {seq, end_seq};
}

tcp_sack_result tcp_sacktag_write_queue(sock* sk, const wire::tcp_repr& th, rate_sample* rs) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    tcp_sack_result res;
    const unsigned n = std::min<unsigned>(th.opt.num_sacks, 4);
    if (n == 0 || !tp->rx_opt.sack_ok) {
        return res;
    }
    wire::sack_block blocks[4];
    unsigned nb = 0;
    unsigned first = 0;
    // RFC 2883 §4: the first block is a D-SACK when it lies below the
    // cumulative ACK or inside the second block.
    const wire::sack_block& b0 = th.opt.sacks[0];
    if (before(b0.start, th.ack) ||
        (n > 1 && !before(b0.start, th.opt.sacks[1].start) && !after(b0.end, th.opt.sacks[1].end))) {
        if (before(b0.start, b0.end) && !after(b0.end, tp->snd_nxt)) {
            res.dsack = true;
            ++tp->dsack_dups;
            ++net.counters().tcp_dsack_rx;
            // Reordering or a spurious retransmission: widen RACK's window.
            tp->rack.reord = true;
            if (tp->rack.reo_wnd_steps < 8) {
                ++tp->rack.reo_wnd_steps;
            }
            // RFC 3708: each D-SACKed retransmission of this episode was
            // unnecessary; when none is left unexplained, undo.
            if (tp->undo_armed) {
                for (pbuf* skb = sk->sk_write_queue.front(); skb && skb != tp->send_head; skb = skb->next) {
                    tcp_skb_cb* cb = TCP_SKB_CB(skb);
                    if (!after(cb->end_seq, b0.start)) {
                        continue;
                    }
                    if (!before(cb->seq, b0.end)) {
                        break;
                    }
                    if ((cb->sacked & TCPCB_EVER_RETRANS) && !before(cb->seq, tp->undo_marker) &&
                        tp->undo_retrans > 0) {
                        --tp->undo_retrans;
                    }
                }
                // A D-SACK below snd_una for data already gone from the
                // queue also explains one retransmission.
                if (!before(b0.start, tp->undo_marker) && !after(b0.end, tp->snd_una) &&
                    tp->undo_retrans > 0) {
                    --tp->undo_retrans;
                }
            }
        }
        first = 1;
    }
    for (unsigned i = first; i < n; ++i) {
        const wire::sack_block& b = th.opt.sacks[i];
        // tcp_is_sackblock_valid: inside [snd_una, snd_nxt], non-empty.
        if (!before(b.start, b.end) || after(b.end, tp->snd_nxt) || before(b.start, tp->snd_una)) {
            continue;
        }
        blocks[nb++] = b;
    }
    if (nb == 0) {
        return res;
    }
    for (unsigned i = 1; i < nb; ++i) {  // at most 4: insertion sort by start
        for (unsigned j = i; j > 0 && before(blocks[j].start, blocks[j - 1].start); --j) {
            std::swap(blocks[j], blocks[j - 1]);
        }
    }
    seq32 top = blocks[0].end;
    for (unsigned i = 1; i < nb; ++i) {
        top = wire::seq_max(top, blocks[i].end);
    }
    const bool had_sacks = tp->sacked_out != 0;
    const seq32 prior_highest = tp->highest_sack;
    unsigned bi = 0;
    for (pbuf* skb = sk->sk_write_queue.front(); skb && skb != tp->send_head; skb = skb->next) {
        tcp_skb_cb* cb = TCP_SKB_CB(skb);
        if (!before(cb->seq, top)) {
            break;
        }
        while (bi < nb && !after(blocks[bi].end, cb->seq)) {
            ++bi;
        }
        if (bi == nb) {
            break;
        }
        // Only whole segments are tagged (the peer's blocks follow our
        // segment boundaries; a partial cover waits for the rest).
        bool covered = false;
        for (unsigned j = bi; j < nb && !after(blocks[j].start, cb->seq); ++j) {
            if (!after(blocks[j].start, cb->seq) && !before(blocks[j].end, cb->end_seq)) {
                covered = true;
                break;
            }
        }
        if (!covered || (cb->sacked & TCPCB_SACKED)) {
            continue;
        }
        tcp_rate_skb_delivered(sk, skb, rs, true);
        if (cb->sacked & TCPCB_RETRANS) {
            cb->sacked &= uint8_t(~TCPCB_RETRANS);
            --tp->retrans_out;
        }
        if (cb->sacked & TCPCB_LOST) {
            cb->sacked &= uint8_t(~TCPCB_LOST);
            --tp->lost_out;
        }
        // Reordering (tcp_check_sack_reordering): an original segment below
        // one SACKed earlier arrived late.
        if (had_sacks && !(cb->sacked & TCPCB_EVER_RETRANS) && before(cb->end_seq, prior_highest)) {
            tp->rack.reord = true;
        }
        cb->sacked |= TCPCB_SACKED;
        ++tp->sacked_out;
        ++tp->delivered;
        ++res.newly_sacked;
        tcp_rack_advance(tp, cb->sacked, cb->end_seq, cb->when);
        if (tp->sacked_out == 1 || after(cb->end_seq, tp->highest_sack)) {
            tp->highest_sack = cb->end_seq;
        }
    }
    return res;
}

// ------------------------------------------------------------- undo

namespace {

// Eifel (RFC 3522) as Linux's tcp_packet_delayed: the ACK echoes a
// timestamp older than our first retransmission, so the original arrived.
bool tcp_packet_delayed(const tcp_sock* tp) {
    return tp->undo_tsval != 0 && tp->rx_opt.saw_tstamp && tp->rx_opt.rcv_tsecr != 0 &&
           int32_t(tp->rx_opt.rcv_tsecr - tp->undo_tsval) < 0;
}

bool tcp_may_undo(const tcp_sock* tp) {
    return tp->undo_armed && (tp->undo_retrans == 0 || tcp_packet_delayed(tp));
}

void tcp_set_ca_state(sock* sk, uint8_t state) {
    tcp_sock* tp = tcp_sk(sk);
    if (tp->icsk_ca_ops && tp->icsk_ca_ops->set_state) {
        tp->icsk_ca_ops->set_state(tp, state);
    }
    tp->icsk_ca_state = state;
}

// tcp_undo_cwnd_reduction: the loss was not real, restore the window.
void tcp_undo_cwnd_reduction(sock* sk, bool unmark_loss) {
    tcp_sock* tp = tcp_sk(sk);
    if (unmark_loss) {
        for (pbuf* skb = sk->sk_write_queue.front(); skb && skb != tp->send_head; skb = skb->next) {
            TCP_SKB_CB(skb)->sacked &= uint8_t(~TCPCB_LOST);
        }
        tp->lost_out = 0;
    }
    if (tp->prior_ssthresh != 0) {
        tp->snd_cwnd = tp->icsk_ca_ops->undo_cwnd ? tp->icsk_ca_ops->undo_cwnd(tp)
                                                  : std::max(tp->snd_cwnd, tp->prior_cwnd);
        if (tp->prior_ssthresh > tp->snd_ssthresh) {
            tp->snd_ssthresh = tp->prior_ssthresh;
            tcp_ecn_withdraw_cwr(tp);
        }
    }
    tp->snd_cwnd_cnt = 0;
    tp->undo_armed = false;
    tp->undo_tsval = 0;
    tp->rack.reord = true;  // what looked like loss was reordering
    ++sk->sk_net->counters().tcp_spurious_undos;
}

}  // namespace

void tcp_init_undo(tcp_sock* tp) {
    tp->undo_marker = tp->snd_una;
    tp->undo_armed = true;
    tp->undo_retrans = tp->retrans_out;
    tp->undo_tsval = 0;
}

// ------------------------------------------------------------- PRR

// RFC 6937 §3: cwnd during recovery follows what the ACKs report
// delivered, so the reduction to ssthresh is spread over one round and
// never turns into a burst. Linux's tcp_cwnd_reduction (PRR-SSRB, with the
// conservative bound when the ACK reported new losses).
void tcp_cwnd_reduction(sock* sk, uint32_t newly_acked_sacked, bool newly_lost, bool snd_una_advanced,
                        bool fast_rexmit) {
    tcp_sock* tp = tcp_sk(sk);
    if ((newly_acked_sacked == 0 && !fast_rexmit) || tcp_ca_controls_cwnd(tp)) {
        return;
    }
    const int in_flight = int(tp->packets_in_flight());
    const int delta = int(tp->snd_ssthresh) - in_flight;
    tp->prr_delivered += newly_acked_sacked;
    int sndcnt;
    if (delta < 0) {
        // Proportional part: sndcnt = ceil(prr_delivered * ssthresh / RecoverFS) - prr_out.
        const uint64_t recover_fs = std::max<uint32_t>(tp->prior_cwnd, 1);
        const uint64_t dividend = uint64_t(tp->snd_ssthresh) * tp->prr_delivered + recover_fs - 1;
        sndcnt = int(dividend / recover_fs) - int(tp->prr_out);
    } else if (snd_una_advanced && !newly_lost) {
        // Slow-start reduction bound: back up towards ssthresh.
        sndcnt = std::min(delta, std::max(int(tp->prr_delivered) - int(tp->prr_out), int(newly_acked_sacked)) + 1);
    } else {
        sndcnt = std::min(delta, int(newly_acked_sacked));
    }
    sndcnt = std::max(sndcnt, fast_rexmit ? 1 : 0);
    tp->snd_cwnd = uint32_t(std::max(in_flight + sndcnt, 1));
}

namespace {

void tcp_end_cwnd_reduction(tcp_sock* tp) {
    if (tp->snd_ssthresh < 0x7fffffff && !tcp_ca_controls_cwnd(tp)) {
        tp->snd_cwnd = std::max<uint32_t>(tp->snd_ssthresh, 2);
        tp->snd_cwnd_cnt = 0;
    }
}

// RFC 6675 §5 step 4 / Linux tcp_enter_recovery for SACK connections.
void tcp_sack_enter_recovery(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    ++sk->sk_net->counters().tcp_fast_retrans;
    ++sk->sk_net->counters().tcp_sack_recovery;
    if (tp->icsk_ca_state < TCP_CA_CWR) {
        tcp_init_undo(tp);
        tp->prior_ssthresh = std::max(tp->snd_ssthresh, (tp->snd_cwnd >> 1) + (tp->snd_cwnd >> 2));
        tp->prior_cwnd = tp->snd_cwnd;
        tp->snd_ssthresh = tp->icsk_ca_ops->ssthresh(tp);
        tp->prr_delivered = 0;
        tp->prr_out = 0;
        tcp_ecn_queue_cwr(tp);
    } else if (tp->icsk_ca_state == TCP_CA_CWR) {
        tp->prior_ssthresh = 0;  // already reduced for ECN: keep that reduction
    }
    tp->high_seq = tp->snd_nxt;  // RecoveryPoint = HighData
    tcp_set_ca_state(sk, TCP_CA_Recovery);
}

void tcp_identify_packet_loss(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    if (sk->sk_net->sysctl().recovery_rack) {
        if (tp->rack.advanced) {
            tp->rack.advanced = false;
            const nsec_t t = tcp_rack_detect_loss(sk);
            tp->rack.reo_deadline = t != 0 ? sk->sk_net->now() + t : 0;
        }
    } else {
        tcp_sack_mark_lost(sk);
    }
}

}  // namespace

// The SACK half of tcp_fastretrans_alert: undo, recovery entry and exit,
// loss detection and the retransmissions the window allows.
void tcp_sack_fastretrans_alert(sock* sk, uint32_t delivered, bool snd_una_advanced, bool dsack) {
    tcp_sock* tp = tcp_sk(sk);
    if (tp->packets_out == 0) {
        tp->sacked_out = 0;
    }
    const uint32_t prior_lost = tp->lost_out;
    switch (tp->icsk_ca_state) {
    case TCP_CA_Recovery:
        if (dsack && tcp_may_undo(tp) && tp->undo_retrans == 0) {
            // Every retransmission D-SACKed: the recovery was spurious.
            tcp_undo_cwnd_reduction(sk, false);
            tcp_set_ca_state(sk, TCP_CA_Open);
            break;
        }
        if (!before(tp->snd_una, tp->high_seq)) {
            // Full ACK: recovery is over (RFC 6675 §5 step C / RFC 6937).
            // The undo state stays armed, so a late D-SACK can still prove
            // the episode spurious (Linux's tcp_try_undo_dsack in Open).
            if (tcp_may_undo(tp)) {
                tcp_undo_cwnd_reduction(sk, false);
            } else {
                tcp_end_cwnd_reduction(tp);
            }
            tcp_set_ca_state(sk, TCP_CA_Open);
            break;
        }
        tcp_identify_packet_loss(sk);
        tcp_cwnd_reduction(sk, delivered, tp->lost_out > prior_lost, snd_una_advanced, false);
        tcp_xmit_retransmit_queue(sk);
        return;
    case TCP_CA_Loss:
        if (snd_una_advanced && tcp_packet_delayed(tp) && tp->undo_armed) {
            // The RTO was spurious: the ACK echoes the original (Linux's
            // tcp_try_undo_loss with timestamps).
            tcp_undo_cwnd_reduction(sk, true);
            tcp_set_ca_state(sk, TCP_CA_Open);
            return;
        }
        if (!before(tp->snd_una, tp->high_seq)) {
            tp->undo_armed = false;
            tcp_set_ca_state(sk, TCP_CA_Open);
            break;
        }
        tcp_identify_packet_loss(sk);
        tcp_xmit_retransmit_queue(sk);
        return;
    case TCP_CA_CWR:
        // Held until something above high_seq is ACKed, so the ACK of the
        // CWR-carrying segment has arrived (Linux).
        if (after(tp->snd_una, tp->high_seq)) {
            tcp_end_cwnd_reduction(tp);
            tcp_set_ca_state(sk, TCP_CA_Open);
            break;
        }
        tcp_cwnd_reduction(sk, delivered, false, snd_una_advanced, false);
        break;
    default:
        if (dsack && tp->undo_armed && tp->undo_retrans == 0 && tp->prior_ssthresh != 0) {
            tcp_undo_cwnd_reduction(sk, false);  // a late D-SACK (RFC 3708)
        }
        break;
    }
    // Open, Disorder or CWR: look for loss.
    tcp_identify_packet_loss(sk);
    if (tp->lost_out > 0 || tp->sacked_out >= tp->reordering) {
        if (sk->sk_net->sysctl().recovery_rack == 0 || tp->lost_out > 0) {
            if (tp->lost_out == 0) {
                tcp_sack_mark_lost(sk);
            }
            if (tp->lost_out > 0) {
                tcp_sack_enter_recovery(sk);
                tcp_cwnd_reduction(sk, delivered, true, snd_una_advanced, true);
                tcp_xmit_retransmit_queue(sk);
                return;
            }
        }
    }
    if (tp->icsk_ca_state != TCP_CA_CWR) {
        tcp_set_ca_state(sk, tp->sacked_out || tp->retrans_out ? TCP_CA_Disorder : TCP_CA_Open);
    }
}

// RACK reordering timer expiry (tcp_rack_reo_timeout).
void tcp_rack_reo_timeout(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    ++sk->sk_net->counters().tcp_rack_reo_timeouts;
    const uint32_t prior_inflight = tp->packets_in_flight();
    const nsec_t t = tcp_rack_detect_loss(sk);
    tp->rack.reo_deadline = 0;
    if (prior_inflight != tp->packets_in_flight() && tp->lost_out > 0) {
        if (tp->icsk_ca_state < TCP_CA_Recovery) {
            tcp_sack_enter_recovery(sk);
            tcp_cwnd_reduction(sk, 0, true, false, true);
        }
        tcp_xmit_retransmit_queue(sk);
    }
    if (t != 0) {
        inet_csk_reset_xmit_timer(sk, ICSK_TIME_REO_TIMEOUT, t);
    } else {
        tcp_rearm_rto(sk);
    }
}

// ------------------------------------------------------------- TLP

// Arms the tail loss probe instead of the RTO when the connection is open
// and all it has in flight might be a lost tail (RFC 8985 §7.2,
// tcp_schedule_loss_probe). Returns false when the RTO should be armed.
bool tcp_schedule_loss_probe(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    if (!net.sysctl().tlp || !tp->rx_opt.sack_ok || tp->srtt_us == 0 || tp->packets_out == 0 ||
        (tp->icsk_ca_state != TCP_CA_Open && tp->icsk_ca_state != TCP_CA_CWR) ||
        ((1u << tp->sk_state) & (TCPF_SYN_SENT | TCPF_SYN_RECV)) || tp->tlp_high_seq.v != 0) {
        return false;
    }
    // Deviation from Linux: no probe while the peer's receive window holds
    // back queued data. The flight then ends at the window's edge, the
    // receiver (SWS avoidance) tends to delay its ACK past a small-RTT PTO,
    // and the probe could only resend the tail; the RTO and the persist
    // timer cover that case.
    if (tp->send_head && after(TCP_SKB_CB(tp->send_head)->end_seq, tp->snd_una + tp->snd_wnd)) {
        return false;
    }
    // PTO = 2*SRTT, plus the worst-case delayed ACK when one segment is out
    // (RFC 8985 §7.2), else plus 2 ms (Linux's TCP_TIMEOUT_MIN); never later
    // than the RTO.
    const nsec_t srtt = nsec_t(tp->srtt_us >> 3) * NSEC_PER_USEC;
    nsec_t pto = 2 * srtt + (tp->packets_out == 1 ? net.sysctl().rto_min : 2 * NSEC_PER_MSEC);
    pto = std::min(pto, inet_csk_rto_backoff(tp, net.sysctl().rto_max));
    inet_csk_reset_xmit_timer(sk, ICSK_TIME_LOSS_PROBE, pto);
    return true;
}

// The probe (tcp_send_loss_probe): one new segment if the peer's window
// allows (cwnd does not limit a probe), else the last segment again; then
// the RTO takes over.
void tcp_send_loss_probe(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    if (tp->packets_out == 0) {
        return;
    }
    bool sent = false;
    tp->tlp_retrans = false;
    if (tp->send_head) {
        const uint32_t before_out = tp->packets_out;
        const uint32_t cwnd = tp->snd_cwnd;
        tp->snd_cwnd = tp->packets_in_flight() + 1;
        tcp_write_xmit(sk, TCP_NAGLE_OFF | TCP_NAGLE_PUSH);
        tp->snd_cwnd = cwnd;
        sent = tp->packets_out != before_out;
    }
    if (!sent) {
        pbuf* last = nullptr;
        for (pbuf* skb = sk->sk_write_queue.front(); skb && skb != tp->send_head; skb = skb->next) {
            last = skb;
        }
        if (last && !(TCP_SKB_CB(last)->sacked & TCPCB_SACKED)) {
            sent = tcp_retransmit_skb(sk, last) == 0;
            tp->tlp_retrans = sent;
        }
    }
    if (sent) {
        tp->tlp_high_seq = tp->snd_nxt;
        if (tp->tlp_high_seq.v == 0) {
            tp->tlp_high_seq = seq32(1);  // 0 means "no probe out"
        }
        ++net.counters().tcp_loss_probes;
    }
    inet_csk_reset_xmit_timer(sk, ICSK_TIME_RETRANS, inet_csk_rto_backoff(tp, net.sysctl().rto_max));
}

void tcp_enter_cwr(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    tp->prior_ssthresh = 0;  // a congestion signal, never undone
    if (tp->icsk_ca_state < TCP_CA_CWR) {
        tp->undo_armed = false;
        tp->prior_cwnd = tp->snd_cwnd;
        tp->snd_ssthresh = tp->icsk_ca_ops->ssthresh(tp);
        tp->prr_delivered = 0;
        tp->prr_out = 0;
        tp->high_seq = tp->snd_nxt;
        tcp_ecn_queue_cwr(tp);
        tcp_set_ca_state(sk, TCP_CA_CWR);
    }
}

// An ACK at or beyond the probe ends the episode (tcp_process_tlp_ack,
// RFC 8985 §7.4.2): if the probe was a retransmission and the ACK goes past
// it without a D-SACK, it repaired a real loss, so cwnd is reduced once.
void tcp_process_tlp_ack(sock* sk, seq32 ack, bool dsack, bool snd_una_advanced, bool data_sacked) {
    tcp_sock* tp = tcp_sk(sk);
    if (tp->tlp_high_seq.v == 0 || before(ack, tp->tlp_high_seq)) {
        return;
    }
    if (!tp->tlp_retrans || dsack) {
        tp->tlp_high_seq = seq32(0);
    } else if (after(ack, tp->tlp_high_seq)) {
        tp->tlp_high_seq = seq32(0);
        tcp_enter_cwr(sk);
        tcp_end_cwnd_reduction(tp);
        tcp_set_ca_state(sk, TCP_CA_Open);
    } else if (!snd_una_advanced && !data_sacked) {
        tp->tlp_high_seq = seq32(0);  // a pure duplicate: both copies arrived
    }
}

}  // namespace dshim
