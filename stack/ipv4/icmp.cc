// ICMP: echo replies and destination-unreachable generation. Kernel
// counterpart: net/ipv4/icmp.c. RFC 792, RFC 1122 §3.2.2 (never answer an
// ICMP error or a non-first fragment with an error; echo reply mirrors data).
#include <algorithm>
#include <cstring>

#include "core/stack.hh"
#include "ipv4/ip.hh"
#include "ipv4/tcp.hh"
#include "wire/checksum.hh"
#include "wire/icmp.hh"

namespace dshim {

void icmp_rcv(stack& net, pbuf_ptr skb, const wire::ipv4_repr& iph) {
    wire::icmp_repr icmp;
    if (wire::icmp_repr::parse(skb->span(), icmp) != wire::wire_error::none) {
        net.drop(drop_reason::icmp_malformed);
        return;
    }
    ++net.counters().icmp_in_msgs;
    if (icmp.type == wire::icmp_dest_unreach) {
        // RFC 1122 §3.2.2.1: the error goes to the transport named in the
        // quoted header (icmp_unreach -> tcp_v4_err).
        ++net.counters().icmp_in_dest_unreachs;
        // The quoted datagram is truncated (header + 8 bytes): only its
        // protocol is read here, the rest by the transport.
        if (icmp.payload.size() >= 28 && wire::load8(icmp.payload.data() + 9) == wire::ipproto_tcp) {
            tcp_v4_err(net, icmp.type, icmp.code, icmp.rest, icmp.payload);
            return;
        }
        net.drop(drop_reason::icmp_unhandled);
        return;
    }
    if (icmp.type != wire::icmp_echo_request) {
        net.drop(drop_reason::icmp_unhandled);
        return;
    }
    ++net.counters().icmp_in_echos;
    // Answer in place: same id/seq/payload, type 0 (RFC 792); only the type
    // and the checksum change.
    wire::store8(skb->data, wire::icmp_echo_reply);
    wire::store8(skb->data + 1, 0);
    wire::store16(skb->data + 2, 0);
    wire::store16(skb->data + 2, wire::csum_fold(wire::csum_partial(skb->span())));
    ++net.counters().icmp_out_msgs;
    ++net.counters().icmp_out_echo_reps;
    (void)ip_build_and_send(net, std::move(skb), net.ip(), iph.src, wire::ipproto_icmp, 64, iph.tos, false);
}

void icmp_send(stack& net, const pbuf& orig, uint8_t type, uint8_t code, uint32_t info) {
    wire::ipv4_repr iph;
    if (wire::ipv4_repr::parse(orig.span(), iph, false) != wire::wire_error::none) {
        return;
    }
    if ((iph.frag & wire::ip_offmask) != 0 || ipv4_is_martian(iph.src)) {
        return;  // RFC 1122 §3.2.2: no error about non-first fragments
    }
    if (iph.proto == wire::ipproto_icmp) {
        // No error about an ICMP error (or a type we cannot classify), as
        // Linux's icmp_send; an echo request may get one (time exceeded on
        // reassembly of a large ping).
        if (orig.len < size_t(iph.header_len) + 1) {
            return;
        }
        const uint8_t t = wire::load8(orig.data + iph.header_len);
        if (t > 18 || t == wire::icmp_dest_unreach || t == 4 || t == 5 || t == wire::icmp_time_exceeded ||
            t == 12) {
            return;  // 4 source quench, 5 redirect, 12 parameter problem
        }
    }
    // IP header + 8 bytes of the offending datagram (RFC 792).
    const size_t quote = std::min<size_t>(orig.len, iph.header_len + 8);
    pbuf* p = net.pool().alloc(MAX_HEADER, uint32_t(wire::icmp_header_len + quote));
    if (!p) {
        net.drop(drop_reason::tx_no_buffer);
        return;
    }
    pbuf_ptr skb(p);
    wire::icmp_repr icmp{type, code, info, {orig.data, quote}};
    icmp.emit({skb->append(uint32_t(icmp.total_len())), icmp.total_len()});
    ++net.counters().icmp_out_msgs;
    (void)ip_build_and_send(net, std::move(skb), net.ip(), iph.src, wire::ipproto_icmp, 64, 0, false);
}

}  // namespace dshim
