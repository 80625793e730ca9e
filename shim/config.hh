// dshim's configuration: DSHIM_* environment variables, or the same keys in
// the file named by DSHIM_CONF (environment wins). A bad value is one clear
// message naming the key and a non-zero exit: nothing silently half-works.
#pragma once
#include <cstdint>
#include <string>

namespace dshim::shim {

struct config {
    std::string port;          // DSHIM_PORT: DPDK device string or PCI address
    std::string eal;           // DSHIM_EAL: extra EAL arguments
    uint32_t ip = 0;           // DSHIM_IP a.b.c.d/prefix
    uint8_t prefix_len = 24;
    uint32_t gw = 0;           // DSHIM_GW
    std::string mac;           // DSHIM_MAC (validated)
    uint64_t spin_us = 50;     // DSHIM_SPIN_US: how long a blocking call spins before sleeping
    int log_level = 1;         // DSHIM_LOG: 0 quiet, 1 errors/warnings, 2 info, 3 debug
    std::string pcap;          // DSHIM_PCAP: pcapng capture file
    uint64_t exit_linger_s = 10;  // DSHIM_EXIT_LINGER_S
    bool hugepages = false;    // DSHIM_HUGEPAGES=1
    uint32_t mbufs = 8191;     // DSHIM_MBUFS
    uint64_t poll_kernel_us = 1000;  // DSHIM_POLL_KERNEL_US
    std::string dpdk_lib;      // DSHIM_DPDK_LIB: path of libdshim_dpdk.so (default: beside libdshim.so)
    bool exit_stats = false;   // DSHIM_EXIT_STATS=1: print `dshim stat` to stderr at exit
    std::string faults;        // DSHIM_FAULTS: fault injection spec (validated; dpdk_port/fault_spec.hh)
    std::string tcp_congestion = "cubic";  // DSHIM_TCP_CONGESTION: default for new sockets
    int tcp_ecn = -1;          // DSHIM_TCP_ECN: net.ipv4.tcp_ecn 0/1/2 (-1: the stack default, 2)
    bool enabled = false;      // DSHIM_PORT and DSHIM_IP given: accelerate

    // Reads the environment (and DSHIM_CONF). On a bad value, prints one
    // line "dshim: KEY: ..." to stderr and exits the process with status 1.
    static config load();
};

// Logging to stderr (never the program's stdout).
void log_msg(int level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
extern int g_log_level;

}  // namespace dshim::shim
