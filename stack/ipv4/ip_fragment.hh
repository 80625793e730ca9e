// IPv4 fragment reassembly (RFC 791 §3.2, RFC 815; kernel counterpart
// net/ipv4/ip_fragment.c + net/ipv4/inet_fragment.c). Queues keyed by
// (src, dst, id, proto) in a fixed table owned by the stack; fragments keep
// their own pbufs until the datagram is whole, then it is copied into one
// buffer. Any overlap drops the whole queue (Linux since 2018, RFC 5722's rule).
#pragma once
#include <cstdint>
#include "buf/pbuf.hh"
#include "wire/ipv4.hh"

namespace dshim {

class stack;
struct ipfrag_table;

// Created once with the stack; frees every held fragment on destroy.
ipfrag_table* ipfrag_create(stack& net);
void ipfrag_destroy(ipfrag_table* t);
// Live reassembly queues and the memory (truesize) they hold, for tests/stat.
unsigned ipfrag_queue_count(const ipfrag_table& t);
uint64_t ipfrag_mem(const ipfrag_table& t);

// ip_defrag: takes one fragment (data at its IP header, trimmed to
// iph.total_len, header already validated). Returns nullptr while the
// datagram is incomplete (or when the fragment/queue was dropped, counted
// under a drop reason); otherwise the whole datagram in one buffer with a
// fresh 20-byte header, and `iph` rewritten to describe it (frag = 0).
pbuf_ptr ip_defrag(stack& net, pbuf_ptr skb, wire::ipv4_repr& iph);

}  // namespace dshim
