// TCP output: building and sending segments, the send loop with congestion
// and flow control, Nagle, window selection, SYN/SYN-ACK/FIN/RST/ACK and
// probes. Kernel counterpart: net/ipv4/tcp_output.c.
// RFC 9293 §3.8.6 (window management, SWS avoidance), RFC 1122 §4.2.3.4
// (Nagle), RFC 7323 (options), RFC 5681 (cwnd), RFC 6298 (timer arming).
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/stack.hh"
#include "ipv4/ip.hh"
#include "ipv4/tcp.hh"
#include "ipv4/tcp_ecn.hh"
#include "wire/checksum.hh"

namespace dshim {

using wire::after;
using wire::before;

uint32_t tcp_time_stamp(const tcp_sock* tp) {
    // RFC 7323 §5.4: a 1 ms clock plus a per-connection offset.
    return uint32_t(tp->sk_net->now() / NSEC_PER_MSEC) + tp->tsoffset;
}

uint32_t tcp_init_cwnd(const tcp_sock* tp) {
    const uint32_t iw = tp->sk_net->sysctl().init_cwnd;
    if (iw != 0) {
        return iw;
    }
    // RFC 3390 / RFC 5681 §3.1: min(4*MSS, max(2*MSS, 4380 bytes)).
    const uint32_t mss = std::max<uint32_t>(tp->mss_cache, 1);
    const uint32_t bytes = std::min(4 * mss, std::max(2 * mss, 4380u));
    return std::max<uint32_t>(bytes / mss, 1);
}

// Bytes of receive space worth advertising for `space` bytes of buffer: half
// goes to buffer overhead (the kernel's tcp_adv_win_scale = 1).
static uint32_t tcp_win_from_space(int space) { return space <= 0 ? 0 : uint32_t(space) / 2; }

// The largest receive buffer this socket may fill: its own limit, and under
// memory pressure its share of the pool (architecture.md §3).
int tcp_rcvbuf_limit(const sock* sk) {
    int limit = sk->sk_rcvbuf;
    stack& net = *sk->sk_net;
    const pbuf_pool& pool = net.pool();
    const uint64_t pool_bytes = uint64_t(pool.capacity()) * (pool.buf_size() + MAX_HEADER);
    const uint64_t share = pool_bytes * net.sysctl().rx_pool_share16 / 16;
    if (share < uint64_t(limit)) {
        limit = int(share);
    }
    return limit;
}

uint32_t tcp_space(const sock* sk) { return tcp_win_from_space(tcp_rcvbuf_limit(sk) - sk->sk_rmem_alloc); }

static uint32_t tcp_full_space(const sock* sk) { return tcp_win_from_space(tcp_rcvbuf_limit(sk)); }

uint32_t tcp_receive_window(const tcp_sock* tp) {
    const int32_t win = int32_t((tp->rcv_wup + tp->rcv_wnd) - tp->rcv_nxt);
    return win < 0 ? 0 : uint32_t(win);
}

// __tcp_select_window: the window we would like to offer now, with receiver
// SWS avoidance (RFC 1122 §4.2.3.3): never offer less than an MSS of new
// space; offer nothing when the buffer is nearly full.
uint32_t tcp_select_window_raw(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    const uint32_t mss = std::max<uint32_t>(tp->icsk_ack.rcv_mss, 1);
    uint32_t free_space = tcp_space(sk);
    const uint32_t full_space = std::min(tp->window_clamp, tcp_full_space(sk));
    if (free_space < full_space / 2) {
        if (sk->sk_net->under_memory_pressure()) {
            ++sk->sk_net->counters().tcp_mem_pressure;
        }
        if (free_space < mss) {
            return 0;
        }
    }
    free_space = std::min(free_space, tp->window_clamp);
    const uint8_t ws = tp->rx_opt.rcv_wscale;
    uint32_t window = tp->rcv_wnd;
    if (ws != 0) {
        window = free_space;
        // Round up so the scaled value does not lose the last partial unit.
        if (((window >> ws) << ws) != window) {
            window = ((window >> ws) + 1) << ws;
        }
    } else if (window <= free_space - mss || window > free_space) {
        window = (free_space / mss) * mss;
    } else if (mss == full_space && free_space > window + full_space / 2) {
        window = free_space;
    }
    return window;
}

uint32_t tcp_select_window(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    const uint32_t cur_win = tcp_receive_window(tp);
    uint32_t new_win = tcp_select_window_raw(sk);
    const uint8_t ws = tp->rx_opt.rcv_wscale;
    if (new_win < cur_win) {
        // RFC 9293 §3.8.6.2.2: never shrink the offered window's right edge.
        new_win = ((cur_win + (1u << ws) - 1) >> ws) << ws;
    }
    tp->rcv_wnd = new_win;
    tp->rcv_wup = tp->rcv_nxt;
    const uint32_t max_raw = tp->rx_opt.wscale_ok ? (TCP_MAX_WINDOW << ws) : TCP_MAX_WINDOW;
    new_win = std::min(new_win, max_raw);
    return new_win >> ws;
}

// ------------------------------------------------------------------ MSS

uint16_t tcp_advmss(const sock* sk) {
    const tcp_sock* tp = tcp_sk(sk);
    uint16_t mss = uint16_t(std::min<uint32_t>(sk->sk_net->dev().mtu() - 40, 65535 - 40));
    // TCP_MAXSEG also bounds the MSS we offer in SYN/SYN-ACK (Linux tcp_mss_clamp).
    if (tp->rx_opt.user_mss != 0 && mss > tp->rx_opt.user_mss) {
        mss = tp->rx_opt.user_mss;
    }
    return mss;
}

void tcp_mtup_init(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    tp->advmss = tcp_advmss(sk);
    tp->icsk_pmtu_cookie = sk->sk_net->dev().mtu();
}

// tcp_sync_mss: the payload per segment for path MTU pmtu, bounded by the
// peer's MSS and by half the largest window it offered (so a small-window
// peer still gets full segments: tcp_bound_to_half_wnd).
void tcp_sync_mss(sock* sk, uint32_t pmtu) {
    tcp_sock* tp = tcp_sk(sk);
    uint32_t mss = pmtu - 40;
    if (tp->rx_opt.mss_clamp != 0 && mss > tp->rx_opt.mss_clamp) {
        mss = tp->rx_opt.mss_clamp;
    }
    if (tp->rx_opt.user_mss != 0 && mss > tp->rx_opt.user_mss) {
        mss = tp->rx_opt.user_mss;
    }
    mss = std::max<uint32_t>(mss, TCP_MIN_MSS);
    tp->icsk_pmtu_cookie = pmtu;
    tp->mss_cache = uint16_t(mss);
}

uint16_t tcp_current_mss(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    uint32_t mss = tp->mss_cache;
    if (tp->rx_opt.tstamp_ok) {
        mss -= 12;  // TCPOLEN_TSTAMP_ALIGNED
    }
    // SACK blocks the next segment will carry take payload room too, as in
    // Linux (tcp_established_options): without this a full segment with SACK
    // blocks exceeded the MTU, which IP now refuses with DF set.
    if (tp->rx_opt.sack_ok && (tp->num_sacks != 0 || tp->dsack)) {
        const uint32_t room = tp->rx_opt.tstamp_ok ? 3 : 4;
        const uint32_t blocks = std::min<uint32_t>(tp->num_sacks + (tp->dsack ? 1u : 0u), room);
        mss -= 4 + 8 * blocks;  // TCPOLEN_SACK_BASE_ALIGNED + TCPOLEN_SACK_PERBLOCK each
    }
    if (tp->max_window > TCP_MSS_DEFAULT) {
        const uint32_t half = tp->max_window / 2;
        if (mss > half) {
            mss = std::max<uint32_t>(half, 68 - 40);
        }
    }
    return uint16_t(std::max<uint32_t>(mss, 8));
}

// ------------------------------------------------------------- buffers

pbuf* tcp_alloc_skb(sock* sk, uint32_t size) {
    pbuf* p = sk->sk_net->pool().alloc(MAX_HEADER, size);
    if (!p) {
        ++sk->sk_net->counters().tcp_enobufs;
        sk->sk_net->drop(drop_reason::tx_no_buffer);
    }
    return p;
}

void tcp_init_nondata_skb(pbuf* skb, seq32 seq, uint8_t flags) {
    tcp_skb_cb* cb = TCP_SKB_CB(skb);
    std::memset(static_cast<void*>(cb), 0, sizeof(*cb));
    cb->seq = seq;
    cb->tcp_flags = flags;
    uint32_t len = 0;
    if (flags & (wire::TCPF_SYN | wire::TCPF_FIN)) {
        len = 1;
    }
    cb->end_seq = seq + len;
}

// Appends skb to the write queue (unsent part).
void tcp_queue_skb(sock* sk, pbuf_ptr skb) {
    tcp_sock* tp = tcp_sk(sk);
    pbuf* raw = skb.get();
    sk->sk_wmem_queued += int(raw->truesize);
    sk->sk_write_queue.push_back(std::move(skb));
    if (!tp->send_head) {
        tp->send_head = raw;
    }
}

// Splits skb so it carries `len` payload bytes; the rest goes to a new buffer
// right after it (tcp_fragment). FIN moves to the tail part.
// ------------------------------------------------------------- pacing
//
// TCP-internal pacing, Linux's earliest-departure-time model
// (tcp_pacing_check, tcp_update_skb_after_send, tcp_update_pacing_rate):
// with pacing on (SO_MAX_PACING_RATE, or a congestion control module that
// asks for it), every data segment sent moves the earliest departure of the
// next one by its length at sk_pacing_rate; the send loops stop while that
// time lies ahead and the pacing timer resumes them then. Off (the default),
// nothing here changes what is sent or when.

namespace {

bool tcp_needs_internal_pacing(const sock* sk) { return sk->sk_pacing_status == SK_PACING_NEEDED; }

// After a data segment of `len` payload bytes left (first transmission or
// retransmission). The first ten data segments of a connection are not
// paced (as Linux: the initial window goes out at once). A departure later
// than scheduled earns a credit of at most half a gap, so a late timer does
// not lower the average rate, and never a burst.
void tcp_update_skb_after_send(sock* sk, uint32_t len) {
    tcp_sock* tp = tcp_sk(sk);
    if (!tcp_needs_internal_pacing(sk)) {
        return;
    }
    const nsec_t prior = tp->tcp_wstamp_ns;
    tp->tcp_wstamp_ns = std::max(tp->tcp_wstamp_ns, sk->sk_net->now());
    const uint64_t rate = sk->sk_pacing_rate;
    if (rate == ~uint64_t(0) || rate == 0 || tp->data_segs_out < 10) {
        return;
    }
    uint64_t len_ns = uint64_t(len) * NSEC_PER_SEC / rate;
    const uint64_t credit = uint64_t(tp->tcp_wstamp_ns - prior);
    len_ns -= std::min(len_ns / 2, credit);
    tp->tcp_wstamp_ns += nsec_t(len_ns);
}

}  // namespace

// The pacing timer (tcp_pace_kick -> tcp_tsq_write): retransmissions the
// window allows first, then new data.
void tcp_pacing_timer(void* arg) {
    sock* sk = static_cast<sock*>(arg);
    tcp_sock* tp = tcp_sk(sk);
    switch (sk->sk_state) {
    case TCP_ESTABLISHED:
    case TCP_FIN_WAIT1:
    case TCP_CLOSING:
    case TCP_CLOSE_WAIT:
    case TCP_LAST_ACK:
        break;
    default:
        return;
    }
    if (tp->lost_out > tp->retrans_out && tp->snd_cwnd > tp->packets_in_flight()) {
        tcp_xmit_retransmit_queue(sk);
    }
    tcp_write_xmit(sk, tp->nonagle);
}

// True while the next segment must wait for its departure time; the pacing
// timer is then armed for it.
bool tcp_pacing_check(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    if (!tcp_needs_internal_pacing(sk) || tp->tcp_wstamp_ns <= sk->sk_net->now()) {
        return false;
    }
    if (!tp->pacing_timer.pending()) {
        sk->sk_net->hrtimers().start(&tp->pacing_timer, tp->tcp_wstamp_ns);
    }
    return true;
}

// sk_pacing_rate from cwnd, MSS and SRTT: 200% of the current rate in slow
// start (below half of ssthresh), 120% after, capped by
// SO_MAX_PACING_RATE. Kept current on every ACK whether or not the socket
// paces (TCP_INFO reports it, as Linux).
void tcp_update_pacing_rate(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    const stack_sysctl& sys = sk->sk_net->sysctl();
    // mss * ratio% * max(cwnd, packets_out) / (srtt_us / 8) * 1e6, in bytes/s.
    uint64_t rate = uint64_t(tp->mss_cache) * ((1'000'000 / 100) << 3);
    rate *= tp->snd_cwnd < tp->snd_ssthresh / 2 ? sys.pacing_ss_ratio : sys.pacing_ca_ratio;
    rate *= std::max(tp->snd_cwnd, tp->packets_out);
    if (tp->srtt_us != 0) {
        rate /= tp->srtt_us;
    }
    sk->sk_pacing_rate = std::min(rate, sk->sk_max_pacing_rate);
}

static int tcp_fragment(sock* sk, pbuf* skb, uint32_t len) {
    tcp_sock* tp = tcp_sk(sk);
    if (len >= skb->len) {
        return 0;
    }
    const uint32_t rest = skb->len - len;
    pbuf* p = tcp_alloc_skb(sk, rest);
    if (!p) {
        return -ENOBUFS;
    }
    std::memcpy(p->append(rest), skb->data + len, rest);
    tcp_skb_cb* cb = TCP_SKB_CB(skb);
    tcp_skb_cb* ncb = TCP_SKB_CB(p);
    *ncb = *cb;
    ncb->seq = cb->seq + len;
    cb->end_seq = cb->seq + len;
    ncb->tcp_flags = cb->tcp_flags;
    cb->tcp_flags &= uint8_t(~(wire::TCPF_FIN | wire::TCPF_PSH));
    skb->trim(len);
    sk->sk_wmem_queued += int(p->truesize);
    sk->sk_write_queue.insert_after(skb, pbuf_ptr(p));
    if (cb->sacked & TCPCB_LOST) {
        ++tp->lost_out;  // both parts are lost
    }
    if ((cb->sacked & TCPCB_RETRANS) != 0) {
        ++tp->retrans_out;
    }
    if (cb->when != 0 && (before(cb->seq, tp->snd_nxt))) {
        ++tp->packets_out;  // both parts are in flight
    }
    return 0;
}

// ------------------------------------------------------------ transmit

// Builds the headers for one segment and hands it to IP (tcp_transmit_skb).
// orig is a write-queue segment (sent as a clone, the queue keeps it) or
// nullptr for a segment without data (ACK, RST) described by seq/flags.
static int tcp_transmit(sock* sk, pbuf* orig, seq32 seq, uint8_t flags) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    pbuf_ptr skb;
    if (orig) {
        if (net.pool().data_shared(orig)) {
            // A previous clone is still queued somewhere (device, ARP): its
            // headers live in the same headroom. Send a private copy.
            pbuf* c = net.pool().alloc(MAX_HEADER, orig->len);
            if (!c) {
                net.drop(drop_reason::tx_no_buffer);
                return -ENOBUFS;
            }
            std::memcpy(c->append(orig->len), orig->data, orig->len);
            skb = pbuf_ptr(c);
        } else {
            skb = pbuf_ptr(net.pool().clone(orig));
            if (!skb) {
                net.drop(drop_reason::tx_no_buffer);
                return -ENOBUFS;
            }
        }
    } else {
        pbuf* p = net.pool().alloc(MAX_HEADER, 0);
        if (!p) {
            net.drop(drop_reason::tx_no_buffer);
            return -ENOBUFS;
        }
        skb = pbuf_ptr(p);
    }

    wire::tcp_repr th;
    th.sport = tp->inet_sport;
    th.dport = tp->inet_dport;
    th.seq = seq;
    const bool syn = (flags & wire::TCPF_SYN) != 0;
    if (!syn) {
        flags = tcp_ecn_send(tp, skb->len, seq, flags);  // ECT(0)/CWR/ECE (RFC 3168)
    }
    th.flags = flags;
    if (flags & wire::TCPF_ACK) {
        th.ack = tp->rcv_nxt;
    }
    if (syn) {
        // RFC 7323 §2.2: the window in a SYN is never scaled.
        th.window = uint16_t(std::min<uint32_t>(tp->rcv_wnd, TCP_MAX_WINDOW));
        th.opt.has_mss = true;
        th.opt.mss = tp->advmss;
        const bool synack = (flags & wire::TCPF_ACK) != 0;
        const stack_sysctl& sys = net.sysctl();
        if (synack ? tp->rx_opt.wscale_ok : sys.window_scaling) {
            th.opt.has_wscale = true;
            th.opt.wscale = tp->rx_opt.rcv_wscale;
        }
        if (synack ? tp->rx_opt.sack_ok : sys.sack) {
            th.opt.sack_permitted = true;
        }
        if (synack ? tp->rx_opt.tstamp_ok : sys.timestamps) {
            th.opt.has_ts = true;
            th.opt.ts_val = tcp_time_stamp(tp);
            th.opt.ts_ecr = synack ? tp->rx_opt.ts_recent : 0;
        }
    } else {
        th.window = uint16_t(tcp_select_window(sk));
        if (tp->rx_opt.tstamp_ok) {
            th.opt.has_ts = true;
            th.opt.ts_val = tcp_time_stamp(tp);
            th.opt.ts_ecr = tp->rx_opt.ts_recent;
        }
        if (tp->rx_opt.sack_ok && (tp->num_sacks != 0 || tp->dsack) && !(flags & wire::TCPF_RST)) {
            const uint8_t room = th.opt.has_ts ? 3 : 4;
            uint8_t n = 0;
            if (tp->dsack) {
                // RFC 2883 §4: the D-SACK block goes first, sent once.
                th.opt.sacks[n++] = tp->duplicate_sack;
                tp->dsack = false;
                ++net.counters().tcp_dsack_tx;
            }
            for (uint8_t i = 0; i < tp->num_sacks && n < room; ++i) {
                th.opt.sacks[n++] = tp->selective_acks[i];
            }
            th.opt.num_sacks = n;
        }
    }
    const uint32_t payload = skb->len;
    const size_t hl = th.emit_header_len();
    th.emit({skb->prepend(uint32_t(hl)), hl});
    if (net.dev().offloads() & NETDEV_TX_TCP_CSUM) {
        const uint16_t ph = wire::tcp_pseudo_csum(tp->inet_saddr, tp->inet_daddr, uint16_t(skb->len));
        wire::store16(skb->data + 16, ph);
        skb->flags |= PBUF_TX_TCP_CSUM;
        skb->l4_len = uint8_t(hl);
    } else {
        wire::tcp_fill_checksum(skb->span(), tp->inet_saddr, tp->inet_daddr);
    }

    if (flags & wire::TCPF_ACK) {
        // tcp_event_ack_sent: this segment carries the ACK we owed.
        if (tp->icsk_ack.quick > 0 && tp->icsk_ack.pending) {
            --tp->icsk_ack.quick;
        }
        tp->icsk_ack.pending = 0;
        net.timers().del_timer(&tp->icsk_delack_timer);
    }
    ++tp->segs_out;
    ++net.counters().tcp_out_segs;
    if (payload > 0) {
        ++tp->data_segs_out;
        tcp_update_skb_after_send(sk, uint32_t(payload));
        // tcp_event_data_sent: data sent within ato of the last data
        // received is a reply: the connection is interactive (pingpong, as
        // Linux with TCP_PINGPONG_THRESH 1), so the ACK of the next request
        // waits to ride on its reply instead of going out alone at each read.
        const nsec_t now = net.now();
        if (now - tp->icsk_ack.lrcvtime < tp->icsk_ack.ato) {
            tp->icsk_ack.pingpong = true;
        }
        tp->lsndtime = now;
    }
    if (flags & wire::TCPF_RST) {
        ++net.counters().tcp_out_rsts;
    }
    int err = ip_build_and_send(net, std::move(skb), tp->inet_saddr, tp->inet_daddr, wire::ipproto_tcp,
                                tp->uc_ttl, syn ? uint8_t(tp->tos & ~INET_ECN_MASK) : tp->tos, true);
    if (err < 0 && !sk->sk_err_soft) {
        sk->sk_err_soft = -err;
    }
    return err;
}

// Sends write-queue segment skb (first transmission or retransmission).
static int tcp_transmit_skb(sock* sk, pbuf* skb) {
    tcp_skb_cb* cb = TCP_SKB_CB(skb);
    uint8_t flags = cb->tcp_flags;
    if (!(flags & wire::TCPF_SYN) || tcp_sk(sk)->sk_state != TCP_SYN_SENT) {
        flags |= wire::TCPF_ACK;  // everything after our SYN carries an ACK
    }
    return tcp_transmit(sk, skb, cb->seq, flags);
}

bool tcp_nagle_test(const tcp_sock* tp, const pbuf* skb, uint32_t mss, int nonagle) {
    if (nonagle & TCP_NAGLE_PUSH) {
        return true;
    }
    const tcp_skb_cb* cb = const_cast<pbuf*>(skb)->cb_as<tcp_skb_cb>();
    if (cb->tcp_flags & wire::TCPF_FIN) {
        return true;
    }
    const bool partial = skb->len < mss;
    if (!partial) {
        return true;
    }
    if (nonagle & TCP_NAGLE_CORK) {
        return false;
    }
    if (nonagle & TCP_NAGLE_OFF) {
        return true;
    }
    // Nagle with Minshall's variant: hold a small segment only while an
    // earlier small segment is unacknowledged.
    const bool small_unacked = after(tp->snd_sml, tp->snd_una) && !after(tp->snd_sml, tp->snd_nxt);
    return !(tp->packets_out != 0 && small_unacked);
}

static seq32 tcp_wnd_end(const tcp_sock* tp) { return tp->snd_una + tp->snd_wnd; }

static void tcp_event_new_data_sent(sock* sk, pbuf* skb) {
    tcp_sock* tp = tcp_sk(sk);
    tcp_skb_cb* cb = TCP_SKB_CB(skb);
    const nsec_t now = sk->sk_net->now();
    tcp_rate_skb_sent(sk, skb);  // before packets_out counts it
    cb->when = now;
    tp->send_head = skb->next;
    tp->snd_nxt = cb->end_seq;
    ++tp->packets_out;
    if (tp->icsk_ca_state == TCP_CA_Recovery || tp->icsk_ca_state == TCP_CA_CWR) {
        ++tp->prr_out;
    }
    if (!tp->icsk_retransmit_timer.pending() || tp->icsk_pending == ICSK_TIME_PROBE0) {
        tcp_rearm_rto(sk);
    }
}

// Arms the persist timer when data waits on a closed window with nothing in
// flight (tcp_check_probe_timer).
static void tcp_check_probe_timer(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    if (tp->packets_out == 0 && tp->send_head && !tp->icsk_retransmit_timer.pending()) {
        inet_csk_reset_xmit_timer(sk, ICSK_TIME_PROBE0, inet_csk_rto_backoff(tp, sk->sk_net->sysctl().rto_max));
    }
}

void tcp_write_xmit(sock* sk, int nonagle) {
    tcp_sock* tp = tcp_sk(sk);
    if (sk->sk_state == TCP_SYN_SENT || sk->sk_state == TCP_SYN_RECV || sk->sk_state == TCP_CLOSE ||
        sk->sk_state == TCP_LISTEN) {
        return;
    }
    const uint32_t mss = tcp_current_mss(sk);
    bool sent_any = false;
    while (pbuf* skb = tp->send_head) {
        tcp_skb_cb* cb = TCP_SKB_CB(skb);
        if (tp->packets_in_flight() >= tp->snd_cwnd) {
            break;
        }
        if (tcp_pacing_check(sk)) {
            break;
        }
        if (skb->len > mss) {
            if (tcp_fragment(sk, skb, mss) < 0) {
                break;
            }
        }
        // Whole segment must fit the offered window (tcp_snd_wnd_test).
        if (after(cb->end_seq, tcp_wnd_end(tp)) && skb->len > 0) {
            break;
        }
        if (after(cb->end_seq, tcp_wnd_end(tp)) && skb->len == 0 && (cb->tcp_flags & wire::TCPF_FIN) &&
            after(cb->seq, tcp_wnd_end(tp))) {
            break;
        }
        // Nagle applies to the last, partial segment only.
        if (!skb->next && !tcp_nagle_test(tp, skb, mss, nonagle)) {
            break;
        }
        if (tcp_transmit_skb(sk, skb) == -ENOBUFS) {
            break;
        }
        if (skb->len < mss) {
            tp->snd_sml = cb->end_seq;  // tcp_minshall_update
        }
        tcp_event_new_data_sent(sk, skb);
        sent_any = true;
    }
    if (!sent_any) {
        tcp_check_probe_timer(sk);
    } else if (tp->icsk_pending == ICSK_TIME_RETRANS || tp->icsk_pending == ICSK_TIME_LOSS_PROBE) {
        // New data went out: a tail loss probe 2*SRTT after it (RFC 8985 §7.2).
        (void)tcp_schedule_loss_probe(sk);
    }
}

void tcp_push_pending_frames(sock* sk) {
    tcp_write_xmit(sk, tcp_sk(sk)->nonagle);
}

void tcp_send_ack(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    if (sk->sk_state == TCP_CLOSE || sk->sk_state == TCP_LISTEN) {
        return;
    }
    (void)tcp_transmit(sk, nullptr, tp->snd_nxt, wire::TCPF_ACK);
}

void tcp_send_delayed_ack(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    nsec_t ato = tp->icsk_ack.ato != 0 ? tp->icsk_ack.ato : net.sysctl().ato_min;
    if (ato > net.sysctl().delack_max) {
        ato = net.sysctl().delack_max;
    }
    const nsec_t timeout = net.now() + ato;
    if (tp->icsk_ack.pending & ICSK_ACK_TIMER) {
        // Keep the earlier deadline.
        if (tp->icsk_delack_timer.expires <= timeout) {
            tp->icsk_ack.pending |= ICSK_ACK_SCHED;
            return;
        }
    }
    tp->icsk_ack.pending |= ICSK_ACK_SCHED | ICSK_ACK_TIMER;
    net.timers().mod_timer(&tp->icsk_delack_timer, timeout);
}

void tcp_send_fin(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    pbuf* tail = sk->sk_write_queue.back();
    if (tp->send_head && tail) {
        // Piggyback on the last unsent segment.
        tcp_skb_cb* cb = TCP_SKB_CB(tail);
        cb->tcp_flags |= wire::TCPF_FIN;
        cb->end_seq = cb->end_seq + 1;
        tp->write_seq = tp->write_seq + 1;
    } else {
        pbuf* p = tcp_alloc_skb(sk, 0);
        if (!p) {
            // Out of buffers: the retransmit timer path retries the FIN
            // (tcp_retransmit_timer sees write_seq unsent). TODO(#3): reserve.
            return;
        }
        tcp_init_nondata_skb(p, tp->write_seq, wire::TCPF_FIN | wire::TCPF_ACK);
        tp->write_seq = tp->write_seq + 1;
        tcp_queue_skb(sk, pbuf_ptr(p));
    }
    tcp_write_xmit(sk, TCP_NAGLE_OFF);
}

// Sends a RST for this connection (tcp_send_active_reset): seq = snd_nxt.
void tcp_send_active_reset(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    (void)tcp_transmit(sk, nullptr, tp->snd_nxt, wire::TCPF_RST | wire::TCPF_ACK);
}

static void tcp_connect_init(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    tcp_mtup_init(sk);
    tcp_sync_mss(sk, tp->icsk_pmtu_cookie);
    tp->rx_opt.rcv_wscale = net.sysctl().window_scaling ? net.sysctl().rcv_wscale : 0;
    const uint32_t space = tcp_full_space(sk);
    tp->window_clamp = tp->rx_opt.rcv_wscale ? std::min<uint32_t>(space, TCP_MAX_WINDOW << TCP_MAX_WSCALE)
                                             : std::min<uint32_t>(space, TCP_MAX_WINDOW);
    // tcp_select_initial_window: a multiple of the MSS, at most 64 KiB.
    const uint32_t mss = tp->advmss;
    tp->rcv_wnd = std::min<uint32_t>(space, TCP_MAX_WINDOW);
    tp->rcv_wnd = std::max<uint32_t>((tp->rcv_wnd / mss) * mss, mss);
    tp->rcv_ssthresh = tp->rcv_wnd;
    tp->icsk_ack.rcv_mss = uint16_t(std::min<uint32_t>(tp->advmss, TCP_MSS_DEFAULT));
    tp->snd_wnd = 0;
    tp->snd_una = tp->write_seq;
    tp->snd_sml = tp->write_seq;
    tp->snd_up = tp->write_seq;
    tp->snd_nxt = tp->write_seq;
    tp->iss = tp->write_seq;
    tp->rcv_nxt = seq32(0);
    tp->rcv_wup = seq32(0);
    tp->copied_seq = seq32(0);
    tp->icsk_rto = net.sysctl().rto_init;
    tp->icsk_retransmits = 0;
    tp->icsk_backoff = 0;
}

int tcp_connect(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    tcp_connect_init(sk);
    pbuf* p = tcp_alloc_skb(sk, 0);
    if (!p) {
        return -ENOBUFS;
    }
    tcp_init_nondata_skb(p, tp->write_seq, wire::TCPF_SYN);
    tcp_ecn_send_syn(tp, TCP_SKB_CB(p));
    tp->write_seq = tp->write_seq + 1;
    tp->retrans_stamp = net.now();
    tcp_queue_skb(sk, pbuf_ptr(p));
    (void)tcp_transmit_skb(sk, p);
    tcp_event_new_data_sent(sk, p);
    ++net.counters().tcp_active_opens;
    inet_csk_reset_xmit_timer(sk, ICSK_TIME_RETRANS, tp->icsk_rto);
    return 0;
}

// The child's SYN-ACK sits in its write queue like an active SYN, so the
// retransmit timer resends it (tcp_make_synack + reqsk timer).
int tcp_send_synack(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    pbuf* p = tcp_alloc_skb(sk, 0);
    if (!p) {
        return -ENOBUFS;
    }
    // ECE when the SYN asked for ECN (tcp_ecn_make_synack); kept on
    // retransmissions, as Linux.
    tcp_init_nondata_skb(p, tp->iss, tcp_ecn_synack_flags(tp, wire::TCPF_SYN | wire::TCPF_ACK));
    tp->write_seq = tp->iss + 1;
    tp->retrans_stamp = sk->sk_net->now();
    tcp_queue_skb(sk, pbuf_ptr(p));
    (void)tcp_transmit(sk, p, tp->iss, TCP_SKB_CB(p)->tcp_flags);
    tcp_event_new_data_sent(sk, p);
    return 0;
}

int tcp_retransmit_skb(sock* sk, pbuf* skb) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    tcp_skb_cb* cb = TCP_SKB_CB(skb);
    // Partly acknowledged head: send only what is missing (tcp_trim_head).
    if (before(cb->seq, tp->snd_una) && skb->len > 0 && !(cb->tcp_flags & wire::TCPF_SYN)) {
        const uint32_t acked = uint32_t(tp->snd_una - cb->seq);
        if (acked < skb->len) {
            skb->adj(acked);
            cb->seq = tp->snd_una;
        }
    }
    // Never beyond the offered window, except the head (RFC 9293 §3.8.6.1).
    if (!before(cb->seq, tcp_wnd_end(tp)) && cb->seq != tp->snd_una) {
        return -EAGAIN;
    }
    const uint32_t mss = tcp_current_mss(sk);
    if (skb->len > mss) {
        if (int err = tcp_fragment(sk, skb, mss); err < 0) {
            return err;
        }
    }
    if (tp->retrans_stamp == 0) {
        tp->retrans_stamp = cb->when != 0 ? cb->when : net.now();
    }
    tcp_ecn_clear_syn(cb);
    const int err = tcp_transmit_skb(sk, skb);
    if (err == -ENOBUFS) {
        return err;
    }
    if (!(cb->sacked & TCPCB_RETRANS)) {
        ++tp->retrans_out;
    }
    if (tp->undo_armed) {
        // Undo bookkeeping (RFC 3522 / 3708): the first retransmission's
        // TSval, and how many retransmissions D-SACKs must explain.
        ++tp->undo_retrans;
        if (tp->undo_tsval == 0) {
            tp->undo_tsval = tcp_time_stamp(tp);
        }
    }
    if (tp->icsk_ca_state == TCP_CA_Recovery || tp->icsk_ca_state == TCP_CA_CWR) {
        ++tp->prr_out;
    }
    tcp_rate_skb_sent(sk, skb);
    cb->sacked |= TCPCB_RETRANS | TCPCB_EVER_RETRANS;
    ++cb->retrans;
    cb->when = net.now();
    ++tp->total_retrans;
    ++net.counters().tcp_retrans_segs;
    return 0;
}

// Retransmits segments marked lost, as far as cwnd allows
// (tcp_xmit_retransmit_queue).
void tcp_xmit_retransmit_queue(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    if (tp->lost_out == 0) {
        return;
    }
    for (pbuf* skb = sk->sk_write_queue.front(); skb && skb != tp->send_head; skb = skb->next) {
        if (tp->packets_in_flight() >= tp->snd_cwnd) {
            break;
        }
        tcp_skb_cb* cb = TCP_SKB_CB(skb);
        if ((cb->sacked & (TCPCB_LOST | TCPCB_RETRANS | TCPCB_SACKED)) != TCPCB_LOST) {
            continue;
        }
        if (tcp_pacing_check(sk)) {
            break;
        }
        if (tcp_retransmit_skb(sk, skb) < 0) {
            break;
        }
        if (skb == sk->sk_write_queue.front()) {
            tcp_rearm_rto(sk);
        }
    }
}

// A pure ACK with an old sequence number: the peer must answer it with an
// ACK carrying its current window (tcp_xmit_probe_skb).
static void tcp_xmit_probe_skb(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    (void)tcp_transmit(sk, nullptr, tp->snd_una - 1, wire::TCPF_ACK);
}

void tcp_send_window_probe(sock* sk) {
    if (sk->sk_state != TCP_CLOSE) {
        tcp_xmit_probe_skb(sk);
    }
}

// Sends what fits a window that opened only partly, or a probe
// (tcp_write_wakeup). Returns > 0 when data went out.
int tcp_write_wakeup(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    if (sk->sk_state == TCP_CLOSE) {
        return -1;
    }
    pbuf* skb = tp->send_head;
    if (skb && before(TCP_SKB_CB(skb)->seq, tcp_wnd_end(tp))) {
        tcp_skb_cb* cb = TCP_SKB_CB(skb);
        const uint32_t mss = tcp_current_mss(sk);
        uint32_t seg_size = uint32_t(tcp_wnd_end(tp) - cb->seq);
        seg_size = std::min(seg_size, mss);
        if (skb->len > seg_size) {
            if (tcp_fragment(sk, skb, seg_size) < 0) {
                return -1;
            }
        }
        cb->tcp_flags |= wire::TCPF_PSH;
        if (tcp_transmit_skb(sk, skb) < 0) {
            return -1;
        }
        tcp_event_new_data_sent(sk, skb);
        return 1;
    }
    tcp_xmit_probe_skb(sk);
    return 0;
}

void tcp_send_probe0(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    const int err = tcp_write_wakeup(sk);
    // Every persist-timer probe counts, also one that carried the data a
    // sliver of window allowed.
    ++net.counters().tcp_zero_window_probes;
    if (tp->packets_out != 0 || !tp->send_head) {
        // Data is moving again: the retransmit timer takes over.
        tp->icsk_probes_out = 0;
        tp->icsk_backoff = 0;
        return;
    }
    if (err <= 0) {
        if (tp->icsk_backoff < 15) {
            ++tp->icsk_backoff;
        }
        ++tp->icsk_probes_out;
    }
    inet_csk_reset_xmit_timer(sk, ICSK_TIME_PROBE0, inet_csk_rto_backoff(tp, net.sysctl().rto_max));
}

// An ACK answering an out-of-window or otherwise unacceptable segment,
// rate-limited per socket (the kernel's tcp_oow_rate_limited, 500 ms), so
// two stacks cannot ACK each other in a loop and a blind attacker cannot
// make us flood.
bool tcp_oow_rate_limited(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    const nsec_t now = sk->sk_net->now();
    if (tp->last_oow_ack_time != 0 && now - tp->last_oow_ack_time < 500 * NSEC_PER_MSEC) {
        return true;
    }
    tp->last_oow_ack_time = now;
    return false;
}

// RFC 5961 §3.2/§4.2/§5.2 challenge ACK.
void tcp_send_challenge_ack(sock* sk) {
    if (tcp_oow_rate_limited(sk)) {
        return;
    }
    // RFC 5961 §7: a stack-wide limit too (Linux's tcp_challenge_ack_limit,
    // 1000/s). As Linux since CVE-2016-5696, each second's budget is drawn
    // from [limit/2, 3*limit/2), so an off-path attacker cannot count it.
    stack& net = *sk->sk_net;
    const uint32_t limit = net.sysctl().challenge_ack_limit;
    const uint64_t second = uint64_t(net.now() / NSEC_PER_SEC);
    if (second != net.challenge_second) {
        net.challenge_second = second;
        net.challenge_quota = limit / 2 + (limit != 0 ? uint32_t(net.random() % limit) : 0);
    }
    if (net.challenge_quota == 0) {
        ++net.counters().tcp_challenge_ack_limited;
        return;
    }
    --net.challenge_quota;
    ++sk->sk_net->counters().tcp_challenge_acks;
    tcp_send_ack(sk);
}

}  // namespace dshim

namespace dshim {

// After the user read `copied` bytes: send a window update when the window
// we could offer has at least doubled (tcp_cleanup_rbuf), so a sender
// stalled on our closed window resumes without waiting for its probe.
void tcp_cleanup_rbuf(sock* sk, int copied) {
    tcp_sock* tp = tcp_sk(sk);
    bool time_to_ack = false;
    if (tp->icsk_ack.pending & ICSK_ACK_SCHED) {
        const uint32_t rcv_mss = std::max<uint32_t>(tp->icsk_ack.rcv_mss, 1);
        // More than one full segment not yet ACKed by tcp_input.cc, or
        // this read drained a small pushed segment of a one-way flow.
        if (uint32_t(tp->rcv_nxt - tp->rcv_wup) > rcv_mss ||
            (copied > 0 && (tp->icsk_ack.pending & ICSK_ACK_PUSHED) && !tp->icsk_ack.pingpong &&
             sk->sk_rmem_alloc == 0)) {
            time_to_ack = true;
        }
    }
    if (!time_to_ack && copied > 0 && !(sk->sk_shutdown & RCV_SHUTDOWN) &&
        ((1u << sk->sk_state) & (TCPF_ESTABLISHED | TCPF_FIN_WAIT1 | TCPF_FIN_WAIT2))) {
        const uint32_t rcv_window_now = tcp_receive_window(tp);
        if (2 * rcv_window_now <= tp->window_clamp) {
            const uint32_t new_window = tcp_select_window_raw(sk);
            if (new_window != 0 && new_window >= 2 * rcv_window_now) {
                time_to_ack = true;
                ++sk->sk_net->counters().tcp_window_updates;
            }
        }
    }
    if (time_to_ack) {
        tcp_send_ack(sk);
    }
}

}  // namespace dshim
