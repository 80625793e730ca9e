// Passive open and TIME_WAIT. A SYN on a listener creates a child socket in
// SYN_RECV (the kernel keeps a request_sock; a full child is simpler and the
// SYN queue is bounded), which moves to the accept queue when the handshake
// completes. TIME_WAIT lives in a minisocket so the full socket can go.
// Kernel counterparts: net/ipv4/tcp_minisocks.c, inet_connection_sock.c
// (accept queue), tcp_input.c (tcp_conn_request), inet_timewait_sock.c.
// SYN cookies: syncookies.cc.
// RFC 9293 §3.10.7.2 (LISTEN), §3.6.1 (TIME_WAIT), RFC 6191 (SYN in TIME_WAIT).
#include <algorithm>
#include <cerrno>

#include "core/stack.hh"
#include "ipv4/ip.hh"
#include "ipv4/syncookies.hh"
#include "ipv4/tcp.hh"
#include "ipv4/tcp_ecn.hh"
#include "ipv4/tcp_timewait_sock.hh"

namespace dshim {

using wire::after;
using wire::before;

void tcp_conn_request(sock* listener, const wire::ipv4_repr& iph, const wire::tcp_repr& th) {
    stack& net = *listener->sk_net;
    inet_connection_sock* lsk = inet_csk(listener);
    const uint8_t syncookies = net.sysctl().syncookies;
    const uint32_t syn_limit = std::max<uint32_t>(
        std::min<uint32_t>(net.sysctl().max_syn_backlog, std::max<uint32_t>(listener->sk_max_ack_backlog, 8)), 8);
    // SYN cookies (tcp_conn_request's want_cookie): always with 2, when the
    // SYN queue is full with 1. As in Linux, a full accept queue still drops
    // the SYN below, cookies or not: a cookie child could not be queued.
    const bool want_cookie =
        syncookies == 2 || (syncookies == 1 && lsk->icsk_syn_queue_len >= syn_limit);
    // A full accept queue refuses new SYNs (Linux: ListenOverflows).
    // Full means more than the backlog, as Linux's sk_acceptq_is_full:
    // listen(0) still takes one.
    if (listener->sk_ack_backlog > listener->sk_max_ack_backlog) {
        ++net.counters().tcp_listen_overflows;
        ++net.counters().tcp_listen_drops;
        net.drop(drop_reason::tcp_listen_overflow);
        return;
    }
    if (want_cookie) {
        tcp_syn_cookie_send(listener, iph, th);  // no state (syncookies.cc)
        return;
    }
    if (lsk->icsk_syn_queue_len >= syn_limit) {
        ++net.counters().tcp_listen_drops;
        net.drop(drop_reason::tcp_listen_overflow);
        return;
    }
    sock* child = tcp_create_openreq_child(listener, iph, th, nullptr);
    if (!child) {
        ++net.counters().tcp_listen_drops;
        net.drop(drop_reason::tcp_listen_overflow);
        return;
    }
    tcp_sock* tp = tcp_sk(child);
    ++net.counters().tcp_passive_opens;
    if (tcp_send_synack(child) < 0) {
        inet_csk_reqsk_queue_drop(child);
        return;
    }
    inet_csk_reset_xmit_timer(child, ICSK_TIME_RETRANS, tp->icsk_rto);
}

// The child of a SYN (or, with co, of a valid cookie ACK): SYN_RECV, hashed,
// at the front of the listener's queue (tcp_create_openreq_child).
sock* tcp_create_openreq_child(sock* listener, const wire::ipv4_repr& iph, const wire::tcp_repr& th,
                               const syncookie_opts* co) {
    stack& net = *listener->sk_net;
    inet_connection_sock* lsk = inet_csk(listener);
    sock* child = listener->sk_prot->alloc(&net);
    if (!child) {
        return nullptr;
    }
    tcp_sock* tp = tcp_sk(child);
    tcp_sock* ltp = tcp_sk(listener);
    child->sk_family = listener->sk_family;
    child->sk_type = listener->sk_type;
    child->sk_protocol = listener->sk_protocol;
    child->sk_prot = listener->sk_prot;
    child->sk_net = &net;
    tcp_init_sock_common(child);
    // Inherited settings (inet_csk_clone_lock / tcp_create_openreq_child).
    child->sk_rcvbuf = listener->sk_rcvbuf;
    child->sk_sndbuf = listener->sk_sndbuf;
    child->sk_flags = listener->sk_flags & (SOCK_KEEPOPEN | SOCK_LINGER | SOCK_URGINLINE | SOCK_RCVBUF_LOCK |
                                            SOCK_SNDBUF_LOCK);
    child->sk_reuse = listener->sk_reuse;          // sk_clone_lock copies the whole sock:
    child->sk_reuseport = listener->sk_reuseport;  // a re-bind of the port sees the same flags
    child->sk_lingertime = listener->sk_lingertime;
    child->sk_rcvlowat = listener->sk_rcvlowat;
    child->sk_rcvtimeo = listener->sk_rcvtimeo;
    child->sk_sndtimeo = listener->sk_sndtimeo;
    child->sk_max_pacing_rate = listener->sk_max_pacing_rate;
    child->sk_pacing_status = listener->sk_pacing_status;
    tp->nonagle = ltp->nonagle;
    tp->keepalive_time = ltp->keepalive_time;
    tp->keepalive_intvl = ltp->keepalive_intvl;
    tp->keepalive_probes = ltp->keepalive_probes;
    tp->linger2 = ltp->linger2;
    tp->icsk_user_timeout = ltp->icsk_user_timeout;
    tp->icsk_syn_retries = ltp->icsk_syn_retries;
    tp->rx_opt.user_mss = ltp->rx_opt.user_mss;
    tp->icsk_ca_ops = ltp->icsk_ca_ops;
    tp->uc_ttl = ltp->uc_ttl;
    tp->tos = ltp->tos;
    // Addresses.
    tp->inet_rcv_saddr = iph.dst;
    tp->inet_saddr = iph.dst;
    tp->inet_daddr = iph.src;
    tp->inet_dport = th.sport;
    tp->inet_num = th.dport;
    tp->inet_sport = th.dport;
    // The child shares the listener's port: it is in the bind hash so the
    // port stays owned while connections live (inet_inherit_port).
    net.bhash[th.dport % stack::bhash_size].add_tail(&tp->bind_node);
    // Options (RFC 9293 §3.7.1, RFC 7323, RFC 2018).
    tp->rx_opt.rcv_wscale = net.sysctl().window_scaling ? net.sysctl().rcv_wscale : 0;
    tcp_parse_options_into(tp, th);
    {
        // tcp_negotiate_syn_options is file-local in tcp_input.cc; the same
        // rules here for the passive side.
        const stack_sysctl& sys = net.sysctl();
        tcp_options_received& rx = tp->rx_opt;
        rx.mss_clamp = th.opt.has_mss && th.opt.mss != 0 ? th.opt.mss : TCP_MSS_DEFAULT;
        if (rx.user_mss != 0 && rx.mss_clamp > rx.user_mss) {
            rx.mss_clamp = rx.user_mss;
        }
        rx.wscale_ok = th.opt.has_wscale && sys.window_scaling;
        rx.snd_wscale = rx.wscale_ok ? std::min<uint8_t>(th.opt.wscale, TCP_MAX_WSCALE) : 0;
        if (!rx.wscale_ok) {
            rx.rcv_wscale = 0;
        }
        rx.sack_ok = th.opt.sack_permitted && sys.sack;
        rx.tstamp_ok = th.opt.has_ts && sys.timestamps;
        if (rx.tstamp_ok) {
            rx.ts_recent = th.opt.ts_val;
            rx.ts_recent_stamp = net.now();
        }
        if (co) {
            // The SYN is gone: what the cookie remembered (cookie_v4_check).
            rx.mss_clamp = co->mss;
            if (rx.user_mss != 0 && rx.mss_clamp > rx.user_mss) {
                rx.mss_clamp = rx.user_mss;
            }
            rx.tstamp_ok = co->tstamp_ok && th.opt.has_ts;
            rx.wscale_ok = co->wscale_ok;
            rx.snd_wscale = co->snd_wscale;
            rx.rcv_wscale = co->wscale_ok ? sys.rcv_wscale : 0;
            rx.sack_ok = co->sack_ok;
        }
    }
    // ECN (tcp_ecn_create_request / tcp_ecn_openreq_child): from the SYN, or
    // from the bit the cookie kept in our TSval.
    tp->ecn_flags = (co ? co->ecn_ok : tcp_ecn_syn_ok(net.sysctl(), iph.tos, th.flags)) ? TCP_ECN_OK : 0;
    tcp_mtup_init(child);
    tcp_sync_mss(child, tp->icsk_pmtu_cookie);
    const uint32_t space = tcp_space(child);
    tp->window_clamp = tp->rx_opt.rcv_wscale ? std::min<uint32_t>(space, TCP_MAX_WINDOW << TCP_MAX_WSCALE)
                                             : std::min<uint32_t>(space, TCP_MAX_WINDOW);
    // tcp_openreq_init_rwin: a multiple of the MSS a segment will really
    // carry (less the timestamp option when negotiated: 45 x 1448 = 65160,
    // Linux's SYN-ACK window with timestamps; 44 x 1460 = 64240 without).
    const uint32_t wmss = tp->advmss - (tp->rx_opt.tstamp_ok ? 12u : 0u);  // TCPOLEN_TSTAMP_ALIGNED
    tp->rcv_wnd = std::min<uint32_t>(space, TCP_MAX_WINDOW);
    tp->rcv_wnd = std::max<uint32_t>((tp->rcv_wnd / wmss) * wmss, wmss);
    tp->rcv_ssthresh = tp->rcv_wnd;
    tp->icsk_ack.rcv_mss = uint16_t(std::min<uint32_t>(tp->advmss, TCP_MSS_DEFAULT));
    tp->irs = co ? th.seq - 1 : th.seq;  // a cookie ACK is one past the peer's ISN
    tp->rcv_nxt = tp->irs + 1;
    tp->rcv_wup = tp->rcv_nxt;
    tp->copied_seq = tp->rcv_nxt;
    tp->snd_wnd = th.window;  // unscaled in a SYN
    tp->max_window = tp->snd_wnd;
    tp->snd_wl1 = th.seq;
    tp->iss = co ? co->iss : secure_tcp_seq(net, iph.dst, iph.src, th.dport, th.sport);
    tp->tsoffset = secure_tcp_ts_off(net, iph.dst, iph.src);
    tp->snd_una = tp->iss;
    tp->snd_nxt = tp->iss;
    tp->snd_sml = tp->iss;
    tp->snd_up = tp->iss;
    tp->write_seq = tp->iss;
    tp->icsk_rto = net.sysctl().rto_init;
    tcp_set_state(child, TCP_SYN_RECV);
    inet_ehash_insert(child);
    // Not yet the user's: an orphan owned by the listener until accept().
    child->sock_set_flag(SOCK_DEAD);
    tp->icsk_parent = lsk;
    lsk->icsk_accept_queue.add_front(&tp->icsk_accept_node);  // front part: SYN_RECV ones
    ++lsk->icsk_syn_queue_len;
    return child;
}

// The handshake completed: move the child to the tail of the accept queue.
// (The queue holds SYN_RECV children too; accept() takes only established
// ones, in the order they completed.)
void inet_csk_child_established(sock* child) {
    tcp_sock* tp = tcp_sk(child);
    inet_connection_sock* parent = tp->icsk_parent;
    if (!parent) {
        return;
    }
    tp->icsk_accept_node.del();
    parent->icsk_accept_queue.add_tail(&tp->icsk_accept_node);
    --parent->icsk_syn_queue_len;
    ++parent->sk_ack_backlog;
    sk_data_ready(parent);
}

// Forgets a child that never made it to accept() (RST, timeout, listener
// closed): no error is reported to anyone.
void inet_csk_reqsk_queue_drop(sock* child) {
    tcp_sock* tp = tcp_sk(child);
    if (tp->icsk_parent) {
        tp->icsk_accept_node.del();
        if (child->sk_state == TCP_SYN_RECV) {
            --tp->icsk_parent->icsk_syn_queue_len;
        } else {
            --tp->icsk_parent->sk_ack_backlog;
        }
        tp->icsk_parent = nullptr;
    }
    child->sock_set_flag(SOCK_DEAD);
    tcp_set_state(child, TCP_CLOSE);
    inet_csk_destroy_sock(child);
}

// The listener closes: reset established children, forget embryos
// (inet_csk_listen_stop).
void inet_csk_listen_stop(sock* listener) {
    inet_connection_sock* lsk = inet_csk(listener);
    while (!lsk->icsk_accept_queue.empty()) {
        auto* child = static_cast<tcp_sock*>(
            container_of(lsk->icsk_accept_queue.next, &inet_connection_sock::icsk_accept_node));
        if (child->sk_state != TCP_SYN_RECV && child->sk_state != TCP_CLOSE) {
            tcp_send_active_reset(child);
        }
        inet_csk_reqsk_queue_drop(child);
    }
}

// ------------------------------------------------------------- TIME_WAIT

namespace {

void tw_free(tcp_timewait_sock* tw) {
    stack& net = *tw->sk_net;
    net.timers().del_timer(&tw->tw_timer);
    if (tw->hash_node.linked()) {
        tw->hash_node.del();
        --net.ehash_count;
    }
    if (tw->bind_node.linked()) {
        tw->bind_node.del();
    }
    if (tw->sk_all_node.linked()) {
        tw->sk_all_node.del();
    }
    delete tw;
}

void tw_timer_fn(void* arg) { tw_free(static_cast<tcp_timewait_sock*>(arg)); }

void tw_send_ack(tcp_timewait_sock* tw) {
    const uint32_t win = tw->tw_rcv_wnd >> tw->tw_rcv_wscale;
    const uint32_t tsval = uint32_t(tw->sk_net->now() / NSEC_PER_MSEC) + tw->tw_ts_offset;
    tcp_v4_send_ack_raw(*tw->sk_net, tw->inet_saddr, tw->inet_daddr, tw->inet_sport, tw->inet_dport,
                        tw->tw_snd_nxt, tw->tw_rcv_nxt, uint16_t(std::min<uint32_t>(win, 65535)),
                        tw->tw_tstamp_ok, tsval, tw->tw_ts_recent);
}

}  // namespace

void inet_twsk_kill(tcp_timewait_sock* tw) { tw_free(tw); }

// Replaces sk by a TIME_WAIT minisocket for 2*MSL (RFC 9293 §3.6.1) and
// finishes the full socket (tcp_time_wait).
void tcp_time_wait(sock* sk, int state, nsec_t timeo) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    auto* tw = new tcp_timewait_sock();
    tw->sk_family = sk->sk_family;
    tw->sk_type = sk->sk_type;
    tw->sk_protocol = sk->sk_protocol;
    tw->sk_state = TCP_TIME_WAIT;
    tw->sk_net = &net;
    tw->sk_prot = sk->sk_prot;
    tw->sk_reuse = sk->sk_reuse;
    tw->sk_reuseport = sk->sk_reuseport;
    tw->tw_substate = uint8_t(state);
    tw->inet_saddr = tp->inet_saddr;
    tw->inet_rcv_saddr = tp->inet_rcv_saddr;
    tw->inet_daddr = tp->inet_daddr;
    tw->inet_num = tp->inet_num;
    tw->inet_sport = tp->inet_sport;
    tw->inet_dport = tp->inet_dport;
    tw->tw_rcv_nxt = tp->rcv_nxt;
    tw->tw_snd_nxt = tp->snd_nxt;
    tw->tw_rcv_wnd = tcp_receive_window(tp);
    tw->tw_rcv_wscale = tp->rx_opt.rcv_wscale;
    tw->tw_tstamp_ok = tp->rx_opt.tstamp_ok;
    tw->tw_ts_recent = tp->rx_opt.ts_recent;
    tw->tw_ts_recent_stamp = tp->rx_opt.ts_recent_stamp;
    tw->tw_ts_offset = tp->tsoffset;
    tw->tw_timer.fn = tw_timer_fn;
    tw->tw_timer.arg = tw;
    net.all_socks.add_tail(&tw->sk_all_node);
    // Take over the 4-tuple and the port.
    tcp_done(sk);  // unhashes sk (and releases its port unless user-bound)
    inet_ehash_insert(tw);
    net.bhash[tw->inet_num % stack::bhash_size].add_tail(&tw->bind_node);
    const nsec_t len = timeo != 0 ? timeo : net.sysctl().timewait_len;
    net.timers().mod_timer(&tw->tw_timer, net.now() + len);
}

// RFC 9293 §3.10.7.4 for TIME_WAIT, as Linux does it (tcp_timewait_state_process):
// a RST kills it (RFC 1337 protection off, as Linux's default); a retransmitted
// FIN is ACKed and restarts 2*MSL; a new SYN with a higher sequence (or a
// newer timestamp, RFC 6191) may reopen; anything else is answered with an ACK.
bool tcp_timewait_state_process(tcp_timewait_sock* tw, pbuf_ptr& skb, const wire::ipv4_repr& iph,
                                const wire::tcp_repr& th) {
    stack& net = *tw->sk_net;
    (void)iph;
    const tcp_skb_cb* cb = TCP_SKB_CB(skb.get());
    if (th.flags & wire::TCPF_RST) {
        // Only a RST at exactly RCV.NXT kills it (Linux; RFC 5961 §3.2
        // spirit); any other RST is ignored.
        if (cb->seq == tw->tw_rcv_nxt) {
            tw_free(tw);
        }
        net.drop(drop_reason::tcp_rst);
        return true;
    }
    if ((th.flags & wire::TCPF_SYN) && !(th.flags & wire::TCPF_ACK)) {
        const bool newer_ts = tw->tw_tstamp_ok && th.opt.has_ts && int32_t(th.opt.ts_val - tw->tw_ts_recent) > 0;
        if (after(th.seq, tw->tw_rcv_nxt) || newer_ts) {
            ++net.counters().tcp_time_wait_recycled;
            tw_free(tw);
            return false;  // the listener takes it
        }
    }
    // A bare segment at RCV.NXT (the peer's last ACK) restarts 2*MSL and is
    // not answered, as in Linux: answering would make two TIME_WAIT ends
    // (simultaneous close) ACK each other forever.
    if (cb->seq == tw->tw_rcv_nxt && cb->seq == cb->end_seq) {
        net.timers().mod_timer(&tw->tw_timer, net.now() + net.sysctl().timewait_len);
        net.drop(drop_reason::tcp_closed);
        return true;
    }
    // Anything else carrying an ACK (a retransmitted FIN...) restarts it too.
    if (th.flags & (wire::TCPF_FIN | wire::TCPF_ACK)) {
        net.timers().mod_timer(&tw->tw_timer, net.now() + net.sysctl().timewait_len);
    }
    net.drop(drop_reason::tcp_closed);
    tw_send_ack(tw);
    return true;
}

}  // namespace dshim
