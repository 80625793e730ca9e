// IPv4 header (RFC 791, host requirements RFC 1122 §3.2.1).
#pragma once
#include "wire/bytes.hh"

namespace dshim::wire {

inline constexpr uint8_t ipproto_icmp = 1;
inline constexpr uint8_t ipproto_tcp = 6;
inline constexpr uint8_t ipproto_udp = 17;
inline constexpr size_t ipv4_min_header_len = 20;

inline constexpr uint16_t ip_df = 0x4000;
inline constexpr uint16_t ip_mf = 0x2000;
inline constexpr uint16_t ip_offmask = 0x1fff;

// Addresses are host-order uint32_t throughout the stack.
constexpr uint32_t ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return (uint32_t(a) << 24) | (uint32_t(b) << 16) | (uint32_t(c) << 8) | d;
}
// Parses dotted quad; false on anything else.
bool parse_ipv4(const char* s, uint32_t& out) noexcept;
// Formats into buf (at least 16 bytes), returns buf.
const char* format_ipv4(uint32_t a, char* buf) noexcept;

struct ipv4_repr {
    uint8_t header_len = 20;  // bytes, IHL*4 (emit only writes 20, no options)
    uint8_t tos = 0;
    uint16_t total_len = 0;   // header + payload
    uint16_t id = 0;
    uint16_t frag = 0;        // flags (DF/MF) + fragment offset in 8-byte units
    uint8_t ttl = 64;
    uint8_t proto = 0;
    uint32_t src = 0;
    uint32_t dst = 0;

    bool is_fragment() const { return (frag & (ip_mf | ip_offmask)) != 0; }

    // Checks: >= 20 bytes, version 4 (bad_version), IHL >= 5 and IHL*4 <=
    // total_len (bad_header_len), total_len <= pkt.size() (bad_total_len, a
    // frame may carry Ethernet padding beyond total_len: that is fine), and
    // the header checksum unless verify_csum is false (bad_checksum).
    static wire_error parse(cbytes pkt, ipv4_repr& out, bool verify_csum = true) noexcept;
    // Writes a 20-byte header (header_len is ignored and treated as 20) with
    // a correct checksum unless fill_csum is false (then the field is zero,
    // for checksum offload).
    void emit(bytes out, bool fill_csum = true) const noexcept;
};

}  // namespace dshim::wire
