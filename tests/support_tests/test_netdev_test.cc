// Tests of tests/support/test_netdev: burst ownership under a tx ring limit,
// capture FIFO, injection, checksum offload emulation.
#include <catch2/catch.hpp>
#include <cstring>
#include <vector>
#include "support/inet_csum.hh"
#include "support/test_netdev.hh"
#include "support/test_pool.hh"

using namespace dshim;
using dshim::test::test_netdev;
using dshim::test::test_pool;

namespace {

pbuf* frame_with_tag(test_pool& pool, uint8_t tag, uint32_t len = 60) {
    pbuf* p = pool.alloc(128, len);
    REQUIRE(p != nullptr);
    std::memset(p->append(len), tag, len);
    return p;
}

void put16(std::vector<std::byte>& f, size_t off, uint16_t v) {
    f[off] = std::byte(v >> 8);
    f[off + 1] = std::byte(v & 0xff);
}
uint16_t get16(std::span<const std::byte> f, size_t off) {
    return uint16_t((uint16_t(uint8_t(f[off])) << 8) | uint8_t(f[off + 1]));
}

// Ethernet + IPv4 (20) + TCP (20) + 5 bytes payload, both checksums zero.
std::vector<std::byte> raw_tcp_frame() {
    std::vector<std::byte> f(14 + 20 + 20 + 5, std::byte{0});
    put16(f, 12, 0x0800);
    f[14] = std::byte{0x45};
    put16(f, 16, 45);     // total length
    put16(f, 20, 0x4000); // DF
    f[22] = std::byte{64};
    f[23] = std::byte{6};
    put16(f, 26, 0xc612);  // 198.18.0.1
    put16(f, 28, 0x0001);
    put16(f, 30, 0xc612);  // 198.18.0.2
    put16(f, 32, 0x0002);
    put16(f, 34, 1234);
    put16(f, 36, 80);
    f[46] = std::byte{0x50};  // data offset 5
    f[47] = std::byte{0x18};  // PSH|ACK
    put16(f, 48, 1000);
    for (size_t i = 0; i < 5; ++i) {
        f[54 + i] = std::byte(uint8_t('a' + i));
    }
    return f;
}

}  // namespace

TEST_CASE("test_netdev: defaults are mtu 1500 and no offloads", "[support][netdev]") {
    test_pool pool(4);
    test_netdev dev(pool);
    CHECK(dev.mtu() == 1500);
    CHECK(dev.offloads() == 0);
    wire::mac_addr m{{0x02, 0, 0, 0, 0, 9}};
    test_netdev dev2(pool, m);
    CHECK(dev2.mac() == m);
}

TEST_CASE("test_netdev: tx ring limit takes only the first k frames, caller keeps the rest",
          "[support][netdev]") {
    test_pool pool(8);
    test_netdev dev(pool);
    dev.set_tx_limit(3);
    pbuf* pkts[5];
    for (uint8_t i = 0; i < 5; ++i) {
        pkts[i] = frame_with_tag(pool, i);
    }
    uint16_t k = dev.tx_burst(pkts, 5);
    REQUIRE(k == 3);
    CHECK(dev.tx_pending() == 3);
    CHECK(dev.stats().tx_rejected == 2);
    // Ring full: nothing more is taken.
    CHECK(dev.tx_burst(pkts + 3, 2) == 0);
    // Frames come out in order, and the device owns them.
    pbuf_ptr first = dev.pop_tx();
    REQUIRE(first);
    CHECK(first->data[0] == std::byte{0});
    CHECK(dev.tx_burst(pkts + 3, 2) == 1);
    auto all = dev.take_tx();
    REQUIRE(all.size() == 3);
    CHECK(all[0]->data[0] == std::byte{1});
    CHECK(all[1]->data[0] == std::byte{2});
    CHECK(all[2]->data[0] == std::byte{3});
    CHECK(dev.tx_pending() == 0);
    // pkts[4] still belongs to the caller.
    pool.free(pkts[4]);
    first.reset();
    all.clear();
    CHECK(pool.in_use() == 0);
}

TEST_CASE("test_netdev: tx limit 0 accepts nothing, unlimited accepts everything", "[support][netdev]") {
    test_pool pool(70);
    test_netdev dev(pool);
    dev.set_tx_limit(0);
    pbuf* pkts[64];
    for (uint8_t i = 0; i < 64; ++i) {
        pkts[i] = frame_with_tag(pool, i);
    }
    CHECK(dev.tx_burst(pkts, 64) == 0);
    dev.set_tx_limit(test::netdev_unlimited);
    CHECK(dev.tx_burst(pkts, 64) == 64);
    CHECK(dev.tx_pending() == 64);
    CHECK(dev.peek_tx(63)->data[0] == std::byte{63});
    CHECK(dev.peek_tx(64) == nullptr);
    dev.clear_tx();
    CHECK(pool.in_use() == 0);
}

TEST_CASE("test_netdev: oversize tx frames are counted", "[support][netdev]") {
    test_pool pool(2);
    test_netdev dev(pool);
    dev.set_mtu(100);
    pbuf* pkts[2] = {frame_with_tag(pool, 1, 114), frame_with_tag(pool, 2, 115)};
    CHECK(dev.tx_burst(pkts, 2) == 2);
    CHECK(dev.stats().tx_oversize == 1);
}

TEST_CASE("test_netdev: injected frames come out of rx_burst in order, owned by the caller",
          "[support][netdev]") {
    test_pool pool(4);
    test_netdev dev(pool);
    std::byte bytes[3] = {std::byte{1}, std::byte{2}, std::byte{3}};
    CHECK(dev.inject_bytes(bytes));
    CHECK(dev.inject(pbuf_ptr(frame_with_tag(pool, 9, 20))));
    CHECK(dev.rx_pending() == 2);
    pbuf* got[4];
    REQUIRE(dev.rx_burst(got, 1) == 1);
    CHECK(got[0]->len == 3);
    CHECK(got[0]->data[2] == std::byte{3});
    CHECK(got[0]->headroom() == 128);
    REQUIRE(dev.rx_burst(got + 1, 4) == 1);
    CHECK(got[1]->len == 20);
    CHECK(dev.rx_burst(got + 2, 4) == 0);
    pool.free(got[0]);
    pool.free(got[1]);
    CHECK(pool.in_use() == 0);
}

TEST_CASE("test_netdev: inject_bytes fails when the pool is exhausted or the ring is full",
          "[support][netdev]") {
    test_pool pool(2, 256, 0);
    test_netdev dev(pool);
    std::vector<std::byte> f(60, std::byte{0xaa});
    CHECK(dev.inject_bytes(f));
    CHECK(dev.inject_bytes(f));
    CHECK_FALSE(dev.inject_bytes(f));  // pool empty
    std::vector<std::byte> big(257, std::byte{0});
    dev.clear_rx();
    CHECK_FALSE(dev.inject_bytes(big));  // does not fit a buffer
    dev.set_rx_limit(1);
    CHECK(dev.inject_bytes(f));
    CHECK_FALSE(dev.inject_bytes(f));  // ring full
    CHECK(dev.stats().rx_dropped == 3);
    dev.clear_rx();
    CHECK(pool.in_use() == 0);
}

TEST_CASE("test_netdev: tx offload fills IPv4 and TCP checksums like a NIC", "[support][netdev]") {
    test_pool pool(4);
    test_netdev dev(pool);
    dev.set_offloads(NETDEV_TX_IP_CSUM | NETDEV_TX_TCP_CSUM);
    std::vector<std::byte> f = raw_tcp_frame();
    // The stack leaves the pseudo-header sum (folded, not complemented) in the TCP field.
    uint16_t phdr = test::oracle_fold(test::oracle_pseudo_sum(0xc6120001, 0xc6120002, 6, 25));
    put16(f, 14 + 20 + 16, phdr);
    pbuf* p = pool.alloc(0, uint32_t(f.size()));
    std::memcpy(p->append(uint32_t(f.size())), f.data(), f.size());
    p->flags = PBUF_TX_IP_CSUM | PBUF_TX_TCP_CSUM;
    p->l2_len = 14;
    p->l3_len = 20;
    REQUIRE(dev.tx_burst(&p, 1) == 1);
    pbuf_ptr out = dev.pop_tx();
    auto s = out->span();
    CHECK(test::oracle_fold(test::oracle_sum(s.subspan(14, 20))) == 0xffff);
    uint64_t ps = test::oracle_pseudo_sum(0xc6120001, 0xc6120002, 6, 25);
    CHECK(test::oracle_fold(test::oracle_sum(s.subspan(34, 25), ps)) == 0xffff);
    CHECK(get16(s, 24) != 0);
    CHECK(dev.stats().tx_offload_errors == 0);
}

TEST_CASE("test_netdev: tx offload flag without the offload advertised is an error", "[support][netdev]") {
    test_pool pool(4);
    test_netdev dev(pool);
    std::vector<std::byte> f = raw_tcp_frame();
    pbuf* p = pool.alloc(0, uint32_t(f.size()));
    std::memcpy(p->append(uint32_t(f.size())), f.data(), f.size());
    p->flags = PBUF_TX_IP_CSUM;
    REQUIRE(dev.tx_burst(&p, 1) == 1);
    CHECK(dev.stats().tx_offload_errors == 1);
    CHECK(get16(dev.peek_tx()->span(), 24) == 0);  // untouched
}

TEST_CASE("test_netdev: rx checksum offload marks only frames with good checksums", "[support][netdev]") {
    test_pool pool(4);
    test_netdev dev(pool);
    dev.set_offloads(NETDEV_RX_CSUM);
    std::vector<std::byte> f = raw_tcp_frame();
    put16(f, 24, test::oracle_csum(test::oracle_sum(std::span(f).subspan(14, 20))));
    uint64_t ps = test::oracle_pseudo_sum(0xc6120001, 0xc6120002, 6, 25);
    put16(f, 50, test::oracle_csum(test::oracle_sum(std::span(f).subspan(34, 25), ps)));
    REQUIRE(dev.inject_bytes(f));
    f[58] ^= std::byte{0x01};  // corrupt payload: L4 bad, IP still good
    REQUIRE(dev.inject_bytes(f));
    pbuf* got[2];
    REQUIRE(dev.rx_burst(got, 2) == 2);
    CHECK(got[0]->flags == (PBUF_RX_IP_CSUM_GOOD | PBUF_RX_L4_CSUM_GOOD));
    CHECK(got[1]->flags == PBUF_RX_IP_CSUM_GOOD);
    pool.free(got[0]);
    pool.free(got[1]);

    dev.set_offloads(0);
    REQUIRE(dev.inject_bytes(f));
    REQUIRE(dev.rx_burst(got, 1) == 1);
    CHECK(got[0]->flags == 0);
    pool.free(got[0]);
}
