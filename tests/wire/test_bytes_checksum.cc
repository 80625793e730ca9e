// Big-endian load/store helpers, wire_error names, and the RFC 1071
// checksum: known vectors, odd lengths and offsets, chaining, carries, and
// agreement with a plain word-at-a-time reference on seeded random data.
#include <catch2/catch.hpp>

#include <cstring>
#include <random>

#include "wire/checksum.hh"
#include "wire_test_util.hh"

using namespace dshim::wire;
using namespace wire_test;

namespace {

// The textbook RFC 1071 loop: big-endian 16-bit words, odd byte padded.
uint16_t ref_sum16(const std::vector<uint8_t>& d) {
    uint64_t s = 0;
    size_t i = 0;
    for (; i + 1 < d.size(); i += 2) {
        s += uint32_t(d[i]) << 8 | d[i + 1];
    }
    if (i < d.size()) {
        s += uint32_t(d[i]) << 8;
    }
    while (s >> 16) {
        s = (s & 0xffff) + (s >> 16);
    }
    return uint16_t(s);
}

uint16_t fold_nc(uint32_t s) { return uint16_t(~csum_fold(s)); }

}  // namespace

TEST_CASE("load/store: big-endian at any alignment", "[wire][bytes]") {
    std::vector<uint8_t> buf(11, 0);
    for (size_t off = 0; off < 4; ++off) {
        std::fill(buf.begin(), buf.end(), 0);
        std::byte* p = mb(buf).data() + off;
        store32(p, 0x01020304);
        store16(p + 4, 0xa1b2);
        store8(p + 6, 0xfe);
        CHECK(buf[off] == 0x01);
        CHECK(buf[off + 3] == 0x04);
        CHECK(buf[off + 4] == 0xa1);
        CHECK(buf[off + 5] == 0xb2);
        CHECK(load32(p) == 0x01020304u);
        CHECK(load16(p + 4) == 0xa1b2);
        CHECK(load8(p + 6) == 0xfe);
    }
}

TEST_CASE("wire_error_name: every value has its own name", "[wire][bytes]") {
    CHECK(std::string(wire_error_name(wire_error::none)) == "none");
    CHECK(std::string(wire_error_name(wire_error::truncated)) == "truncated");
    CHECK(std::string(wire_error_name(wire_error::bad_version)) == "bad_version");
    CHECK(std::string(wire_error_name(wire_error::bad_header_len)) == "bad_header_len");
    CHECK(std::string(wire_error_name(wire_error::bad_total_len)) == "bad_total_len");
    CHECK(std::string(wire_error_name(wire_error::bad_checksum)) == "bad_checksum");
    CHECK(std::string(wire_error_name(wire_error::bad_option)) == "bad_option");
    CHECK(std::string(wire_error_name(wire_error::unsupported)) == "unsupported");
    CHECK(std::string(wire_error_name(static_cast<wire_error>(200))) == "unknown");
}

TEST_CASE("csum_partial: RFC 1071 section 3 example sums to 0xddf2", "[wire][checksum]") {
    auto d = vec({0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7});
    CHECK(fold_nc(csum_partial(cb(d))) == 0xddf2);
    CHECK(csum_fold(csum_partial(cb(d))) == 0x220d);
}

TEST_CASE("csum_partial: empty input returns the running sum", "[wire][checksum]") {
    CHECK(csum_partial(cbytes{}) == 0u);
    CHECK(fold_nc(csum_partial(cbytes{}, 0x1234)) == 0x1234);
}

TEST_CASE("csum_partial: an odd trailing byte is the high half of a padded word", "[wire][checksum]") {
    CHECK(fold_nc(csum_partial(cb(vec({0xab})))) == 0xab00);
    CHECK(fold_nc(csum_partial(cb(vec({0x12, 0x34, 0x56})))) == 0x1234 + 0x5600);
    // Every odd length 1..63 of a ramp agrees with the reference.
    std::vector<uint8_t> ramp(64);
    for (size_t i = 0; i < ramp.size(); ++i) {
        ramp[i] = uint8_t(0xf0 + i * 7);
    }
    for (size_t n = 1; n < ramp.size(); n += 2) {
        std::vector<uint8_t> d(ramp.begin(), ramp.begin() + long(n));
        INFO("length " << n);
        CHECK(fold_nc(csum_partial(cb(d))) == ref_sum16(d));
    }
}

TEST_CASE("csum_partial: matches the reference for every length 0..300 and start offset", "[wire][checksum]") {
    std::mt19937 rng(12345);
    std::vector<uint8_t> pool(300 + 8);
    for (auto& b : pool) {
        b = uint8_t(rng());
    }
    for (size_t off = 0; off < 8; ++off) {
        for (size_t n = 0; n <= 300; ++n) {
            std::vector<uint8_t> d(pool.begin() + long(off), pool.begin() + long(off + n));
            // Sum straight out of the unaligned pool position, not the copy.
            cbytes view = cb(pool).subspan(off, n);
            INFO("offset " << off << " length " << n);
            REQUIRE(fold_nc(csum_partial(view)) == ref_sum16(d));
        }
    }
}

TEST_CASE("csum_partial: all-ones data carries correctly at maximal length", "[wire][checksum]") {
    std::vector<uint8_t> d(65534, 0xff);
    CHECK(fold_nc(csum_partial(cb(d))) == ref_sum16(d));
    CHECK(fold_nc(csum_partial(cb(d))) == 0xffff);
    // One more 0xff is the high half of a padded word: 0xffff + 0xff00.
    d.push_back(0xff);
    CHECK(fold_nc(csum_partial(cb(d))) == ref_sum16(d));
    CHECK(fold_nc(csum_partial(cb(d))) == 0xff00);
    // A running sum near 2^32 still carries end-around.
    // 0xffffffff is one's-complement zero, so the result is just the new word.
    CHECK(fold_nc(csum_partial(cb(vec({0x00, 0x02})), 0xffffffffu)) == 0x0002);
    CHECK(fold_nc(csum_partial(cb(vec({0xff, 0xff})), 0xfffffffeu)) == 0xfffe);
}

TEST_CASE("csum_partial: chaining even-length pieces equals one pass", "[wire][checksum]") {
    std::mt19937 rng(777);
    std::vector<uint8_t> d(1001);
    for (auto& b : d) {
        b = uint8_t(rng());
    }
    uint32_t whole = csum_partial(cb(d));
    for (size_t cut = 0; cut <= d.size(); cut += 2) {
        uint32_t a = csum_partial(cb(d).first(cut));
        uint32_t ab = csum_partial(cb(d).subspan(cut), a);
        INFO("cut at " << cut);
        REQUIRE(csum_fold(ab) == csum_fold(whole));
    }
}

TEST_CASE("csum_fold: folds carries and complements", "[wire][checksum]") {
    CHECK(csum_fold(0) == 0xffff);
    CHECK(csum_fold(0xffff) == 0);
    CHECK(csum_fold(0x1fffe) == 0);        // 0xfffe + 1 = 0xffff
    CHECK(csum_fold(0x12345) == uint16_t(~0x2346));
    CHECK(csum_fold(0xffffffffu) == 0);    // 0xffff + 0xffff -> 0x1fffe -> 0xffff
    CHECK(csum_fold(0x0001ffffu) == uint16_t(~0x0001));
}

TEST_CASE("pseudo_header_sum: equals the sum over the 12-byte pseudo-header", "[wire][checksum]") {
    // 198.18.0.1 -> 198.18.0.2, proto 6, length 40, spelled out as bytes.
    auto ph = vec({0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x02, 0x00, 0x06, 0x00, 0x28});
    uint32_t s = pseudo_header_sum(0xc6120001, 0xc6120002, 6, 40);
    CHECK(fold_nc(s) == ref_sum16(ph));
    CHECK(fold_nc(s) == uint16_t(0xc612 + 0x0001 + 0xc612 + 0x0002 + 6 + 40 - 0xffff));
    // Extreme addresses still fold exactly.
    auto ph2 = vec({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, 0xff});
    CHECK(fold_nc(pseudo_header_sum(0xffffffffu, 0xffffffffu, 0xff, 0xffff)) == ref_sum16(ph2));
}
