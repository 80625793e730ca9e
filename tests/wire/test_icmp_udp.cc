// ICMP (RFC 792, RFC 1191) and UDP (RFC 768): golden messages decoded and
// re-encoded, checksums over odd lengths and with the pseudo-header, the
// zero-checksum rules, every truncation and bad lengths.
#include <catch2/catch.hpp>

#include "golden_frames.hh"
#include "wire/checksum.hh"
#include "wire/icmp.hh"
#include "wire/ipv4.hh"
#include "wire/udp.hh"
#include "wire_test_util.hh"

using namespace dshim::wire;
using namespace wire_test;

namespace {

const uint32_t ip_a = ipv4(198, 18, 0, 1);
const uint32_t ip_b = ipv4(198, 18, 0, 2);

cbytes l4_of(cbytes frame) { return frame.subspan(l4_off); }

}  // namespace

TEST_CASE("icmp: golden echo request decodes with its odd-length payload", "[wire][icmp]") {
    icmp_repr m;
    cbytes pkt = l4_of(cb(golden::icmp_echo));
    REQUIRE(icmp_repr::parse(pkt, m) == wire_error::none);
    CHECK(m.type == icmp_echo_request);
    CHECK(m.code == 0);
    CHECK(m.rest == 0x12340007u);
    REQUIRE(m.payload.size() == 37);
    CHECK(m.payload.data() == pkt.data() + 8);
    CHECK(static_cast<uint8_t>(m.payload[0]) == 0x20);
    CHECK(static_cast<uint8_t>(m.payload[36]) == 0x44);
    CHECK(m.total_len() == 45);
}

TEST_CASE("icmp: golden frag-needed carries the next-hop MTU and the quoted header", "[wire][icmp]") {
    icmp_repr m;
    REQUIRE(icmp_repr::parse(l4_of(cb(golden::icmp_frag_needed)), m) == wire_error::none);
    CHECK(m.type == icmp_dest_unreach);
    CHECK(m.code == icmp_code_frag_needed);
    CHECK((m.rest & 0xffff) == 1400);
    REQUIRE(m.payload.size() == 28);
    // The quoted datagram is itself a parseable IPv4 header.
    ipv4_repr inner;
    REQUIRE(ipv4_repr::parse(m.payload, inner) == wire_error::none);
    CHECK(inner.proto == ipproto_udp);
    CHECK(inner.dst == ipv4(198, 19, 0, 9));
}

TEST_CASE("icmp: emit reproduces the golden messages", "[wire][icmp]") {
    for (cbytes frame : {cb(golden::icmp_echo), cb(golden::icmp_frag_needed)}) {
        cbytes pkt = l4_of(frame);
        icmp_repr m;
        m.type = static_cast<uint8_t>(pkt[0]);
        m.code = static_cast<uint8_t>(pkt[1]);
        m.rest = load32(pkt.data() + 4);
        m.payload = pkt.subspan(8);
        std::vector<uint8_t> out(m.total_len() + 3, 0xee);
        m.emit(mb(out));
        CHECK(hex(cb(out).first(m.total_len())) == hex(pkt));
        CHECK(out[m.total_len()] == 0xee);
    }
}

TEST_CASE("icmp: an echo reply built in place over the request is valid", "[wire][icmp]") {
    auto v = vec(l4_of(cb(golden::icmp_echo)));
    icmp_repr req;
    REQUIRE(icmp_repr::parse(cb(v), req) == wire_error::none);
    icmp_repr rep = req;
    rep.type = icmp_echo_reply;
    rep.emit(mb(v));
    icmp_repr back;
    REQUIRE(icmp_repr::parse(cb(v), back) == wire_error::none);
    CHECK(back.type == icmp_echo_reply);
    CHECK(back.rest == 0x12340007u);
    CHECK(hex(back.payload) == hex(l4_of(cb(golden::icmp_echo)).subspan(8)));
    // Only the type and the checksum differ from the request: 0x0800 less
    // in the sum means 0x0800 more in the checksum.
    CHECK(load16(mb(v).data() + 2) == 0x2c3d + 0x0800);
}

TEST_CASE("icmp: every length below 8 is truncated", "[wire][icmp]") {
    cbytes pkt = l4_of(cb(golden::icmp_echo));
    for (size_t n = 0; n < icmp_header_len; ++n) {
        icmp_repr m;
        INFO("length " << n);
        CHECK(icmp_repr::parse(pkt.first(n), m) == wire_error::truncated);
    }
}

TEST_CASE("icmp: any single-bit flip anywhere is bad_checksum", "[wire][icmp]") {
    const auto orig = vec(l4_of(cb(golden::icmp_echo)));
    for (size_t off = 0; off < orig.size(); ++off) {
        for (int bit = 0; bit < 8; ++bit) {
            auto v = orig;
            v[off] ^= uint8_t(1u << bit);
            icmp_repr m;
            INFO("byte " << off << " bit " << bit);
            REQUIRE(icmp_repr::parse(cb(v), m) == wire_error::bad_checksum);
        }
    }
}

TEST_CASE("icmp: a message cut short of its checksummed length fails the checksum", "[wire][icmp]") {
    // Truncating after the header changes what the checksum covers.
    cbytes pkt = l4_of(cb(golden::icmp_echo));
    icmp_repr m;
    CHECK(icmp_repr::parse(pkt.first(pkt.size() - 1), m) == wire_error::bad_checksum);
}

TEST_CASE("udp: golden datagram decodes and its checksum verifies", "[wire][udp]") {
    udp_repr u;
    cbytes pkt = l4_of(cb(golden::udp_odd));
    REQUIRE(udp_repr::parse(pkt, ip_a, ip_b, u) == wire_error::none);
    CHECK(u.sport == 40001);
    CHECK(u.dport == 53);
    CHECK(u.len == 19);
}

TEST_CASE("udp: emit reproduces the golden odd-length datagram", "[wire][udp]") {
    cbytes pkt = l4_of(cb(golden::udp_odd));
    std::vector<uint8_t> out(pkt.size(), 0xee);
    std::copy(pkt.begin() + 8, pkt.end(), mb(out).begin() + 8);
    udp_repr u;
    u.sport = 40001;
    u.dport = 53;
    u.len = 19;
    u.emit(mb(out), ip_a, ip_b);
    CHECK(hex(out) == hex(pkt));
}

TEST_CASE("udp: a computed zero checksum is sent as 0xffff and verifies", "[wire][udp]") {
    cbytes pkt = l4_of(cb(golden::udp_csum_ffff));
    std::vector<uint8_t> out(pkt.size(), 0);
    std::copy(pkt.begin() + 8, pkt.end(), mb(out).begin() + 8);
    udp_repr u;
    u.sport = 1000;
    u.dport = 2000;
    u.len = 12;
    u.emit(mb(out), ip_a, ip_b);
    CHECK(out[6] == 0xff);
    CHECK(out[7] == 0xff);
    CHECK(hex(out) == hex(pkt));
    udp_repr back;
    CHECK(udp_repr::parse(cb(out), ip_a, ip_b, back) == wire_error::none);
}

TEST_CASE("udp: a zero checksum means none and is not verified", "[wire][udp]") {
    auto v = vec(l4_of(cb(golden::udp_odd)));
    v[6] = v[7] = 0;
    v[10] ^= 0xff;  // corrupt payload: nobody can tell
    udp_repr u;
    CHECK(udp_repr::parse(cb(v), ip_a, ip_b, u) == wire_error::none);
    CHECK(u.len == 19);
}

TEST_CASE("udp: corrupted header, payload or pseudo-header is bad_checksum", "[wire][udp]") {
    const auto orig = vec(l4_of(cb(golden::udp_odd)));
    for (size_t off = 0; off < orig.size(); ++off) {
        if (off == 4 || off == 5) {
            continue;  // the length field: covered below
        }
        auto v = orig;
        v[off] ^= 0x01;
        if (v[6] == 0 && v[7] == 0) {
            continue;  // flipped into "no checksum"
        }
        udp_repr u;
        INFO("byte " << off);
        CHECK(udp_repr::parse(cb(v), ip_a, ip_b, u) == wire_error::bad_checksum);
        CHECK(udp_repr::parse(cb(v), ip_a, ip_b, u, false) == wire_error::none);
    }
    udp_repr u;
    CHECK(udp_repr::parse(cb(orig), ip_a, ipv4(198, 18, 0, 3), u) == wire_error::bad_checksum);
    CHECK(udp_repr::parse(cb(orig), ip_b, ip_a, u) == wire_error::none);  // the sum is symmetric
}

TEST_CASE("udp: every length below 8 is truncated", "[wire][udp]") {
    cbytes pkt = l4_of(cb(golden::udp_odd));
    for (size_t n = 0; n < udp_header_len; ++n) {
        udp_repr u;
        INFO("length " << n);
        CHECK(udp_repr::parse(pkt.first(n), ip_a, ip_b, u) == wire_error::truncated);
    }
}

TEST_CASE("udp: length field below 8 or beyond the buffer is bad_total_len", "[wire][udp]") {
    cbytes pkt = l4_of(cb(golden::udp_odd));
    for (size_t n = 8; n < pkt.size(); ++n) {
        udp_repr u;
        INFO("buffer " << n);
        CHECK(udp_repr::parse(pkt.first(n), ip_a, ip_b, u) == wire_error::bad_total_len);
    }
    for (uint16_t l : {0, 1, 7, 20, 0xffff}) {
        auto v = vec(pkt);
        v[4] = uint8_t(l >> 8);
        v[5] = uint8_t(l);
        udp_repr u;
        INFO("len " << l);
        CHECK(udp_repr::parse(cb(v), ip_a, ip_b, u, false) == wire_error::bad_total_len);
    }
}

TEST_CASE("udp: bytes beyond len are padding outside the checksum", "[wire][udp]") {
    auto v = vec(l4_of(cb(golden::udp_odd)));
    v.insert(v.end(), {0x5a, 0xa5, 0x00});
    udp_repr u;
    REQUIRE(udp_repr::parse(cb(v), ip_a, ip_b, u) == wire_error::none);
    CHECK(u.len == 19);
}
