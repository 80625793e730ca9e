// DSHIM_PCAP: every frame the port receives or sends, written as pcapng with
// DPDK's librte_pcapng (the counterpart of an AF_PACKET tap under tcpdump).
#pragma once
#include <cstdint>
#include <string>

#include <rte_mbuf.h>
#include <rte_pcapng.h>

namespace dshim::dpdk {

class capture {
public:
    capture() = default;
    capture(const capture&) = delete;
    capture& operator=(const capture&) = delete;
    ~capture() { close(); }

    // Opens path for port_id (the port must be configured: its interface
    // block is written now). 0 or -errno with err.
    int open(const char* path, uint16_t port_id, int socket, std::string& err);
    void close() noexcept;
    bool active() const noexcept { return _pcap != nullptr; }
    // Copies and writes n frames (not taking ownership of them).
    void record(rte_mbuf* const* pkts, uint16_t n, rte_pcapng_direction dir) noexcept;
    // Two-step form for tx, where only the frames the device accepted may be
    // written and the device may free them at once: copy n (at most
    // max_burst) frames into copies[] (nullptr where a copy failed), then
    // write the first `keep` copies and free all n.
    static constexpr uint16_t max_burst = 32;
    void copy_burst(rte_mbuf* const* pkts, uint16_t n, rte_pcapng_direction dir, rte_mbuf** copies) noexcept;
    void write_burst(rte_mbuf** copies, uint16_t keep, uint16_t n) noexcept;
    // In a forked child: forget the handle without writing or freeing.
    void cut_off() noexcept;

    uint64_t drops = 0;

private:
    rte_pcapng_t* _pcap = nullptr;
    rte_mempool* _mp = nullptr;
    uint16_t _port = 0;
    int _fd = -1;
};

}  // namespace dshim::dpdk
