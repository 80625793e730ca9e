// netdev on one DPDK ethdev queue pair (the kernel's net_device with its
// ndo_start_xmit and NAPI poll): port and queue set-up, checksum offloads
// when the PMD has them, burst rx/tx between pbufs and mbufs, Rx interrupts
// and link state.
#pragma once
#include <cstdint>
#include <string>

#include <rte_ethdev.h>

#include "capture.hh"
#include "link/netdev.hh"
#include "mbuf_pool.hh"

namespace dshim::dpdk {

struct eth_port_options {
    uint16_t rx_desc = 512;
    uint16_t tx_desc = 512;
    const char* mac = nullptr;  // set on the port when non-null (NIC case)
};

class eth_port final : public netdev {
public:
    eth_port() = default;
    eth_port(const eth_port&) = delete;
    eth_port& operator=(const eth_port&) = delete;
    ~eth_port() override { close(); }

    // Configures and starts port_id with one rx and one tx queue fed by
    // pool. 0 or -errno with err.
    int open(uint16_t port_id, mbuf_pool& pool, const eth_port_options& opt, std::string& err);
    // Starts capturing into cap (already open) from now on.
    void set_capture(capture* cap) noexcept { _cap = cap; }
    // Stops and closes the port (frees what its rings hold).
    void close() noexcept;
    // In a forked child: never touch the port again.
    void cut_off() noexcept;

    uint16_t port_id() const noexcept { return _port; }
    int socket() const noexcept { return _socket; }

    // Rx interrupts (see dshim_port).
    int rx_intr_errno() const noexcept { return _intr_errno; }
    int rx_intr_fd() const noexcept { return _epfd; }
    int rx_intr_enable() noexcept;
    int rx_intr_disable() noexcept;
    int rx_intr_wait(int timeout_ms) noexcept;
    bool link_up() const noexcept;

    // Counters, owned by the stack lock like the queues.
    uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0;
    uint64_t rx_drop_multiseg = 0, tx_refused = 0;

    uint16_t tx_burst(pbuf** pkts, uint16_t n) noexcept override;
    uint16_t rx_burst(pbuf** pkts, uint16_t n) noexcept override;
    wire::mac_addr mac() const noexcept override { return _mac; }
    uint16_t mtu() const noexcept override { return _mtu; }
    uint32_t offloads() const noexcept override { return _offloads; }

private:
    uint16_t _port = 0;
    int _socket = 0;
    bool _started = false;
    bool _dead = false;
    mbuf_pool* _pool = nullptr;
    capture* _cap = nullptr;
    wire::mac_addr _mac{};
    uint16_t _mtu = 1500;
    uint32_t _offloads = 0;     // netdev_offload bits actually enabled
    uint64_t _rx_offloads = 0;  // RTE_ETH_RX_OFFLOAD_* enabled
    uint64_t _tx_offloads = 0;  // RTE_ETH_TX_OFFLOAD_* enabled
    int _epfd = -1;
    int _intr_errno = ENOTSUP;
};

}  // namespace dshim::dpdk
