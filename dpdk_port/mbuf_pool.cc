// pbuf_pool over rte_mempool: allocation, clone (indirect mbuf) and free
// through the stack-owned mempool cache.
#include "mbuf_pool.hh"

#include <cerrno>
#include <cstring>
#include <cstdio>
#include <new>
#include <sys/mman.h>
#include <unistd.h>

#include <rte_mbuf_pool_ops.h>
#include <rte_memzone.h>

#include <rte_errno.h>

namespace dshim::dpdk {

// The private area starts right after the (cache-aligned) rte_mbuf and is
// RTE_MBUF_PRIV_ALIGN aligned: enough for the descriptor.
static_assert(alignof(pbuf) <= RTE_MBUF_PRIV_ALIGN);

namespace {

void free_memzone(rte_mempool_memhdr*, void* opaque) {
    rte_memzone_free(static_cast<const rte_memzone*>(opaque));
}

// rte_pktmbuf_pool_create for 4 KiB pages (--no-huge), made cheap: the
// default path lays one 2.4 KiB object per page (32 MiB for 8k mbufs) and
// takes one page fault per page, which costs ~0.1 s in this VM. Here the
// objects may cross pages (vdev PMDs copy with the CPU; no device DMAs into
// them) and the memory is faulted in with one madvise(MADV_POPULATE_WRITE).
rte_mempool* create_prefaulted(const char* name, uint32_t n, uint16_t priv, uint16_t room, int socket) {
    rte_pktmbuf_pool_private mbp{};
    mbp.mbuf_data_room_size = room;
    mbp.mbuf_priv_size = priv;
    rte_mempool* mp = rte_mempool_create_empty(name, n, unsigned(sizeof(rte_mbuf) + priv + room), 0, sizeof(mbp),
                                               socket, RTE_MEMPOOL_F_NO_IOVA_CONTIG);
    if (mp == nullptr) {
        return nullptr;
    }
    if (rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), nullptr) != 0) {
        rte_mempool_free(mp);
        return nullptr;
    }
    rte_pktmbuf_pool_init(mp, &mbp);
    size_t min_chunk = 0, align = 0;
    ssize_t size = rte_mempool_ops_calc_mem_size(mp, n, 0, &min_chunk, &align);
    char mz_name[RTE_MEMZONE_NAMESIZE];
    std::snprintf(mz_name, sizeof(mz_name), "%s_mem", name);
    const rte_memzone* mz =
        size > 0 ? rte_memzone_reserve_aligned(mz_name, size_t(size), socket, 0, unsigned(align)) : nullptr;
    if (mz == nullptr) {
        rte_mempool_free(mp);
        return nullptr;
    }
    size_t pg = size_t(getpagesize());
    uintptr_t start = reinterpret_cast<uintptr_t>(mz->addr) & ~(pg - 1);
    uintptr_t end = (reinterpret_cast<uintptr_t>(mz->addr) + mz->len + pg - 1) & ~(pg - 1);
    // Best effort (Linux >= 5.14); without it pages fault in one by one.
    madvise(reinterpret_cast<void*>(start), end - start, MADV_POPULATE_WRITE);
    int rc = rte_mempool_populate_virt(mp, static_cast<char*>(mz->addr), mz->len, pg, free_memzone,
                                       const_cast<rte_memzone*>(mz));
    if (rc <= 0) {
        rte_memzone_free(mz);
        rte_mempool_free(mp);
        return nullptr;
    }
    if (mp->populated_size < n) {
        rte_mempool_free(mp);   // frees the memzone through free_memzone
        return nullptr;
    }
    rte_mempool_obj_iter(mp, rte_pktmbuf_init, nullptr);
    return mp;
}

}  // namespace

int mbuf_pool::create(const char* name, uint32_t n, uint32_t cache_size, int socket, bool small_pages) noexcept {
    uint16_t priv = uint16_t(RTE_ALIGN(sizeof(pbuf), RTE_MBUF_PRIV_ALIGN));
    if (small_pages) {
        _mp = create_prefaulted(name, n, priv, RTE_MBUF_DEFAULT_BUF_SIZE, socket);
    }
    if (_mp == nullptr) {
        _mp = rte_pktmbuf_pool_create(name, n, 0, priv, RTE_MBUF_DEFAULT_BUF_SIZE, socket);
    }
    if (_mp == nullptr) {
        return -(rte_errno ? rte_errno : ENOMEM);
    }
    if (cache_size > RTE_MEMPOOL_CACHE_MAX_SIZE) {
        cache_size = RTE_MEMPOOL_CACHE_MAX_SIZE;
    }
    if (cache_size > 0) {
        _cache = rte_mempool_cache_create(cache_size, socket);
        if (_cache == nullptr) {
            rte_mempool_free(_mp);
            _mp = nullptr;
            return -ENOMEM;
        }
    }
    _data_room = rte_pktmbuf_data_room_size(_mp);
    _truesize = _mp->header_size + _mp->elt_size + _mp->trailer_size;
    return 0;
}

void mbuf_pool::destroy() noexcept {
    if (_dead) {
        return;
    }
    if (_cache != nullptr) {
        rte_mempool_cache_flush(_cache, _mp);
        rte_mempool_cache_free(_cache);
        _cache = nullptr;
    }
    if (_mp != nullptr) {
        rte_mempool_free(_mp);
        _mp = nullptr;
    }
}

rte_mbuf* mbuf_pool::get_raw() noexcept {
    void* obj = nullptr;
    if (_dead || rte_mempool_generic_get(_mp, &obj, 1, _cache) != 0) {
        ++alloc_fail;
        return nullptr;
    }
    return static_cast<rte_mbuf*>(obj);
}

pbuf* mbuf_pool::alloc(uint32_t headroom, uint32_t size) noexcept {
    if (headroom + size > _data_room) {
        return nullptr;
    }
    rte_mbuf* m = get_raw();
    if (m == nullptr) {
        return nullptr;
    }
    rte_pktmbuf_reset(m);
    m->data_off = uint16_t(headroom);
    pbuf* p = new (pbuf_of(m)) pbuf;
    p->head = static_cast<std::byte*>(m->buf_addr);
    p->data = p->head + headroom;
    p->len = 0;
    p->buf_len = m->buf_len;
    p->truesize = _truesize;
    p->pool = this;
    p->opaque = m;
    return p;
}

pbuf* mbuf_pool::clone(pbuf* p) noexcept {
    rte_mbuf* mi = get_raw();
    if (mi == nullptr) {
        return nullptr;
    }
    rte_pktmbuf_reset(mi);
    // An indirect mbuf: a reference on p's data buffer (rte_pktmbuf_clone
    // without its trip through the default, lcore-indexed cache).
    rte_pktmbuf_attach(mi, static_cast<rte_mbuf*>(p->opaque));
    pbuf* c = new (pbuf_of(mi)) pbuf;
    c->head = p->head;
    c->data = p->data;
    c->len = p->len;
    c->buf_len = p->buf_len;
    c->truesize = p->truesize;
    c->flags = p->flags;
    c->l2_len = p->l2_len;
    c->l3_len = p->l3_len;
    c->l4_len = p->l4_len;
    c->pool = this;
    c->opaque = mi;
    std::memcpy(c->cb, p->cb, sizeof(c->cb));
    return c;
}

void mbuf_pool::free(pbuf* p) noexcept {
    if (_dead || p == nullptr) {
        return;
    }
    auto* m = static_cast<rte_mbuf*>(p->opaque);
    while (m != nullptr) {
        rte_mbuf* next = m->next;
        // Drops one reference; for an indirect mbuf also the reference on
        // the data it points to. Non-null when m itself goes back to a pool.
        rte_mbuf* back = rte_pktmbuf_prefree_seg(m);
        if (back != nullptr) {
            rte_mempool_generic_put(back->pool, reinterpret_cast<void**>(&back), 1,
                                    back->pool == _mp ? _cache : nullptr);
        }
        m = next;
    }
}

size_t mbuf_pool::available() const noexcept {
    if (_mp == nullptr) {
        return 0;
    }
    return rte_mempool_avail_count(_mp) + (_cache ? _cache->len : 0);
}

size_t mbuf_pool::capacity() const noexcept {
    return _mp ? _mp->size : 0;
}

}  // namespace dshim::dpdk
