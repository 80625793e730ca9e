// ARP and the neighbour table (net/ipv4/arp.c, net/core/neighbour.c; RFC 826,
// RFC 1122 §2.3.2): resolution with a bounded queue of frames waiting for an
// answer, retries, expiry, and replies for our own address.
#pragma once
#include <cstdint>
#include "buf/pbuf.hh"
#include "core/timer.hh"
#include "wire/ether.hh"

namespace dshim {

class stack;

enum class neigh_state : uint8_t { none, incomplete, reachable, stale, failed };

struct neighbour {
    uint32_t ip = 0;
    wire::mac_addr mac;
    neigh_state state = neigh_state::none;
    uint8_t probes = 0;          // requests sent for the current resolution
    nsec_t confirmed = 0;        // last time the peer proved reachable
    pbuf_queue arp_queue;        // frames (L3 only) waiting for resolution
    timer_list timer;            // retransmit requests / expire
    stack* net = nullptr;
};

struct neigh_table {
    static constexpr unsigned size = 256;
    neighbour entries[size];

    explicit neigh_table(stack* net);
    // Finds the entry for ip, or nullptr.
    neighbour* lookup(uint32_t ip);
    // Finds or creates (evicting a non-incomplete entry if full).
    neighbour* lookup_create(uint32_t ip);
};

// Receives an ARP packet (Ethernet header already removed).
void arp_rcv(stack& net, pbuf_ptr skb);
// Sends an IPv4 packet (IP header in place) to next hop `nexthop`: prepends
// the Ethernet header when the neighbour is known, else queues the packet and
// resolves. Consumes skb.
void neigh_output(stack& net, uint32_t nexthop, pbuf_ptr skb);
// Sends a request for ip.
void arp_send_request(stack& net, uint32_t ip);

}  // namespace dshim
