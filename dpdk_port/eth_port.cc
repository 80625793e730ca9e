// netdev over an rte_ethdev queue pair: set-up, burst rx/tx, offloads,
// Rx interrupts, link state.
#include "eth_port.hh"

#include <cerrno>
#include <cstring>
#include <sys/epoll.h>
#include <unistd.h>

#include <rte_epoll.h>
#include <rte_errno.h>

namespace dshim::dpdk {

namespace {

constexpr uint16_t burst_chunk = capture::max_burst;

constexpr uint64_t rx_csum_offloads =
    RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
constexpr uint64_t tx_csum_offloads =
    RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;

std::string fail(const char* what, int rc) {
    return std::string(what) + ": " + rte_strerror(rc < 0 ? -rc : rc);
}

}  // namespace

int eth_port::open(uint16_t port_id, mbuf_pool& pool, const eth_port_options& opt, std::string& err) {
    _port = port_id;
    _pool = &pool;
    int sock = rte_eth_dev_socket_id(port_id);
    _socket = sock < 0 ? SOCKET_ID_ANY : sock;

    rte_eth_dev_info info{};
    int rc = rte_eth_dev_info_get(port_id, &info);
    if (rc != 0) {
        err = fail("rte_eth_dev_info_get", rc);
        return rc;
    }
    rte_eth_conf conf{};
    // Checksum offloads only where the PMD has them; everything else is
    // computed by the stack in software (netdev::offloads() says which).
    conf.rxmode.offloads = info.rx_offload_capa & rx_csum_offloads;
    conf.txmode.offloads = info.tx_offload_capa & tx_csum_offloads;
    conf.intr_conf.rxq = 1;
    rc = rte_eth_dev_configure(port_id, 1, 1, &conf);
    if (rc != 0) {
        // Some PMDs refuse Rx interrupts at configure time: run without.
        conf.intr_conf.rxq = 0;
        rc = rte_eth_dev_configure(port_id, 1, 1, &conf);
        _intr_errno = ENOTSUP;
    }
    if (rc != 0) {
        err = fail("rte_eth_dev_configure", rc);
        return rc;
    }
    _rx_offloads = conf.rxmode.offloads;
    _tx_offloads = conf.txmode.offloads;

    uint16_t nb_rx = opt.rx_desc, nb_tx = opt.tx_desc;
    rc = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &nb_rx, &nb_tx);
    if (rc != 0) {
        err = fail("rte_eth_dev_adjust_nb_rx_tx_desc", rc);
        return rc;
    }
    rte_eth_rxconf rxconf = info.default_rxconf;
    rxconf.offloads = conf.rxmode.offloads;
    rc = rte_eth_rx_queue_setup(port_id, 0, nb_rx, unsigned(_socket), &rxconf, pool.mempool());
    if (rc != 0) {
        err = fail("rte_eth_rx_queue_setup", rc);
        return rc;
    }
    rte_eth_txconf txconf = info.default_txconf;
    txconf.offloads = conf.txmode.offloads;
    rc = rte_eth_tx_queue_setup(port_id, 0, nb_tx, unsigned(_socket), &txconf);
    if (rc != 0) {
        err = fail("rte_eth_tx_queue_setup", rc);
        return rc;
    }
    if (opt.mac != nullptr) {
        rte_ether_addr a{};
        unsigned v[6];
        if (std::sscanf(opt.mac, "%2x:%2x:%2x:%2x:%2x:%2x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) == 6) {
            for (int i = 0; i < 6; ++i) {
                a.addr_bytes[i] = uint8_t(v[i]);
            }
            rc = rte_eth_dev_default_mac_addr_set(port_id, &a);
            if (rc != 0) {
                err = fail("setting the port MAC (DSHIM_MAC)", rc);
                return rc;
            }
        }
    }
    rc = rte_eth_dev_start(port_id);
    if (rc != 0) {
        err = fail("rte_eth_dev_start", rc);
        return rc;
    }
    _started = true;

    rte_ether_addr addr{};
    if (rte_eth_macaddr_get(port_id, &addr) == 0) {
        for (int i = 0; i < 6; ++i) {
            _mac.b[size_t(i)] = addr.addr_bytes[i];
        }
    }
    uint16_t mtu = 0;
    if (rte_eth_dev_get_mtu(port_id, &mtu) == 0 && mtu >= 576) {
        _mtu = mtu;
    }
    _offloads = 0;
    if (_rx_offloads & rx_csum_offloads) {
        _offloads |= NETDEV_RX_CSUM;
    }
    if (_tx_offloads & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) {
        _offloads |= NETDEV_TX_IP_CSUM;
    }
    if (_tx_offloads & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) {
        _offloads |= NETDEV_TX_TCP_CSUM;
    }
    if (_tx_offloads & RTE_ETH_TX_OFFLOAD_UDP_CKSUM) {
        _offloads |= NETDEV_TX_UDP_CSUM;
    }

    // Rx interrupts go into an epoll set of our own, so any thread can wait
    // on it and the shim can poll it next to its other fds.
    if (conf.intr_conf.rxq) {
        _epfd = epoll_create1(EPOLL_CLOEXEC);
        if (_epfd < 0) {
            _intr_errno = errno;
        } else {
            rc = rte_eth_dev_rx_intr_ctl_q(port_id, 0, _epfd, RTE_INTR_EVENT_ADD, nullptr);
            if (rc != 0) {
                _intr_errno = rc < 0 ? -rc : rc;
                ::close(_epfd);
                _epfd = -1;
            } else {
                _intr_errno = 0;
            }
        }
    }
    return 0;
}

void eth_port::close() noexcept {
    if (_dead) {
        return;
    }
    if (_epfd >= 0) {
        rte_eth_dev_rx_intr_ctl_q(_port, 0, _epfd, RTE_INTR_EVENT_DEL, nullptr);
        ::close(_epfd);
        _epfd = -1;
    }
    if (_started) {
        rte_eth_dev_stop(_port);
        rte_eth_dev_close(_port);
        _started = false;
    }
}

uint16_t eth_port::rx_burst(pbuf** pkts, uint16_t n) noexcept {
    if (_dead) {
        return 0;
    }
    uint16_t out = 0;
    while (out < n) {
        rte_mbuf* m[burst_chunk];
        uint16_t want = uint16_t(n - out) < burst_chunk ? uint16_t(n - out) : burst_chunk;
        uint16_t got = rte_eth_rx_burst(_port, 0, m, want);
        if (got == 0) {
            break;
        }
        if (_cap != nullptr) {
            _cap->record(m, got, RTE_PCAPNG_DIRECTION_IN);
        }
        for (uint16_t i = 0; i < got; ++i) {
            rte_mbuf* mb = m[i];
            if (mb->nb_segs != 1) {
                // TODO(#4): chain segments into the stack once jumbo frames
                // or LRO are enabled; with 2 KiB buffers and MTU 1500 a
                // multi-segment frame is unexpected.
                ++rx_drop_multiseg;
                rte_pktmbuf_free(mb);
                continue;
            }
            uint16_t flags = 0;
            if (_rx_offloads != 0) {
                if ((mb->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD) {
                    flags |= PBUF_RX_IP_CSUM_GOOD;
                }
                if ((mb->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD) {
                    flags |= PBUF_RX_L4_CSUM_GOOD;
                }
            }
            rx_bytes += mb->data_len;
            pkts[out++] = _pool->from_rx(mb, flags);
        }
        if (got < want) {
            break;
        }
    }
    rx_packets += out;
    return out;
}

uint16_t eth_port::tx_burst(pbuf** pkts, uint16_t n) noexcept {
    if (_dead) {
        return 0;
    }
    uint16_t done = 0;
    while (done < n) {
        rte_mbuf* m[burst_chunk];
        uint16_t k = uint16_t(n - done) < burst_chunk ? uint16_t(n - done) : burst_chunk;
        uint32_t lens[burst_chunk];
        for (uint16_t i = 0; i < k; ++i) {
            pbuf* p = pkts[done + i];
            rte_mbuf* mb = mbuf_pool::to_mbuf(p);
            uint64_t ol = mb->ol_flags & (RTE_MBUF_F_INDIRECT | RTE_MBUF_F_EXTERNAL);
            uint16_t f = p->flags;
            if (f & (PBUF_TX_IP_CSUM | PBUF_TX_TCP_CSUM | PBUF_TX_UDP_CSUM)) {
                uint64_t csum = 0;
                if ((f & PBUF_TX_IP_CSUM) && (_tx_offloads & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)) {
                    csum |= RTE_MBUF_F_TX_IP_CKSUM;
                }
                if ((f & PBUF_TX_TCP_CSUM) && (_tx_offloads & RTE_ETH_TX_OFFLOAD_TCP_CKSUM)) {
                    csum |= RTE_MBUF_F_TX_TCP_CKSUM;
                } else if ((f & PBUF_TX_UDP_CSUM) && (_tx_offloads & RTE_ETH_TX_OFFLOAD_UDP_CKSUM)) {
                    csum |= RTE_MBUF_F_TX_UDP_CKSUM;
                }
                if (csum != 0) {
                    ol |= csum | RTE_MBUF_F_TX_IPV4;
                    mb->l2_len = p->l2_len;
                    mb->l3_len = p->l3_len;
                    mb->l4_len = p->l4_len;
                }
            }
            mb->ol_flags = ol;
            lens[i] = p->len;
            m[i] = mb;
        }
        rte_mbuf* copies[burst_chunk];
        if (_cap != nullptr) {
            _cap->copy_burst(m, k, RTE_PCAPNG_DIRECTION_OUT, copies);
        }
        uint16_t sent = rte_eth_tx_burst(_port, 0, m, k);
        if (_cap != nullptr) {
            _cap->write_burst(copies, sent, k);
        }
        // The device owns what it took (it may have freed it already).
        for (uint16_t i = 0; i < sent; ++i) {
            tx_bytes += lens[i];
        }
        done = uint16_t(done + sent);
        if (sent < k) {
            tx_refused += uint16_t(n - done);
            break;
        }
    }
    tx_packets += done;
    return done;
}

void eth_port::cut_off() noexcept {
    _dead = true;
    _cap = nullptr;
    if (_epfd >= 0) {
        ::close(_epfd);   // the child's copy; the parent's set is untouched
        _epfd = -1;
    }
}

int eth_port::rx_intr_enable() noexcept {
    if (_dead || _epfd < 0) {
        return -_intr_errno;
    }
    int rc = rte_eth_dev_rx_intr_enable(_port, 0);
    // net_tap has no per-queue switch: its queue fd itself is the event.
    return (rc == 0 || rc == -ENOTSUP) ? 0 : rc;
}

int eth_port::rx_intr_disable() noexcept {
    if (_dead || _epfd < 0) {
        return -_intr_errno;
    }
    int rc = rte_eth_dev_rx_intr_disable(_port, 0);
    return (rc == 0 || rc == -ENOTSUP) ? 0 : rc;
}

int eth_port::rx_intr_wait(int timeout_ms) noexcept {
    if (_epfd < 0) {
        return -_intr_errno;
    }
    rte_epoll_event ev[4];
    int n = rte_epoll_wait(_epfd, ev, 4, timeout_ms);
    if (n < 0) {
        return errno ? -errno : -EIO;
    }
    return n;
}

bool eth_port::link_up() const noexcept {
    rte_eth_link link{};
    if (_dead || rte_eth_link_get_nowait(_port, &link) != 0) {
        return false;
    }
    return link.link_status == RTE_ETH_LINK_UP;
}

}  // namespace dshim::dpdk
