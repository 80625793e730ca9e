// IPv4 input/output and routing (net/ipv4/ip_input.c, ip_output.c, route.c;
// RFC 791, RFC 1122 §3.2.1): header checks, delivery to TCP/ICMP, on-link
// prefix + default gateway, fragments handed to ip_fragment.cc.
#pragma once
#include <cstdint>
#include "buf/pbuf.hh"
#include "wire/ipv4.hh"

namespace dshim {

class stack;

inline constexpr uint32_t MAX_HEADER = 128;   // headroom reserved for L2-L4 headers

// Route lookup result: the next hop on our one interface.
struct rtable {
    uint32_t nexthop = 0;
    uint32_t saddr = 0;   // the source address to use
};

// 0 with *rt filled, or -ENETUNREACH.
int ip_route_output(stack& net, uint32_t daddr, rtable* rt);
bool ip_is_local(const stack& net, uint32_t addr);
// Martians (RFC 1122 §3.2.1.3): 0/8, 127/8, multicast, limited broadcast.
bool ipv4_is_martian(uint32_t addr);

// Receives an IPv4 packet (Ethernet header removed).
void ip_rcv(stack& net, pbuf_ptr skb);
// Prepends an IPv4 header to skb (which holds the L4 header + payload) and
// sends it, in fragments when it exceeds the device MTU (never with df:
// -EMSGSIZE then, counted). Consumes skb. Returns 0 or a negative errno (the
// packet is dropped then).
int ip_build_and_send(stack& net, pbuf_ptr skb, uint32_t saddr, uint32_t daddr, uint8_t proto,
                      uint8_t ttl, uint8_t tos, bool df);

// ICMP (net/ipv4/icmp.c)
void icmp_rcv(stack& net, pbuf_ptr skb, const wire::ipv4_repr& iph);
// Sends an ICMP error about `orig` (the offending IP packet, header included).
void icmp_send(stack& net, const pbuf& orig, uint8_t type, uint8_t code, uint32_t info);

}  // namespace dshim
