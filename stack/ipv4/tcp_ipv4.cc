// TCP over IPv4: segment demux, hash tables, local ports, connect, ISNs and
// stateless resets. Kernel counterparts: net/ipv4/tcp_ipv4.c,
// inet_hashtables.c, inet_connection_sock.c (get_port), secure_seq.c.
// RFCs: 9293 §3.10.7.1 (RST for a closed port), 6528 (ISN), 6056 (ports).
#include <cerrno>
#include <cstring>
#include <netinet/in.h>

#include "core/stack.hh"
#include "ipv4/ip.hh"
#include "ipv4/tcp.hh"
#include "ipv4/syncookies.hh"
#include "ipv4/tcp_timewait_sock.hh"
#include "wire/checksum.hh"

namespace dshim {

namespace {

// SipHash-2-4 style keyed mixing over a few words (RFC 6528 asks for a
// keyed hash of the 4-tuple; this is our own small implementation).
inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }
uint64_t keyed_hash(const uint32_t key[4], uint64_t m0, uint64_t m1) {
    uint64_t k0 = (uint64_t(key[0]) << 32) | key[1];
    uint64_t k1 = (uint64_t(key[2]) << 32) | key[3];
    uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
    auto round = [&] {
        v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
        v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
        v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
        v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
    };
    for (uint64_t m : {m0, m1}) {
        v3 ^= m; round(); round(); v0 ^= m;
    }
    v2 ^= 0xff;
    round(); round(); round(); round();
    return v0 ^ v1 ^ v2 ^ v3;
}

unsigned ehashfn(uint32_t laddr, uint16_t lport, uint32_t faddr, uint16_t fport) {
    uint32_t h = laddr * 2654435761u ^ faddr * 2246822519u ^ (uint32_t(lport) << 16 | fport) * 3266489917u;
    h ^= h >> 15;
    return h % stack::ehash_size;
}

unsigned lhashfn(uint16_t port) { return port % stack::lhash_size; }
unsigned bhashfn(uint16_t port) { return port % stack::bhash_size; }

inet_sock* from_hash_node(list_head* n) { return container_of(n, &inet_sock::hash_node); }
inet_sock* from_bind_node(list_head* n) { return container_of(n, &inet_sock::bind_node); }

}  // namespace

seq32 secure_tcp_seq(stack& net, uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport) {
    const uint32_t key[4] = {net.isn_secret(0), net.isn_secret(1), net.isn_secret(2), net.isn_secret(3)};
    const uint64_t h = keyed_hash(key, (uint64_t(saddr) << 32) | daddr, (uint64_t(sport) << 16) | dport);
    // RFC 6528: ISN = M + F(...), M a 4 µs clock.
    return seq32(uint32_t(h) + uint32_t(net.now() / (4 * NSEC_PER_USEC)));
}

uint32_t secure_tcp_ts_off(stack& net, uint32_t saddr, uint32_t daddr) {
    const uint32_t key[4] = {net.isn_secret(3), net.isn_secret(2), net.isn_secret(1), net.isn_secret(0)};
    return uint32_t(keyed_hash(key, (uint64_t(saddr) << 32) | daddr, 0x7473));
}

// SYN cookies (syncookies.cc): the same per-process secret, another key order.
uint32_t secure_tcp_cookie_hash(stack& net, uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport,
                                uint32_t count, unsigned c) {
    const uint32_t key[4] = {net.isn_secret(2 + c), net.isn_secret(c), net.isn_secret(3 + c), net.isn_secret(1 + c)};
    return uint32_t(keyed_hash(key, (uint64_t(saddr) << 32) | daddr, (uint64_t(count) << 32) | (uint64_t(sport) << 16) | dport));
}

// ---------------------------------------------------------------- hashing

sock* inet_lookup_established(stack& net, uint32_t saddr, uint16_t sport, uint32_t daddr, uint16_t dport) {
    list_head& b = net.ehash[ehashfn(daddr, dport, saddr, sport)];
    for (list_head* n = b.next; n != &b; n = n->next) {
        inet_sock* s = from_hash_node(n);
        if (s->inet_daddr == saddr && s->inet_dport == sport && s->inet_num == dport &&
            s->inet_rcv_saddr == daddr) {
            return s;
        }
    }
    return nullptr;
}

// The listener for a SYN to daddr:dport from saddr:sport (the kernel's
// __inet_lookup_listener with its reuseport step): an exact address beats a
// wildcard; when the best match set SO_REUSEPORT, the connection goes to one
// member of its group (same address and port, SO_REUSEPORT, in listen()
// order) chosen by a hash of the 4-tuple, so one flow always lands on the
// same listener and flows spread evenly (reuseport_select_sock).
sock* inet_lookup_listener(stack& net, uint32_t daddr, uint16_t dport, uint32_t saddr, uint16_t sport) {
    list_head& b = net.lhash[lhashfn(dport)];
    inet_sock* best = nullptr;
    for (list_head* n = b.next; n != &b; n = n->next) {
        inet_sock* s = from_hash_node(n);
        if (s->inet_num != dport) {
            continue;
        }
        if (s->inet_rcv_saddr == daddr) {
            best = s;
            break;
        }
        if (s->inet_rcv_saddr == 0 && !best) {
            best = s;
        }
    }
    if (best == nullptr || !best->sk_reuseport) {
        return best;
    }
    // The group: every reuseport listener on best's address and port.
    unsigned members = 0;
    for (list_head* n = b.next; n != &b; n = n->next) {
        inet_sock* s = from_hash_node(n);
        members += s->inet_num == dport && s->inet_rcv_saddr == best->inet_rcv_saddr && s->sk_reuseport;
    }
    uint32_t h = saddr * 2654435761u ^ daddr * 2246822519u ^ (uint32_t(sport) << 16 | dport) * 3266489917u;
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    unsigned pick = unsigned((uint64_t(h) * members) >> 32);  // reciprocal_scale
    for (list_head* n = b.next; n != &b; n = n->next) {
        inet_sock* s = from_hash_node(n);
        if (s->inet_num == dport && s->inet_rcv_saddr == best->inet_rcv_saddr && s->sk_reuseport && pick-- == 0) {
            return s;
        }
    }
    return best;
}

void inet_ehash_insert(sock* sk) {
    inet_sock* inet = inet_sk(sk);
    stack& net = *sk->sk_net;
    if (inet->hash_node.linked()) {
        inet->hash_node.del();
        --net.ehash_count;
    }
    net.ehash[ehashfn(inet->inet_rcv_saddr, inet->inet_num, inet->inet_daddr, inet->inet_dport)]
        .add_tail(&inet->hash_node);
    ++net.ehash_count;
}

void inet_hash_listener(sock* sk) {
    inet_sock* inet = inet_sk(sk);
    if (inet->hash_node.linked()) {
        inet->hash_node.del();
    }
    sk->sk_net->lhash[lhashfn(inet->inet_num)].add_tail(&inet->hash_node);
}

void inet_unhash(sock* sk) {
    inet_sock* inet = inet_sk(sk);
    if (inet->hash_node.linked()) {
        inet->hash_node.del();
        if (sk->sk_state != TCP_LISTEN) {
            --sk->sk_net->ehash_count;
        }
    }
}

// ------------------------------------------------------------------ ports

// Would binding sk to port conflict with an existing owner? (the kernel's
// inet_csk_bind_conflict): the same port with overlapping addresses, unless
// both set SO_REUSEADDR and the other is not listening, or both set
// SO_REUSEPORT. relax_listen: ignore the reuse exemption (a listen() check).
bool inet_port_conflict(sock* sk, uint16_t port, bool relax_listen) {
    inet_sock* me = inet_sk(sk);
    list_head& b = sk->sk_net->bhash[bhashfn(port)];
    for (list_head* n = b.next; n != &b; n = n->next) {
        inet_sock* o = from_bind_node(n);
        if (o == me || o->inet_num != port) {
            continue;
        }
        const bool addr_overlap = o->inet_rcv_saddr == 0 || me->inet_rcv_saddr == 0 ||
                                  o->inet_rcv_saddr == me->inet_rcv_saddr;
        if (!addr_overlap) {
            continue;
        }
        if (sk->sk_reuseport && o->sk_reuseport) {
            continue;
        }
        if (!relax_listen && sk->sk_reuse && o->sk_reuse && o->sk_state != TCP_LISTEN) {
            continue;
        }
        if (relax_listen && o->sk_state != TCP_LISTEN && sk->sk_reuse && o->sk_reuse) {
            continue;
        }
        return true;
    }
    return false;
}

namespace {

void bind_port(sock* sk, uint16_t port) {
    inet_sock* inet = inet_sk(sk);
    inet->inet_num = port;
    inet->inet_sport = port;
    sk->sk_net->bhash[bhashfn(port)].add_tail(&inet->bind_node);
}

// Is the 4-tuple (our addr/port, sk's peer) free, TIME_WAIT included?
bool tuple_free(sock* sk, uint16_t port) {
    inet_sock* inet = inet_sk(sk);
    return inet_lookup_established(*sk->sk_net, inet->inet_daddr, inet->inet_dport, inet->inet_rcv_saddr,
                                   port) == nullptr;
}

}  // namespace

int inet_csk_get_port(sock* sk, uint16_t snum) {
    stack& net = *sk->sk_net;
    if (snum != 0) {
        if (inet_port_conflict(sk, snum, false)) {
            return -EADDRINUSE;
        }
        bind_port(sk, snum);
        return 0;
    }
    // Ephemeral: RFC 6056 algorithm 3 flavour (a random start, a shared
    // increment), skipping ports anybody has bound.
    const uint32_t lo = net.sysctl().ephemeral_lo, hi = net.sysctl().ephemeral_hi;
    const uint32_t range = hi - lo + 1;
    const uint32_t start = uint32_t(net.random());
    for (uint32_t i = 0; i < range; ++i) {
        const uint16_t port = uint16_t(lo + (start + i) % range);
        list_head& b = net.bhash[bhashfn(port)];
        bool used = false;
        for (list_head* n = b.next; n != &b; n = n->next) {
            if (from_bind_node(n)->inet_num == port) {
                used = true;
                break;
            }
        }
        if (!used) {
            bind_port(sk, port);
            return 0;
        }
    }
    return -EADDRINUSE;
}

void inet_put_port(sock* sk) {
    inet_sock* inet = inet_sk(sk);
    if (inet->bind_node.linked()) {
        inet->bind_node.del();
    }
    inet->inet_num = 0;
}

namespace {

// inet_hash_connect: an ephemeral port whose 4-tuple is unused (RFC 6056
// algorithm 3: offset by a hash of the destination, plus a counter).
int inet_hash_connect(sock* sk) {
    inet_sock* inet = inet_sk(sk);
    stack& net = *sk->sk_net;
    if (inet->inet_num != 0) {
        // Bound already: the tuple must be free.
        if (!tuple_free(sk, inet->inet_num)) {
            return -EADDRNOTAVAIL;
        }
        inet_ehash_insert(sk);
        return 0;
    }
    const uint32_t lo = net.sysctl().ephemeral_lo, hi = net.sysctl().ephemeral_hi;
    const uint32_t range = hi - lo + 1;
    const uint32_t key[4] = {net.isn_secret(1), net.isn_secret(3), net.isn_secret(0), net.isn_secret(2)};
    const uint32_t offset =
        uint32_t(keyed_hash(key, (uint64_t(inet->inet_rcv_saddr) << 32) | inet->inet_daddr, inet->inet_dport));
    for (uint32_t i = 0; i < range; ++i) {
        const uint16_t port = uint16_t(lo + (offset + net.ephemeral_offset + i) % range);
        // A port bound by a non-connected socket (bind()/listen()) is not ours
        // to share; a port of other connections is, if the tuple differs.
        bool bound_plain = false;
        list_head& b = net.bhash[bhashfn(port)];
        for (list_head* n = b.next; n != &b; n = n->next) {
            inet_sock* o = from_bind_node(n);
            if (o->inet_num == port && (o->inet_dport == 0 || o->sk_state == TCP_LISTEN)) {
                bound_plain = true;
                break;
            }
        }
        if (bound_plain || !tuple_free(sk, port)) {
            continue;
        }
        net.ephemeral_offset += i + 1;
        bind_port(sk, port);
        inet_ehash_insert(sk);
        return 0;
    }
    return -EADDRNOTAVAIL;
}

}  // namespace

int tcp_v4_connect(sock* sk, const sockaddr* uaddr, int addr_len) {
    inet_sock* inet = inet_sk(sk);
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    if (addr_len < int(sizeof(sockaddr_in))) {
        return -EINVAL;
    }
    sockaddr_in sin;
    std::memcpy(&sin, uaddr, sizeof(sin));
    if (sin.sin_family != AF_INET) {
        return -EAFNOSUPPORT;
    }
    const uint32_t daddr = ntohl(sin.sin_addr.s_addr);
    const uint16_t dport = ntohs(sin.sin_port);
    rtable rt;
    if (int err = ip_route_output(net, daddr, &rt); err < 0) {
        return err;
    }
    if (dport == 0) {
        return -ECONNREFUSED;  // what Linux reports for port 0 (the RST it gets)
    }
    if (inet->inet_rcv_saddr == 0) {
        inet->inet_rcv_saddr = rt.saddr;
    }
    inet->inet_saddr = inet->inet_rcv_saddr;
    inet->inet_daddr = daddr;
    inet->inet_dport = dport;
    tcp_set_state(sk, TCP_SYN_SENT);
    if (int err = inet_hash_connect(sk); err < 0) {
        tcp_set_state(sk, TCP_CLOSE);
        inet->inet_daddr = 0;
        inet->inet_dport = 0;
        return err;
    }
    tp->write_seq = secure_tcp_seq(net, inet->inet_saddr, daddr, inet->inet_sport, dport);
    tp->tsoffset = secure_tcp_ts_off(net, inet->inet_saddr, daddr);
    inet->inet_id = uint16_t(net.random());
    if (int err = tcp_connect(sk); err < 0) {
        tcp_set_state(sk, TCP_CLOSE);
        inet_unhash(sk);
        inet_put_port(sk);
        inet->inet_daddr = 0;
        inet->inet_dport = 0;
        return err;
    }
    return 0;
}

// ------------------------------------------------------------ stateless tx

// A segment sent by no socket (RST, TIME_WAIT ACK, cookie SYN-ACK): header
// from th, checksum, IPv4 with TTL 64 and DF. Kernel: ip_send_unicast_reply.
// false when no buffer was free (counted as a drop).
bool tcp_v4_send_unicast_reply(stack& net, uint32_t saddr, uint32_t daddr, const wire::tcp_repr& th) {
    pbuf* p = net.pool().alloc(MAX_HEADER, 0);
    if (!p) {
        net.drop(drop_reason::tx_no_buffer);
        return false;
    }
    pbuf_ptr skb(p);
    const size_t hl = th.emit_header_len();
    th.emit({skb->prepend(uint32_t(hl)), hl});
    wire::tcp_fill_checksum(skb->span(), saddr, daddr);
    ++net.counters().tcp_out_segs;
    (void)ip_build_and_send(net, std::move(skb), saddr, daddr, wire::ipproto_tcp, 64, 0, true);
    return true;
}

void tcp_v4_send_ack_raw(stack& net, uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport,
                         seq32 seq, seq32 ack, uint16_t win, bool ts, uint32_t tsval, uint32_t tsecr) {
    wire::tcp_repr th;
    th.sport = sport;
    th.dport = dport;
    th.seq = seq;
    th.ack = ack;
    th.flags = wire::TCPF_ACK;
    th.window = win;
    if (ts) {
        th.opt.has_ts = true;
        th.opt.ts_val = tsval;
        th.opt.ts_ecr = tsecr;
    }
    (void)tcp_v4_send_unicast_reply(net, saddr, daddr, th);
}

// RFC 9293 §3.10.7.1: a segment for no connection gets a RST; never answer a
// RST. With ACK: <SEQ=SEG.ACK><CTL=RST>; without: <SEQ=0><ACK=SEG.SEQ+SEG.LEN>
// <CTL=RST,ACK>.
void tcp_v4_send_reset(stack& net, uint32_t saddr, uint32_t daddr, const wire::tcp_repr& th,
                       uint32_t payload_len) {
    if (th.flags & wire::TCPF_RST) {
        return;
    }
    wire::tcp_repr rst;
    rst.sport = th.dport;
    rst.dport = th.sport;
    if (th.flags & wire::TCPF_ACK) {
        rst.seq = th.ack;
        rst.flags = wire::TCPF_RST;
    } else {
        rst.seq = seq32(0);
        uint32_t seg_len = payload_len;
        if (th.flags & wire::TCPF_SYN) { ++seg_len; }
        if (th.flags & wire::TCPF_FIN) { ++seg_len; }
        rst.ack = th.seq + seg_len;
        rst.flags = wire::TCPF_RST | wire::TCPF_ACK;
    }
    if (tcp_v4_send_unicast_reply(net, daddr, saddr, rst)) {
        ++net.counters().tcp_out_rsts;
    }
}

// --------------------------------------------------------------- receive

void tcp_v4_rcv(stack& net, pbuf_ptr skb, const wire::ipv4_repr& iph) {
    wire::tcp_repr th;
    const bool csum_done = (skb->flags & PBUF_RX_L4_CSUM_GOOD) != 0;
    switch (wire::tcp_repr::parse(skb->span(), iph.src, iph.dst, th, !csum_done)) {
    case wire::wire_error::none: break;
    case wire::wire_error::bad_checksum:
        ++net.counters().tcp_in_errs;
        net.drop(drop_reason::tcp_bad_checksum);
        return;
    case wire::wire_error::bad_option:
        ++net.counters().tcp_in_errs;
        net.drop(drop_reason::tcp_bad_option);
        return;
    case wire::wire_error::bad_header_len:
        ++net.counters().tcp_in_errs;
        net.drop(drop_reason::tcp_bad_header_len);
        return;
    default:
        ++net.counters().tcp_in_errs;
        net.drop(drop_reason::tcp_truncated);
        return;
    }
    ++net.counters().tcp_in_segs;
    // SYN+FIN and SYN+RST make no sense in any state (Linux drops them too).
    if ((th.flags & wire::TCPF_SYN) && (th.flags & (wire::TCPF_FIN | wire::TCPF_RST))) {
        net.drop(drop_reason::tcp_bad_flags);
        return;
    }
    if (th.sport == 0 || th.dport == 0) {
        net.drop(drop_reason::tcp_bad_flags);
        return;
    }
    const uint32_t payload_len = skb->len - th.header_len;
    skb->adj(th.header_len);
    tcp_skb_cb* cb = TCP_SKB_CB(skb.get());
    cb->seq = th.seq;
    cb->end_seq = th.seq + payload_len + ((th.flags & wire::TCPF_SYN) ? 1 : 0) + ((th.flags & wire::TCPF_FIN) ? 1 : 0);
    cb->tcp_flags = th.flags;
    cb->sacked = 0;
    cb->retrans = 0;
    cb->ip_dsfield = iph.tos;  // the ECN field, for tcp_ecn_check_ce
    cb->when = 0;

    sock* sk = inet_lookup_established(net, iph.src, th.sport, iph.dst, th.dport);
    if (sk && sk->sk_state == TCP_TIME_WAIT) {
        if (tcp_timewait_state_process(static_cast<tcp_timewait_sock*>(sk), skb, iph, th)) {
            return;
        }
        sk = nullptr;  // a new SYN replacing the TIME_WAIT: to the listener
    }
    if (!sk) {
        sk = inet_lookup_listener(net, iph.dst, th.dport, iph.src, th.sport);
    }
    if (!sk) {
        net.drop(drop_reason::tcp_no_socket);
        tcp_v4_send_reset(net, iph.src, iph.dst, th, payload_len);
        return;
    }
    if (sk->sk_state == TCP_LISTEN) {
        // RFC 9293 §3.10.7.2
        if (th.flags & wire::TCPF_RST) {
            net.drop(drop_reason::tcp_rst);
            return;
        }
        if (th.flags & wire::TCPF_ACK) {
            if (!(th.flags & wire::TCPF_SYN) && cookie_v4_check(sk, skb, iph, th)) {
                return;  // a valid SYN cookie: the child took it (syncookies.cc)
            }
            net.drop(drop_reason::tcp_no_socket);
            tcp_v4_send_reset(net, iph.src, iph.dst, th, payload_len);
            return;
        }
        if (th.flags & wire::TCPF_SYN) {
            tcp_conn_request(sk, iph, th);
            return;
        }
        net.drop(drop_reason::tcp_bad_flags);
        return;
    }
    sock_hold(sk);
    tcp_rcv_state_process(sk, std::move(skb), th);
    sock_put(sk);
}

}  // namespace dshim
