// AF_INET sockets: creation through the inetsw table and the BSD-level
// operations of stream sockets. Kernel counterpart: net/ipv4/af_inet.c.
// errno choices follow Linux exactly (inet_bind, __inet_stream_connect,
// inet_listen, inet_accept, inet_shutdown, inet_getname).
#include "ipv4/af_inet.hh"

#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <sys/ioctl.h>

#include "core/socket.hh"
#include "core/stack.hh"
#include "ipv4/ip.hh"
#include "ipv4/tcp.hh"

namespace dshim {

namespace {

inline constexpr unsigned INET_PROTOSW_PERMANENT = 1;

// inetsw: (type, protocol) -> proto + ops. UDP and raw stay on the kernel
// (architecture.md §4); the shim never asks us for them.
const inet_protosw inetsw_array[] = {
    {SOCK_STREAM, IPPROTO_TCP, &tcp_prot, &inet_stream_ops, INET_PROTOSW_PERMANENT},
};

int inet_create(stack* net, socket* sock, int protocol, int /*kern*/) {
    if (protocol < 0 || protocol >= IPPROTO_MAX) {
        return -EINVAL;
    }
    sock->state = SS_UNCONNECTED;
    const inet_protosw* answer = nullptr;
    int err = -ESOCKTNOSUPPORT;
    for (const auto& sw : inetsw_array) {
        if (sw.type != sock->type) {
            continue;
        }
        err = 0;
        if (protocol == sw.protocol || protocol == IPPROTO_IP) {
            answer = &sw;
            if (protocol == IPPROTO_IP) {
                protocol = sw.protocol;
            }
            break;
        }
        err = -EPROTONOSUPPORT;
    }
    if (!answer) {
        return err != 0 ? err : -EPROTONOSUPPORT;
    }
    sock->ops = answer->ops;
    struct sock* sk = answer->prot->alloc(net);
    if (!sk) {
        return -ENOBUFS;
    }
    sk->sk_family = AF_INET;
    sk->sk_type = uint16_t(sock->type);
    sk->sk_protocol = uint16_t(protocol);
    sk->sk_prot = answer->prot;
    sk->sk_net = net;
    sk->sk_socket = sock;
    sock->sk = sk;
    if (sk->sk_prot->init) {
        if (int e = sk->sk_prot->init(sk); e < 0) {
            sk->sk_prot->destroy_obj(sk);
            sock->sk = nullptr;
            return e;
        }
    }
    return 0;
}

int inet_release(socket* sock) {
    struct sock* sk = sock->sk;
    if (!sk) {
        return 0;
    }
    sock->sk = nullptr;
    const nsec_t linger = sk->sock_flag(SOCK_LINGER) ? sk->sk_lingertime : 0;
    sk->sk_prot->close(sk, linger);
    return 0;
}

int inet_bind(socket* sock, const sockaddr* uaddr, int addr_len) {
    struct sock* sk = sock->sk;
    inet_sock* inet = inet_sk(sk);
    stack& net = *sk->sk_net;
    if (addr_len < int(sizeof(sockaddr_in))) {
        return -EINVAL;
    }
    sockaddr_in sin;
    std::memcpy(&sin, uaddr, sizeof(sin));
    const uint32_t addr = ntohl(sin.sin_addr.s_addr);
    if (sin.sin_family != AF_INET) {
        // Linux accepts AF_UNSPEC with INADDR_ANY for compatibility.
        if (sin.sin_family != AF_UNSPEC || addr != INADDR_ANY) {
            return -EAFNOSUPPORT;
        }
    }
    if (addr != INADDR_ANY && !ip_is_local(net, addr)) {
        return -EADDRNOTAVAIL;
    }
    const uint16_t snum = ntohs(sin.sin_port);
    if (sk->sk_state != TCP_CLOSE || inet->inet_num != 0) {
        return -EINVAL;
    }
    inet->inet_rcv_saddr = addr;
    inet->inet_saddr = addr;
    if (int err = sk->sk_prot->get_port(sk, snum); err < 0) {
        inet->inet_rcv_saddr = 0;
        inet->inet_saddr = 0;
        return err;
    }
    inet->bindport_locked = snum != 0;
    inet->inet_daddr = 0;
    inet->inet_dport = 0;
    return 0;
}

int inet_stream_connect(socket* sock, const sockaddr* uaddr, int addr_len, int flags) {
    struct sock* sk = sock->sk;
    (void)flags;
    if (addr_len < int(sizeof(sa_family_t))) {
        return -EINVAL;
    }
    sa_family_t family;
    std::memcpy(&family, uaddr, sizeof(family));
    if (family == AF_UNSPEC) {
        // connect(AF_UNSPEC) disconnects.
        const int err = sk->sk_prot->disconnect(sk, flags);
        sock->state = err ? SS_DISCONNECTING : SS_UNCONNECTED;
        return err;
    }
    int err;
    switch (sock->state) {
    default:
        return -EINVAL;
    case SS_CONNECTED:
        return -EISCONN;
    case SS_CONNECTING:
        err = -EALREADY;
        break;
    case SS_UNCONNECTED:
        if (sk->sk_state != TCP_CLOSE) {
            return -EISCONN;
        }
        err = sk->sk_prot->connect(sk, uaddr, addr_len);
        if (err < 0) {
            return err;
        }
        sock->state = SS_CONNECTING;
        err = -EINPROGRESS;
        break;
    }
    if ((1u << sk->sk_state) & (TCPF_SYN_SENT | TCPF_SYN_RECV)) {
        return err;  // the shim waits (blocking) or returns it (non-blocking)
    }
    if (sk->sk_state == TCP_CLOSE) {
        // Refused, reset or timed out.
        err = sock_error(sk);
        if (err == 0) {
            err = -ECONNABORTED;
        }
        sock->state = SS_UNCONNECTED;
        if (sk->sk_prot->disconnect(sk, flags)) {
            sock->state = SS_DISCONNECTING;
        }
        return err;
    }
    sock->state = SS_CONNECTED;
    return 0;
}

int inet_listen(socket* sock, int backlog) {
    struct sock* sk = sock->sk;
    stack& net = *sk->sk_net;
    if (sock->state != SS_UNCONNECTED || sock->type != SOCK_STREAM) {
        return -EINVAL;
    }
    const int old_state = sk->sk_state;
    if (!((1u << old_state) & (TCPF_CLOSE | TCPF_LISTEN))) {
        return -EINVAL;
    }
    if (unsigned(backlog) > net.sysctl().somaxconn) {
        backlog = int(net.sysctl().somaxconn);  // also a negative backlog
    }
    sk->sk_max_ack_backlog = uint32_t(backlog);
    if (old_state == TCP_LISTEN) {
        return 0;
    }
    inet_sock* inet = inet_sk(sk);
    // inet_csk_listen_start: autobind, and no other listener on the port.
    if (inet->inet_num == 0) {
        if (int err = sk->sk_prot->get_port(sk, 0); err < 0) {
            return err;
        }
    }
    tcp_set_state(sk, TCP_LISTEN);
    if (inet_port_conflict(sk, inet->inet_num, true)) {
        tcp_set_state(sk, TCP_CLOSE);
        return -EADDRINUSE;
    }
    sk->sk_ack_backlog = 0;
    inet_hash_listener(sk);
    return 0;
}

int inet_accept(socket* sock, socket** newsock, int flags) {
    struct sock* sk = sock->sk;
    int err = 0;
    struct sock* child = sk->sk_prot->accept(sk, flags, &err);
    if (!child) {
        return err;
    }
    auto* ns = new socket();
    ns->type = sock->type;
    ns->ops = sock->ops;
    ns->net = sock->net;
    ns->sk = child;
    child->sk_socket = ns;
    // SS_CONNECTED even if the peer already closed (Linux grafts as connected).
    ns->state = SS_CONNECTED;
    *newsock = ns;
    return 0;
}

int inet_getname(socket* sock, sockaddr* uaddr, int peer) {
    struct sock* sk = sock->sk;
    inet_sock* inet = inet_sk(sk);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    if (peer) {
        if (!inet->inet_dport ||
            (((1u << sk->sk_state) & (TCPF_CLOSE | TCPF_SYN_SENT)) && peer == 1)) {
            return -ENOTCONN;
        }
        sin.sin_port = htons(inet->inet_dport);
        sin.sin_addr.s_addr = htonl(inet->inet_daddr);
    } else {
        uint32_t addr = inet->inet_rcv_saddr;
        if (!addr) {
            addr = inet->inet_saddr;
        }
        sin.sin_port = htons(inet->inet_sport);
        sin.sin_addr.s_addr = htonl(addr);
    }
    std::memcpy(uaddr, &sin, sizeof(sin));
    return int(sizeof(sin));
}

uint32_t inet_poll(socket* sock) { return tcp_poll_mask(sock->sk); }

int inet_ioctl(socket* sock, unsigned cmd, unsigned long arg) {
    struct sock* sk = sock->sk;
    if (cmd == FIONBIO) {
        return -ENOIOCTLCMD;  // file-level: the shim's business
    }
    return sk->sk_prot->ioctl(sk, cmd, arg);
}

int inet_shutdown(socket* sock, int how) {
    struct sock* sk = sock->sk;
    // SHUT_RD (0) -> RCV_SHUTDOWN (1), SHUT_WR -> SEND_SHUTDOWN, SHUT_RDWR -> both.
    ++how;
    if ((how & ~SHUTDOWN_MASK) || !how) {
        return -EINVAL;
    }
    if (sock->state == SS_CONNECTING) {
        if ((1u << sk->sk_state) & (TCPF_SYN_SENT | TCPF_SYN_RECV | TCPF_CLOSE)) {
            sock->state = SS_DISCONNECTING;
        } else {
            sock->state = SS_CONNECTED;
        }
    }
    int err = 0;
    switch (sk->sk_state) {
    case TCP_CLOSE:
        err = -ENOTCONN;
        [[fallthrough]];
    default:
        sk->sk_shutdown |= uint8_t(how);
        sk->sk_prot->shutdown(sk, how);
        break;
    case TCP_LISTEN:
        if (!(how & RCV_SHUTDOWN)) {
            break;
        }
        [[fallthrough]];
    case TCP_SYN_SENT:
        err = sk->sk_prot->disconnect(sk, 0);
        sock->state = err ? SS_DISCONNECTING : SS_UNCONNECTED;
        break;
    }
    sk_state_change(sk);
    return err;
}

int inet_setsockopt(socket* sock, int level, int optname, const void* optval, unsigned optlen) {
    return sock->sk->sk_prot->setsockopt(sock->sk, level, optname, optval, optlen);
}

int inet_getsockopt(socket* sock, int level, int optname, void* optval, unsigned* optlen) {
    return sock->sk->sk_prot->getsockopt(sock->sk, level, optname, optval, optlen);
}

long inet_sendmsg(socket* sock, const msghdr* msg, size_t size, int flags) {
    return sock->sk->sk_prot->sendmsg(sock->sk, msg, size, flags);
}

long inet_recvmsg(socket* sock, msghdr* msg, size_t size, int flags) {
    int addr_len = 0;
    return sock->sk->sk_prot->recvmsg(sock->sk, msg, size, flags, &addr_len);
}

}  // namespace

const proto_ops inet_stream_ops = {
    .family = AF_INET,
    .release = inet_release,
    .bind = inet_bind,
    .connect = inet_stream_connect,
    .accept = inet_accept,
    .getname = inet_getname,
    .poll = inet_poll,
    .ioctl = inet_ioctl,
    .listen = inet_listen,
    .shutdown = inet_shutdown,
    .setsockopt = inet_setsockopt,
    .getsockopt = inet_getsockopt,
    .sendmsg = inet_sendmsg,
    .recvmsg = inet_recvmsg,
};

const net_proto_family inet_family_ops = {
    .family = AF_INET,
    .create = inet_create,
};

int inet_init() { return sock_register(&inet_family_ops); }

void stack_init() {
    static bool done = false;
    if (!done) {
        (void)inet_init();
        done = true;
    }
}

}  // namespace dshim
