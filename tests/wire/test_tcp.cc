// TCP header (RFC 9293 §3.1): golden segments with Linux's option layouts
// decoded and re-encoded byte for byte (header, options, checksum), every
// truncation, bad data offsets, checksum and pseudo-header errors, and the
// offload pseudo-header sum.
#include <catch2/catch.hpp>

#include "golden_frames.hh"
#include "wire/checksum.hh"
#include "wire/ipv4.hh"
#include "wire/tcp.hh"
#include "wire_test_util.hh"

using namespace dshim::wire;
using namespace wire_test;

namespace {

struct golden_seg {
    const char* name;
    cbytes frame;
    tcp_repr want;        // header_len as on the wire
    size_t payload_len;
};

tcp_repr make(uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t hlen,
              uint8_t flags, uint16_t window, tcp_options opt = {}, uint16_t urg = 0) {
    tcp_repr r;
    r.sport = sport;
    r.dport = dport;
    r.seq = seq32(seq);
    r.ack = seq32(ack);
    r.header_len = hlen;
    r.flags = flags;
    r.window = window;
    r.urg_ptr = urg;
    r.opt = opt;
    return r;
}

tcp_options syn_opts(uint16_t mss, bool sack, bool ts, uint32_t tsval, uint32_t tsecr, int ws) {
    tcp_options o;
    o.has_mss = true;
    o.mss = mss;
    o.sack_permitted = sack;
    o.has_ts = ts;
    o.ts_val = tsval;
    o.ts_ecr = tsecr;
    o.has_wscale = ws >= 0;
    o.wscale = uint8_t(ws < 0 ? 0 : ws);
    return o;
}

tcp_options est_opts(uint32_t tsval, uint32_t tsecr, std::initializer_list<uint32_t> sack_edges) {
    tcp_options o;
    o.has_ts = true;
    o.ts_val = tsval;
    o.ts_ecr = tsecr;
    const uint32_t* e = sack_edges.begin();
    for (size_t i = 0; i + 1 < sack_edges.size(); i += 2) {
        o.sacks[o.num_sacks].start = seq32(e[i]);
        o.sacks[o.num_sacks].end = seq32(e[i + 1]);
        ++o.num_sacks;
    }
    return o;
}

std::vector<golden_seg> golden_segments() {
    return {
        {"syn_linux", cb(golden::tcp_syn_linux),
         make(40000, 80, 0x12345678, 0, 40, TCPF_SYN, 64240, syn_opts(1460, true, true, 0x0a0b0c0d, 0, 7)), 0},
        {"synack_linux", cb(golden::tcp_synack_linux),
         make(80, 40000, 0xfffffff0, 0x12345679, 40, TCPF_SYN | TCPF_ACK, 65160,
              syn_opts(1460, true, true, 0x11223344, 0x0a0b0c0d, 7)),
         0},
        {"syn_ts_only", cb(golden::tcp_syn_ts_only),
         make(40002, 8080, 1, 0, 40, TCPF_SYN, 1024, syn_opts(536, false, true, 1, 0, 0)), 0},
        {"syn_sack_only", cb(golden::tcp_syn_sack_only),
         make(40003, 8080, 2, 0, 32, TCPF_SYN, 2048, syn_opts(1400, true, false, 0, 0, 14)), 0},
        {"syn_bare", cb(golden::tcp_syn_bare), make(40004, 22, 0x80000000, 0, 20, TCPF_SYN, 512), 0},
        {"data_ts", cb(golden::tcp_data_ts),
         make(40000, 80, 0x12345679, 0xfffffff1, 32, TCPF_PSH | TCPF_ACK, 502,
              est_opts(0x0a0b0c12, 0x11223344, {})),
         5},
        {"ack_sack", cb(golden::tcp_ack_sack),
         make(80, 40000, 0xfffffff1, 0x1234567e, 52, TCPF_ACK, 509,
              est_opts(0x11223350, 0x0a0b0c12, {0x12345700, 0x12345800, 0x12345900, 0x12345a00})),
         0},
        {"ack_sack3", cb(golden::tcp_ack_sack3),
         make(80, 40000, 100, 200, 60, TCPF_ACK, 509, est_opts(7, 8, {300, 400, 500, 600, 0xfffffff0, 0x10})), 0},
        {"rst_ack", cb(golden::tcp_rst_ack), make(80, 40000, 0, 0x12345679, 20, TCPF_RST | TCPF_ACK, 0), 0},
        {"fin_odd", cb(golden::tcp_fin_odd),
         make(40000, 80, 5, 6, 20, TCPF_FIN | TCPF_PSH | TCPF_ACK | TCPF_URG, 100, {}, 3), 3},
    };
}

struct addrs {
    uint32_t src;
    uint32_t dst;
    cbytes seg;
};

addrs split(cbytes frame) {
    ipv4_repr ip;
    REQUIRE(ipv4_repr::parse(frame.subspan(eth_len), ip) == wire_error::none);
    REQUIRE(ip.proto == ipproto_tcp);
    return {ip.src, ip.dst, frame.subspan(eth_len + ip.header_len, ip.total_len - ip.header_len)};
}

void check_options(const tcp_options& got, const tcp_options& want) {
    CHECK(got.has_mss == want.has_mss);
    CHECK(got.mss == want.mss);
    CHECK(got.has_wscale == want.has_wscale);
    CHECK(got.wscale == want.wscale);
    CHECK(got.sack_permitted == want.sack_permitted);
    CHECK(got.has_ts == want.has_ts);
    CHECK(got.ts_val == want.ts_val);
    CHECK(got.ts_ecr == want.ts_ecr);
    REQUIRE(got.num_sacks == want.num_sacks);
    for (size_t i = 0; i < got.num_sacks; ++i) {
        CHECK(got.sacks[i].start == want.sacks[i].start);
        CHECK(got.sacks[i].end == want.sacks[i].end);
    }
}

void check_repr(const tcp_repr& got, const tcp_repr& want) {
    CHECK(got.sport == want.sport);
    CHECK(got.dport == want.dport);
    CHECK(got.seq == want.seq);
    CHECK(got.ack == want.ack);
    CHECK(int(got.header_len) == int(want.header_len));
    CHECK(int(got.flags) == int(want.flags));
    CHECK(got.window == want.window);
    CHECK(got.urg_ptr == want.urg_ptr);
    check_options(got.opt, want.opt);
}

}  // namespace

TEST_CASE("tcp: golden segments decode to the expected repr", "[wire][tcp]") {
    for (const auto& g : golden_segments()) {
        SECTION(g.name) {
            auto [src, dst, seg] = split(g.frame);
            tcp_repr r;
            REQUIRE(tcp_repr::parse(seg, src, dst, r) == wire_error::none);
            check_repr(r, g.want);
            CHECK(seg.size() - r.header_len == g.payload_len);
        }
    }
}

TEST_CASE("tcp: emit + payload + tcp_fill_checksum reproduces the golden segments", "[wire][tcp]") {
    for (const auto& g : golden_segments()) {
        SECTION(g.name) {
            auto [src, dst, seg] = split(g.frame);
            tcp_repr r = g.want;
            r.header_len = 0;  // emit computes its own
            REQUIRE(r.emit_header_len() == g.want.header_len);
            std::vector<uint8_t> out(seg.size() + 4, 0xee);
            bytes o = mb(out);
            r.emit(o);
            // The checksum field is left zero until filled.
            CHECK(out[16] == 0);
            CHECK(out[17] == 0);
            CHECK(out[r.emit_header_len()] == 0xee);
            std::copy(seg.begin() + long(g.want.header_len), seg.end(), o.begin() + long(g.want.header_len));
            tcp_fill_checksum(o.first(seg.size()), src, dst);
            CHECK(hex(o.first(seg.size())) == hex(seg));
            CHECK(out[seg.size()] == 0xee);
        }
    }
}

TEST_CASE("tcp: parse then emit round-trips the golden headers", "[wire][tcp]") {
    for (const auto& g : golden_segments()) {
        SECTION(g.name) {
            auto [src, dst, seg] = split(g.frame);
            tcp_repr r;
            REQUIRE(tcp_repr::parse(seg, src, dst, r) == wire_error::none);
            auto out = vec(seg);
            std::fill(out.begin(), out.begin() + r.header_len, 0xee);
            r.emit(mb(out));
            tcp_fill_checksum(mb(out), src, dst);
            CHECK(hex(out) == hex(seg));
        }
    }
}

TEST_CASE("tcp: tcp_fill_checksum ignores whatever the field held", "[wire][tcp]") {
    auto [src, dst, seg] = split(cb(golden::tcp_fin_odd));
    auto v = vec(seg);
    v[16] = 0x12;
    v[17] = 0x34;
    tcp_fill_checksum(mb(v), src, dst);
    CHECK(hex(v) == hex(seg));
}

TEST_CASE("tcp: every length below 20 is truncated", "[wire][tcp]") {
    for (const auto& g : golden_segments()) {
        auto [src, dst, seg] = split(g.frame);
        for (size_t n = 0; n < tcp_min_header_len; ++n) {
            tcp_repr r;
            INFO(g.name << " length " << n);
            CHECK(tcp_repr::parse(seg.first(n), src, dst, r) == wire_error::truncated);
        }
    }
}

TEST_CASE("tcp: a buffer shorter than the data offset is bad_header_len", "[wire][tcp]") {
    for (const auto& g : golden_segments()) {
        auto [src, dst, seg] = split(g.frame);
        for (size_t n = tcp_min_header_len; n < g.want.header_len; ++n) {
            tcp_repr r;
            INFO(g.name << " length " << n);
            CHECK(tcp_repr::parse(seg.first(n), src, dst, r, false) == wire_error::bad_header_len);
        }
    }
}

TEST_CASE("tcp: a segment cut inside its payload fails the checksum", "[wire][tcp]") {
    for (const auto& g : golden_segments()) {
        auto [src, dst, seg] = split(g.frame);
        for (size_t n = g.want.header_len; n < seg.size(); ++n) {
            tcp_repr r;
            INFO(g.name << " length " << n);
            CHECK(tcp_repr::parse(seg.first(n), src, dst, r) == wire_error::bad_checksum);
            CHECK(tcp_repr::parse(seg.first(n), src, dst, r, false) == wire_error::none);
        }
    }
}

TEST_CASE("tcp: data offset below 5 or beyond the segment is bad_header_len", "[wire][tcp]") {
    auto [src, dst, seg] = split(cb(golden::tcp_syn_linux));  // 40-byte segment
    for (uint8_t doff : {0, 1, 4, 11, 15}) {
        auto v = vec(seg);
        v[12] = uint8_t(doff << 4);
        tcp_fill_checksum(mb(v), src, dst);
        tcp_repr r;
        INFO("data offset " << int(doff));
        CHECK(tcp_repr::parse(cb(v), src, dst, r) == wire_error::bad_header_len);
    }
}

TEST_CASE("tcp: any single-bit flip outside the data offset is bad_checksum", "[wire][tcp]") {
    auto [src, dst, seg] = split(cb(golden::tcp_data_ts));
    const auto orig = vec(seg);
    for (size_t off = 0; off < orig.size(); ++off) {
        for (int bit = 0; bit < 8; ++bit) {
            if (off == 12 && bit >= 4) {
                continue;  // data offset bits: covered above
            }
            auto v = orig;
            v[off] ^= uint8_t(1u << bit);
            tcp_repr r;
            INFO("byte " << off << " bit " << bit);
            REQUIRE(tcp_repr::parse(cb(v), src, dst, r) == wire_error::bad_checksum);
        }
    }
}

TEST_CASE("tcp: the pseudo-header binds the checksum to the addresses", "[wire][tcp]") {
    auto [src, dst, seg] = split(cb(golden::tcp_syn_linux));
    tcp_repr r;
    CHECK(tcp_repr::parse(seg, src, ipv4(198, 18, 0, 3), r) == wire_error::bad_checksum);
    CHECK(tcp_repr::parse(seg, ipv4(198, 19, 0, 1), dst, r) == wire_error::bad_checksum);
    CHECK(tcp_repr::parse(seg, src, ipv4(198, 18, 0, 3), r, false) == wire_error::none);
    CHECK(r.seq == seq32(0x12345678));
}

TEST_CASE("tcp: a failed parse leaves the output untouched", "[wire][tcp]") {
    auto [src, dst, seg] = split(cb(golden::tcp_syn_linux));
    auto v = vec(seg);
    v[20] = 2;
    v[21] = 5;  // MSS with length 5
    tcp_fill_checksum(mb(v), src, dst);
    tcp_repr r;
    r.sport = 7;
    r.opt.mss = 99;
    CHECK(tcp_repr::parse(cb(v), src, dst, r) == wire_error::bad_option);
    CHECK(r.sport == 7);
    CHECK(r.opt.mss == 99);
}

TEST_CASE("tcp_pseudo_csum: seeding the field with it lets a device finish the checksum", "[wire][tcp]") {
    for (const auto& g : golden_segments()) {
        auto [src, dst, seg] = split(g.frame);
        auto v = vec(seg);
        uint16_t ph = tcp_pseudo_csum(src, dst, uint16_t(v.size()));
        v[16] = uint8_t(ph >> 8);
        v[17] = uint8_t(ph);
        // What the NIC does: checksum the L4 bytes as they are.
        uint16_t c = csum_fold(csum_partial(cb(v)));
        INFO(g.name);
        CHECK(c == load16(seg.data() + 16));
    }
    // Folded, not complemented: the plain pseudo-header sum.
    uint32_t s = pseudo_header_sum(ipv4(198, 18, 0, 1), ipv4(198, 18, 0, 2), ipproto_tcp, 40);
    CHECK(tcp_pseudo_csum(ipv4(198, 18, 0, 1), ipv4(198, 18, 0, 2), 40) == uint16_t(~csum_fold(s)));
    CHECK(tcp_pseudo_csum(ipv4(198, 18, 0, 1), ipv4(198, 18, 0, 2), 40) ==
          uint16_t(0xc612 + 0x0001 + 0xc612 + 0x0002 + 6 + 40 - 0xffff));
}
