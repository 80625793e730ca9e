// The engine's only path to a network: a device with burst rx/tx (the
// kernel's net_device + ndo_start_xmit, DPDK's rte_eth_{rx,tx}_burst).
// dpdk_port/ implements it on a DPDK port; tests implement it in memory.
#pragma once
#include <cstdint>
#include "buf/pbuf.hh"
#include "wire/ether.hh"

namespace dshim {

enum netdev_offload : uint32_t {
    NETDEV_RX_CSUM = 1u << 0,     // rx frames carry PBUF_RX_*_CSUM_GOOD when verified
    NETDEV_TX_IP_CSUM = 1u << 1,  // honours PBUF_TX_IP_CSUM
    NETDEV_TX_TCP_CSUM = 1u << 2, // honours PBUF_TX_TCP_CSUM
    NETDEV_TX_UDP_CSUM = 1u << 3,
};

struct netdev {
    virtual ~netdev() = default;
    // Takes ownership of the first k of n frames and returns k (DPDK's burst
    // ownership rule): the caller still owns and must free pkts[k..n).
    virtual uint16_t tx_burst(pbuf** pkts, uint16_t n) noexcept = 0;
    // Fills up to n received frames; the caller owns them.
    virtual uint16_t rx_burst(pbuf** pkts, uint16_t n) noexcept = 0;
    virtual wire::mac_addr mac() const noexcept = 0;
    virtual uint16_t mtu() const noexcept = 0;       // IP MTU (1500 for Ethernet)
    virtual uint32_t offloads() const noexcept = 0;  // netdev_offload bits
};

}  // namespace dshim
