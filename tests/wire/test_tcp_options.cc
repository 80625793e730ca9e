// TCP options (RFC 9293 §3.2 and §3.7.1, RFC 7323, RFC 2018): every
// malformed kind/length is bad_option, unknown options are skipped, EOL ends
// the list, and emit() writes Linux's layouts, trimming SACK blocks to the
// 40-byte option space exactly as emit_len() says.
#include <catch2/catch.hpp>

#include "wire/ipv4.hh"
#include "wire/tcp.hh"
#include "wire_test_util.hh"

using namespace dshim::wire;
using namespace wire_test;

namespace {

const uint32_t ip_a = ipv4(198, 18, 0, 1);
const uint32_t ip_b = ipv4(198, 18, 0, 2);

// A 20-byte ACK header followed by opts, padded with zero (EOL) bytes to a
// multiple of 4, with a correct checksum and a payload of "xy".
std::vector<uint8_t> seg_with_options(const std::vector<uint8_t>& opts) {
    std::vector<uint8_t> v = {0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 2, 0x00, 0x10, 0x01, 0x00,
                              0,    0,    0,    0};
    v.insert(v.end(), opts.begin(), opts.end());
    while (v.size() % 4 != 0) {
        v.push_back(0);
    }
    v[12] = uint8_t((v.size() / 4) << 4);
    v.push_back('x');
    v.push_back('y');
    tcp_fill_checksum(mb(v), ip_a, ip_b);
    return v;
}

wire_error parse_opts(const std::vector<uint8_t>& opts, tcp_repr& r) {
    auto v = seg_with_options(opts);
    return tcp_repr::parse(cb(v), ip_a, ip_b, r);
}

// Emits r's header and returns the header bytes (sentinel-checked).
std::vector<uint8_t> emit_header(const tcp_repr& r) {
    std::vector<uint8_t> out(64, 0xee);
    r.emit(mb(out));
    size_t n = r.emit_header_len();
    for (size_t i = n; i < out.size(); ++i) {
        REQUIRE(out[i] == 0xee);
    }
    out.resize(n);
    return out;
}

std::vector<uint8_t> options_of(const std::vector<uint8_t>& hdr) {
    return std::vector<uint8_t>(hdr.begin() + 20, hdr.end());
}

}  // namespace

TEST_CASE("tcp options: malformed options are bad_option", "[wire][tcp][options]") {
    struct bad_case {
        const char* what;
        std::vector<uint8_t> opts;
    };
    const bad_case cases[] = {
        {"MSS length 3", {2, 3, 5, 0}},
        {"MSS length 5", {2, 5, 5, 0xb4, 0, 1, 1, 1}},
        {"MSS length 2", {2, 2, 1, 1}},
        {"wscale length 2", {3, 2, 1, 1}},
        {"wscale length 4", {3, 4, 7, 0}},
        {"sackOK length 3", {4, 3, 0, 1}},
        {"sackOK length 4", {4, 4, 0, 0}},
        {"timestamp length 8", {8, 8, 0, 0, 0, 1, 0, 0}},
        {"timestamp length 11", {8, 11, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1}},
        {"SACK with no block", {1, 1, 5, 2}},
        {"SACK length 9", {5, 9, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1}},
        {"SACK length 17", {5, 17, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 1, 1}},
        {"SACK length 3", {5, 3, 0, 1}},
        {"unknown kind with length 0", {99, 0, 1, 1}},
        {"unknown kind with length 1", {99, 1, 1, 1}},
        {"known kind with length 0", {2, 0, 5, 0xb4}},
        {"known kind with length 1", {8, 1, 1, 1}},
        {"unknown option running past the header", {1, 1, 99, 4}},
        {"MSS running past the header", {1, 1, 1, 1, 1, 2, 4, 5}},
        {"timestamp running past the header", {1, 1, 8, 10, 0, 0, 0, 1}},
        {"SACK block running past the header", {1, 1, 5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3}},
        {"kind in the last byte, no length", {1, 1, 1, 30}},
        {"kind 255 in the last byte", {1, 1, 1, 255}},
        {"good options then a bad one", {2, 4, 5, 0xb4, 1, 3, 3, 7, 3, 2, 0, 0}},
    };
    for (const auto& c : cases) {
        tcp_repr r;
        INFO(c.what);
        CHECK(parse_opts(c.opts, r) == wire_error::bad_option);
    }
}

TEST_CASE("tcp options: a header with 40 bytes of a 5-block SACK cannot exist", "[wire][tcp][options]") {
    // 5 blocks need 42 bytes: the length always overruns the 40-byte space.
    std::vector<uint8_t> o = {5, 42};
    o.resize(40, 0);
    tcp_repr r;
    CHECK(parse_opts(o, r) == wire_error::bad_option);
}

TEST_CASE("tcp options: unknown options are skipped by their length", "[wire][tcp][options]") {
    // Fast Open cookie (34, len 10), MD5 (19, len 18), an experimental
    // option (254, len 4), an unassigned kind with length 2, then MSS.
    std::vector<uint8_t> o = {34, 10, 1, 2, 3, 4, 5, 6, 7, 8, 254, 4, 0xf9, 0x89, 200, 2, 2, 4, 0x05, 0xb4};
    tcp_repr r;
    REQUIRE(parse_opts(o, r) == wire_error::none);
    CHECK(r.opt.has_mss);
    CHECK(r.opt.mss == 1460);
    CHECK_FALSE(r.opt.has_ts);
    CHECK(r.opt.num_sacks == 0);

    std::vector<uint8_t> md5 = {19, 18};
    md5.resize(18, 0xa5);
    md5.insert(md5.end(), {1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 10});
    REQUIRE(parse_opts(md5, r) == wire_error::none);
    CHECK(r.opt.has_ts);
    CHECK(r.opt.ts_val == 9);
    CHECK(r.opt.ts_ecr == 10);
}

TEST_CASE("tcp options: an unknown option may fill the option space exactly", "[wire][tcp][options]") {
    std::vector<uint8_t> o = {77, 40};
    o.resize(40, 0xff);
    tcp_repr r;
    REQUIRE(parse_opts(o, r) == wire_error::none);
    CHECK(r.header_len == 60);
}

TEST_CASE("tcp options: EOL ends the list and hides what follows", "[wire][tcp][options]") {
    tcp_repr r;
    // Garbage after EOL (a would-be bad MSS) is never read.
    REQUIRE(parse_opts({2, 4, 0x02, 0x18, 0, 2, 3, 0}, r) == wire_error::none);
    CHECK(r.opt.has_mss);
    CHECK(r.opt.mss == 536);
    REQUIRE(parse_opts({0, 8, 10, 1}, r) == wire_error::none);
    CHECK_FALSE(r.opt.has_ts);
}

TEST_CASE("tcp options: NOP-only and empty option areas parse to nothing", "[wire][tcp][options]") {
    tcp_repr r;
    REQUIRE(parse_opts({1, 1, 1, 1, 1, 1, 1, 1}, r) == wire_error::none);
    CHECK(r.header_len == 28);
    CHECK_FALSE(r.opt.has_mss);
    CHECK_FALSE(r.opt.has_wscale);
    CHECK_FALSE(r.opt.sack_permitted);
    CHECK_FALSE(r.opt.has_ts);
    CHECK(r.opt.num_sacks == 0);
    REQUIRE(parse_opts({}, r) == wire_error::none);
    CHECK(r.header_len == 20);
}

TEST_CASE("tcp options: well-formed options in any order are all reported", "[wire][tcp][options]") {
    // wscale 15 is reported as received: clamping to 14 is tcp_input's job.
    std::vector<uint8_t> o = {3, 3, 15, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 4, 2, 2, 4, 0xff, 0xff};
    tcp_repr r;
    REQUIRE(parse_opts(o, r) == wire_error::none);
    CHECK(r.opt.has_wscale);
    CHECK(r.opt.wscale == 15);
    CHECK(r.opt.has_ts);
    CHECK(r.opt.ts_val == 0xffffffffu);
    CHECK(r.opt.ts_ecr == 0u);
    CHECK(r.opt.sack_permitted);
    CHECK(r.opt.has_mss);
    CHECK(r.opt.mss == 0xffff);
}

TEST_CASE("tcp options: SACK with 1 to 4 blocks is accepted", "[wire][tcp][options]") {
    for (uint8_t n = 1; n <= 4; ++n) {
        std::vector<uint8_t> o = {1, 1, 5, uint8_t(2 + 8 * n)};
        for (uint8_t b = 0; b < n; ++b) {
            o.insert(o.end(), {0xff, 0xff, 0xff, uint8_t(0xf0 + b), 0, 0, 0, uint8_t(0x10 + b)});
        }
        tcp_repr r;
        INFO(int(n) << " blocks");
        REQUIRE(parse_opts(o, r) == wire_error::none);
        REQUIRE(r.opt.num_sacks == n);
        for (uint8_t b = 0; b < n; ++b) {
            CHECK(r.opt.sacks[b].start == seq32(0xfffffff0u + b));
            CHECK(r.opt.sacks[b].end == seq32(0x10u + b));
        }
    }
}

TEST_CASE("tcp emit: Linux SYN layout mss, sackOK, TS, nop, wscale", "[wire][tcp][options]") {
    tcp_repr r;
    r.flags = TCPF_SYN;
    r.opt.has_mss = true;
    r.opt.mss = 1460;
    r.opt.sack_permitted = true;
    r.opt.has_ts = true;
    r.opt.ts_val = 0x01020304;
    r.opt.ts_ecr = 0;
    r.opt.has_wscale = true;
    r.opt.wscale = 7;
    CHECK(r.opt.emit_len() == 20);
    auto h = emit_header(r);
    CHECK(h[12] == 0xa0);
    CHECK(hex(options_of(h)) ==
          hex(vec({2, 4, 5, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7})));
}

TEST_CASE("tcp emit: SYN variants without TS or SACK pad with NOPs", "[wire][tcp][options]") {
    tcp_repr r;
    r.flags = TCPF_SYN;
    r.opt.has_mss = true;
    r.opt.mss = 1460;

    SECTION("mss only") {
        CHECK(hex(options_of(emit_header(r))) == hex(vec({2, 4, 5, 0xb4})));
    }
    SECTION("mss, nop nop sackOK") {
        r.opt.sack_permitted = true;
        CHECK(hex(options_of(emit_header(r))) == hex(vec({2, 4, 5, 0xb4, 1, 1, 4, 2})));
    }
    SECTION("mss, nop nop TS, nop wscale") {
        r.opt.has_ts = true;
        r.opt.ts_val = 5;
        r.opt.ts_ecr = 6;
        r.opt.has_wscale = true;
        r.opt.wscale = 0;
        CHECK(hex(options_of(emit_header(r))) ==
              hex(vec({2, 4, 5, 0xb4, 1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6, 1, 3, 3, 0})));
    }
    SECTION("mss, nop wscale") {
        r.opt.has_wscale = true;
        r.opt.wscale = 14;
        CHECK(hex(options_of(emit_header(r))) == hex(vec({2, 4, 5, 0xb4, 1, 3, 3, 14})));
    }
    SECTION("no options at all") {
        r.opt.has_mss = false;
        auto h = emit_header(r);
        CHECK(h.size() == 20);
        CHECK(h[12] == 0x50);
    }
}

TEST_CASE("tcp emit: established layout nop nop TS then nop nop SACK", "[wire][tcp][options]") {
    tcp_repr r;
    r.flags = TCPF_ACK;
    r.opt.has_ts = true;
    r.opt.ts_val = 0xaabbccdd;
    r.opt.ts_ecr = 0x11223344;
    r.opt.num_sacks = 1;
    r.opt.sacks[0] = {seq32(0x100), seq32(0x200)};
    CHECK(r.opt.emit_len() == 24);
    CHECK(hex(options_of(emit_header(r))) ==
          hex(vec({1, 1, 8, 10, 0xaa, 0xbb, 0xcc, 0xdd, 0x11, 0x22, 0x33, 0x44, 1, 1, 5, 10, 0, 0, 1, 0, 0, 0,
                   2, 0})));
}

TEST_CASE("tcp emit: SACK alone carries up to 4 blocks", "[wire][tcp][options]") {
    tcp_repr r;
    r.flags = TCPF_ACK;
    r.opt.num_sacks = 4;
    for (uint32_t i = 0; i < 4; ++i) {
        r.opt.sacks[i] = {seq32(i * 0x10 + 1), seq32(i * 0x10 + 2)};
    }
    CHECK(r.opt.emit_len() == 36);
    auto o = options_of(emit_header(r));
    REQUIRE(o.size() == 36);
    CHECK(hex(std::vector<uint8_t>(o.begin(), o.begin() + 4)) == hex(vec({1, 1, 5, 34})));
    CHECK(o[4 + 3] == 0x01);
    CHECK(o[4 + 24 + 7] == 0x32);
}

TEST_CASE("tcp emit: SACK blocks are trimmed to the option space left", "[wire][tcp][options]") {
    tcp_repr r;
    r.opt.num_sacks = 4;
    for (uint32_t i = 0; i < 4; ++i) {
        r.opt.sacks[i] = {seq32(i * 100), seq32(i * 100 + 50)};
    }
    SECTION("with timestamps: 3 blocks (12 + 4 + 24 = 40)") {
        r.opt.has_ts = true;
        CHECK(r.opt.emit_len() == 40);
        auto o = options_of(emit_header(r));
        CHECK(o[12 + 3] == 26);
    }
    SECTION("with a full SYN option set: 2 blocks (20 + 4 + 16 = 40)") {
        r.opt.has_mss = true;
        r.opt.sack_permitted = true;
        r.opt.has_ts = true;
        r.opt.has_wscale = true;
        CHECK(r.opt.emit_len() == 40);
        auto o = options_of(emit_header(r));
        CHECK(o[20 + 3] == 18);
    }
    SECTION("num_sacks above 4 is treated as 4") {
        r.opt.num_sacks = 9;
        CHECK(r.opt.emit_len() == 36);
    }
}

TEST_CASE("tcp emit: every option combination emits emit_len bytes and parses back", "[wire][tcp][options]") {
    for (unsigned mask = 0; mask < 16; ++mask) {
        for (uint8_t nsack = 0; nsack <= 4; ++nsack) {
            tcp_repr r;
            r.sport = 1234;
            r.dport = 80;
            r.seq = seq32(0xfffffffeu);
            r.ack = seq32(7);
            r.flags = TCPF_ACK;
            r.window = 0x1234;
            r.opt.has_mss = mask & 1;
            r.opt.mss = 1200;
            r.opt.sack_permitted = mask & 2;
            r.opt.has_ts = mask & 4;
            r.opt.ts_val = r.opt.has_ts ? 0xdeadbeef : 0;
            r.opt.ts_ecr = r.opt.has_ts ? 0x0badf00d : 0;
            r.opt.has_wscale = mask & 8;
            r.opt.wscale = r.opt.has_wscale ? 9 : 0;
            r.opt.num_sacks = nsack;
            for (uint32_t i = 0; i < nsack; ++i) {
                r.opt.sacks[i] = {seq32(0x1000 * i), seq32(0x1000 * i + 0x800)};
            }
            INFO("mask " << mask << " sacks " << int(nsack));
            size_t len = r.opt.emit_len();
            REQUIRE(len % 4 == 0);
            REQUIRE(len <= 40);
            std::vector<uint8_t> seg(80, 0xee);
            r.emit(mb(seg));
            REQUIRE(seg[20 + len] == 0xee);
            REQUIRE(seg[19 + len] != 0xee);
            seg.resize(20 + len);
            tcp_fill_checksum(mb(seg), ip_a, ip_b);
            tcp_repr back;
            REQUIRE(tcp_repr::parse(cb(seg), ip_a, ip_b, back) == wire_error::none);
            CHECK(back.header_len == 20 + len);
            CHECK(back.seq == r.seq);
            CHECK(back.ack == r.ack);
            CHECK(back.window == r.window);
            CHECK(back.opt.has_mss == r.opt.has_mss);
            CHECK(back.opt.mss == (r.opt.has_mss ? 1200 : 0));
            CHECK(back.opt.sack_permitted == r.opt.sack_permitted);
            CHECK(back.opt.has_ts == r.opt.has_ts);
            CHECK(back.opt.ts_val == r.opt.ts_val);
            CHECK(back.opt.ts_ecr == r.opt.ts_ecr);
            CHECK(back.opt.has_wscale == r.opt.has_wscale);
            CHECK(back.opt.wscale == r.opt.wscale);
            REQUIRE(back.opt.num_sacks <= nsack);
            // Only trimming for space may drop blocks.
            size_t fixed = len - (back.opt.num_sacks ? 4 + 8 * back.opt.num_sacks : 0);
            if (back.opt.num_sacks < nsack) {
                CHECK(fixed + 4 + 8 * (back.opt.num_sacks + 1) > 40);
            }
            for (size_t i = 0; i < back.opt.num_sacks; ++i) {
                CHECK(back.opt.sacks[i].start == r.opt.sacks[i].start);
                CHECK(back.opt.sacks[i].end == r.opt.sacks[i].end);
            }
        }
    }
}
