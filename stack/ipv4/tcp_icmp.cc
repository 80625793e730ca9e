// ICMP errors delivered to TCP: destination unreachable (RFC 1122
// §4.2.3.9: hard errors abort a connection attempt, soft ones are kept for
// the timeout) and fragmentation needed (RFC 1191 path MTU discovery).
// Kernel counterpart: tcp_ipv4.c (tcp_v4_err, tcp_v4_mtu_reduced),
// icmp.c (icmp_err_convert), tcp_output.c (tcp_simple_retransmit).
#include <algorithm>
#include <cerrno>

#include "core/stack.hh"
#include "ipv4/tcp.hh"
#include "wire/bytes.hh"
#include "wire/icmp.hh"

namespace dshim {

using wire::after;
using wire::before;

namespace {

// icmp_err_convert: errno per destination-unreachable code (RFC 1122
// §3.2.2.1 codes 0-15), as Linux.
constexpr int unreach_errno[16] = {
    ENETUNREACH,   // 0 net unreachable
    EHOSTUNREACH,  // 1 host unreachable
    ENOPROTOOPT,   // 2 protocol unreachable
    ECONNREFUSED,  // 3 port unreachable
    EMSGSIZE,      // 4 fragmentation needed (handled as PMTU)
    EOPNOTSUPP,    // 5 source route failed
    ENETUNREACH,   // 6 destination net unknown
    EHOSTDOWN,     // 7 destination host unknown
    ENONET,        // 8 source host isolated
    ENETUNREACH,   // 9 net administratively prohibited
    EHOSTUNREACH,  // 10 host administratively prohibited
    ENETUNREACH,   // 11 net unreachable for TOS
    EHOSTUNREACH,  // 12 host unreachable for TOS
    EHOSTUNREACH,  // 13 communication administratively prohibited
    EHOSTUNREACH,  // 14 host precedence violation
    EHOSTUNREACH,  // 15 precedence cutoff
};

// Linux's ip_rt_min_pmtu: a smaller "next-hop MTU" is not believed.
constexpr uint32_t IP_MIN_PMTU = 552;

}  // namespace

// The path MTU fell (tcp_v4_mtu_reduced): resize segments and resend what
// no longer fits at once, without a congestion response
// (tcp_simple_retransmit: the loss was not congestion).
void tcp_v4_mtu_reduced(sock* sk, uint32_t mtu) {
    tcp_sock* tp = tcp_sk(sk);
    if ((1u << sk->sk_state) & (TCPF_LISTEN | TCPF_CLOSE)) {
        return;
    }
    mtu = std::max(mtu, IP_MIN_PMTU);
    if (mtu >= tp->icsk_pmtu_cookie) {
        return;
    }
    tcp_sync_mss(sk, mtu);
    if (sk->sk_state == TCP_SYN_SENT || sk->sk_state == TCP_SYN_RECV) {
        return;  // no data yet: the SYN itself fits any MTU >= 552
    }
    const uint32_t mss = tcp_current_mss(sk);
    for (pbuf* skb = sk->sk_write_queue.front(); skb && skb != tp->send_head; skb = skb->next) {
        tcp_skb_cb* cb = TCP_SKB_CB(skb);
        if (skb->len > mss && !(cb->sacked & TCPCB_SACKED)) {
            if (cb->sacked & TCPCB_RETRANS) {
                cb->sacked &= uint8_t(~TCPCB_RETRANS);
                --tp->retrans_out;
            }
            if (!(cb->sacked & TCPCB_LOST)) {
                cb->sacked |= TCPCB_LOST;
                ++tp->lost_out;
            }
        }
    }
    if (tp->lost_out == 0) {
        return;
    }
    if (tp->icsk_ca_state != TCP_CA_Loss) {
        tp->high_seq = tp->snd_nxt;
        tp->prior_ssthresh = 0;
        tp->undo_armed = false;
        tp->icsk_ca_state = TCP_CA_Loss;
    }
    tcp_xmit_retransmit_queue(sk);
    tcp_rearm_rto(sk);
}

void tcp_v4_err(stack& net, uint8_t type, uint8_t code, uint32_t info, std::span<const std::byte> quoted) {
    // quoted: the IPv4 header we sent and at least 8 bytes of our TCP header.
    // Header fields read by hand: the quoted datagram is cut short, so its
    // total length never matches (ipv4_repr::parse would refuse it).
    const size_t ihl = quoted.empty() ? 0 : size_t(wire::load8(quoted.data()) & 0x0f) * 4;
    if (quoted.size() < 20 || (wire::load8(quoted.data()) >> 4) != 4 || ihl < 20 || quoted.size() < ihl + 8) {
        net.drop(drop_reason::icmp_malformed);
        return;
    }
    const uint32_t q_src = wire::load32(quoted.data() + 12);
    const uint32_t q_dst = wire::load32(quoted.data() + 16);
    if (q_src != net.ip()) {
        net.drop(drop_reason::icmp_unhandled);
        return;
    }
    const std::byte* th = quoted.data() + ihl;
    const uint16_t sport = wire::load16(th);
    const uint16_t dport = wire::load16(th + 2);
    const seq32 seq(wire::load32(th + 4));
    sock* sk = inet_lookup_established(net, q_dst, dport, q_src, sport);
    if (!sk || sk->sk_state == TCP_TIME_WAIT || sk->sk_state == TCP_CLOSE) {
        net.drop(drop_reason::icmp_unhandled);
        return;
    }
    tcp_sock* tp = tcp_sk(sk);
    // RFC 5927 §4.1: only an error quoting a sequence number we have in
    // flight is believed (blind ICMP attacks).
    if (before(seq, tp->snd_una) || after(seq, tp->snd_nxt)) {
        net.drop(drop_reason::icmp_unhandled);
        return;
    }
    if (type != wire::icmp_dest_unreach || code > 15) {
        return;  // TODO(#5): source quench is ignored (RFC 6633), time exceeded is soft only
    }
    if (code == wire::icmp_code_frag_needed) {
        ++net.counters().icmp_in_frag_needed;
        tcp_v4_mtu_reduced(sk, info & 0xffff);
        return;
    }
    const int err = unreach_errno[code];
    switch (sk->sk_state) {
    case TCP_SYN_SENT:
    case TCP_SYN_RECV:
        if (tp->icsk_parent) {
            inet_csk_reqsk_queue_drop(sk);  // a request socket just goes
            return;
        }
        // The connection attempt fails with the error (Linux: every
        // unreachable code is fatal before the connection is up).
        sk->sk_err = err;
        tcp_write_err(sk);
        return;
    default:
        // Established: a soft error, reported if the connection times out
        // (RFC 1122 §4.2.3.9; Linux without IP_RECVERR).
        sk->sk_err_soft = err;
        return;
    }
}

}  // namespace dshim
