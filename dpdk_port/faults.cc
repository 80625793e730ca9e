// fault_netdev: loss, duplication, reordering, corruption and delay on the
// frames dshim sends and receives (DSHIM_FAULTS), in the spirit of Linux's
// sch_netem, applied below the stack and above the PMD.
#include "faults.hh"

#include <cstring>

namespace dshim::dpdk {

namespace {

constexpr uint32_t eth_hlen = 14;
constexpr uint16_t ethertype_ipv4 = 0x0800;

uint16_t load16(const std::byte* p) noexcept {
    return uint16_t((unsigned(p[0]) << 8) | unsigned(p[1]));
}
void store16(std::byte* p, uint16_t v) noexcept {
    p[0] = std::byte(v >> 8);
    p[1] = std::byte(v & 0xff);
}

// RFC 1071 one's-complement sum of big-endian words, not folded.
uint32_t sum16(const std::byte* p, uint32_t n, uint32_t sum) noexcept {
    for (; n >= 2; p += 2, n -= 2) {
        sum += load16(p);
    }
    if (n == 1) {
        sum += unsigned(p[0]) << 8;
    }
    return sum;
}

uint16_t fold(uint32_t sum) noexcept {
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return uint16_t(~sum);
}

}  // namespace

void fault_finish_checksums(pbuf& p) noexcept {
    std::byte* f = p.data;
    const uint32_t len = p.len;
    if (len < eth_hlen + 20 || load16(f + 12) != ethertype_ipv4) {
        p.flags &= uint16_t(~(PBUF_TX_IP_CSUM | PBUF_TX_TCP_CSUM | PBUF_TX_UDP_CSUM));
        return;
    }
    std::byte* ip = f + eth_hlen;
    const uint32_t ihl = (unsigned(ip[0]) & 0xf) * 4;
    const uint32_t tot = load16(ip + 2);
    if (ihl < 20 || tot < ihl || eth_hlen + tot > len) {
        p.flags &= uint16_t(~(PBUF_TX_IP_CSUM | PBUF_TX_TCP_CSUM | PBUF_TX_UDP_CSUM));
        return;
    }
    if (p.flags & PBUF_TX_IP_CSUM) {
        store16(ip + 10, 0);
        store16(ip + 10, fold(sum16(ip, ihl, 0)));
    }
    const bool tcp = (p.flags & PBUF_TX_TCP_CSUM) != 0;
    const bool udp = (p.flags & PBUF_TX_UDP_CSUM) != 0;
    const uint32_t l4_len = tot - ihl;
    const uint32_t field = tcp ? 16 : 6;
    if ((tcp || udp) && l4_len >= field + 2) {
        std::byte* l4 = ip + ihl;
        store16(l4 + field, 0);
        uint32_t sum = sum16(ip + 12, 8, 0);   // source and destination
        sum += unsigned(ip[9]);                // protocol
        sum += l4_len;
        uint16_t c = fold(sum16(l4, l4_len, sum));
        if (udp && c == 0) {
            c = 0xffff;   // RFC 768: zero means "no checksum"
        }
        store16(l4 + field, c);
    }
    p.flags &= uint16_t(~(PBUF_TX_IP_CSUM | PBUF_TX_TCP_CSUM | PBUF_TX_UDP_CSUM));
}

fault_netdev::fault_netdev(netdev& inner, pbuf_pool& pool, const clock_source& clock,
                           const fault_spec& spec) noexcept
    : _inner(inner), _pool(pool), _clock(clock), _spec(spec) {
    _delay_ns = nsec_t(spec.delay_us) * NSEC_PER_USEC;
    // Independent streams per direction, both fixed by the seed.
    _rx.rng = spec.seed ^ 0x9e3779b97f4a7c15ull;
    _tx.rng = spec.seed ^ 0xd1b54a32d192ed03ull;
    _rx.counters = &rx_faults;
    _tx.counters = &tx_faults;
    _tx.tx = true;
}

// splitmix64: small, seedable, good enough for coin flips.
uint64_t fault_netdev::next_random(lane& l) noexcept {
    uint64_t z = (l.rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

bool fault_netdev::chance(lane& l, double p) noexcept {
    if (p <= 0) {
        return false;
    }
    return double(next_random(l) >> 11) * 0x1.0p-53 < p;
}

bool fault_netdev::holding() const noexcept {
    return _rx.count || _tx.count || _rx.reorder || _tx.reorder;
}

void fault_netdev::drop_held() noexcept {
    for (lane* l : {&_rx, &_tx}) {
        while (l->count > 0) {
            _pool.free(l->ring[l->head].p);
            l->head = (l->head + 1) % lane_size;
            --l->count;
        }
        if (l->reorder != nullptr) {
            _pool.free(l->reorder);
            l->reorder = nullptr;
        }
    }
}

void fault_netdev::push(lane& l, pbuf* p, nsec_t now) noexcept {
    // Callers checked room; a full lane here would be a bug: drop, never overwrite.
    if (l.count == lane_size) {
        _pool.free(p);
        ++l.counters->lost;
        return;
    }
    l.ring[(l.head + l.count) % lane_size] = held{p, now + _delay_ns};
    ++l.count;
    if (_delay_ns > 0) {
        ++l.counters->delayed;
    }
}

pbuf* fault_netdev::copy_of(const pbuf* p) noexcept {
    const uint32_t headroom = p->headroom() < 128 ? p->headroom() : 128;
    pbuf* c = _pool.alloc(headroom, p->len);
    if (c == nullptr) {
        return nullptr;
    }
    std::memcpy(c->append(p->len), p->data, p->len);
    c->flags = p->flags;
    c->l2_len = p->l2_len;
    c->l3_len = p->l3_len;
    c->l4_len = p->l4_len;
    return c;
}

// A tx frame's data is shared with the retransmit queue (the device gets a
// clone): a fault that changes bytes works on a copy. Frees p; nullptr when
// no buffer was left (counted).
pbuf* fault_netdev::private_copy(lane& l, pbuf* p) noexcept {
    pbuf* c = copy_of(p);
    _pool.free(p);
    if (c == nullptr) {
        ++l.counters->copy_fail;
    }
    return c;
}

// tx: the frame's data is shared with the retransmit queue (the device gets
// a clone), and the PMD would fill offloaded checksums after us. So corrupt
// a private copy whose checksums are already final, with the offload flags
// cleared. rx: flip in place (the buffer is ours) and forget what the device
// verified, so the stack checks the sums itself.
pbuf* fault_netdev::corrupt(lane& l, pbuf* p) noexcept {
    if (p->len == 0) {
        return p;
    }
    pbuf* target = p;
    if (l.tx) {
        target = private_copy(l, p);
        if (target == nullptr) {
            return nullptr;
        }
        fault_finish_checksums(*target);
    } else {
        target->flags &= uint16_t(~(PBUF_RX_IP_CSUM_GOOD | PBUF_RX_L4_CSUM_GOOD));
    }
    // Past the Ethernet header, so the frame reaches IP and a checksum (or
    // a header check) must catch it.
    const uint32_t lo = target->len > eth_hlen ? eth_hlen : 0;
    const uint64_t r = next_random(l);
    const uint32_t off = lo + uint32_t(r % (target->len - lo));
    const auto mask = std::byte(1 + (r >> 32) % 255);
    target->data[off] ^= mask;
    ++l.counters->corrupted;
    return target;
}

// ce=: what an AQM on the path does to an ECN-capable packet (RFC 3168 §5):
// ECT(0)/ECT(1) becomes CE (11); Not-ECT and CE frames pass untouched and
// draw no random number. The IPv4 header checksum is updated incrementally
// (RFC 1624 eqn. 3), so a frame that arrived with a bad sum keeps a bad sum;
// a tx frame whose checksum the device fills is left to the device. tx
// frames share their data with the retransmit queue: mark a private copy.
pbuf* fault_netdev::mark_ce(lane& l, pbuf* p) noexcept {
    if (p->len < eth_hlen + 20 || load16(p->data + 12) != ethertype_ipv4) {
        return p;
    }
    const unsigned ecn = unsigned(p->data[eth_hlen + 1]) & 3;
    if ((ecn != 1 && ecn != 2) || !chance(l, _spec.ce)) {
        return p;
    }
    pbuf* target = l.tx ? private_copy(l, p) : p;
    if (target == nullptr) {
        return nullptr;
    }
    std::byte* ip = target->data + eth_hlen;
    const uint16_t old_word = load16(ip);
    ip[1] |= std::byte{3};
    const uint16_t new_word = load16(ip);
    if (!(l.tx && (target->flags & PBUF_TX_IP_CSUM))) {
        const uint32_t sum = uint32_t(uint16_t(~load16(ip + 10))) + uint16_t(~old_word) + new_word;
        store16(ip + 10, fold(sum));
    }
    ++l.counters->ce_marked;
    return target;
}

void fault_netdev::admit(lane& l, pbuf* p, nsec_t now) noexcept {
    if (chance(l, _spec.loss)) {
        _pool.free(p);
        ++l.counters->lost;
        return;
    }
    if (_spec.ce > 0) {
        p = mark_ce(l, p);
        if (p == nullptr) {
            return;
        }
    }
    if (chance(l, _spec.corrupt)) {
        p = corrupt(l, p);
        if (p == nullptr) {
            return;
        }
    }
    pbuf* twin = nullptr;
    if (chance(l, _spec.dup)) {
        twin = copy_of(p);
        if (twin != nullptr) {
            ++l.counters->duplicated;
        } else {
            ++l.counters->copy_fail;
        }
    }
    if (l.reorder == nullptr && chance(l, _spec.reorder)) {
        l.reorder = p;
        l.reorder_since = now;
        ++l.counters->reordered;
        if (twin != nullptr) {
            push(l, twin, now);
        }
        return;
    }
    push(l, p, now);
    if (twin != nullptr) {
        push(l, twin, now);
    }
    if (l.reorder != nullptr) {
        push(l, l.reorder, now);
        l.reorder = nullptr;
    }
}

void fault_netdev::release_stale(lane& l, nsec_t now) noexcept {
    if (l.reorder != nullptr && now - l.reorder_since >= reorder_hold_ns && l.room() > 0) {
        push(l, l.reorder, now);
        l.reorder = nullptr;
    }
}

void fault_netdev::pump_tx(nsec_t now) noexcept {
    release_stale(_tx, now);
    while (_tx.count > 0) {
        pbuf* batch[32];
        uint16_t k = 0;
        for (uint32_t i = 0; i < _tx.count && k < 32; ++i) {
            const held& h = _tx.ring[(_tx.head + i) % lane_size];
            if (h.due > now) {
                break;
            }
            batch[k++] = h.p;
        }
        if (k == 0) {
            return;
        }
        const uint16_t sent = _inner.tx_burst(batch, k);
        _tx.head = (_tx.head + sent) % lane_size;
        _tx.count -= sent;
        if (sent < k) {
            return;   // ring full: the rest waits for the next pass
        }
    }
}

uint16_t fault_netdev::tx_burst(pbuf** pkts, uint16_t n) noexcept {
    if (!_spec.tx) {
        return _inner.tx_burst(pkts, n);
    }
    const nsec_t now = _clock.now();
    pump_tx(now);
    uint16_t taken = 0;
    // Room for the frame, its duplicate and a released reordered frame.
    while (taken < n && _tx.room() >= 3) {
        admit(_tx, pkts[taken++], now);
    }
    pump_tx(now);
    return taken;
}

uint16_t fault_netdev::rx_burst(pbuf** pkts, uint16_t n) noexcept {
    const nsec_t now = _clock.now();
    if (_spec.tx && _tx.count + (_tx.reorder != nullptr) > 0) {
        pump_tx(now);
    }
    if (!_spec.rx) {
        return _inner.rx_burst(pkts, n);
    }
    release_stale(_rx, now);
    // Pull from the device while the lane has room (3 slots per frame).
    for (;;) {
        pbuf* in[32];
        uint32_t want = _rx.room() / 3;
        if (want == 0) {
            break;
        }
        want = want < 32 ? want : 32;
        const uint16_t got = _inner.rx_burst(in, uint16_t(want));
        for (uint16_t i = 0; i < got; ++i) {
            admit(_rx, in[i], now);
        }
        if (got < want) {
            break;
        }
    }
    uint16_t out = 0;
    while (out < n && _rx.count > 0 && _rx.ring[_rx.head].due <= now) {
        pkts[out++] = _rx.ring[_rx.head].p;
        _rx.head = (_rx.head + 1) % lane_size;
        --_rx.count;
    }
    return out;
}

}  // namespace dshim::dpdk
