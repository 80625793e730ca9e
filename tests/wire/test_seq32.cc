// seq32: RFC 9293 §3.4 modular sequence comparison, including the wrap at
// 2^32 and the kernel's between(); a seeded property loop checks the
// relations stay consistent for any distance below 2^31.
#include <catch2/catch.hpp>

#include <random>

#include "wire/seq32.hh"

using namespace dshim::wire;

TEST_CASE("seq32: before/after across the 2^32 wrap", "[wire][seq32]") {
    seq32 hi(0xfffffff0u);
    seq32 lo(0x00000010u);
    CHECK(before(hi, lo));
    CHECK(after(lo, hi));
    CHECK_FALSE(before(lo, hi));
    CHECK_FALSE(after(hi, lo));
    CHECK(lo - hi == 0x20);
    CHECK(hi - lo == -0x20);
    CHECK((hi + 0x20u) == lo);
    CHECK((lo - 0x20u) == hi);
    seq32 s = hi;
    s += 0x10u;
    CHECK(s.v == 0u);
}

TEST_CASE("seq32: equal numbers are neither before nor after", "[wire][seq32]") {
    seq32 a(0x80000000u);
    CHECK_FALSE(before(a, a));
    CHECK_FALSE(after(a, a));
    CHECK(before_eq(a, a));
    CHECK(after_eq(a, a));
}

TEST_CASE("seq32: ordering flips exactly at half the space", "[wire][seq32]") {
    seq32 z(0);
    CHECK(after(seq32(0x7fffffffu), z));
    // 2^31 apart: int32 distance is INT32_MIN, so "a before b" both ways is
    // impossible; the kernel's before() says 2^31 is before 0.
    CHECK(before(seq32(0x80000000u), z));
    CHECK(before(seq32(0x80000001u), z));
}

TEST_CASE("seq32: between is inclusive and wrap-safe", "[wire][seq32]") {
    seq32 lo(0xfffffff0u);
    seq32 hi(0x10u);
    CHECK(between(lo, lo, hi));
    CHECK(between(hi, lo, hi));
    CHECK(between(seq32(0), lo, hi));
    CHECK(between(seq32(0xffffffffu), lo, hi));
    CHECK_FALSE(between(seq32(0x11u), lo, hi));
    CHECK_FALSE(between(seq32(0xffffffefu), lo, hi));
    CHECK(between(seq32(5), seq32(5), seq32(5)));
    CHECK_FALSE(between(seq32(6), seq32(5), seq32(5)));
}

TEST_CASE("seq32: seq_max/seq_min pick by modular order", "[wire][seq32]") {
    seq32 a(0xffffff00u);
    seq32 b(0x100u);
    CHECK(seq_max(a, b) == b);
    CHECK(seq_min(a, b) == a);
    CHECK(seq_max(b, a) == b);
    CHECK(seq_min(b, a) == a);
}

TEST_CASE("seq32: relations agree with the signed distance for random pairs", "[wire][seq32]") {
    std::mt19937 rng(20240601);
    for (int i = 0; i < 100000; ++i) {
        seq32 a{static_cast<uint32_t>(rng())};
        uint32_t d = uint32_t(rng()) & 0x7fffffffu;
        seq32 b = a + d;
        INFO("a=" << a.v << " d=" << d);
        REQUIRE(b - a == int32_t(d));
        if (d == 0) {
            REQUIRE_FALSE(before(a, b));
            REQUIRE(before_eq(a, b));
        } else {
            REQUIRE(before(a, b));
            REQUIRE(after(b, a));
            REQUIRE_FALSE(after_eq(a, b));
        }
        REQUIRE(between(a + d / 2, a, b));
    }
}
