// Classic ECN for TCP (RFC 3168 §6.1) the way Linux does it; see tcp_ecn.hh.
// Kernel counterparts: tcp_ecn_* in net/ipv4/tcp_input.c, tcp_output.c.
#include "ipv4/tcp_ecn.hh"

#include "core/stack.hh"
#include "ipv4/tcp.hh"

namespace dshim {

using wire::TCPF_CWR;
using wire::TCPF_ECE;

bool tcp_ecn_syn_ok(const stack_sysctl& sys, uint8_t ip_dsfield, uint8_t th_flags) {
    return (th_flags & (TCPF_ECE | TCPF_CWR)) == (TCPF_ECE | TCPF_CWR) && sys.ecn != 0 &&
           (ip_dsfield & INET_ECN_MASK) == INET_ECN_NOT_ECT;
}

void tcp_ecn_send_syn(tcp_sock* tp, tcp_skb_cb* syn) {
    tp->ecn_flags = 0;
    if (tp->sk_net->sysctl().ecn == 1) {
        syn->tcp_flags |= TCPF_ECE | TCPF_CWR;
        tp->ecn_flags = TCP_ECN_OK;
    }
}

void tcp_ecn_clear_syn(tcp_skb_cb* syn) {
    // ecn_flags stay: the SYN-ACK decides (a peer that saw the first SYN
    // may still answer with ECE).
    if ((syn->tcp_flags & (wire::TCPF_SYN | TCPF_ECE | TCPF_CWR)) == (wire::TCPF_SYN | TCPF_ECE | TCPF_CWR)) {
        syn->tcp_flags &= uint8_t(~(TCPF_ECE | TCPF_CWR));
    }
}

void tcp_ecn_rcv_synack(tcp_sock* tp, uint8_t th_flags) {
    if ((tp->ecn_flags & TCP_ECN_OK) && (!(th_flags & TCPF_ECE) || (th_flags & TCPF_CWR))) {
        tp->ecn_flags &= uint8_t(~TCP_ECN_OK);
    }
}

void tcp_ecn_rcv_syn(tcp_sock* tp, uint8_t th_flags) {
    if ((tp->ecn_flags & TCP_ECN_OK) && (th_flags & (TCPF_ECE | TCPF_CWR)) != (TCPF_ECE | TCPF_CWR)) {
        tp->ecn_flags &= uint8_t(~TCP_ECN_OK);
    }
}

uint8_t tcp_ecn_synack_flags(const tcp_sock* tp, uint8_t flags) {
    flags &= uint8_t(~(TCPF_ECE | TCPF_CWR));
    if (tp->ecn_flags & TCP_ECN_OK) {
        flags |= TCPF_ECE;
    }
    return flags;
}

uint8_t tcp_ecn_send(tcp_sock* tp, uint32_t payload, wire::seq32 seq, uint8_t flags) {
    if (!(tp->ecn_flags & TCP_ECN_OK)) {
        return flags;
    }
    if (payload > 0 && !wire::before(seq, tp->snd_nxt)) {
        // New data: ECT(0) (INET_ECN_xmit), and the CWR we owe.
        tp->tos = uint8_t((tp->tos & ~INET_ECN_MASK) | INET_ECN_ECT_0);
        if (tp->ecn_flags & TCP_ECN_QUEUE_CWR) {
            tp->ecn_flags &= uint8_t(~TCP_ECN_QUEUE_CWR);
            flags |= TCPF_CWR;
        }
    } else {
        tp->tos &= uint8_t(~INET_ECN_MASK);  // INET_ECN_dontxmit
    }
    if (tp->ecn_flags & TCP_ECN_DEMAND_CWR) {
        flags |= TCPF_ECE;
    }
    return flags;
}

void tcp_ecn_check_ce(sock* sk, uint8_t ip_dsfield) {
    tcp_sock* tp = tcp_sk(sk);
    if (!(tp->ecn_flags & TCP_ECN_OK)) {
        return;
    }
    // Linux's tcp_enter_quickack_mode only ever raises the quick-ACK
    // budget; ours sets it, so keep a larger one.
    auto quickack2 = [&] {
        if (tp->icsk_ack.quick < 2) {
            tcp_enter_quickack_mode(sk, 2);
        } else {
            tp->icsk_ack.pingpong = false;
        }
    };
    switch (ip_dsfield & INET_ECN_MASK) {
    case INET_ECN_NOT_ECT:
        // Not-ECT after ECT: most likely a retransmission, ACK it soon.
        if (tp->ecn_flags & TCP_ECN_SEEN) {
            quickack2();
        }
        break;
    case INET_ECN_CE:
        ++sk->sk_net->counters().tcp_ecn_ce_rx;
        if (!(tp->ecn_flags & TCP_ECN_DEMAND_CWR)) {
            // The sender may have a tiny cwnd: do not delay the echo.
            quickack2();
            tp->ecn_flags |= TCP_ECN_DEMAND_CWR;
        }
        tp->ecn_flags |= TCP_ECN_SEEN;
        break;
    default:
        tp->ecn_flags |= TCP_ECN_SEEN;
        break;
    }
}

void tcp_ecn_accept_cwr(sock* sk, uint8_t th_flags, bool has_data) {
    tcp_sock* tp = tcp_sk(sk);
    if ((tp->ecn_flags & TCP_ECN_OK) && (th_flags & TCPF_CWR)) {
        tp->ecn_flags &= uint8_t(~TCP_ECN_DEMAND_CWR);
        if (has_data) {
            // The sender just cut its cwnd, maybe to one segment.
            tp->icsk_ack.pending |= ICSK_ACK_NOW;
        }
    }
}

}  // namespace dshim
