// TCP's user-facing operations (tcp_prot): init, sendmsg, recvmsg, close,
// shutdown, disconnect, poll, ioctl, state changes and socket lifetime.
// Kernel counterpart: net/ipv4/tcp.c. RFC 9293 §3.10.1-3.10.6 (user calls).
//
// All calls are non-blocking: where Linux would sleep they return -EAGAIN
// (the shim waits on the sock callbacks and calls again).
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>

#include "core/stack.hh"
#include "ipv4/ip.hh"
#include "ipv4/tcp.hh"
#include "ipv4/tcp_sockopt.hh"
#include "ipv4/tcp_timewait_sock.hh"

namespace dshim {

using wire::after;
using wire::before;

const char* tcp_state_name(int state) noexcept {
    static const char* const names[] = {"UNKNOWN",   "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1",
                                        "FIN_WAIT2", "TIME_WAIT",   "CLOSE",    "CLOSE_WAIT", "LAST_ACK",
                                        "LISTEN",    "CLOSING",     "NEW_SYN_RECV"};
    return state > 0 && state < TCP_MAX_STATES ? names[state] : "UNKNOWN";
}

// ------------------------------------------------------------ lifetime

void sock_hold(sock* sk) { ++sk->sk_refcnt; }

void sock_put(sock* sk) {
    if (--sk->sk_refcnt == 0) {
        sk->sk_prot->destroy_obj(sk);
    }
}

// Frees everything a dead, closed socket holds (inet_csk_destroy_sock).
void inet_csk_destroy_sock(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    tcp_clear_xmit_timers(sk);
    sk->sk_write_queue.purge();
    sk->sk_receive_queue.purge();
    tp->out_of_order_queue.purge();
    tp->send_head = nullptr;
    sk->sk_wmem_queued = 0;
    sk->sk_rmem_alloc = 0;
    inet_unhash(sk);
    inet_put_port(sk);
    if (tp->icsk_parent) {
        tp->icsk_accept_node.del();
        if (sk->sk_state == TCP_SYN_RECV) {
            --tp->icsk_parent->icsk_syn_queue_len;
        } else {
            --tp->icsk_parent->sk_ack_backlog;
        }
        tp->icsk_parent = nullptr;
    }
    if (sk->sk_all_node.linked()) {
        sk->sk_all_node.del();
        --net.sock_count;
    }
    sock_put(sk);
}

void tcp_set_state(sock* sk, int state) {
    const int old = sk->sk_state;
    stack& net = *sk->sk_net;
    if (state == TCP_CLOSE) {
        // The kernel's MIB rules: EstabResets for ESTABLISHED/CLOSE_WAIT
        // straight to CLOSE, AttemptFails for a handshake that never finished.
        if (old == TCP_CLOSE_WAIT || old == TCP_ESTABLISHED) {
            ++net.counters().tcp_estab_resets;
        } else if (old == TCP_SYN_SENT || old == TCP_SYN_RECV) {
            ++net.counters().tcp_attempt_fails;
        }
        inet_unhash(sk);
        if (!inet_sk(sk)->bindport_locked) {
            inet_put_port(sk);
        }
    }
    sk->sk_state = uint8_t(state);
}

// The connection is over (tcp_done): CLOSE, timers off, waiters woken; an
// orphan is freed.
void tcp_done(sock* sk) {
    tcp_set_state(sk, TCP_CLOSE);
    tcp_clear_xmit_timers(sk);
    sk->sk_shutdown = SHUTDOWN_MASK;
    if (!sk->sock_is_dead()) {
        sk_state_change(sk);
    } else {
        // An orphan of close() (children waiting for accept() have a parent
        // and were never counted) leaves the orphan count.
        if (!tcp_sk(sk)->icsk_parent && sk->sk_net->orphan_count > 0) {
            --sk->sk_net->orphan_count;
        }
        inet_csk_destroy_sock(sk);
    }
}

// A RST arrived (tcp_reset): the errno depends on the state (RFC 9293
// §3.10.7.3-4, Linux's choices).
void tcp_reset(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    if (tp->icsk_parent && sk->sk_state == TCP_SYN_RECV) {
        inet_csk_reqsk_queue_drop(sk);
        return;
    }
    switch (sk->sk_state) {
    case TCP_SYN_SENT: sk->sk_err = ECONNREFUSED; break;
    case TCP_CLOSE_WAIT: sk->sk_err = EPIPE; break;
    case TCP_CLOSE: return;
    default: sk->sk_err = ECONNRESET; break;
    }
    sk->sk_write_queue.purge();
    tp->send_head = nullptr;
    tp->packets_out = 0;
    sk->sk_wmem_queued = 0;
    if (!sk->sock_is_dead()) {
        sk_error_report(sk);
    }
    tcp_done(sk);
}

// A timeout gave up on the connection (tcp_write_err); sk_err is set.
void tcp_write_err(sock* sk) {
    if (!sk->sock_is_dead()) {
        sk_error_report(sk);
    }
    tcp_sock* tp = tcp_sk(sk);
    if (tp->icsk_parent && sk->sk_state == TCP_SYN_RECV) {
        inet_csk_reqsk_queue_drop(sk);
        return;
    }
    sk->sk_write_queue.purge();
    tp->send_head = nullptr;
    tp->packets_out = 0;
    sk->sk_wmem_queued = 0;
    tcp_done(sk);
}

void tcp_init_sock_common(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    tcp_init_xmit_timers(sk);
    tp->icsk_rto = net.sysctl().rto_init;
    tp->mss_cache = TCP_MSS_DEFAULT;
    tp->snd_cwnd = tcp_init_cwnd(tp);
    tp->snd_ssthresh = 0x7fffffff;
    tp->sk_state = TCP_CLOSE;
    sk->sk_sndbuf = net.sysctl().wmem_default;
    sk->sk_rcvbuf = net.sysctl().rmem_default;
    // tcp_assign_congestion_control: the stack default (cubic, as Linux).
    const tcp_congestion_ops* ca = tcp_ca_find(net.sysctl().congestion_control);
    tp->icsk_ca_ops = ca ? ca : &tcp_reno;
    net.all_socks.add_tail(&sk->sk_all_node);
    ++net.sock_count;
}

// ---------------------------------------------------------- proto ops

namespace {

sock* tcp_alloc(stack* net) {
    auto* tp = new tcp_sock();
    tp->sk_net = net;
    return tp;
}

void tcp_destroy_obj(sock* sk) { delete static_cast<tcp_sock*>(sk); }

int tcp_v4_init_sock(sock* sk) {
    tcp_init_sock_common(sk);
    return 0;
}

// Queued user data not yet sent, plus unacknowledged: SIOCOUTQ.
int tcp_outq(const tcp_sock* tp) { return int(uint32_t(tp->write_seq - tp->snd_una)); }

}  // namespace

int tcp_inq(sock* sk) {
    int n = 0;
    for (pbuf* p = sk->sk_receive_queue.front(); p; p = p->next) {
        n += int(p->len);
    }
    return n;
}

// The state close() moves to, and whether a FIN goes out (tcp_close_state,
// RFC 9293 §3.10.4).
static bool tcp_close_state(sock* sk) {
    switch (sk->sk_state) {
    case TCP_ESTABLISHED:
    case TCP_SYN_RECV:
        tcp_set_state(sk, TCP_FIN_WAIT1);
        return true;
    case TCP_CLOSE_WAIT:
        tcp_set_state(sk, TCP_LAST_ACK);
        return true;
    case TCP_SYN_SENT:
        tcp_set_state(sk, TCP_CLOSE);
        return false;
    default:
        return false;  // FIN already sent or nothing to close
    }
}

static void tcp_shutdown(sock* sk, int how) {
    if (!(how & SEND_SHUTDOWN)) {
        return;
    }
    if ((1u << sk->sk_state) & (TCPF_ESTABLISHED | TCPF_SYN_RECV | TCPF_CLOSE_WAIT)) {
        if (tcp_close_state(sk)) {
            tcp_send_fin(sk);
        }
    }
}

int tcp_disconnect(sock* sk, int /*flags*/) {
    tcp_sock* tp = tcp_sk(sk);
    const int old = sk->sk_state;
    if (old != TCP_CLOSE) {
        tcp_set_state(sk, TCP_CLOSE);
    }
    if (old == TCP_LISTEN) {
        inet_csk_listen_stop(sk);
    } else if ((1u << old) & (TCPF_ESTABLISHED | TCPF_CLOSE_WAIT | TCPF_FIN_WAIT1 | TCPF_FIN_WAIT2 |
                              TCPF_SYN_RECV | TCPF_CLOSING | TCPF_LAST_ACK)) {
        tcp_send_active_reset(sk);
        sk->sk_err = ECONNRESET;
    } else if (old == TCP_SYN_SENT) {
        sk->sk_err = ECONNRESET;
    }
    tcp_clear_xmit_timers(sk);
    sk->sk_receive_queue.purge();
    sk->sk_write_queue.purge();
    tp->out_of_order_queue.purge();
    sk->sk_rmem_alloc = 0;
    sk->sk_wmem_queued = 0;
    tp->send_head = nullptr;
    tp->packets_out = tp->retrans_out = tp->sacked_out = tp->lost_out = 0;
    inet_sock* inet = inet_sk(sk);
    inet->inet_dport = 0;
    inet->inet_daddr = 0;
    if (!inet->bindport_locked) {
        inet->inet_rcv_saddr = 0;
        inet->inet_saddr = 0;
    }
    sk->sk_shutdown = 0;
    sk->sock_reset_flag(SOCK_DONE);
    tp->srtt_us = tp->mdev_us = tp->rttvar_us = 0;
    tp->icsk_rto = sk->sk_net->sysctl().rto_init;
    tp->icsk_backoff = 0;
    tp->icsk_retransmits = 0;
    tp->icsk_probes_out = 0;
    tp->snd_cwnd = tcp_init_cwnd(tp);
    tp->snd_ssthresh = 0x7fffffff;
    tp->icsk_ca_state = TCP_CA_Open;
    tp->rx_opt = tcp_options_received{.user_mss = tp->rx_opt.user_mss};
    tp->num_sacks = 0;
    tp->max_window = 0;
    tp->icsk_ack.pending = 0;
    tp->icsk_ack.ato = 0;
    tp->icsk_ack.quick = 0;
    sk_error_report(sk);
    return 0;
}

// close() (tcp_close): RFC 9293 §3.10.4; unread data or SO_LINGER 0 resets
// (RFC 2525 §2.17, Linux); otherwise a FIN after the queued data, and the
// orphan lives on until the exchange completes.
static void tcp_close(sock* sk, nsec_t /*timeout*/) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    sk->sk_shutdown = SHUTDOWN_MASK;
    if (sk->sk_state == TCP_LISTEN) {
        tcp_set_state(sk, TCP_CLOSE);
        inet_csk_listen_stop(sk);
        goto adjudge_to_death;
    }
    {
        const bool data_was_unread = !sk->sk_receive_queue.empty();
        sk->sk_receive_queue.purge();
        sk->sk_rmem_alloc = 0;
        if (sk->sk_state == TCP_CLOSE) {
            goto adjudge_to_death;
        }
        if (data_was_unread) {
            tcp_set_state(sk, TCP_CLOSE);
            tcp_send_active_reset(sk);
        } else if (sk->sock_flag(SOCK_LINGER) && sk->sk_lingertime == 0) {
            // SO_LINGER with a zero timeout: abort.
            tcp_disconnect(sk, 0);
        } else if (tcp_close_state(sk)) {
            tcp_send_fin(sk);
        }
    }
adjudge_to_death:
    // sock_orphan
    sk->sock_set_flag(SOCK_DEAD);
    sk->sk_socket = nullptr;
    sk->sk_state_change = nullptr;
    sk->sk_data_ready = nullptr;
    sk->sk_write_space = nullptr;
    sk->sk_error_report = nullptr;
    sk->sk_user_data = nullptr;
    ++net.orphan_count;
    if (sk->sk_state == TCP_FIN_WAIT2) {
        const nsec_t tmo = tp->linger2 != 0 ? tp->linger2 : net.sysctl().fin_timeout;
        tcp_reset_keepalive_timer(sk, tmo);
    }
    if (sk->sk_state == TCP_CLOSE) {
        --net.orphan_count;
        inet_csk_destroy_sock(sk);
    }
}

uint32_t tcp_poll_mask(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    const int state = sk->sk_state;
    uint32_t mask = 0;
    if (state == TCP_LISTEN) {
        return sk->sk_ack_backlog > 0 ? (POLLIN | POLLRDNORM) : 0;
    }
    if (sk->sk_shutdown == SHUTDOWN_MASK || state == TCP_CLOSE) {
        mask |= POLLHUP;
    }
    if (sk->sk_shutdown & RCV_SHUTDOWN) {
        mask |= POLLIN | POLLRDNORM | POLLRDHUP;
    }
    if (state != TCP_SYN_SENT && state != TCP_SYN_RECV) {
        const int target = std::max(sk->sk_rcvlowat, 1);
        if (tcp_inq(sk) >= target) {
            mask |= POLLIN | POLLRDNORM;
        }
        if (!(sk->sk_shutdown & SEND_SHUTDOWN)) {
            if (sk->sk_stream_is_writeable()) {
                mask |= POLLOUT | POLLWRNORM;
            } else if (sk->sk_socket) {
                sk->sk_socket->flags |= SOCK_NOSPACE;
            }
        } else {
            mask |= POLLOUT | POLLWRNORM;
        }
    }
    (void)tp;
    if (sk->sk_err) {
        mask |= POLLERR;
    }
    return mask;
}

static int tcp_ioctl(sock* sk, unsigned cmd, unsigned long arg) {
    int answ;
    switch (cmd) {
    case SIOCINQ:  // == FIONREAD
        if (sk->sk_state == TCP_LISTEN) {
            return -EINVAL;
        }
        answ = tcp_inq(sk);
        break;
    case SIOCOUTQ:
        if (sk->sk_state == TCP_LISTEN) {
            return -EINVAL;
        }
        answ = (1u << sk->sk_state) & (TCPF_SYN_SENT | TCPF_SYN_RECV) ? 0 : tcp_outq(tcp_sk(sk));
        break;
    case SIOCOUTQNSD:
        if (sk->sk_state == TCP_LISTEN) {
            return -EINVAL;
        }
        answ = int(uint32_t(tcp_sk(sk)->write_seq - tcp_sk(sk)->snd_nxt));
        break;
    case SIOCATMARK:
        answ = 0;
        break;
    default:
        return -ENOIOCTLCMD;
    }
    std::memcpy(reinterpret_cast<void*>(arg), &answ, sizeof(answ));
    return 0;
}

// sendmsg (tcp_sendmsg_locked): copies user data into segments of one MSS
// each (filling the last unsent one first), then pushes.
static long tcp_sendmsg(sock* sk, const msghdr* msg, size_t size, int flags) {
    tcp_sock* tp = tcp_sk(sk);
    if (((1u << sk->sk_state) & ~(TCPF_ESTABLISHED | TCPF_CLOSE_WAIT)) != 0) {
        // sk_stream_wait_connect
        if (sk->sk_err) {
            return sock_error(sk);
        }
        if (!((1u << sk->sk_state) & (TCPF_SYN_SENT | TCPF_SYN_RECV))) {
            return -EPIPE;
        }
        return -EAGAIN;
    }
    if (sk->sk_err) {
        return sock_error(sk);
    }
    if (sk->sk_shutdown & SEND_SHUTDOWN) {
        return -EPIPE;
    }
    tcp_rate_check_app_limited(sk);  // is the sender application-limited?
    const uint32_t mss = tcp_current_mss(sk);
    long copied = 0;
    size_t iov_i = 0, iov_off = 0;
    size_t left = size;
    while (left > 0) {
        // Skip empty iovecs.
        while (iov_i < msg->msg_iovlen && iov_off >= msg->msg_iov[iov_i].iov_len) {
            ++iov_i;
            iov_off = 0;
        }
        if (iov_i >= msg->msg_iovlen) {
            break;
        }
        pbuf* skb = sk->sk_write_queue.back();
        uint32_t room = 0;
        if (tp->send_head && skb && !(TCP_SKB_CB(skb)->tcp_flags & (wire::TCPF_FIN | wire::TCPF_SYN))) {
            room = skb->len < mss ? std::min(mss - skb->len, skb->tailroom()) : 0;
        }
        if (room == 0) {
            if (sk->sk_wmem_queued >= sk->sk_sndbuf) {
                if (tp->sk_socket) {
                    tp->sk_socket->flags |= SOCK_NOSPACE;
                }
                break;  // wait for space (sk_stream_wait_memory)
            }
            skb = tcp_alloc_skb(sk, std::min<uint32_t>(mss, sk->sk_net->pool().buf_size()));
            if (!skb) {
                if (copied == 0) {
                    return -ENOBUFS;
                }
                break;
            }
            tcp_init_nondata_skb(skb, tp->write_seq, wire::TCPF_ACK);
            tcp_queue_skb(sk, pbuf_ptr(skb));
            room = std::min(mss, skb->tailroom());
        }
        const iovec& iov = msg->msg_iov[iov_i];
        const uint32_t chunk = uint32_t(std::min<size_t>({room, left, iov.iov_len - iov_off}));
        std::memcpy(skb->append(chunk), static_cast<const char*>(iov.iov_base) + iov_off, chunk);
        TCP_SKB_CB(skb)->end_seq = TCP_SKB_CB(skb)->end_seq + chunk;
        tp->write_seq = tp->write_seq + chunk;
        iov_off += chunk;
        left -= chunk;
        copied += chunk;
    }
    if (copied > 0) {
        pbuf* tail = sk->sk_write_queue.back();
        if (tail && !(flags & MSG_MORE)) {
            TCP_SKB_CB(tail)->tcp_flags |= wire::TCPF_PSH;
        }
        int nonagle = tp->nonagle;
        if (flags & MSG_MORE) {
            nonagle |= TCP_NAGLE_CORK;
        }
        tcp_write_xmit(sk, nonagle);
        return copied;
    }
    return size == 0 ? 0 : -EAGAIN;
}

// recvmsg (tcp_recvmsg_locked), non-blocking: copies what is there.
// Receive buffer autotuning (Linux's tcp_rcv_space_adjust, "dynamic right
// sizing"): once per round trip, if the user read more than in the last one,
// let the buffer (and so the offered window) grow to twice that plus some
// slack, up to tcp_rmem[2], unless SO_RCVBUF fixed it. Without it the
// window stays at the initial ~64 KB and one fast flow is window-bound.
static void tcp_rcv_space_adjust(sock* sk) {
    tcp_sock* tp = tcp_sk(sk);
    stack& net = *sk->sk_net;
    const nsec_t now = net.now();
    // The interval: a round trip as the sender's RTT estimate knows it, at
    // least 100 us (a pure receiver has no samples of its own).
    const nsec_t rtt = std::max<nsec_t>(nsec_t(tp->srtt_us >> 3) * NSEC_PER_USEC, 100 * NSEC_PER_USEC);
    if (now - tp->rcvq_time < rtt) {
        return;
    }
    const uint32_t copied = uint32_t(tp->copied_seq - tp->rcvq_seq);
    if (copied > tp->rcvq_space) {
        if (!sk->sock_flag(SOCK_RCVBUF_LOCK)) {
            const uint64_t rcvwin = uint64_t(copied) * 2 + 16 * uint64_t(tp->advmss);
            // Buffer memory per byte of window: truesize over payload of a
            // full segment, then the window is half the space (adv_win_scale 1).
            const uint64_t per_seg = uint64_t(tp->advmss) + 640;
            const uint64_t want = rcvwin * 2 * per_seg / std::max<uint64_t>(tp->advmss, 1);
            const int rcvbuf = int(std::min<uint64_t>(want, uint64_t(net.sysctl().rmem_max)));
            if (rcvbuf > sk->sk_rcvbuf) {
                sk->sk_rcvbuf = rcvbuf;
                const uint32_t clamp_max = tp->rx_opt.rcv_wscale ? (TCP_MAX_WINDOW << TCP_MAX_WSCALE) : TCP_MAX_WINDOW;
                tp->window_clamp = std::min<uint32_t>(uint32_t(rcvbuf) / 2, clamp_max);
            }
        }
        tp->rcvq_space = copied;
    }
    tp->rcvq_seq = tp->copied_seq;
    tp->rcvq_time = now;
}

static long tcp_recvmsg(sock* sk, msghdr* msg, size_t len, int flags, int* addr_len) {
    tcp_sock* tp = tcp_sk(sk);
    (void)addr_len;
    if (sk->sk_state == TCP_LISTEN) {
        return -ENOTCONN;
    }
    if (flags & MSG_OOB) {
        return -EINVAL;  // no urgent data is ever pending (SO_OOBINLINE semantics aside)
    }
    const bool peek = (flags & MSG_PEEK) != 0;
    const bool trunc = (flags & MSG_TRUNC) != 0;
    long copied = 0;
    size_t iov_i = 0, iov_off = 0;
    pbuf* p = sk->sk_receive_queue.front();
    uint32_t p_off = 0;
    while (copied < long(len) && p) {
        while (iov_i < msg->msg_iovlen && iov_off >= msg->msg_iov[iov_i].iov_len) {
            ++iov_i;
            iov_off = 0;
        }
        if (iov_i >= msg->msg_iovlen && !trunc) {
            break;
        }
        const uint32_t avail = p->len - p_off;
        size_t chunk = std::min<size_t>(avail, len - size_t(copied));
        if (!trunc) {
            chunk = std::min(chunk, msg->msg_iov[iov_i].iov_len - iov_off);
            std::memcpy(static_cast<char*>(msg->msg_iov[iov_i].iov_base) + iov_off, p->data + p_off, chunk);
            iov_off += chunk;
        }
        copied += long(chunk);
        p_off += uint32_t(chunk);
        if (p_off == p->len) {
            p = p->next;
            p_off = 0;
            if (!peek) {
                pbuf_ptr done = sk->sk_receive_queue.pop_front();
                sk->sk_rmem_alloc -= int(done->truesize);
            }
        }
    }
    if (!peek && p && p_off > 0) {
        p->adj(p_off);  // partly read: keep the rest in place
    }
    if (copied > 0) {
        if (!peek) {
            tp->copied_seq = tp->copied_seq + uint32_t(copied);
            tcp_rcv_space_adjust(sk);
            tcp_cleanup_rbuf(sk, int(copied));
        }
        return copied;
    }
    if (len == 0) {
        return 0;
    }
    // Linux's order: end of stream from a FIN, then a pending error (a
    // timeout or reset also shuts the socket down), then shutdown.
    if (sk->sock_flag(SOCK_DONE)) {
        return 0;
    }
    if (sk->sk_err) {
        return sock_error(sk);
    }
    if (sk->sk_shutdown & RCV_SHUTDOWN) {
        return 0;
    }
    if (sk->sk_state == TCP_CLOSE) {
        return -ENOTCONN;  // never connected
    }
    return -EAGAIN;
}

}  // namespace dshim

namespace dshim {

namespace {

int tcp_setsockopt_op(sock* sk, int level, int optname, const void* optval, unsigned optlen) {
    return inet_setsockopt_sk(sk, level, optname, optval, optlen);
}
int tcp_getsockopt_op(sock* sk, int level, int optname, void* optval, unsigned* optlen) {
    return inet_getsockopt_sk(sk, level, optname, optval, optlen);
}
void tcp_shutdown_op(sock* sk, int how) { tcp_shutdown(sk, how); }
void tcp_close_op(sock* sk, nsec_t linger) { tcp_close(sk, linger); }
int tcp_ioctl_op(sock* sk, unsigned cmd, unsigned long arg) { return tcp_ioctl(sk, cmd, arg); }
long tcp_sendmsg_op(sock* sk, const msghdr* msg, size_t len, int flags) { return tcp_sendmsg(sk, msg, len, flags); }
long tcp_recvmsg_op(sock* sk, msghdr* msg, size_t len, int flags, int* addr_len) {
    return tcp_recvmsg(sk, msg, len, flags, addr_len);
}

// inet_csk_accept: the oldest established child, or EAGAIN/EINVAL.
sock* inet_csk_accept(sock* sk, int /*flags*/, int* err) {
    inet_connection_sock* icsk = inet_csk(sk);
    if (sk->sk_state != TCP_LISTEN) {
        *err = -EINVAL;
        return nullptr;
    }
    for (list_head* n = icsk->icsk_accept_queue.next; n != &icsk->icsk_accept_queue; n = n->next) {
        auto* child = static_cast<tcp_sock*>(container_of(n, &inet_connection_sock::icsk_accept_node));
        if (child->sk_state == TCP_SYN_RECV) {
            continue;
        }
        n->del();
        child->icsk_parent = nullptr;
        --sk->sk_ack_backlog;
        child->sock_reset_flag(SOCK_DEAD);
        *err = 0;
        return child;
    }
    *err = -EAGAIN;
    return nullptr;
}

}  // namespace

const proto tcp_prot = {
    .name = "TCP",
    .alloc = tcp_alloc,
    .destroy_obj = tcp_destroy_obj,
    .init = tcp_v4_init_sock,
    .close = tcp_close_op,
    .connect = tcp_v4_connect,
    .disconnect = tcp_disconnect,
    .accept = inet_csk_accept,
    .ioctl = tcp_ioctl_op,
    .shutdown = tcp_shutdown_op,
    .setsockopt = tcp_setsockopt_op,
    .getsockopt = tcp_getsockopt_op,
    .sendmsg = tcp_sendmsg_op,
    .recvmsg = tcp_recvmsg_op,
    .get_port = inet_csk_get_port,
    .unhash = inet_unhash,
};

// Frees every socket of a stack that is going away (process exit after the
// linger, or a test's end). User sockets still open are freed too: their
// owner is gone with the stack.
void tcp_stack_destroy(stack& net) {
    while (!net.all_socks.empty()) {
        sock* sk = container_of(net.all_socks.next, &sock::sk_all_node);
        sk->sk_all_node.del();
        if (sk->sk_state == TCP_TIME_WAIT) {
            // minisocket: its own cleanup
            auto* tw = static_cast<tcp_timewait_sock*>(static_cast<inet_sock*>(sk));
            inet_twsk_kill(tw);
            continue;
        }
        tcp_clear_xmit_timers(sk);
        sk->sk_write_queue.purge();
        sk->sk_receive_queue.purge();
        tcp_sk(sk)->out_of_order_queue.purge();
        inet_unhash(sk);
        inet_put_port(sk);
        if (sk->sk_socket) {
            sk->sk_socket->sk = nullptr;
        }
        delete static_cast<tcp_sock*>(sk);
    }
}

}  // namespace dshim
