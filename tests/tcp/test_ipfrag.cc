// IPv4 reassembly (stack/ipv4/ip_fragment.cc; kernel net/ipv4/ip_fragment.c,
// RFC 791 §3.2, RFC 815): order does not matter, duplicates are harmless,
// overlaps drop the queue (Linux since 2018), incomplete datagrams expire
// with ICMP time exceeded, limits on queues/size/memory, and a reassembled
// datagram reaches TCP or ICMP exactly like an unfragmented one.
#include "tcp/ipfrag_helpers.hh"

using namespace dshim;
using namespace dshim::test;
using namespace dshim::test::frag;

namespace {

// An ICMP echo request datagram (ICMP header + data) of n data bytes.
std::vector<std::byte> echo_dgram(const frame_addrs&, uint16_t id, size_t n) { return frag::echo_dgram(id, n); }

// 1000 bytes of ICMP echo data (1008 with the header) in three pieces.
const std::vector<piece> three = {{0, 400, true}, {400, 400, true}, {800, 208, false}};

void check_echo_reply(tcp_fixture& f, size_t data_len) {
    auto tx = all_tx(f);
    REQUIRE(tx.size() == 1);
    REQUIRE(tx[0].is_icmp);
    CHECK(tx[0].icmp.type == wire::icmp_echo_reply);
    CHECK(tx[0].payload == pattern(data_len));
    CHECK(queues(f) == 0);
    CHECK(ipfrag_mem(*f.net.ipfrag) == 0);
}

}  // namespace

TEST_CASE("ipfrag: an ICMP echo in three fragments in order is answered") {
    tcp_fixture f;
    auto d = echo_dgram(f.peer, 7, 1000);
    for (size_t i = 0; i < three.size(); ++i) {
        f.inject_raw(make_frag(f.peer, 0x100, wire::ipproto_icmp, d, three[i]));
        if (i + 1 < three.size()) {
            CHECK(all_tx(f).empty());
            CHECK(queues(f) == 1);
        }
    }
    check_echo_reply(f, 1000);
}

TEST_CASE("ipfrag: any arrival order reassembles the same datagram") {
    std::vector<int> order = {0, 1, 2};
    do {
        tcp_fixture f;
        auto d = echo_dgram(f.peer, 7, 1000);
        for (int i : order) {
            f.inject_raw(make_frag(f.peer, 0x101, wire::ipproto_icmp, d, three[size_t(i)]));
        }
        INFO("order " << order[0] << order[1] << order[2]);
        check_echo_reply(f, 1000);
    } while (std::next_permutation(order.begin(), order.end()));
}

TEST_CASE("ipfrag: duplicate fragments are tolerated and counted") {
    tcp_fixture f;
    auto d = echo_dgram(f.peer, 7, 1000);
    f.inject_raw(make_frag(f.peer, 0x102, wire::ipproto_icmp, d, three[1]));
    f.inject_raw(make_frag(f.peer, 0x102, wire::ipproto_icmp, d, three[1]));
    f.inject_raw(make_frag(f.peer, 0x102, wire::ipproto_icmp, d, three[0]));
    // Wholly inside the run [0, 800) already held: a duplicate, not an overlap.
    f.inject_raw(make_frag(f.peer, 0x102, wire::ipproto_icmp, d, {200, 400, true}));
    CHECK(drops(f, drop_reason::ip_frag_dup) == 2);
    CHECK(queues(f) == 1);
    f.inject_raw(make_frag(f.peer, 0x102, wire::ipproto_icmp, d, three[2]));
    check_echo_reply(f, 1000);
    CHECK(drops(f, drop_reason::ip_frag_overlap) == 0);
}

TEST_CASE("ipfrag: a partial overlap drops the whole queue (RFC 5722 rule, Linux since 4.19)") {
    tcp_fixture f;
    auto d = echo_dgram(f.peer, 7, 1000);
    f.inject_raw(make_frag(f.peer, 0x103, wire::ipproto_icmp, d, three[0]));
    f.inject_raw(make_frag(f.peer, 0x103, wire::ipproto_icmp, d, {200, 400, true}));  // [200,600) vs [0,400)
    CHECK(queues(f) == 0);
    CHECK(drops(f, drop_reason::ip_frag_overlap) == 2);  // the new one and the one held
    CHECK(ipfrag_mem(*f.net.ipfrag) == 0);
    // The rest of the datagram cannot complete it any more.
    f.inject_raw(make_frag(f.peer, 0x103, wire::ipproto_icmp, d, three[1]));
    f.inject_raw(make_frag(f.peer, 0x103, wire::ipproto_icmp, d, three[2]));
    CHECK(all_tx(f).empty());
    CHECK(queues(f) == 1);
}

TEST_CASE("ipfrag: a missing fragment expires after ipfrag_time with ICMP time exceeded") {
    tcp_fixture f;
    CHECK(f.net.sysctl().ipfrag_time == 30 * NSEC_PER_SEC);
    auto d = echo_dgram(f.peer, 7, 1000);
    // Datagram A: first fragment held (the ICMP error quotes it).
    f.inject_raw(make_frag(f.peer, 0x104, wire::ipproto_tcp, d, three[0]));
    f.inject_raw(make_frag(f.peer, 0x104, wire::ipproto_tcp, d, three[2]));
    f.advance_ms(1000);
    // Datagram B: no first fragment, so expiry is silent.
    f.inject_raw(make_frag(f.peer, 0x105, wire::ipproto_tcp, d, three[1]));
    CHECK(queues(f) == 2);
    f.advance_ms(29000 - 1);
    CHECK(all_tx(f).empty());
    CHECK(queues(f) == 2);
    f.advance_ms(1);
    auto tx = all_tx(f);
    REQUIRE(tx.size() == 1);
    REQUIRE(tx[0].is_icmp);
    CHECK(tx[0].icmp.type == wire::icmp_time_exceeded);
    CHECK(tx[0].icmp.code == 1);
    CHECK(tx[0].ip.dst == PEER_IP);
    // The quote: the first fragment's IP header + 8 bytes.
    REQUIRE(tx[0].payload.size() == 28);
    CHECK(wire::load16(tx[0].payload.data() + 4) == 0x104);
    CHECK(queues(f) == 1);
    CHECK(drops(f, drop_reason::ip_frag_expired) == 2);
    f.advance_ms(1000);
    CHECK(all_tx(f).empty());
    CHECK(queues(f) == 0);
    CHECK(drops(f, drop_reason::ip_frag_expired) == 3);
    CHECK(ipfrag_mem(*f.net.ipfrag) == 0);
}

TEST_CASE("ipfrag: the queue table is bounded (ipfrag_max_queues)") {
    tcp_fixture f;
    f.net.sysctl().ipfrag_max_queues = 4;
    auto d = echo_dgram(f.peer, 7, 1000);
    for (uint16_t id = 0; id < 6; ++id) {
        f.inject_raw(make_frag(f.peer, uint16_t(0x200 + id), wire::ipproto_icmp, d, three[0]));
    }
    CHECK(queues(f) == 4);
    CHECK(drops(f, drop_reason::ip_frag_queues) == 2);
    // Existing queues still complete.
    f.inject_raw(make_frag(f.peer, 0x200, wire::ipproto_icmp, d, three[1]));
    f.inject_raw(make_frag(f.peer, 0x200, wire::ipproto_icmp, d, three[2]));
    auto tx = all_tx(f);
    REQUIRE(tx.size() == 1);
    CHECK(tx[0].icmp.type == wire::icmp_echo_reply);
    CHECK(queues(f) == 3);
    // Keyed by (src, dst, id, proto): the same id for another protocol is another queue.
    f.inject_raw(make_frag(f.peer, 0x201, wire::ipproto_tcp, d, three[0]));
    CHECK(queues(f) == 4);
}

TEST_CASE("ipfrag: memory limits (ipfrag_high_thresh total, ipfrag_max_qbytes per queue)") {
    tcp_fixture f;
    auto d = echo_dgram(f.peer, 7, 1000);
    f.inject_raw(make_frag(f.peer, 0x300, wire::ipproto_icmp, d, three[0]));
    const uint64_t one = ipfrag_mem(*f.net.ipfrag);
    REQUIRE(one > 0);
    f.net.sysctl().ipfrag_high_thresh = uint32_t(2 * one);
    f.inject_raw(make_frag(f.peer, 0x301, wire::ipproto_icmp, d, three[0]));
    f.inject_raw(make_frag(f.peer, 0x302, wire::ipproto_icmp, d, three[0]));  // over the total
    CHECK(drops(f, drop_reason::ip_frag_memory) == 1);
    CHECK(queues(f) == 2);
    f.net.sysctl().ipfrag_high_thresh = 1 << 20;
    f.net.sysctl().ipfrag_max_qbytes = uint32_t(one);
    f.inject_raw(make_frag(f.peer, 0x300, wire::ipproto_icmp, d, three[1]));  // over its queue's share
    CHECK(drops(f, drop_reason::ip_frag_memory) == 3);  // the new one and the one held
    CHECK(queues(f) == 1);
    CHECK(ipfrag_mem(*f.net.ipfrag) == one);
}

TEST_CASE("ipfrag: a datagram over 65535 bytes is dropped as too big (ping of death)") {
    tcp_fixture f;
    auto d = echo_dgram(f.peer, 7, 1000);
    f.inject_raw(make_frag(f.peer, 0x400, wire::ipproto_icmp, d, three[0]));
    CHECK(queues(f) == 1);
    // Offset 65528 + 16 bytes ends past 65535 - 20.
    frame_addrs a = f.peer;
    a.ip_id = 0x400;
    a.frag = uint16_t(65528 / 8);
    f.inject_raw(make_ipv4_frame(a, wire::ipproto_icmp, std::span(d).first(16)));
    CHECK(drops(f, drop_reason::ip_frag_too_big) == 2);  // it and the queue's first fragment
    CHECK(queues(f) == 0);
    // Bigger than one buffer (test pool: 2048 bytes) but under 65535: a
    // queue in a large buffer, not a drop.
    a.ip_id = 0x401;
    a.frag = uint16_t(2400 / 8) | wire::ip_mf;
    f.inject_raw(make_ipv4_frame(a, wire::ipproto_icmp, std::span(d).first(16)));
    CHECK(drops(f, drop_reason::ip_frag_too_big) == 2);
    CHECK(queues(f) == 1);
    CHECK(large_free(f) == ipfrag_large_bufs - 1);
    CHECK(all_tx(f).empty());
}

TEST_CASE("ipfrag: inconsistent lengths (non-multiple of 8, data past the last fragment) are dropped") {
    tcp_fixture f;
    auto d = echo_dgram(f.peer, 7, 1000);
    f.inject_raw(make_frag(f.peer, 0x500, wire::ipproto_icmp, d, {0, 401, true}));
    CHECK(drops(f, drop_reason::ip_frag_bad) == 1);
    CHECK(queues(f) == 0);
    f.inject_raw(make_frag(f.peer, 0x501, wire::ipproto_icmp, d, {400, 400, false}));  // says the end is 800
    f.inject_raw(make_frag(f.peer, 0x501, wire::ipproto_icmp, d, {800, 8, true}));
    CHECK(drops(f, drop_reason::ip_frag_bad) == 3);
    CHECK(queues(f) == 0);
}

TEST_CASE("ipfrag: a TCP segment in three fragments reaches the connection, checksum over the whole") {
    tcp_fixture f;
    peer_conn pc(f, {.mss = 1460});
    pc.open();
    f.drain_tcp();
    const std::string payload = expected_peer_bytes(0, 1200);
    auto dg = peer_tcp_dgram(f, pc, payload);
    const uint32_t n = uint32_t(dg.size());
    std::vector<piece> p = {{0, 512, true}, {512, 512, true}, {1024, n - 1024, false}};
    SECTION("good checksum: delivered and ACKed") {
        f.inject_raw(make_frag(f.peer, 0x600, wire::ipproto_tcp, dg, p[2]));
        f.inject_raw(make_frag(f.peer, 0x600, wire::ipproto_tcp, dg, p[0]));
        f.inject_raw(make_frag(f.peer, 0x600, wire::ipproto_tcp, dg, p[1]));
        auto ack = f.expect_tcp(wire::TCPF_ACK);
        CHECK(ack.tcp.ack.v == pc.rcv0() + 1200);
        check_read(pc, payload);
    }
    SECTION("a corrupted middle fragment fails the TCP checksum of the whole") {
        dg[600] ^= std::byte(0x55);
        for (const auto& x : p) {
            f.inject_raw(make_frag(f.peer, 0x601, wire::ipproto_tcp, dg, x));
        }
        CHECK(drops(f, drop_reason::tcp_bad_checksum) == 1);
        f.expect_no_tx();
        std::string got(10, '\0');
        CHECK(pc.s.recv(got.data(), got.size()) == -EAGAIN);
    }
    pc.s.close();
}

TEST_CASE("ipfrag: expiry answers an ICMP echo with time exceeded, never an ICMP error (RFC 1122 §3.2.2)") {
    tcp_fixture f;
    auto echo = echo_dgram(f.peer, 7, 1000);
    auto err = echo;
    err[0] = std::byte(wire::icmp_dest_unreach);  // the checksum is not looked at before reassembly
    f.inject_raw(make_frag(f.peer, 0x700, wire::ipproto_icmp, echo, three[0]));
    f.inject_raw(make_frag(f.peer, 0x701, wire::ipproto_icmp, err, three[0]));
    f.advance_ms(30000);
    auto tx = all_tx(f);
    REQUIRE(tx.size() == 1);
    REQUIRE(tx[0].is_icmp);
    CHECK(tx[0].icmp.type == wire::icmp_time_exceeded);
    REQUIRE(tx[0].payload.size() == 28);
    CHECK(wire::load16(tx[0].payload.data() + 4) == 0x700);
    CHECK(queues(f) == 0);
}
