// Ethernet II header (IEEE 802.3 framing as used by IPv4, RFC 894).
#pragma once
#include <array>
#include "wire/bytes.hh"

namespace dshim::wire {

struct mac_addr {
    std::array<uint8_t, 6> b{};
    constexpr bool operator==(const mac_addr&) const = default;
    constexpr bool is_broadcast() const { return b == std::array<uint8_t, 6>{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}; }
    constexpr bool is_multicast() const { return (b[0] & 1) != 0; }
    constexpr bool is_zero() const { return b == std::array<uint8_t, 6>{}; }
    static constexpr mac_addr broadcast() { return {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}; }
};

// Parses "aa:bb:cc:dd:ee:ff"; false on anything else.
bool parse_mac(const char* s, mac_addr& out) noexcept;

inline constexpr uint16_t ethertype_ipv4 = 0x0800;
inline constexpr uint16_t ethertype_arp = 0x0806;
inline constexpr uint16_t ethertype_vlan = 0x8100;
inline constexpr size_t ether_header_len = 14;

struct ether_repr {
    mac_addr dst;
    mac_addr src;
    uint16_t ethertype = 0;

    // Needs at least 14 bytes; truncated otherwise.
    static wire_error parse(cbytes frame, ether_repr& out) noexcept;
    static constexpr size_t header_len() { return ether_header_len; }
    // Writes 14 bytes at out[0..14); out.size() must be >= 14.
    void emit(bytes out) const noexcept;
};

}  // namespace dshim::wire
