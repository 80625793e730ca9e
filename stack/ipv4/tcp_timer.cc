// TCP timers: retransmission (RFC 6298 §5, backoff, R1/R2 of RFC 1122
// §4.2.3.5, SYN retries), zero-window probes (RFC 9293 §3.8.6.1), delayed
// ACK, keepalive (RFC 1122 §4.2.3.6) and the orphan FIN_WAIT2 timeout.
// Kernel counterpart: net/ipv4/tcp_timer.c.
#include <algorithm>
#include <cerrno>

#include "core/stack.hh"
#include "ipv4/arp.hh"
#include "ipv4/tcp.hh"
#include "ipv4/tcp_ecn.hh"

namespace dshim {

nsec_t inet_csk_rto_backoff(const inet_connection_sock* icsk, nsec_t max_when) {
    const unsigned shift = std::min<unsigned>(icsk->icsk_backoff, 30);
    const nsec_t rto = icsk->icsk_rto;
    if (rto > (max_when >> shift)) {
        return max_when;
    }
    return std::min(rto << shift, max_when);
}

void inet_csk_reset_xmit_timer(sock* sk, uint8_t what, nsec_t when) {
    inet_connection_sock* icsk = inet_csk(sk);
    stack& net = *sk->sk_net;
    when = std::min(when, net.sysctl().rto_max);
    icsk->icsk_pending = what;
    net.timers().mod_timer(&icsk->icsk_retransmit_timer, net.now() + when);
}

void inet_csk_clear_xmit_timer(sock* sk, uint8_t what) {
    inet_connection_sock* icsk = inet_csk(sk);
    if (icsk->icsk_pending == what) {
        icsk->icsk_pending = ICSK_TIME_NONE;
        sk->sk_net->timers().del_timer(&icsk->icsk_retransmit_timer);
    }
}

// RFC 6298 (5.1)/(5.2)/(5.3): restart the timer on new data acked, stop it
// when nothing is outstanding.
void tcp_rearm_rto(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    if (tp->packets_out == 0) {
        // Nothing in flight: no RTO, reordering timer or tail loss probe.
        inet_csk_clear_xmit_timer(sk, ICSK_TIME_RETRANS);
        inet_csk_clear_xmit_timer(sk, ICSK_TIME_REO_TIMEOUT);
        inet_csk_clear_xmit_timer(sk, ICSK_TIME_LOSS_PROBE);
        return;
    }
    inet_csk_reset_xmit_timer(sk, ICSK_TIME_RETRANS, inet_csk_rto_backoff(tp, sk->sk_net->sysctl().rto_max));
}

nsec_t keepalive_time_when(const tcp_sock* tp) {
    return tp->keepalive_time != 0 ? tp->keepalive_time : tp->sk_net->sysctl().keepalive_time;
}
nsec_t keepalive_intvl_when(const tcp_sock* tp) {
    return tp->keepalive_intvl != 0 ? tp->keepalive_intvl : tp->sk_net->sysctl().keepalive_intvl;
}
int keepalive_probes(const tcp_sock* tp) {
    return tp->keepalive_probes != 0 ? tp->keepalive_probes : tp->sk_net->sysctl().keepalive_probes;
}

void tcp_reset_keepalive_timer(sock* sk, nsec_t len) {
    inet_connection_sock* icsk = inet_csk(sk);
    sk->sk_net->timers().mod_timer(&icsk->sk_timer, sk->sk_net->now() + len);
}

void tcp_delete_keepalive_timer(sock* sk) { sk->sk_net->timers().del_timer(&inet_csk(sk)->sk_timer); }

void tcp_set_keepalive(sock* sk, bool on) {
    if ((1u << sk->sk_state) & (TCPF_CLOSE | TCPF_LISTEN)) {
        return;
    }
    if (on && !sk->sock_flag(SOCK_KEEPOPEN)) {
        tcp_reset_keepalive_timer(sk, keepalive_time_when(tcp_sk(sk)));
    } else if (!on) {
        tcp_delete_keepalive_timer(sk);
    }
}

namespace {

// Has the connection been retransmitting longer than `boundary` RTO
// doublings would take from rto_base? (the kernel's retransmits_timed_out:
// time-based, so R2 = 15 means about 924 s with a 200 ms base).
bool retransmits_timed_out(sock* sk, unsigned boundary, nsec_t rto_base, nsec_t user_timeout) {
    tcp_sock* tp = tcp_sk(sk);
    if (tp->icsk_retransmits == 0) {
        return false;
    }
    const nsec_t start = tp->retrans_stamp;
    if (start == 0) {
        return false;
    }
    nsec_t timeout = user_timeout;
    if (timeout == 0) {
        const nsec_t rto_max = sk->sk_net->sysctl().rto_max;
        unsigned thresh = 0;
        while ((rto_base << (thresh + 1)) <= rto_max && thresh < 30) {
            ++thresh;
        }
        if (boundary <= thresh) {
            timeout = ((nsec_t(2) << boundary) - 1) * rto_base;
        } else {
            timeout = ((nsec_t(2) << thresh) - 1) * rto_base + (boundary - thresh) * rto_max;
        }
    }
    return sk->sk_net->now() - start >= timeout;
}

void tcp_write_err_timeout(sock* sk) {
    sk->sk_err = sk->sk_err_soft ? sk->sk_err_soft : ETIMEDOUT;
    ++sk->sk_net->counters().tcp_timeouts;
    tcp_write_err(sk);
}

// Returns true when the connection was given up (tcp_write_timeout).
bool tcp_write_timeout(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    const stack_sysctl& sys = net.sysctl();
    if ((1u << sk->sk_state) & (TCPF_SYN_SENT | TCPF_SYN_RECV)) {
        const unsigned retries = tp->icsk_syn_retries ? tp->icsk_syn_retries
                                 : sk->sk_state == TCP_SYN_RECV ? sys.synack_retries
                                                                : sys.syn_retries;
        // Count-based for the handshake, like the kernel's SYN path.
        if (tp->icsk_retransmits >= retries) {
            if (tp->icsk_parent && sk->sk_state == TCP_SYN_RECV) {
                inet_csk_reqsk_queue_drop(sk);  // silently forget the embryo
                return true;
            }
            tcp_write_err_timeout(sk);
            return true;
        }
        return false;
    }
    if (retransmits_timed_out(sk, sys.retries1, sys.rto_min, 0)) {
        // R1 (RFC 1122 §4.2.3.5): advise IP to re-check the path: here,
        // ask ARP to re-confirm the neighbour.
        if (neighbour* n = net.neigh().lookup(tp->inet_daddr)) {
            if (n->state == neigh_state::reachable) {
                n->state = neigh_state::stale;
            }
        }
    }
    unsigned retry_until = sys.retries2;
    if (sk->sock_is_dead()) {
        retry_until = sys.orphan_retries;
    }
    if (retransmits_timed_out(sk, retry_until, sys.rto_min, tp->icsk_user_timeout)) {
        tcp_write_err_timeout(sk);
        return true;
    }
    return false;
}

void tcp_retransmit_timer(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    if (tp->packets_out == 0) {
        return;
    }
    if (tcp_write_timeout(sk)) {
        return;
    }
    ++net.counters().tcp_timeouts;
    if (tp->icsk_retransmits == 0 && sk->sk_state != TCP_SYN_SENT && sk->sk_state != TCP_SYN_RECV) {
        tcp_enter_loss(sk);
    } else if (sk->sk_state != TCP_SYN_SENT && sk->sk_state != TCP_SYN_RECV) {
        tcp_enter_loss(sk);
    }
    pbuf* head = sk->sk_write_queue.front();
    if (head && tcp_retransmit_skb(sk, head) < 0) {
        // No buffer: try again soon without backing off (TCP_RESOURCE_PROBE).
        inet_csk_reset_xmit_timer(sk, ICSK_TIME_RETRANS, std::min(tp->icsk_rto, TCP_RESOURCE_PROBE));
        return;
    }
    ++tp->icsk_backoff;
    ++tp->icsk_retransmits;
    // RFC 6298 (5.5): back off; keep the raw rto so backoff stays visible.
    nsec_t when = inet_csk_rto_backoff(tp, net.sysctl().rto_max);
    if (tp->icsk_user_timeout != 0 && tp->retrans_stamp != 0) {
        // TCP_USER_TIMEOUT (RFC 5482): the last RTO is shortened so the
        // connection gives up exactly at the user timeout
        // (Linux's tcp_clamp_rto_to_user_timeout).
        const nsec_t elapsed = net.now() - tp->retrans_stamp;
        const nsec_t remaining = tp->icsk_user_timeout > elapsed ? tp->icsk_user_timeout - elapsed : 0;
        when = std::min(when, std::max<nsec_t>(remaining, NSEC_PER_MSEC));
    }
    inet_csk_reset_xmit_timer(sk, ICSK_TIME_RETRANS, when);
}

void tcp_probe_timer(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    if (tp->packets_out != 0 || !tp->send_head) {
        tp->icsk_probes_out = 0;
        return;
    }
    unsigned max_probes = net.sysctl().retries2;
    if (sk->sock_is_dead()) {
        max_probes = net.sysctl().orphan_retries;
    }
    if (tp->icsk_probes_out >= max_probes) {
        tcp_write_err_timeout(sk);
        return;
    }
    tcp_send_probe0(sk);
}

void tcp_write_timer(void* arg) {
    sock* sk = static_cast<sock*>(arg);
    inet_connection_sock* icsk = inet_csk(sk);
    if (sk->sk_state == TCP_CLOSE || icsk->icsk_pending == ICSK_TIME_NONE) {
        return;
    }
    const uint8_t event = icsk->icsk_pending;
    icsk->icsk_pending = ICSK_TIME_NONE;
    sock_hold(sk);
    if (event == ICSK_TIME_RETRANS) {
        tcp_retransmit_timer(sk);
    } else if (event == ICSK_TIME_PROBE0) {
        tcp_probe_timer(sk);
    } else if (event == ICSK_TIME_REO_TIMEOUT) {
        tcp_rack_reo_timeout(sk);
    } else if (event == ICSK_TIME_LOSS_PROBE) {
        tcp_send_loss_probe(sk);
    }
    sock_put(sk);
}

void tcp_delack_timer(void* arg) {
    sock* sk = static_cast<sock*>(arg);
    tcp_sock* tp = tcp_sk(sk);
    if (sk->sk_state == TCP_CLOSE || !(tp->icsk_ack.pending & ICSK_ACK_TIMER)) {
        return;
    }
    tp->icsk_ack.pending &= uint8_t(~ICSK_ACK_TIMER);
    if (tp->icsk_ack.pending & ICSK_ACK_SCHED) {
        if (!tp->icsk_ack.pingpong) {
            // Delayed ACK missed: the peer is not interactive, ACK faster.
            tp->icsk_ack.ato = std::min<nsec_t>(tp->icsk_ack.ato << 1, tp->icsk_rto);
        } else {
            tp->icsk_ack.pingpong = false;
            tp->icsk_ack.ato = sk->sk_net->sysctl().ato_min;
        }
        ++sk->sk_net->counters().tcp_delayed_acks;
        tcp_send_ack(sk);
    }
}

// sk_timer: keepalive for established sockets, the FIN_WAIT2 timeout for
// orphans (tcp_keepalive_timer).
void tcp_keepalive_timer(void* arg) {
    sock* sk = static_cast<sock*>(arg);
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    sock_hold(sk);
    if (sk->sk_state == TCP_FIN_WAIT2 && sk->sock_is_dead()) {
        tcp_done(sk);
        sock_put(sk);
        return;
    }
    if (!sk->sock_flag(SOCK_KEEPOPEN) || !((1u << sk->sk_state) & (TCPF_ESTABLISHED | TCPF_CLOSE_WAIT |
                                                                     TCPF_FIN_WAIT1 | TCPF_FIN_WAIT2))) {
        sock_put(sk);
        return;
    }
    const nsec_t now = net.now();
    nsec_t elapsed = 0;
    if (tp->packets_out != 0 || tp->send_head) {
        // Data is outstanding: the retransmit/probe timers watch the peer.
        tcp_reset_keepalive_timer(sk, keepalive_time_when(tp));
        sock_put(sk);
        return;
    }
    const nsec_t last = std::max(tp->rcv_tstamp, tp->icsk_ack.lrcvtime);
    elapsed = now - last;
    if (elapsed >= keepalive_time_when(tp)) {
        if (tp->icsk_probes_out >= keepalive_probes(tp)) {
            tcp_send_active_reset(sk);  // Linux tcp_keepalive_timer: RST, then the error
            tcp_write_err_timeout(sk);
            sock_put(sk);
            return;
        }
        if (tcp_write_wakeup(sk) <= 0) {
            ++tp->icsk_probes_out;
        }
        tcp_reset_keepalive_timer(sk, keepalive_intvl_when(tp));
    } else {
        tcp_reset_keepalive_timer(sk, keepalive_time_when(tp) - elapsed);
    }
    sock_put(sk);
}

}  // namespace

void tcp_init_xmit_timers(sock* sk) {
    inet_connection_sock* icsk = inet_csk(sk);
    icsk->icsk_retransmit_timer.fn = tcp_write_timer;
    icsk->icsk_retransmit_timer.arg = sk;
    icsk->icsk_delack_timer.fn = tcp_delack_timer;
    icsk->icsk_delack_timer.arg = sk;
    icsk->sk_timer.fn = tcp_keepalive_timer;
    icsk->sk_timer.arg = sk;
    tcp_sk(sk)->pacing_timer.fn = tcp_pacing_timer;
    tcp_sk(sk)->pacing_timer.arg = sk;
}

void tcp_clear_xmit_timers(sock* sk) {
    inet_connection_sock* icsk = inet_csk(sk);
    timer_wheel& w = sk->sk_net->timers();
    icsk->icsk_pending = ICSK_TIME_NONE;
    icsk->icsk_ack.pending = 0;
    w.del_timer(&icsk->icsk_retransmit_timer);
    w.del_timer(&icsk->icsk_delack_timer);
    w.del_timer(&icsk->sk_timer);
    sk->sk_net->hrtimers().cancel(&tcp_sk(sk)->pacing_timer);
}

// RTO expiry (tcp_enter_loss): everything in flight is presumed lost; cwnd
// restarts from one segment (RFC 5681 §3.1 eq. 4 and "LW").
void tcp_enter_loss(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    // A new loss episode unless the window was already cut for this flight
    // (Recovery or an ECN reduction still under way: high_seq not yet
    // acknowledged): ssthresh is cut once per window, as Linux's
    // tcp_enter_loss.
    if (tp->icsk_ca_state <= TCP_CA_Disorder || !after(tp->high_seq, tp->snd_una) ||
        (tp->icsk_ca_state == TCP_CA_Loss && tp->icsk_retransmits == 0)) {
        // Remember what to undo to.
        tp->prior_ssthresh = std::max(tp->snd_ssthresh, (tp->snd_cwnd >> 1) + (tp->snd_cwnd >> 2));
        tp->prior_cwnd = tp->snd_cwnd;
        tp->snd_ssthresh = tp->icsk_ca_ops ? tp->icsk_ca_ops->ssthresh(tp) : 2;
        tcp_init_undo(tp);
    }
    tp->snd_cwnd = 1;
    tp->snd_cwnd_cnt = 0;
    tp->retrans_out = 0;
    tp->lost_out = 0;
    tp->tlp_high_seq = seq32(0);
    // With SACK the scoreboard survives the timeout: SACKed segments are not
    // resent (RFC 6675 §5.1, Linux's tcp_timeout_mark_lost without
    // reneging); without SACK everything outstanding is lost.
    const bool keep_sacks = tp->rx_opt.sack_ok;
    if (!keep_sacks) {
        tp->sacked_out = 0;
    }
    for (pbuf* skb = sk->sk_write_queue.front(); skb && skb != tp->send_head; skb = skb->next) {
        tcp_skb_cb* cb = TCP_SKB_CB(skb);
        cb->sacked &= uint8_t(~TCPCB_RETRANS);
        if (keep_sacks && (cb->sacked & TCPCB_SACKED)) {
            cb->sacked &= uint8_t(~TCPCB_LOST);
            continue;
        }
        cb->sacked &= uint8_t(~TCPCB_SACKED);
        cb->sacked |= TCPCB_LOST;
        ++tp->lost_out;
        ++tp->lost;
    }
    tp->high_seq = tp->snd_nxt;
    tcp_ecn_queue_cwr(tp);
    if (tp->icsk_ca_ops && tp->icsk_ca_ops->set_state) {
        tp->icsk_ca_ops->set_state(tp, TCP_CA_Loss);
    }
    tp->icsk_ca_state = TCP_CA_Loss;
}

}  // namespace dshim
