// In-memory test device (see test_netdev.hh): tx capture FIFO with a ring
// limit, rx injection FIFO, NIC-like checksum offload emulation.
#include "support/test_netdev.hh"

#include <cstring>
#include "support/inet_csum.hh"

namespace dshim::test {

namespace {

constexpr size_t eth_len = 14;
constexpr uint16_t eth_ipv4 = 0x0800;
constexpr uint8_t proto_tcp = 6;
constexpr uint8_t proto_udp = 17;

uint16_t rd16(const std::byte* p) noexcept {
    return uint16_t((uint16_t(uint8_t(p[0])) << 8) | uint8_t(p[1]));
}
uint32_t rd32(const std::byte* p) noexcept {
    return (uint32_t(rd16(p)) << 16) | rd16(p + 2);
}
void wr16(std::byte* p, uint16_t v) noexcept {
    p[0] = std::byte(v >> 8);
    p[1] = std::byte(v & 0xff);
}

// Where the IPv4 header and L4 segment of an untagged Ethernet frame are;
// false if the frame is not a well-formed unfragmented IPv4 packet.
struct ip_layout {
    size_t l3 = 0;       // offset of the IPv4 header
    size_t ihl = 0;      // its length
    size_t l4 = 0;       // offset of the L4 header
    size_t l4_len = 0;   // L4 header + payload (from total length)
    uint8_t proto = 0;
    uint32_t src = 0, dst = 0;
    bool fragment = false;
};

bool locate_ipv4(std::span<const std::byte> f, size_t l2, size_t l3_hint, ip_layout& out) noexcept {
    if (f.size() < l2 + 20) {
        return false;
    }
    const std::byte* ip = f.data() + l2;
    if ((uint8_t(ip[0]) >> 4) != 4) {
        return false;
    }
    size_t ihl = l3_hint ? l3_hint : size_t(uint8_t(ip[0]) & 0x0f) * 4;
    size_t total = rd16(ip + 2);
    if (ihl < 20 || total < ihl || l2 + total > f.size()) {
        return false;
    }
    out.l3 = l2;
    out.ihl = ihl;
    out.l4 = l2 + ihl;
    out.l4_len = total - ihl;
    out.proto = uint8_t(ip[9]);
    out.src = rd32(ip + 12);
    out.dst = rd32(ip + 16);
    out.fragment = (rd16(ip + 6) & 0x3fff) != 0;
    return true;
}

}  // namespace

test_netdev::test_netdev(pbuf_pool& rx_pool, const test_netdev_config& cfg) : _pool(rx_pool), _cfg(cfg) {}

test_netdev::test_netdev(pbuf_pool& rx_pool, wire::mac_addr mac) : _pool(rx_pool) { _cfg.mac = mac; }

test_netdev::~test_netdev() = default;

uint16_t test_netdev::tx_burst(pbuf** pkts, uint16_t n) noexcept {
    ++_stats.tx_bursts;
    size_t room = _cfg.tx_limit > _tx.size() ? _cfg.tx_limit - _tx.size() : 0;
    uint16_t k = room < n ? uint16_t(room) : n;
    for (uint16_t i = 0; i < k; ++i) {
        pbuf* p = pkts[i];
        apply_tx_offloads(*p);
        if (p->len > size_t(_cfg.mtu) + eth_len) {
            ++_stats.tx_oversize;
        }
        _tx.emplace_back(p);
    }
    _stats.tx_frames += k;
    _stats.tx_rejected += n - k;
    return k;
}

uint16_t test_netdev::rx_burst(pbuf** pkts, uint16_t n) noexcept {
    uint16_t k = 0;
    while (k < n && !_rx.empty()) {
        pkts[k++] = _rx.front().release();
        _rx.pop_front();
    }
    _stats.rx_frames += k;
    return k;
}

std::deque<pbuf_ptr> test_netdev::take_tx() {
    std::deque<pbuf_ptr> out;
    out.swap(_tx);
    return out;
}

pbuf_ptr test_netdev::pop_tx() noexcept {
    if (_tx.empty()) {
        return {};
    }
    pbuf_ptr p = std::move(_tx.front());
    _tx.pop_front();
    return p;
}

const pbuf* test_netdev::peek_tx(size_t i) const noexcept {
    return i < _tx.size() ? _tx[i].get() : nullptr;
}

bool test_netdev::inject(pbuf_ptr p) {
    if (!p || _rx.size() >= _cfg.rx_limit) {
        ++_stats.rx_dropped;
        return false;
    }
    p->next = nullptr;
    if (_cfg.offloads & NETDEV_RX_CSUM) {
        mark_rx_csum(*p);
    }
    _rx.push_back(std::move(p));
    ++_stats.rx_injected;
    return true;
}

bool test_netdev::inject_bytes(std::span<const std::byte> frame) {
    if (_rx.size() >= _cfg.rx_limit || frame.size() > _pool.buf_size()) {
        ++_stats.rx_dropped;
        return false;
    }
    pbuf* b = _pool.alloc(_cfg.rx_headroom, uint32_t(frame.size()));
    if (!b && _cfg.rx_headroom != 0) {
        b = _pool.alloc(0, uint32_t(frame.size()));
    }
    if (!b) {
        ++_stats.rx_dropped;
        return false;
    }
    pbuf_ptr p(b);
    if (!frame.empty()) {
        std::memcpy(p->append(uint32_t(frame.size())), frame.data(), frame.size());
    }
    return inject(std::move(p));
}

// A NIC completing checksums on transmit (DPDK's PKT_TX_IP_CKSUM /
// PKT_TX_TCP_CKSUM contract: the L4 field holds the pseudo-header sum).
void test_netdev::apply_tx_offloads(pbuf& p) noexcept {
    uint16_t want = p.flags & (PBUF_TX_IP_CSUM | PBUF_TX_TCP_CSUM | PBUF_TX_UDP_CSUM);
    if (!want) {
        return;
    }
    if (((want & PBUF_TX_IP_CSUM) && !(_cfg.offloads & NETDEV_TX_IP_CSUM)) ||
        ((want & PBUF_TX_TCP_CSUM) && !(_cfg.offloads & NETDEV_TX_TCP_CSUM)) ||
        ((want & PBUF_TX_UDP_CSUM) && !(_cfg.offloads & NETDEV_TX_UDP_CSUM))) {
        ++_stats.tx_offload_errors;
        return;
    }
    std::span<std::byte> f = p.span();
    size_t l2 = p.l2_len ? p.l2_len : eth_len;
    ip_layout ip;
    if (!locate_ipv4(f, l2, p.l3_len, ip)) {
        ++_stats.tx_offload_errors;
        return;
    }
    if (want & PBUF_TX_IP_CSUM) {
        std::byte* h = f.data() + ip.l3;
        wr16(h + 10, 0);
        wr16(h + 10, oracle_csum(oracle_sum({h, ip.ihl})));
    }
    size_t field = 0;
    if (want & PBUF_TX_TCP_CSUM) {
        if (ip.proto != proto_tcp || ip.l4_len < 20) {
            ++_stats.tx_offload_errors;
            return;
        }
        field = 16;
    } else if (want & PBUF_TX_UDP_CSUM) {
        if (ip.proto != proto_udp || ip.l4_len < 8) {
            ++_stats.tx_offload_errors;
            return;
        }
        field = 6;
    } else {
        return;
    }
    // The field holds the folded pseudo-header sum; summing the segment with
    // it in place and complementing gives the full checksum.
    std::byte* l4 = f.data() + ip.l4;
    uint16_t c = oracle_csum(oracle_sum({l4, ip.l4_len}));
    if (field == 6 && c == 0) {
        c = 0xffff;  // RFC 768: a computed zero is sent as all ones
    }
    wr16(l4 + field, c);
}

// A NIC verifying checksums on receive.
void test_netdev::mark_rx_csum(pbuf& p) const noexcept {
    p.flags &= uint16_t(~(PBUF_RX_IP_CSUM_GOOD | PBUF_RX_L4_CSUM_GOOD));
    std::span<const std::byte> f = p.span();
    if (f.size() < eth_len || rd16(f.data() + 12) != eth_ipv4) {
        return;
    }
    ip_layout ip;
    if (!locate_ipv4(f, eth_len, 0, ip)) {
        return;
    }
    if (oracle_fold(oracle_sum(f.subspan(ip.l3, ip.ihl))) != 0xffff) {
        return;
    }
    p.flags |= PBUF_RX_IP_CSUM_GOOD;
    if (ip.fragment || (ip.proto != proto_tcp && ip.proto != proto_udp)) {
        return;
    }
    std::span<const std::byte> seg = f.subspan(ip.l4, ip.l4_len);
    if (ip.proto == proto_udp && seg.size() >= 8 && rd16(seg.data() + 6) == 0) {
        p.flags |= PBUF_RX_L4_CSUM_GOOD;  // no checksum: nothing to verify
        return;
    }
    if ((ip.proto == proto_tcp && seg.size() < 20) || (ip.proto == proto_udp && seg.size() < 8)) {
        return;
    }
    uint64_t sum = oracle_pseudo_sum(ip.src, ip.dst, ip.proto, uint16_t(seg.size()));
    if (oracle_fold(oracle_sum(seg, sum)) == 0xffff) {
        p.flags |= PBUF_RX_L4_CSUM_GOOD;
    }
}

}  // namespace dshim::test
