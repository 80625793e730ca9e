// ARP and the neighbour table. Kernel counterparts: net/ipv4/arp.c,
// net/core/neighbour.c. RFC 826 (packet handling), RFC 1122 §2.3.2.1
// (retransmission limits, queueing at most a few packets per destination).
#include "ipv4/arp.hh"

#include <cerrno>
#include <cstring>

#include "core/stack.hh"
#include "ipv4/ip.hh"
#include "ipv4/tcp.hh"
#include "ipv4/tcp_states.hh"
#include "wire/arp.hh"

namespace dshim {

namespace {

unsigned neigh_hash(uint32_t ip) { return (ip * 2654435761u) >> 24; }  // top 8 bits

void neigh_timer_fn(void* arg);

// A frame that waited for a neighbour that never answered: its TCP socket
// learns EHOSTUNREACH, as Linux's arp_error_report does (through a local ICMP
// host-unreachable to tcp_v4_err): a connect in SYN-SENT fails with it, an
// established connection keeps it as the soft error of a later timeout.
void neigh_error_report(stack& net, const pbuf& skb) {
    wire::ipv4_repr iph;
    if (wire::ipv4_repr::parse(skb.span(), iph, false) != wire::wire_error::none ||
        iph.proto != wire::ipproto_tcp || iph.is_fragment() || skb.len < uint32_t(iph.header_len) + 4) {
        return;
    }
    const uint16_t sport = wire::load16(skb.data + iph.header_len);
    const uint16_t dport = wire::load16(skb.data + iph.header_len + 2);
    sock* sk = inet_lookup_established(net, iph.dst, dport, iph.src, sport);
    if (!sk) {
        return;
    }
    if (sk->sk_state == TCP_SYN_SENT) {
        sk->sk_err = EHOSTUNREACH;
        if (!sk->sock_is_dead()) {
            sk_error_report(sk);
        }
        tcp_done(sk);
    } else if (sk->sk_state != TCP_TIME_WAIT) {
        sk->sk_err_soft = EHOSTUNREACH;
    }
}

void neigh_reset(neighbour* n) {
    n->arp_queue.purge();
    n->state = neigh_state::none;
    n->probes = 0;
    n->ip = 0;
    n->mac = {};
}

// Sends every frame waiting on n, now that its MAC is known.
void neigh_flush_queue(stack& net, neighbour* n) {
    while (!n->arp_queue.empty()) {
        pbuf_ptr skb = n->arp_queue.pop_front();
        wire::ether_repr eth{n->mac, net.mac(), wire::ethertype_ipv4};
        eth.emit({skb->prepend(wire::ether_header_len), wire::ether_header_len});
        skb->l2_len = wire::ether_header_len;
        net.dev_queue_xmit(std::move(skb));
    }
}

void neigh_timer_fn(void* arg) {
    neighbour* n = static_cast<neighbour*>(arg);
    stack& net = *n->net;
    switch (n->state) {
    case neigh_state::incomplete:
        if (n->probes >= net.sysctl().arp_probes) {
            // Resolution failed (RFC 1122 §2.3.2.1): drop what waited.
            while (!n->arp_queue.empty()) {
                pbuf_ptr skb = n->arp_queue.pop_front();
                neigh_error_report(net, *skb);
                net.drop(drop_reason::neigh_failed);
            }
            n->state = neigh_state::failed;
            net.timers().mod_timer(&n->timer, net.now() + net.sysctl().arp_retrans);
            return;
        }
        arp_send_request(net, n->ip);
        ++n->probes;
        net.timers().mod_timer(&n->timer, net.now() + net.sysctl().arp_retrans);
        return;
    case neigh_state::reachable:
        // Not confirmed for reachable_time: stale. The next use re-confirms
        // it; an unused stale entry stays until its slot is needed
        // (lookup_create recycles it), as Linux keeps STALE entries while
        // its table is below gc_thresh1.
        n->state = neigh_state::stale;
        return;
    case neigh_state::stale:
    case neigh_state::failed:
    case neigh_state::none:
        neigh_reset(n);
        return;
    }
}

}  // namespace

neigh_table::neigh_table(stack* net) {
    for (auto& n : entries) {
        n.net = net;
        n.timer.fn = neigh_timer_fn;
        n.timer.arg = &n;
    }
}

neighbour* neigh_table::lookup(uint32_t ip) {
    const unsigned h = neigh_hash(ip);
    // No early stop at a free slot: an expired entry is freed in place
    // (neigh_reset), which can leave a hole before later entries of the same
    // probe chain. A miss costs one pass over the small table.
    for (unsigned i = 0; i < size; ++i) {
        neighbour& n = entries[(h + i) % size];
        if (n.state == neigh_state::none) {
            continue;
        }
        if (n.ip == ip) {
            return &n;
        }
    }
    return nullptr;
}

neighbour* neigh_table::lookup_create(uint32_t ip) {
    if (neighbour* n = lookup(ip)) {
        return n;
    }
    const unsigned h = neigh_hash(ip);
    for (unsigned i = 0; i < size; ++i) {
        neighbour& n = entries[(h + i) % size];
        if (n.state == neigh_state::none) {
            n.ip = ip;
            return &n;
        }
    }
    // Full: recycle a stale or failed entry in this probe sequence. Removing
    // from an open-addressed table would break chains, so reuse in place.
    for (unsigned i = 0; i < size; ++i) {
        neighbour& n = entries[(h + i) % size];
        if (n.state == neigh_state::stale || n.state == neigh_state::failed) {
            n.net->timers().del_timer(&n.timer);
            n.arp_queue.purge();
            n.state = neigh_state::none;
            n.ip = ip;
            return &n;
        }
    }
    return nullptr;
}

void arp_send_request(stack& net, uint32_t ip) {
    pbuf* p = net.pool().alloc(MAX_HEADER, 64);
    if (!p) {
        net.drop(drop_reason::tx_no_buffer);
        return;
    }
    pbuf_ptr skb(p);
    wire::arp_repr arp{wire::arp_op_request, net.mac(), net.ip(), wire::mac_addr{}, ip};
    arp.emit({skb->append(wire::arp_packet_len), wire::arp_packet_len});
    wire::ether_repr eth{wire::mac_addr::broadcast(), net.mac(), wire::ethertype_arp};
    eth.emit({skb->prepend(wire::ether_header_len), wire::ether_header_len});
    ++net.counters().arp_requests_tx;
    net.dev_queue_xmit(std::move(skb));
}

void arp_rcv(stack& net, pbuf_ptr skb) {
    wire::arp_repr arp;
    if (wire::arp_repr::parse(skb->span(), arp) != wire::wire_error::none) {
        net.drop(drop_reason::arp_malformed);
        return;
    }
    if (arp.op == wire::arp_op_request) {
        ++net.counters().arp_requests_rx;
    } else {
        ++net.counters().arp_replies_rx;
    }
    // A sender claiming our address, a broadcast/multicast MAC, or a martian
    // source is not learned (RFC 826 leaves this open; Linux refuses them).
    const bool sane_sender = !arp.sha.is_multicast() && !arp.sha.is_zero() && arp.spa != 0 &&
                             arp.spa != net.ip() && !ipv4_is_martian(arp.spa);
    const bool for_us = arp.tpa == net.ip();
    // RFC 826 "merge": update an existing entry for the sender whatever the
    // target; create one only for a request to us (we are about to answer
    // it). An unsolicited reply creates nothing, as Linux with arp_accept 0.
    if (sane_sender) {
        const bool create = for_us && arp.op == wire::arp_op_request;
        neighbour* n = create ? net.neigh().lookup_create(arp.spa) : net.neigh().lookup(arp.spa);
        if (n) {
            n->mac = arp.sha;
            n->confirmed = net.now();
            n->probes = 0;
            n->state = neigh_state::reachable;
            net.timers().mod_timer(&n->timer, net.now() + net.sysctl().arp_reachable);
            neigh_flush_queue(net, n);
        }
    }
    if (!for_us) {
        net.drop(drop_reason::arp_not_for_us);
        return;
    }
    if (arp.op != wire::arp_op_request || !sane_sender) {
        return;
    }
    // Reply in place: reuse the request's buffer.
    wire::arp_repr reply{wire::arp_op_reply, net.mac(), net.ip(), arp.sha, arp.spa};
    skb->trim(0);
    reply.emit({skb->append(wire::arp_packet_len), wire::arp_packet_len});
    wire::ether_repr eth{arp.sha, net.mac(), wire::ethertype_arp};
    eth.emit({skb->prepend(wire::ether_header_len), wire::ether_header_len});
    ++net.counters().arp_replies_tx;
    net.dev_queue_xmit(std::move(skb));
}

void neigh_output(stack& net, uint32_t nexthop, pbuf_ptr skb) {
    neighbour* n = net.neigh().lookup_create(nexthop);
    if (!n) {
        net.drop(drop_reason::neigh_queue_full);
        return;
    }
    switch (n->state) {
    case neigh_state::reachable:
        break;
    case neigh_state::stale:
        // Use the old address, and re-confirm it (a simplified NUD probe).
        n->state = neigh_state::reachable;
        arp_send_request(net, nexthop);
        net.timers().mod_timer(&n->timer, net.now() + net.sysctl().arp_reachable);
        break;
    case neigh_state::none:
    case neigh_state::failed:
        n->state = neigh_state::incomplete;
        n->probes = 1;
        arp_send_request(net, nexthop);
        net.timers().mod_timer(&n->timer, net.now() + net.sysctl().arp_retrans);
        [[fallthrough]];
    case neigh_state::incomplete: {
        if (n->arp_queue.size() >= net.sysctl().arp_queue_len) {
            n->arp_queue.pop_front();  // the oldest goes, as in Linux
            net.drop(drop_reason::neigh_queue_full);
        }
        // The frame may share its data with a segment in a retransmit queue
        // (a clone): keep a private copy while it waits, so a retransmission
        // writing headers into the shared headroom cannot change it.
        if (net.pool().data_shared(skb.get())) {
            pbuf* c = net.pool().alloc(MAX_HEADER, skb->len);
            if (!c) {
                net.drop(drop_reason::tx_no_buffer);
                return;
            }
            std::memcpy(c->append(skb->len), skb->data, skb->len);
            c->flags = skb->flags;
            c->l3_len = skb->l3_len;
            c->l4_len = skb->l4_len;
            skb = pbuf_ptr(c);
        }
        n->arp_queue.push_back(std::move(skb));
        return;
    }
    }
    wire::ether_repr eth{n->mac, net.mac(), wire::ethertype_ipv4};
    eth.emit({skb->prepend(wire::ether_header_len), wire::ether_header_len});
    skb->l2_len = wire::ether_header_len;
    net.dev_queue_xmit(std::move(skb));
}

}  // namespace dshim
