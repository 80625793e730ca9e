// IPv4 header (RFC 791, RFC 1122 §3.2.1): golden headers decoded and
// re-encoded, checksum fill and offload, every truncation, bad version, IHL
// and total length, header checksum corruption, Ethernet padding, options,
// and dotted-quad text conversion.
#include <catch2/catch.hpp>

#include <cstring>

#include "golden_frames.hh"
#include "wire/checksum.hh"
#include "wire/ipv4.hh"
#include "wire_test_util.hh"

using namespace dshim::wire;
using namespace wire_test;

namespace {

cbytes ip_of(cbytes frame) { return frame.subspan(eth_len); }

// Recomputes the header checksum of a 20..60 byte header in place.
void refill_ip_csum(std::vector<uint8_t>& v, size_t hlen) {
    v[10] = v[11] = 0;
    uint16_t c = csum_fold(csum_partial(cb(v).first(hlen)));
    v[10] = uint8_t(c >> 8);
    v[11] = uint8_t(c);
}

}  // namespace

TEST_CASE("ipv4: golden SYN header decodes", "[wire][ipv4]") {
    ipv4_repr ip;
    REQUIRE(ipv4_repr::parse(ip_of(cb(golden::tcp_syn_linux)), ip) == wire_error::none);
    CHECK(ip.header_len == 20);
    CHECK(ip.tos == 0);
    CHECK(ip.total_len == 60);
    CHECK(ip.id == 0x4d2f);
    CHECK(ip.frag == ip_df);
    CHECK_FALSE(ip.is_fragment());
    CHECK(ip.ttl == 64);
    CHECK(ip.proto == ipproto_tcp);
    CHECK(ip.src == ipv4(198, 18, 0, 1));
    CHECK(ip.dst == ipv4(198, 18, 0, 2));
}

TEST_CASE("ipv4: emit reproduces golden headers of every protocol", "[wire][ipv4]") {
    struct gold {
        cbytes frame;
        uint16_t id;
        uint16_t frag;
        uint8_t ttl;
        uint8_t proto;
        uint32_t src;
        uint32_t dst;
    };
    const uint32_t a = ipv4(198, 18, 0, 1);
    const uint32_t b = ipv4(198, 18, 0, 2);
    const gold golds[] = {
        {cb(golden::tcp_syn_linux), 0x4d2f, ip_df, 64, ipproto_tcp, a, b},
        {cb(golden::icmp_echo), 0xbeef, ip_df, 64, ipproto_icmp, a, b},
        {cb(golden::icmp_frag_needed), 1, 0, 255, ipproto_icmp, b, a},
        {cb(golden::udp_odd), 0x0102, ip_df, 64, ipproto_udp, a, b},
        {cb(golden::tcp_syn_bare), 7, 0, 64, ipproto_tcp, a, b},
    };
    for (const auto& g : golds) {
        ipv4_repr ip;
        ip.total_len = uint16_t(g.frame.size() - eth_len);
        ip.id = g.id;
        ip.frag = g.frag;
        ip.ttl = g.ttl;
        ip.proto = g.proto;
        ip.src = g.src;
        ip.dst = g.dst;
        std::vector<uint8_t> out(20, 0xee);
        ip.emit(mb(out));
        INFO("id " << g.id);
        CHECK(hex(out) == hex(ip_of(g.frame).first(20)));
    }
}

TEST_CASE("ipv4: emit ignores header_len and writes 20 bytes only", "[wire][ipv4]") {
    ipv4_repr ip;
    REQUIRE(ipv4_repr::parse(ip_of(cb(golden::udp_odd)), ip) == wire_error::none);
    ip.header_len = 24;
    std::vector<uint8_t> out(24, 0xee);
    ip.emit(mb(out));
    CHECK(hex(cb(out).first(20)) == hex(ip_of(cb(golden::udp_odd)).first(20)));
    CHECK(out[20] == 0xee);
    CHECK(out[23] == 0xee);
}

TEST_CASE("ipv4: emit without checksum leaves the field zero for offload", "[wire][ipv4]") {
    ipv4_repr ip;
    REQUIRE(ipv4_repr::parse(ip_of(cb(golden::tcp_syn_linux)), ip) == wire_error::none);
    std::vector<uint8_t> out(20, 0xee);
    ip.emit(mb(out), false);
    CHECK(out[10] == 0);
    CHECK(out[11] == 0);
    auto want = vec(ip_of(cb(golden::tcp_syn_linux)).first(20));
    want[10] = want[11] = 0;
    CHECK(hex(out) == hex(want));
    // Unverified parse accepts it; verified parse refuses it.
    auto whole = vec(ip_of(cb(golden::tcp_syn_linux)));
    std::copy(out.begin(), out.end(), whole.begin());
    ipv4_repr back;
    CHECK(ipv4_repr::parse(cb(whole), back, false) == wire_error::none);
    CHECK(ipv4_repr::parse(cb(whole), back) == wire_error::bad_checksum);
}

TEST_CASE("ipv4: parse then emit round-trips every golden header", "[wire][ipv4]") {
    const cbytes frames[] = {
        cb(golden::icmp_echo),     cb(golden::icmp_frag_needed), cb(golden::udp_odd),
        cb(golden::udp_csum_ffff), cb(golden::tcp_syn_linux),    cb(golden::tcp_synack_linux),
        cb(golden::tcp_data_ts),   cb(golden::tcp_ack_sack),     cb(golden::tcp_rst_ack),
        cb(golden::tcp_fin_odd),
    };
    for (cbytes f : frames) {
        ipv4_repr ip;
        REQUIRE(ipv4_repr::parse(ip_of(f), ip) == wire_error::none);
        CHECK(ip.total_len == f.size() - eth_len);
        std::vector<uint8_t> out(20);
        ip.emit(mb(out));
        CHECK(hex(out) == hex(ip_of(f).first(20)));
    }
}

TEST_CASE("ipv4: every length below 20 is truncated", "[wire][ipv4]") {
    cbytes pkt = ip_of(cb(golden::tcp_syn_linux));
    for (size_t n = 0; n < 20; ++n) {
        ipv4_repr ip;
        INFO("length " << n);
        CHECK(ipv4_repr::parse(pkt.first(n), ip) == wire_error::truncated);
    }
}

TEST_CASE("ipv4: a buffer shorter than total_len is bad_total_len", "[wire][ipv4]") {
    cbytes pkt = ip_of(cb(golden::tcp_syn_linux));
    for (size_t n = 20; n < pkt.size(); ++n) {
        ipv4_repr ip;
        INFO("length " << n);
        CHECK(ipv4_repr::parse(pkt.first(n), ip) == wire_error::bad_total_len);
    }
    ipv4_repr ip;
    CHECK(ipv4_repr::parse(pkt, ip) == wire_error::none);
}

TEST_CASE("ipv4: Ethernet padding beyond total_len is accepted", "[wire][ipv4]") {
    auto v = vec(ip_of(cb(golden::tcp_rst_ack)));
    REQUIRE(v.size() == 40);
    v.resize(46, 0);  // padded to the 60-byte Ethernet minimum
    ipv4_repr ip;
    REQUIRE(ipv4_repr::parse(cb(v), ip) == wire_error::none);
    CHECK(ip.total_len == 40);
}

TEST_CASE("ipv4: versions other than 4 are bad_version", "[wire][ipv4]") {
    for (uint8_t ver : {0, 1, 5, 6, 15}) {
        auto v = vec(ip_of(cb(golden::tcp_syn_linux)));
        v[0] = uint8_t(ver << 4 | 5);
        refill_ip_csum(v, 20);
        ipv4_repr ip;
        INFO("version " << int(ver));
        CHECK(ipv4_repr::parse(cb(v), ip) == wire_error::bad_version);
    }
}

TEST_CASE("ipv4: IHL below 5 is bad_header_len", "[wire][ipv4]") {
    for (uint8_t ihl = 0; ihl < 5; ++ihl) {
        auto v = vec(ip_of(cb(golden::tcp_syn_linux)));
        v[0] = uint8_t(0x40 | ihl);
        ipv4_repr ip;
        INFO("IHL " << int(ihl));
        CHECK(ipv4_repr::parse(cb(v), ip, false) == wire_error::bad_header_len);
    }
}

TEST_CASE("ipv4: IHL beyond total_len is bad_header_len", "[wire][ipv4]") {
    // total_len 20 with IHL 6: the header claims more than the datagram.
    auto v = vec(ip_of(cb(golden::tcp_syn_linux)));
    v[0] = 0x46;
    v[2] = 0;
    v[3] = 20;
    refill_ip_csum(v, 24);
    ipv4_repr ip;
    CHECK(ipv4_repr::parse(cb(v), ip) == wire_error::bad_header_len);
    // total_len below 20 with IHL 5 likewise.
    auto w = vec(ip_of(cb(golden::tcp_syn_linux)));
    w[2] = 0;
    w[3] = 19;
    refill_ip_csum(w, 20);
    CHECK(ipv4_repr::parse(cb(w), ip) == wire_error::bad_header_len);
}

TEST_CASE("ipv4: IHL 15 with options parses and reports header_len 60", "[wire][ipv4]") {
    // 20-byte header + 40 bytes of NOP options + 4 payload bytes.
    auto v = vec(ip_of(cb(golden::tcp_syn_linux)).first(20));
    v[0] = 0x4f;
    v.insert(v.end(), 40, 0x01);
    v.insert(v.end(), {0xde, 0xad, 0xbe, 0xef});
    v[2] = 0;
    v[3] = 64;
    refill_ip_csum(v, 60);
    ipv4_repr ip;
    REQUIRE(ipv4_repr::parse(cb(v), ip) == wire_error::none);
    CHECK(ip.header_len == 60);
    CHECK(ip.total_len == 64);
    // The checksum covers the options: corrupt one and parse must notice.
    v[40] ^= 0x10;
    CHECK(ipv4_repr::parse(cb(v), ip) == wire_error::bad_checksum);
    CHECK(ipv4_repr::parse(cb(v), ip, false) == wire_error::none);
}

TEST_CASE("ipv4: any single-bit flip in the checksum-only bytes is bad_checksum", "[wire][ipv4]") {
    // Bytes whose corruption no other check can see: tos, id, frag, ttl,
    // proto, checksum, addresses.
    const size_t offs[] = {1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
    for (size_t off : offs) {
        for (int bit = 0; bit < 8; ++bit) {
            auto v = vec(ip_of(cb(golden::udp_odd)));
            v[off] ^= uint8_t(1u << bit);
            ipv4_repr ip;
            INFO("byte " << off << " bit " << bit);
            REQUIRE(ipv4_repr::parse(cb(v), ip) == wire_error::bad_checksum);
            REQUIRE(ipv4_repr::parse(cb(v), ip, false) == wire_error::none);
        }
    }
}

TEST_CASE("ipv4: fragments are recognised by MF or offset", "[wire][ipv4]") {
    ipv4_repr ip;
    ip.frag = ip_df;
    CHECK_FALSE(ip.is_fragment());
    ip.frag = ip_mf;
    CHECK(ip.is_fragment());
    ip.frag = 185;  // last fragment at offset 1480
    CHECK(ip.is_fragment());
    ip.frag = ip_df | 1;
    CHECK(ip.is_fragment());
}

TEST_CASE("parse_ipv4: dotted quads", "[wire][ipv4]") {
    uint32_t a = 0;
    REQUIRE(parse_ipv4("198.18.0.1", a));
    CHECK(a == ipv4(198, 18, 0, 1));
    REQUIRE(parse_ipv4("0.0.0.0", a));
    CHECK(a == 0u);
    REQUIRE(parse_ipv4("255.255.255.255", a));
    CHECK(a == 0xffffffffu);
    REQUIRE(parse_ipv4("198.19.255.254", a));
    CHECK(a == ipv4(198, 19, 255, 254));
}

TEST_CASE("parse_ipv4: rejects anything but four plain decimal octets", "[wire][ipv4]") {
    const char* bad[] = {
        "", "1", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.256", "1.2.3.4 ", " 1.2.3.4",
        "1..2.3", "1.2.3.", ".1.2.3", "01.2.3.4", "1.2.3.04", "1.2.3.0x4", "a.b.c.d",
        "1.2.3.-4", "+1.2.3.4", "1234.1.1.1", "1.2.3.4/24", "0000.0.0.0",
    };
    for (const char* s : bad) {
        uint32_t a = 0x11111111;
        INFO("input '" << s << "'");
        CHECK_FALSE(parse_ipv4(s, a));
        CHECK(a == 0x11111111u);
    }
    uint32_t a;
    CHECK_FALSE(parse_ipv4(nullptr, a));
}

TEST_CASE("format_ipv4: round-trips with parse_ipv4", "[wire][ipv4]") {
    char buf[16];
    CHECK(std::string(format_ipv4(ipv4(198, 18, 0, 1), buf)) == "198.18.0.1");
    CHECK(std::string(format_ipv4(0, buf)) == "0.0.0.0");
    CHECK(std::string(format_ipv4(0xffffffffu, buf)) == "255.255.255.255");
    CHECK(std::string(format_ipv4(ipv4(10, 100, 9, 250), buf)) == "10.100.9.250");
    CHECK(format_ipv4(1, buf) == buf);
    for (uint32_t x : {0x01020304u, 0xc612ff0au, 0x0a00640au, 0x64000009u}) {
        uint32_t back = 0;
        REQUIRE(parse_ipv4(format_ipv4(x, buf), back));
        CHECK(back == x);
    }
}
