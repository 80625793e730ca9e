// IPv4 fragment reassembly (RFC 791 §3.2, RFC 815; kernel counterpart
// net/ipv4/ip_fragment.c + net/ipv4/inet_fragment.c). Queues keyed by
// (src, dst, id, proto) in a fixed table owned by the stack. A datagram that
// fits one pool buffer keeps its fragments' own pbufs until whole, then is
// copied into one buffer; a larger one (up to 65535 bytes) is copied piece by
// piece into one of a few 64 KiB buffers made with the stack (see
// ip_fragment.cc for why). Any overlap drops the whole queue (Linux since
// 2018, RFC 5722's rule).
#pragma once
#include <cstdint>
#include "buf/pbuf.hh"
#include "wire/ipv4.hh"

namespace dshim {

class stack;
struct ipfrag_table;

// Large reassembly buffers per stack, each holding one whole datagram
// (65535 bytes behind MAX_HEADER of headroom). All busy: a datagram larger
// than one pool buffer is dropped (drop_reason::ip_frag_no_large_buffer)
// until a queue completes, expires or a consumer frees its buffer.
inline constexpr unsigned ipfrag_large_bufs = 4;

// Created once with the stack (the large buffers too); frees every held
// fragment on destroy. Every large buffer must be back by then.
ipfrag_table* ipfrag_create(stack& net);
void ipfrag_destroy(ipfrag_table* t);
// Live reassembly queues and the memory (truesize) they hold, for tests/stat.
unsigned ipfrag_queue_count(const ipfrag_table& t);
uint64_t ipfrag_mem(const ipfrag_table& t);
// Large buffers not in use (by a queue or by a delivered datagram).
unsigned ipfrag_large_free(const ipfrag_table& t);

// ip_defrag: takes one fragment (data at its IP header, trimmed to
// iph.total_len, header already validated). Returns nullptr while the
// datagram is incomplete (or when the fragment/queue was dropped, counted
// under a drop reason); otherwise the whole datagram in one linear buffer
// with a fresh 20-byte header, and `iph` rewritten to describe it (frag = 0).
// A datagram over one pool buffer comes in a large buffer whose pool is not
// the stack's: it never goes to the device as is (ip output copies it into
// fragments) and is returned to its pool when the consumer frees it.
pbuf_ptr ip_defrag(stack& net, pbuf_ptr skb, wire::ipv4_repr& iph);

}  // namespace dshim
