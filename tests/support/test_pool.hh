// Fixed-capacity packet buffer pool for tests: the heap-backed stand-in for
// dpdk_port's mempool (the kernel's skb slab caches, rte_pktmbuf_pool).
// Everything is allocated at construction; alloc/clone/free never touch the
// heap, so a test sees exhaustion exactly where a real device would.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>
#include "buf/pbuf.hh"

namespace dshim::test {

// A pool of `nbufs` data blocks and `ndescs` descriptors.
//
// Each data block is `headroom + room` bytes (like a DPDK mbuf whose data
// room is RTE_PKTMBUF_HEADROOM + payload room). alloc(h, size) succeeds when
// size <= room and h + size <= headroom + room, i.e. a full `room` payload
// fits behind up to `headroom` bytes of headroom; buf_size() returns `room`.
//
// clone() takes a free descriptor and bumps the data block's reference count
// (rte_pktmbuf_clone / skb_clone): both descriptors see the same bytes.
// free() drops the descriptor and one block reference; the block is recycled
// when its count reaches zero. Free lists are FIFO so a freed buffer is not
// handed out again at once, and freed blocks are filled with 0xdb, which makes
// a use-after-free show up as garbage instead of plausible data.
//
// truesize of every buffer is headroom + room + sizeof(pbuf) (what one
// descriptor + block costs, roughly what the kernel charges for an skb).
//
// Misuse (double free, a pbuf from another pool) aborts with a message.
// Not thread-safe, like every pbuf_pool.
class test_pool final : public pbuf_pool {
public:
    explicit test_pool(size_t nbufs, uint32_t room = 2048, uint32_t headroom = 128,
                       size_t ndescs = 0 /* 0 = 2 * nbufs */);
    ~test_pool() override;
    test_pool(const test_pool&) = delete;
    test_pool& operator=(const test_pool&) = delete;

    pbuf* alloc(uint32_t headroom, uint32_t size) noexcept override;
    pbuf* clone(pbuf* p) noexcept override;
    void free(pbuf* p) noexcept override;
    uint32_t buf_size() const noexcept override { return _room; }
    // min(free data blocks, free descriptors): how many alloc()s can succeed.
    size_t available() const noexcept override;
    size_t capacity() const noexcept override { return _nbufs; }

    // Outstanding data blocks + outstanding descriptors; 0 means no leak.
    size_t in_use() const noexcept { return blocks_in_use() + descs_in_use(); }
    size_t blocks_in_use() const noexcept { return _nbufs - _free_blocks.count; }
    size_t descs_in_use() const noexcept { return _ndescs - _free_descs.count; }
    size_t desc_capacity() const noexcept { return _ndescs; }
    // Data reference count of p's block (1 for an unshared buffer).
    uint32_t refcount(const pbuf* p) const noexcept;
    // alloc() and clone() calls that returned nullptr (including injected).
    uint64_t alloc_failures() const noexcept { return _alloc_failures; }
    uint64_t clone_failures() const noexcept { return _clone_failures; }
    uint64_t allocs() const noexcept { return _allocs; }
    // The next n alloc() calls fail even with buffers available (ENOBUFS paths).
    void fail_next_allocs(uint32_t n) noexcept { _inject_failures = n; }
    // Whether p is a descriptor of this pool.
    bool owns(const pbuf* p) const noexcept;

    uint32_t room() const noexcept { return _room; }
    uint32_t block_headroom() const noexcept { return _headroom; }
    uint32_t block_len() const noexcept { return _room + _headroom; }
    uint32_t truesize() const noexcept;

private:
    // Fixed ring of free indices (no allocation after construction).
    struct index_ring {
        std::vector<uint32_t> slots;
        size_t head = 0;
        size_t count = 0;
        void init(size_t n);
        void push(uint32_t v) noexcept;
        uint32_t pop() noexcept;
    };

    size_t desc_index(const pbuf* p) const noexcept;

    size_t _nbufs;
    size_t _ndescs;
    uint32_t _room;
    uint32_t _headroom;
    std::vector<std::byte> _data;      // _nbufs blocks of block_len() bytes
    std::vector<pbuf> _descs;
    std::vector<uint32_t> _desc_block; // block index of each descriptor
    std::vector<uint8_t> _desc_live;   // 1 while a descriptor is handed out
    std::vector<uint32_t> _block_refs;
    index_ring _free_blocks;
    index_ring _free_descs;
    uint64_t _alloc_failures = 0;
    uint64_t _clone_failures = 0;
    uint64_t _allocs = 0;
    uint32_t _inject_failures = 0;
};

}  // namespace dshim::test
