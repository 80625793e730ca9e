// fault_netdev (dpdk_port/faults.hh, DSHIM_FAULTS) over a test_netdev: each
// fault kind does what it says, counts, and never touches the caller's data.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "dpdk_port/faults.hh"
#include "support/frames.hh"
#include "support/test_netdev.hh"
#include "support/test_pool.hh"

using namespace dshim;
using namespace dshim::test;
using dshim::dpdk::fault_netdev;
using dshim::dpdk::fault_spec;
using dshim::dpdk::parse_fault_spec;

namespace {

frame_addrs addrs() {
    frame_addrs a;
    a.src_mac = wire::mac_addr{{0x02, 0, 0, 0, 0, 1}};
    a.dst_mac = wire::mac_addr{{0x02, 0, 0, 0, 0, 2}};
    a.src_ip = wire::ipv4(198, 18, 0, 1);
    a.dst_ip = wire::ipv4(198, 18, 0, 2);
    return a;
}

frame_bytes tcp_frame(uint32_t seq, size_t payload = 100) {
    wire::tcp_repr t;
    t.sport = 1000;
    t.dport = 80;
    t.seq = wire::seq32(seq);
    t.flags = wire::TCPF_ACK;
    t.window = 100;
    std::vector<std::byte> data(payload, std::byte{0x5a});
    return make_tcp_frame(addrs(), t, data);
}

std::vector<std::byte> bytes_of(const pbuf& p) { return {p.data, p.data + p.len}; }

struct rig {
    virtual_clock clk;
    test_pool pool{256};
    test_netdev dev{pool};
    fault_netdev f;
    explicit rig(const fault_spec& s) : f(dev, pool, clk, s) {}
    // Sends frames through the fault layer; returns how many it took.
    uint16_t send(const std::vector<frame_bytes>& frames) {
        std::vector<pbuf*> v;
        for (const auto& fr : frames) {
            v.push_back(to_pbuf(pool, fr).release());
        }
        uint16_t k = f.tx_burst(v.data(), uint16_t(v.size()));
        for (size_t i = k; i < v.size(); ++i) {
            pool.free(v[i]);
        }
        return k;
    }
    std::vector<uint32_t> sent_seqs() {
        std::vector<uint32_t> out;
        for (auto& p : dev.take_tx()) {
            out.push_back(parse_frame(*p).tcp.seq.v);
        }
        return out;
    }
};

fault_spec spec(const std::string& s) {
    fault_spec out;
    std::string err;
    REQUIRE(parse_fault_spec(s, out, err));
    return out;
}

}  // namespace

TEST_CASE("fault_spec: a good spec parses; a bad value names its key") {
    fault_spec s = spec("loss=0.05,dup=0.01,reorder=0.02,corrupt=0.001,delay_us=200,seed=7,dir=tx");
    CHECK(s.loss == 0.05);
    CHECK(s.delay_us == 200);
    CHECK(s.seed == 7);
    CHECK(s.tx);
    CHECK_FALSE(s.rx);
    CHECK(s.active());
    CHECK_FALSE(spec("").active());
    for (const char* bad : {"loss=2", "dup=-0.1", "delay_us=x", "dir=up", "speed=3", "loss"}) {
        fault_spec out;
        std::string err;
        INFO(bad);
        CHECK_FALSE(parse_fault_spec(bad, out, err));
        std::string key = std::string(bad).substr(0, std::string(bad).find('='));
        CHECK(err.find(key) != std::string::npos);
    }
}

TEST_CASE("fault_netdev: loss=1 takes every tx frame, sends none and counts them") {
    rig r(spec("loss=1"));
    CHECK(r.send({tcp_frame(1), tcp_frame(2), tcp_frame(3)}) == 3);
    CHECK(r.dev.tx_pending() == 0);
    CHECK(r.f.tx_faults.lost == 3);
    CHECK(r.pool.in_use() == 0);
}

TEST_CASE("fault_netdev: dup=1 sends each frame twice, byte for byte") {
    rig r(spec("dup=1,dir=tx"));
    frame_bytes fr = tcp_frame(9);
    CHECK(r.send({fr}) == 1);
    auto out = r.dev.take_tx();
    REQUIRE(out.size() == 2);
    CHECK(bytes_of(*out[0]) == fr);
    CHECK(bytes_of(*out[1]) == fr);
    CHECK(r.f.tx_faults.duplicated == 1);
}

TEST_CASE("fault_netdev: reorder=1 swaps each pair of frames") {
    rig r(spec("reorder=1"));
    CHECK(r.send({tcp_frame(1), tcp_frame(2), tcp_frame(3), tcp_frame(4)}) == 4);
    CHECK(r.sent_seqs() == std::vector<uint32_t>{2, 1, 4, 3});
    CHECK(r.f.tx_faults.reordered == 2);
}

TEST_CASE("fault_netdev: a held frame leaves after the hold limit when no other follows") {
    rig r(spec("reorder=1"));
    CHECK(r.send({tcp_frame(1)}) == 1);
    CHECK(r.dev.tx_pending() == 0);
    CHECK(r.f.holding());
    r.clk.advance(fault_netdev::reorder_hold_ns);
    pbuf* none[1];
    CHECK(r.f.rx_burst(none, 1) == 0);   // a poll pass releases it
    CHECK(r.sent_seqs() == std::vector<uint32_t>{1});
    CHECK_FALSE(r.f.holding());
}

TEST_CASE("fault_netdev: delay_us holds tx and rx frames exactly that long") {
    rig r(spec("delay_us=200"));
    CHECK(r.send({tcp_frame(1)}) == 1);
    REQUIRE(r.dev.inject_bytes(tcp_frame(5)));
    pbuf* got[4];
    CHECK(r.f.rx_burst(got, 4) == 0);
    CHECK(r.dev.tx_pending() == 0);
    r.clk.advance(199 * NSEC_PER_USEC);
    CHECK(r.f.rx_burst(got, 4) == 0);
    CHECK(r.dev.tx_pending() == 0);
    r.clk.advance(1 * NSEC_PER_USEC);
    REQUIRE(r.f.rx_burst(got, 4) == 1);
    pbuf_ptr rx(got[0]);
    CHECK(parse_frame(*rx).tcp.seq.v == 5);
    CHECK(r.sent_seqs() == std::vector<uint32_t>{1});
    CHECK(r.f.tx_faults.delayed == 1);
    CHECK(r.f.rx_faults.delayed == 1);
}

TEST_CASE("fault_netdev: tx corruption completes offloaded checksums, then flips one byte of a copy") {
    rig r(spec("corrupt=1,dir=tx"));
    const frame_bytes good = tcp_frame(77);
    // What the stack hands a device with IPv4 checksum offload: the field zero.
    pbuf_ptr p = to_pbuf(r.pool, good);
    p->data[14 + 10] = std::byte{0};
    p->data[14 + 11] = std::byte{0};
    p->flags = PBUF_TX_IP_CSUM;
    p->l2_len = 14;
    p->l3_len = 20;
    pbuf_ptr keep = p.clone();   // the retransmit queue's reference
    pbuf* v[1] = {p.release()};
    CHECK(r.f.tx_burst(v, 1) == 1);
    auto out = r.dev.take_tx();
    REQUIRE(out.size() == 1);
    CHECK(out[0]->flags == 0);
    std::vector<std::byte> sent = bytes_of(*out[0]);
    REQUIRE(sent.size() == good.size());
    int diffs = 0;
    for (size_t i = 0; i < good.size(); ++i) {
        diffs += sent[i] != good[i];
    }
    CHECK(diffs == 1);   // everything else, the checksum included, is final
    CHECK(keep->data[14 + 10] == std::byte{0});   // the shared original is untouched
    CHECK_FALSE(parse_frame(*out[0]).ok());
    CHECK(r.f.tx_faults.corrupted == 1);
}

TEST_CASE("fault_netdev: rx corruption clears the device's checksum-good flags") {
    rig r(spec("corrupt=1,dir=rx"));
    r.dev.set_offloads(NETDEV_RX_CSUM);
    REQUIRE(r.dev.inject_bytes(tcp_frame(3)));
    pbuf* got[1];
    REQUIRE(r.f.rx_burst(got, 1) == 1);
    pbuf_ptr p(got[0]);
    CHECK((p->flags & (PBUF_RX_IP_CSUM_GOOD | PBUF_RX_L4_CSUM_GOOD)) == 0);
    CHECK_FALSE(parse_frame(*p).ok());
    CHECK(r.f.rx_faults.corrupted == 1);
}

TEST_CASE("fault_netdev: the same seed injects the same faults") {
    auto run = [](uint64_t seed) {
        rig r(spec("loss=0.3,reorder=0.2,dup=0.1,seed=" + std::to_string(seed)));
        for (uint32_t i = 0; i < 200; ++i) {
            r.send({tcp_frame(i)});
        }
        r.clk.advance(fault_netdev::reorder_hold_ns);
        r.send({});
        return r.sent_seqs();
    };
    CHECK(run(7) == run(7));
    CHECK(run(7) != run(8));
    std::vector<uint32_t> s = run(7);
    CHECK(s.size() > 100);
    CHECK(s.size() < 200);
}

namespace {

frame_bytes tcp_frame_tos(uint32_t seq, uint8_t tos) {
    frame_addrs a = addrs();
    a.tos = tos;
    wire::tcp_repr t;
    t.sport = 1000;
    t.dport = 80;
    t.seq = wire::seq32(seq);
    t.flags = wire::TCPF_ACK;
    t.window = 100;
    std::vector<std::byte> data(100, std::byte{0x5a});
    return make_tcp_frame(a, t, data);
}

}  // namespace

TEST_CASE("fault_spec: ce= is a probability") {
    fault_spec s = spec("ce=0.01");
    CHECK(s.ce == 0.01);
    CHECK(s.active());
    fault_spec out;
    std::string err;
    CHECK_FALSE(parse_fault_spec("ce=1.5", out, err));
    CHECK(err.find("ce") != std::string::npos);
}

TEST_CASE("fault_netdev: rx ce=1 re-marks ECT(0)/ECT(1) as CE with a valid header checksum, nothing else") {
    rig r(spec("ce=1,dir=rx"));
    r.dev.set_offloads(NETDEV_RX_CSUM);
    // tos 0x28 keeps its DSCP bits; Not-ECT and CE frames pass as they are.
    const frame_bytes in[4] = {tcp_frame_tos(1, 0x28 | 2), tcp_frame_tos(2, 0x28 | 1), tcp_frame_tos(3, 0x28),
                               tcp_frame_tos(4, 0x28 | 3)};
    for (const auto& fr : in) {
        REQUIRE(r.dev.inject_bytes(fr));
    }
    pbuf* got[4];
    REQUIRE(r.f.rx_burst(got, 4) == 4);
    const uint8_t want[4] = {0x2b, 0x2b, 0x28, 0x2b};
    for (int i = 0; i < 4; ++i) {
        pbuf_ptr p(got[i]);
        parsed_frame pf = parse_frame(*p);
        INFO(i);
        CHECK(pf.ok());  // the IPv4 header checksum was fixed up
        CHECK(pf.ip.tos == want[i]);
        // Only the TOS octet and the checksum may differ.
        std::vector<std::byte> b = bytes_of(*p);
        REQUIRE(b.size() == in[i].size());
        for (size_t k = 0; k < b.size(); ++k) {
            if (k != 15 && k != 24 && k != 25) {
                CHECK(b[k] == in[i][k]);
            }
        }
    }
    CHECK(r.f.rx_faults.ce_marked == 2);
}

TEST_CASE("fault_netdev: an rx frame with a bad IP checksum keeps a bad one after CE marking") {
    rig r(spec("ce=1,dir=rx"));
    frame_bytes fr = tcp_frame_tos(1, 2);
    fr[24] ^= std::byte{0x11};  // break the IPv4 header checksum
    REQUIRE(r.dev.inject_bytes(fr));
    pbuf* got[1];
    REQUIRE(r.f.rx_burst(got, 1) == 1);
    pbuf_ptr p(got[0]);
    CHECK_FALSE(parse_frame(*p).ok());
    CHECK(r.f.rx_faults.ce_marked == 1);
}

TEST_CASE("fault_netdev: tx ce marks a copy (the retransmit queue's data stays ECT)") {
    rig r(spec("ce=1,dir=tx"));
    pbuf_ptr p = to_pbuf(r.pool, tcp_frame_tos(1, 2));
    pbuf_ptr keep = p.clone();
    pbuf* v[1] = {p.release()};
    CHECK(r.f.tx_burst(v, 1) == 1);
    auto out = r.dev.take_tx();
    REQUIRE(out.size() == 1);
    parsed_frame pf = parse_frame(*out[0]);
    CHECK(pf.ok());
    CHECK((pf.ip.tos & 3) == 3);
    CHECK((unsigned(keep->data[15]) & 3) == 2);
    CHECK(r.f.tx_faults.ce_marked == 1);
}

TEST_CASE("fault_netdev: ce=0.1 marks about a tenth of ECT frames, deterministically") {
    auto run = [] {
        rig r(spec("ce=0.1,dir=rx,seed=3"));
        uint64_t marked = 0;
        for (uint32_t i = 0; i < 1000; ++i) {
            REQUIRE(r.dev.inject_bytes(tcp_frame_tos(i, 2)));
            pbuf* got[1];
            REQUIRE(r.f.rx_burst(got, 1) == 1);
            pbuf_ptr p(got[0]);
            marked += (parse_frame(*p).ip.tos & 3) == 3;
        }
        CHECK(marked == r.f.rx_faults.ce_marked);
        return marked;
    };
    const uint64_t m = run();
    CHECK(m >= 60);
    CHECK(m <= 140);
    CHECK(run() == m);
}
