// 32-bit TCP sequence numbers with wrap-safe comparison (RFC 9293 §3.4,
// the kernel's before()/after()).
#pragma once
#include <cstdint>

namespace dshim::wire {

struct seq32 {
    uint32_t v = 0;

    constexpr seq32() = default;
    constexpr explicit seq32(uint32_t x) : v(x) {}

    constexpr seq32 operator+(uint32_t d) const { return seq32(v + d); }
    constexpr seq32 operator-(uint32_t d) const { return seq32(v - d); }
    constexpr seq32& operator+=(uint32_t d) { v += d; return *this; }
    // Signed distance a - b, valid while |a - b| < 2^31.
    constexpr int32_t operator-(seq32 b) const { return int32_t(v - b.v); }
    constexpr bool operator==(const seq32&) const = default;
};

constexpr bool before(seq32 a, seq32 b) { return int32_t(a.v - b.v) < 0; }
constexpr bool after(seq32 a, seq32 b) { return before(b, a); }
constexpr bool before_eq(seq32 a, seq32 b) { return !after(a, b); }
constexpr bool after_eq(seq32 a, seq32 b) { return !before(a, b); }
// lo <= s <= hi, wrap-safe (the kernel's between()).
constexpr bool between(seq32 s, seq32 lo, seq32 hi) { return hi.v - lo.v >= s.v - lo.v; }
constexpr seq32 seq_max(seq32 a, seq32 b) { return after(a, b) ? a : b; }
constexpr seq32 seq_min(seq32 a, seq32 b) { return before(a, b) ? a : b; }

}  // namespace dshim::wire
