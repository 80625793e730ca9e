// IPv4 receive and transmit on our single interface. Kernel counterparts:
// net/ipv4/ip_input.c (ip_rcv, ip_local_deliver), ip_output.c
// (ip_build_and_send_pkt), route.c. RFC 791, RFC 1122 §3.2.1.
#include "ipv4/ip.hh"

#include <cerrno>

#include "core/stack.hh"
#include "ipv4/arp.hh"
#include "ipv4/ip_fragment.hh"
#include "ipv4/tcp.hh"
#include "wire/ether.hh"

namespace dshim {

namespace {
uint32_t prefix_mask(uint8_t len) { return len == 0 ? 0 : ~uint32_t(0) << (32 - len); }
}  // namespace

bool ipv4_is_martian(uint32_t a) {
    const uint8_t top = uint8_t(a >> 24);
    return top == 0 || top == 127 || top >= 224;  // 0/8, loopback, multicast, class E, broadcast
}

bool ip_is_local(const stack& net, uint32_t addr) { return addr == net.ip(); }

int ip_route_output(stack& net, uint32_t daddr, rtable* rt) {
    const uint32_t mask = prefix_mask(net.config().prefix_len);
    rt->saddr = net.ip();
    if (daddr == 0xffffffffu || ipv4_is_martian(daddr)) {
        return -ENETUNREACH;
    }
    if ((daddr & mask) == (net.ip() & mask)) {
        if (daddr == (net.ip() | ~mask)) {
            return -ENETUNREACH;  // directed broadcast of our subnet: not for TCP
        }
        rt->nexthop = daddr;
        return 0;
    }
    if (net.config().gateway != 0) {
        rt->nexthop = net.config().gateway;
        return 0;
    }
    net.drop(drop_reason::no_route);
    return -ENETUNREACH;
}

void ip_rcv(stack& net, pbuf_ptr skb) {
    ++net.counters().ip_in_receives;
    wire::ipv4_repr iph;
    const bool csum_done = (skb->flags & PBUF_RX_IP_CSUM_GOOD) != 0;
    switch (wire::ipv4_repr::parse(skb->span(), iph, !csum_done)) {
    case wire::wire_error::none: break;
    case wire::wire_error::bad_version: net.drop(drop_reason::ip_bad_version); return;
    case wire::wire_error::bad_header_len: net.drop(drop_reason::ip_bad_header_len); return;
    case wire::wire_error::bad_total_len: net.drop(drop_reason::ip_bad_total_len); return;
    case wire::wire_error::bad_checksum: net.drop(drop_reason::ip_bad_checksum); return;
    default: net.drop(drop_reason::ip_truncated); return;
    }
    if (!ip_is_local(net, iph.dst)) {
        net.drop(drop_reason::ip_not_for_us);  // we do not forward
        return;
    }
    if (ipv4_is_martian(iph.src) || iph.src == net.ip()) {
        net.drop(drop_reason::ip_bad_source);
        return;
    }
    // Ethernet padding: keep exactly the IP datagram.
    skb->trim(iph.total_len);
    if (iph.is_fragment()) {
        // Held until whole; then delivered like any datagram (ip_fragment.cc).
        skb = ip_defrag(net, std::move(skb), iph);
        if (!skb) {
            return;
        }
    }
    skb->adj(iph.header_len);
    ++net.counters().ip_in_delivers;
    switch (iph.proto) {
    case wire::ipproto_tcp:
        tcp_v4_rcv(net, std::move(skb), iph);
        return;
    case wire::ipproto_icmp:
        icmp_rcv(net, std::move(skb), iph);
        return;
    default:
        net.drop(drop_reason::ip_unknown_proto);
        return;
    }
}

int ip_build_and_send(stack& net, pbuf_ptr skb, uint32_t saddr, uint32_t daddr, uint8_t proto,
                      uint8_t ttl, uint8_t tos, bool df) {
    rtable rt;
    if (int err = ip_route_output(net, daddr, &rt); err < 0) {
        return err;
    }
    static_assert(wire::ipv4_min_header_len == 20);
    wire::ipv4_repr iph;
    iph.tos = tos;
    iph.total_len = uint16_t(skb->len + wire::ipv4_min_header_len);
    iph.id = df ? 0 : uint16_t(net.random());
    iph.frag = df ? wire::ip_df : 0;
    iph.ttl = ttl;
    iph.proto = proto;
    iph.src = saddr;
    iph.dst = daddr;
    const bool offload = (net.dev().offloads() & NETDEV_TX_IP_CSUM) != 0;
    iph.emit({skb->prepend(wire::ipv4_min_header_len), wire::ipv4_min_header_len}, !offload);
    if (offload) {
        skb->flags |= PBUF_TX_IP_CSUM;
    }
    skb->l3_len = wire::ipv4_min_header_len;
    ++net.counters().ip_out_requests;
    neigh_output(net, rt.nexthop, std::move(skb));
    return 0;
}

}  // namespace dshim
