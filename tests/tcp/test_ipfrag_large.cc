// IPv4 datagrams larger than one buffer (stack/ipv4/ip_fragment.cc large
// buffers; ip.cc ip_do_fragment; kernel ip_fragment.c / ip_output.c, RFC 791
// §3.2): `ping -s 8000` and `-s 65507` answered whatever the fragment order,
// replies cut as Linux cuts them, the large buffers bounded and recovered,
// ping of death refused, DF respected on output.
#include "tcp/ipfrag_helpers.hh"

#include "ipv4/ip.hh"
#include "support/det_rng.hh"

using namespace dshim;
using namespace dshim::test;
using namespace dshim::test::frag;

namespace {

enum class order { in_order, reversed, shuffled };

std::vector<piece> arrange(std::vector<piece> v, order o, uint64_t seed) {
    if (o == order::reversed) {
        std::reverse(v.begin(), v.end());
    } else if (o == order::shuffled) {
        det_rng rng(seed);
        for (size_t i = v.size(); i > 1; --i) {
            std::swap(v[i - 1], v[rng.below(i)]);
        }
    }
    return v;
}

// Sends an echo request of n data bytes in Linux-sized fragments (MTU 1500)
// in the given order; returns the request datagram.
std::vector<std::byte> send_echo(tcp_fixture& f, uint16_t ip_id, size_t n, order o, uint64_t seed = 1) {
    auto d = echo_dgram(0x77, n);
    for (const piece& p : arrange(cut(uint32_t(d.size())), o, seed)) {
        f.inject_raw(make_frag(f.peer, ip_id, wire::ipproto_icmp, d, p));
    }
    return d;
}

// The reply to `request` is in the tx queue, in fragments; checks them and
// the reassembled reply, and that nothing of the reassembly is left.
void expect_reply(tcp_fixture& f, const std::vector<std::byte>& request) {
    auto tx = all_tx(f);
    const size_t want = cut(uint32_t(request.size())).size();
    REQUIRE(tx.size() == want);
    rebuilt r = rebuild(tx);
    REQUIRE(r.ok);
    CHECK(r.first.proto == wire::ipproto_icmp);
    CHECK(r.first.src == LOCAL_IP);
    CHECK(r.first.dst == PEER_IP);
    check_echo_reply_dgram(r.payload, request);
    CHECK(queues(f) == 0);
    CHECK(ipfrag_mem(*f.net.ipfrag) == 0);
    CHECK(large_free(f) == ipfrag_large_bufs);  // the reply copied out, the buffer back
}

const char* name(order o) {
    return o == order::in_order ? "in order" : o == order::reversed ? "reversed" : "shuffled";
}

}  // namespace

TEST_CASE("ipfrag large: 8000 and 65507-byte echo requests are answered in any fragment order") {
    for (size_t n : {size_t(8000), size_t(30000), size_t(65507)}) {
        for (order o : {order::in_order, order::reversed, order::shuffled}) {
            for (uint64_t seed = 1; seed <= (o == order::shuffled ? 3u : 1u); ++seed) {
                INFO("data " << n << " " << name(o) << " seed " << seed);
                tcp_fixture f;
                auto d = send_echo(f, uint16_t(0x1000 + seed), n, o, seed);
                expect_reply(f, d);
                CHECK(f.net.counters().ip_reasm_oks == 1);
                CHECK(f.net.counters().ip_frag_oks == 1);
                CHECK(f.net.counters().ip_frag_creates == cut(uint32_t(d.size())).size());
                CHECK(f.net.counters().total_drops() == 0);
                CHECK(f.pool.in_use() == 0);
            }
        }
    }
}

TEST_CASE("ipfrag large: the largest datagram, 65535 bytes, goes out in 45 pieces of 1480 bytes and one of 35") {
    tcp_fixture f;
    auto d = send_echo(f, 0x1100, 65507, order::in_order);
    auto tx = all_tx(f);
    REQUIRE(tx.size() == 45);
    CHECK(tx[0].ip.total_len == 1500);
    CHECK(uint32_t(tx[44].ip.frag & wire::ip_offmask) * 8 == 44 * 1480);
    CHECK(tx[44].ip.total_len == 20 + 65515 - 44 * 1480);
    CHECK((tx[44].ip.frag & wire::ip_mf) == 0);
}

TEST_CASE("ipfrag large: a duplicate or overlapping fragment in a large buffer follows the same rules") {
    tcp_fixture f;
    auto d = echo_dgram(0x77, 8000);
    auto pieces = cut(uint32_t(d.size()));  // 0, 1480, 2960, ...
    f.inject_raw(make_frag(f.peer, 0x1200, wire::ipproto_icmp, d, pieces[0]));
    f.inject_raw(make_frag(f.peer, 0x1200, wire::ipproto_icmp, d, pieces[1]));  // now in a large buffer
    CHECK(large_free(f) == ipfrag_large_bufs - 1);
    f.inject_raw(make_frag(f.peer, 0x1200, wire::ipproto_icmp, d, pieces[1]));
    f.inject_raw(make_frag(f.peer, 0x1200, wire::ipproto_icmp, d, {8, 1600, true}));  // inside [0, 2960)
    CHECK(drops(f, drop_reason::ip_frag_dup) == 2);
    CHECK(queues(f) == 1);
    // [2952, 2968) reaches past what is held: the queue dies, both pieces it took counted.
    f.inject_raw(make_frag(f.peer, 0x1200, wire::ipproto_icmp, d, pieces[3]));
    f.inject_raw(make_frag(f.peer, 0x1200, wire::ipproto_icmp, d, {2952, 16, true}));
    CHECK(drops(f, drop_reason::ip_frag_overlap) == 1 + 3);
    CHECK(queues(f) == 0);
    CHECK(large_free(f) == ipfrag_large_bufs);
    CHECK(ipfrag_mem(*f.net.ipfrag) == 0);
    CHECK(all_tx(f).empty());
}

TEST_CASE("ipfrag large: all large buffers busy drops with a reason; expiry frees them") {
    tcp_fixture f;
    REQUIRE(ipfrag_large_bufs == 4);
    auto d = echo_dgram(0x77, 8000);
    auto pieces = cut(uint32_t(d.size()));
    REQUIRE(pieces.size() == 6);
    // Four datagrams with their first two fragments: each in a large buffer.
    for (uint16_t id = 0; id < 4; ++id) {
        f.inject_raw(make_frag(f.peer, uint16_t(0x1300 + id), wire::ipproto_icmp, d, pieces[0]));
        f.inject_raw(make_frag(f.peer, uint16_t(0x1300 + id), wire::ipproto_icmp, d, pieces[1]));
    }
    CHECK(queues(f) == 4);
    CHECK(large_free(f) == 0);
    CHECK(ipfrag_mem(*f.net.ipfrag) <= f.net.sysctl().ipfrag_high_thresh);
    // A fifth: every one of its fragments is dropped and counted.
    for (const piece& p : pieces) {
        f.inject_raw(make_frag(f.peer, 0x1304, wire::ipproto_icmp, d, p));
    }
    CHECK(drops(f, drop_reason::ip_frag_no_large_buffer) == pieces.size());
    CHECK(all_tx(f).empty());
    CHECK(queues(f) == 4);
    // ipfrag_time later the four expire, each with ICMP time exceeded quoting
    // its first fragment (rebuilt in front of the large buffer's data).
    f.advance_ms(30000);
    auto tx = all_tx(f);
    REQUIRE(tx.size() == 4);
    for (size_t i = 0; i < tx.size(); ++i) {
        REQUIRE(tx[i].is_icmp);
        CHECK(tx[i].icmp.type == wire::icmp_time_exceeded);
        CHECK(tx[i].icmp.code == 1);
        REQUIRE(tx[i].payload.size() == 28);
        CHECK(wire::load16(tx[i].payload.data() + 2) == 1500);    // the first fragment's total length
        CHECK(wire::load16(tx[i].payload.data() + 6) == wire::ip_mf);
        CHECK(std::equal(d.begin(), d.begin() + 8, tx[i].payload.begin() + 20));  // its first 8 bytes
    }
    CHECK(drops(f, drop_reason::ip_frag_expired) == 4 * 2);
    CHECK(f.net.counters().ip_reasm_timeouts == 4);
    CHECK(large_free(f) == ipfrag_large_bufs);
    CHECK(ipfrag_mem(*f.net.ipfrag) == 0);
    // And the next large datagram goes through.
    auto d2 = send_echo(f, 0x1305, 8000, order::shuffled);
    expect_reply(f, d2);
}

TEST_CASE("ipfrag large: the high_thresh memory limit counts large buffers too") {
    tcp_fixture f;
    auto d = echo_dgram(0x77, 8000);
    auto pieces = cut(uint32_t(d.size()));
    f.inject_raw(make_frag(f.peer, 0x1400, wire::ipproto_icmp, d, pieces[1]));
    const uint64_t large = ipfrag_mem(*f.net.ipfrag);
    CHECK(large > 65536);
    // Room for one more large buffer, not two.
    f.net.sysctl().ipfrag_high_thresh = uint32_t(2 * large + large / 2);
    f.inject_raw(make_frag(f.peer, 0x1401, wire::ipproto_icmp, d, pieces[1]));
    f.inject_raw(make_frag(f.peer, 0x1402, wire::ipproto_icmp, d, pieces[1]));
    CHECK(drops(f, drop_reason::ip_frag_memory) == 1);
    CHECK(queues(f) == 2);
    CHECK(large_free(f) == ipfrag_large_bufs - 2);
    // A queue already in its buffer takes its fragments even at the limit.
    f.net.sysctl().ipfrag_high_thresh = uint32_t(2 * large);
    for (size_t i = 0; i < pieces.size(); ++i) {
        if (i != 1) {
            f.inject_raw(make_frag(f.peer, 0x1400, wire::ipproto_icmp, d, pieces[i]));
        }
    }
    auto tx = all_tx(f);
    rebuilt r = rebuild(tx);
    REQUIRE(r.ok);
    check_echo_reply_dgram(r.payload, d);
    CHECK(queues(f) == 1);  // 0x1401 still waits
    CHECK(large_free(f) == ipfrag_large_bufs - 1);
    CHECK(ipfrag_mem(*f.net.ipfrag) == large);
}

TEST_CASE("ipfrag large: ping of death (offset + length past 65535) is dropped, the queue with it") {
    tcp_fixture f;
    // One byte too many: 65508 bytes of echo data is 65536 with the headers.
    auto d = echo_dgram(0x77, 65508);
    auto pieces = cut(uint32_t(d.size()));
    for (const piece& p : pieces) {
        f.inject_raw(make_frag(f.peer, 0x1500, wire::ipproto_icmp, d, p));
    }
    CHECK(drops(f, drop_reason::ip_frag_too_big) == 1 + (pieces.size() - 1));  // the last, and those held
    CHECK(queues(f) == 0);
    CHECK(large_free(f) == ipfrag_large_bufs);
    CHECK(all_tx(f).empty());
    // The classic: a small fragment at the largest offset.
    frame_addrs a = f.peer;
    a.ip_id = 0x1501;
    a.frag = uint16_t(8189);  // 65512
    f.inject_raw(make_ipv4_frame(a, wire::ipproto_icmp, std::span(d).first(1000)));
    CHECK(drops(f, drop_reason::ip_frag_too_big) == pieces.size() + 1);
    CHECK(queues(f) == 0);
}

TEST_CASE("ipfrag large: a TCP segment over one buffer (peer ignoring our MSS) is delivered") {
    tcp_fixture f;
    peer_conn pc(f, {.mss = 1460});
    pc.open();
    f.drain_tcp();
    const std::string payload = expected_peer_bytes(0, 8000);
    const auto dg = peer_tcp_dgram(f, pc, payload);
    for (const piece& p : arrange(cut(uint32_t(dg.size())), order::reversed, 1)) {
        f.inject_raw(make_frag(f.peer, 0x1600, wire::ipproto_tcp, dg, p));
    }
    auto ack = f.expect_tcp(wire::TCPF_ACK);
    CHECK(ack.tcp.ack.v == pc.rcv0() + 8000);
    check_read(pc, payload);
    CHECK(large_free(f) == ipfrag_large_bufs);  // read: the buffer is back
    pc.s.close();
}

TEST_CASE("ip output: a datagram over the MTU is cut into 8-byte-aligned fragments; DF is respected") {
    tcp_fixture f;
    f.dev.set_mtu(576);
    auto body = pattern(2000);
    auto make = [&] {
        pbuf* p = f.pool.alloc(MAX_HEADER, uint32_t(body.size()));
        REQUIRE(p);
        std::memcpy(p->append(uint32_t(body.size())), body.data(), body.size());
        return pbuf_ptr(p);
    };
    SECTION("no DF: 552 + 552 + 552 + 344 bytes, one ID, MF on all but the last") {
        CHECK(ip_build_and_send(f.net, make(), LOCAL_IP, PEER_IP, 253, 64, 0x10, false) == 0);
        auto tx = all_tx(f);
        REQUIRE(tx.size() == 4);
        rebuilt r = rebuild(tx, 576);
        REQUIRE(r.ok);
        CHECK(r.payload == body);
        const uint16_t offs[] = {0, 69, 138, 207};
        for (size_t i = 0; i < 4; ++i) {
            CHECK((tx[i].ip.frag & wire::ip_offmask) == offs[i]);
            CHECK(tx[i].ip.tos == 0x10);
            CHECK(tx[i].ip.ttl == 64);
            CHECK(tx[i].ip.proto == 253);
        }
        CHECK(tx[3].ip.total_len == 20 + 344);
        CHECK(f.net.counters().ip_frag_oks == 1);
        CHECK(f.net.counters().ip_frag_creates == 4);
        CHECK(f.net.counters().ip_out_requests == 1);
    }
    SECTION("DF over the MTU: not fragmented, -EMSGSIZE, counted") {
        CHECK(ip_build_and_send(f.net, make(), LOCAL_IP, PEER_IP, 253, 64, 0, true) == -EMSGSIZE);
        CHECK(all_tx(f).empty());
        CHECK(drops(f, drop_reason::ip_frag_df) == 1);
        CHECK(f.net.counters().ip_frag_fails == 1);
    }
    SECTION("DF within the MTU: sent whole") {
        f.dev.set_mtu(1500);
        CHECK(ip_build_and_send(f.net, make(), LOCAL_IP, PEER_IP, 253, 64, 0, true) == -EMSGSIZE);
        body.resize(1480);
        CHECK(ip_build_and_send(f.net, make(), LOCAL_IP, PEER_IP, 253, 64, 0, true) == 0);
        auto tx = all_tx(f);
        REQUIRE(tx.size() == 1);
        CHECK(tx[0].ip.total_len == 1500);
        CHECK(tx[0].ip.frag == wire::ip_df);
        CHECK(f.net.counters().ip_frag_creates == 0);
    }
    SECTION("no buffer for a piece: the rest is dropped and counted") {
        pbuf_ptr skb = make();
        f.pool.fail_next_allocs(1);
        CHECK(ip_build_and_send(f.net, std::move(skb), LOCAL_IP, PEER_IP, 253, 64, 0, false) == -ENOBUFS);
        CHECK(all_tx(f).empty());
        CHECK(drops(f, drop_reason::tx_no_buffer) == 1);
        CHECK(f.net.counters().ip_frag_fails == 1);
    }
    CHECK(f.pool.in_use() == 0);
}

TEST_CASE("ip output: with IP checksum offload the pieces carry the flag and the device fills the sum") {
    tcp_fixture f;
    f.dev.set_offloads(NETDEV_TX_IP_CSUM);
    auto d = send_echo(f, 0x1700, 8000, order::shuffled);
    expect_reply(f, d);  // all_tx checks every header sum with the test's own RFC 1071
    CHECK(f.dev.stats().tx_offload_errors == 0);
}
