// The BSD and network layers of the socket object graph: `socket` (BSD
// state + proto_ops), `sock` (queues, buffer accounting, callbacks) and the
// operation tables `proto_ops`/`proto`, plus the family registry types.
// Kernel counterparts: include/linux/net.h, include/net/sock.h, net/socket.c.
//
// Locking: every object here belongs to one stack and is touched only under
// that stack's lock. The ops are non-blocking: where the kernel would sleep
// they return -EAGAIN/-EINPROGRESS and the caller (shim/) waits for a
// callback, spinning or sleeping as architecture.md §3 describes.
#pragma once
#include <cstdint>
#include <sys/socket.h>
#include "buf/pbuf.hh"
#include "core/clock.hh"
#include "core/list.hh"

namespace dshim {

class stack;
struct sock;
struct socket;
struct proto;

// Kernel-internal errno for "no such ioctl here" (include/linux/errno.h):
// the shim turns it into ENOTTY or handles the ioctl itself.
inline constexpr int ENOIOCTLCMD = 515;

// BSD socket state (include/uapi/linux/net.h).
enum socket_state : uint8_t {
    SS_FREE = 0,
    SS_UNCONNECTED,
    SS_CONNECTING,
    SS_CONNECTED,
    SS_DISCONNECTING,
};

// socket::flags
enum : uint32_t {
    SOCK_NOSPACE = 1u << 0,      // a writer found the send buffer full
    SOCKWQ_ASYNC_WAITDATA = 1u << 1,
};

// Operations of the BSD layer, per family+type (inet_stream_ops...). Every
// slot is non-null; unsupported ones point to sock_no_* (EOPNOTSUPP).
// Results are >= 0 or a negative errno.
struct proto_ops {
    int family;
    int (*release)(socket* sock);
    int (*bind)(socket* sock, const sockaddr* addr, int addr_len);
    int (*connect)(socket* sock, const sockaddr* addr, int addr_len, int flags);
    // Non-blocking: -EAGAIN when the accept queue is empty.
    int (*accept)(socket* sock, socket** newsock, int flags);
    // Writes the address into addr (room for a sockaddr_in); returns its length.
    int (*getname)(socket* sock, sockaddr* addr, int peer);
    // Readiness as poll(2) bits (POLLIN, POLLOUT, POLLERR, POLLHUP, POLLRDHUP...).
    uint32_t (*poll)(socket* sock);
    int (*ioctl)(socket* sock, unsigned cmd, unsigned long arg);
    int (*listen)(socket* sock, int backlog);
    int (*shutdown)(socket* sock, int how);
    int (*setsockopt)(socket* sock, int level, int optname, const void* optval, unsigned optlen);
    int (*getsockopt)(socket* sock, int level, int optname, void* optval, unsigned* optlen);
    long (*sendmsg)(socket* sock, const msghdr* msg, size_t len, int flags);
    long (*recvmsg)(socket* sock, msghdr* msg, size_t len, int flags);
};

// BSD socket (struct socket).
struct socket {
    socket_state state = SS_UNCONNECTED;
    short type = 0;                // SOCK_STREAM...
    uint32_t flags = 0;            // SOCK_NOSPACE...
    const proto_ops* ops = nullptr;
    sock* sk = nullptr;
    stack* net = nullptr;
    void* file = nullptr;          // the shim's fd-table entry, if any
};

// Protocol operations of the network layer (struct proto: tcp_prot...).
struct proto {
    const char* name;
    // Allocates the protocol's sock object (tcp_sock...), zero state.
    sock* (*alloc)(stack* net);
    void (*destroy_obj)(sock* sk);          // frees what alloc returned
    int (*init)(sock* sk);                   // sk->sk_prot->init after inet_create
    void (*close)(sock* sk, nsec_t linger);  // the user closed the socket
    int (*connect)(sock* sk, const sockaddr* addr, int addr_len);
    int (*disconnect)(sock* sk, int flags);
    sock* (*accept)(sock* sk, int flags, int* err);
    int (*ioctl)(sock* sk, unsigned cmd, unsigned long arg);
    void (*shutdown)(sock* sk, int how);
    int (*setsockopt)(sock* sk, int level, int optname, const void* optval, unsigned optlen);
    int (*getsockopt)(sock* sk, int level, int optname, void* optval, unsigned* optlen);
    long (*sendmsg)(sock* sk, const msghdr* msg, size_t len, int flags);
    long (*recvmsg)(sock* sk, msghdr* msg, size_t len, int flags, int* addr_len);
    int (*get_port)(sock* sk, uint16_t snum);   // bind a local port (0: ephemeral)
    void (*unhash)(sock* sk);
};

// Protocol-independent flags (sock_flag()).
enum sock_flags : uint32_t {
    SOCK_DEAD = 1u << 0,        // no user reference any more (orphan)
    SOCK_DONE = 1u << 1,        // received FIN or reset: no more data will come
    SOCK_KEEPOPEN = 1u << 2,    // SO_KEEPALIVE
    SOCK_LINGER = 1u << 3,      // SO_LINGER on
    SOCK_URGINLINE = 1u << 4,
    SOCK_BROADCAST = 1u << 5,
    SOCK_RCVBUF_LOCK = 1u << 6, // SO_RCVBUF set by the user: no autotuning
    SOCK_SNDBUF_LOCK = 1u << 7,
};

// sk->sk_pacing_status
inline constexpr uint8_t SK_PACING_NONE = 0;
inline constexpr uint8_t SK_PACING_NEEDED = 1;

// sk_shutdown bits
inline constexpr uint8_t RCV_SHUTDOWN = 1;
inline constexpr uint8_t SEND_SHUTDOWN = 2;
inline constexpr uint8_t SHUTDOWN_MASK = 3;

// The network-layer socket (struct sock).
struct sock {
    virtual ~sock() = default;   // objects are always a protocol's subclass

    // --- identity
    uint16_t sk_family = 0;
    uint16_t sk_type = 0;
    uint16_t sk_protocol = 0;
    uint8_t sk_state = 0;        // TCP_* states for TCP (tcp_states.hh)
    uint8_t sk_shutdown = 0;     // RCV_SHUTDOWN | SEND_SHUTDOWN
    bool sk_reuse = false;       // SO_REUSEADDR
    bool sk_reuseport = false;   // SO_REUSEPORT
    uint32_t sk_flags = 0;       // sock_flags
    int sk_refcnt = 1;           // the user reference + timers/queues holding it

    // --- errors: sk_err is reported once (SO_ERROR or the next call);
    // sk_err_soft is a reason kept for a later timeout (e.g. ICMP).
    int sk_err = 0;
    int sk_err_soft = 0;

    // --- queues and accounting (bytes; receive memory charged at truesize)
    pbuf_queue sk_receive_queue;
    pbuf_queue sk_write_queue;   // TCP: sent-but-unacked then unsent (see tcp_sock)
    int sk_rcvbuf = 0;
    int sk_sndbuf = 0;
    int sk_rmem_alloc = 0;       // truesize of what sits in the receive queues
    int sk_wmem_queued = 0;      // truesize of what sits in the write queue
    int sk_rcvlowat = 1;
    nsec_t sk_rcvtimeo = TIME_NEVER;   // SO_RCVTIMEO (the shim waits, stack stores)
    nsec_t sk_sndtimeo = TIME_NEVER;
    nsec_t sk_lingertime = 0;
    uint32_t sk_max_ack_backlog = 0;
    uint32_t sk_ack_backlog = 0;       // established children waiting in accept()
    // --- pacing (bytes per second; ~0 = unlimited). sk_pacing_status says
    // whether the protocol paces itself: SO_MAX_PACING_RATE or a congestion
    // control module that needs pacing sets it (Linux has no fq qdisc
    // beneath us: this is its TCP-internal pacing).
    uint64_t sk_pacing_rate = ~uint64_t(0);
    uint64_t sk_max_pacing_rate = ~uint64_t(0);
    uint8_t sk_pacing_status = 0;      // SK_PACING_*

    // --- owners
    socket* sk_socket = nullptr;       // null once orphaned
    const proto* sk_prot = nullptr;
    stack* sk_net = nullptr;

    // --- callbacks through which the shim learns of readiness. The stack
    // calls them under its lock; they must only mark and wake, never call
    // back into the stack.
    void (*sk_state_change)(sock* sk) = nullptr;
    void (*sk_data_ready)(sock* sk) = nullptr;
    void (*sk_write_space)(sock* sk) = nullptr;
    void (*sk_error_report)(sock* sk) = nullptr;
    void* sk_user_data = nullptr;
    list_head sk_all_node;       // in stack::all_socks

    bool sock_flag(uint32_t f) const { return (sk_flags & f) != 0; }
    void sock_set_flag(uint32_t f) { sk_flags |= f; }
    void sock_reset_flag(uint32_t f) { sk_flags &= ~f; }
    bool sock_is_dead() const { return sock_flag(SOCK_DEAD); }

    // Free send-buffer space (sk_stream_wspace).
    int sk_stream_wspace() const { return sk_sndbuf - sk_wmem_queued; }
    // Writable when at least a third of the buffer is free (sk_stream_is_writeable).
    bool sk_stream_is_writeable() const { return sk_stream_wspace() >= sk_sndbuf / 3; }
};

inline void sk_state_change(sock* sk) { if (sk->sk_state_change) { sk->sk_state_change(sk); } }
inline void sk_data_ready(sock* sk) { if (sk->sk_data_ready) { sk->sk_data_ready(sk); } }
inline void sk_write_space(sock* sk) { if (sk->sk_write_space) { sk->sk_write_space(sk); } }
inline void sk_error_report(sock* sk) { if (sk->sk_error_report) { sk->sk_error_report(sk); } }

// sock_error(): takes the pending error (negative errno) or 0.
inline int sock_error(sock* sk) {
    int e = sk->sk_err;
    sk->sk_err = 0;
    return -e;
}

// A protocol family (struct net_proto_family): how socket() creates a sock.
struct net_proto_family {
    int family;
    int (*create)(stack* net, socket* sock, int protocol, int kern);
};

// An entry of the per-family switch table (struct inet_protosw): which
// proto/proto_ops serve (type, protocol).
struct inet_protosw {
    short type;
    short protocol;          // IPPROTO_TCP...; IPPROTO_IP (0) = wildcard
    const proto* prot;
    const proto_ops* ops;
    unsigned flags;          // INET_PROTOSW_PERMANENT...
};

// sock_no_* stubs for slots a family does not support.
int sock_no_bind(socket*, const sockaddr*, int);
int sock_no_connect(socket*, const sockaddr*, int, int);
int sock_no_accept(socket*, socket**, int);
int sock_no_getname(socket*, sockaddr*, int);
int sock_no_ioctl(socket*, unsigned, unsigned long);
int sock_no_listen(socket*, int);
int sock_no_shutdown(socket*, int);
long sock_no_sendmsg(socket*, const msghdr*, size_t, int);
long sock_no_recvmsg(socket*, msghdr*, size_t, int);

}  // namespace dshim
