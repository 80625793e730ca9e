// The stack instance: construction, the poll pass, the tx batch, Ethernet
// demux (net/core/dev.c's netif_receive_skb + net/ethernet/eth.c).
#include "core/stack.hh"

#include "ipv4/arp.hh"
#include "ipv4/ip_fragment.hh"
#include "ipv4/ip.hh"
#include "ipv4/tcp.hh"
#include "wire/ether.hh"

namespace dshim {

void apply_profile(stack_sysctl& s, tcp_profile p) {
    if (p == tcp_profile::rfc) {
        s.rto_min = 1 * NSEC_PER_SEC;     // RFC 6298 (2.4)
        s.init_cwnd = 0;                  // RFC 3390 / 5681 formula
        s.quickack = false;
        s.delack_min = 200 * NSEC_PER_MSEC;
        s.ato_min = 200 * NSEC_PER_MSEC;
        s.abc_l = 2;                      // RFC 3465 §2.2 L = 2*SMSS
    } else {
        s = stack_sysctl{};
    }
}

stack::stack(netdev& dev, pbuf_pool& pool, clock_source& clock, const stack_config& cfg)
    : _dev(dev), _pool(pool), _clock(clock), _cfg(cfg), _mac(dev.mac()), _timers(clock.now()),
      _neigh(new neigh_table(this)) {
    apply_profile(_sysctl, cfg.profile);
    uint64_t seed = cfg.seed != 0 ? cfg.seed : (clock.now() ^ 0x9e3779b97f4a7c15ull ^ uint64_t(uintptr_t(this)));
    _rng = seed | 1;
    for (auto& k : _isn_key) {
        k = uint32_t(random());
    }
    ephemeral_offset = uint32_t(random());
    ipfrag = ipfrag_create(*this);
}

stack::~stack() {
    tcp_stack_destroy(*this);
    ipfrag_destroy(ipfrag);
    for (unsigned i = 0; i < _txn; ++i) {
        _pool.free(_txq[i]);
    }
    _tx_backlog.purge();
    delete _neigh;
}

uint64_t stack::random() {
    // xorshift64*: fast, deterministic for a given seed; not cryptographic
    // (ISNs use the keyed hash in tcp_ipv4.cc).
    _rng ^= _rng >> 12;
    _rng ^= _rng << 25;
    _rng ^= _rng >> 27;
    return _rng * 2685821657736338717ull;
}

void stack::dev_queue_xmit(pbuf_ptr frame) {
    ++_counters.tx_frames;
    _counters.tx_bytes += frame->len;
    if (_txn == tx_batch) {
        flush();
    }
    _txq[_txn++] = frame.release();
}

void stack::flush() {
    // Earlier refusals first, in order (a FIFO qdisc): taken off the backlog
    // before the device owns them (it may free a frame at once), the ones it
    // refuses again go back to the front.
    while (!_tx_backlog.empty()) {
        pbuf* batch[tx_batch];
        unsigned n = 0;
        while (n < tx_batch && !_tx_backlog.empty()) {
            batch[n++] = _tx_backlog.pop_front().release();
        }
        const unsigned sent = _dev.tx_burst(batch, uint16_t(n));
        for (unsigned i = n; i-- > sent;) {
            _tx_backlog.push_front(pbuf_ptr(batch[i]));
        }
        if (sent < n) {
            break;
        }
    }
    unsigned sent = 0;
    if (_tx_backlog.empty()) {
        sent = _dev.tx_burst(_txq, uint16_t(_txn));
    }
    for (unsigned i = sent; i < _txn; ++i) {
        if (_tx_backlog.size() < tx_backlog_max) {
            _tx_backlog.push_back(pbuf_ptr(_txq[i]));
        } else {
            drop(drop_reason::tx_device_full);
            _pool.free(_txq[i]);
        }
    }
    _txn = 0;
}

void stack::receive(pbuf_ptr skb) {
    ++_counters.rx_frames;
    _counters.rx_bytes += skb->len;
    wire::ether_repr eth;
    if (wire::ether_repr::parse(skb->span(), eth) != wire::wire_error::none) {
        drop(drop_reason::eth_truncated);
        return;
    }
    if (eth.dst != _mac && !eth.dst.is_broadcast()) {
        drop(drop_reason::eth_not_for_us);
        return;
    }
    skb->adj(wire::ether_header_len);
    switch (eth.ethertype) {
    case wire::ethertype_ipv4:
        ip_rcv(*this, std::move(skb));
        return;
    case wire::ethertype_arp:
        arp_rcv(*this, std::move(skb));
        return;
    default:
        drop(drop_reason::eth_unknown_type);
        return;
    }
}

unsigned stack::poll() {
    constexpr uint16_t burst = 32;
    pbuf* pkts[burst];
    const uint16_t n = _dev.rx_burst(pkts, burst);
    for (uint16_t i = 0; i < n; ++i) {
        receive(pbuf_ptr(pkts[i]));
    }
    run_timers();
    flush();
    return n;
}

}  // namespace dshim
