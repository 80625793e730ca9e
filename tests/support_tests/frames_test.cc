// Tests of tests/support/frames: builders produce frames with checksums an
// independent oracle accepts, parse_frame round-trips them, describe prints
// the packetdrill-style line.
#include <catch2/catch.hpp>
#include <string>
#include <vector>
#include "support/frames.hh"
#include "support/inet_csum.hh"
#include "support/test_pool.hh"

using namespace dshim;
using namespace dshim::test;

namespace {

const wire::mac_addr mac_c{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
const wire::mac_addr mac_s{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};

frame_addrs client_to_server() {
    frame_addrs a;
    a.src_mac = mac_c;
    a.dst_mac = mac_s;
    a.src_ip = wire::ipv4(198, 18, 0, 2);
    a.dst_ip = wire::ipv4(198, 18, 0, 1);
    return a;
}

std::vector<std::byte> text(const char* s) {
    std::vector<std::byte> out;
    for (; *s; ++s) {
        out.push_back(std::byte(uint8_t(*s)));
    }
    return out;
}

// Independent checks of the IPv4 header and L4 checksums of an untagged frame.
void check_oracle_checksums(const frame_bytes& f) {
    std::span<const std::byte> s(f);
    REQUIRE(s.size() >= 34);
    CHECK(oracle_fold(oracle_sum(s.subspan(14, 20))) == 0xffff);
    uint8_t proto = uint8_t(s[23]);
    uint16_t total = wire::load16(s.data() + 16);
    auto l4 = s.subspan(34, total - 20u);
    if (proto == 6 || proto == 17) {
        uint64_t ps = oracle_pseudo_sum(wire::load32(s.data() + 26), wire::load32(s.data() + 30), proto,
                                        uint16_t(l4.size()));
        CHECK(oracle_fold(oracle_sum(l4, ps)) == 0xffff);
    } else if (proto == 1) {
        CHECK(oracle_fold(oracle_sum(l4)) == 0xffff);
    }
}

}  // namespace

TEST_CASE("frames: SYN-ACK with options round-trips and prints packetdrill style", "[support][frames]") {
    wire::tcp_repr t;
    t.sport = 40000;
    t.dport = 80;
    t.seq = wire::seq32(100);
    t.ack = wire::seq32(5);
    t.flags = wire::TCPF_SYN | wire::TCPF_ACK;
    t.window = 65535;
    t.opt.has_mss = true;
    t.opt.mss = 1460;
    t.opt.sack_permitted = true;
    t.opt.has_ts = true;
    t.opt.ts_val = 1;
    t.opt.ts_ecr = 0;
    t.opt.has_wscale = true;
    t.opt.wscale = 7;
    frame_bytes f = make_tcp_frame(client_to_server(), t);
    CHECK(f.size() == 14 + 20 + 40);
    check_oracle_checksums(f);

    // IPv4 header defaults: TTL 64, DF, id 0.
    CHECK(uint8_t(f[22]) == 64);
    CHECK(wire::load16(f.data() + 20) == wire::ip_df);
    CHECK(wire::load16(f.data() + 18) == 0);

    parsed_frame p = parse_frame(f);
    REQUIRE(p.ok());
    CHECK(p.is_ipv4);
    CHECK(p.is_tcp);
    CHECK_FALSE(p.is_udp);
    CHECK(p.eth.src == mac_c);
    CHECK(p.eth.dst == mac_s);
    CHECK(p.ip.src == wire::ipv4(198, 18, 0, 2));
    CHECK(p.tcp.sport == 40000);
    CHECK(p.tcp.seq == wire::seq32(100));
    CHECK(p.tcp.ack == wire::seq32(5));
    CHECK(p.tcp.opt.mss == 1460);
    CHECK(p.tcp.opt.wscale == 7);
    CHECK(p.tcp.opt.sack_permitted);
    CHECK(p.tcp.opt.ts_val == 1);
    CHECK(p.payload.empty());
    CHECK(p.seg_len() == 1);
    CHECK(describe(p) ==
          "198.18.0.2:40000 > 198.18.0.1:80 S. seq 100 ack 5 win 65535 "
          "<mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7> len 0");
}

TEST_CASE("frames: data segment carries its payload and timestamps", "[support][frames]") {
    wire::tcp_repr t;
    t.sport = 80;
    t.dport = 40000;
    t.seq = wire::seq32(1);
    t.ack = wire::seq32(101);
    t.flags = wire::TCPF_PSH | wire::TCPF_ACK;
    t.window = 502;
    t.opt.has_ts = true;
    t.opt.ts_val = 77;
    t.opt.ts_ecr = 66;
    auto data = text("hello");
    frame_bytes f = make_tcp_frame(client_to_server().reversed(), t, data);
    check_oracle_checksums(f);
    parsed_frame p = parse_frame(f);
    REQUIRE(p.ok());
    CHECK(p.payload == data);
    CHECK(p.seg_len() == 5);
    CHECK(p.ip.src == wire::ipv4(198, 18, 0, 1));
    CHECK(p.eth.src == mac_s);
    CHECK(describe(p) == "198.18.0.1:80 > 198.18.0.2:40000 P. seq 1 ack 101 win 502 <nop,nop,TS val 77 ecr 66> len 5");
}

TEST_CASE("frames: SACK blocks and bare flags print", "[support][frames]") {
    wire::tcp_repr t;
    t.sport = 1;
    t.dport = 2;
    t.seq = wire::seq32(10);
    t.ack = wire::seq32(20);
    t.flags = wire::TCPF_ACK;
    t.window = 100;
    t.opt.num_sacks = 1;
    t.opt.sacks[0] = {wire::seq32(30), wire::seq32(40)};
    parsed_frame p = parse_frame(make_tcp_frame(client_to_server(), t));
    REQUIRE(p.ok());
    CHECK(describe(p) == "198.18.0.2:1 > 198.18.0.1:2 . seq 10 ack 20 win 100 <nop,nop,sack 30:40> len 0");

    wire::tcp_repr r;
    r.flags = wire::TCPF_RST;
    r.seq = wire::seq32(9);
    r.ack = wire::seq32(1234);  // not printed without ACK
    CHECK(describe(make_tcp_frame(client_to_server(), r)) == "198.18.0.2:0 > 198.18.0.1:0 R seq 9 win 0 len 0");
    CHECK(tcp_flags_str(wire::TCPF_FIN | wire::TCPF_PSH | wire::TCPF_ACK) == "FP.");
    CHECK(tcp_flags_str(wire::TCPF_SYN | wire::TCPF_ECE | wire::TCPF_CWR) == "SEW");
    CHECK(tcp_flags_str(0) == "none");
}

TEST_CASE("frames: a corrupted TCP frame fails parsing with bad_checksum", "[support][frames]") {
    wire::tcp_repr t;
    t.flags = wire::TCPF_ACK;
    t.sport = 5;
    t.dport = 6;
    frame_bytes f = make_tcp_frame(client_to_server(), t, text("abcdef"));
    f.back() ^= std::byte{0x10};
    parsed_frame p = parse_frame(f);
    CHECK_FALSE(p.ok());
    CHECK(p.err == wire::wire_error::bad_checksum);
    CHECK(std::string(p.err_layer) == "tcp");
    // Still decoded so the failure message shows what the segment was.
    CHECK(p.decoded);
    CHECK(p.tcp.sport == 5);
    CHECK(describe(p) == "malformed tcp (bad_checksum): 198.18.0.2:5 > 198.18.0.1:6 . seq 0 ack 0 win 0 len 6");

    f[24] ^= std::byte{0x01};  // IPv4 header checksum: the first error wins
    p = parse_frame(f);
    CHECK(p.err == wire::wire_error::bad_checksum);
    CHECK(std::string(p.err_layer) == "ipv4");
    CHECK(p.is_tcp);
}

TEST_CASE("frames: an undecodable IPv4 header prints addresses and length only", "[support][frames]") {
    wire::tcp_repr t;
    frame_bytes f = make_tcp_frame(client_to_server(), t);
    f[16] = std::byte{0x10};  // total length 4096 > frame
    parsed_frame p = parse_frame(f);
    CHECK(p.err == wire::wire_error::bad_total_len);
    CHECK_FALSE(p.decoded);
    CHECK(describe(p) == "malformed ipv4 (" + std::string(wire::wire_error_name(p.err)) +
                             "): 02:00:00:00:00:02 > 02:00:00:00:00:01 len 54");
}

TEST_CASE("frames: ICMP with a bad checksum is still decoded", "[support][frames]") {
    wire::icmp_repr e;
    e.type = wire::icmp_echo_reply;
    e.rest = (3u << 16) | 4;
    frame_bytes f = make_icmp_frame(client_to_server(), e);
    f[34 + 2] ^= std::byte{0xff};
    parsed_frame p = parse_frame(f);
    CHECK(p.err == wire::wire_error::bad_checksum);
    CHECK(describe(p) == "malformed icmp (bad_checksum): 198.18.0.2 > 198.18.0.1 icmp echo reply id 3 seq 4 len 0");
}

TEST_CASE("frames: truncated frame is malformed at the Ethernet layer", "[support][frames]") {
    std::vector<std::byte> f(10, std::byte{0});
    parsed_frame p = parse_frame(f);
    CHECK(p.err == wire::wire_error::truncated);
    CHECK(describe(p) == "malformed ether (" + std::string(wire::wire_error_name(p.err)) + "): len 10");
}

TEST_CASE("frames: Ethernet padding after the IPv4 packet is ignored", "[support][frames]") {
    wire::tcp_repr t;
    t.flags = wire::TCPF_ACK;
    frame_bytes f = make_tcp_frame(client_to_server(), t);
    REQUIRE(f.size() == 54);
    f.resize(60, std::byte{0});
    parsed_frame p = parse_frame(f);
    REQUIRE(p.ok());
    CHECK(p.payload.empty());
}

TEST_CASE("frames: UDP round-trips with checksum", "[support][frames]") {
    wire::udp_repr u;
    u.sport = 5000;
    u.dport = 53;
    auto data = text("query-bytes!");
    frame_bytes f = make_udp_frame(client_to_server(), u, data);
    check_oracle_checksums(f);
    parsed_frame p = parse_frame(f);
    REQUIRE(p.ok());
    CHECK(p.is_udp);
    CHECK(p.udp.len == 8 + data.size());
    CHECK(p.payload == data);
    CHECK(describe(p) == "198.18.0.2:5000 > 198.18.0.1:53 udp len 12");
}

TEST_CASE("frames: ICMP echo and frag-needed round-trip", "[support][frames]") {
    auto body = text("0123456789abcdef");
    wire::icmp_repr e;
    e.type = wire::icmp_echo_request;
    e.rest = (1u << 16) | 2;
    e.payload = body;
    frame_bytes f = make_icmp_frame(client_to_server(), e);
    check_oracle_checksums(f);
    parsed_frame p = parse_frame(f);
    REQUIRE(p.ok());
    CHECK(p.is_icmp);
    CHECK(p.icmp.type == wire::icmp_echo_request);
    CHECK(p.icmp.payload.empty());  // copied to payload instead
    CHECK(p.payload == body);
    CHECK(describe(p) == "198.18.0.2 > 198.18.0.1 icmp echo request id 1 seq 2 len 16");

    wire::icmp_repr fn;
    fn.type = wire::icmp_dest_unreach;
    fn.code = wire::icmp_code_frag_needed;
    fn.rest = 1400;
    fn.payload = std::span(f).subspan(14, 28);  // original IP header + 8 bytes
    parsed_frame q = parse_frame(make_icmp_frame(client_to_server().reversed(), fn));
    REQUIRE(q.ok());
    CHECK(describe(q) == "198.18.0.1 > 198.18.0.2 icmp unreachable frag-needed mtu 1400 len 28");
}

TEST_CASE("frames: ARP request and reply round-trip", "[support][frames]") {
    frame_bytes req = make_arp_request(mac_c, wire::ipv4(198, 18, 0, 2), wire::ipv4(198, 18, 0, 1));
    CHECK(req.size() == 42);
    parsed_frame p = parse_frame(req);
    REQUIRE(p.ok());
    CHECK(p.is_arp);
    CHECK(p.eth.dst.is_broadcast());
    CHECK(p.arp.op == wire::arp_op_request);
    CHECK(describe(p) == "arp who-has 198.18.0.1 tell 198.18.0.2");

    parsed_frame r = parse_frame(make_arp_reply(client_to_server().reversed()));
    REQUIRE(r.ok());
    CHECK(r.arp.op == wire::arp_op_reply);
    CHECK(r.arp.tha == mac_c);
    CHECK(r.arp.tpa == wire::ipv4(198, 18, 0, 2));
    CHECK(describe(r) == "arp reply 198.18.0.1 is-at 02:00:00:00:00:01");
}

TEST_CASE("frames: generic IPv4 frame and fragments", "[support][frames]") {
    auto data = text("xyz");
    frame_bytes f = make_ipv4_frame(client_to_server(), 47, data);
    check_oracle_checksums(f);
    parsed_frame p = parse_frame(f);
    REQUIRE(p.ok());
    CHECK_FALSE(p.is_tcp);
    CHECK(p.payload == data);
    CHECK(describe(p) == "198.18.0.2 > 198.18.0.1 proto 47 len 3");

    frame_addrs a = client_to_server();
    a.ip_id = 77;
    a.frag = wire::ip_mf | 0;
    std::vector<std::byte> part(16, std::byte{0});
    parsed_frame fr = parse_frame(make_ipv4_frame(a, wire::ipproto_tcp, part));
    REQUIRE(fr.ok());
    CHECK(fr.is_fragment);
    CHECK_FALSE(fr.is_tcp);
    CHECK(describe(fr) == "198.18.0.2 > 198.18.0.1 frag id 77 off 0+ proto 6 len 16");
}

TEST_CASE("frames: to_pbuf copies into a pool buffer, parse and describe accept a pbuf", "[support][frames]") {
    test_pool pool(2);
    wire::tcp_repr t;
    t.flags = wire::TCPF_SYN;
    t.sport = 1;
    t.dport = 2;
    frame_bytes f = make_tcp_frame(client_to_server(), t);
    pbuf_ptr p = to_pbuf(pool, f);
    REQUIRE(p);
    CHECK(p->headroom() == 128);
    CHECK(p->len == f.size());
    CHECK(parse_frame(*p).is_tcp);
    CHECK(describe(*p) == "198.18.0.2:1 > 198.18.0.1:2 S seq 0 win 0 len 0");
    p.reset();
    CHECK(pool.in_use() == 0);
}
