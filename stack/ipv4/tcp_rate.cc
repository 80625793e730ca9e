// Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation;
// kernel counterpart net/ipv4/tcp_rate.c): each ACK yields a rate sample,
// segments delivered over the longer of the span in which they were sent and
// the span in which their ACKs came back, so neither a send burst nor ACK
// compression inflates it. Samples taken while the application left the pipe
// partly empty are flagged app-limited: they may understate the path.
#include <algorithm>

#include "core/stack.hh"
#include "ipv4/tcp.hh"

namespace dshim {

namespace {

// Was (t1, seq1) sent after (t2, seq2)? Equal times are ordered by sequence.
bool sent_after(nsec_t t1, nsec_t t2, seq32 seq1, seq32 seq2) {
    return t1 > t2 || (t1 == t2 && wire::after(seq1, seq2));
}

}  // namespace

// A data segment goes out (first transmission or retransmission); called
// before packets_out counts it and before cb->when is stamped.
void tcp_rate_skb_sent(sock* sk, pbuf* skb) {
    tcp_sock* tp = tcp_sk(sk);
    tcp_skb_cb* cb = TCP_SKB_CB(skb);
    if (tp->packets_out == 0) {
        // The first segment of a flight after idle: the clocks start now, so
        // the idle time does not dilute the next sample.
        const nsec_t now = sk->sk_net->now();
        tp->first_tx_mstamp = now;
        tp->delivered_mstamp = now;
    }
    cb->tx_first_tx_mstamp = tp->first_tx_mstamp;
    cb->tx_delivered_mstamp = tp->delivered_mstamp;
    cb->tx_delivered = tp->delivered;
    if (tp->app_limited != 0) {
        cb->sacked |= TCPCB_APP_LIMITED;
    } else {
        cb->sacked &= uint8_t(~TCPCB_APP_LIMITED);
    }
}

// A segment newly delivered (cumulatively acknowledged or SACKed) by the ACK
// being processed; called before its TCPCB_RETRANS flag is cleared. The most
// recently sent of them sets the sample's start: its flight's delivered count
// and time. A SACKed segment is counted once: its cumulative ACK later does
// not count it again.
void tcp_rate_skb_delivered(sock* sk, pbuf* skb, rate_sample* rs, bool sacking) {
    tcp_sock* tp = tcp_sk(sk);
    tcp_skb_cb* cb = TCP_SKB_CB(skb);
    if (rs == nullptr || cb->tx_delivered_mstamp == 0) {
        return;
    }
    if (rs->prior_delivered == 0 || sent_after(cb->when, rs->last_tx, cb->end_seq, rs->last_end_seq)) {
        rs->prior_delivered = cb->tx_delivered;
        rs->prior_mstamp = cb->tx_delivered_mstamp;
        rs->is_app_limited = (cb->sacked & TCPCB_APP_LIMITED) != 0;
        rs->is_retrans = (cb->sacked & TCPCB_RETRANS) != 0;
        rs->last_tx = cb->when;
        rs->last_end_seq = cb->end_seq;
        // The send phase of this flight: from its first segment to this one.
        tp->first_tx_mstamp = cb->when;
        rs->interval_us = (cb->when - cb->tx_first_tx_mstamp) / NSEC_PER_USEC;
        if (!(cb->sacked & TCPCB_EVER_RETRANS)) {
            rs->rtt_us = (sk->sk_net->now() - cb->when) / NSEC_PER_USEC;
        }
    }
    if (sacking) {
        cb->tx_delivered_mstamp = 0;
    }
}

// After the ACK was processed: `delivered` segments newly acked or SACKed,
// `lost` newly marked lost. Fills rs->delivered and rs->interval_us, or marks
// the sample invalid (-1) when there is none or its interval is shorter than
// the minimum RTT (ACK compression: it would overstate the rate).
void tcp_rate_gen(sock* sk, uint32_t delivered, uint32_t lost, rate_sample* rs) {
    tcp_sock* tp = tcp_sk(sk);
    const nsec_t now = sk->sk_net->now();
    // The application-limited bubble has left the pipe once `delivered`
    // passed the mark.
    if (tp->app_limited != 0 && int32_t(tp->delivered - tp->app_limited) > 0) {
        tp->app_limited = 0;
    }
    if (delivered != 0) {
        tp->delivered_mstamp = now;
    }
    rs->acked_sacked = delivered;
    rs->losses = int32_t(lost);
    if (rs->prior_mstamp == 0) {
        rs->delivered = -1;
        rs->interval_us = -1;
        return;
    }
    rs->delivered = int32_t(tp->delivered - rs->prior_delivered);
    const int64_t snd_us = rs->interval_us;
    const int64_t ack_us = (now - rs->prior_mstamp) / NSEC_PER_USEC;
    rs->interval_us = std::max(snd_us, ack_us);
    if (rs->interval_us < int64_t(tp->rtt_min_us)) {
        rs->interval_us = -1;
        return;
    }
    // The best recent sample, for TCP_INFO's delivery rate: a sample that
    // is not app-limited, or one showing a higher rate anyway.
    if (!rs->is_app_limited ||
        uint64_t(rs->delivered) * tp->rate_interval_us >= uint64_t(tp->rate_delivered) * uint64_t(rs->interval_us)) {
        tp->rate_delivered = uint32_t(rs->delivered);
        tp->rate_interval_us = uint32_t(std::min<int64_t>(rs->interval_us, INT32_MAX));
        tp->rate_app_limited = rs->is_app_limited;
    }
}

// Before the application adds data (tcp_sendmsg): if the pipe is not full
// because there was nothing to send (less than a segment unsent, room in
// cwnd, every lost segment already retransmitted), samples until what is in
// flight now is delivered are app-limited.
void tcp_rate_check_app_limited(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    if (uint32_t(tp->write_seq - tp->snd_nxt) < tp->mss_cache && tp->packets_in_flight() < tp->snd_cwnd &&
        tp->lost_out <= tp->retrans_out) {
        const uint32_t mark = tp->delivered + tp->packets_in_flight();
        tp->app_limited = mark != 0 ? mark : 1;
    }
}

}  // namespace dshim
