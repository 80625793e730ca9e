// SYN cookies: a listener whose SYN queue is full answers a SYN statelessly
// with an ISN that encodes a keyed hash, an MSS index and a 64 s counter, and
// builds the child from the final ACK. Kernel counterpart: net/ipv4/syncookies.c
// (and tcp_conn_request's want_cookie path). RFC 4987 §3.6.
#pragma once

#include <cstdint>

#include "ipv4/tcp.hh"

namespace dshim {

// What a valid cookie ACK tells the child (tcp_create_openreq_child).
struct syncookie_opts {
    seq32 iss;              // our ISN (the cookie)
    uint16_t mss = 536;     // the peer's MSS, from the table
    bool tstamp_ok = false; // options below only with timestamps (Linux)
    bool wscale_ok = false;
    uint8_t snd_wscale = 0;
    bool sack_ok = false;
    bool ecn_ok = false;    // the SYN negotiated ECN (TS_OPT_ECN, cookie_ecn_ok)
};

// Linux's msstab (net/ipv4/syncookies.c): 2 bits of the cookie.
inline constexpr uint16_t syncookie_msstab[4] = {536, 1300, 1440, 1460};
inline constexpr uint32_t syncookie_period_sec = 64;  // Linux: 60 s; ours a power of two
inline constexpr uint32_t syncookie_max_age = 2;       // current and previous counter
// How long after the last cookie sent an ACK may still carry one.
inline constexpr nsec_t syncookie_valid = nsec_t(syncookie_max_age * syncookie_period_sec + 1) * NSEC_PER_SEC;

uint32_t secure_tcp_cookie_hash(stack& net, uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport,
                                uint32_t count, unsigned c);

// Counter value for time now (exposed for tests that age cookies).
uint32_t tcp_cookie_time(const stack& net);
// The cookie for (addresses, ports, peer ISN) at counter count with data (< 2^24).
uint32_t cookie_v4_hash_seq(stack& net, uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport,
                            uint32_t sseq, uint32_t count, uint32_t data);

// Answers the SYN with a cookie SYN-ACK; keeps no state.
void tcp_syn_cookie_send(sock* listener, const wire::ipv4_repr& iph, const wire::tcp_repr& th);
// A bare ACK to a listener: true if it carried a valid cookie (the child
// was created in ESTABLISHED, or the ACK was dropped because the accept
// queue is full). False: invalid; the caller answers as before (RST).
bool cookie_v4_check(sock* listener, pbuf_ptr& skb, const wire::ipv4_repr& iph, const wire::tcp_repr& th);

// tcp_minisocks.cc: builds a SYN_RECV child, hashed, in the listener's queue.
// With co, from a cookie ACK: ISN and options from the cookie.
sock* tcp_create_openreq_child(sock* listener, const wire::ipv4_repr& iph, const wire::tcp_repr& th,
                               const syncookie_opts* co);

}  // namespace dshim
