// IPv4 receive and transmit on our single interface. Kernel counterparts:
// net/ipv4/ip_input.c (ip_rcv, ip_local_deliver), ip_output.c
// (ip_build_and_send_pkt, ip_fragment/ip_do_fragment), route.c. RFC 791,
// RFC 1122 §3.2.1.
#include "ipv4/ip.hh"

#include <algorithm>
#include <cerrno>
#include <cstring>

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

namespace {

// ip_fragment + ip_do_fragment's slow path (RFC 791 §3.2, "An Example
// Fragmentation Procedure"): `skb` holds a whole datagram behind its 20-byte
// header `iph`. Each piece is a fresh pool buffer with a copy of the header
// (same ID), its offset in 8-byte units and MF on all but the last; every
// piece but the last carries (mtu - 20) rounded down to 8 bytes. Also used to
// copy a datagram held in a buffer of another pool (a reassembled large one)
// into device buffers, as a single "fragment" when it fits the MTU.
int ip_do_fragment(stack& net, uint32_t nexthop, pbuf_ptr skb, const wire::ipv4_repr& iph, bool offload) {
    constexpr uint32_t hlen = wire::ipv4_min_header_len;
    const uint32_t mtu = net.dev().mtu();
    const bool split = skb->len > mtu;
    if (split && (iph.frag & wire::ip_df) != 0) {
        // Linux also sends ICMP frag-needed to the local sender; ours are
        // ICMP replies and TCP, which never get here with DF and len > MTU.
        ++net.counters().ip_frag_fails;
        net.drop(drop_reason::ip_frag_df);
        return -EMSGSIZE;
    }
    const uint32_t step = mtu > hlen ? (mtu - hlen) & ~7u : 0;
    if (step == 0) {
        ++net.counters().ip_frag_fails;
        net.drop(drop_reason::ip_frag_df);
        return -EMSGSIZE;
    }
    const uint32_t payload = skb->len - hlen;
    const std::byte* src = skb->data + hlen;
    uint32_t off = 0;
    for (;;) {
        const uint32_t n = std::min(step, payload - off);
        const bool last = off + n == payload;
        pbuf* p = net.pool().alloc(MAX_HEADER, hlen + n);
        if (!p) {
            // The pieces already sent are wasted, as in Linux.
            ++net.counters().ip_frag_fails;
            net.drop(drop_reason::tx_no_buffer);
            return -ENOBUFS;
        }
        pbuf_ptr frag(p);
        wire::ipv4_repr h = iph;
        h.total_len = uint16_t(hlen + n);
        h.frag = uint16_t((iph.frag & wire::ip_df) | (off / 8) | (last ? 0 : wire::ip_mf));
        h.emit({frag->append(hlen), hlen}, !offload);
        std::memcpy(frag->append(n), src + off, n);
        if (offload) {
            frag->flags |= PBUF_TX_IP_CSUM;
        }
        frag->l3_len = hlen;
        if (split) {
            ++net.counters().ip_frag_creates;
        }
        neigh_output(net, nexthop, std::move(frag));
        if (last) {
            break;
        }
        off += n;
    }
    if (split) {
        ++net.counters().ip_frag_oks;
    }
    return 0;
}

}  // namespace

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
    // Over the MTU (an echo reply to a reassembled request), or in a buffer
    // the device cannot take (a large reassembly buffer): copy into pieces.
    if (skb->len > net.dev().mtu() || skb->pool != &net.pool()) {
        return ip_do_fragment(net, rt.nexthop, std::move(skb), iph, offload);
    }
    neigh_output(net, rt.nexthop, std::move(skb));
    return 0;
}

}  // namespace dshim
