// poll, ppoll, select, pselect and epoll over mixed fd sets (see poll.hh).
// Kernel counterparts: fs/select.c (poll/select) and fs/eventpoll.c (epoll);
// the epoll design (kernel epoll for kernel fds + a user-space interest list
// for dshim fds, nesting, close rules) is described in poll.hh.
#include "shim/poll.hh"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "shim/calls.hh"
#include "shim/signals.hh"

namespace dshim::shim {

namespace {

nsec_t to_deadline(nsec_t timeout) { return timeout == TIME_NEVER ? TIME_NEVER : now_ns() + timeout; }

// ppoll/pselect/epoll_pwait with a signal mask: the mask holds for the whole
// call (spinning included), as the kernel holds it for the whole syscall.
class mask_scope {
public:
    explicit mask_scope(const sigset_t* mask) : _on(mask != nullptr) {
        if (_on) {
            pthread_sigmask(SIG_SETMASK, mask, &_old);
        }
    }
    ~mask_scope() {
        if (_on) {
            pthread_sigmask(SIG_SETMASK, &_old, nullptr);
        }
    }
    mask_scope(const mask_scope&) = delete;
    mask_scope& operator=(const mask_scope&) = delete;

private:
    bool _on;
    sigset_t _old{};
};

// ------------------------------------------------------------------ epoll state

constexpr uint32_t kExclusiveOk = EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;
// The kernel registration of a nested epoll fd carries this tag instead of
// the program's data, so its kernel events can be merged with its dshim
// readiness (never two events for one fd). User-space pointers and small
// integers never have these high bits.
constexpr uint64_t kNestedTag = 0xd5d5000000000000ull;
constexpr uint64_t kNestedMask = 0xffff000000000000ull;
constexpr int kMaxNest = 5;  // EP_MAX_NESTS
constexpr uint64_t kKickTag = 0xd5d6000000000000ull;  // the kick eventfd's registration

struct shim_epoll;

struct ep_item {
    int fd = -1;
    dfile* f = nullptr;                  // a dshim (or undecided) socket: identity, no reference
    std::shared_ptr<shim_epoll> inner;   // or a nested epoll fd
    uint32_t events = 0;                 // as given, plus EPOLLERR | EPOLLHUP
    epoll_data_t data{};
    uint32_t last_mask = 0;              // EPOLLET: what was reported last
    uint64_t last_seq = 0;               // EPOLLET: the socket's event counts then
    bool disabled = false;               // EPOLLONESHOT fired
};

struct shim_epoll {
    int epfd = -1;
    std::mutex mu;                       // order: stack lock < g_ep_mu < mu (outer) < mu (inner)
    std::vector<ep_item> items;
    std::atomic<int> members{0};         // items.size(), readable without mu
    size_t rotor = 0;                    // fairness among dshim members
    bool kernel_first = false;           // the last call's dshim events filled maxevents
    // Threads blocked in the kernel epoll (no dshim member when they went
    // in) and the eventfd, registered in the kernel epoll, that wakes them
    // when another thread adds a dshim member (the memcached/node pattern).
    std::atomic<int> kernel_waiters{0};
    std::atomic<int> kick_fd{-1};

    shim_epoll() = default;
    shim_epoll(const shim_epoll&) = delete;
    shim_epoll& operator=(const shim_epoll&) = delete;
    ~shim_epoll() {
        if (kick_fd.load() >= 0) {
            libc.close(kick_fd.load());
        }
    }
};

std::mutex g_ep_mu;
std::unordered_map<int, std::shared_ptr<shim_epoll>>& epolls() {
    static auto* m = new std::unordered_map<int, std::shared_ptr<shim_epoll>>();
    return *m;
}

// EPOLLEXCLUSIVE (wake one): a socket event is claimed by the first epoll
// set that reports it; other sets holding the socket exclusively see it only
// on its next event.
struct excl_claim {
    uint64_t seq;
    const shim_epoll* ep;
};
std::mutex g_excl_mu;
std::unordered_map<const dfile*, excl_claim>& excl_claims() {
    static auto* m = new std::unordered_map<const dfile*, excl_claim>();
    return *m;
}

std::shared_ptr<shim_epoll> ep_find(int epfd) {
    std::lock_guard<std::mutex> g(g_ep_mu);
    auto& m = epolls();
    auto it = m.find(epfd);
    return it == m.end() ? nullptr : it->second;
}

std::shared_ptr<shim_epoll> ep_register(int epfd) {
    auto ep = std::make_shared<shim_epoll>();
    ep->epfd = epfd;
    std::lock_guard<std::mutex> g(g_ep_mu);
    epolls()[epfd] = ep;
    return ep;
}

// 0 when epfd is an epoll fd the shim did not see created, else the errno
// the kernel gives (EBADF, EINVAL): asked with a harmless DEL of an fd that
// is never in any set.
int ep_probe(int epfd) {
    static int probe_fd = [] {
        const bool was = t_in_dshim;
        t_in_dshim = true;
        const int fd = libc.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        t_in_dshim = was;
        return fd;
    }();
    epoll_event dummy{};
    if (libc.epoll_ctl(epfd, EPOLL_CTL_DEL, probe_fd, &dummy) == 0 || errno == ENOENT) {
        return 0;
    }
    return errno;
}

// The socket's event counts as the item cares about them: receive-side
// events in the low half, send-side in the high half (runtime.cc's sock
// callbacks), so an EPOLLIN|EPOLLET item is not re-reported for an ACK.
uint64_t item_seq(const ep_item& it, uint64_t raw) {
    uint64_t s = 0;
    if (it.events & (EPOLLIN | EPOLLRDNORM | EPOLLRDHUP | EPOLLPRI)) {
        s |= raw & 0xffffffffull;
    }
    if (it.events & (EPOLLOUT | EPOLLWRNORM)) {
        s |= raw & 0xffffffff00000000ull;
    }
    return s;
}

uint64_t sock_seq(const dfile* f) { return uint64_t(reinterpret_cast<uintptr_t>(f->sock->sk->sk_user_data)); }

// Edge-triggered filter: report only what is new since the last report.
bool et_pass(ep_item& it, uint32_t rep, uint64_t seq) {
    if (!(it.events & EPOLLET)) {
        return rep != 0;
    }
    if (rep == 0) {
        it.last_mask = 0;
        return false;
    }
    if ((rep & ~it.last_mask) == 0 && seq == it.last_seq) {
        return false;
    }
    it.last_mask = rep;
    it.last_seq = seq;
    return true;
}

bool dshim_ready_locked(shim_epoll* ep, int depth);

// The dshim-side readiness of one member (stack lock and ep->mu held);
// *kernel: the member is answered by its kernel socket (undecided, or a
// dual listener's kernel side) and must be asked with poll().
uint32_t member_mask(ep_item& it, int depth, bool* kernel) {
    *kernel = false;
    if (it.inner) {
        if (depth >= kMaxNest) {
            return 0;
        }
        std::lock_guard<std::mutex> g(it.inner->mu);
        return dshim_ready_locked(it.inner.get(), depth + 1) ? uint32_t(EPOLLIN) : 0u;
    }
    if (it.f->kind != dfile_kind::dshim) {
        *kernel = true;
        return 0;
    }
    const uint32_t m = it.f->sock->ops->poll(it.f->sock) & (it.events | EPOLLERR | EPOLLHUP);
    if (m == 0 && dfile_kernel_side(it.f) && (it.events & EPOLLIN)) {
        *kernel = true;
    }
    return m;
}

// Whether an epoll set has a dshim member with an event to report (what
// makes the epoll fd itself readable in an outer poll/select/epoll). Does
// not consume edge-triggered events. Stack lock and ep->mu held.
bool dshim_ready_locked(shim_epoll* ep, int depth) {
    for (ep_item& it : ep->items) {
        if (it.disabled) {
            continue;
        }
        bool kernel = false;
        const uint32_t m = member_mask(it, depth, &kernel);
        if (kernel && !it.inner) {
            pollfd p{it.fd, short(it.events & 0xffff), 0};
            if (libc.poll(&p, 1, 0) > 0 && p.revents) {
                return true;
            }
            continue;
        }
        if (m == 0) {
            continue;
        }
        if (!(it.events & EPOLLET) || it.inner || (m & ~it.last_mask) ||
            item_seq(it, sock_seq(it.f)) != it.last_seq) {
            return true;
        }
    }
    return false;
}

}  // namespace

namespace {

// Set once any epoll set holds a dshim member: until then poll/select need
// not look for epoll fds in their sets.
std::atomic<bool> g_epoll_members_seen{false};

// The idle step of poll_core's and ep_wait's loops, when nothing was ready:
// spin on while spin_end is ahead; else sleep until a dshim event (none
// missed since seq), one of the kernel fds kfds, the deadline, or 100 ms at
// most. Returns 1 when it did not sleep (go round; the kernel side is not
// due), 0 after the sleep (look at the kernel side at once), -EINTR when a
// program's signal handler ran.
int idle_wait(uint64_t seq, nsec_t now, nsec_t spin_end, nsec_t deadline, std::vector<pollfd>& kfds) {
    if (now < spin_end) {
        return 1;
    }
    runtime_sleeper_enter();
    if (runtime_event_seq() != seq) {
        runtime_sleeper_exit();
        return 1;
    }
    wait_extra ex{kfds.data(), int(kfds.size())};
    const int w = runtime_wait(std::min(deadline, now + 100 * NSEC_PER_MSEC), &ex, nullptr);
    runtime_sleeper_exit();
    return w == -EINTR ? -EINTR : 0;
}

// The common loop of poll/ppoll/select/pselect. timeout: TIME_NEVER = wait
// forever. Returns the ready count or -errno. The caller applies any signal
// mask (mask_scope).
int poll_core(pollfd* fds, nfds_t n, nsec_t timeout, const sigset_t* mask) {
    std::vector<dfile*> files(n, nullptr);
    std::vector<std::shared_ptr<shim_epoll>> eps;  // epoll fds with dshim members (by index)
    std::vector<pollfd> kfds;
    std::vector<nfds_t> kidx;
    bool any_dshim = false;
    const bool look_for_epolls = g_epoll_members_seen.load(std::memory_order_relaxed);
    for (nfds_t i = 0; i < n; ++i) {
        fds[i].revents = 0;
        dfile* f = fds[i].fd >= 0 ? fd_get(fds[i].fd) : nullptr;
        if (f && f->kind == dfile_kind::undecided) {
            fd_put(f);
            f = nullptr;  // the placeholder is a true kernel socket until decided
        }
        files[i] = f;
        if (f) {
            any_dshim = true;
        } else if (look_for_epolls && fds[i].fd >= 0) {
            if (auto ep = ep_find(fds[i].fd); ep && ep->members.load() > 0) {
                if (eps.empty()) {
                    eps.resize(n);
                }
                eps[i] = std::move(ep);
                any_dshim = true;
            }
        }
        // Kernel fds, the kernel side of a dual listener (calls.hh), and the
        // kernel part of a nested epoll fd.
        if ((!f || dfile_kernel_side(f)) && fds[i].fd >= 0) {
            kfds.push_back(fds[i]);
            kidx.push_back(i);
        }
    }
    auto release = [&] {
        for (dfile* f : files) {
            if (f) {
                fd_put(f);
            }
        }
    };
    if (!any_dshim) {
        release();
        timespec ts{};
        timespec* tsp = nullptr;
        if (timeout != TIME_NEVER) {
            ts.tv_sec = time_t(timeout / NSEC_PER_SEC);
            ts.tv_nsec = long(timeout % NSEC_PER_SEC);
            tsp = &ts;
        }
        signal_wait_begin();
        const nsec_t deadline = to_deadline(timeout);
        for (;;) {
            const int r = libc.ppoll(fds, n, tsp, mask);
            if (r >= 0 || errno != EINTR || signal_program_interrupts() > 0) {
                return r < 0 ? -errno : r;
            }
            // A signal of dshim's or DPDK's own: not the program's EINTR.
            if (tsp) {
                const nsec_t now = now_ns();
                const nsec_t left = deadline > now ? deadline - now : 0;
                ts.tv_sec = time_t(left / NSEC_PER_SEC);
                ts.tv_nsec = long(left % NSEC_PER_SEC);
            }
        }
    }
    mask_scope ms(mask);
    signal_wait_begin();
    const nsec_t deadline = to_deadline(timeout);
    const nsec_t spin_end = now_ns() + g_cfg.spin_us * NSEC_PER_USEC;
    nsec_t next_kernel = 0;
    int result = 0;
    for (;;) {
        const uint64_t seq = runtime_event_seq();
        int ready = 0;
        {
            stack_lock lk;
            poll_pass_locked();
            for (nfds_t i = 0; i < n; ++i) {
                dfile* f = files[i];
                uint32_t m = 0;
                if (f) {
                    m = f->kind == dfile_kind::dshim ? f->sock->ops->poll(f->sock) : POLLNVAL;
                } else if (!eps.empty() && eps[i]) {
                    std::lock_guard<std::mutex> g(eps[i]->mu);
                    m = dshim_ready_locked(eps[i].get(), 1) ? uint32_t(POLLIN) : 0u;
                } else {
                    continue;
                }
                m &= uint32_t(uint16_t(fds[i].events)) | POLLERR | POLLHUP | POLLNVAL;
                fds[i].revents = short(m);
                ready += m ? 1 : 0;
            }
        }
        nsec_t now = now_ns();
        if (!kfds.empty() && (now >= next_kernel || ready > 0 || timeout == 0)) {
            const int kr = libc.poll(kfds.data(), kfds.size(), 0);
            if (kr < 0) {
                result = -errno;
                break;
            }
            for (size_t j = 0; j < kfds.size(); ++j) {
                short& rv = fds[kidx[j]].revents;  // one fd may be ready on both sides: counted once
                ready += kfds[j].revents && !rv ? 1 : 0;
                rv = short(rv | kfds[j].revents);
            }
            next_kernel = now + g_cfg.poll_kernel_us * NSEC_PER_USEC;
        }
        if (ready > 0 || timeout == 0 || now >= deadline) {
            result = ready;
            break;
        }
        const int w = idle_wait(seq, now, spin_end, deadline, kfds);
        if (w == -EINTR) {
            result = -EINTR;  // poll and select are never restarted
            break;
        }
        if (w == 0) {
            next_kernel = 0;  // look at the kernel fds right away
        }
    }
    release();
    return result;
}

nsec_t ms_timeout(int ms) { return ms < 0 ? TIME_NEVER : nsec_t(ms) * NSEC_PER_MSEC; }

nsec_t ts_timeout(const timespec* ts) {
    return ts ? nsec_t(ts->tv_sec) * NSEC_PER_SEC + nsec_t(ts->tv_nsec) : TIME_NEVER;
}

int select_core(int nfds, fd_set* r, fd_set* w, fd_set* e, nsec_t timeout, const sigset_t* mask) {
    if (nfds < 0) {
        return -EINVAL;
    }
    nfds = std::min(nfds, int(FD_SETSIZE));
    std::vector<pollfd> pfds;
    for (int fd = 0; fd < nfds; ++fd) {
        short ev = 0;
        if (r && FD_ISSET(fd, r)) { ev |= POLLIN; }
        if (w && FD_ISSET(fd, w)) { ev |= POLLOUT; }
        if (e && FD_ISSET(fd, e)) { ev |= POLLPRI; }
        if (ev) {
            pfds.push_back(pollfd{fd, ev, 0});
        }
    }
    const int pr = poll_core(pfds.data(), pfds.size(), timeout, mask);
    if (pr < 0) {
        return pr;
    }
    int count = 0;
    for (const auto& p : pfds) {
        if (p.revents & POLLNVAL) {
            return -EBADF;
        }
    }
    for (const auto& p : pfds) {
        const bool in = r && FD_ISSET(p.fd, r) && (p.revents & (POLLIN | POLLRDNORM | POLLHUP | POLLERR));
        const bool out = w && FD_ISSET(p.fd, w) && (p.revents & (POLLOUT | POLLWRNORM | POLLERR));
        const bool ex = e && FD_ISSET(p.fd, e) && (p.revents & POLLPRI);
        if (r && FD_ISSET(p.fd, r) && !in) { FD_CLR(p.fd, r); }
        if (w && FD_ISSET(p.fd, w) && !out) { FD_CLR(p.fd, w); }
        if (e && FD_ISSET(p.fd, e) && !ex) { FD_CLR(p.fd, e); }
        count += int(in) + int(out) + int(ex);
    }
    return count;
}

// ------------------------------------------------------------------ epoll

constexpr int kNotOurs = INT32_MIN;

// A nested epoll fd (inner) added to / changed in / removed from ep: the
// kernel does the real work (its kernel members, loop and depth checks)
// on a tagged registration; ep records the program's data.
int ep_ctl_nested(shim_epoll* ep, int epfd, int op, int fd, const std::shared_ptr<shim_epoll>& inner,
                  const epoll_event* ev) {
    epoll_event kev{};
    if (ev) {
        kev.events = ev->events;
        kev.data.u64 = kNestedTag | uint32_t(fd);
    }
    if (libc.epoll_ctl(epfd, op, fd, &kev) < 0) {
        return -errno;
    }
    std::lock_guard<std::mutex> g(ep->mu);
    auto it = std::find_if(ep->items.begin(), ep->items.end(),
                           [&](const ep_item& i) { return i.inner && i.fd == fd; });
    if (op == EPOLL_CTL_DEL) {
        if (it != ep->items.end()) {
            ep->items.erase(it);
        }
    } else {
        if (it == ep->items.end()) {
            ep->items.push_back(ep_item{});
            it = ep->items.end() - 1;
        }
        it->fd = fd;
        it->inner = inner;
        it->events = ev->events | EPOLLERR | EPOLLHUP;
        it->data = ev->data;
        it->last_mask = 0;
        it->disabled = false;
    }
    ep->members.store(int(ep->items.size()), std::memory_order_seq_cst);
    if (op != EPOLL_CTL_DEL) {
        runtime_notify();
    }
    if (op == EPOLL_CTL_ADD && ep->kernel_waiters.load(std::memory_order_seq_cst) > 0) {
        const uint64_t one = 1;
        (void)!libc.write(ep->kick_fd.load(), &one, sizeof(one));
    }
    return 0;
}

int ep_ctl(int epfd, int op, int fd, epoll_event* ev) {
    if (op != EPOLL_CTL_DEL && !ev) {
        return kNotOurs;  // the kernel answers EFAULT
    }
    dfile_ref f(fd);
    std::shared_ptr<shim_epoll> inner;
    if (!f) {
        inner = ep_find(fd);
        if (!inner) {
            return kNotOurs;
        }
    }
    // epfd must be an epoll fd (EBADF / EINVAL as the kernel says).
    std::shared_ptr<shim_epoll> ep = ep_find(epfd);
    if (!ep) {
        if (const int e = ep_probe(epfd); e != 0) {
            return -e;
        }
        ep = ep_register(epfd);
    }
    if (epfd == fd) {
        return -EINVAL;
    }
    if (inner) {
        return ep_ctl_nested(ep.get(), epfd, op, fd, inner, ev);
    }
    const uint32_t events = ev ? ev->events : 0;
    if (op != EPOLL_CTL_DEL && (events & EPOLLEXCLUSIVE)) {
        if (op == EPOLL_CTL_MOD || (op == EPOLL_CTL_ADD && (events & ~kExclusiveOk))) {
            return -EINVAL;
        }
    }
    std::lock_guard<std::mutex> g(ep->mu);
    // Linux keys a registration by (file, fd): a closed fd's entry lives on
    // while its file does (a dup), and never blocks a new file at that number.
    auto it = std::find_if(ep->items.begin(), ep->items.end(),
                           [&](const ep_item& i) { return !i.inner && i.fd == fd && i.f == f.get(); });
    int r = -EINVAL;
    switch (op) {
    case EPOLL_CTL_ADD:
        if (it != ep->items.end()) {
            r = -EEXIST;
            break;
        }
        {
            ep_item item;
            item.fd = fd;
            item.f = f.get();
            item.events = events | EPOLLERR | EPOLLHUP;
            item.data = ev->data;
            ep->items.push_back(std::move(item));
        }
        g_epoll_members_seen.store(true, std::memory_order_relaxed);
        r = 0;
        break;
    case EPOLL_CTL_MOD:
        if (it == ep->items.end()) {
            r = -ENOENT;
            break;
        }
        if (it->events & EPOLLEXCLUSIVE) {
            r = -EINVAL;
            break;
        }
        it->events = events | EPOLLERR | EPOLLHUP;
        it->data = ev->data;
        it->disabled = false;
        it->last_mask = 0;  // ready now: reported again, as the kernel re-queues it
        r = 0;
        break;
    case EPOLL_CTL_DEL:
        if (it == ep->items.end()) {
            r = -ENOENT;
            break;
        }
        ep->items.erase(it);
        r = 0;
        break;
    default:
        break;
    }
    ep->members.store(int(ep->items.size()), std::memory_order_seq_cst);
    if (r == 0 && op != EPOLL_CTL_DEL) {
        // A member added (or re-armed) already ready: a thread sleeping in
        // epoll_wait on this set must look again, as ep_insert's wake-up.
        runtime_notify();
    }
    if (op == EPOLL_CTL_ADD && r == 0 && ep->kernel_waiters.load(std::memory_order_seq_cst) > 0) {
        const uint64_t one = 1;
        (void)!libc.write(ep->kick_fd.load(), &one, sizeof(one));  // wake threads blocked in the kernel epoll
    }
    return r;
}

// The kernel part of an epoll set with no dshim members, with the timeout
// at full precision (epoll_pwait2) when it is not whole milliseconds.
int kernel_epoll_wait_once(int epfd, epoll_event* events, int maxevents, nsec_t timeout, const sigset_t* mask) {
    if (timeout != TIME_NEVER && timeout % NSEC_PER_MSEC != 0) {
        timespec ts{time_t(timeout / NSEC_PER_SEC), long(timeout % NSEC_PER_SEC)};
        const long r = syscall(SYS_epoll_pwait2, epfd, events, maxevents, &ts, mask, _NSIG / 8);
        if (r >= 0 || errno != ENOSYS) {
            return r < 0 ? -errno : int(r);
        }
    }
    int ms = -1;
    if (timeout != TIME_NEVER) {
        ms = int(std::min<nsec_t>((timeout + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC, INT_MAX));
    }
    const int r = libc.epoll_pwait(epfd, events, maxevents, ms, mask);
    return r < 0 ? -errno : r;
}

// EINTR from a signal of dshim's or DPDK's own (net_tap's Rx trigger) is
// not the program's: the wait goes on for the rest of its time.
int kernel_epoll_wait_raw(int epfd, epoll_event* events, int maxevents, nsec_t timeout, const sigset_t* mask) {
    const nsec_t deadline = to_deadline(timeout);
    signal_wait_begin();
    for (;;) {
        const int r = kernel_epoll_wait_once(epfd, events, maxevents, timeout, mask);
        if (r != -EINTR || signal_program_interrupts() > 0) {
            return r;
        }
        if (deadline != TIME_NEVER) {
            const nsec_t now = now_ns();
            timeout = deadline > now ? deadline - now : 0;
        }
    }
}

// The kick eventfd of ep, made and registered on first need.
int ep_kick_fd(shim_epoll* ep, int epfd) {
    int fd = ep->kick_fd.load();
    if (fd >= 0) {
        return fd;
    }
    std::lock_guard<std::mutex> g(ep->mu);
    fd = ep->kick_fd.load();
    if (fd < 0) {
        fd = libc.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        epoll_event kev{};
        kev.events = EPOLLIN;
        kev.data.u64 = kKickTag;
        if (fd >= 0 && libc.epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &kev) < 0) {
            libc.close(fd);
            fd = -1;
        }
        ep->kick_fd.store(fd);
    }
    return fd;
}

void ep_kick_drain(shim_epoll* ep) {
    const int fd = ep->kick_fd.load();
    if (fd >= 0 && ep->kernel_waiters.load() == 0) {
        uint64_t v;
        (void)!libc.read(fd, &v, sizeof(v));
    }
}

// A set with no dshim member: the kernel epoll alone, but a thread that
// blocks there is woken (kick eventfd) when another thread adds a dshim
// member, and then waits in ep_wait's loop instead. Returns -EAGAIN for
// "members arrived, go round again".
int kernel_epoll_wait(shim_epoll* ep, int epfd, epoll_event* events, int maxevents, nsec_t timeout,
                      const sigset_t* mask) {
    if (!ep || timeout == 0 || maxevents <= 0) {
        return kernel_epoll_wait_raw(epfd, events, maxevents, timeout, mask);
    }
    const int kick = ep_kick_fd(ep, epfd);
    if (kick < 0) {
        return kernel_epoll_wait_raw(epfd, events, maxevents, timeout, mask);
    }
    const nsec_t deadline = to_deadline(timeout);
    for (;;) {
        ep->kernel_waiters.fetch_add(1, std::memory_order_seq_cst);
        if (ep->members.load(std::memory_order_seq_cst) > 0) {
            ep->kernel_waiters.fetch_sub(1);
            return -EAGAIN;
        }
        const nsec_t now = now_ns();
        const nsec_t left = deadline == TIME_NEVER ? TIME_NEVER : (deadline > now ? deadline - now : 0);
        int r = kernel_epoll_wait_raw(epfd, events, maxevents, left, mask);
        ep->kernel_waiters.fetch_sub(1, std::memory_order_seq_cst);
        if (r <= 0) {
            return r;
        }
        int w = 0;
        bool kicked = false;
        for (int i = 0; i < r; ++i) {
            if (events[i].data.u64 == kKickTag) {
                kicked = true;
            } else {
                events[w++] = events[i];
            }
        }
        if (w > 0) {
            return w;
        }
        if (kicked && ep->members.load() > 0) {
            return -EAGAIN;
        }
        ep_kick_drain(ep);  // a stale kick
        if (deadline != TIME_NEVER && now_ns() >= deadline) {
            return 0;
        }
    }
}

// One harvest of ep's dshim members into out[n..max) (stack lock held).
// kextra/kfiles collect members the kernel answers. reported: (fd, index)
// of nested members reported, to merge their kernel events into.
int ep_scan(shim_epoll* ep, epoll_event* out, int n, int max, std::vector<pollfd>& kextra,
            std::vector<dfile*>& kfiles, std::vector<std::pair<int, int>>& reported) {
    std::lock_guard<std::mutex> g(ep->mu);
    const size_t cnt = ep->items.size();
    const size_t start = cnt ? ep->rotor % cnt : 0;
    for (size_t k = 0; k < cnt && n < max; ++k) {
        const size_t idx = (start + k) % cnt;
        ep_item& it = ep->items[idx];
        if (it.disabled) {
            continue;
        }
        bool kernel = false;
        const uint32_t rep = member_mask(it, 1, &kernel);
        if (kernel) {
            kextra.push_back(pollfd{it.fd, short((it.events & 0xffff) | POLLERR | POLLHUP), 0});
            kfiles.push_back(it.f);
            continue;
        }
        if (it.inner && rep) {
            auto r = std::find_if(reported.begin(), reported.end(), [&](const auto& x) { return x.first == it.fd; });
            if (r != reported.end()) {
                out[r->second].events |= rep;  // the kernel reported it first in this call
                continue;
            }
        }
        const uint64_t raw = it.inner ? runtime_event_seq() : sock_seq(it.f);
        if (!et_pass(it, rep, item_seq(it, raw))) {
            continue;
        }
        if ((it.events & EPOLLEXCLUSIVE) && it.f) {
            std::lock_guard<std::mutex> xg(g_excl_mu);
            excl_claim& c = excl_claims()[it.f];
            if (c.ep != nullptr && c.ep != ep && c.seq == raw) {
                continue;  // this event woke another set
            }
            c = excl_claim{raw, ep};
        }
        out[n].events = rep;
        out[n].data = it.data;
        if (it.inner) {
            reported.emplace_back(it.fd, n);
        }
        ++n;
        if (it.events & EPOLLONESHOT) {
            it.disabled = true;
        }
        ep->rotor = idx + 1;
    }
    return n;
}

// The kernel part of a harvest: members the kernel answers (kextra), then the
// kernel epoll (kernel fds, and nested epoll fds' kernel readiness, merged
// with what ep_scan reported for them).
int ep_kernel(shim_epoll* ep, int epfd, epoll_event* out, int n, int max, std::vector<pollfd>& kextra,
              const std::vector<dfile*>& kfiles, std::vector<std::pair<int, int>>& reported) {
    if (!kextra.empty() && n < max && libc.poll(kextra.data(), kextra.size(), 0) > 0) {
        std::lock_guard<std::mutex> g(ep->mu);
        for (size_t j = 0; j < kextra.size() && n < max; ++j) {
            const pollfd& p = kextra[j];
            if (!p.revents) {
                continue;
            }
            for (auto& it : ep->items) {
                if (!it.inner && it.fd == p.fd && it.f == kfiles[j] && !it.disabled) {
                    const uint32_t rep = uint32_t(uint16_t(p.revents)) & (it.events | EPOLLERR | EPOLLHUP);
                    if (!rep) {
                        break;
                    }
                    out[n].events = rep;
                    out[n].data = it.data;
                    ++n;
                    if (it.events & EPOLLONESHOT) {
                        it.disabled = true;
                    }
                    break;
                }
            }
        }
    }
    if (n >= max) {
        return n;
    }
    const int kr = libc.epoll_wait(epfd, out + n, max - n, 0);
    if (kr <= 0) {
        return n;
    }
    int w = n;
    for (int i = n; i < n + kr; ++i) {
        epoll_event e = out[i];
        if (e.data.u64 == kKickTag) {
            ep_kick_drain(ep);
            continue;
        }
        if ((e.data.u64 & kNestedMask) != kNestedTag) {
            out[w++] = e;
            continue;
        }
        const int fd = int(uint32_t(e.data.u64));
        bool merged = false;
        for (const auto& [rfd, pos] : reported) {
            if (rfd == fd) {
                out[pos].events |= e.events;  // never the same fd twice in one call
                merged = true;
            }
        }
        if (merged) {
            continue;
        }
        std::lock_guard<std::mutex> g(ep->mu);
        for (auto& it : ep->items) {
            if (it.inner && it.fd == fd) {
                if (!it.disabled) {
                    e.data = it.data;
                    reported.emplace_back(fd, w);
                    out[w++] = e;
                    if (it.events & EPOLLONESHOT) {
                        it.disabled = true;
                    }
                }
                break;
            }
        }
    }
    return w;
}

int ep_wait(int epfd, epoll_event* events, int maxevents, nsec_t timeout, const sigset_t* mask) {
    std::shared_ptr<shim_epoll> ep = ep_find(epfd);
    const nsec_t start = now_ns();
    if (!ep || ep->members.load() == 0) {
        const int r = kernel_epoll_wait(ep.get(), epfd, events, maxevents, timeout, mask);
        if (r != -EAGAIN) {
            return r;
        }
        if (timeout != TIME_NEVER) {  // dshim members arrived meanwhile: the rest of the time here
            const nsec_t spent = now_ns() - start;
            timeout = spent >= timeout ? 0 : timeout - spent;
        }
    }
    if (maxevents <= 0 || size_t(maxevents) > INT_MAX / sizeof(epoll_event)) {
        return -EINVAL;
    }
    mask_scope ms(mask);
    signal_wait_begin();
    const nsec_t deadline = to_deadline(timeout);
    const nsec_t spin_end = now_ns() + g_cfg.spin_us * NSEC_PER_USEC;
    nsec_t next_kernel = 0;
    std::vector<pollfd> kextra;
    std::vector<dfile*> kfiles;
    std::vector<std::pair<int, int>> reported;
    for (;;) {
        const uint64_t seq = runtime_event_seq();
        kextra.clear();
        kfiles.clear();
        reported.clear();
        nsec_t now = now_ns();
        const bool kernel_due = now >= next_kernel || timeout == 0;
        int n = 0;
        int nkernel = 0;
        if (kernel_due && ep->kernel_first) {
            // The kernel side was crowded out last time: it goes first, with
            // at most half the room.
            nkernel = ep_kernel(ep.get(), epfd, events, 0, std::max(1, maxevents / 2), kextra, kfiles, reported);
            n = nkernel;
        }
        {
            stack_lock lk;
            poll_pass_locked();
            n = ep_scan(ep.get(), events, n, maxevents, kextra, kfiles, reported);
        }
        if ((kernel_due || n > 0) && !ep->kernel_first) {
            const int before = n;
            n = ep_kernel(ep.get(), epfd, events, n, maxevents, kextra, kfiles, reported);
            nkernel += n - before;
        }
        if (kernel_due || n > 0) {
            next_kernel = now + g_cfg.poll_kernel_us * NSEC_PER_USEC;
            ep->kernel_first = n >= maxevents && nkernel == 0;
        }
        if (n > 0 || timeout == 0 || now >= deadline) {
            return n;
        }
        kextra.push_back(pollfd{epfd, POLLIN, 0});
        const int w = idle_wait(seq, now, spin_end, deadline, kextra);
        if (w == -EINTR) {
            return -EINTR;  // epoll_wait is never restarted
        }
        if (w == 0) {
            next_kernel = 0;
        }
    }
}

// A snapshot of the epoll sets that have dshim members, taken under g_ep_mu;
// the callers then lock each set's mu with g_ep_mu released.
std::vector<std::shared_ptr<shim_epoll>> epolls_with_members() {
    std::vector<std::shared_ptr<shim_epoll>> all;
    std::lock_guard<std::mutex> g(g_ep_mu);
    for (auto& [efd, ep] : epolls()) {
        if (ep->members.load() > 0) {
            all.push_back(ep);
        }
    }
    return all;
}

}  // namespace

void epoll_forget(int fd) {
    std::shared_ptr<shim_epoll> gone;
    std::vector<std::shared_ptr<shim_epoll>> all;
    {
        std::lock_guard<std::mutex> g(g_ep_mu);
        auto& m = epolls();
        if (auto it = m.find(fd); it != m.end()) {
            gone = std::move(it->second);
            m.erase(it);
        }
        if (!gone) {
            return;  // a socket: its registrations go when its file does (epoll_release_file)
        }
        for (auto& [efd, ep] : m) {
            all.push_back(ep);
        }
    }
    // A closed epoll fd leaves the sets it was nested in.
    for (auto& ep : all) {
        std::lock_guard<std::mutex> g(ep->mu);
        ep->items.erase(std::remove_if(ep->items.begin(), ep->items.end(),
                                       [&](const ep_item& it) { return it.inner == gone; }),
                        ep->items.end());
        ep->members.store(int(ep->items.size()));
    }
}

void epoll_release_file(dfile* f) {
    for (auto& ep : epolls_with_members()) {
        std::lock_guard<std::mutex> g(ep->mu);
        ep->items.erase(std::remove_if(ep->items.begin(), ep->items.end(),
                                       [&](const ep_item& it) { return it.f == f; }),
                        ep->items.end());
        ep->members.store(int(ep->items.size()));
    }
    std::lock_guard<std::mutex> xg(g_excl_mu);
    excl_claims().erase(f);
}

void epoll_handover(int fd, dfile* f) {
    for (auto& ep : epolls_with_members()) {
        std::lock_guard<std::mutex> g(ep->mu);
        for (auto it = ep->items.begin(); it != ep->items.end(); ++it) {
            if (!it->inner && it->fd == fd && it->f == f) {
                epoll_event kev{};
                kev.events = it->disabled ? 0 : it->events;
                kev.data = it->data;
                (void)libc.epoll_ctl(ep->epfd, EPOLL_CTL_ADD, fd, &kev);
                ep->items.erase(it);
                break;
            }
        }
        ep->members.store(int(ep->items.size()));
    }
}

}  // namespace dshim::shim

using namespace dshim;
using namespace dshim::shim;

#pragma GCC visibility push(default)
extern "C" {

int poll(pollfd* fds, nfds_t n, int timeout) {
    libc_resolve();
    if (passthrough()) {
        return libc.poll(fds, n, timeout);
    }
    return sys_ret(poll_core(fds, n, ms_timeout(timeout), nullptr));
}

int __poll_chk(pollfd* fds, nfds_t n, int timeout, size_t fdslen) {
    if (fdslen / sizeof(*fds) < n) {
        __builtin_trap();
    }
    return poll(fds, n, timeout);
}

int ppoll(pollfd* fds, nfds_t n, const timespec* ts, const sigset_t* mask) {
    libc_resolve();
    if (passthrough()) {
        return libc.ppoll(fds, n, ts, mask);
    }
    if (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000)) {
        return sys_ret(-EINVAL);
    }
    return sys_ret(poll_core(fds, n, ts_timeout(ts), mask));
}

int __ppoll_chk(pollfd* fds, nfds_t n, const timespec* ts, const sigset_t* mask, size_t fdslen) {
    if (fdslen / sizeof(*fds) < n) {
        __builtin_trap();
    }
    return ppoll(fds, n, ts, mask);
}

int select(int nfds, fd_set* r, fd_set* w, fd_set* e, timeval* tv) {
    libc_resolve();
    if (passthrough()) {
        return libc.select(nfds, r, w, e, tv);
    }
    if (tv && (tv->tv_sec < 0 || tv->tv_usec < 0)) {
        return sys_ret(-EINVAL);
    }
    const nsec_t timeout = tv ? nsec_t(tv->tv_sec) * NSEC_PER_SEC + nsec_t(tv->tv_usec) * NSEC_PER_USEC : TIME_NEVER;
    const nsec_t start = now_ns();
    const int res = select_core(nfds, r, w, e, timeout, nullptr);
    if (tv) {
        // Linux writes back the time not slept.
        const nsec_t spent = now_ns() - start;
        const nsec_t left = spent >= timeout ? 0 : timeout - spent;
        tv->tv_sec = time_t(left / NSEC_PER_SEC);
        tv->tv_usec = suseconds_t((left % NSEC_PER_SEC) / NSEC_PER_USEC);
    }
    return sys_ret(res);
}

int pselect(int nfds, fd_set* r, fd_set* w, fd_set* e, const timespec* ts, const sigset_t* mask) {
    libc_resolve();
    if (passthrough()) {
        return libc.pselect(nfds, r, w, e, ts, mask);
    }
    if (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000)) {
        return sys_ret(-EINVAL);
    }
    return sys_ret(select_core(nfds, r, w, e, ts_timeout(ts), mask));
}

int epoll_ctl(int epfd, int op, int fd, epoll_event* ev) {
    libc_resolve();
    if (passthrough()) {
        return libc.epoll_ctl(epfd, op, fd, ev);
    }
    const int r = ep_ctl(epfd, op, fd, ev);
    if (r == kNotOurs) {
        return libc.epoll_ctl(epfd, op, fd, ev);
    }
    return sys_ret(r);
}

// Every epoll set is a kernel epoll (its kernel fds) plus the shim's record
// (its dshim members), made here so nesting and probing know it.
int epoll_create(int size) {
    libc_resolve();
    const int fd = libc.epoll_create(size);
    if (fd >= 0 && !passthrough()) {
        ep_register(fd);
    }
    return fd;
}

int epoll_create1(int flags) {
    libc_resolve();
    const int fd = libc.epoll_create1(flags);
    if (fd >= 0 && !passthrough()) {
        ep_register(fd);
    }
    return fd;
}

int epoll_wait(int epfd, epoll_event* events, int maxevents, int timeout) {
    libc_resolve();
    if (passthrough()) {
        return libc.epoll_wait(epfd, events, maxevents, timeout);
    }
    return sys_ret(ep_wait(epfd, events, maxevents, ms_timeout(timeout), nullptr));
}

int epoll_pwait(int epfd, epoll_event* events, int maxevents, int timeout, const sigset_t* mask) {
    libc_resolve();
    if (passthrough()) {
        return libc.epoll_pwait(epfd, events, maxevents, timeout, mask);
    }
    return sys_ret(ep_wait(epfd, events, maxevents, ms_timeout(timeout), mask));
}

// epoll_pwait2 (glibc 2.35+, Linux 5.11+): a timespec timeout. glibc may
// also export it as __epoll_pwait2_time64 on 32-bit targets; on x86-64 the
// name is epoll_pwait2.
int epoll_pwait2(int epfd, epoll_event* events, int maxevents, const timespec* ts, const sigset_t* mask) {
    libc_resolve();
    if (passthrough()) {
        const long r = syscall(SYS_epoll_pwait2, epfd, events, maxevents, ts, mask, _NSIG / 8);
        return int(r);
    }
    if (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000)) {
        return sys_ret(-EINVAL);
    }
    return sys_ret(ep_wait(epfd, events, maxevents, ts_timeout(ts), mask));
}

}  // extern "C"
#pragma GCC visibility pop
