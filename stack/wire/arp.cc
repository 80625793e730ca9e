// ARP packet parse/emit for IPv4 over Ethernet (RFC 826). Kernel
// counterpart: the header checks at the top of arp_process() in
// net/ipv4/arp.c. Resolution and the neighbour table live in link/.
#include "wire/arp.hh"

namespace dshim::wire {
namespace {

constexpr uint16_t arp_htype_ether = 1;

void load_mac(const std::byte* p, mac_addr& m) {
    for (size_t i = 0; i < 6; ++i) {
        m.b[i] = load8(p + i);
    }
}

void store_mac(std::byte* p, const mac_addr& m) {
    for (size_t i = 0; i < 6; ++i) {
        store8(p + i, m.b[i]);
    }
}

}  // namespace

wire_error arp_repr::parse(cbytes pkt, arp_repr& out) noexcept {
    if (pkt.size() < arp_packet_len) {
        return wire_error::truncated;
    }
    const std::byte* p = pkt.data();
    uint16_t htype = load16(p);
    uint16_t ptype = load16(p + 2);
    uint8_t hlen = load8(p + 4);
    uint8_t plen = load8(p + 5);
    uint16_t op_ = load16(p + 6);
    if (htype != arp_htype_ether || ptype != ethertype_ipv4 || hlen != 6 || plen != 4 ||
        (op_ != arp_op_request && op_ != arp_op_reply)) {
        return wire_error::unsupported;
    }
    out.op = op_;
    load_mac(p + 8, out.sha);
    out.spa = load32(p + 14);
    load_mac(p + 18, out.tha);
    out.tpa = load32(p + 24);
    return wire_error::none;
}

void arp_repr::emit(bytes out) const noexcept {
    std::byte* p = out.data();
    store16(p, arp_htype_ether);
    store16(p + 2, ethertype_ipv4);
    store8(p + 4, 6);
    store8(p + 5, 4);
    store16(p + 6, op);
    store_mac(p + 8, sha);
    store32(p + 14, spa);
    store_mac(p + 18, tha);
    store32(p + 24, tpa);
}

}  // namespace dshim::wire
