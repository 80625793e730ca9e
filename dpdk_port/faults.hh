// fault_netdev: a netdev wrapped around the port's netdev that loses,
// duplicates, reorders, corrupts, CE-marks and delays frames in either direction
// (DSHIM_FAULTS; netem's counterpart, which this kernel lacks). DPDK-free:
// it sees only pbufs, the pool and the clock, so it also runs over a
// test_netdev.
#pragma once
#include <cstdint>

#include "buf/pbuf.hh"
#include "core/clock.hh"
#include "fault_spec.hh"
#include "link/netdev.hh"

namespace dshim::dpdk {

// What was injected in one direction.
struct fault_counters {
    uint64_t lost = 0;
    uint64_t duplicated = 0;
    uint64_t reordered = 0;
    uint64_t corrupted = 0;
    uint64_t delayed = 0;      // frames that waited delay_us
    uint64_t ce_marked = 0;    // ECT frames re-marked CE (ce=)
    uint64_t copy_fail = 0;    // dup/corrupt found no buffer (the frame went as is / was lost)
};

// Owned by the stack lock like the netdev it wraps.
//
// Every frame of an enabled direction goes through a preallocated FIFO
// ("lane") with a release time (now + delay_us); frames are released from
// rx_burst and tx_burst, both of which the stack calls on every poll pass,
// so delayed tx frames also leave while the stack is only receiving. With a
// constant delay the FIFO is time-ordered. A reordered frame waits in a
// one-frame slot until the next frame of its direction has been queued (at
// most reorder_hold_ns). No allocation per frame: copies for duplication
// and tx corruption come from the packet pool.
class fault_netdev final : public netdev {
public:
    static constexpr uint32_t lane_size = 1024;
    static constexpr nsec_t reorder_hold_ns = 2 * NSEC_PER_MSEC;

    fault_netdev(netdev& inner, pbuf_pool& pool, const clock_source& clock, const fault_spec& spec) noexcept;
    ~fault_netdev() override { drop_held(); }
    fault_netdev(const fault_netdev&) = delete;
    fault_netdev& operator=(const fault_netdev&) = delete;

    uint16_t tx_burst(pbuf** pkts, uint16_t n) noexcept override;
    uint16_t rx_burst(pbuf** pkts, uint16_t n) noexcept override;
    wire::mac_addr mac() const noexcept override { return _inner.mac(); }
    uint16_t mtu() const noexcept override { return _inner.mtu(); }
    uint32_t offloads() const noexcept override { return _inner.offloads(); }

    // True while frames wait in a lane (the poller must not sleep long).
    bool holding() const noexcept;
    // Frees every held frame (before the pool goes away).
    void drop_held() noexcept;

    const fault_spec& spec() const noexcept { return _spec; }
    fault_counters rx_faults, tx_faults;

private:
    struct held {
        pbuf* p;
        nsec_t due;
    };
    struct lane {
        held ring[lane_size];
        uint32_t head = 0;
        uint32_t count = 0;
        pbuf* reorder = nullptr;   // the frame held back for reordering
        nsec_t reorder_since = 0;
        uint64_t rng = 0;
        bool tx = false;
        fault_counters* counters = nullptr;
        uint32_t room() const noexcept { return lane_size - count; }
    };

    bool chance(lane& l, double p) noexcept;
    uint64_t next_random(lane& l) noexcept;
    void push(lane& l, pbuf* p, nsec_t now) noexcept;
    void admit(lane& l, pbuf* p, nsec_t now) noexcept;
    void release_stale(lane& l, nsec_t now) noexcept;
    pbuf* copy_of(const pbuf* p) noexcept;
    pbuf* private_copy(lane& l, pbuf* p) noexcept;
    pbuf* corrupt(lane& l, pbuf* p) noexcept;
    pbuf* mark_ce(lane& l, pbuf* p) noexcept;
    void pump_tx(nsec_t now) noexcept;

    netdev& _inner;
    pbuf_pool& _pool;
    const clock_source& _clock;
    fault_spec _spec;
    nsec_t _delay_ns = 0;
    lane _rx, _tx;
};

// Completes the IPv4 header and TCP/UDP checksums of an Ethernet frame in
// software (what the device would have done for PBUF_TX_* flags). Exposed
// for tests.
void fault_finish_checksums(pbuf& p) noexcept;

}  // namespace dshim::dpdk
