// Ethernet II and ARP (RFC 826): golden frames decoded and re-encoded byte
// for byte, every truncation, unsupported hardware/protocol types, and MAC
// text parsing.
#include <catch2/catch.hpp>

#include "golden_frames.hh"
#include "wire/arp.hh"
#include "wire/ether.hh"
#include "wire/ipv4.hh"
#include "wire_test_util.hh"

using namespace dshim::wire;
using namespace wire_test;

namespace {

const mac_addr mac_a{{0x02, 0, 0, 0, 0, 0x01}};
const mac_addr mac_b{{0x02, 0, 0, 0, 0, 0x02}};

}  // namespace

TEST_CASE("parse_mac: accepts colon hex in either case", "[wire][ether]") {
    mac_addr m;
    REQUIRE(parse_mac("02:00:5e:AB:cd:Ef", m));
    CHECK(m == mac_addr{{0x02, 0x00, 0x5e, 0xab, 0xcd, 0xef}});
    REQUIRE(parse_mac("ff:ff:ff:ff:ff:ff", m));
    CHECK(m.is_broadcast());
    CHECK(m.is_multicast());
    REQUIRE(parse_mac("00:00:00:00:00:00", m));
    CHECK(m.is_zero());
}

TEST_CASE("parse_mac: rejects malformed text and leaves out untouched", "[wire][ether]") {
    const char* bad[] = {
        "", "02:00:00:00:00", "02:00:00:00:00:01:", "02:00:00:00:00:1", "2:00:00:00:00:01",
        "02-00-00-00-00-01", "02:00:00:00:00:0g", "02:00:00:00:00:010", " 02:00:00:00:00:01",
        "02:00:00:00:00:01 ", "0200.0000.0001", "02::00:00:00:00:01",
    };
    for (const char* s : bad) {
        mac_addr m{{1, 2, 3, 4, 5, 6}};
        INFO("input '" << s << "'");
        CHECK_FALSE(parse_mac(s, m));
        CHECK(m == mac_addr{{1, 2, 3, 4, 5, 6}});
    }
    mac_addr m;
    CHECK_FALSE(parse_mac(nullptr, m));
}

TEST_CASE("ether: golden ARP broadcast decodes", "[wire][ether]") {
    ether_repr e;
    REQUIRE(ether_repr::parse(cb(golden::arp_request), e) == wire_error::none);
    CHECK(e.dst == mac_addr::broadcast());
    CHECK(e.src == mac_a);
    CHECK(e.ethertype == ethertype_arp);
    CHECK(ether_repr::header_len() == 14);
}

TEST_CASE("ether: emit reproduces the golden header", "[wire][ether]") {
    ether_repr e;
    e.dst = mac_b;
    e.src = mac_a;
    e.ethertype = ethertype_ipv4;
    std::vector<uint8_t> out(14, 0xee);
    e.emit(mb(out));
    CHECK(hex(out) == hex(cb(golden::tcp_syn_linux).first(14)));
}

TEST_CASE("ether: every length below 14 is truncated, 14 is enough", "[wire][ether]") {
    for (size_t n = 0; n < 14; ++n) {
        ether_repr e;
        INFO("length " << n);
        CHECK(ether_repr::parse(cb(golden::arp_request).first(n), e) == wire_error::truncated);
    }
    ether_repr e;
    CHECK(ether_repr::parse(cb(golden::arp_request).first(14), e) == wire_error::none);
}

TEST_CASE("arp: golden request decodes", "[wire][arp]") {
    arp_repr a;
    REQUIRE(arp_repr::parse(cb(golden::arp_request).subspan(eth_len), a) == wire_error::none);
    CHECK(a.op == arp_op_request);
    CHECK(a.sha == mac_a);
    CHECK(a.spa == ipv4(198, 18, 0, 1));
    CHECK(a.tha.is_zero());
    CHECK(a.tpa == ipv4(198, 18, 0, 2));
}

TEST_CASE("arp: golden reply decodes", "[wire][arp]") {
    arp_repr a;
    REQUIRE(arp_repr::parse(cb(golden::arp_reply).subspan(eth_len), a) == wire_error::none);
    CHECK(a.op == arp_op_reply);
    CHECK(a.sha == mac_b);
    CHECK(a.spa == ipv4(198, 18, 0, 2));
    CHECK(a.tha == mac_a);
    CHECK(a.tpa == ipv4(198, 18, 0, 1));
}

TEST_CASE("arp: emit reproduces the golden reply and request", "[wire][arp]") {
    arp_repr r;
    r.op = arp_op_reply;
    r.sha = mac_b;
    r.spa = ipv4(198, 18, 0, 2);
    r.tha = mac_a;
    r.tpa = ipv4(198, 18, 0, 1);
    std::vector<uint8_t> out(arp_packet_len, 0xee);
    r.emit(mb(out));
    CHECK(hex(out) == hex(cb(golden::arp_reply).subspan(eth_len)));

    arp_repr q;
    REQUIRE(arp_repr::parse(cb(golden::arp_request).subspan(eth_len), q) == wire_error::none);
    std::vector<uint8_t> out2(arp_packet_len, 0xee);
    q.emit(mb(out2));
    CHECK(hex(out2) == hex(cb(golden::arp_request).subspan(eth_len)));
}

TEST_CASE("arp: Ethernet padding after the 28 bytes is ignored", "[wire][arp]") {
    auto v = vec(cb(golden::arp_request).subspan(eth_len));
    v.resize(46, 0);  // a 60-byte minimum frame minus the Ethernet header
    arp_repr a;
    CHECK(arp_repr::parse(cb(v), a) == wire_error::none);
    CHECK(a.tpa == ipv4(198, 18, 0, 2));
}

TEST_CASE("arp: every length below 28 is truncated", "[wire][arp]") {
    cbytes pkt = cb(golden::arp_request).subspan(eth_len);
    for (size_t n = 0; n < arp_packet_len; ++n) {
        arp_repr a;
        INFO("length " << n);
        CHECK(arp_repr::parse(pkt.first(n), a) == wire_error::truncated);
    }
}

TEST_CASE("arp: foreign hardware, protocol, lengths or opcodes are unsupported", "[wire][arp]") {
    struct mutation {
        size_t off;
        uint8_t val;
        const char* what;
    };
    const mutation muts[] = {
        {1, 6, "htype 6 (IEEE 802)"},
        {0, 1, "htype 0x0101"},
        {2, 0x86, "ptype 0x8600"},
        {3, 0xdd, "ptype 0x08dd"},
        {4, 8, "hlen 8"},
        {5, 16, "plen 16 (IPv6)"},
        {7, 3, "op 3 (RARP request)"},
        {7, 0, "op 0"},
        {6, 1, "op 0x0101"},
    };
    for (const auto& m : muts) {
        auto v = vec(cb(golden::arp_request).subspan(eth_len));
        v[m.off] = m.val;
        arp_repr a;
        INFO(m.what);
        CHECK(arp_repr::parse(cb(v), a) == wire_error::unsupported);
    }
}
