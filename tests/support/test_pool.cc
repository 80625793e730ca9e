// Fixed-capacity test pool (see test_pool.hh): preallocated descriptors and
// data blocks, per-block reference counts, FIFO free lists.
#include "support/test_pool.hh"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace dshim::test {

namespace {

constexpr std::byte poison_byte{0xdb};

[[noreturn]] void pool_abort(const char* what, const void* p) {
    std::fprintf(stderr, "test_pool: %s (pbuf %p)\n", what, p);
    std::abort();
}

}  // namespace

void test_pool::index_ring::init(size_t n) {
    slots.assign(n, 0);
    head = 0;
    count = 0;
}

void test_pool::index_ring::push(uint32_t v) noexcept {
    assert(count < slots.size());
    slots[(head + count) % slots.size()] = v;
    ++count;
}

uint32_t test_pool::index_ring::pop() noexcept {
    assert(count > 0);
    uint32_t v = slots[head];
    head = (head + 1) % slots.size();
    --count;
    return v;
}

test_pool::test_pool(size_t nbufs, uint32_t room, uint32_t headroom, size_t ndescs)
    : _nbufs(nbufs), _ndescs(ndescs ? ndescs : 2 * nbufs), _room(room), _headroom(headroom) {
    _data.assign(_nbufs * size_t(block_len()), poison_byte);
    _descs.resize(_ndescs);
    _desc_block.assign(_ndescs, 0);
    _desc_live.assign(_ndescs, 0);
    _block_refs.assign(_nbufs, 0);
    _free_blocks.init(_nbufs);
    _free_descs.init(_ndescs);
    for (size_t i = 0; i < _nbufs; ++i) {
        _free_blocks.push(uint32_t(i));
    }
    for (size_t i = 0; i < _ndescs; ++i) {
        _free_descs.push(uint32_t(i));
    }
}

test_pool::~test_pool() {
    if (in_use() != 0) {
        // Not fatal: a failed REQUIRE can unwind past owners. Tests that care
        // assert in_use() == 0 themselves.
        std::fprintf(stderr, "test_pool: destroyed with %zu blocks and %zu descriptors in use\n",
                     blocks_in_use(), descs_in_use());
    }
}

uint32_t test_pool::truesize() const noexcept {
    return block_len() + uint32_t(sizeof(pbuf));
}

size_t test_pool::available() const noexcept {
    return _free_blocks.count < _free_descs.count ? _free_blocks.count : _free_descs.count;
}

bool test_pool::owns(const pbuf* p) const noexcept {
    if (_descs.empty() || p < _descs.data() || p >= _descs.data() + _descs.size()) {
        return false;
    }
    return true;
}

size_t test_pool::desc_index(const pbuf* p) const noexcept {
    return size_t(p - _descs.data());
}

uint32_t test_pool::refcount(const pbuf* p) const noexcept {
    if (!owns(p) || !_desc_live[desc_index(p)]) {
        return 0;
    }
    return _block_refs[_desc_block[desc_index(p)]];
}

pbuf* test_pool::alloc(uint32_t headroom, uint32_t size) noexcept {
    if (_inject_failures > 0) {
        --_inject_failures;
        ++_alloc_failures;
        return nullptr;
    }
    if (size > _room || uint64_t(headroom) + size > block_len() || _free_blocks.count == 0 ||
        _free_descs.count == 0) {
        ++_alloc_failures;
        return nullptr;
    }
    uint32_t bi = _free_blocks.pop();
    uint32_t di = _free_descs.pop();
    _block_refs[bi] = 1;
    _desc_block[di] = bi;
    _desc_live[di] = 1;
    pbuf* p = &_descs[di];
    *p = pbuf{};
    p->head = _data.data() + size_t(bi) * block_len();
    p->data = p->head + headroom;
    p->len = 0;
    p->buf_len = block_len();
    p->truesize = truesize();
    p->pool = this;
    ++_allocs;
    return p;
}

pbuf* test_pool::clone(pbuf* p) noexcept {
    if (!owns(p) || !_desc_live[desc_index(p)]) {
        pool_abort("clone of a buffer this pool did not hand out", p);
    }
    if (_free_descs.count == 0) {
        ++_clone_failures;
        return nullptr;
    }
    uint32_t bi = _desc_block[desc_index(p)];
    uint32_t di = _free_descs.pop();
    _block_refs[bi] += 1;
    _desc_block[di] = bi;
    _desc_live[di] = 1;
    pbuf* c = &_descs[di];
    *c = *p;  // same data/len/flags/offload lengths and cb, like skb_clone
    c->next = nullptr;
    return c;
}

void test_pool::free(pbuf* p) noexcept {
    if (!owns(p)) {
        pool_abort("free of a buffer from another pool", p);
    }
    size_t di = desc_index(p);
    if (!_desc_live[di]) {
        pool_abort("double free", p);
    }
    uint32_t bi = _desc_block[di];
    _desc_live[di] = 0;
    // Poison the descriptor so a stale pointer is noticed quickly.
    p->data = nullptr;
    p->len = 0;
    p->next = nullptr;
    _free_descs.push(uint32_t(di));
    assert(_block_refs[bi] > 0);
    if (--_block_refs[bi] == 0) {
        std::memset(_data.data() + size_t(bi) * block_len(), 0xdb, block_len());
        _free_blocks.push(bi);
    }
}

}  // namespace dshim::test
