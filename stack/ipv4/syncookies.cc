// SYN cookies (Linux semantics): cookie = H1(4-tuple) + peer ISN + count<<24
// + ((H2(4-tuple, count) + mss index) & 0xffffff); with timestamps the SYN-ACK's
// TSval carries wscale / SACK-permitted / ECN in its low 6 bits.
// Kernel counterpart: net/ipv4/syncookies.c. RFC 4987 §3.6, RFC 7323 §5.
#include "ipv4/syncookies.hh"

#include <algorithm>

#include "core/stack.hh"
#include "ipv4/ip.hh"
#include "ipv4/tcp_ecn.hh"
#include "wire/checksum.hh"

namespace dshim {

namespace {

constexpr uint32_t cookiebits = 24;
constexpr uint32_t cookiemask = (1u << cookiebits) - 1;
constexpr uint32_t ts_opt_mask = 0x3f;      // Linux TS_OPT_*: 4 bits wscale, SACK, ECN
constexpr uint32_t ts_wscale_none = 0xf;
constexpr uint32_t ts_opt_sack = 1u << 4;
constexpr uint32_t ts_opt_ecn = 1u << 5;

uint32_t now_ms(const stack& net) { return uint32_t(net.now() / NSEC_PER_MSEC); }

// Low 24 bits of the remainder are the data if the cookie is ours and at
// most max_age counters old; 0xffffffff otherwise (check_tcp_syn_cookie).
uint32_t cookie_data(stack& net, uint32_t cookie, uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport,
                     uint32_t sseq, uint32_t count) {
    cookie -= secure_tcp_cookie_hash(net, saddr, daddr, sport, dport, 0, 0) + sseq;
    const uint32_t diff = (count - (cookie >> cookiebits)) & (0xffffffffu >> cookiebits);
    if (diff >= syncookie_max_age) {
        return 0xffffffffu;
    }
    return (cookie - secure_tcp_cookie_hash(net, saddr, daddr, sport, dport, count - diff, 1)) & cookiemask;
}

}  // namespace

uint32_t tcp_cookie_time(const stack& net) { return uint32_t(net.now() / (nsec_t(syncookie_period_sec) * NSEC_PER_SEC)); }

uint32_t cookie_v4_hash_seq(stack& net, uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport, uint32_t sseq,
                            uint32_t count, uint32_t data) {
    return secure_tcp_cookie_hash(net, saddr, daddr, sport, dport, 0, 0) + sseq + (count << cookiebits) +
           ((secure_tcp_cookie_hash(net, saddr, daddr, sport, dport, count, 1) + data) & cookiemask);
}

void tcp_syn_cookie_send(sock* listener, const wire::ipv4_repr& iph, const wire::tcp_repr& th) {
    stack& net = *listener->sk_net;
    const stack_sysctl& sys = net.sysctl();
    inet_csk(listener)->icsk_synq_last_overflow = net.now();  // tcp_synq_overflow
    // The largest table MSS not above the peer's (cookie_v4_init_sequence).
    const uint16_t peer_mss = th.opt.has_mss && th.opt.mss != 0 ? th.opt.mss : TCP_MSS_DEFAULT;
    uint32_t idx = 0;
    for (uint32_t i = 4; i-- > 0;) {
        if (peer_mss >= syncookie_msstab[i]) {
            idx = i;
            break;
        }
    }
    const uint32_t cookie = cookie_v4_hash_seq(net, iph.dst, iph.src, th.dport, th.sport, th.seq.v, tcp_cookie_time(net), idx);
    wire::tcp_repr sa;
    sa.sport = th.dport;
    sa.dport = th.sport;
    sa.seq = seq32(cookie);
    sa.ack = th.seq + 1;
    sa.flags = wire::TCPF_SYN | wire::TCPF_ACK;
    sa.opt.has_mss = true;
    sa.opt.mss = tcp_advmss(listener);
    // Without timestamps nothing else can be remembered: no wscale, no SACK
    // (Linux: cookie_timestamp_decode needs TSecr).
    if (th.opt.has_ts && sys.timestamps) {
        uint32_t opts = ts_wscale_none;
        if (th.opt.has_wscale && sys.window_scaling) {
            opts = std::min<uint8_t>(th.opt.wscale, TCP_MAX_WSCALE);
            sa.opt.has_wscale = true;
            sa.opt.wscale = sys.rcv_wscale;
        }
        if (th.opt.sack_permitted && sys.sack) {
            opts |= ts_opt_sack;
            sa.opt.sack_permitted = true;
        }
        if (tcp_ecn_syn_ok(sys, iph.tos, th.flags)) {
            // Remembered for the ACK; ECE in the SYN-ACK as for a request
            // (Linux clears ecn_ok for a cookie without timestamps).
            opts |= ts_opt_ecn;
            sa.flags |= wire::TCPF_ECE;
        }
        const uint32_t tsval = now_ms(net) + secure_tcp_ts_off(net, iph.dst, iph.src);
        sa.opt.has_ts = true;
        sa.opt.ts_val = (tsval & ~ts_opt_mask) | opts;
        if (sa.opt.ts_val > tsval) {
            sa.opt.ts_val -= ts_opt_mask + 1;  // never a TSval from the future
        }
        sa.opt.ts_ecr = th.opt.ts_val;
    }
    sa.window = uint16_t(std::min<uint32_t>(tcp_space(listener), TCP_MAX_WINDOW));
    if (tcp_v4_send_unicast_reply(net, iph.dst, iph.src, sa)) {
        ++net.counters().tcp_syncookies_sent;
    }
}

bool cookie_v4_check(sock* listener, pbuf_ptr& skb, const wire::ipv4_repr& iph, const wire::tcp_repr& th) {
    stack& net = *listener->sk_net;
    const stack_sysctl& sys = net.sysctl();
    if (sys.syncookies == 0 || (th.flags & wire::TCPF_RST)) {
        return false;
    }
    // tcp_synq_no_recent_overflow: no cookie went out in the last two
    // minutes (a cookie's lifetime), so this ACK cannot carry one: it is a
    // stray ACK, answered by a RST as without cookies, and not counted as
    // a failed cookie.
    const nsec_t last = inet_csk(listener)->icsk_synq_last_overflow;
    if (last == 0 || net.now() - last > syncookie_valid) {
        return false;
    }
    const uint32_t cookie = th.ack.v - 1;
    const uint32_t data = cookie_data(net, cookie, iph.dst, iph.src, th.dport, th.sport, th.seq.v - 1, tcp_cookie_time(net));
    if (data >= 4) {
        ++net.counters().tcp_syncookies_failed;
        return false;
    }
    syncookie_opts co;
    co.iss = seq32(cookie);
    co.mss = syncookie_msstab[data];
    if (th.opt.has_ts && sys.timestamps) {
        // cookie_timestamp_decode: an echo of a TSval we have not sent yet is forged.
        const uint32_t tsnow = now_ms(net) + secure_tcp_ts_off(net, iph.dst, iph.src);
        if (int32_t(th.opt.ts_ecr - tsnow) > 0) {
            ++net.counters().tcp_syncookies_failed;
            return false;
        }
        const uint32_t opts = th.opt.ts_ecr & ts_opt_mask;
        co.tstamp_ok = true;
        if ((opts & ts_wscale_none) != ts_wscale_none) {
            if (!sys.window_scaling) {
                ++net.counters().tcp_syncookies_failed;
                return false;
            }
            co.wscale_ok = true;
            co.snd_wscale = uint8_t(std::min<uint32_t>(opts & ts_wscale_none, TCP_MAX_WSCALE));
        }
        co.sack_ok = (opts & ts_opt_sack) != 0 && sys.sack;
        co.ecn_ok = (opts & ts_opt_ecn) != 0 && sys.ecn != 0;  // cookie_ecn_ok
    }
    ++net.counters().tcp_syncookies_recv;
    // Linux (tcp_v4_syn_recv_sock): a full accept queue drops the ACK; the
    // peer's retransmission may find room later.
    if (listener->sk_ack_backlog > listener->sk_max_ack_backlog) {
        ++net.counters().tcp_listen_overflows;
        ++net.counters().tcp_listen_drops;
        net.drop(drop_reason::tcp_listen_overflow);
        return true;
    }
    sock* child = tcp_create_openreq_child(listener, iph, th, &co);
    if (!child) {
        ++net.counters().tcp_listen_drops;
        net.drop(drop_reason::tcp_listen_overflow);
        return true;
    }
    // As if our SYN-ACK had been sent: the ACK below completes the handshake
    // through the normal SYN_RECV path (window, ESTABLISHED, accept queue, data).
    tcp_sock* tp = tcp_sk(child);
    tp->write_seq = tp->iss + 1;
    tp->snd_nxt = tp->iss + 1;
    tp->snd_sml = tp->iss + 1;
    tp->snd_up = tp->iss + 1;
    sock_hold(child);
    tcp_rcv_state_process(child, std::move(skb), th);
    sock_put(child);
    return true;
}

}  // namespace dshim
