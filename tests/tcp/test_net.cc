// The link and network layers under TCP: ARP resolution and the neighbour
// table (RFC 826, RFC 1122 §2.3.2.1; Linux's neighbour state machine with
// arp_accept = 0), ICMP echo (RFC 792, RFC 1122 §3.2.2.6), IPv4 input checks
// and routing (RFC 791, RFC 1122 §3.2.1, §3.3.1): frame-exact on the
// scripted-peer fixture.
#include <vector>

#include "ipv4/arp.hh"
#include "ipv4/ip_fragment.hh"
#include "tcp/tcp_fixture.hh"

using namespace dshim;
using namespace dshim::test;
using wire::TCPF_ACK;
using wire::TCPF_SYN;

namespace {

constexpr uint32_t HOST3 = wire::ipv4(198, 18, 0, 3);
const wire::mac_addr MAC3{{0x02, 0xd5, 0x00, 0x00, 0x00, 0x03}};
const wire::mac_addr MAC3B{{0x02, 0xd5, 0x00, 0x00, 0x03, 0x03}};

frame_addrs host(uint32_t ip, wire::mac_addr mac) {
    frame_addrs a;
    a.src_mac = mac;
    a.dst_mac = LOCAL_MAC;
    a.src_ip = ip;
    a.dst_ip = LOCAL_IP;
    return a;
}

wire::mac_addr mac_for(uint32_t ip) {
    return wire::mac_addr{{0x02, 0xd5, 0x01, uint8_t(ip >> 16), uint8_t(ip >> 8), uint8_t(ip)}};
}

frame_bytes echo_request(const frame_addrs& a, uint16_t id, uint16_t seq, const std::vector<std::byte>& data) {
    wire::icmp_repr i;
    i.type = wire::icmp_echo_request;
    i.code = 0;
    i.rest = (uint32_t(id) << 16) | seq;
    i.payload = data;
    return make_icmp_frame(a, i);
}

std::vector<std::byte> bytes_of(size_t n, uint8_t salt = 0) {
    std::vector<std::byte> v(n);
    for (size_t i = 0; i < n; ++i) {
        v[i] = std::byte(uint8_t(i * 31 + salt));
    }
    return v;
}

std::vector<parsed_frame> all_tx(tcp_fixture& f) {
    f.net.flush();
    std::vector<parsed_frame> out;
    while (f.dev.tx_pending() > 0) {
        pbuf_ptr p = f.dev.pop_tx();
        out.push_back(parse_frame(*p));
    }
    return out;
}

void check_arp_request_for(const parsed_frame& fr, uint32_t target) {
    INFO("tx: " << describe(fr));
    REQUIRE(fr.ok());
    REQUIRE(fr.is_arp);
    CHECK(fr.eth.dst.is_broadcast());
    CHECK(fr.eth.src == LOCAL_MAC);
    CHECK(fr.eth.ethertype == wire::ethertype_arp);
    CHECK(fr.arp.op == wire::arp_op_request);
    CHECK(fr.arp.sha == LOCAL_MAC);
    CHECK(fr.arp.spa == LOCAL_IP);
    CHECK(fr.arp.tha.is_zero());
    CHECK(fr.arp.tpa == target);
}

void check_echo_reply(const parsed_frame& fr, wire::mac_addr to_mac, uint32_t to_ip, uint16_t id, uint16_t seq,
                      const std::vector<std::byte>& data) {
    INFO("tx: " << describe(fr));
    REQUIRE(fr.ok());  // parse_frame verifies the IPv4 and ICMP checksums
    REQUIRE(fr.is_icmp);
    CHECK(fr.eth.dst == to_mac);
    CHECK(fr.eth.src == LOCAL_MAC);
    CHECK(fr.ip.src == LOCAL_IP);
    CHECK(fr.ip.dst == to_ip);
    CHECK(fr.ip.proto == wire::ipproto_icmp);
    CHECK(fr.ip.ttl == 64);
    CHECK(fr.icmp.type == wire::icmp_echo_reply);
    CHECK(fr.icmp.code == 0);
    CHECK(fr.icmp.rest == ((uint32_t(id) << 16) | seq));
    CHECK(fr.payload == data);
}

// Sends a ping from ip/mac; returns what we sent in answer.
std::vector<parsed_frame> ping_from(tcp_fixture& f, uint32_t ip, wire::mac_addr mac, uint16_t seq) {
    f.inject_raw(echo_request(host(ip, mac), 0x77, seq, bytes_of(8)));
    return all_tx(f);
}

// Teaches the stack ip/mac the normal way: our request, its reply.
void resolve(tcp_fixture& f, uint32_t ip, wire::mac_addr mac) {
    auto out = ping_from(f, ip, mac, 1);
    REQUIRE(out.size() == 1);
    check_arp_request_for(out[0], ip);
    f.inject_raw(make_arp_reply(host(ip, mac)));
    out = all_tx(f);
    REQUIRE(out.size() == 1);
    REQUIRE(out[0].is_icmp);
}

// The stack with a default gateway (tcp_fixture has none).
struct gw_fixture {
    virtual_clock clk;
    test_pool pool{1024};
    test_netdev dev{pool, LOCAL_MAC};
    stack net;
    static stack_config cfg() {
        stack_config c = local_config();
        c.gateway = wire::ipv4(198, 18, 0, 254);
        return c;
    }
    gw_fixture() : net(dev, pool, clk, cfg()) {}
    std::vector<parsed_frame> tx() {
        net.flush();
        std::vector<parsed_frame> out;
        while (dev.tx_pending() > 0) {
            pbuf_ptr p = dev.pop_tx();
            out.push_back(parse_frame(*p));
        }
        return out;
    }
};

}  // namespace

// ------------------------------------------------------------------ ARP

TEST_CASE("arp: a packet for an unknown neighbour sends a broadcast who-has with our addresses") {
    tcp_fixture f;
    const uint64_t req = f.net.counters().arp_requests_tx;
    auto out = ping_from(f, HOST3, MAC3, 1);
    REQUIRE(out.size() == 1);  // the ARP request only: the reply waits
    check_arp_request_for(out[0], HOST3);
    CHECK(out[0].frame_len == 14 + 28);
    CHECK(f.net.counters().arp_requests_tx == req + 1);
}

TEST_CASE("arp: frames queued while resolving leave in order once the reply arrives") {
    tcp_fixture f;
    for (uint16_t seq = 1; seq <= 3; ++seq) {
        f.inject_raw(echo_request(host(HOST3, MAC3), 9, seq, bytes_of(seq)));
    }
    auto out = all_tx(f);
    REQUIRE(out.size() == 1);  // one request for all three
    check_arp_request_for(out[0], HOST3);
    f.inject_raw(make_arp_reply(host(HOST3, MAC3)));
    out = all_tx(f);
    REQUIRE(out.size() == 3);
    for (uint16_t seq = 1; seq <= 3; ++seq) {
        check_echo_reply(out[seq - 1], MAC3, HOST3, 9, seq, bytes_of(seq));
    }
    // Resolved: the next one goes at once.
    out = ping_from(f, HOST3, MAC3, 4);
    REQUIRE(out.size() == 1);
    CHECK(out[0].is_icmp);
}

TEST_CASE("arp: a SYN to an unresolved peer waits for ARP and then leaves") {
    tcp_fixture f;
    usock c = usock::create(f.net);
    REQUIRE(c.connect(HOST3, 80) == -EINPROGRESS);
    auto out = all_tx(f);
    REQUIRE(out.size() == 1);
    check_arp_request_for(out[0], HOST3);
    f.inject_raw(make_arp_reply(host(HOST3, MAC3)));
    out = all_tx(f);
    REQUIRE(out.size() == 1);
    REQUIRE(out[0].is_tcp);
    CHECK(out[0].tcp.flags == TCPF_SYN);
    CHECK(out[0].eth.dst == MAC3);
    CHECK(out[0].ip.dst == HOST3);
    c.close();
}

TEST_CASE("arp: requests repeat every second; after three unanswered the queue is dropped (neigh_failed)") {
    tcp_fixture f;
    f.inject_raw(echo_request(host(HOST3, MAC3), 1, 1, bytes_of(4)));
    f.inject_raw(echo_request(host(HOST3, MAC3), 1, 2, bytes_of(4)));
    auto out = all_tx(f);
    REQUIRE(out.size() == 1);
    check_arp_request_for(out[0], HOST3);
    for (int retry = 1; retry <= 2; ++retry) {
        INFO("retry " << retry);
        f.advance_ms(999);
        CHECK(all_tx(f).empty());
        f.advance_ms(1);
        out = all_tx(f);
        REQUIRE(out.size() == 1);
        check_arp_request_for(out[0], HOST3);
    }
    CHECK(f.net.counters().drop(drop_reason::neigh_failed) == 0);
    f.advance_ms(1000);
    CHECK(all_tx(f).empty());  // no fourth request (Linux: mcast_solicit 3)
    CHECK(f.net.counters().drop(drop_reason::neigh_failed) == 2);
    CHECK(f.pool.in_use() == 0);  // the queued frames were freed
    // Later traffic starts a fresh resolution, and its answer delivers it.
    f.advance_ms(5000);
    out = ping_from(f, HOST3, MAC3, 3);
    REQUIRE(out.size() == 1);
    check_arp_request_for(out[0], HOST3);
    f.inject_raw(make_arp_reply(host(HOST3, MAC3)));
    out = all_tx(f);
    REQUIRE(out.size() == 1);
    check_echo_reply(out[0], MAC3, HOST3, 0x77, 3, bytes_of(8));
}

TEST_CASE("arp: the resolution queue is bounded; the oldest frames are dropped first") {
    tcp_fixture f;
    const uint32_t qlen = f.net.sysctl().arp_queue_len;
    for (uint32_t seq = 1; seq <= qlen + 6; ++seq) {
        f.inject_raw(echo_request(host(HOST3, MAC3), 5, uint16_t(seq), bytes_of(2)));
    }
    CHECK(f.net.counters().drop(drop_reason::neigh_queue_full) == 6);
    auto out = all_tx(f);
    REQUIRE(out.size() == 1);
    f.inject_raw(make_arp_reply(host(HOST3, MAC3)));
    out = all_tx(f);
    REQUIRE(out.size() == qlen);
    CHECK((out.front().icmp.rest & 0xffff) == 7);
    CHECK((out.back().icmp.rest & 0xffff) == qlen + 6);
}

TEST_CASE("arp: a reachable entry goes stale after 30 s; using it sends at once and re-probes") {
    tcp_fixture f;
    resolve(f, HOST3, MAC3);
    f.advance_ms(29999);
    auto out = ping_from(f, HOST3, MAC3, 2);
    REQUIRE(out.size() == 1);  // still reachable: no ARP
    CHECK(out[0].is_icmp);
    f.advance_ms(1);
    CHECK(f.net.neigh().lookup(HOST3)->state == neigh_state::stale);
    out = ping_from(f, HOST3, MAC3, 3);
    REQUIRE(out.size() == 2);
    unsigned arps = 0, replies = 0;
    for (auto& fr : out) {
        if (fr.is_arp) {
            check_arp_request_for(fr, HOST3);
            ++arps;
        } else {
            check_echo_reply(fr, MAC3, HOST3, 0x77, 3, bytes_of(8));
            ++replies;
        }
    }
    CHECK(arps == 1);
    CHECK(replies == 1);
}

TEST_CASE("arp: a stale entry is kept (Linux keeps STALE entries); used ten minutes later it sends at once") {
    tcp_fixture f;
    resolve(f, HOST3, MAC3);
    f.advance_ms(600000);
    REQUIRE(f.net.neigh().lookup(HOST3) != nullptr);
    CHECK(f.net.neigh().lookup(HOST3)->state == neigh_state::stale);
    auto out = ping_from(f, HOST3, MAC3, 2);
    REQUIRE(out.size() == 2);  // the reply and a re-probe
    CHECK(out[0].is_arp != out[1].is_arp);
    // The peer's answer to the re-probe confirms it: reachable again.
    f.inject_raw(make_arp_reply(host(HOST3, MAC3)));
    CHECK(all_tx(f).empty());
    CHECK(f.net.neigh().lookup(HOST3)->state == neigh_state::reachable);
}

TEST_CASE("arp: a request for our address is answered with our MAC and teaches us the sender") {
    tcp_fixture f;
    const wire::mac_addr m7 = mac_for(7);
    const uint32_t ip7 = wire::ipv4(198, 18, 0, 7);
    for (bool padded : {false, true}) {
        INFO("padded to 60 bytes: " << padded);
        frame_bytes req = make_arp_request(m7, ip7, LOCAL_IP);
        if (padded) {
            req.resize(60, std::byte{0});
        }
        const uint64_t replies = f.net.counters().arp_replies_tx;
        f.inject_raw(req);
        auto out = all_tx(f);
        REQUIRE(out.size() == 1);
        auto& r = out[0];
        INFO("tx: " << describe(r));
        REQUIRE(r.is_arp);
        CHECK(r.eth.dst == m7);
        CHECK(r.eth.src == LOCAL_MAC);
        CHECK(r.arp.op == wire::arp_op_reply);
        CHECK(r.arp.sha == LOCAL_MAC);
        CHECK(r.arp.spa == LOCAL_IP);
        CHECK(r.arp.tha == m7);
        CHECK(r.arp.tpa == ip7);
        CHECK(r.frame_len == 14 + 28);
        CHECK(f.net.counters().arp_replies_tx == replies + 1);
    }
    // The requester is known now: a ping is answered without ARP.
    auto out = ping_from(f, ip7, m7, 1);
    REQUIRE(out.size() == 1);
    check_echo_reply(out[0], m7, ip7, 0x77, 1, bytes_of(8));
}

TEST_CASE("arp: a request for another address is not answered and teaches nothing") {
    tcp_fixture f;
    const wire::mac_addr m7 = mac_for(7);
    const uint32_t ip7 = wire::ipv4(198, 18, 0, 7);
    const uint64_t nfu = f.net.counters().drop(drop_reason::arp_not_for_us);
    f.inject_raw(make_arp_request(m7, ip7, wire::ipv4(198, 18, 0, 9)));
    CHECK(all_tx(f).empty());
    CHECK(f.net.counters().drop(drop_reason::arp_not_for_us) == nfu + 1);
    CHECK(f.net.neigh().lookup(ip7) == nullptr);
    auto out = ping_from(f, ip7, m7, 1);
    REQUIRE(out.size() == 1);
    check_arp_request_for(out[0], ip7);
}

TEST_CASE("arp: unsolicited replies and gratuitous ARP create no entry (Linux, arp_accept = 0)") {
    tcp_fixture f;
    const uint32_t ip8 = wire::ipv4(198, 18, 0, 8);
    const wire::mac_addr m8 = mac_for(8);
    SECTION("an unsolicited reply addressed to us") {
        f.inject_raw(make_arp_reply(host(ip8, m8)));
    }
    SECTION("a gratuitous request (sender = target, broadcast)") {
        frame_addrs a = host(ip8, m8);
        a.dst_mac = wire::mac_addr::broadcast();
        f.inject_raw(make_arp_frame(a, wire::arp_repr{wire::arp_op_request, m8, ip8, wire::mac_addr{}, ip8}));
    }
    SECTION("a gratuitous reply (sender = target, broadcast)") {
        frame_addrs a = host(ip8, m8);
        a.dst_mac = wire::mac_addr::broadcast();
        f.inject_raw(make_arp_frame(a, wire::arp_repr{wire::arp_op_reply, m8, ip8, wire::mac_addr::broadcast(), ip8}));
    }
    CHECK(all_tx(f).empty());
    CHECK(f.net.neigh().lookup(ip8) == nullptr);
    auto out = ping_from(f, ip8, m8, 1);
    REQUIRE(out.size() == 1);
    check_arp_request_for(out[0], ip8);
}

TEST_CASE("arp: gratuitous ARP from a known neighbour updates its MAC (RFC 826 merge)") {
    tcp_fixture f;
    resolve(f, HOST3, MAC3);
    frame_addrs a = host(HOST3, MAC3B);
    a.dst_mac = wire::mac_addr::broadcast();
    f.inject_raw(make_arp_frame(a, wire::arp_repr{wire::arp_op_request, MAC3B, HOST3, wire::mac_addr{}, HOST3}));
    CHECK(all_tx(f).empty());
    auto out = ping_from(f, HOST3, MAC3B, 2);
    REQUIRE(out.size() == 1);
    check_echo_reply(out[0], MAC3B, HOST3, 0x77, 2, bytes_of(8));
}

TEST_CASE("arp: an ARP claiming our own address or a martian sender teaches nothing") {
    tcp_fixture f;
    const wire::mac_addr evil = mac_for(66);
    // Someone else says it is us: not learned, not answered.
    f.inject_raw(make_arp_request(evil, LOCAL_IP, LOCAL_IP));
    CHECK(all_tx(f).empty());
    // A martian sender asking for us: no entry, no reply.
    f.inject_raw(make_arp_request(evil, wire::ipv4(127, 0, 0, 1), LOCAL_IP));
    CHECK(all_tx(f).empty());
    CHECK(f.net.neigh().lookup(wire::ipv4(127, 0, 0, 1)) == nullptr);
}

TEST_CASE("arp: entries sharing a hash chain stay reachable when an earlier one is freed") {
    tcp_fixture f;
    // Two addresses whose neighbour-table home slot is the same (the
    // table's own hash: the top 8 bits of ip * 2654435761).
    auto home = [](uint32_t ip) { return (ip * 2654435761u) >> 24; };
    uint32_t a = 0, b = 0;
    for (uint32_t i = 10; i < 250 && b == 0; ++i) {
        for (uint32_t j = i + 1; j < 250; ++j) {
            const uint32_t ia = wire::ipv4(198, 18, 0, uint8_t(i)), ib = wire::ipv4(198, 18, 0, uint8_t(j));
            if (home(ia) == home(ib) && home(ia) != home(PEER_IP)) {
                a = ia;
                b = ib;
                break;
            }
        }
    }
    REQUIRE(b != 0);
    // a never answers: its resolution fails at 3 s and the entry is freed
    // a second later; b, resolved meanwhile, sits after a in the chain.
    auto out0 = ping_from(f, a, mac_for(a), 1);
    REQUIRE(out0.size() == 1);
    check_arp_request_for(out0[0], a);
    resolve(f, b, mac_for(b));
    f.advance_ms(4500);
    all_tx(f);
    CHECK(f.net.neigh().lookup(a) == nullptr);
    REQUIRE(f.net.neigh().lookup(b) != nullptr);
    CHECK(f.net.neigh().lookup(b)->state == neigh_state::reachable);
    // b is reachable: a ping is answered at once, with no new resolution.
    auto out = ping_from(f, b, mac_for(b), 2);
    REQUIRE(out.size() == 1);
    check_echo_reply(out[0], mac_for(b), b, 0x77, 2, bytes_of(8));
}

// ----------------------------------------------------------------- ICMP

TEST_CASE("icmp: an echo request gets an echo reply with the same id, seq and payload") {
    tcp_fixture f;
    for (size_t n : {size_t(0), size_t(1), size_t(7), size_t(56), size_t(57), size_t(1471), size_t(1472)}) {
        DYNAMIC_SECTION("payload " << n) {
            const auto data = bytes_of(n, uint8_t(n));
            const uint64_t echos = f.net.counters().icmp_in_echos;
            f.inject_raw(echo_request(f.peer, 0xbeef, uint16_t(n), data));
            auto out = all_tx(f);
            REQUIRE(out.size() == 1);
            check_echo_reply(out[0], PEER_MAC, PEER_IP, 0xbeef, uint16_t(n), data);
            CHECK(out[0].ip.total_len == 20 + 8 + n);
            CHECK(f.net.counters().icmp_in_echos == echos + 1);
            CHECK(f.net.counters().icmp_out_echo_reps == echos + 1);
        }
    }
}

TEST_CASE("icmp: an echo request with a bad checksum is dropped unanswered") {
    tcp_fixture f;
    for (size_t n : {size_t(3), size_t(56)}) {
        frame_bytes fr = echo_request(f.peer, 1, 1, bytes_of(n));
        fr.back() ^= std::byte{0x01};
        const uint64_t bad = f.net.counters().drop(drop_reason::icmp_malformed);
        f.inject_raw(fr);
        CHECK(all_tx(f).empty());
        CHECK(f.net.counters().drop(drop_reason::icmp_malformed) == bad + 1);
    }
}

TEST_CASE("icmp: types other than echo request are counted and not answered") {
    tcp_fixture f;
    wire::icmp_repr i;
    i.type = wire::icmp_echo_reply;
    f.inject_raw(make_icmp_frame(f.peer, i));
    i.type = wire::icmp_dest_unreach;
    i.code = wire::icmp_code_port_unreach;
    f.inject_raw(make_icmp_frame(f.peer, i));
    CHECK(all_tx(f).empty());
    CHECK(f.net.counters().drop(drop_reason::icmp_unhandled) == 2);
}

// ------------------------------------------------------ Ethernet / IPv4

TEST_CASE("ethernet: broadcast frames carrying IPv4 for our address are accepted") {
    tcp_fixture f;
    frame_addrs a = f.peer;
    a.dst_mac = wire::mac_addr::broadcast();
    f.inject_raw(echo_request(a, 3, 3, bytes_of(10)));
    auto out = all_tx(f);
    REQUIRE(out.size() == 1);
    check_echo_reply(out[0], PEER_MAC, PEER_IP, 3, 3, bytes_of(10));
}

TEST_CASE("ethernet: frames for another unicast MAC are dropped (eth_not_for_us)") {
    tcp_fixture f;
    frame_addrs a = f.peer;
    a.dst_mac = mac_for(99);
    f.inject_raw(echo_request(a, 3, 3, bytes_of(10)));
    CHECK(all_tx(f).empty());
    CHECK(f.net.counters().drop(drop_reason::eth_not_for_us) == 1);
}

TEST_CASE("ipv4: packets for another IP are dropped, not forwarded (ip_not_for_us)") {
    tcp_fixture f;
    for (uint32_t dst : {wire::ipv4(198, 18, 0, 9), wire::ipv4(198, 18, 0, 255), wire::ipv4(255, 255, 255, 255)}) {
        frame_addrs a = f.peer;
        a.dst_ip = dst;
        f.inject_raw(echo_request(a, 3, 3, bytes_of(10)));
    }
    CHECK(all_tx(f).empty());
    CHECK(f.net.counters().drop(drop_reason::ip_not_for_us) == 3);
}

TEST_CASE("ipv4: fragments are held for reassembly, not delivered alone (ip_fragment.cc)") {
    tcp_fixture f;
    usock l = usock::create(f.net);
    REQUIRE(l.bind(0, 8080) == 0);
    REQUIRE(l.listen(8) == 0);
    auto syn = seg(40000, 8080, 100, 0, TCPF_SYN, 65535);
    // A whole SYN marked MF, and pieces of other datagrams: none completes.
    uint16_t id = 1;
    for (uint16_t frag : {uint16_t(wire::ip_mf), uint16_t(1), uint16_t(wire::ip_mf | 185), uint16_t(wire::ip_df | 3)}) {
        frame_addrs a = f.peer;
        a.frag = frag;
        a.ip_id = id++;
        f.inject_raw(make_tcp_frame(a, syn));
    }
    CHECK(all_tx(f).empty());
    // The two marked MF carry 20 bytes, not a multiple of 8 (RFC 791): dropped;
    // the two last fragments wait in their queues.
    CHECK(f.net.counters().drop(drop_reason::ip_frag_bad) == 2);
    CHECK(ipfrag_queue_count(*f.net.ipfrag) == 2);
    // The same SYN unfragmented is answered.
    f.inject(syn);
    f.expect_tcp(TCPF_SYN | TCPF_ACK);
    l.close();
}

TEST_CASE("routing: an off-subnet destination without a gateway fails connect with ENETUNREACH") {
    tcp_fixture f;
    usock c = usock::create(f.net);
    CHECK(c.connect(wire::ipv4(198, 19, 0, 1), 80) == -ENETUNREACH);
    CHECK(c.connect(wire::ipv4(198, 18, 1, 5), 80) == -ENETUNREACH);
    CHECK(all_tx(f).empty());
    CHECK(c.state() == TCP_CLOSE);
    // The socket is still usable for an on-link destination.
    CHECK(c.connect(PEER_IP, 80) == -EINPROGRESS);
    f.expect_tcp(TCPF_SYN);
    c.close();
}

TEST_CASE("routing: with a gateway, an off-subnet connect resolves the gateway and sends the SYN to its MAC") {
    gw_fixture g;
    const uint32_t gw = wire::ipv4(198, 18, 0, 254);
    const wire::mac_addr gw_mac = mac_for(254);
    const uint32_t far = wire::ipv4(198, 19, 7, 7);
    usock c = usock::create(g.net);
    REQUIRE(c.connect(far, 443) == -EINPROGRESS);
    auto out = g.tx();
    REQUIRE(out.size() == 1);
    check_arp_request_for(out[0], gw);
    frame_addrs a = host(gw, gw_mac);
    g.dev.inject_bytes(make_arp_reply(a));
    g.net.poll();
    out = g.tx();
    REQUIRE(out.size() == 1);
    REQUIRE(out[0].is_tcp);
    CHECK(out[0].tcp.flags == TCPF_SYN);
    CHECK(out[0].eth.dst == gw_mac);
    CHECK(out[0].ip.dst == far);
    CHECK(out[0].ip.src == LOCAL_IP);
    // On-link destinations still go direct.
    usock d = usock::create(g.net);
    REQUIRE(d.connect(HOST3, 80) == -EINPROGRESS);
    out = g.tx();
    REQUIRE(out.size() == 1);
    check_arp_request_for(out[0], HOST3);
    c.close();
    d.close();
}

// The device's tx ring full (DPDK's tx_burst takes fewer than offered): the
// stack retries a few times within the flush, then drops what is still
// refused and counts it (TCP's retransmission recovers), never holding a
// frame forever.
TEST_CASE("device full: refused frames are dropped and counted, the ones taken go out in order") {
    tcp_fixture f;
    f.net.flush();
    f.dev.clear_tx();
    auto frame = [&](uint8_t tag) {
        pbuf* p = f.pool.alloc(64, 60);
        REQUIRE(p != nullptr);
        std::byte* d = p->append(60);
        std::memset(d, 0, 60);
        d[14] = std::byte(tag);
        return pbuf_ptr(p);
    };
    const size_t pool_before = f.pool.in_use();
    f.dev.set_tx_limit(3);
    for (uint8_t i = 0; i < 10; ++i) {
        f.net.dev_queue_xmit(frame(i));
    }
    f.net.flush();
    REQUIRE(f.dev.tx_pending() == 3);
    for (int i = 0; i < 3; ++i) {
        CHECK(int(f.dev.pop_tx()->data[14]) == i);
    }
    CHECK(f.net.counters().drop(drop_reason::tx_device_full) == 7);
    CHECK(f.pool.in_use() == pool_before);  // nothing leaked
    f.dev.set_tx_limit(netdev_unlimited);
}
