// A simulated Ethernet cable between two test_netdevs with seeded fault
// injection (what Linux's netem qdisc does to a veth, and smoltcp's netsim):
// loss, duplication, reordering, corruption, delay, jitter and bandwidth,
// driven by a virtual_clock. Keeps a ring of recent frames that dumps to pcap.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>
#include "core/clock.hh"
#include "support/det_rng.hh"
#include "support/test_netdev.hh"

namespace dshim::test {

// Impairments of one direction. Probabilities are per frame, in [0, 1].
struct link_faults {
    double loss = 0;      // frame vanishes
    double dup = 0;       // frame delivered twice (the copy right after it)
    double reorder = 0;   // frame delivered after the next frame of the same direction
    double corrupt = 0;   // one bit flipped in one byte after the Ethernet header
    // An ECT(0)/ECT(1) IPv4 frame re-marked CE (an AQM, RFC 3168 §5), IP
    // checksum updated. Draws one more random number per frame, only when
    // > 0, so the other decisions of existing seeds stay as they were.
    double ce = 0;
    nsec_t delay = 0;     // propagation delay
    nsec_t jitter = 0;    // extra delay uniform in [0, jitter]; never reorders (FIFO)
    uint64_t bandwidth_bps = 0;  // serialization rate, 0 = infinite
    // A reordered frame waits at most this long past its normal delivery
    // time for a successor to overtake it, then is delivered anyway.
    nsec_t reorder_hold = 10 * NSEC_PER_MSEC;
};

enum class sim_dir : uint8_t { a_to_b = 0, b_to_a = 1 };

struct link_stats {
    uint64_t sent = 0;               // frames taken from the sender's tx FIFO
    uint64_t delivered = 0;          // frames put into the receiver's rx FIFO (dups included)
    uint64_t lost = 0;               // dropped by the loss probability
    uint64_t filtered = 0;           // dropped by the filter
    uint64_t duped = 0;              // extra copies scheduled
    uint64_t reordered = 0;          // frames actually overtaken by a later frame
    uint64_t corrupted = 0;          // frames with a flipped bit
    uint64_t ce_marked = 0;          // ECT frames re-marked CE
    uint64_t dropped_no_buffer = 0;  // receiver pool exhausted or rx ring full
};

// What happened to a captured frame (bit set).
enum frame_fate : uint8_t {
    FATE_LOST = 1u << 0,
    FATE_FILTERED = 1u << 1,
    FATE_DUPED = 1u << 2,
    FATE_REORDERED = 1u << 3,   // chosen for reordering (held back)
    FATE_CORRUPTED = 1u << 4,
    FATE_NO_BUFFER = 1u << 5,   // only with capture_point::on_delivery
};

enum class capture_point : uint8_t {
    on_send,      // bytes as the sender transmitted them, at send time, every frame
    on_delivery,  // bytes as the receiver got them (corrupted, duplicated), at delivery time
};

struct captured_frame {
    nsec_t t = 0;
    sim_dir dir = sim_dir::a_to_b;
    uint8_t fate = 0;  // frame_fate bits
    std::vector<std::byte> bytes;
};

struct sim_wire_config {
    link_faults a_to_b;
    link_faults b_to_a;
    uint64_t seed = 1;
    size_t capture_frames = 4096;  // ring size, 0 = no capture
    capture_point capture = capture_point::on_send;
};

// Owned by the test thread; the netdevs and clock must outlive it.
//
// step() first moves every frame both devices transmitted onto the link
// (deciding its fate with the direction's own RNG stream, so traffic in one
// direction does not change the faults of the other), then delivers every
// frame whose time has come into the peer device's rx FIFO, copied into the
// peer's rx pool. Every frame draws the same number of random values whatever
// the probabilities, so raising one probability keeps the other decisions.
//
// Order of decisions per frame: filter, loss, corruption (of the in-flight
// copy, after the sender computed its checksums), duplication, reordering.
// Delivery time = max(now, link busy until) + serialization + delay + jitter,
// then clamped to be no earlier than the previous frame's (FIFO link).
class sim_wire {
public:
    using filter_fn = std::function<bool(std::span<const std::byte>)>;

    sim_wire(virtual_clock& clock, test_netdev& a, test_netdev& b, const sim_wire_config& cfg = {});
    sim_wire(virtual_clock& clock, test_netdev& a, test_netdev& b, uint64_t seed);

    // Moves transmitted frames onto the link and delivers those that are due.
    void step();
    // Earliest time step() has work: clock.now() if a device has frames
    // waiting to be sent, else the earliest pending delivery, else TIME_NEVER.
    nsec_t next_event() const noexcept;
    // Frames on the link in one direction (scheduled, not yet delivered).
    size_t in_flight(sim_dir d) const noexcept { return _dir[idx(d)].pending.size(); }
    size_t in_flight() const noexcept { return in_flight(sim_dir::a_to_b) + in_flight(sim_dir::b_to_a); }

    link_faults& faults(sim_dir d) noexcept { return _dir[idx(d)].faults; }
    void set_faults(sim_dir d, const link_faults& f) noexcept { _dir[idx(d)].faults = f; }
    void set_faults(const link_faults& both) noexcept {
        _dir[0].faults = both;
        _dir[1].faults = both;
    }
    // A filter returning false drops the frame (counted as filtered). It sees
    // the bytes as sent; an empty function removes it.
    void set_filter(sim_dir d, filter_fn f) { _dir[idx(d)].filter = std::move(f); }
    const link_stats& stats(sim_dir d) const noexcept { return _dir[idx(d)].stats; }

    // Capture ring, oldest first.
    size_t captured_count() const noexcept { return _cap_count; }
    const captured_frame& captured(size_t i) const noexcept;
    void clear_capture() noexcept;
    // Writes the capture ring as a pcap file; false on I/O error.
    bool dump_pcap(const std::string& path) const;

private:
    struct flight {
        nsec_t at = 0;
        uint64_t order = 0;
        std::vector<std::byte> bytes;
    };
    struct direction {
        link_faults faults;
        filter_fn filter;
        link_stats stats;
        det_rng rng;
        std::vector<flight> pending;  // sorted by (at, order)
        nsec_t link_free_at = 0;      // end of the last serialization
        nsec_t last_at = 0;           // delivery time of the last in-order frame
        bool has_held = false;        // a reordered frame waits for a successor
        uint64_t held_order = 0;
    };

    static size_t idx(sim_dir d) noexcept { return size_t(d); }
    void transmit(sim_dir d, std::span<const std::byte> frame, nsec_t now);
    void deliver(sim_dir d, nsec_t now);
    void insert(direction& dir, flight&& f);
    void capture(nsec_t t, sim_dir d, uint8_t fate, std::span<const std::byte> bytes);

    virtual_clock& _clock;
    test_netdev& _a;
    test_netdev& _b;
    sim_wire_config _cfg;
    direction _dir[2];
    uint64_t _next_order = 0;
    std::vector<captured_frame> _ring;
    size_t _cap_head = 0;   // index of the oldest entry
    size_t _cap_count = 0;
};

}  // namespace dshim::test
