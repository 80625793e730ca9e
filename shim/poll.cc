// poll, ppoll, select, pselect and epoll over mixed fd sets (see poll.hh).
#include "shim/poll.hh"

#include <sys/epoll.h>
#include <sys/select.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <mutex>
#include <vector>

#include "shim/calls.hh"
#include "shim/signals.hh"

namespace dshim::shim {

namespace {

nsec_t to_deadline(nsec_t timeout) { return timeout == TIME_NEVER ? TIME_NEVER : now_ns() + timeout; }

// The common loop of poll/ppoll/select/pselect. timeout: TIME_NEVER = wait
// forever. Returns the ready count or -errno.
int poll_core(pollfd* fds, nfds_t n, nsec_t timeout, const sigset_t* mask) {
    std::vector<dfile*> files(n, nullptr);
    std::vector<pollfd> kfds;
    std::vector<nfds_t> kidx;
    bool any_dshim = false;
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
        } else if (fds[i].fd >= 0) {
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
        const int r = libc.ppoll(fds, n, tsp, mask);
        return r < 0 ? -errno : r;
    }
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
                if (!f) {
                    continue;
                }
                uint32_t m = f->kind == dfile_kind::dshim ? f->sock->ops->poll(f->sock) : POLLNVAL;
                m &= uint32_t(fds[i].events) | POLLERR | POLLHUP | POLLNVAL;
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
                fds[kidx[j]].revents = kfds[j].revents;
                ready += kfds[j].revents ? 1 : 0;
            }
            next_kernel = now + g_cfg.poll_kernel_us * NSEC_PER_USEC;
        }
        if (ready > 0 || timeout == 0 || now >= deadline) {
            result = ready;
            break;
        }
        if (now < spin_end) {
            continue;
        }
        runtime_sleeper_enter();
        if (runtime_event_seq() != seq) {
            runtime_sleeper_exit();
            continue;
        }
        wait_extra ex{kfds.data(), int(kfds.size())};
        const int w = runtime_wait(std::min(deadline, now + 100 * NSEC_PER_MSEC), &ex, mask);
        runtime_sleeper_exit();
        next_kernel = 0;  // look at the kernel fds right away
        if (w == -EINTR) {
            result = -EINTR;  // poll and select are never restarted
            break;
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

struct ep_item {
    int fd;
    dfile* f;               // identity of the socket when added (not a reference)
    uint32_t events;
    epoll_data_t data;
    uint32_t last_mask = 0; // EPOLLET: what was reported last
    uintptr_t last_seq = 0; // EPOLLET: the socket's event count then
    bool disabled = false;  // EPOLLONESHOT fired
};

struct shim_epoll {
    std::mutex mu;
    std::vector<ep_item> items;
    size_t rotor = 0;
};

std::mutex g_ep_mu;
std::vector<std::pair<int, shim_epoll*>> g_epolls;  // epfd -> dshim part

shim_epoll* ep_find(int epfd, bool create) {
    std::lock_guard<std::mutex> g(g_ep_mu);
    for (auto& [fd, ep] : g_epolls) {
        if (fd == epfd) {
            return ep;
        }
    }
    if (!create) {
        return nullptr;
    }
    auto* ep = new shim_epoll();
    g_epolls.emplace_back(epfd, ep);
    return ep;
}

constexpr int kNotOurs = INT32_MIN;

int ep_ctl(int epfd, int op, int fd, epoll_event* ev) {
    dfile_ref f(fd);
    if (!f) {
        return kNotOurs;
    }
    if (epfd == fd) {
        return -EINVAL;
    }
    if (op != EPOLL_CTL_DEL && !ev) {
        return -EFAULT;
    }
    // The epfd must be a real epoll fd: let the kernel validate it with a
    // harmless query.
    epoll_event probe{};
    if (libc.epoll_ctl(epfd, EPOLL_CTL_DEL, runtime_wake_fd(), &probe) < 0 && errno != ENOENT) {
        return -errno;
    }
    shim_epoll* ep = ep_find(epfd, op == EPOLL_CTL_ADD);
    if (!ep) {
        return -ENOENT;
    }
    std::lock_guard<std::mutex> g(ep->mu);
    auto it = std::find_if(ep->items.begin(), ep->items.end(), [&](const ep_item& i) { return i.fd == fd; });
    switch (op) {
    case EPOLL_CTL_ADD:
        if (it != ep->items.end()) {
            if (it->f == f.get()) {
                return -EEXIST;
            }
            ep->items.erase(it);  // a stale entry for a closed fd of the same number
        }
        ep->items.push_back(ep_item{fd, f.get(), ev->events, ev->data});
        return 0;
    case EPOLL_CTL_MOD:
        if (it == ep->items.end()) {
            return -ENOENT;
        }
        it->events = ev->events;
        it->data = ev->data;
        it->disabled = false;
        it->last_mask = 0;
        return 0;
    case EPOLL_CTL_DEL:
        if (it == ep->items.end()) {
            return -ENOENT;
        }
        ep->items.erase(it);
        return 0;
    default:
        return -EINVAL;
    }
}

int ep_wait(int epfd, epoll_event* events, int maxevents, nsec_t timeout, const sigset_t* mask) {
    shim_epoll* ep = ep_find(epfd, false);
    bool empty = true;
    if (ep) {
        std::lock_guard<std::mutex> g(ep->mu);
        empty = ep->items.empty();
    }
    if (!ep || empty) {
        const int ms = timeout == TIME_NEVER ? -1 : int((timeout + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC);
        const int r = libc.epoll_pwait(epfd, events, maxevents, ms, mask);
        return r < 0 ? -errno : r;
    }
    if (maxevents <= 0) {
        return -EINVAL;
    }
    const nsec_t deadline = to_deadline(timeout);
    const nsec_t spin_end = now_ns() + g_cfg.spin_us * NSEC_PER_USEC;
    nsec_t next_kernel = 0;
    std::vector<pollfd> kextra;  // members evaluated by the kernel (undecided/handed over)
    for (;;) {
        const uint64_t seq = runtime_event_seq();
        int n = 0;
        kextra.clear();
        {
            std::lock_guard<std::mutex> g(ep->mu);
            stack_lock lk;
            poll_pass_locked();
            const size_t cnt = ep->items.size();
            const size_t start = cnt ? ep->rotor++ % cnt : 0;
            for (size_t k = 0; k < cnt && n < maxevents; ++k) {
                ep_item& it = ep->items[(start + k) % cnt];
                if (it.disabled) {
                    continue;
                }
                dfile* cur = (it.fd >= 0 && it.fd < fd_limit()) ? g_fdtab[it.fd].load() : nullptr;
                uint32_t m;
                uintptr_t evseq = 0;
                if (cur && cur == it.f && cur->kind == dfile_kind::dshim) {
                    m = cur->sock->ops->poll(cur->sock);
                    evseq = reinterpret_cast<uintptr_t>(cur->sock->sk->sk_user_data);
                } else if (cur && cur != it.f) {
                    continue;  // the fd was closed and reused: stale
                } else {
                    // Undecided or handed over: the kernel socket answers.
                    pollfd p{it.fd, short(it.events & 0xffff), 0};
                    kextra.push_back(p);
                    continue;
                }
                uint32_t rep = m & (it.events | EPOLLERR | EPOLLHUP);
                if (it.events & EPOLLET) {
                    if ((rep & ~it.last_mask) == 0 && evseq == it.last_seq) {
                        it.last_mask = rep;
                        continue;
                    }
                    it.last_mask = rep;
                    it.last_seq = evseq;
                }
                if (rep) {
                    events[n].events = rep;
                    events[n].data = it.data;
                    ++n;
                    if (it.events & EPOLLONESHOT) {
                        it.disabled = true;
                    }
                }
            }
        }
        const nsec_t now = now_ns();
        if (now >= next_kernel || n > 0 || timeout == 0) {
            if (!kextra.empty() && n < maxevents) {
                if (libc.poll(kextra.data(), kextra.size(), 0) > 0) {
                    std::lock_guard<std::mutex> g(ep->mu);
                    for (const auto& p : kextra) {
                        if (!p.revents || n >= maxevents) {
                            continue;
                        }
                        for (auto& it : ep->items) {
                            if (it.fd == p.fd && !it.disabled) {
                                events[n].events = uint32_t(p.revents);
                                events[n].data = it.data;
                                ++n;
                                if (it.events & EPOLLONESHOT) {
                                    it.disabled = true;
                                }
                                break;
                            }
                        }
                    }
                }
            }
            if (n < maxevents) {
                const int kr = libc.epoll_wait(epfd, events + n, maxevents - n, 0);
                if (kr > 0) {
                    n += kr;
                }
            }
            next_kernel = now + g_cfg.poll_kernel_us * NSEC_PER_USEC;
        }
        if (n > 0 || timeout == 0 || now >= deadline) {
            return n;
        }
        if (now < spin_end) {
            continue;
        }
        runtime_sleeper_enter();
        if (runtime_event_seq() != seq) {
            runtime_sleeper_exit();
            continue;
        }
        kextra.push_back(pollfd{epfd, POLLIN, 0});
        wait_extra ex{kextra.data(), int(kextra.size())};
        const int w = runtime_wait(std::min(deadline, now + 100 * NSEC_PER_MSEC), &ex, mask);
        runtime_sleeper_exit();
        next_kernel = 0;
        if (w == -EINTR) {
            return -EINTR;
        }
    }
}

}  // namespace

void epoll_forget(int fd) {
    std::lock_guard<std::mutex> g(g_ep_mu);
    for (size_t i = 0; i < g_epolls.size(); ++i) {
        if (g_epolls[i].first == fd) {
            delete g_epolls[i].second;
            g_epolls.erase(g_epolls.begin() + long(i));
            break;
        }
    }
    for (auto& [epfd, ep] : g_epolls) {
        std::lock_guard<std::mutex> g2(ep->mu);
        ep->items.erase(std::remove_if(ep->items.begin(), ep->items.end(), [&](const ep_item& it) { return it.fd == fd; }),
                        ep->items.end());
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

int epoll_create(int size) {
    libc_resolve();
    return libc.epoll_create(size);  // the kernel epoll holds the kernel fds
}

int epoll_create1(int flags) {
    libc_resolve();
    return libc.epoll_create1(flags);
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

}  // extern "C"
#pragma GCC visibility pop
