// pbuf_pool over an rte_mempool of rte_mbufs (the kernel's skb allocator
// over a page pool). Each pbuf descriptor lives in its mbuf's private area,
// so the stack's view and DPDK's buffer are one object and nothing is copied.
// Allocation goes through a mempool cache the stack owns (application threads
// have no lcore id, so DPDK's per-lcore caches do not apply to them).
#pragma once
#include <cstdint>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "buf/pbuf.hh"

namespace dshim::dpdk {

class mbuf_pool final : public pbuf_pool {
public:
    mbuf_pool() = default;
    mbuf_pool(const mbuf_pool&) = delete;
    mbuf_pool& operator=(const mbuf_pool&) = delete;
    ~mbuf_pool() override { destroy(); }

    // Creates the mempool (n mbufs, no per-lcore cache, a private area per
    // mbuf for the pbuf) and the stack's cache. small_pages: EAL runs with
    // --no-huge and no device DMAs into the buffers (vdevs), so objects may
    // cross 4 KiB pages and the memory is prefaulted at once. 0 or -errno.
    int create(const char* name, uint32_t n, uint32_t cache_size, int socket, bool small_pages) noexcept;
    // Flushes the cache and frees the mempool (after the port is closed).
    void destroy() noexcept;
    rte_mempool* mempool() const noexcept { return _mp; }

    // The pbuf in m's private area.
    static pbuf* pbuf_of(rte_mbuf* m) noexcept { return static_cast<pbuf*>(rte_mbuf_to_priv(m)); }
    // Turns a received single-segment mbuf into a pbuf owned by the caller.
    pbuf* from_rx(rte_mbuf* m, uint16_t flags) noexcept {
        pbuf* p = new (pbuf_of(m)) pbuf;
        p->head = static_cast<std::byte*>(m->buf_addr);
        p->data = p->head + m->data_off;
        p->len = m->data_len;
        p->buf_len = m->buf_len;
        p->truesize = _truesize;
        p->flags = flags;
        p->pool = this;
        p->opaque = m;
        return p;
    }
    // Writes the pbuf's view (data, length) back into its mbuf before tx.
    static rte_mbuf* to_mbuf(pbuf* p) noexcept {
        auto* m = static_cast<rte_mbuf*>(p->opaque);
        m->data_off = uint16_t(p->data - static_cast<std::byte*>(m->buf_addr));
        m->data_len = uint16_t(p->len);
        m->pkt_len = p->len;
        return m;
    }
    // In a forked child: never touch the (possibly shared) pool again.
    void cut_off() noexcept { _dead = true; }

    uint64_t alloc_fail = 0;

    pbuf* alloc(uint32_t headroom, uint32_t size) noexcept override;
    pbuf* clone(pbuf* p) noexcept override;
    void free(pbuf* p) noexcept override;
    uint32_t buf_size() const noexcept override { return _data_room; }
    size_t available() const noexcept override;
    size_t capacity() const noexcept override;

private:
    rte_mbuf* get_raw() noexcept;

    rte_mempool* _mp = nullptr;
    rte_mempool_cache* _cache = nullptr;
    uint32_t _data_room = 0;   // bytes from buf_addr to the end of the buffer
    uint32_t _truesize = 0;    // one whole mempool object
    bool _dead = false;
};

}  // namespace dshim::dpdk
