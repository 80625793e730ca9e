// IPv4 fragment reassembly (RFC 791 §3.2, RFC 815). Kernel counterparts:
// net/ipv4/ip_fragment.c (ip_defrag, ip_frag_queue, ip_expire) and
// net/ipv4/inet_fragment.c (inet_frag_queue_insert, limits). Overlaps drop the
// queue as Linux does since 2018 (RFC 5722's rule applied to IPv4); a fragment
// wholly inside data already held is a harmless duplicate.
//
// Datagrams larger than one pool buffer: Linux chains the fragments' skbs
// (frag_list) and every consumer walks the chain. Here pbuf::next is the
// queue link and every consumer (ICMP checksum and in-place echo, TCP header
// and checksum, recvmsg copies, collapse) reads one linear span, so a chain
// would mean a second walker in each of them. Instead a queue whose datagram
// outgrows one buffer takes one of ipfrag_large_bufs 64 KiB buffers, made once
// with the stack, copies what it holds into it and from then on copies each
// fragment in place and frees it at once: consumers stay linear, no
// allocation per packet, and a long reassembly does not pin ~45 device
// buffers for up to ipfrag_time. A bitmap of 8-byte blocks beside the buffer
// replaces the sorted fragment list for the duplicate/overlap rules (offsets
// are multiples of 8, so blocks overlap exactly when bytes do).
#include "ipv4/ip_fragment.hh"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "core/stack.hh"
#include "core/timer.hh"
#include "ipv4/ip.hh"
#include "wire/bytes.hh"
#include "wire/icmp.hh"

namespace dshim {

namespace {

inline constexpr unsigned ipfrag_table_size = 256;  // hard cap on ipfrag_max_queues
inline constexpr uint32_t ip_max_datagram = 65535;
// Payload bytes of the largest datagram, with the 20-byte header we rebuild.
inline constexpr uint32_t ip_max_payload = ip_max_datagram - wire::ipv4_min_header_len;
inline constexpr uint32_t large_room = MAX_HEADER + 65536;
inline constexpr uint32_t large_map_words = 65536 / 8 / 64;

// Per-fragment state kept in pbuf::cb (FRAG_CB): payload range in the datagram.
struct frag_cb {
    uint32_t offset;   // first payload byte
    uint32_t end;      // one past the last payload byte
    uint8_t ihl;       // IP header bytes in front of the payload (data points at it)
};

// One large buffer: its descriptor, and which 8-byte payload blocks hold data.
struct large_slot {
    pbuf desc;
    bool busy = false;
    uint64_t map[large_map_words];
};

// The large buffers as a pbuf_pool, so a delivered datagram is freed like any
// other buffer (pbuf_ptr -> pool->free) wherever its consumer lets it go.
// No clones: rx buffers are never cloned.
struct large_pool final : pbuf_pool {
    large_slot slots[ipfrag_large_bufs];
    std::byte* mem = nullptr;

    large_pool() { mem = new std::byte[size_t(large_room) * ipfrag_large_bufs]; }
    ~large_pool() override { delete[] mem; }

    pbuf* alloc(uint32_t headroom, uint32_t size) noexcept override {
        if (headroom + size > large_room) {
            return nullptr;
        }
        for (unsigned i = 0; i < ipfrag_large_bufs; ++i) {
            large_slot& s = slots[i];
            if (s.busy) {
                continue;
            }
            s.busy = true;
            std::memset(s.map, 0, sizeof(s.map));
            pbuf& p = s.desc;
            p = pbuf{};
            p.head = mem + size_t(i) * large_room;
            p.data = p.head + headroom;
            p.buf_len = large_room;
            p.truesize = large_room + uint32_t(sizeof(large_slot));
            p.pool = this;
            p.opaque = &s;
            return &p;
        }
        return nullptr;
    }
    pbuf* clone(pbuf*) noexcept override { return nullptr; }
    void free(pbuf* p) noexcept override {
        auto* s = static_cast<large_slot*>(p->opaque);
        assert(p->pool == this && s->busy);
        s->busy = false;
    }
    bool data_shared(const pbuf*) const noexcept override { return false; }
    uint32_t buf_size() const noexcept override { return large_room; }
    size_t available() const noexcept override {
        size_t n = 0;
        for (const large_slot& s : slots) {
            n += s.busy ? 0 : 1;
        }
        return n;
    }
    size_t capacity() const noexcept override { return ipfrag_large_bufs; }
};

large_slot& slot_of(pbuf* p) { return *static_cast<large_slot*>(p->opaque); }

struct ipq {
    bool used = false;
    uint32_t saddr = 0, daddr = 0;
    uint16_t id = 0;
    uint8_t proto = 0;
    bool first_in = false;   // offset 0 held: ICMP time exceeded allowed on expiry
    bool last_in = false;    // MF clear seen: `len` is known
    uint32_t len = 0;        // datagram payload length (once last_in), else max end seen
    uint32_t meat = 0;       // payload bytes held
    uint32_t mem = 0;        // truesize held
    uint32_t nfrags = 0;     // fragments taken (held or copied), counted if the queue dies
    wire::ipv4_repr first_hdr;  // header of the offset-0 fragment (once first_in)
    pbuf_queue frags;        // sorted by offset, disjoint (while `large` is empty)
    pbuf_ptr large;          // the datagram being rebuilt in a large buffer
    timer_list timer;
    ipfrag_table* table = nullptr;
};

}  // namespace

struct ipfrag_table {
    stack* net = nullptr;
    unsigned nqueues = 0;
    uint64_t mem = 0;
    large_pool large;
    ipq q[ipfrag_table_size];
};

namespace {

frag_cb& fcb(pbuf* p) { return *p->cb_as<frag_cb>(); }

// Frees the queue without counting anything (completion, or after counting).
void ipq_release(ipfrag_table& t, ipq& q) {
    t.net->timers().del_timer(&q.timer);
    q.frags.purge();
    q.large.reset();
    t.mem -= q.mem;
    --t.nqueues;
    q.used = false;
    q.first_in = q.last_in = false;
    q.len = q.meat = q.mem = q.nfrags = 0;
}

// Frees the queue; every fragment it took is counted under `why`.
void ipq_kill(ipfrag_table& t, ipq& q, drop_reason why) {
    ++t.net->counters().ip_reasm_fails;
    for (uint32_t i = 0; i < q.nfrags; ++i) {
        t.net->drop(why);
    }
    ipq_release(t, q);
}

// ip_expire: the datagram did not complete in ipfrag_time. Like Linux, tell
// the sender with ICMP time exceeded / reassembly (RFC 792, RFC 1122
// §3.3.2) only when we hold the first fragment, which carries the quote.
void ipq_expire(void* arg) {
    ipq& q = *static_cast<ipq*>(arg);
    ipfrag_table& t = *q.table;
    ++t.net->counters().ip_reasm_timeouts;
    if (q.first_in && q.large) {
        // The first fragment's bytes are in place: put its header (options
        // are not kept) back in front of them for the quote.
        wire::ipv4_repr h = q.first_hdr;
        const uint32_t plen = uint32_t(h.total_len) - h.header_len;
        h.header_len = wire::ipv4_min_header_len;
        h.total_len = uint16_t(wire::ipv4_min_header_len + plen);
        pbuf& p = *q.large;
        p.len = 0;
        h.emit({p.append(h.total_len), wire::ipv4_min_header_len}, true);
        icmp_send(*t.net, p, wire::icmp_time_exceeded, 1, 0);
    } else if (q.first_in && !q.frags.empty()) {
        pbuf* first = q.frags.front();
        if (fcb(first).offset == 0) {
            icmp_send(*t.net, *first, wire::icmp_time_exceeded, 1, 0);
        }
    }
    ipq_kill(t, q, drop_reason::ip_frag_expired);
}

bool ipq_match(const ipq& q, const wire::ipv4_repr& iph) {
    return q.used && q.saddr == iph.src && q.daddr == iph.dst && q.id == iph.id && q.proto == iph.proto;
}

ipq* ipq_lookup(ipfrag_table& t, const wire::ipv4_repr& iph) {
    for (ipq& q : t.q) {
        if (ipq_match(q, iph)) {
            return &q;
        }
    }
    return nullptr;
}

ipq* ipq_create(ipfrag_table& t, const wire::ipv4_repr& iph) {
    const unsigned cap = std::min<unsigned>(t.net->sysctl().ipfrag_max_queues, ipfrag_table_size);
    if (t.nqueues >= cap) {
        return nullptr;
    }
    for (ipq& q : t.q) {
        if (q.used) {
            continue;
        }
        q.used = true;
        q.saddr = iph.src;
        q.daddr = iph.dst;
        q.id = iph.id;
        q.proto = iph.proto;
        q.table = &t;
        q.timer.fn = ipq_expire;
        q.timer.arg = &q;
        ++t.nqueues;
        t.net->timers().mod_timer(&q.timer, t.net->now() + t.net->sysctl().ipfrag_time);
        return &q;
    }
    return nullptr;
}

enum class insert_result { ok, dup, overlap };

// inet_frag_queue_insert: keep the list sorted and disjoint. A fragment
// lying wholly inside a contiguous run already held is a duplicate; one that
// overlaps anything otherwise poisons the queue.
insert_result ipq_insert(ipq& q, pbuf_ptr skb) {
    const uint32_t off = fcb(skb.get()).offset, end = fcb(skb.get()).end;
    pbuf* prev = nullptr;
    pbuf* cur = q.frags.front();
    while (cur && fcb(cur).end <= off) {
        prev = cur;
        cur = cur->next;
    }
    // cur is the first fragment ending after `off`.
    if (cur && fcb(cur).offset < end) {
        if (fcb(cur).offset <= off) {
            uint32_t covered = fcb(cur).end;
            for (pbuf* n = cur->next; covered < end && n && fcb(n).offset == covered; n = n->next) {
                covered = fcb(n).end;
            }
            if (covered >= end) {
                return insert_result::dup;
            }
        }
        return insert_result::overlap;
    }
    if (prev) {
        q.frags.insert_after(prev, std::move(skb));
    } else {
        q.frags.push_front(std::move(skb));
    }
    return insert_result::ok;
}

// The same rules on the block map of a large buffer: all blocks held is a
// duplicate, some is an overlap. Copies the payload in on success.
insert_result large_insert(ipq& q, uint32_t off, uint32_t end, const std::byte* payload) {
    large_slot& s = slot_of(q.large.get());
    const uint32_t b0 = off / 8, b1 = (end + 7) / 8;
    uint32_t held = 0;
    for (uint32_t b = b0; b < b1; ++b) {
        held += uint32_t(s.map[b / 64] >> (b % 64)) & 1u;
    }
    if (b1 > b0 && held == b1 - b0) {
        return insert_result::dup;
    }
    if (held > 0) {
        return insert_result::overlap;
    }
    for (uint32_t b = b0; b < b1; ++b) {
        s.map[b / 64] |= uint64_t(1) << (b % 64);
    }
    std::memcpy(q.large->data + wire::ipv4_min_header_len + off, payload, end - off);
    return insert_result::ok;
}

// The datagram outgrew one pool buffer: move what the queue holds into a
// large buffer. On failure the queue is gone and the reason is returned.
drop_reason ipq_go_large(ipfrag_table& t, ipq& q) {
    const stack_sysctl& sc = t.net->sysctl();
    pbuf* p = t.large.alloc(MAX_HEADER, ip_max_datagram);
    if (!p) {
        ipq_kill(t, q, drop_reason::ip_frag_no_large_buffer);
        return drop_reason::ip_frag_no_large_buffer;
    }
    pbuf_ptr big(p);
    // The large buffer is charged like held fragments (ipfrag_high_thresh,
    // ipfrag_max_qbytes); the fragments it replaces stop being charged.
    if (t.mem - q.mem + p->truesize > sc.ipfrag_high_thresh || p->truesize > sc.ipfrag_max_qbytes) {
        ipq_kill(t, q, drop_reason::ip_frag_memory);
        return drop_reason::ip_frag_memory;
    }
    q.large = std::move(big);
    while (!q.frags.empty()) {
        pbuf_ptr f = q.frags.pop_front();
        const frag_cb& c = fcb(f.get());
        (void)large_insert(q, c.offset, c.end, f->data + c.ihl);  // disjoint already
    }
    t.mem = t.mem - q.mem + p->truesize;
    q.mem = p->truesize;
    return drop_reason::count_;
}

// ip_frag_reasm: the whole datagram in one buffer behind a fresh header.
pbuf_ptr ipq_reasm(ipfrag_table& t, ipq& q, wire::ipv4_repr& iph) {
    stack& net = *t.net;
    const uint32_t total = wire::ipv4_min_header_len + q.len;
    wire::ipv4_repr h = q.first_hdr;
    h.header_len = wire::ipv4_min_header_len;  // options of the first fragment are not kept
    h.total_len = uint16_t(total);
    h.frag = 0;
    pbuf_ptr out;
    if (q.large) {
        out = std::move(q.large);
        out->len = 0;
        (void)out->append(total);  // the payload is in place already
    } else {
        pbuf* p = net.pool().alloc(MAX_HEADER, total);
        if (!p) {
            ipq_kill(t, q, drop_reason::ip_frag_memory);
            return {};
        }
        out = pbuf_ptr(p);
        std::byte* at = out->append(total) + wire::ipv4_min_header_len;
        for (pbuf* f = q.frags.front(); f; f = f->next) {
            const frag_cb& c = fcb(f);
            std::memcpy(at + c.offset, f->data + c.ihl, c.end - c.offset);
        }
    }
    h.emit({out->data, wire::ipv4_min_header_len}, true);
    // The pieces are consumed, not dropped: free without counting.
    ipq_release(t, q);
    ++net.counters().ip_reasm_oks;
    iph = h;
    return out;
}

}  // namespace

ipfrag_table* ipfrag_create(stack& net) {
    auto* t = new ipfrag_table;
    t->net = &net;
    return t;
}

void ipfrag_destroy(ipfrag_table* t) {
    if (!t) {
        return;
    }
    for (ipq& q : t->q) {
        if (q.used) {
            ipq_release(*t, q);
        }
    }
    // A datagram still held by a consumer would be freed into a dead pool.
    assert(t->large.available() == t->large.capacity());
    delete t;
}

unsigned ipfrag_queue_count(const ipfrag_table& t) { return t.nqueues; }
uint64_t ipfrag_mem(const ipfrag_table& t) { return t.mem; }
unsigned ipfrag_large_free(const ipfrag_table& t) { return unsigned(t.large.available()); }

pbuf_ptr ip_defrag(stack& net, pbuf_ptr skb, wire::ipv4_repr& iph) {
    ipfrag_table& t = *net.ipfrag;
    const stack_sysctl& sc = net.sysctl();
    const uint32_t off = uint32_t(iph.frag & wire::ip_offmask) * 8;
    const uint32_t plen = uint32_t(iph.total_len) - iph.header_len;
    const uint32_t end = off + plen;
    const bool more = (iph.frag & wire::ip_mf) != 0;
    ++net.counters().ip_reasm_reqds;

    // Linux's ip_frag_queue/ip_frag_reasm: the whole datagram must fit 65535
    // bytes (ping of death: offset + length past it).
    if (end > ip_max_payload) {
        net.drop(drop_reason::ip_frag_too_big);
        // The queue of a datagram that cannot be rebuilt is useless.
        if (ipq* q = ipq_lookup(t, iph)) {
            ipq_kill(t, *q, drop_reason::ip_frag_too_big);
        }
        return {};
    }
    // Non-last fragments carry a multiple of 8 bytes and something at all.
    if (more && (plen == 0 || (plen & 7) != 0)) {
        net.drop(drop_reason::ip_frag_bad);
        return {};
    }
    ipq* qp = ipq_lookup(t, iph);
    // inet_frag_find refuses above high_thresh. A queue in a large buffer
    // copies and frees each fragment, so it needs no more memory.
    if (!(qp && qp->large) && t.mem + skb->truesize > sc.ipfrag_high_thresh) {
        net.drop(drop_reason::ip_frag_memory);
        return {};
    }
    if (!qp && !(qp = ipq_create(t, iph))) {
        net.drop(drop_reason::ip_frag_queues);
        return {};
    }
    ipq& q = *qp;
    // Length consistency with what is known of the end (ip_frag_queue).
    if (!more) {
        if (end < q.len || (q.last_in && end != q.len)) {
            net.drop(drop_reason::ip_frag_bad);
            ipq_kill(t, q, drop_reason::ip_frag_bad);
            return {};
        }
        q.last_in = true;
        q.len = end;
    } else {
        if (q.last_in && end > q.len) {
            net.drop(drop_reason::ip_frag_bad);
            ipq_kill(t, q, drop_reason::ip_frag_bad);
            return {};
        }
        if (!q.last_in && end > q.len) {
            q.len = end;
        }
    }
    // What one pool buffer can rebuild (behind MAX_HEADER and our header).
    const uint32_t room = net.pool().buf_size() > MAX_HEADER ? net.pool().buf_size() - MAX_HEADER : 0;
    const uint32_t small_max = std::min(room, ip_max_datagram) - wire::ipv4_min_header_len;
    if (!q.large && q.len > small_max) {
        const drop_reason why = ipq_go_large(t, q);
        if (why != drop_reason::count_) {
            net.drop(why);
            return {};
        }
    }
    // A large queue copies the fragment into its buffer; a small one keeps
    // the fragment's own buffer (charged at its truesize).
    insert_result r;
    uint32_t truesize = 0;
    if (q.large) {
        r = large_insert(q, off, end, skb->data + iph.header_len);
    } else {
        if (q.mem + skb->truesize > sc.ipfrag_max_qbytes) {
            net.drop(drop_reason::ip_frag_memory);
            ipq_kill(t, q, drop_reason::ip_frag_memory);
            return {};
        }
        frag_cb& c = fcb(skb.get());
        c.offset = off;
        c.end = end;
        c.ihl = iph.header_len;
        truesize = skb->truesize;
        r = ipq_insert(q, std::move(skb));
    }
    switch (r) {
    case insert_result::dup:
        net.drop(drop_reason::ip_frag_dup);  // a fragment not taken is freed by its handle
        return {};
    case insert_result::overlap:
        net.drop(drop_reason::ip_frag_overlap);
        ipq_kill(t, q, drop_reason::ip_frag_overlap);
        return {};
    case insert_result::ok:
        break;
    }
    skb.reset();        // a copied fragment is consumed (a kept one was moved)
    q.mem += truesize;  // 0 for a copy into the large buffer (charged when it was taken)
    t.mem += truesize;
    ++q.nfrags;
    q.meat += end - off;
    if (off == 0) {
        q.first_in = true;
        q.first_hdr = iph;
    }
    if (q.first_in && q.last_in && q.meat == q.len) {
        return ipq_reasm(t, q, iph);
    }
    return {};
}

}  // namespace dshim
