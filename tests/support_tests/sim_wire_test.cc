// Tests of tests/support/sim_wire: delivery timing, bandwidth, seeded fault
// rates, dup/reorder/corrupt behaviour and counters, filters, receiver pool
// exhaustion, determinism, capture ring.
#include <catch2/catch.hpp>
#include <cstring>
#include <vector>
#include "support/sim_wire.hh"
#include "support/test_netdev.hh"
#include "support/test_pool.hh"

using namespace dshim;
using namespace dshim::test;

namespace {

constexpr size_t tag_off = 14;

// Two devices with their own pools joined by a wire.
struct rig {
    virtual_clock clock;
    test_pool pool_a;
    test_pool pool_b;
    test_netdev a;
    test_netdev b;
    sim_wire wire;

    explicit rig(const sim_wire_config& cfg = {}, size_t bufs = 256)
        : pool_a(bufs), pool_b(bufs), a(pool_a, wire::mac_addr{{2, 0, 0, 0, 0, 0xa}}),
          b(pool_b, wire::mac_addr{{2, 0, 0, 0, 0, 0xb}}), wire(clock, a, b, cfg) {}

    // Transmits one frame of len bytes carrying idx at offset 14.
    static void send(test_netdev& dev, test_pool& pool, uint32_t idx, uint32_t len = 100) {
        pbuf* p = pool.alloc(0, len);
        REQUIRE(p != nullptr);
        std::byte* d = p->append(len);
        for (uint32_t i = 0; i < len; ++i) {
            d[i] = std::byte(uint8_t(i * 7 + 3));
        }
        wire::store32(d + tag_off, idx);
        REQUIRE(dev.tx_burst(&p, 1) == 1);
    }
    void send_a(uint32_t idx, uint32_t len = 100) { send(a, pool_a, idx, len); }
    void send_b(uint32_t idx, uint32_t len = 100) { send(b, pool_b, idx, len); }

    // Drains dev's rx FIFO, returning the frames' bytes.
    static std::vector<std::vector<std::byte>> drain(test_netdev& dev) {
        std::vector<std::vector<std::byte>> out;
        pbuf* got[32];
        while (uint16_t n = dev.rx_burst(got, 32)) {
            for (uint16_t i = 0; i < n; ++i) {
                out.emplace_back(got[i]->span().begin(), got[i]->span().end());
                got[i]->pool->free(got[i]);
            }
        }
        return out;
    }
    static uint32_t tag(const std::vector<std::byte>& f) { return wire::load32(f.data() + tag_off); }

    // Steps until nothing is in flight, advancing the clock event by event.
    void run_idle() {
        wire.step();
        while (wire.next_event() != TIME_NEVER) {
            clock.set(std::max(clock.now(), wire.next_event()));
            wire.step();
        }
    }

    void check_accounting(sim_dir d) const {
        const link_stats& s = wire.stats(d);
        CHECK(s.sent + s.duped == s.delivered + s.lost + s.filtered + s.dropped_no_buffer + wire.in_flight(d));
    }
};

sim_wire_config faults_ab(const link_faults& f, uint64_t seed = 42) {
    sim_wire_config c;
    c.a_to_b = f;
    c.seed = seed;
    return c;
}

// Sends n frames A->B in batches, draining B; returns the tags B received.
std::vector<uint32_t> pump(rig& r, uint32_t n) {
    std::vector<uint32_t> tags;
    for (uint32_t i = 0; i < n; ++i) {
        r.send_a(i);
        if (i % 64 == 63 || i + 1 == n) {
            r.run_idle();
            for (auto& f : rig::drain(r.b)) {
                tags.push_back(rig::tag(f));
            }
        }
    }
    return tags;
}

}  // namespace

TEST_CASE("sim_wire: a frame arrives exactly after the link delay", "[support][sim]") {
    link_faults f;
    f.delay = 5 * NSEC_PER_MSEC;
    rig r(faults_ab(f));
    nsec_t t0 = r.clock.now();
    r.send_a(7);
    CHECK(r.wire.next_event() == t0);  // tx pending
    r.wire.step();
    CHECK(r.a.tx_pending() == 0);
    CHECK(r.pool_a.in_use() == 0);  // sender buffer freed once on the link
    CHECK(r.b.rx_pending() == 0);
    CHECK(r.wire.next_event() == t0 + 5 * NSEC_PER_MSEC);
    r.clock.set(t0 + 5 * NSEC_PER_MSEC - 1);
    r.wire.step();
    CHECK(r.b.rx_pending() == 0);
    r.clock.set(t0 + 5 * NSEC_PER_MSEC);
    r.wire.step();
    REQUIRE(r.b.rx_pending() == 1);
    CHECK(r.wire.next_event() == TIME_NEVER);
    auto got = rig::drain(r.b);
    CHECK(rig::tag(got[0]) == 7);
    CHECK(got[0].size() == 100);
    CHECK(r.wire.stats(sim_dir::a_to_b).delivered == 1);
    CHECK(r.pool_b.in_use() == 0);
}

TEST_CASE("sim_wire: zero delay delivers within the same step, both directions", "[support][sim]") {
    rig r;
    r.send_a(1);
    r.send_b(2);
    r.wire.step();
    auto at_b = rig::drain(r.b);
    auto at_a = rig::drain(r.a);
    REQUIRE(at_b.size() == 1);
    REQUIRE(at_a.size() == 1);
    CHECK(rig::tag(at_b[0]) == 1);
    CHECK(rig::tag(at_a[0]) == 2);
}

TEST_CASE("sim_wire: bandwidth serializes frames back to back", "[support][sim]") {
    link_faults f;
    f.bandwidth_bps = 1'000'000;  // 1250 bytes = 10 ms
    f.delay = 1 * NSEC_PER_MSEC;
    rig r(faults_ab(f));
    nsec_t t0 = r.clock.now();
    for (uint32_t i = 0; i < 3; ++i) {
        r.send_a(i, 1250);
    }
    r.wire.step();
    std::vector<nsec_t> times;
    while (r.wire.next_event() != TIME_NEVER) {
        r.clock.set(r.wire.next_event());
        r.wire.step();
        for (auto& fr : rig::drain(r.b)) {
            (void)fr;
            times.push_back(r.clock.now() - t0);
        }
    }
    REQUIRE(times.size() == 3);
    CHECK(times[0] == 11 * NSEC_PER_MSEC);
    CHECK(times[1] == 21 * NSEC_PER_MSEC);
    CHECK(times[2] == 31 * NSEC_PER_MSEC);
    // The link was idle meanwhile: a later frame is not queued behind the old ones.
    r.send_a(9, 1250);
    nsec_t t1 = r.clock.now();
    r.wire.step();
    CHECK(r.wire.next_event() == t1 + 11 * NSEC_PER_MSEC);
}

TEST_CASE("sim_wire: jitter spreads delivery times but keeps order", "[support][sim]") {
    link_faults f;
    f.delay = 10 * NSEC_PER_MSEC;
    f.jitter = 5 * NSEC_PER_MSEC;
    rig r(faults_ab(f));
    nsec_t t0 = r.clock.now();
    for (uint32_t i = 0; i < 50; ++i) {
        r.send_a(i);
    }
    r.wire.step();
    nsec_t first = r.wire.next_event();
    CHECK(first >= t0 + 10 * NSEC_PER_MSEC);
    CHECK(first <= t0 + 15 * NSEC_PER_MSEC);
    r.run_idle();
    CHECK(r.clock.now() <= t0 + 15 * NSEC_PER_MSEC);
    CHECK(r.clock.now() > first);  // not all at one instant
    auto got = rig::drain(r.b);
    REQUIRE(got.size() == 50);
    for (uint32_t i = 0; i < 50; ++i) {
        CHECK(rig::tag(got[i]) == i);
    }
}

TEST_CASE("sim_wire: loss rate over 10k frames matches the probability", "[support][sim]") {
    link_faults f;
    f.loss = 0.1;
    rig r(faults_ab(f, 12345));
    auto tags = pump(r, 10000);
    const link_stats& s = r.wire.stats(sim_dir::a_to_b);
    CHECK(s.sent == 10000);
    // Binomial(10000, 0.1): sigma = 30; 4 sigma either side.
    CHECK(s.lost >= 880);
    CHECK(s.lost <= 1120);
    CHECK(tags.size() == 10000 - s.lost);
    CHECK(s.delivered == tags.size());
    r.check_accounting(sim_dir::a_to_b);
    // Order is kept among survivors.
    for (size_t i = 1; i < tags.size(); ++i) {
        REQUIRE(tags[i - 1] < tags[i]);
    }

    // Same seed, same run: the exact count repeats.
    rig r2(faults_ab(f, 12345));
    pump(r2, 10000);
    CHECK(r2.wire.stats(sim_dir::a_to_b).lost == s.lost);
    // Another seed gives another (still plausible) count.
    rig r3(faults_ab(f, 999));
    pump(r3, 10000);
    CHECK(r3.wire.stats(sim_dir::a_to_b).lost != s.lost);
    CHECK(r.pool_a.in_use() == 0);
    CHECK(r.pool_b.in_use() == 0);
}

TEST_CASE("sim_wire: loss 0 and 1 are exact", "[support][sim]") {
    link_faults none;
    rig r0(faults_ab(none));
    CHECK(pump(r0, 500).size() == 500);
    link_faults all;
    all.loss = 1.0;
    rig r1(faults_ab(all));
    CHECK(pump(r1, 500).empty());
    CHECK(r1.wire.stats(sim_dir::a_to_b).lost == 500);
}

TEST_CASE("sim_wire: faults in one direction leave the other clean", "[support][sim]") {
    link_faults f;
    f.loss = 1.0;
    rig r(faults_ab(f));
    r.send_b(1);
    r.run_idle();
    CHECK(rig::drain(r.a).size() == 1);
    CHECK(r.wire.stats(sim_dir::b_to_a).lost == 0);
}

TEST_CASE("sim_wire: duplicated frames arrive twice and are counted", "[support][sim]") {
    link_faults f;
    f.dup = 0.05;
    rig r(faults_ab(f, 7));
    auto tags = pump(r, 2000);
    const link_stats& s = r.wire.stats(sim_dir::a_to_b);
    CHECK(s.duped >= 50);   // mean 100, sigma ~10
    CHECK(s.duped <= 150);
    CHECK(tags.size() == 2000 + s.duped);
    size_t repeats = 0;
    for (size_t i = 1; i < tags.size(); ++i) {
        REQUIRE(tags[i - 1] <= tags[i]);
        repeats += tags[i - 1] == tags[i];
    }
    CHECK(repeats == s.duped);
    r.check_accounting(sim_dir::a_to_b);
}

TEST_CASE("sim_wire: a reordered frame is delivered right after the next one", "[support][sim]") {
    link_faults f;
    f.reorder = 0.1;
    f.delay = 1 * NSEC_PER_MSEC;
    rig r(faults_ab(f, 3));
    auto tags = pump(r, 2000);
    const link_stats& s = r.wire.stats(sim_dir::a_to_b);
    REQUIRE(tags.size() == 2000);
    CHECK(s.reordered >= 100);
    CHECK(s.reordered <= 250);
    // Undo adjacent swaps: each reordering is exactly one.
    size_t swaps = 0;
    for (size_t i = 0; i + 1 < tags.size(); ++i) {
        if (tags[i] > tags[i + 1]) {
            CHECK(tags[i] == tags[i + 1] + 1);
            std::swap(tags[i], tags[i + 1]);
            ++swaps;
        }
    }
    CHECK(swaps == s.reordered);
    for (uint32_t i = 0; i < 2000; ++i) {
        REQUIRE(tags[i] == i);
    }
    r.check_accounting(sim_dir::a_to_b);
}

TEST_CASE("sim_wire: a reordered frame without a successor comes after the hold time", "[support][sim]") {
    link_faults f;
    f.reorder = 1.0;
    f.delay = 2 * NSEC_PER_MSEC;
    f.reorder_hold = 7 * NSEC_PER_MSEC;
    rig r(faults_ab(f));
    nsec_t t0 = r.clock.now();
    r.send_a(1);
    r.wire.step();
    CHECK(r.wire.next_event() == t0 + 9 * NSEC_PER_MSEC);
    r.run_idle();
    CHECK(rig::drain(r.b).size() == 1);
    CHECK(r.wire.stats(sim_dir::a_to_b).reordered == 0);  // nothing overtook it
}

TEST_CASE("sim_wire: corruption flips one bit after the Ethernet header", "[support][sim]") {
    link_faults f;
    f.corrupt = 0.2;
    rig r(faults_ab(f, 11), 600);
    std::vector<std::vector<std::byte>> got;
    for (uint32_t i = 0; i < 500; ++i) {
        r.send_a(i);
    }
    r.run_idle();
    got = rig::drain(r.b);
    REQUIRE(got.size() == 500);
    const link_stats& s = r.wire.stats(sim_dir::a_to_b);
    CHECK(s.corrupted >= 70);  // mean 100
    CHECK(s.corrupted <= 130);
    size_t damaged = 0;
    for (uint32_t i = 0; i < 500; ++i) {
        // Rebuild what was sent (the tag may be the damaged part: use position).
        std::vector<std::byte> want(100);
        for (uint32_t k = 0; k < 100; ++k) {
            want[k] = std::byte(uint8_t(k * 7 + 3));
        }
        wire::store32(want.data() + tag_off, i);
        int bits = 0;
        size_t where = 0;
        for (size_t k = 0; k < 100; ++k) {
            auto x = uint8_t(want[k] ^ got[i][k]);
            if (x) {
                bits += __builtin_popcount(x);
                where = k;
            }
        }
        if (bits) {
            ++damaged;
            CHECK(bits == 1);
            CHECK(where >= 14);
        }
    }
    CHECK(damaged == s.corrupted);
}

TEST_CASE("sim_wire: corruption does not touch the sender's buffer", "[support][sim]") {
    link_faults f;
    f.corrupt = 1.0;
    rig r(faults_ab(f));
    r.send_a(5);
    pbuf_ptr keep = r.a.peek_tx() ? pbuf_ptr(r.pool_a.clone(const_cast<pbuf*>(r.a.peek_tx()))) : pbuf_ptr();
    REQUIRE(keep);
    std::vector<std::byte> before(keep->span().begin(), keep->span().end());
    r.run_idle();
    CHECK(std::vector<std::byte>(keep->span().begin(), keep->span().end()) == before);
    auto got = rig::drain(r.b);
    REQUIRE(got.size() == 1);
    CHECK(got[0] != before);
}

TEST_CASE("sim_wire: a filter drops exactly the frames it rejects", "[support][sim]") {
    rig r;
    int seen = 0;
    r.wire.set_filter(sim_dir::a_to_b, [&](std::span<const std::byte>) { return ++seen != 3; });
    auto tags = pump(r, 5);
    CHECK(tags == std::vector<uint32_t>{0, 1, 3, 4});
    CHECK(r.wire.stats(sim_dir::a_to_b).filtered == 1);
    r.wire.set_filter(sim_dir::a_to_b, {});
    CHECK(pump(r, 3).size() == 3);
}

TEST_CASE("sim_wire: an exhausted receiver pool drops frames and counts them", "[support][sim]") {
    rig r({}, 8);
    // B's pool is the receiver's: hold all but two of its buffers.
    std::vector<pbuf_ptr> hog;
    while (r.pool_b.available() > 2) {
        hog.emplace_back(r.pool_b.alloc(0, 10));
    }
    for (uint32_t i = 0; i < 5; ++i) {
        r.send_a(i);
    }
    r.run_idle();
    const link_stats& s = r.wire.stats(sim_dir::a_to_b);
    CHECK(s.delivered == 2);
    CHECK(s.dropped_no_buffer == 3);
    auto got = rig::drain(r.b);
    REQUIRE(got.size() == 2);
    CHECK(rig::tag(got[0]) == 0);
    CHECK(rig::tag(got[1]) == 1);
    r.check_accounting(sim_dir::a_to_b);
}

TEST_CASE("sim_wire: same seed and traffic give byte-identical results", "[support][sim]") {
    link_faults f;
    f.loss = 0.05;
    f.dup = 0.05;
    f.reorder = 0.05;
    f.corrupt = 0.05;
    f.delay = 3 * NSEC_PER_MSEC;
    f.jitter = 2 * NSEC_PER_MSEC;
    sim_wire_config cfg = faults_ab(f, 77);
    cfg.b_to_a = f;
    cfg.capture = capture_point::on_delivery;
    auto run = [&](rig& r) {
        std::vector<std::vector<std::byte>> out;
        for (uint32_t i = 0; i < 300; ++i) {
            r.send_a(i);
            r.send_b(1000 + i);
            r.clock.advance(100 * NSEC_PER_USEC);
            r.wire.step();
            for (auto& x : rig::drain(r.b)) {
                out.push_back(x);
            }
            rig::drain(r.a);
        }
        r.run_idle();
        for (auto& x : rig::drain(r.b)) {
            out.push_back(x);
        }
        return out;
    };
    rig r1(cfg);
    rig r2(cfg);
    auto o1 = run(r1);
    auto o2 = run(r2);
    CHECK(o1 == o2);
    REQUIRE(r1.wire.captured_count() == r2.wire.captured_count());
    for (size_t i = 0; i < r1.wire.captured_count(); ++i) {
        REQUIRE(r1.wire.captured(i).t == r2.wire.captured(i).t);
        REQUIRE(r1.wire.captured(i).bytes == r2.wire.captured(i).bytes);
    }
    r1.check_accounting(sim_dir::a_to_b);
    r1.check_accounting(sim_dir::b_to_a);
}

TEST_CASE("sim_wire: capture ring keeps the last N frames with their fates", "[support][sim]") {
    sim_wire_config cfg;
    cfg.capture_frames = 4;
    rig r(cfg);
    int n = 0;
    r.wire.set_filter(sim_dir::a_to_b, [&](std::span<const std::byte>) { return ++n != 6; });
    for (uint32_t i = 0; i < 6; ++i) {
        r.send_a(i);
        r.clock.advance(NSEC_PER_MSEC);
        r.wire.step();
    }
    REQUIRE(r.wire.captured_count() == 4);
    CHECK(rig::tag(r.wire.captured(0).bytes) == 2);
    CHECK(rig::tag(r.wire.captured(3).bytes) == 5);
    CHECK(r.wire.captured(3).fate == FATE_FILTERED);
    CHECK(r.wire.captured(0).fate == 0);
    CHECK(r.wire.captured(1).t - r.wire.captured(0).t == NSEC_PER_MSEC);
    CHECK(r.wire.captured(0).dir == sim_dir::a_to_b);
    r.wire.clear_capture();
    CHECK(r.wire.captured_count() == 0);
}
