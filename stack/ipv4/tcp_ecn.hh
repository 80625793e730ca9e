// Classic ECN for TCP (RFC 3168 §6.1), as Linux does it: negotiation on the
// SYN/SYN-ACK, ECT(0) on new data, ECE echoed until CWR, one cwnd reduction
// per window. Kernel counterparts: the tcp_ecn_* helpers of
// net/ipv4/tcp_input.c and tcp_output.c, include/net/inet_ecn.h.
// Kept in one file so the input/output paths only call in here.
#pragma once
#include <cstdint>

#include "ipv4/tcp_sock.hh"

namespace dshim {

struct stack_sysctl;

// The ECN field: the two low bits of the IPv4 TOS octet (RFC 3168 §5).
enum : uint8_t {
    INET_ECN_NOT_ECT = 0,
    INET_ECN_ECT_1 = 1,
    INET_ECN_ECT_0 = 2,
    INET_ECN_CE = 3,
    INET_ECN_MASK = 3,
};

// Passive side (tcp_ecn_create_request): the SYN asks for ECN with ECE|CWR,
// arrived Not-ECT (an ECT SYN means a middlebox rewrites the field: RFC
// 3168 §6.1.1 forbids ECT on SYNs) and tcp_ecn is not 0.
bool tcp_ecn_syn_ok(const stack_sysctl& sys, uint8_t ip_dsfield, uint8_t th_flags);

// Active open (tcp_ecn_send_syn): with tcp_ecn = 1 the SYN carries ECE|CWR.
void tcp_ecn_send_syn(tcp_sock* tp, tcp_skb_cb* syn);
// A retransmitted SYN goes without ECE|CWR (tcp_ecn_clear_syn with
// tcp_ecn_fallback = 1): a path that drops ECN SYNs still connects.
void tcp_ecn_clear_syn(tcp_skb_cb* syn);
// SYN-ACK received in SYN_SENT (tcp_ecn_rcv_synack): ECN stays on only for
// ECE without CWR.
void tcp_ecn_rcv_synack(tcp_sock* tp, uint8_t th_flags);
// SYN received in SYN_SENT, simultaneous open (tcp_ecn_rcv_syn), and the
// flags of the SYN-ACK we answer it with (tcp_ecn_send_synack).
void tcp_ecn_rcv_syn(tcp_sock* tp, uint8_t th_flags);
uint8_t tcp_ecn_synack_flags(const tcp_sock* tp, uint8_t flags);

// Every non-SYN segment we send (tcp_ecn_send): new data is ECT(0) and
// carries the queued CWR; pure ACKs, FIN/RST without data and
// retransmissions are Not-ECT (RFC 3168 §6.1.5); ECE while the peer owes us
// a CWR. Updates tp->tos's ECN bits like INET_ECN_xmit/dontxmit and returns
// the flags to send.
uint8_t tcp_ecn_send(tcp_sock* tp, uint32_t payload, wire::seq32 seq, uint8_t flags);

// A data segment received (tcp_ecn_check_ce): CE makes us echo ECE until
// CWR and ACK quickly; ECT marks the connection ECN_SEEN.
void tcp_ecn_check_ce(sock* sk, uint8_t ip_dsfield);
// An acceptable ACK received (tcp_ecn_accept_cwr, also on pure ACKs as
// Linux since 2020): CWR ends the ECE echo; with data, ACK at once.
void tcp_ecn_accept_cwr(sock* sk, uint8_t th_flags, bool has_data);
// ECE on an ACK of an ECN connection is a congestion signal
// (tcp_ecn_rcv_ecn_echo).
inline bool tcp_ecn_rcv_ecn_echo(const tcp_sock* tp, uint8_t th_flags) {
    return (th_flags & wire::TCPF_ECE) && !(th_flags & wire::TCPF_SYN) && (tp->ecn_flags & TCP_ECN_OK);
}
// Any cwnd reduction (CWR, Recovery, Loss) tells the receiver with CWR on
// the next new data segment (tcp_ecn_queue_cwr); an undone one does not
// (tcp_ecn_withdraw_cwr).
inline void tcp_ecn_queue_cwr(tcp_sock* tp) {
    if (tp->ecn_flags & TCP_ECN_OK) {
        tp->ecn_flags |= TCP_ECN_QUEUE_CWR;
    }
}
inline void tcp_ecn_withdraw_cwr(tcp_sock* tp) { tp->ecn_flags &= uint8_t(~TCP_ECN_QUEUE_CWR); }

}  // namespace dshim
