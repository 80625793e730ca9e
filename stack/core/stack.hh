// One stack instance: the engine state behind one netdev queue pair (the
// kernel's struct net + the device it owns). It owns the neighbour table,
// route, socket hash tables, timers, counters and the tx batch, and runs one
// poll pass at a time: rx burst -> protocol work -> due timers -> tx flush.
//
// Locking: a stack is single-threaded; the shim serialises access with the
// stack lock (architecture.md §3). Nothing here blocks or sleeps.
#pragma once
#include <algorithm>
#include <cstdint>
#include "buf/pbuf.hh"
#include "core/clock.hh"
#include "core/counters.hh"
#include "core/list.hh"
#include "core/timer.hh"
#include "link/netdev.hh"
#include "wire/ether.hh"

namespace dshim {

struct sock;
struct inet_sock;
struct neigh_table;
struct ipfrag_table;

// On-wire behaviour profile (testing.md): `linux` mirrors Linux's choices
// (IW10, 200 ms RTO floor, quick-ACK, 40 ms delayed ACK), `rfc` the strict
// RFC values (1 s RTO floor, RFC 3390 initial window, 200 ms delayed ACK).
enum class tcp_profile : uint8_t { linux, rfc };

struct stack_config {
    uint32_t ip = 0;             // our address (host order)
    uint8_t prefix_len = 24;
    uint32_t gateway = 0;        // 0 = none
    tcp_profile profile = tcp_profile::linux;
    uint64_t seed = 0;           // RNG/ISN secret seed; 0 = from the clock
};

// Tunables (the kernel's net.ipv4.* sysctls), set from the profile.
struct stack_sysctl {
    nsec_t rto_min = 200 * NSEC_PER_MSEC;
    nsec_t rto_max = 120 * NSEC_PER_SEC;
    nsec_t rto_init = 1 * NSEC_PER_SEC;
    nsec_t delack_min = 40 * NSEC_PER_MSEC;
    nsec_t delack_max = 200 * NSEC_PER_MSEC;
    nsec_t ato_min = 40 * NSEC_PER_MSEC;
    nsec_t fin_timeout = 60 * NSEC_PER_SEC;
    nsec_t timewait_len = 60 * NSEC_PER_SEC;
    nsec_t keepalive_time = 7200 * NSEC_PER_SEC;
    nsec_t keepalive_intvl = 75 * NSEC_PER_SEC;
    uint8_t keepalive_probes = 9;
    uint8_t syn_retries = 6;
    uint8_t synack_retries = 5;
    uint8_t retries1 = 3;
    uint8_t retries2 = 15;
    uint8_t orphan_retries = 8;
    uint32_t init_cwnd = 10;     // segments (0 = RFC 3390 formula)
    bool quickack = true;        // quick-ACK mode at start (Linux)
    bool timestamps = true;
    bool sack = true;
    bool dsack = true;           // send D-SACK blocks for duplicates (RFC 2883)
    // tcp_recovery: 1 = RACK-TLP loss detection (RFC 8985), as Linux; 0 = the
    // RFC 6675 DupThresh rule (IsLost) alone.
    uint8_t recovery_rack = 1;
    bool tlp = true;             // tail loss probes (tcp_early_retrans = 3)
    // tcp_ecn: 0 off, 1 request on outgoing and accept incoming, 2 accept
    // only (Linux's default).
    uint8_t ecn = 2;
    // tcp_syncookies: 0 off, 1 when the SYN queue overflows (Linux), 2 always.
    uint8_t syncookies = 1;
    // Appropriate byte counting (RFC 3465 §2.2): slow-start growth per ACK is
    // at most abc_l segments; 0 = no limit (Linux counts every delivered
    // segment).
    uint8_t abc_l = 0;
    char congestion_control[16] = "cubic";  // default for new sockets
    uint32_t challenge_ack_limit = 1000;    // RFC 5961 ACKs per second, stack-wide
    bool window_scaling = true;
    uint8_t rcv_wscale = 7;      // window scale we offer
    int rmem_default = 131072;   // tcp_rmem[1]
    // tcp_rmem[2]. Linux allows 6 MiB; on a memif link (µs round trips)
    // autotuning up to that let ~1.5 MiB stand in the ring and the receiver
    // read cold data: iperf3 3.6 Gbit/s, against 10 Gbit/s at 512 KiB (a
    // window of 256 KiB still covers 100 Gbit/s x 20 µs).
    int rmem_max = 524288;
    int wmem_default = 16384;    // tcp_wmem[1]
    int wmem_max = 4194304;      // tcp_wmem[2]
    int sysctl_rmem_max = 212992;  // net.core.rmem_max (SO_RCVBUF cap)
    int sysctl_wmem_max = 212992;  // net.core.wmem_max
    uint32_t somaxconn = 4096;
    uint32_t max_syn_backlog = 1024;
    uint16_t ephemeral_lo = 32768;
    uint16_t ephemeral_hi = 60999;
    uint32_t ofo_max_segs = 1024;  // bound on the out-of-order queue per socket
    nsec_t arp_reachable = 30 * NSEC_PER_SEC;
    nsec_t arp_retrans = 1 * NSEC_PER_SEC;
    uint8_t arp_probes = 3;
    uint32_t arp_queue_len = 64;
    // IPv4 reassembly (net.ipv4.ipfrag_*): truesize all queues may hold
    // (Linux: 4 MiB; here the large buffers in use count too, ~66 KiB each),
    // per queue, how many queues (<= 256), and how long one may wait for its
    // missing fragments.
    uint32_t ipfrag_high_thresh = 512 * 1024;
    uint32_t ipfrag_max_qbytes = 128 * 1024;
    uint32_t ipfrag_max_queues = 64;
    nsec_t ipfrag_time = 30 * NSEC_PER_SEC;
    // Share of the buffer pool one socket's receive queue may hold, in 1/16ths
    // (memory pressure: the advertised window is capped by it).
    uint32_t rx_pool_share16 = 4;
    // Buffers kept back for receive refill; below it the stack is under
    // memory pressure.
    uint32_t rx_reserve = 64;
    // Pacing rate in % of cwnd * mss / srtt: in slow start below half of
    // ssthresh, and after (net.ipv4.tcp_pacing_ss_ratio / _ca_ratio).
    uint32_t pacing_ss_ratio = 200;
    uint32_t pacing_ca_ratio = 120;
};

void apply_profile(stack_sysctl& s, tcp_profile p);

class stack {
public:
    stack(netdev& dev, pbuf_pool& pool, clock_source& clock, const stack_config& cfg);
    ~stack();
    stack(const stack&) = delete;
    stack& operator=(const stack&) = delete;

    // One poll pass: receive up to a burst, process it, run due timers, flush
    // transmissions. Returns the number of frames received.
    unsigned poll();
    // Processes one received frame (what poll() does for each).
    void receive(pbuf_ptr frame);
    // Runs due timers (the wheel's and the high-resolution ones).
    void run_timers() {
        const nsec_t now = _clock.now();
        _timers.run(now);
        _hrtimers.run(now);
    }
    // Hands queued frames to the device.
    void flush();
    // The earliest time any timer wants to run (TIME_NEVER if none).
    nsec_t next_timer() const { return std::min(_timers.next_expiry(), _hrtimers.next_expiry()); }
    // The earliest high-resolution timer (pacing): a caller about to sleep
    // in whole milliseconds polls instead when this is closer than that.
    nsec_t next_hrtimer() const { return _hrtimers.next_expiry(); }

    // --- used by the protocols
    nsec_t now() const { return _clock.now(); }
    pbuf_pool& pool() { return _pool; }
    netdev& dev() { return _dev; }
    timer_wheel& timers() { return _timers; }
    hrtimer_queue& hrtimers() { return _hrtimers; }
    stack_counters& counters() { return _counters; }
    const stack_counters& counters() const { return _counters; }
    void drop(drop_reason r) { ++_counters.drops[unsigned(r)]; }
    const stack_config& config() const { return _cfg; }
    stack_sysctl& sysctl() { return _sysctl; }
    const stack_sysctl& sysctl() const { return _sysctl; }
    uint32_t ip() const { return _cfg.ip; }
    wire::mac_addr mac() const { return _mac; }
    uint64_t random();               // xorshift, seeded from the config
    uint32_t isn_secret(unsigned i) const { return _isn_key[i & 3]; }
    neigh_table& neigh() { return *_neigh; }
    // Queues one frame (Ethernet header in place) for transmission.
    void dev_queue_xmit(pbuf_ptr frame);
    // Buffers in use by receive queues is high: collapse, cap windows.
    bool under_memory_pressure() const { return _pool.available() < _sysctl.rx_reserve; }

    // --- socket hash tables (inet_hashtables)
    static constexpr unsigned ehash_size = 16384;
    static constexpr unsigned lhash_size = 256;
    static constexpr unsigned bhash_size = 4096;
    list_head ehash[ehash_size];     // established/connecting/time-wait by 4-tuple
    list_head lhash[lhash_size];     // listeners by local port
    list_head bhash[bhash_size];     // bound sockets by local port
    uint32_t ehash_count = 0;
    uint32_t sock_count = 0;         // live tcp socks (incl. orphans)
    uint32_t orphan_count = 0;
    uint32_t ephemeral_offset = 0;   // RFC 6056 algorithm 3 table-less counter
    // RFC 5961 §7 stack-wide challenge-ACK budget for the current second.
    uint64_t challenge_second = ~uint64_t(0);
    uint32_t challenge_quota = 0;
    // Socks whose user closed them: freed when they reach CLOSE.
    list_head all_socks;             // every live sock, for `dshim stat`
    ipfrag_table* ipfrag = nullptr;  // IPv4 reassembly queues (ip_fragment.cc)

private:
    netdev& _dev;
    pbuf_pool& _pool;
    clock_source& _clock;
    stack_config _cfg;
    stack_sysctl _sysctl;
    wire::mac_addr _mac;
    timer_wheel _timers;
    hrtimer_queue _hrtimers;
    stack_counters _counters;
    neigh_table* _neigh;
    uint64_t _rng;
    uint32_t _isn_key[4];
    static constexpr unsigned tx_batch = 64;
    pbuf* _txq[tx_batch];
    unsigned _txn = 0;
};

}  // namespace dshim
