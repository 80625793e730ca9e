// Tests of tests/support/test_pool: capacity, exhaustion, clone refcounts,
// recycling and leak accounting.
#include <catch2/catch.hpp>
#include <cstring>
#include <vector>
#include "support/test_pool.hh"

using namespace dshim;
using dshim::test::test_pool;

TEST_CASE("test_pool: fresh pool has full capacity and nothing in use", "[support][pool]") {
    test_pool pool(4);
    CHECK(pool.capacity() == 4);
    CHECK(pool.desc_capacity() == 8);
    CHECK(pool.available() == 4);
    CHECK(pool.in_use() == 0);
    CHECK(pool.buf_size() == 2048);
    CHECK(pool.block_len() == 2048 + 128);
    CHECK(pool.truesize() == 2048 + 128 + sizeof(pbuf));
}

TEST_CASE("test_pool: alloc sets geometry, pool pointer and truesize", "[support][pool]") {
    test_pool pool(2, 1024, 64);
    pbuf_ptr p(pool.alloc(64, 100));
    REQUIRE(p);
    CHECK(p->pool == &pool);
    CHECK(p->len == 0);
    CHECK(p->headroom() == 64);
    CHECK(p->buf_len == 1024 + 64);
    CHECK(p->tailroom() == 1024);
    CHECK(p->truesize == 1024 + 64 + sizeof(pbuf));
    CHECK(p->next == nullptr);
    CHECK(p->flags == 0);
    CHECK(pool.refcount(p.get()) == 1);
    CHECK(pool.in_use() == 2);  // one block + one descriptor
    CHECK(pool.available() == 1);
}

TEST_CASE("test_pool: alloc larger than the room fails and is counted", "[support][pool]") {
    test_pool pool(2, 1000, 100);
    CHECK(pool.alloc(0, 1001) == nullptr);
    CHECK(pool.alloc(101, 1000) == nullptr);
    CHECK(pool.alloc_failures() == 2);
    pbuf_ptr ok(pool.alloc(100, 1000));
    CHECK(ok);
    pbuf_ptr ok2(pool.alloc(1100, 0));
    CHECK(ok2);
    CHECK(pool.alloc_failures() == 2);
}

TEST_CASE("test_pool: exhaustion returns nullptr until a buffer is freed", "[support][pool]") {
    test_pool pool(3);
    std::vector<pbuf_ptr> held;
    for (int i = 0; i < 3; ++i) {
        held.emplace_back(pool.alloc(128, 1500));
        REQUIRE(held.back());
    }
    CHECK(pool.available() == 0);
    CHECK(pool.alloc(128, 1500) == nullptr);
    CHECK(pool.alloc_failures() == 1);
    held.pop_back();
    CHECK(pool.available() == 1);
    pbuf_ptr again(pool.alloc(128, 1500));
    CHECK(again);
    held.clear();
    again.reset();
    CHECK(pool.in_use() == 0);
    CHECK(pool.available() == 3);
}

TEST_CASE("test_pool: clone shares data and the block lives until the last reference", "[support][pool]") {
    test_pool pool(1, 256, 16, 3);
    pbuf_ptr a(pool.alloc(16, 10));
    REQUIRE(a);
    std::memset(a->append(10), 0x5a, 10);
    pbuf_ptr b = a.clone();
    REQUIRE(b);
    CHECK(b.get() != a.get());
    CHECK(b->data == a->data);
    CHECK(b->len == 10);
    CHECK(b->pool == &pool);
    CHECK(pool.refcount(a.get()) == 2);
    CHECK(pool.blocks_in_use() == 1);
    CHECK(pool.descs_in_use() == 2);

    // Writes through one descriptor are seen through the other (shared data).
    a->data[0] = std::byte{0x11};
    CHECK(b->data[0] == std::byte{0x11});
    // Descriptor state is private to each descriptor.
    b->adj(4);
    CHECK(a->len == 10);
    CHECK(b->len == 6);

    a.reset();
    CHECK(pool.refcount(b.get()) == 1);
    CHECK(pool.blocks_in_use() == 1);
    CHECK(b->data[0] == std::byte{0x5a});  // still valid data after the original is gone
    // The only block is still referenced: no new buffer.
    CHECK(pool.alloc(0, 1) == nullptr);
    b.reset();
    CHECK(pool.in_use() == 0);
    pbuf_ptr c(pool.alloc(0, 1));
    CHECK(c);
}

TEST_CASE("test_pool: clone fails when descriptors run out", "[support][pool]") {
    test_pool pool(2, 256, 0, 2);
    pbuf_ptr a(pool.alloc(0, 10));
    pbuf_ptr b = a.clone();
    REQUIRE(b);
    pbuf_ptr c = a.clone();
    CHECK_FALSE(c);
    CHECK(pool.clone_failures() == 1);
    // A data block is free but no descriptor is: alloc fails too.
    CHECK(pool.available() == 0);
    CHECK(pool.alloc(0, 10) == nullptr);
}

TEST_CASE("test_pool: injected failures make the next allocs fail", "[support][pool]") {
    test_pool pool(4);
    pool.fail_next_allocs(2);
    CHECK(pool.alloc(0, 10) == nullptr);
    CHECK(pool.alloc(0, 10) == nullptr);
    pbuf_ptr p(pool.alloc(0, 10));
    CHECK(p);
    CHECK(pool.alloc_failures() == 2);
}

TEST_CASE("test_pool: freed blocks are poisoned and recycled FIFO", "[support][pool]") {
    test_pool pool(2, 64, 0);
    pbuf* first = pool.alloc(0, 8);
    REQUIRE(first);
    std::byte* first_head = first->head;
    std::memset(first->append(8), 0x77, 8);
    pool.free(first);
    CHECK(first_head[0] == std::byte{0xdb});
    // FIFO: the other block comes out before the one just freed.
    pbuf_ptr second(pool.alloc(0, 8));
    REQUIRE(second);
    CHECK(second->head != first_head);
    pbuf_ptr third(pool.alloc(0, 8));
    REQUIRE(third);
    CHECK(third->head == first_head);
}

TEST_CASE("test_pool: pbuf_queue of pool buffers frees everything on purge", "[support][pool]") {
    test_pool pool(8);
    {
        pbuf_queue q;
        for (int i = 0; i < 5; ++i) {
            q.push_back(pbuf_ptr(pool.alloc(0, 100)));
        }
        q.push_back(pbuf_ptr(pool.clone(q.front())));
        CHECK(q.size() == 6);
        CHECK(pool.descs_in_use() == 6);
        CHECK(pool.blocks_in_use() == 5);
    }
    CHECK(pool.in_use() == 0);
}
