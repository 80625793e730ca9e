// In-memory network device for engine tests: the test-side netdev (what the
// kernel's veth/loopback driver or DPDK's net_ring PMD are to a real stack).
// Transmitted frames are captured in a FIFO the test inspects; received frames
// are whatever the test injects.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <span>
#include "buf/pbuf.hh"
#include "link/netdev.hh"

namespace dshim::test {

inline constexpr size_t netdev_unlimited = std::numeric_limits<size_t>::max();

struct test_netdev_config {
    wire::mac_addr mac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
    uint16_t mtu = 1500;
    uint32_t offloads = 0;               // netdev_offload bits; none by default
    size_t tx_limit = netdev_unlimited;  // tx ring size: max frames waiting in the tx FIFO
    size_t rx_limit = netdev_unlimited;  // rx ring size: inject fails beyond this
    uint32_t rx_headroom = 128;          // headroom of buffers made by inject_bytes
};

struct test_netdev_stats {
    uint64_t tx_bursts = 0;          // tx_burst calls
    uint64_t tx_frames = 0;          // frames accepted
    uint64_t tx_rejected = 0;        // frames refused because the tx ring was full
    uint64_t tx_oversize = 0;        // accepted frames longer than mtu + 14
    uint64_t tx_offload_errors = 0;  // PBUF_TX_* flag set without the offload advertised
    uint64_t rx_injected = 0;        // frames queued by inject/inject_bytes
    uint64_t rx_dropped = 0;         // inject refused: rx ring full or no buffer
    uint64_t rx_frames = 0;          // frames handed out by rx_burst
};

// Owned by one test thread.
//
// tx_burst follows DPDK's ownership rule: it takes the first k frames (k
// limited by the free space of the tx ring), the caller keeps the rest. With
// a tx checksum offload advertised, frames flagged PBUF_TX_* get their
// checksums completed on transmit as a NIC would (the TCP/UDP field must hold
// the pseudo-header sum, DPDK style), so captured frames are wire-exact.
//
// With NETDEV_RX_CSUM advertised, inject() verifies IPv4/TCP/UDP checksums
// and sets PBUF_RX_*_CSUM_GOOD on frames that pass (with an independent
// RFC 1071 implementation, not the stack's).
class test_netdev final : public netdev {
public:
    // rx_pool supplies the buffers inject_bytes() copies into (each device has
    // its own pool, like a NIC's rx mempool). It must outlive the device.
    explicit test_netdev(pbuf_pool& rx_pool, const test_netdev_config& cfg = {});
    test_netdev(pbuf_pool& rx_pool, wire::mac_addr mac);
    ~test_netdev() override;
    test_netdev(const test_netdev&) = delete;
    test_netdev& operator=(const test_netdev&) = delete;

    // netdev
    uint16_t tx_burst(pbuf** pkts, uint16_t n) noexcept override;
    uint16_t rx_burst(pbuf** pkts, uint16_t n) noexcept override;
    wire::mac_addr mac() const noexcept override { return _cfg.mac; }
    uint16_t mtu() const noexcept override { return _cfg.mtu; }
    uint32_t offloads() const noexcept override { return _cfg.offloads; }

    void set_mac(wire::mac_addr m) noexcept { _cfg.mac = m; }
    void set_mtu(uint16_t mtu) noexcept { _cfg.mtu = mtu; }
    void set_offloads(uint32_t bits) noexcept { _cfg.offloads = bits; }
    // Max frames the tx FIFO holds; tx_burst accepts only the free space
    // (0 = a device that accepts nothing, netdev_unlimited = no limit).
    void set_tx_limit(size_t n) noexcept { _cfg.tx_limit = n; }
    void set_rx_limit(size_t n) noexcept { _cfg.rx_limit = n; }

    // Transmitted frames, oldest first.
    std::deque<pbuf_ptr> take_tx();
    pbuf_ptr pop_tx() noexcept;
    size_t tx_pending() const noexcept { return _tx.size(); }
    // The i-th waiting frame without taking it (nullptr past the end).
    const pbuf* peek_tx(size_t i = 0) const noexcept;
    void clear_tx() noexcept { _tx.clear(); }

    // Queues a frame for rx_burst; false (frame freed) if the rx ring is full.
    bool inject(pbuf_ptr p);
    // Copies bytes into a buffer from the rx pool and queues it; false if the
    // pool is exhausted, the frame does not fit a buffer or the ring is full.
    bool inject_bytes(std::span<const std::byte> frame);
    size_t rx_pending() const noexcept { return _rx.size(); }
    void clear_rx() noexcept { _rx.clear(); }

    pbuf_pool& rx_pool() const noexcept { return _pool; }
    const test_netdev_stats& stats() const noexcept { return _stats; }

private:
    void apply_tx_offloads(pbuf& p) noexcept;
    void mark_rx_csum(pbuf& p) const noexcept;

    pbuf_pool& _pool;
    test_netdev_config _cfg;
    std::deque<pbuf_ptr> _tx;
    std::deque<pbuf_ptr> _rx;
    test_netdev_stats _stats;
};

}  // namespace dshim::test
