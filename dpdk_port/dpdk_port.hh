// Public interface of libdshim_dpdk.so, the DPDK part of dshim that the shim
// dlopen()s at the first data-path use (architecture.md §7): one exported C
// entry point attaches one DPDK port and hands back the engine's netdev,
// pbuf_pool and clock_source for it. This header includes no DPDK header, so
// the shim (and stack/) build without DPDK.
#pragma once
#include <cstddef>
#include <cstdint>
#include "buf/pbuf.hh"
#include "core/clock.hh"
#include "link/netdev.hh"

// The file name the shim dlopen()s and the symbol it looks up.
#define DSHIM_DPDK_LIBRARY "libdshim_dpdk.so"
#define DSHIM_DPDK_ATTACH_SYMBOL "dshim_dpdk_attach"

// Bumped whenever dshim_port_config or dshim_port change layout.
inline constexpr uint32_t DSHIM_DPDK_ABI = 4;

extern "C" {

// What to attach. Strings are read during the attach call only.
struct dshim_port_config {
    uint32_t abi = DSHIM_DPDK_ABI;
    // DPDK device: a vdev string ("net_tap0,iface=dshim0,mac=02:00:00:00:00:01",
    // "net_memif0,role=client,socket=/tmp/x.sock") or a PCI address
    // ("0000:00:08.0", optionally followed by ",devargs"). DSHIM_PORT.
    const char* device = nullptr;
    // Extra EAL arguments, separated by blanks, no quoting (DSHIM_EAL).
    const char* eal_args = nullptr;
    // Port MAC "aa:bb:cc:dd:ee:ff" (DSHIM_MAC): appended as mac= to a vdev
    // string that has none, set with rte_eth_dev_default_mac_addr_set on a NIC.
    const char* mac = nullptr;
    // Write every received and sent frame to this pcapng file (DSHIM_PCAP).
    const char* pcap_path = nullptr;
    // Fault injection on the data path (DSHIM_FAULTS, see fault_spec.hh):
    // "loss=0.05,dup=0.01,reorder=0.02,corrupt=0.001,delay_us=200,seed=7,
    // dir=both"; nullptr or "" for none.
    const char* faults = nullptr;
    // Where the one-process-per-port lock files live; nullptr: /run/dshim
    // when it can be used, else /tmp.
    const char* lock_dir = nullptr;
    // false: --no-huge -m mem_mb (the default); true: hugepages, unlinked.
    bool hugepages = false;
    uint32_t mem_mb = 512;
    // Packet buffers in the port's mempool (rx rings, socket queues, tx).
    uint32_t nb_mbufs = 8191;
    // Size of the stack-owned mempool cache (at most 512).
    uint32_t cache_size = 256;
    uint16_t rx_desc = 512;
    uint16_t tx_desc = 512;
    // DPDK log level cap (RTE_LOG_*: 1 emergency .. 8 debug); DPDK logs go
    // to stderr, never to the host program's stdout.
    uint32_t log_level = 4;
    // Called first in every thread this library creates (the EAL init
    // thread; DPDK's own control threads are created from it), so the shim
    // can mark the thread "inside dshim" and pass its libc calls through.
    void (*thread_init)(void) = nullptr;
};

// Counters of the port (a consistent-enough snapshot; read under the stack
// lock for exact values).
struct dshim_port_stats {
    uint64_t rx_packets, rx_bytes;
    uint64_t tx_packets, tx_bytes;
    uint64_t rx_drop_multiseg;   // multi-segment frames dropped on rx
    uint64_t tx_refused;         // frames tx_burst handed back (ring full)
    uint64_t alloc_fail;         // pbuf_pool alloc/clone that found no mbuf
    uint64_t pcap_drop;          // frames the capture could not copy/write
    uint64_t dev_imissed;        // from rte_eth_stats
    uint64_t dev_ierrors;
    uint64_t dev_oerrors;
    uint64_t dev_rx_nombuf;
    // Injected by DSHIM_FAULTS, per direction (all zero without faults).
    uint64_t fault_rx_lost, fault_rx_dup, fault_rx_reordered, fault_rx_corrupted, fault_rx_delayed;
    uint64_t fault_tx_lost, fault_tx_dup, fault_tx_reordered, fault_tx_corrupted, fault_tx_delayed;
    uint64_t fault_copy_fail;    // no buffer for a duplicate or corrupted copy
    uint64_t fault_rx_ce, fault_tx_ce;  // ECT frames re-marked CE (ce=)
};

// An attached port. Filled by dshim_dpdk_attach; the pointers stay valid
// until detach(). All operations are for one stack (one queue pair): call
// them under that stack's lock unless said otherwise.
struct dshim_port {
    dshim::netdev* dev;
    dshim::pbuf_pool* pool;
    dshim::clock_source* clock;
    uint16_t port_id;
    char name[64];             // DPDK port name (net_tap0, 0000:00:08.0...)
    char lock_path[256];       // the lock file held while attached
    char runtime_dir[256];     // EAL's runtime directory, removed at detach
    double attach_seconds;     // wall time of the whole attach call
    double eal_init_seconds;   // of which rte_eal_init
    double pool_seconds;       // mempool creation
    double port_seconds;       // ethdev configure + start (+ capture open)
    // Rx interrupts for the progress thread. rx_intr_errno is 0 when they
    // work, else the errno (ENOTSUP on net_memif): pace polling instead.
    int rx_intr_errno;
    // A pollable fd (an epoll set holding the queue's event fd) that turns
    // readable when frames arrive while interrupts are enabled; -1 when
    // unsupported. After it turns readable call rx_intr_wait(p, 0) to
    // consume the event.
    int rx_intr_fd;
    // Arm / disarm Rx interrupts. Protocol (edge-triggered): enable, then
    // drain the rx queue until rx_burst returns fewer than asked, then wait.
    int (*rx_intr_enable)(dshim_port* p) noexcept;
    int (*rx_intr_disable)(dshim_port* p) noexcept;
    // Sleeps until frames arrive or timeout_ms passes (-1: forever).
    // Returns >0 woken by frames, 0 timeout, -errno on error (-ENOTSUP when
    // unsupported). Any thread may call it; it takes no stack lock.
    int (*rx_intr_wait)(dshim_port* p, int timeout_ms) noexcept;
    // Waits until the link is up: 0, -ETIMEDOUT. Thread-safe.
    int (*link_wait)(dshim_port* p, int timeout_ms) noexcept;
    // 1 when the link is up, 0 when down. Thread-safe.
    int (*link_up)(dshim_port* p) noexcept;
    void (*stats)(dshim_port* p, dshim_port_stats* out) noexcept;
    // In the child after fork(): cuts the child off the port without
    // touching the parent's shared state (rx/tx return 0, alloc nullptr,
    // free is a no-op) and drops the child's copy of the lock fd.
    void (*fork_child)(dshim_port* p) noexcept;
    // Stops and closes the port, flushes the capture, rte_eal_cleanup(),
    // removes the EAL runtime directory, releases the lock. Every pbuf must
    // have been freed. DPDK cannot be initialised twice in one process: a
    // later attach fails with EALREADY.
    void (*detach)(dshim_port* p) noexcept;
    // The process ends without detach() (_exit: no atexit handler runs).
    // Removes the names the attach made, which the kernel would leave: the
    // lock file (unlinked while still locked; the kernel drops the lock with
    // the fd) and the EAL runtime directory. Touches no DPDK state, and is
    // async-signal-safe (system calls only): _exit is often called from a
    // signal handler. Call it only in the attaching process.
    void (*exit_files)(dshim_port* p) noexcept;
    // Some PMDs have the kernel signal the process when frames arrive
    // (net_tap: O_ASYNC queue fds, whose handler bumps the trigger its rx
    // burst checks). A process-directed signal interrupts whichever program
    // thread it lands on (EINTR in a read, a poll, a sleep the program never
    // gave to dshim). This directs those signals at thread tid (F_SETOWN_EX)
    // and returns the signal number, or 0 when the port raises none.
    int (*signal_owner)(dshim_port* p, int tid) noexcept;
    void* impl;
};

// Attaches the port described by cfg (EAL init with the caller's affinity,
// signal mask and getopt state preserved; every thread it starts blocks all
// signals). Returns 0, or -errno with a one-line message in err:
// EBUSY another process holds the port, EINVAL bad configuration, EALREADY
// DPDK already initialised in this process, others from DPDK.
int dshim_dpdk_attach(const dshim_port_config* cfg, dshim_port* out, char* err, size_t errlen) noexcept;
using dshim_dpdk_attach_fn = int (*)(const dshim_port_config*, dshim_port*, char*, size_t) noexcept;

}  // extern "C"
