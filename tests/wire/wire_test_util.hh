// Helpers shared by the wire golden-byte tests: byte-span views over the
// golden arrays, mutable copies, and hex strings so a failing comparison
// prints the two encodings side by side.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "wire/bytes.hh"

namespace wire_test {

using dshim::wire::bytes;
using dshim::wire::cbytes;

inline constexpr size_t eth_len = 14;
inline constexpr size_t ip_len = 20;   // the golden frames carry no IP options
inline constexpr size_t l4_off = eth_len + ip_len;

template <size_t N>
cbytes cb(const uint8_t (&a)[N]) {
    return std::as_bytes(std::span<const uint8_t, N>(a));
}

inline cbytes cb(const std::vector<uint8_t>& v) {
    return std::as_bytes(std::span<const uint8_t>(v));
}

inline bytes mb(std::vector<uint8_t>& v) {
    return std::as_writable_bytes(std::span<uint8_t>(v));
}

inline std::vector<uint8_t> vec(cbytes s) {
    std::vector<uint8_t> v(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        v[i] = static_cast<uint8_t>(s[i]);
    }
    return v;
}

inline std::vector<uint8_t> vec(std::initializer_list<uint8_t> l) { return std::vector<uint8_t>(l); }

// "45 00 00 3c | ..." style dump, a line break every 16 bytes.
inline std::string hex(cbytes s) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        uint8_t b = static_cast<uint8_t>(s[i]);
        if (i != 0) {
            out += (i % 16 == 0) ? '\n' : ' ';
        }
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

inline std::string hex(const std::vector<uint8_t>& v) { return hex(cb(v)); }

}  // namespace wire_test
