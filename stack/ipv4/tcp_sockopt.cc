// Socket options (see tcp_sockopt.hh). Values follow Linux: SO_RCVBUF and
// SO_SNDBUF store twice the request, capped by the rmem/wmem maxima;
// int options need optlen >= sizeof(int) (EINVAL); unknown ones give
// ENOPROTOOPT.
#include "ipv4/tcp_sockopt.hh"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <sys/time.h>

#include "core/stack.hh"
#include "ipv4/tcp.hh"

// After our headers: <linux/tcp.h> defines macros (TCP_MSS_DEFAULT) that
// share names with our constants.
#include <linux/tcp.h>
// <linux/socket.h> (pulled in above) defines SOCK_SNDBUF_LOCK 1 and
// SOCK_RCVBUF_LOCK 2 as macros: they would silently turn our sock_flags
// into SOCK_DEAD and SOCK_DONE. Use the enum's values.
#undef SOCK_SNDBUF_LOCK
#undef SOCK_RCVBUF_LOCK

// <netinet/in.h> conflicts with <linux/tcp.h>'s includes on some systems;
// the few IPPROTO_IP constants we need are stable ABI.
#ifndef IPPROTO_IP
#define IPPROTO_IP 0
#endif
#ifndef IPPROTO_TCP
#define IPPROTO_TCP 6
#endif
#ifndef IP_TOS
#define IP_TOS 1
#endif
#ifndef IP_TTL
#define IP_TTL 2
#endif

namespace dshim {

namespace {

constexpr int SOCK_MIN_SNDBUF = 4608;   // 2 * (2048 + sizeof(sk_buff)) on x86-64
constexpr int SOCK_MIN_RCVBUF = 2304;

int get_int(const void* optval, unsigned optlen, int* out) {
    if (optlen < sizeof(int)) {
        return -EINVAL;
    }
    std::memcpy(out, optval, sizeof(int));
    return 0;
}

int put_int(void* optval, unsigned* optlen, int v) {
    // Linux copies min(len, sizeof(int)); a negative len is EINVAL (the shim
    // checks it before the unsigned conversion).
    const unsigned len = std::min<unsigned>(*optlen, sizeof(int));
    std::memcpy(optval, &v, len);
    *optlen = len;
    return 0;
}

int set_timeout(const void* optval, unsigned optlen, nsec_t* out) {
    if (optlen < sizeof(timeval)) {
        return -EINVAL;
    }
    timeval tv;
    std::memcpy(&tv, optval, sizeof(tv));
    if (tv.tv_usec < 0 || tv.tv_usec >= 1000000) {
        return -EDOM;
    }
    if (tv.tv_sec < 0) {
        *out = 0;  // Linux: a negative timeout means "do not wait" (warns once)
        return 0;
    }
    if (tv.tv_sec == 0 && tv.tv_usec == 0) {
        *out = TIME_NEVER;
        return 0;
    }
    *out = nsec_t(tv.tv_sec) * NSEC_PER_SEC + nsec_t(tv.tv_usec) * NSEC_PER_USEC;
    return 0;
}

int get_timeout(void* optval, unsigned* optlen, nsec_t v) {
    timeval tv{};
    if (v != TIME_NEVER) {
        tv.tv_sec = time_t(v / NSEC_PER_SEC);
        tv.tv_usec = suseconds_t((v % NSEC_PER_SEC) / NSEC_PER_USEC);
    }
    const unsigned len = std::min<unsigned>(*optlen, sizeof(tv));
    std::memcpy(optval, &tv, len);
    *optlen = len;
    return 0;
}

int sock_setsockopt(sock* sk, int optname, const void* optval, unsigned optlen) {
    stack& net = *sk->sk_net;
    if (optname == SO_RCVTIMEO_OLD || optname == SO_SNDTIMEO_OLD) {
        return set_timeout(optval, optlen, optname == SO_RCVTIMEO_OLD ? &sk->sk_rcvtimeo : &sk->sk_sndtimeo);
    }
    if (optname == SO_LINGER) {
        if (optlen < sizeof(linger)) {
            return -EINVAL;
        }
        linger l;
        std::memcpy(&l, optval, sizeof(l));
        if (!l.l_onoff) {
            sk->sock_reset_flag(SOCK_LINGER);
        } else {
            sk->sk_lingertime = nsec_t(std::max(l.l_linger, 0)) * NSEC_PER_SEC;
            sk->sock_set_flag(SOCK_LINGER);
        }
        return 0;
    }
    if (optname == SO_MAX_PACING_RATE) {
        // Bytes per second: an int (~0U = unlimited) or, when optlen
        // allows, 64 bits (Linux). Any limit turns pacing on for good;
        // lifting it later keeps pacing at the computed rate, as Linux.
        if (optlen < sizeof(uint32_t)) {
            return -EINVAL;
        }
        uint32_t v32;
        std::memcpy(&v32, optval, sizeof(v32));
        uint64_t rate = v32 == ~uint32_t(0) ? ~uint64_t(0) : v32;
        if (optlen >= sizeof(uint64_t)) {
            std::memcpy(&rate, optval, sizeof(rate));
        }
        if (rate != ~uint64_t(0) && sk->sk_pacing_status == SK_PACING_NONE) {
            sk->sk_pacing_status = SK_PACING_NEEDED;
        }
        sk->sk_max_pacing_rate = rate;
        sk->sk_pacing_rate = std::min(sk->sk_pacing_rate, rate);
        return 0;
    }
    int val = 0;
    if (int err = get_int(optval, optlen, &val); err < 0) {
        return err;
    }
    switch (optname) {
    case SO_REUSEADDR: sk->sk_reuse = val != 0; return 0;
    case SO_REUSEPORT: sk->sk_reuseport = val != 0; return 0;
    case SO_KEEPALIVE:
        tcp_set_keepalive(sk, val != 0);
        if (val) { sk->sock_set_flag(SOCK_KEEPOPEN); } else { sk->sock_reset_flag(SOCK_KEEPOPEN); }
        return 0;
    case SO_BROADCAST:
        if (val) { sk->sock_set_flag(SOCK_BROADCAST); } else { sk->sock_reset_flag(SOCK_BROADCAST); }
        return 0;
    case SO_OOBINLINE:
        if (val) { sk->sock_set_flag(SOCK_URGINLINE); } else { sk->sock_reset_flag(SOCK_URGINLINE); }
        return 0;
    case SO_SNDBUF:
    case SO_SNDBUFFORCE: {
        const long v = std::min<long>(std::max(val, 0), net.sysctl().sysctl_wmem_max);
        sk->sk_sndbuf = int(std::max<long>(v * 2, SOCK_MIN_SNDBUF));
        sk->sock_set_flag(SOCK_SNDBUF_LOCK);
        sk_write_space(sk);
        return 0;
    }
    case SO_RCVBUF:
    case SO_RCVBUFFORCE: {
        const long v = std::min<long>(std::max(val, 0), net.sysctl().sysctl_rmem_max);
        sk->sk_rcvbuf = int(std::max<long>(v * 2, SOCK_MIN_RCVBUF));
        sk->sock_set_flag(SOCK_RCVBUF_LOCK);
        return 0;
    }
    case SO_RCVLOWAT:
        sk->sk_rcvlowat = val < 0 ? INT32_MAX : std::max(val, 1);
        return 0;
    case SO_SNDLOWAT:
        return -ENOPROTOOPT;
    case SO_PRIORITY:
    case SO_DEBUG:
    case SO_DONTROUTE:
    case SO_MARK:
    case SO_ZEROCOPY:
    case SO_BUSY_POLL:
    case SO_INCOMING_CPU:
        return 0;  // accepted, no effect on this stack
    case SO_TYPE:
    case SO_PROTOCOL:
    case SO_DOMAIN:
    case SO_ERROR:
    case SO_ACCEPTCONN:
    case SO_PEERCRED:
        return -ENOPROTOOPT;  // read-only
    default:
        return -ENOPROTOOPT;
    }
}

int sock_getsockopt(sock* sk, int optname, void* optval, unsigned* optlen) {
    switch (optname) {
    case SO_RCVTIMEO_OLD: return get_timeout(optval, optlen, sk->sk_rcvtimeo);
    case SO_SNDTIMEO_OLD: return get_timeout(optval, optlen, sk->sk_sndtimeo);
    case SO_LINGER: {
        linger l{sk->sock_flag(SOCK_LINGER) ? 1 : 0, int(sk->sk_lingertime / NSEC_PER_SEC)};
        const unsigned len = std::min<unsigned>(*optlen, sizeof(l));
        std::memcpy(optval, &l, len);
        *optlen = len;
        return 0;
    }
    case SO_MAX_PACING_RATE: {
        // 64 bits when the buffer holds them, else clamped to 32 (Linux).
        if (*optlen >= sizeof(uint64_t)) {
            std::memcpy(optval, &sk->sk_max_pacing_rate, sizeof(uint64_t));
            *optlen = sizeof(uint64_t);
            return 0;
        }
        const uint32_t v32 = uint32_t(std::min<uint64_t>(sk->sk_max_pacing_rate, ~uint32_t(0)));
        const unsigned len = std::min<unsigned>(*optlen, sizeof(v32));
        std::memcpy(optval, &v32, len);
        *optlen = len;
        return 0;
    }
    default: break;
    }
    int v;
    switch (optname) {
    case SO_REUSEADDR: v = sk->sk_reuse; break;
    case SO_REUSEPORT: v = sk->sk_reuseport; break;
    case SO_KEEPALIVE: v = sk->sock_flag(SOCK_KEEPOPEN); break;
    case SO_BROADCAST: v = sk->sock_flag(SOCK_BROADCAST); break;
    case SO_OOBINLINE: v = sk->sock_flag(SOCK_URGINLINE); break;
    case SO_SNDBUF: v = sk->sk_sndbuf; break;
    case SO_RCVBUF: v = sk->sk_rcvbuf; break;
    case SO_RCVLOWAT: v = sk->sk_rcvlowat; break;
    case SO_SNDLOWAT: v = 1; break;
    case SO_TYPE: v = sk->sk_type; break;
    case SO_PROTOCOL: v = sk->sk_protocol; break;
    case SO_DOMAIN: v = sk->sk_family; break;
    case SO_ERROR: v = -sock_error(sk); break;
    case SO_ACCEPTCONN: v = sk->sk_state == TCP_LISTEN; break;
    case SO_PRIORITY: v = 0; break;
    case SO_DEBUG: v = 0; break;
    case SO_DONTROUTE: v = 0; break;
    default: return -ENOPROTOOPT;
    }
    return put_int(optval, optlen, v);
}

int ip_setsockopt(sock* sk, int optname, const void* optval, unsigned optlen) {
    int val = 0;
    if (int err = get_int(optval, optlen, &val); err < 0) {
        return err;
    }
    inet_sock* inet = inet_sk(sk);
    switch (optname) {
    case IP_TOS: inet->tos = uint8_t(val & 0xfc) | (inet->tos & 3); return 0;
    case IP_TTL:
        if (val == -1) { inet->uc_ttl = 64; return 0; }
        if (val < 1 || val > 255) { return -EINVAL; }
        inet->uc_ttl = uint8_t(val);
        return 0;
    default: return -ENOPROTOOPT;
    }
}

int ip_getsockopt(sock* sk, int optname, void* optval, unsigned* optlen) {
    inet_sock* inet = inet_sk(sk);
    switch (optname) {
    case IP_TOS: return put_int(optval, optlen, inet->tos);
    case IP_TTL: return put_int(optval, optlen, inet->uc_ttl);
    default: return -ENOPROTOOPT;
    }
}

int tcp_setsockopt(sock* sk, int optname, const void* optval, unsigned optlen) {
    tcp_sock* tp = tcp_sk(sk);
    if (optname == TCP_CONGESTION) {
        char name[16] = {};
        std::memcpy(name, optval, std::min<unsigned>(optlen, sizeof(name) - 1));
        const tcp_congestion_ops* ca = tcp_ca_find(name);
        if (!ca) {
            return -ENOENT;
        }
        tp->icsk_ca_ops = ca;
        if (sk->sk_state == TCP_ESTABLISHED) {
            tcp_init_congestion_control(sk);
        }
        return 0;
    }
    int val = 0;
    if (int err = get_int(optval, optlen, &val); err < 0) {
        return err;
    }
    switch (optname) {
    case TCP_NODELAY:
        if (val) {
            tp->nonagle |= TCP_NAGLE_OFF | TCP_NAGLE_PUSH;
            tcp_push_pending_frames(sk);
            tp->nonagle &= uint8_t(~TCP_NAGLE_PUSH);
        } else {
            tp->nonagle &= uint8_t(~TCP_NAGLE_OFF);
        }
        return 0;
    case TCP_CORK:
        if (val) {
            tp->nonagle |= TCP_NAGLE_CORK;
        } else {
            tp->nonagle &= uint8_t(~TCP_NAGLE_CORK);
            if (tp->nonagle & TCP_NAGLE_OFF) {
                tp->nonagle |= TCP_NAGLE_PUSH;
            }
            tcp_write_xmit(sk, tp->nonagle | TCP_NAGLE_PUSH);
            tp->nonagle &= uint8_t(~TCP_NAGLE_PUSH);
        }
        return 0;
    case TCP_MAXSEG:
        if (val && (val < TCP_MIN_MSS || val > 65535 - 40)) {
            return -EINVAL;
        }
        tp->rx_opt.user_mss = uint16_t(val);
        return 0;
    case TCP_KEEPIDLE:
        if (val < 1 || val > 32767) { return -EINVAL; }
        tp->keepalive_time = nsec_t(val) * NSEC_PER_SEC;
        if (sk->sock_flag(SOCK_KEEPOPEN)) {
            tcp_set_keepalive(sk, true);
            tcp_reset_keepalive_timer(sk, tp->keepalive_time);
        }
        return 0;
    case TCP_KEEPINTVL:
        if (val < 1 || val > 32767) { return -EINVAL; }
        tp->keepalive_intvl = nsec_t(val) * NSEC_PER_SEC;
        return 0;
    case TCP_KEEPCNT:
        if (val < 1 || val > 127) { return -EINVAL; }
        tp->keepalive_probes = uint8_t(val);
        return 0;
    case TCP_SYNCNT:
        if (val < 1 || val > 127) { return -EINVAL; }
        tp->icsk_syn_retries = uint8_t(val);
        return 0;
    case TCP_LINGER2:
        tp->linger2 = val < 0 ? 0 : nsec_t(std::min(val, 120)) * NSEC_PER_SEC;
        return 0;
    case TCP_USER_TIMEOUT:
        if (val < 0) { return -EINVAL; }
        tp->icsk_user_timeout = nsec_t(val) * NSEC_PER_MSEC;
        return 0;
    case TCP_QUICKACK:
        if (val) {
            tcp_enter_quickack_mode(sk, TCP_MAX_QUICKACKS);
            if (tp->icsk_ack.pending & ICSK_ACK_SCHED) {
                tcp_send_ack(sk);
            }
        } else {
            tp->icsk_ack.pingpong = true;
        }
        return 0;
    case TCP_DEFER_ACCEPT:
    case TCP_FASTOPEN:
    case TCP_FASTOPEN_CONNECT:
    case TCP_NOTSENT_LOWAT:
    case TCP_THIN_LINEAR_TIMEOUTS:
    case TCP_WINDOW_CLAMP:
        return 0;  // accepted; TODO(#5) honour them
    default:
        return -ENOPROTOOPT;
    }
}

void fill_tcp_info(sock* sk, tcp_info* info) {
    tcp_sock* tp = tcp_sk(sk);
    std::memset(info, 0, sizeof(*info));
    info->tcpi_state = sk->sk_state;
    info->tcpi_ca_state = tp->icsk_ca_state;
    info->tcpi_retransmits = tp->icsk_retransmits;
    info->tcpi_probes = tp->icsk_probes_out;
    info->tcpi_backoff = tp->icsk_backoff;
    if (tp->rx_opt.tstamp_ok) { info->tcpi_options |= TCPI_OPT_TIMESTAMPS; }
    if (tp->rx_opt.sack_ok) { info->tcpi_options |= TCPI_OPT_SACK; }
    if (tp->ecn_flags & TCP_ECN_OK) { info->tcpi_options |= TCPI_OPT_ECN; }
    if (tp->ecn_flags & TCP_ECN_SEEN) { info->tcpi_options |= TCPI_OPT_ECN_SEEN; }
    if (tp->rx_opt.wscale_ok) {
        info->tcpi_options |= TCPI_OPT_WSCALE;
        info->tcpi_snd_wscale = tp->rx_opt.snd_wscale;
        info->tcpi_rcv_wscale = tp->rx_opt.rcv_wscale;
    }
    info->tcpi_rto = uint32_t(tp->icsk_rto / NSEC_PER_USEC);
    info->tcpi_ato = uint32_t(tp->icsk_ack.ato / NSEC_PER_USEC);
    info->tcpi_snd_mss = tp->mss_cache;
    info->tcpi_rcv_mss = tp->icsk_ack.rcv_mss;
    info->tcpi_unacked = tp->packets_out;
    info->tcpi_sacked = tp->sacked_out;
    info->tcpi_lost = tp->lost_out;
    info->tcpi_retrans = tp->retrans_out;
    const nsec_t now = sk->sk_net->now();
    info->tcpi_last_data_sent = uint32_t((now - std::min(now, tp->lsndtime)) / NSEC_PER_MSEC);
    info->tcpi_last_data_recv = uint32_t((now - std::min(now, tp->icsk_ack.lrcvtime)) / NSEC_PER_MSEC);
    info->tcpi_last_ack_recv = uint32_t((now - std::min(now, tp->rcv_tstamp)) / NSEC_PER_MSEC);
    info->tcpi_pmtu = tp->icsk_pmtu_cookie;
    info->tcpi_rcv_ssthresh = tp->rcv_ssthresh;
    info->tcpi_rtt = tp->srtt_us >> 3;
    info->tcpi_rttvar = tp->mdev_us >> 2;
    info->tcpi_snd_ssthresh = tp->snd_ssthresh;
    info->tcpi_snd_cwnd = tp->snd_cwnd;
    info->tcpi_advmss = tp->advmss;
    info->tcpi_reordering = 3;
    info->tcpi_rcv_space = tp->rcv_wnd;
    info->tcpi_total_retrans = tp->total_retrans;
    info->tcpi_bytes_acked = tp->bytes_acked;
    info->tcpi_bytes_received = tp->bytes_received;
    info->tcpi_segs_out = tp->segs_out;
    info->tcpi_segs_in = tp->segs_in;
    info->tcpi_notsent_bytes = tp->send_head ? uint32_t(tp->write_seq - tp->snd_nxt) : 0;
    info->tcpi_min_rtt = tp->rtt_min_us;
    info->tcpi_data_segs_in = tp->data_segs_in;
    info->tcpi_data_segs_out = tp->data_segs_out;
    info->tcpi_snd_wnd = tp->snd_wnd;
    info->tcpi_rcv_ooopack = tp->rcv_ooopack;
    info->tcpi_pacing_rate = sk->sk_pacing_rate;
    // The best recent delivery-rate sample (tcp_compute_delivery_rate).
    if (tp->rate_delivered != 0 && tp->rate_interval_us != 0) {
        info->tcpi_delivery_rate = uint64_t(tp->rate_delivered) * tp->mss_cache * 1'000'000 / tp->rate_interval_us;
    }
    info->tcpi_delivery_rate_app_limited = tp->rate_app_limited ? 1 : 0;
    info->tcpi_delivered = tp->delivered;
    info->tcpi_max_pacing_rate = sk->sk_max_pacing_rate;
}

int tcp_getsockopt(sock* sk, int optname, void* optval, unsigned* optlen) {
    tcp_sock* tp = tcp_sk(sk);
    switch (optname) {
    case TCP_INFO: {
        tcp_info info;
        fill_tcp_info(sk, &info);
        const unsigned len = std::min<unsigned>(*optlen, sizeof(info));
        std::memcpy(optval, &info, len);
        *optlen = len;
        return 0;
    }
    case TCP_CONGESTION: {
        const char* name = tp->icsk_ca_ops ? tp->icsk_ca_ops->name : "reno";
        char buf[16] = {};
        std::strncpy(buf, name, sizeof(buf) - 1);
        const unsigned len = std::min<unsigned>(*optlen, sizeof(buf));
        std::memcpy(optval, buf, len);
        *optlen = len;
        return 0;
    }
    default: break;
    }
    int v;
    switch (optname) {
    case TCP_NODELAY: v = (tp->nonagle & TCP_NAGLE_OFF) != 0; break;
    case TCP_CORK: v = (tp->nonagle & TCP_NAGLE_CORK) != 0; break;
    case TCP_MAXSEG:
        v = sk->sk_state == TCP_ESTABLISHED || sk->sk_state == TCP_CLOSE_WAIT ? tcp_current_mss(sk)
            : tp->rx_opt.user_mss ? tp->rx_opt.user_mss
                                  : TCP_MSS_DEFAULT;
        break;
    case TCP_KEEPIDLE: v = int(keepalive_time_when(tp) / NSEC_PER_SEC); break;
    case TCP_KEEPINTVL: v = int(keepalive_intvl_when(tp) / NSEC_PER_SEC); break;
    case TCP_KEEPCNT: v = keepalive_probes(tp); break;
    case TCP_SYNCNT: v = tp->icsk_syn_retries ? tp->icsk_syn_retries : sk->sk_net->sysctl().syn_retries; break;
    case TCP_LINGER2: v = int((tp->linger2 ? tp->linger2 : sk->sk_net->sysctl().fin_timeout) / NSEC_PER_SEC); break;
    case TCP_USER_TIMEOUT: v = int(tp->icsk_user_timeout / NSEC_PER_MSEC); break;
    case TCP_QUICKACK: v = tp->icsk_ack.quick != 0 && !tp->icsk_ack.pingpong; break;
    case TCP_DEFER_ACCEPT: v = 0; break;
    case TCP_WINDOW_CLAMP: v = int(tp->window_clamp); break;
    default: return -ENOPROTOOPT;
    }
    return put_int(optval, optlen, v);
}

}  // namespace

int inet_setsockopt_sk(sock* sk, int level, int optname, const void* optval, unsigned optlen) {
    switch (level) {
    case SOL_SOCKET: return sock_setsockopt(sk, optname, optval, optlen);
    case IPPROTO_IP: return ip_setsockopt(sk, optname, optval, optlen);
    case IPPROTO_TCP: return tcp_setsockopt(sk, optname, optval, optlen);
    default: return -ENOPROTOOPT;
    }
}

int inet_getsockopt_sk(sock* sk, int level, int optname, void* optval, unsigned* optlen) {
    switch (level) {
    case SOL_SOCKET: return sock_getsockopt(sk, optname, optval, optlen);
    case IPPROTO_IP: return ip_getsockopt(sk, optname, optval, optlen);
    case IPPROTO_TCP: return tcp_getsockopt(sk, optname, optval, optlen);
    default: return -ENOPROTOOPT;
    }
}

}  // namespace dshim
