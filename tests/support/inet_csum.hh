// An independent Internet checksum (RFC 1071) for test oracles: the test
// devices verify and complete checksums with this, never with the stack's
// wire/checksum, so a bug there cannot hide itself.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

namespace dshim::test {

// Sum of 16-bit big-endian words, odd trailing byte padded with zero.
inline uint64_t oracle_sum(std::span<const std::byte> b, uint64_t sum = 0) noexcept {
    size_t i = 0;
    for (; i + 1 < b.size(); i += 2) {
        sum += (uint64_t(uint8_t(b[i])) << 8) | uint8_t(b[i + 1]);
    }
    if (i < b.size()) {
        sum += uint64_t(uint8_t(b[i])) << 8;
    }
    return sum;
}

inline uint16_t oracle_fold(uint64_t sum) noexcept {
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return uint16_t(sum);
}

// The value to store in a checksum field (fold and complement).
inline uint16_t oracle_csum(uint64_t sum) noexcept { return uint16_t(~oracle_fold(sum)); }

// IPv4 pseudo-header sum (RFC 9293 §3.1, RFC 768); addresses host order.
inline uint64_t oracle_pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4_len) noexcept {
    return uint64_t(src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + l4_len;
}

}  // namespace dshim::test
