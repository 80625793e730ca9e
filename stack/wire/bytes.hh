// Big-endian load/store helpers over byte spans: the only way wire/ reads or
// writes multi-byte fields (never a packed struct cast onto packet memory).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace dshim::wire {

using bytes = std::span<std::byte>;
using cbytes = std::span<const std::byte>;

inline uint8_t load8(const std::byte* p) noexcept { return static_cast<uint8_t>(*p); }
inline uint16_t load16(const std::byte* p) noexcept {
    return static_cast<uint16_t>((uint16_t(load8(p)) << 8) | load8(p + 1));
}
inline uint32_t load32(const std::byte* p) noexcept {
    return (uint32_t(load16(p)) << 16) | load16(p + 2);
}
inline void store8(std::byte* p, uint8_t v) noexcept { *p = std::byte{v}; }
inline void store16(std::byte* p, uint16_t v) noexcept {
    p[0] = std::byte(v >> 8);
    p[1] = std::byte(v & 0xff);
}
inline void store32(std::byte* p, uint32_t v) noexcept {
    store16(p, uint16_t(v >> 16));
    store16(p + 2, uint16_t(v & 0xffff));
}

// Why a frame or header was rejected by a parser. Mapped to a drop_reason by
// the protocol layer that owns the counter.
enum class wire_error : uint8_t {
    none = 0,
    truncated,       // buffer shorter than the header or the length fields claim
    bad_version,     // IPv4 version != 4
    bad_header_len,  // IHL < 5, TCP data offset < 5, ...
    bad_total_len,   // IPv4 total length < header length or > buffer
    bad_checksum,
    bad_option,      // malformed option (length 0/1, overruns header)
    unsupported,     // well-formed but not something we speak (ARP hw type...)
};

const char* wire_error_name(wire_error e) noexcept;

}  // namespace dshim::wire
