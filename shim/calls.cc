// The socket intercepts. Every one follows the same template (OpenOnload's):
// pass through until initialised or inside dshim -> look the fd up -> not
// ours: libc -> ours: the socket's proto_ops under the stack lock, waiting
// as the fd's blocking mode says -> -1/errno exactly as Linux.
//
// An AF_INET stream socket starts "undecided" on a real kernel TCP socket
// (the placeholder): options go to the kernel (which validates them) and
// are recorded; bind/connect/listen decide. Our address, INADDR_ANY listeners
// and destinations routed through the dshim interface are accelerated;
// everything else (loopback, other interfaces) is handed to the kernel by
// simply forgetting the fd (architecture.md §4).
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <dlfcn.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>

#include <cstdarg>
#include <mutex>
#include <vector>
#include <cstring>

#include "core/socket.hh"
#include "ipv4/tcp.hh"
#include "shim/addr6.hh"
#include "shim/calls.hh"
#include "shim/poll.hh"
#include "shim/signals.hh"

namespace dshim::shim {

namespace {

constexpr int EBADFD_INHERITED = EBADFD;  // documented: inherited dshim socket used in a fork child

struct bound_any {
    bool set = false;
    uint16_t port = 0;
};
// INADDR_ANY binds of undecided sockets, by fd (the decision is deferred to
// listen()/connect()).
bound_any* g_bound_any = nullptr;

bound_any& any_of(int fd) {
    static bound_any none;
    static std::once_flag once;
    std::call_once(once, [] { g_bound_any = new bound_any[size_t(fd_limit())]; });
    return fd >= 0 && fd < fd_limit() ? g_bound_any[fd] : none;
}

bool dshim_routes(uint32_t dst) {
    if (!g_cfg.enabled || dst == 0 || (dst >> 24) == 127 || (dst >> 28) >= 14) {
        return false;
    }
    const uint32_t mask = g_cfg.prefix_len ? ~uint32_t(0) << (32 - g_cfg.prefix_len) : 0;
    if ((dst & mask) == (g_cfg.ip & mask)) {
        return dst != g_cfg.ip;  // our own address from the same process: TODO(#6) local delivery
    }
    return g_cfg.gw != 0;
}

// Forgets an undecided socket: from now on it is an ordinary kernel socket.
void handover(int fd) {
    if (dfile* f = fd_remove(fd)) {
        epoll_handover(fd, f);  // its epoll registrations move to the kernel sets
        any_of(fd) = {};
        ++g_shim_counters.handovers;
        fd_put(f);
    }
}

// Turns an undecided socket into a dshim socket (attaching the port on the
// first one). Returns 0 or -errno.
int make_dshim(int fd, dfile* f) {
    if (f->kind == dfile_kind::dshim) {
        return 0;
    }
    int err = 0;
    stack* net = runtime_stack(&err);
    if (!net) {
        return -err;
    }
    stack_lock lk;
    if (f->kind == dfile_kind::dshim) {
        return 0;
    }
    auto r = sock_create(net, AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (!r.ok()) {
        return -r.err();
    }
    socket* s = r.value();
    sock_attach_callbacks(s->sk);
    for (const auto& o : f->opts) {
        (void)s->ops->setsockopt(s, o.level, o.name, o.value.data(), unsigned(o.value.size()));
    }
    f->opts.clear();
    bound_any& ba = any_of(fd);
    if (ba.set) {
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_port = htons(ba.port);
        const int br = s->ops->bind(s, reinterpret_cast<sockaddr*>(&sin), sizeof(sin));
        if (br < 0) {
            sock_release(s);
            return br;
        }
        ba = {};
    }
    f->sock = s;
    f->kind = dfile_kind::dshim;
    ++g_shim_counters.accelerated;
    return 0;
}

bool is_nonblock(const dfile* f, int flags = 0) {
    return (f->file_flags.load(std::memory_order_relaxed) & O_NONBLOCK) || (flags & MSG_DONTWAIT);
}

// Runs op() (after a poll pass, under the stack lock) until it returns
// something other than -EAGAIN, as the blocking mode, the timeout, the spin
// budget and signals allow (architecture.md §3).
// extra: kernel fds whose readiness also ends the sleep (the placeholder of
// a listener that accepts on both sides).
template <class Op>
long block_loop(bool nonblock, nsec_t timeout, bool restartable, Op&& op, const wait_extra* extra = nullptr) {
    const nsec_t start = now_ns();
    const nsec_t deadline = timeout == TIME_NEVER ? TIME_NEVER : start + timeout;
    const nsec_t spin_end = start + g_cfg.spin_us * NSEC_PER_USEC;
    signal_wait_begin();
    for (;;) {
        const uint64_t seq = runtime_event_seq();
        long r;
        {
            stack_lock lk;
            poll_pass_locked();
            r = op();
            if (stack* s = runtime_stack_if_attached()) {
                s->flush();
            }
        }
        if (r != -EAGAIN || nonblock) {
            return r;
        }
        const nsec_t now = now_ns();
        if (now >= deadline) {
            return -EAGAIN;  // SO_RCVTIMEO/SO_SNDTIMEO expired
        }
        if (now < spin_end) {
            continue;
        }
        runtime_sleeper_enter();
        if (runtime_event_seq() != seq) {
            runtime_sleeper_exit();
            continue;
        }
        const int w = runtime_wait(std::min(deadline, now + 100 * NSEC_PER_MSEC), extra);
        runtime_sleeper_exit();
        if (w == -EINTR) {
            if (!restartable || timeout != TIME_NEVER || !signal_should_restart()) {
                return -EINTR;
            }
            signal_wait_begin();
        }
    }
}

// A locked one-shot call on a dshim socket, with the tx flush.
template <class Op>
long locked(Op&& op) {
    stack_lock lk;
    long r = op();
    if (stack* s = runtime_stack_if_attached()) {
        s->flush();
        runtime_note_app(s);
    }
    return r;
}

size_t iov_total(const iovec* iov, size_t n) {
    size_t t = 0;
    for (size_t i = 0; i < n; ++i) {
        t += iov[i].iov_len;
    }
    return t;
}

// The part of an iovec array after `skip` bytes, in `out` (room for n).
size_t iov_advance(const iovec* iov, size_t n, size_t skip, iovec* out) {
    size_t k = 0;
    for (size_t i = 0; i < n; ++i) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        out[k].iov_base = static_cast<char*>(iov[i].iov_base) + skip;
        out[k].iov_len = iov[i].iov_len - skip;
        skip = 0;
        ++k;
    }
    return k;
}

ssize_t dshim_sendmsg(dfile* f, const msghdr* umsg, int flags) {
    if (f->kind == dfile_kind::inherited) {
        return -EBADFD_INHERITED;
    }
    dshim::socket* s = f->sock;
    const size_t total = iov_total(umsg->msg_iov, umsg->msg_iovlen);
    size_t copied = 0;
    iovec small[64];
    std::vector<iovec> big;
    iovec* rest = small;
    if (umsg->msg_iovlen > 64) {
        big.resize(umsg->msg_iovlen);
        rest = big.data();
    }
    const nsec_t timeo = s->sk->sk_sndtimeo;
    long r = block_loop(is_nonblock(f, flags), timeo, true, [&]() -> long {
        msghdr m{};
        m.msg_iov = rest;
        m.msg_iovlen = iov_advance(umsg->msg_iov, umsg->msg_iovlen, copied, rest);
        const long n = s->ops->sendmsg(s, &m, total - copied, flags & (MSG_MORE | MSG_OOB));
        if (n > 0) {
            copied += size_t(n);
            return copied < total ? -EAGAIN : long(copied);
        }
        if (n == -EAGAIN) {
            return -EAGAIN;
        }
        if (n == 0) {
            return long(copied);
        }
        return copied > 0 ? long(copied) : n;
    });
    if ((r == -EAGAIN || r == -EINTR) && copied > 0) {
        r = long(copied);
    }
    if (r == -EPIPE && !(flags & MSG_NOSIGNAL)) {
        pthread_kill(pthread_self(), SIGPIPE);
    }
    return r;
}

ssize_t dshim_recvmsg(dfile* f, msghdr* umsg, int flags) {
    if (f->kind == dfile_kind::inherited) {
        return -EBADFD_INHERITED;
    }
    if (flags & MSG_ERRQUEUE) {
        // dshim keeps no error queue (no IP_RECVERR, no timestamping): Linux
        // answers an empty queue with EAGAIN, never blocking (socat reads it
        // after every failed connect).
        return -EAGAIN;
    }
    dshim::socket* s = f->sock;
    const size_t total = iov_total(umsg->msg_iov, umsg->msg_iovlen);
    const bool waitall = (flags & MSG_WAITALL) && !(flags & MSG_PEEK);
    size_t copied = 0;
    iovec small[64];
    std::vector<iovec> big;
    iovec* rest = small;
    if (umsg->msg_iovlen > 64) {
        big.resize(umsg->msg_iovlen);
        rest = big.data();
    }
    const nsec_t timeo = s->sk->sk_rcvtimeo;
    const int opflags = flags & (MSG_PEEK | MSG_TRUNC | MSG_OOB);
    long r = block_loop(is_nonblock(f, flags), timeo, true, [&]() -> long {
        msghdr m{};
        m.msg_iov = rest;
        m.msg_iovlen = iov_advance(umsg->msg_iov, umsg->msg_iovlen, copied, rest);
        const long n = s->ops->recvmsg(s, &m, total - copied, opflags);
        if (n > 0) {
            copied += size_t(n);
            return waitall && copied < total ? -EAGAIN : long(copied);
        }
        if (n == -EAGAIN) {
            return -EAGAIN;
        }
        return copied > 0 ? long(copied) : n;
    });
    if ((r == -EAGAIN || r == -EINTR) && copied > 0) {
        r = long(copied);
    }
    umsg->msg_flags = 0;
    umsg->msg_namelen = 0;  // TCP reports no source address
    umsg->msg_controllen = 0;
    return r;
}

// Copies an engine address out as the socket's family shows it (truncated
// to *len, *len set to the full size, as the kernel's move_addr_to_user).
int fill_addr(int family, const sockaddr_in& sin, sockaddr* addr, socklen_t* len) {
    if (!addr || !len) {
        return 0;
    }
    if (int(*len) < 0) {
        return -EINVAL;
    }
    if (family == AF_INET6) {
        const sockaddr_in6 s6 = v4_to_v6(sin);
        std::memcpy(addr, &s6, std::min<size_t>(*len, sizeof(s6)));
        *len = sizeof(s6);
        return 0;
    }
    std::memcpy(addr, &sin, std::min<size_t>(*len, sizeof(sin)));
    *len = sizeof(sin);
    return 0;
}

// The IPv4 address an undecided socket's bind/connect names, if dshim may
// serve it: an AF_INET address, or on an AF_INET6 socket that is not
// IPV6_V6ONLY (the placeholder knows: setsockopt and net.ipv6.bindv6only
// went to it) a v4-mapped address or :: (INADDR_ANY).
bool decidable_addr(int fd, const dfile* f, const sockaddr* addr, socklen_t len, sockaddr_in* out) {
    if (f->family != AF_INET6) {
        if (!addr || len < socklen_t(sizeof(*out))) {
            return false;
        }
        std::memcpy(out, addr, sizeof(*out));
        return out->sin_family == AF_INET;
    }
    if (!addr || len < socklen_t(sizeof(sockaddr_in6))) {
        return false;
    }
    sockaddr_in6 s6;
    std::memcpy(&s6, addr, sizeof(s6));
    if (s6.sin6_family != AF_INET6 || v6_to_v4(s6, out) == v6_addr_kind::other) {
        return false;
    }
    int v6only = 1;
    socklen_t ol = sizeof(v6only);
    return libc.getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &ol) == 0 && v6only == 0;
}

// bind/connect on a decided socket: the engine takes IPv4 addresses.
int engine_addr(const dfile* f, const sockaddr* addr, socklen_t len, bool for_bind, sockaddr_in* out,
                const sockaddr** ea, int* elen) {
    if (f->family == AF_INET6) {
        if (int e = v6_addr_in(addr, len, for_bind, out); e < 0) {
            return e;
        }
        *ea = reinterpret_cast<const sockaddr*>(out);
        *elen = int(sizeof(*out));
        return 0;
    }
    *ea = addr;
    *elen = int(len);
    return 0;
}

int do_accept(int fd, sockaddr* addr, socklen_t* addrlen, int flags) {
    dfile_ref f(fd);
    if (!f || f->kind == dfile_kind::undecided) {
        return libc.accept4(fd, addr, addrlen, flags);
    }
    if (f->kind == dfile_kind::inherited) {
        return sys_ret(-EBADFD_INHERITED);
    }
    if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) {
        return sys_ret(-EINVAL);
    }
    if (addr && addrlen && int(*addrlen) < 0) {
        return sys_ret(-EINVAL);
    }
    dshim::socket* s = f->sock;
    socket* ns = nullptr;
    // A listener on INADDR_ANY accepts on both sides: dshim's queue and its
    // placeholder's kernel queue (kept O_NONBLOCK), whichever has a
    // connection; the side tried first alternates so neither starves. The
    // kernel queue is asked on the first try, after every sleep, and every
    // DSHIM_POLL_KERNEL_US while spinning (architecture.md §3).
    constexpr long kernel_got = 1;
    int kfd = -1;
    const bool dual = f->kernel_listen;
    static thread_local unsigned turn = 0;
    const bool kernel_first = dual && (turn++ & 1);
    nsec_t next_kernel = 0;
    pollfd kp{fd, POLLIN, 0};
    wait_extra ex{&kp, 1};
    auto try_kernel = [&]() -> long {
        const nsec_t now = now_ns();
        if (!dual || (now < next_kernel && !kp.revents)) {
            return -EAGAIN;
        }
        next_kernel = now + g_cfg.poll_kernel_us * NSEC_PER_USEC;
        kp.revents = 0;
        const int k = libc.accept4(fd, addr, addrlen, flags);
        if (k >= 0) {
            kfd = k;
            return kernel_got;
        }
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    };
    const long r = block_loop(is_nonblock(f.get()), s->sk->sk_rcvtimeo, true, [&]() -> long {
        if (kernel_first) {
            if (long k = try_kernel(); k != -EAGAIN) {
                return k;
            }
        }
        const long d = s->ops->accept(s, &ns, flags);
        if (d != -EAGAIN || kernel_first) {
            return d;
        }
        return try_kernel();
    }, dual ? &ex : nullptr);
    if (r < 0) {
        return sys_ret(int(r));
    }
    if (kfd >= 0) {
        return kfd;  // a kernel connection: an ordinary kernel fd from here on
    }
    const int efd = libc.eventfd(0, EFD_NONBLOCK | ((flags & SOCK_CLOEXEC) ? EFD_CLOEXEC : 0));
    if (efd < 0) {
        const int e = errno;
        locked([&] { sock_release(ns); return 0L; });
        return sys_ret(-e);
    }
    auto* nf = new dfile();
    nf->kind = dfile_kind::dshim;
    nf->sock = ns;
    nf->file_flags = (flags & SOCK_NONBLOCK) ? O_NONBLOCK : 0;
    nf->family = f->family;
    sockaddr_in peer{};
    {
        stack_lock lk;
        sock_attach_callbacks(ns->sk);
        (void)ns->ops->getname(ns, reinterpret_cast<sockaddr*>(&peer), 2);
    }
    fd_install(efd, nf);
    if (int e = fill_addr(f->family, peer, addr, addrlen); e < 0) {
        return sys_ret(e);
    }
    return efd;
}

// IPPROTO_IPV6 options of a decided dual-stack socket, an IPv4 flow in the
// engine (do_ipv6_setsockopt on a v4-mapped socket): IPV6_V6ONLY cannot
// change once bound (EINVAL) and reads 0; IPV6_TCLASS is the IPv4 TOS byte
// and IPV6_UNICAST_HOPS the TTL (-1: default); the rest do not apply.
int v6_opt_map(int name, int* ip_name) {
    switch (name) {
    case IPV6_TCLASS: *ip_name = IP_TOS; return 0;
    case IPV6_UNICAST_HOPS: *ip_name = IP_TTL; return 0;
    default: return -ENOPROTOOPT;
    }
}

long v6_setsockopt(dshim::socket* s, int name, const void* val, socklen_t len) {
    int v = 0;
    if (len < socklen_t(sizeof(v))) {
        return -EINVAL;
    }
    std::memcpy(&v, val, sizeof(v));
    if (name == IPV6_V6ONLY) {
        return -EINVAL;
    }
    if (name == IPV6_TCLASS && (v < -1 || v > 0xff)) {
        return -EINVAL;
    }
    int ip_name = 0;
    if (int e = v6_opt_map(name, &ip_name); e < 0) {
        return e;
    }
    if (name == IPV6_TCLASS && v == -1) {
        v = 0;
    }
    return locked([&] { return long(s->ops->setsockopt(s, IPPROTO_IP, ip_name, &v, sizeof(v))); });
}

long v6_getsockopt(dshim::socket* s, int name, void* val, unsigned* len) {
    if (name == IPV6_V6ONLY) {
        const int zero = 0;
        if (*len < sizeof(zero)) {
            return -EINVAL;
        }
        std::memcpy(val, &zero, sizeof(zero));
        *len = sizeof(zero);
        return 0;
    }
    int ip_name = 0;
    if (int e = v6_opt_map(name, &ip_name); e < 0) {
        return e;
    }
    return locked([&] { return long(s->ops->getsockopt(s, IPPROTO_IP, ip_name, val, len)); });
}

}  // namespace

uint32_t dfile_poll(dfile* f) {
    if (f->kind != dfile_kind::dshim) {
        return POLLNVAL;
    }
    stack_lock lk;
    return f->sock->ops->poll(f->sock);
}

}  // namespace dshim::shim

using namespace dshim;
using namespace dshim::shim;

#pragma GCC visibility push(default)
extern "C" {

int socket(int domain, int type, int protocol) {
    libc_resolve();
    const int fd = libc.socket(domain, type, protocol);
    if (fd < 0 || passthrough() || !g_cfg.enabled || runtime_is_forked_child()) {
        return fd;  // a fork child of an attached process cannot attach: kernel
    }
    if ((domain == AF_INET || domain == AF_INET6) && (type & 0xf) == SOCK_STREAM &&
        (protocol == 0 || protocol == IPPROTO_TCP)) {
        auto* f = new dfile();
        f->family = domain;
        f->type_flags = type & (SOCK_NONBLOCK | SOCK_CLOEXEC);
        f->file_flags = (type & SOCK_NONBLOCK) ? O_NONBLOCK : 0;
        any_of(fd) = {};
        fd_install(fd, f);
    }
    return fd;
}

int socketpair(int d, int t, int p, int sv[2]) {
    libc_resolve();
    return libc.socketpair(d, t, p, sv);  // AF_UNIX: always the kernel's
}

int bind(int fd, const sockaddr* addr, socklen_t len) {
    libc_resolve();
    dfile_ref f(fd);
    if (!f) {
        return libc.bind(fd, addr, len);
    }
    if (f->kind == dfile_kind::inherited) {
        return sys_ret(-EBADFD_INHERITED);
    }
    if (f->kind == dfile_kind::undecided) {
        sockaddr_in sin{};
        if (!decidable_addr(fd, f.get(), addr, len, &sin)) {
            handover(fd);
            return libc.bind(fd, addr, len);
        }
        const uint32_t a = ntohl(sin.sin_addr.s_addr);
        if (a == g_cfg.ip) {
            if (int e = make_dshim(fd, f.get()); e < 0) {
                return sys_ret(e);
            }
        } else if (a == INADDR_ANY) {
            // Deferred: the placeholder takes the port (the kernel checks
            // it); listen()/connect() decide later. (sin_port and sin6_port
            // sit at the same offset.)
            const int r = libc.bind(fd, addr, len);
            if (r == 0) {
                sockaddr_in6 got{};
                socklen_t gl = sizeof(got);
                (void)libc.getsockname(fd, reinterpret_cast<sockaddr*>(&got), &gl);
                any_of(fd) = {true, ntohs(got.sin6_port)};
            }
            return r;
        } else {
            handover(fd);
            return libc.bind(fd, addr, len);
        }
    }
    sockaddr_in sin{};
    const sockaddr* ea = nullptr;
    int elen = 0;
    if (int e = engine_addr(f.get(), addr, len, true, &sin, &ea, &elen); e < 0) {
        return sys_ret(e);
    }
    dshim::socket* s = f->sock;
    return int(sys_ret(locked([&] { return long(s->ops->bind(s, ea, elen)); })));
}

int listen(int fd, int backlog) {
    libc_resolve();
    dfile_ref f(fd);
    if (!f) {
        return libc.listen(fd, backlog);
    }
    if (f->kind == dfile_kind::inherited) {
        return sys_ret(-EBADFD_INHERITED);
    }
    bool on_any = false;
    if (f->kind == dfile_kind::undecided) {
        on_any = any_of(fd).set;
        if (int e = make_dshim(fd, f.get()); e < 0) {
            return sys_ret(e);
        }
    }
    dshim::socket* s = f->sock;
    const long r = locked([&] { return long(s->ops->listen(s, backlog)); });
    if (r < 0) {
        return int(sys_ret(r));
    }
    f->is_listener = true;
    if (on_any || f->kernel_listen) {
        // Serve both worlds (architecture.md §4): the placeholder, already
        // bound to INADDR_ANY:port, listens for kernel-side connections
        // (loopback, other interfaces). It stays non-blocking in the kernel;
        // the program's blocking mode lives in file_flags.
        const int fl = libc.fcntl(fd, F_GETFL, 0);
        if (fl >= 0 && libc.fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0 && libc.listen(fd, backlog) == 0) {
            f->kernel_listen = true;
        } else {
            log_msg(1, "fd %d: the kernel side of the INADDR_ANY listener failed (%s); dshim side only", fd,
                    std::strerror(errno));
        }
    }
    return 0;
}

int accept(int fd, sockaddr* addr, socklen_t* len) {
    libc_resolve();
    if (passthrough()) {
        return libc.accept(fd, addr, len);
    }
    dfile_ref f(fd);
    if (!f) {
        return libc.accept(fd, addr, len);
    }
    return do_accept(fd, addr, len, 0);
}

int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
    libc_resolve();
    if (passthrough()) {
        return libc.accept4(fd, addr, len, flags);
    }
    return do_accept(fd, addr, len, flags);
}

int connect(int fd, const sockaddr* addr, socklen_t len) {
    libc_resolve();
    dfile_ref f(fd);
    if (!f) {
        return libc.connect(fd, addr, len);
    }
    if (f->kind == dfile_kind::inherited) {
        return sys_ret(-EBADFD_INHERITED);
    }
    if (f->kind == dfile_kind::undecided) {
        sockaddr_in sin{};
        if (!decidable_addr(fd, f.get(), addr, len, &sin) || !dshim_routes(ntohl(sin.sin_addr.s_addr))) {
            handover(fd);
            return libc.connect(fd, addr, len);
        }
        if (int e = make_dshim(fd, f.get()); e < 0) {
            return sys_ret(e);
        }
    }
    sockaddr_in sin{};
    const sockaddr* ea = nullptr;
    int elen = 0;
    if (int e = engine_addr(f.get(), addr, len, false, &sin, &ea, &elen); e < 0) {
        return sys_ret(e);
    }
    dshim::socket* s = f->sock;
    long r = locked([&] { return long(s->ops->connect(s, ea, elen, 0)); });
    if (r != -EINPROGRESS || is_nonblock(f.get())) {
        return int(sys_ret(r));
    }
    // Blocking connect: wait for the handshake to finish, then collect the
    // result (0 or the error) with a second connect, as the kernel does.
    r = block_loop(false, s->sk->sk_sndtimeo, true, [&]() -> long {
        if ((1u << s->sk->sk_state) & (TCPF_SYN_SENT | TCPF_SYN_RECV)) {
            return -EAGAIN;
        }
        return s->ops->connect(s, ea, elen, 0);
    });
    if (r == -EAGAIN) {
        r = -EINPROGRESS;  // SO_SNDTIMEO expired
    }
    return int(sys_ret(r));
}

ssize_t recvmsg(int fd, msghdr* msg, int flags) {
    libc_resolve();
    dfile_ref f(fd);
    if (!f || f->kind == dfile_kind::undecided) {
        return libc.recvmsg(fd, msg, flags);
    }
    return sys_ret(dshim_recvmsg(f.get(), msg, flags));
}

ssize_t recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* addr, socklen_t* alen) {
    libc_resolve();
    dfile_ref f(fd);
    if (!f || f->kind == dfile_kind::undecided) {
        return libc.recvfrom(fd, buf, n, flags, addr, alen);
    }
    iovec iov{buf, n};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    const ssize_t r = dshim_recvmsg(f.get(), &m, flags);
    if (r >= 0 && addr && alen) {
        *alen = 0;
    }
    return sys_ret(r);
}

ssize_t recv(int fd, void* buf, size_t n, int flags) {
    libc_resolve();
    dfile_ref f(fd);
    if (!f || f->kind == dfile_kind::undecided) {
        return libc.recv(fd, buf, n, flags);
    }
    iovec iov{buf, n};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    return sys_ret(dshim_recvmsg(f.get(), &m, flags));
}

ssize_t read(int fd, void* buf, size_t n) {
    libc_resolve();
    dfile_ref f(fd);
    if (!f || f->kind == dfile_kind::undecided) {
        return libc.read(fd, buf, n);
    }
    iovec iov{buf, n};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    return sys_ret(dshim_recvmsg(f.get(), &m, 0));
}

ssize_t readv(int fd, const iovec* iov, int cnt) {
    libc_resolve();
    dfile_ref f(fd);
    if (!f || f->kind == dfile_kind::undecided) {
        return libc.readv(fd, iov, cnt);
    }
    if (cnt < 0 || cnt > IOV_MAX) {
        return sys_ret(ssize_t(-EINVAL));
    }
    msghdr m{};
    m.msg_iov = const_cast<iovec*>(iov);
    m.msg_iovlen = size_t(cnt);
    return sys_ret(dshim_recvmsg(f.get(), &m, 0));
}

ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
    libc_resolve();
    dfile_ref f(fd);
    if (!f || f->kind == dfile_kind::undecided) {
        return libc.sendmsg(fd, msg, flags);
    }
    return sys_ret(dshim_sendmsg(f.get(), msg, flags));
}

ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* addr, socklen_t alen) {
    libc_resolve();
    dfile_ref f(fd);
    if (!f || f->kind == dfile_kind::undecided) {
        return libc.sendto(fd, buf, n, flags, addr, alen);
    }
    iovec iov{const_cast<void*>(buf), n};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    return sys_ret(dshim_sendmsg(f.get(), &m, flags));  // TCP ignores the address
}

ssize_t send(int fd, const void* buf, size_t n, int flags) {
    libc_resolve();
    dfile_ref f(fd);
    if (!f || f->kind == dfile_kind::undecided) {
        return libc.send(fd, buf, n, flags);
    }
    iovec iov{const_cast<void*>(buf), n};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    return sys_ret(dshim_sendmsg(f.get(), &m, flags));
}

ssize_t write(int fd, const void* buf, size_t n) {
    libc_resolve();
    dfile_ref f(fd);
    if (!f || f->kind == dfile_kind::undecided) {
        return libc.write(fd, buf, n);
    }
    iovec iov{const_cast<void*>(buf), n};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    return sys_ret(dshim_sendmsg(f.get(), &m, 0));
}

ssize_t writev(int fd, const iovec* iov, int cnt) {
    libc_resolve();
    dfile_ref f(fd);
    if (!f || f->kind == dfile_kind::undecided) {
        return libc.writev(fd, iov, cnt);
    }
    if (cnt < 0 || cnt > IOV_MAX) {
        return sys_ret(ssize_t(-EINVAL));
    }
    msghdr m{};
    m.msg_iov = const_cast<iovec*>(iov);
    m.msg_iovlen = size_t(cnt);
    return sys_ret(dshim_sendmsg(f.get(), &m, 0));
}

int close(int fd) {
    libc_resolve();
    if (passthrough()) {
        return libc.close(fd);
    }
    epoll_forget(fd);
    dfile* f = fd_remove(fd);
    if (f) {
        any_of(fd) = {};
    }
    const int r = libc.close(fd);
    if (f) {
        fd_put(f);
    }
    return r;
}

int shutdown(int fd, int how) {
    libc_resolve();
    dfile_ref f(fd);
    if (!f || f->kind == dfile_kind::undecided) {
        return libc.shutdown(fd, how);
    }
    if (f->kind == dfile_kind::inherited) {
        return sys_ret(-EBADFD_INHERITED);
    }
    dshim::socket* s = f->sock;
    return int(sys_ret(locked([&] { return long(s->ops->shutdown(s, how)); })));
}

int getsockname(int fd, sockaddr* addr, socklen_t* len) {
    libc_resolve();
    dfile_ref f(fd);
    if (!f || f->kind == dfile_kind::undecided) {
        return libc.getsockname(fd, addr, len);
    }
    if (f->kind == dfile_kind::inherited) {
        return sys_ret(-EBADFD_INHERITED);
    }
    if (!addr || !len) {
        return sys_ret(-EFAULT);
    }
    sockaddr_in sin{};
    dshim::socket* s = f->sock;
    const long r = locked([&] { return long(s->ops->getname(s, reinterpret_cast<sockaddr*>(&sin), 0)); });
    if (r < 0) {
        return sys_ret(int(r));
    }
    return sys_ret(fill_addr(f->family, sin, addr, len));
}

int getpeername(int fd, sockaddr* addr, socklen_t* len) {
    libc_resolve();
    dfile_ref f(fd);
    if (!f || f->kind == dfile_kind::undecided) {
        return libc.getpeername(fd, addr, len);
    }
    if (f->kind == dfile_kind::inherited) {
        return sys_ret(-EBADFD_INHERITED);
    }
    if (!addr || !len) {
        return sys_ret(-EFAULT);
    }
    sockaddr_in sin{};
    dshim::socket* s = f->sock;
    const long r = locked([&] { return long(s->ops->getname(s, reinterpret_cast<sockaddr*>(&sin), 1)); });
    if (r < 0) {
        return sys_ret(int(r));
    }
    return sys_ret(fill_addr(f->family, sin, addr, len));
}

int setsockopt(int fd, int level, int name, const void* val, socklen_t len) {
    libc_resolve();
    dfile_ref f(fd);
    if (!f) {
        return libc.setsockopt(fd, level, name, val, len);
    }
    if (f->kind == dfile_kind::undecided) {
        const int r = libc.setsockopt(fd, level, name, val, len);
        if (r == 0 && val && len > 0 && len <= 256) {
            recorded_opt o{level, name, {}};
            o.value.assign(static_cast<const unsigned char*>(val), static_cast<const unsigned char*>(val) + len);
            f->opts.push_back(std::move(o));
        }
        return r;
    }
    if (f->kind == dfile_kind::inherited) {
        return sys_ret(-EBADFD_INHERITED);
    }
    if (!val && len > 0) {
        return sys_ret(-EFAULT);
    }
    dshim::socket* s = f->sock;
    if (f->family == AF_INET6 && level == IPPROTO_IPV6) {
        return int(sys_ret(v6_setsockopt(s, name, val, len)));
    }
    return int(sys_ret(locked([&] { return long(s->ops->setsockopt(s, level, name, val, len)); })));
}

int getsockopt(int fd, int level, int name, void* val, socklen_t* len) {
    libc_resolve();
    dfile_ref f(fd);
    if (!f || f->kind == dfile_kind::undecided) {
        return libc.getsockopt(fd, level, name, val, len);
    }
    if (f->kind == dfile_kind::inherited) {
        return sys_ret(-EBADFD_INHERITED);
    }
    if (!len || !val) {
        return sys_ret(-EFAULT);
    }
    if (int(*len) < 0) {
        return sys_ret(-EINVAL);
    }
    dshim::socket* s = f->sock;
    unsigned l = *len;
    const long r = f->family == AF_INET6 && level == IPPROTO_IPV6
                       ? v6_getsockopt(s, name, val, &l)
                       : locked([&] { return long(s->ops->getsockopt(s, level, name, val, &l)); });
    if (r == 0) {
        *len = l;
        if (level == SOL_SOCKET && name == SO_DOMAIN && l == sizeof(int)) {
            std::memcpy(val, &f->family, sizeof(int));  // the engine's socket is AF_INET
        }
    }
    return int(sys_ret(r));
}

static int do_fcntl(int fd, int cmd, long arg) {
    dfile_ref f(fd);
    if (!f) {
        return libc.fcntl(fd, cmd, arg);
    }
    switch (cmd) {
    case F_SETFL: {
        // A dual listener's placeholder stays non-blocking in the kernel.
        const int r = libc.fcntl(fd, cmd, f->kernel_listen ? (arg | O_NONBLOCK) : arg);
        if (r == 0) {
            f->file_flags = int(arg) & O_NONBLOCK;
        }
        return r;
    }
    case F_GETFL: {
        // O_NONBLOCK is the program's, not the placeholder's (an accepted
        // socket's eventfd and a dual listener's kernel socket are always
        // non-blocking in the kernel).
        const int r = libc.fcntl(fd, cmd, arg);
        if (r >= 0 && f->kind != dfile_kind::undecided) {
            return (r & ~O_NONBLOCK) | (f->file_flags.load() & O_NONBLOCK);
        }
        return r;
    }
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
        const int nfd = libc.fcntl(fd, cmd, arg);
        if (nfd >= 0) {
            f->refcnt.fetch_add(1);
            fd_install(nfd, f.get());
        }
        return nfd;
    }
    default:
        return libc.fcntl(fd, cmd, arg);
    }
}

// <fcntl.h> with _FILE_OFFSET_BITS=64 renames fcntl to fcntl64; both
// symbols exist in glibc and programs import either, so both names are
// exported, from one definition (glibc's two are one function on LP64 too).
int dshim_fcntl(int fd, int cmd, ...) __asm__("fcntl");
int dshim_fcntl(int fd, int cmd, ...) {
    libc_resolve();
    va_list ap;
    va_start(ap, cmd);
    const long arg = va_arg(ap, long);
    va_end(ap);
    return do_fcntl(fd, cmd, arg);
}
int dshim_fcntl64(int fd, int cmd, ...) __asm__("fcntl64") __attribute__((alias("fcntl")));

int ioctl(int fd, unsigned long req, ...) {
    libc_resolve();
    va_list ap;
    va_start(ap, req);
    void* arg = va_arg(ap, void*);
    va_end(ap);
    dfile_ref f(fd);
    if (!f) {
        return libc.ioctl(fd, req, arg);
    }
    // FIONBIO is recorded also before the accelerate-or-hand-over decision
    // (python's settimeout() uses it right after socket()), as F_SETFL is.
    if (req == FIONBIO) {
        int one = 1;
        const int r = libc.ioctl(fd, req, f->kernel_listen ? &one : arg);
        if (r == 0 && arg) {
            int on;
            std::memcpy(&on, arg, sizeof(on));
            f->file_flags = on ? O_NONBLOCK : 0;
        }
        return r;
    }
    if (f->kind == dfile_kind::undecided) {
        return libc.ioctl(fd, req, arg);
    }
    if (f->kind == dfile_kind::inherited) {
        return sys_ret(-EBADFD_INHERITED);
    }
    if (req == FIONREAD || req == SIOCOUTQ || req == SIOCOUTQNSD || req == SIOCATMARK) {
        if (!arg) {
            return sys_ret(-EFAULT);
        }
        dshim::socket* s = f->sock;
        const long r = locked([&] { return long(s->ops->ioctl(s, unsigned(req), reinterpret_cast<unsigned long>(arg))); });
        return int(sys_ret(r));
    }
    // Interface queries and the like: the placeholder answers.
    return libc.ioctl(fd, req, arg);
}

int dup(int fd) {
    libc_resolve();
    dfile_ref f(fd);
    const int nfd = libc.dup(fd);
    if (nfd >= 0 && f) {
        f->refcnt.fetch_add(1);
        fd_install(nfd, f.get());
    }
    return nfd;
}

static int do_dup3(int fd, int fd2, int flags, bool is_dup2) {
    dfile_ref f(fd);
    if (fd == fd2) {
        return is_dup2 ? libc.dup2(fd, fd2) : libc.dup3(fd, fd2, flags);
    }
    epoll_forget(fd2);
    dfile* old = passthrough() ? nullptr : fd_remove(fd2);
    const int r = is_dup2 ? libc.dup2(fd, fd2) : libc.dup3(fd, fd2, flags);
    if (r < 0) {
        if (old) {
            fd_install(fd2, old);  // nothing changed
        }
        return r;
    }
    if (old) {
        fd_put(old);
    }
    if (f) {
        f->refcnt.fetch_add(1);
        fd_install(fd2, f.get());
    }
    return r;
}

int dup2(int fd, int fd2) {
    libc_resolve();
    return do_dup3(fd, fd2, 0, true);
}

int dup3(int fd, int fd2, int flags) {
    libc_resolve();
    return do_dup3(fd, fd2, flags, false);
}

int close_range(unsigned lo, unsigned hi, int flags) {
    libc_resolve();
    if (!passthrough() && !(flags & CLOSE_RANGE_CLOEXEC)) {
        const unsigned top = std::min<unsigned>(hi, unsigned(fd_limit()) - 1);
        for (unsigned fd = lo; fd <= top && fd < unsigned(fd_limit()); ++fd) {
            epoll_forget(int(fd));
            if (dfile* f = fd_remove(int(fd))) {
                fd_put(f);
            }
        }
    }
    return libc.close_range(lo, hi, flags);
}

void closefrom(int lo) {
    libc_resolve();
    if (!passthrough() && lo >= 0) {
        for (int fd = lo; fd < fd_limit(); ++fd) {
            epoll_forget(fd);
            if (dfile* f = fd_remove(fd)) {
                fd_put(f);
            }
        }
    }
    libc.closefrom(lo);
}

// sendfile to a dshim socket: read from in_fd (a file, pipe or kernel
// socket) and send through the engine. Linux semantics: offset NULL uses and
// advances in_fd's position, else reads at *offset and updates it.
static ssize_t do_sendfile(int out_fd, int in_fd, off_t* offset, size_t count) {
    dfile_ref f(out_fd);
    if (!f || f->kind == dfile_kind::undecided) {
        return -1000;  // not ours
    }
    if (f->kind == dfile_kind::inherited) {
        return sys_ret(ssize_t(-EBADFD_INHERITED));
    }
    if (dfile_ref in(in_fd); in) {
        return sys_ret(ssize_t(-EINVAL));  // a socket as the source: EINVAL, as Linux
    }
    char buf[65536];
    size_t done = 0;
    off_t pos = offset ? *offset : 0;
    while (done < count) {
        const size_t want = std::min(sizeof(buf), count - done);
        const ssize_t n = offset ? pread(in_fd, buf, want, pos) : libc.read(in_fd, buf, want);
        if (n < 0) {
            if (done > 0) {
                break;
            }
            return -1;  // errno from the read
        }
        if (n == 0) {
            break;
        }
        iovec iov{buf, size_t(n)};
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        const ssize_t w = dshim_sendmsg(f.get(), &m, 0);
        if (w < 0) {
            if (!offset) {
                lseek(in_fd, -n, SEEK_CUR);  // give back what was not sent
            }
            if (done > 0) {
                break;
            }
            return sys_ret(w);
        }
        if (w < n && !offset) {
            lseek(in_fd, -(n - w), SEEK_CUR);
        }
        done += size_t(w);
        pos += w;
        if (w < n) {
            break;  // non-blocking socket full
        }
    }
    if (offset) {
        *offset = pos;
    }
    return ssize_t(done);
}

// <sys/sendfile.h> maps sendfile to sendfile64 with 64-bit offsets; both
// names are exported, from one definition: off_t is 64-bit here, and glibc's
// sendfile64 is an alias of its sendfile, so passing through to "sendfile"
// is the same call.
static_assert(sizeof(off_t) == 8, "sendfile64 is an alias of sendfile only where off_t is 64-bit");
ssize_t dshim_sendfile(int out_fd, int in_fd, off_t* offset, size_t count) __asm__("sendfile");
ssize_t dshim_sendfile(int out_fd, int in_fd, off_t* offset, size_t count) {
    libc_resolve();
    const ssize_t r = passthrough() ? -1000 : do_sendfile(out_fd, in_fd, offset, count);
    if (r != -1000) {
        return r;
    }
    using fn = ssize_t (*)(int, int, off_t*, size_t);
    static fn real = reinterpret_cast<fn>(dlsym(RTLD_NEXT, "sendfile"));
    return real(out_fd, in_fd, offset, count);
}
ssize_t dshim_sendfile64(int out_fd, int in_fd, off_t* offset, size_t count) __asm__("sendfile64")
    __attribute__((alias("sendfile")));

// recvmmsg/sendmmsg: one message after another (TCP has no datagram
// boundaries; Linux does the same loop in the kernel). Blocking applies to
// the first message only; later ones are tried without waiting.
int recvmmsg(int fd, struct mmsghdr* vec, unsigned int vlen, int flags, struct timespec* timeout) {
    libc_resolve();
    dfile_ref f(fd);
    if (!f || f->kind == dfile_kind::undecided) {
        using fn = int (*)(int, struct mmsghdr*, unsigned, int, struct timespec*);
        static fn real = reinterpret_cast<fn>(dlsym(RTLD_NEXT, "recvmmsg"));
        return real(fd, vec, vlen, flags, timeout);
    }
    unsigned i = 0;
    for (; i < vlen; ++i) {
        const ssize_t r = dshim_recvmsg(f.get(), &vec[i].msg_hdr, i == 0 ? (flags & ~MSG_WAITFORONE)
                                                                           : (flags | MSG_DONTWAIT));
        if (r < 0) {
            if (i == 0) {
                return int(sys_ret(r));
            }
            break;
        }
        vec[i].msg_len = unsigned(r);
        if (r == 0) {
            ++i;
            break;
        }
    }
    return int(i);
}

int sendmmsg(int fd, struct mmsghdr* vec, unsigned int vlen, int flags) {
    libc_resolve();
    dfile_ref f(fd);
    if (!f || f->kind == dfile_kind::undecided) {
        using fn = int (*)(int, struct mmsghdr*, unsigned, int);
        static fn real = reinterpret_cast<fn>(dlsym(RTLD_NEXT, "sendmmsg"));
        return real(fd, vec, vlen, flags);
    }
    unsigned i = 0;
    for (; i < vlen; ++i) {
        const ssize_t r = dshim_sendmsg(f.get(), &vec[i].msg_hdr, flags);
        if (r < 0) {
            if (i == 0) {
                return int(sys_ret(r));
            }
            break;
        }
        vec[i].msg_len = unsigned(r);
    }
    return int(i);
}

pid_t fork(void) {
    // The atfork handlers (runtime.cc) cut the child off the port.
    libc_resolve();
    return libc.fork();
}

int eventfd(unsigned int v, int flags) {
    libc_resolve();
    return libc.eventfd(v, flags);
}

// _exit skips the atexit handler that detaches the port (exit_linger): the
// kernel releases the lock with the fd, but the lock file, the stat socket
// and the EAL runtime directory would stay behind. exit() calls glibc's
// internal _exit, not this one.
[[noreturn]] void _exit(int status) {
    libc_resolve();
    runtime_exit_files();
    libc._exit(status);
    __builtin_unreachable();
}

[[noreturn]] void _Exit(int status) noexcept {
    _exit(status);
}

pid_t vfork(void) {
    // A vfork child shares our memory: it must never run dshim code that
    // changes state. fork() gives it its own copy (and our atfork handlers).
    libc_resolve();
    return libc.fork();
}

// syscall(2): libuv (node) closes fds with syscall(SYS_close, fd) to avoid
// the cancellation point in close(); that must not leave a dshim socket in
// the fd table behind the number, which the kernel hands out again at once.
// Only close and close_range are routed; everything else goes to libc as is
// (unused argument registers are ignored by the kernel).
long dshim_syscall(long n, ...) __asm__("syscall");
long dshim_syscall(long n, ...) {
    va_list ap;
    va_start(ap, n);
    long a[6];
    for (long& x : a) {
        x = va_arg(ap, long);
    }
    va_end(ap);
    if (runtime_ready() && !t_in_dshim) {
        if (n == SYS_close) {
            return close(int(a[0]));
        }
        if (n == SYS_close_range) {
            return close_range(unsigned(a[0]), unsigned(a[1]), int(a[2]));
        }
    }
    using fn = long (*)(long, ...);
    static fn real = reinterpret_cast<fn>(dlsym(RTLD_NEXT, "syscall"));
    return real(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}

// Fortified variants (_FORTIFY_SOURCE): same semantics after the bounds check.
ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen) {
    if (n > buflen) {
        __builtin_trap();
    }
    return read(fd, buf, n);
}
ssize_t __recv_chk(int fd, void* buf, size_t n, size_t buflen, int flags) {
    if (n > buflen) {
        __builtin_trap();
    }
    return recv(fd, buf, n, flags);
}
ssize_t __recvfrom_chk(int fd, void* buf, size_t n, size_t buflen, int flags, sockaddr* a, socklen_t* l) {
    if (n > buflen) {
        __builtin_trap();
    }
    return recvfrom(fd, buf, n, flags, a, l);
}

}  // extern "C"
#pragma GCC visibility pop
