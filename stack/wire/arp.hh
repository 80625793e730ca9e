// ARP for IPv4 over Ethernet (RFC 826).
#pragma once
#include "wire/ether.hh"

namespace dshim::wire {

inline constexpr uint16_t arp_op_request = 1;
inline constexpr uint16_t arp_op_reply = 2;
inline constexpr size_t arp_packet_len = 28;

struct arp_repr {
    uint16_t op = 0;
    mac_addr sha;        // sender hardware address
    uint32_t spa = 0;    // sender protocol address, host order
    mac_addr tha;        // target hardware address
    uint32_t tpa = 0;    // target protocol address, host order

    // Needs 28 bytes (truncated); htype 1, ptype 0x0800, hlen 6, plen 4 and
    // op 1 or 2, otherwise unsupported.
    static wire_error parse(cbytes pkt, arp_repr& out) noexcept;
    // Writes 28 bytes.
    void emit(bytes out) const noexcept;
};

}  // namespace dshim::wire
