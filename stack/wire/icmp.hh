// ICMP for IPv4 (RFC 792, RFC 1122 §3.2.2, RFC 1191 for frag-needed).
#pragma once
#include "wire/bytes.hh"

namespace dshim::wire {

inline constexpr uint8_t icmp_echo_reply = 0;
inline constexpr uint8_t icmp_dest_unreach = 3;
inline constexpr uint8_t icmp_echo_request = 8;
inline constexpr uint8_t icmp_time_exceeded = 11;
inline constexpr uint8_t icmp_code_port_unreach = 3;
inline constexpr uint8_t icmp_code_frag_needed = 4;
inline constexpr size_t icmp_header_len = 8;

struct icmp_repr {
    uint8_t type = 0;
    uint8_t code = 0;
    uint32_t rest = 0;   // bytes 4..8: id<<16|seq for echo, next-hop MTU in low 16 bits for frag-needed
    cbytes payload;      // what follows the 8-byte header (parse: a view into pkt)

    // Needs >= 8 bytes; verifies the checksum over the whole message.
    static wire_error parse(cbytes pkt, icmp_repr& out) noexcept;
    size_t total_len() const { return icmp_header_len + payload.size(); }
    // Writes header + payload (copied) with checksum; out.size() >= total_len().
    void emit(bytes out) const noexcept;
};

}  // namespace dshim::wire
