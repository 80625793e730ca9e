// Simulated link between two test_netdevs (see sim_wire.hh): per-direction
// seeded faults, delivery scheduling on a virtual clock, capture ring.
#include "support/sim_wire.hh"

#include <algorithm>
#include "support/pcap.hh"

namespace dshim::test {

namespace {

constexpr size_t eth_len = 14;
// Distinct streams for the two directions from one seed.
constexpr uint64_t dir_seed_salt[2] = {0x6a09e667f3bcc908ull, 0xbb67ae8584caa73bull};

bool earlier(nsec_t at_a, uint64_t ord_a, nsec_t at_b, uint64_t ord_b) noexcept {
    return at_a < at_b || (at_a == at_b && ord_a < ord_b);
}

}  // namespace

sim_wire::sim_wire(virtual_clock& clock, test_netdev& a, test_netdev& b, const sim_wire_config& cfg)
    : _clock(clock), _a(a), _b(b), _cfg(cfg) {
    _dir[0].faults = cfg.a_to_b;
    _dir[1].faults = cfg.b_to_a;
    for (size_t i = 0; i < 2; ++i) {
        uint64_t s = cfg.seed ^ dir_seed_salt[i];
        _dir[i].rng.reseed(splitmix64(s));
    }
    _ring.resize(cfg.capture_frames);
}

sim_wire::sim_wire(virtual_clock& clock, test_netdev& a, test_netdev& b, uint64_t seed)
    : sim_wire(clock, a, b, sim_wire_config{.seed = seed}) {}

void sim_wire::step() {
    nsec_t now = _clock.now();
    test_netdev* src[2] = {&_a, &_b};
    for (size_t i = 0; i < 2; ++i) {
        while (pbuf_ptr p = src[i]->pop_tx()) {
            transmit(sim_dir(i), p->span(), now);
        }  // the sender's buffer is freed here: tx completion
    }
    deliver(sim_dir::a_to_b, now);
    deliver(sim_dir::b_to_a, now);
}

nsec_t sim_wire::next_event() const noexcept {
    if (_a.tx_pending() || _b.tx_pending()) {
        return _clock.now();
    }
    nsec_t t = TIME_NEVER;
    for (const direction& d : _dir) {
        if (!d.pending.empty()) {
            t = std::min(t, d.pending.front().at);
        }
    }
    return t;
}

void sim_wire::insert(direction& dir, flight&& f) {
    auto pos = std::upper_bound(dir.pending.begin(), dir.pending.end(), f, [](const flight& x, const flight& y) {
        return earlier(x.at, x.order, y.at, y.order);
    });
    dir.pending.insert(pos, std::move(f));
}

void sim_wire::transmit(sim_dir d, std::span<const std::byte> frame, nsec_t now) {
    direction& dir = _dir[idx(d)];
    const link_faults& lf = dir.faults;
    ++dir.stats.sent;

    if (dir.filter && !dir.filter(frame)) {
        ++dir.stats.filtered;
        if (_cfg.capture == capture_point::on_send) {
            capture(now, d, FATE_FILTERED, frame);
        }
        return;
    }

    // Fixed number of draws per frame, whatever the probabilities.
    double r_loss = dir.rng.uniform();
    double r_corrupt = dir.rng.uniform();
    double r_dup = dir.rng.uniform();
    double r_reorder = dir.rng.uniform();
    uint64_t r_jitter = dir.rng.next();
    uint64_t r_pos = dir.rng.next();
    uint64_t r_bit = dir.rng.next();

    bool lost = r_loss < lf.loss;
    bool corrupt = !lost && r_corrupt < lf.corrupt && frame.size() > eth_len;
    bool dup = !lost && r_dup < lf.dup;
    bool reorder = !lost && r_reorder < lf.reorder && !dir.has_held;

    uint8_t fate = uint8_t((lost ? FATE_LOST : 0) | (corrupt ? FATE_CORRUPTED : 0) | (dup ? FATE_DUPED : 0) |
                           (reorder ? FATE_REORDERED : 0));
    if (_cfg.capture == capture_point::on_send) {
        capture(now, d, fate, frame);
    }
    if (lost) {
        ++dir.stats.lost;
        return;
    }

    flight f;
    f.bytes.assign(frame.begin(), frame.end());
    if (lf.ce > 0 && dir.rng.uniform() < lf.ce && f.bytes.size() >= eth_len + 20 &&
        f.bytes[12] == std::byte{0x08} && f.bytes[13] == std::byte{0x00}) {
        std::byte* ip = f.bytes.data() + eth_len;
        const unsigned ecn = unsigned(ip[1]) & 3;
        if (ecn == 1 || ecn == 2) {
            // RFC 1624 incremental update of the header checksum.
            const uint32_t old_w = (unsigned(ip[0]) << 8) | unsigned(ip[1]);
            ip[1] |= std::byte{3};
            const uint32_t new_w = (unsigned(ip[0]) << 8) | unsigned(ip[1]);
            uint32_t sum = uint16_t(~((unsigned(ip[10]) << 8) | unsigned(ip[11]))) + uint16_t(~old_w) + new_w;
            while (sum >> 16) {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            const uint16_t c = uint16_t(~sum);
            ip[10] = std::byte(c >> 8);
            ip[11] = std::byte(c & 0xff);
            ++dir.stats.ce_marked;
        }
    }
    if (corrupt) {
        size_t pos = eth_len + size_t(r_pos % (frame.size() - eth_len));
        f.bytes[pos] ^= std::byte(uint8_t(1u << (r_bit % 8)));
        ++dir.stats.corrupted;
    }

    // Serialization on a FIFO link, then propagation and jitter.
    nsec_t start = std::max(now, dir.link_free_at);
    nsec_t ser = 0;
    if (lf.bandwidth_bps) {
        ser = (nsec_t(frame.size()) * 8 * NSEC_PER_SEC + lf.bandwidth_bps - 1) / lf.bandwidth_bps;
    }
    dir.link_free_at = start + ser;
    nsec_t jitter = lf.jitter ? nsec_t(r_jitter % (lf.jitter + 1)) : 0;
    nsec_t at = std::max(dir.link_free_at + lf.delay + jitter, dir.last_at);
    dir.last_at = at;

    f.at = at;
    f.order = _next_order++;
    flight copy;
    if (dup) {
        copy.at = at;
        copy.bytes = f.bytes;
    }

    if (reorder) {
        // Held back until the next frame of this direction is scheduled (or
        // reorder_hold passes).
        f.at = at + lf.reorder_hold;
        dir.has_held = true;
        dir.held_order = f.order;
        insert(dir, std::move(f));
    } else {
        insert(dir, std::move(f));
        if (dir.has_held) {
            // Move the held frame right behind this one.
            auto it = std::find_if(dir.pending.begin(), dir.pending.end(),
                                   [&](const flight& x) { return x.order == dir.held_order; });
            if (it != dir.pending.end()) {
                flight held = std::move(*it);
                dir.pending.erase(it);
                held.at = at;
                held.order = _next_order++;
                insert(dir, std::move(held));
                ++dir.stats.reordered;
            }
            dir.has_held = false;
        }
    }
    if (dup) {
        copy.order = _next_order++;
        insert(dir, std::move(copy));
        ++dir.stats.duped;
    }
}

void sim_wire::deliver(sim_dir d, nsec_t now) {
    direction& dir = _dir[idx(d)];
    test_netdev& dst = d == sim_dir::a_to_b ? _b : _a;
    size_t n = 0;
    while (n < dir.pending.size() && dir.pending[n].at <= now) {
        flight& f = dir.pending[n];
        if (dir.has_held && f.order == dir.held_order) {
            dir.has_held = false;  // the hold timed out without a successor
        }
        bool ok = dst.inject_bytes(f.bytes);
        if (ok) {
            ++dir.stats.delivered;
        } else {
            ++dir.stats.dropped_no_buffer;
        }
        if (_cfg.capture == capture_point::on_delivery) {
            capture(f.at, d, ok ? 0 : FATE_NO_BUFFER, f.bytes);
        }
        ++n;
    }
    dir.pending.erase(dir.pending.begin(), dir.pending.begin() + std::ptrdiff_t(n));
}

void sim_wire::capture(nsec_t t, sim_dir d, uint8_t fate, std::span<const std::byte> bytes) {
    if (_ring.empty()) {
        return;
    }
    size_t slot;
    if (_cap_count < _ring.size()) {
        slot = (_cap_head + _cap_count) % _ring.size();
        ++_cap_count;
    } else {
        slot = _cap_head;
        _cap_head = (_cap_head + 1) % _ring.size();
    }
    captured_frame& c = _ring[slot];
    c.t = t;
    c.dir = d;
    c.fate = fate;
    c.bytes.assign(bytes.begin(), bytes.end());
}

const captured_frame& sim_wire::captured(size_t i) const noexcept {
    assert(i < _cap_count);
    return _ring[(_cap_head + i) % _ring.size()];
}

void sim_wire::clear_capture() noexcept {
    _cap_head = 0;
    _cap_count = 0;
}

bool sim_wire::dump_pcap(const std::string& path) const {
    pcap_writer w;
    if (!w.open(path)) {
        return false;
    }
    for (size_t i = 0; i < _cap_count; ++i) {
        const captured_frame& c = captured(i);
        w.write(c.t, c.bytes);
    }
    return w.close();
}

}  // namespace dshim::test
