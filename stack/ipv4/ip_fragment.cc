// IPv4 fragment reassembly (RFC 791 §3.2, RFC 815). Kernel counterparts:
// net/ipv4/ip_fragment.c (ip_defrag, ip_frag_queue, ip_expire) and
// net/ipv4/inet_fragment.c (inet_frag_queue_insert, limits). Overlaps drop the
// queue as Linux does since 2018 (RFC 5722's rule applied to IPv4); a fragment
// wholly inside data already held is a harmless duplicate.
#include "ipv4/ip_fragment.hh"

#include <algorithm>
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

// Per-fragment state kept in pbuf::cb (FRAG_CB): payload range in the datagram.
struct frag_cb {
    uint32_t offset;   // first payload byte
    uint32_t end;      // one past the last payload byte
    uint8_t ihl;       // IP header bytes in front of the payload (data points at it)
};

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
    pbuf_queue frags;        // sorted by offset, disjoint
    timer_list timer;
    ipfrag_table* table = nullptr;
};

}  // namespace

struct ipfrag_table {
    stack* net = nullptr;
    unsigned nqueues = 0;
    uint64_t mem = 0;
    ipq q[ipfrag_table_size];
};

namespace {

frag_cb& fcb(pbuf* p) { return *p->cb_as<frag_cb>(); }

// Frees the queue; every fragment it held is counted under `why`.
void ipq_kill(ipfrag_table& t, ipq& q, drop_reason why) {
    t.net->timers().del_timer(&q.timer);
    while (!q.frags.empty()) {
        t.net->drop(why);
        q.frags.pop_front();  // pbuf_ptr destructor frees it
    }
    t.mem -= q.mem;
    --t.nqueues;
    q.used = false;
    q.first_in = q.last_in = false;
    q.len = q.meat = q.mem = 0;
}

// ip_expire: the datagram did not complete in ipfrag_time. Like Linux, tell
// the sender with ICMP time exceeded / reassembly (RFC 792, RFC 1122
// §3.3.2) only when we hold the first fragment, which carries the quote.
void ipq_expire(void* arg) {
    ipq& q = *static_cast<ipq*>(arg);
    ipfrag_table& t = *q.table;
    if (q.first_in && !q.frags.empty()) {
        pbuf* first = q.frags.front();
        if (fcb(first).offset == 0) {
            icmp_send(*t.net, *first, wire::icmp_time_exceeded, 1, 0);
        }
    }
    ipq_kill(t, q, drop_reason::ip_frag_expired);
}

ipq* ipq_find(ipfrag_table& t, const wire::ipv4_repr& iph, bool* created, bool* full) {
    ipq* free_slot = nullptr;
    const unsigned cap = std::min<unsigned>(t.net->sysctl().ipfrag_max_queues, ipfrag_table_size);
    for (unsigned i = 0; i < ipfrag_table_size; ++i) {
        ipq& q = t.q[i];
        if (!q.used) {
            if (!free_slot) {
                free_slot = &q;
            }
            continue;
        }
        if (q.saddr == iph.src && q.daddr == iph.dst && q.id == iph.id && q.proto == iph.proto) {
            return &q;
        }
    }
    if (!free_slot || t.nqueues >= cap) {
        *full = true;
        return nullptr;
    }
    ipq& q = *free_slot;
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
    *created = true;
    return &q;
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

// ip_frag_reasm: one buffer with a fresh header and every payload in place.
pbuf_ptr ipq_reasm(ipfrag_table& t, ipq& q, wire::ipv4_repr& iph) {
    stack& net = *t.net;
    const uint32_t total = wire::ipv4_min_header_len + q.len;
    pbuf* p = net.pool().alloc(MAX_HEADER, total);
    if (!p) {
        ipq_kill(t, q, drop_reason::ip_frag_memory);
        return {};
    }
    pbuf_ptr out(p);
    std::byte* hdr = out->append(total);
    pbuf* first = q.frags.front();
    wire::ipv4_repr h;
    (void)wire::ipv4_repr::parse({first->data, first->len}, h, false);
    h.header_len = wire::ipv4_min_header_len;  // options of the first fragment are not kept
    h.total_len = uint16_t(total);
    h.frag = 0;
    h.emit({hdr, wire::ipv4_min_header_len}, true);
    for (pbuf* f = first; f; f = f->next) {
        const frag_cb& c = fcb(f);
        std::memcpy(hdr + wire::ipv4_min_header_len + c.offset, f->data + c.ihl, c.end - c.offset);
    }
    // The pieces are consumed, not dropped: free without counting.
    t.net->timers().del_timer(&q.timer);
    q.frags.purge();
    t.mem -= q.mem;
    --t.nqueues;
    q.used = false;
    q.first_in = q.last_in = false;
    q.len = q.meat = q.mem = 0;
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
            t->net->timers().del_timer(&q.timer);
            q.frags.purge();
        }
    }
    delete t;
}

unsigned ipfrag_queue_count(const ipfrag_table& t) { return t.nqueues; }
uint64_t ipfrag_mem(const ipfrag_table& t) { return t.mem; }

pbuf_ptr ip_defrag(stack& net, pbuf_ptr skb, wire::ipv4_repr& iph) {
    ipfrag_table& t = *net.ipfrag;
    const stack_sysctl& sc = net.sysctl();
    const uint32_t off = uint32_t(iph.frag & wire::ip_offmask) * 8;
    const uint32_t plen = uint32_t(iph.total_len) - iph.header_len;
    const uint32_t end = off + plen;
    const bool more = (iph.frag & wire::ip_mf) != 0;

    // Linux's ip_frag_queue: the whole datagram must fit 65535 bytes. Here it
    // must also fit one buffer behind MAX_HEADER of headroom, since datagrams
    // are delivered linear. TODO(#5): chained pbufs for larger datagrams.
    const uint32_t room = net.pool().buf_size() > MAX_HEADER ? net.pool().buf_size() - MAX_HEADER : 0;
    const uint32_t max_payload = std::min<uint32_t>(ip_max_datagram, room) - wire::ipv4_min_header_len;
    if (end > max_payload) {
        net.drop(drop_reason::ip_frag_too_big);
        // The queue of a datagram that cannot be rebuilt is useless.
        for (ipq& q : t.q) {
            if (q.used && q.saddr == iph.src && q.daddr == iph.dst && q.id == iph.id && q.proto == iph.proto) {
                ipq_kill(t, q, drop_reason::ip_frag_too_big);
            }
        }
        return {};
    }
    // Non-last fragments carry a multiple of 8 bytes and something at all.
    if (more && (plen == 0 || (plen & 7) != 0)) {
        net.drop(drop_reason::ip_frag_bad);
        return {};
    }
    if (t.mem + skb->truesize > sc.ipfrag_high_thresh) {
        net.drop(drop_reason::ip_frag_memory);  // inet_frag_find refuses above high_thresh
        return {};
    }
    bool created = false, full = false;
    ipq* qp = ipq_find(t, iph, &created, &full);
    if (!qp) {
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
    if (q.mem + skb->truesize > sc.ipfrag_max_qbytes) {
        net.drop(drop_reason::ip_frag_memory);
        ipq_kill(t, q, drop_reason::ip_frag_memory);
        return {};
    }
    frag_cb& c = fcb(skb.get());
    c.offset = off;
    c.end = end;
    c.ihl = iph.header_len;
    const uint32_t truesize = skb->truesize;
    switch (ipq_insert(q, std::move(skb))) {
    case insert_result::dup:
        net.drop(drop_reason::ip_frag_dup);  // skb freed by its handle going out of scope
        return {};
    case insert_result::overlap:
        net.drop(drop_reason::ip_frag_overlap);
        ipq_kill(t, q, drop_reason::ip_frag_overlap);
        return {};
    case insert_result::ok:
        break;
    }
    q.meat += end - off;
    q.mem += truesize;
    t.mem += truesize;
    if (off == 0) {
        q.first_in = true;
    }
    if (q.first_in && q.last_in && q.meat == q.len) {
        return ipq_reasm(t, q, iph);
    }
    return {};
}

}  // namespace dshim
