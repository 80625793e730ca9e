// Packet buffer: the stack's view of one contiguous frame buffer, the
// counterpart of the kernel's sk_buff (data/len/head, push/pull/trim, cb[])
// and of an rte_mbuf segment, without knowing anything of DPDK.
//
// The descriptor lives beside the data it describes (in the mbuf's private
// area under DPDK, in the same block for the test pool), so queues are
// intrusive (`next`) and queueing a packet never allocates. Ownership is held
// by pbuf_ptr: one pbuf_ptr owns one reference; clone() is a reference bump on
// the data with a new descriptor (the retransmit queue keeps the original, the
// device gets a clone).
#pragma once
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

namespace dshim {

struct pbuf_pool;

// Rx/tx offload bits carried with a buffer.
enum pbuf_flag : uint16_t {
    PBUF_RX_IP_CSUM_GOOD = 1u << 0,   // device verified the IPv4 header checksum
    PBUF_RX_L4_CSUM_GOOD = 1u << 1,   // device verified the TCP/UDP checksum
    PBUF_TX_IP_CSUM = 1u << 2,        // device must fill the IPv4 header checksum
    PBUF_TX_TCP_CSUM = 1u << 3,       // device must fill the TCP checksum (pseudo-header sum in place)
    PBUF_TX_UDP_CSUM = 1u << 4,
};

struct pbuf {
    std::byte* head = nullptr;   // start of the data buffer
    std::byte* data = nullptr;   // first valid byte
    uint32_t len = 0;            // valid bytes from data
    uint32_t buf_len = 0;        // bytes from head to the buffer end
    uint32_t truesize = 0;       // memory this buffer costs (charged to sockets)
    uint16_t flags = 0;          // pbuf_flag
    uint8_t l2_len = 0, l3_len = 0, l4_len = 0;  // tx offload header lengths
    pbuf* next = nullptr;        // intrusive queue link, owned by whoever queues it
    pbuf_pool* pool = nullptr;   // who frees it
    void* opaque = nullptr;      // pool-private (the rte_mbuf under DPDK)
    // Protocol control block (the kernel's skb->cb): TCP keeps seq/end_seq,
    // flags, send time and SACK state here.
    alignas(8) std::byte cb[48];

    std::span<std::byte> span() noexcept { return {data, len}; }
    std::span<const std::byte> span() const noexcept { return {data, len}; }
    uint32_t headroom() const noexcept { return uint32_t(data - head); }
    uint32_t tailroom() const noexcept { return buf_len - headroom() - len; }
    // skb_push: grow at the front.
    std::byte* prepend(uint32_t n) noexcept { assert(n <= headroom()); data -= n; len += n; return data; }
    // skb_pull: drop from the front.
    void adj(uint32_t n) noexcept { assert(n <= len); data += n; len -= n; }
    // skb_trim: keep only the first n bytes.
    void trim(uint32_t n) noexcept { if (n < len) { len = n; } }
    // skb_put: grow at the end, returns the old end.
    std::byte* append(uint32_t n) noexcept { assert(n <= tailroom()); std::byte* p = data + len; len += n; return p; }
    template <class T> T* cb_as() noexcept {
        static_assert(sizeof(T) <= sizeof(cb));
        return reinterpret_cast<T*>(cb);
    }
};

// Allocator of packet buffers. The DPDK implementation wraps a mempool (with
// the stack's own cache); tests use a fixed heap-backed pool. Not thread-safe:
// owned by the stack and used under the stack lock.
struct pbuf_pool {
    virtual ~pbuf_pool() = default;
    // A buffer with at least `size` bytes of room after `headroom` bytes of
    // headroom; data = head + headroom, len = 0. nullptr when exhausted.
    virtual pbuf* alloc(uint32_t headroom, uint32_t size) noexcept = 0;
    // A new descriptor sharing p's data (reference bump); same data/len.
    // nullptr when descriptors are exhausted.
    virtual pbuf* clone(pbuf* p) noexcept = 0;
    // Drops one reference.
    virtual void free(pbuf* p) noexcept = 0;
    // True when p's data is also referenced by another descriptor (a clone
    // still held by the device or a queue): headers must not be rewritten in
    // place then. The safe default says "shared"; pools override it.
    virtual bool data_shared(const pbuf* p) const noexcept { (void)p; return true; }
    // Largest size alloc() can satisfy (data room of one buffer).
    virtual uint32_t buf_size() const noexcept = 0;
    // Buffers still available, and the total.
    virtual size_t available() const noexcept = 0;
    virtual size_t capacity() const noexcept = 0;
};

// Owning handle: frees its buffer on destruction. Move-only.
class pbuf_ptr {
public:
    pbuf_ptr() noexcept = default;
    explicit pbuf_ptr(pbuf* p) noexcept : _p(p) {}
    pbuf_ptr(pbuf_ptr&& o) noexcept : _p(std::exchange(o._p, nullptr)) {}
    pbuf_ptr& operator=(pbuf_ptr&& o) noexcept {
        if (this != &o) { reset(); _p = std::exchange(o._p, nullptr); }
        return *this;
    }
    pbuf_ptr(const pbuf_ptr&) = delete;
    pbuf_ptr& operator=(const pbuf_ptr&) = delete;
    ~pbuf_ptr() { reset(); }

    void reset() noexcept { if (_p) { _p->pool->free(_p); _p = nullptr; } }
    pbuf* release() noexcept { return std::exchange(_p, nullptr); }
    pbuf* get() const noexcept { return _p; }
    pbuf* operator->() const noexcept { return _p; }
    pbuf& operator*() const noexcept { return *_p; }
    explicit operator bool() const noexcept { return _p != nullptr; }
    pbuf_ptr clone() const noexcept { return pbuf_ptr(_p ? _p->pool->clone(_p) : nullptr); }

private:
    pbuf* _p = nullptr;
};

// FIFO of owned buffers linked through pbuf::next (sk_buff_head).
class pbuf_queue {
public:
    pbuf_queue() noexcept = default;
    pbuf_queue(const pbuf_queue&) = delete;
    pbuf_queue& operator=(const pbuf_queue&) = delete;
    ~pbuf_queue() { purge(); }

    bool empty() const noexcept { return _head == nullptr; }
    uint32_t size() const noexcept { return _count; }
    pbuf* front() const noexcept { return _head; }
    pbuf* back() const noexcept { return _tail; }
    void push_back(pbuf_ptr p) noexcept {
        pbuf* b = p.release();
        b->next = nullptr;
        if (_tail) { _tail->next = b; } else { _head = b; }
        _tail = b;
        ++_count;
    }
    void push_front(pbuf_ptr p) noexcept {
        pbuf* b = p.release();
        b->next = _head;
        _head = b;
        if (!_tail) { _tail = b; }
        ++_count;
    }
    // Inserts p after pos (pos must be in this queue; nullptr = at front).
    void insert_after(pbuf* pos, pbuf_ptr p) noexcept {
        if (!pos) { push_front(std::move(p)); return; }
        pbuf* b = p.release();
        b->next = pos->next;
        pos->next = b;
        if (_tail == pos) { _tail = b; }
        ++_count;
    }
    pbuf_ptr pop_front() noexcept {
        pbuf* b = _head;
        if (!b) { return {}; }
        _head = b->next;
        if (!_head) { _tail = nullptr; }
        b->next = nullptr;
        --_count;
        return pbuf_ptr(b);
    }
    // Unlinks the element after prev (prev nullptr = the front).
    pbuf_ptr unlink_after(pbuf* prev) noexcept {
        if (!prev) { return pop_front(); }
        pbuf* b = prev->next;
        if (!b) { return {}; }
        prev->next = b->next;
        if (_tail == b) { _tail = prev; }
        b->next = nullptr;
        --_count;
        return pbuf_ptr(b);
    }
    void purge() noexcept { while (!empty()) { pop_front(); } }

private:
    pbuf* _head = nullptr;
    pbuf* _tail = nullptr;
    uint32_t _count = 0;
};

}  // namespace dshim
