// The dshim runtime (see runtime.hh): attach on first use, the stack lock,
// the progress thread, event wait/notify, exit linger and fork handling.
#include "shim/runtime.hh"

#include <dlfcn.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/socket.hh"
#include "dpdk_port/dpdk_port.hh"
#include "ipv4/tcp.hh"
#include "shim/libc.hh"
#include "shim/poll.hh"
#include "shim/signals.hh"
#include "shim/stat.hh"

namespace dshim::shim {

// Initialised before the library constructor below runs (priorities).
config g_cfg __attribute__((init_priority(101)));
thread_local bool t_in_dshim = false;
shim_counters g_shim_counters;

namespace {

std::atomic<bool> g_ready{false};
std::mutex g_attach_mu;
std::atomic<stack*> g_stack{nullptr};
int g_attach_err = 0;
bool g_attach_tried = false;
dshim_port g_port{};
pthread_mutex_t g_stack_mu = PTHREAD_MUTEX_INITIALIZER;
std::atomic<uint64_t> g_event_seq{0};
std::atomic<int> g_sleepers{0};
// Sleeping threads, each with its own eventfd (runtime_notify). With one
// shared eventfd that only the last sleeper drained, a woken thread whose
// condition was still false went back to a ppoll on an fd still readable
// while any other thread slept: every blocked thread spun far beyond
// DSHIM_SPIN_US (thousands of sleeps per millisecond with 9 blocked threads).
// Now a notify is consumed by the thread it was written for, and by no other.
struct wake_slot {
    int efd = -1;
    bool signaled = false;  // a write is pending since it listed (g_sleeper_mu)
    bool listed = false;    // in g_sleeping (g_sleeper_mu)
    ~wake_slot();
};
std::mutex g_sleeper_mu;
std::vector<wake_slot*> g_sleeping;  // guarded by g_sleeper_mu; a leaf lock
thread_local wake_slot t_wake;
std::atomic<bool> g_stop_progress{false};
pthread_t g_progress_thread;
bool g_progress_started = false;
bool g_forked_child = false;
// The process that attached the port: only it may remove the port's files
// (a clone()d child that skipped the atfork handlers has another pid).
pid_t g_owner_pid = 0;
// The port's TSC clock, offset to CLOCK_MONOTONIC, once attached: the spin
// loops read the time on every turn, and rdtsc costs a fraction of a
// clock_gettime (13% of a receiving iperf3's cycles went to the vDSO here).
std::atomic<const clock_source*> g_fast_clock{nullptr};
nsec_t g_fast_clock_off = 0;
// When an application thread last ran a poll pass (engine clock), and the
// progress thread's doorbell: while application threads drive the stack the
// progress thread stays parked, off their cores (see progress_main).
std::atomic<nsec_t> g_app_pass{0};
int g_progress_kick_efd = -1;
std::atomic<bool> g_progress_parked{false};
std::atomic<bool> g_progress_ready{false};   // it owns the port's input signal
constexpr nsec_t APP_ACTIVE_NS = 2 * NSEC_PER_MSEC;

nsec_t mono_now() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return nsec_t(ts.tv_sec) * NSEC_PER_SEC + nsec_t(ts.tv_nsec);
}

// Sock callbacks: count the event on the socket (edge-triggered epoll reads
// the count from sk_user_data) and wake whoever sleeps.
// Receive-side events count in the low 32 bits, send-side ones in the high
// 32 bits, state changes and errors in both (poll.cc's edge-triggered epoll
// compares only the half its member is interested in).
void sk_cb_count(sock* sk, uintptr_t inc) {
    sk->sk_user_data = reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(sk->sk_user_data) + inc);
    runtime_notify();
}
constexpr uintptr_t kRxEvent = 1;
constexpr uintptr_t kTxEvent = uintptr_t(1) << 32;
void sk_cb_notify(sock* sk) { sk_cb_count(sk, kRxEvent | kTxEvent); }
void sk_cb_data_ready(sock* sk) { sk_cb_count(sk, kRxEvent); }
void sk_cb_write_space(sock* sk) { sk_cb_count(sk, kTxEvent); }

std::string default_dpdk_lib_path() {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&default_dpdk_lib_path), &info) && info.dli_fname) {
        std::string self = info.dli_fname;
        size_t slash = self.rfind('/');
        if (slash != std::string::npos) {
            const std::string dir = self.substr(0, slash + 1);
            // Installed side by side, or the build tree (shim/ and dpdk_port/).
            for (const std::string& cand : {dir + DSHIM_DPDK_LIBRARY, dir + "../dpdk_port/" DSHIM_DPDK_LIBRARY}) {
                if (access(cand.c_str(), R_OK) == 0) {
                    return cand;
                }
            }
            return dir + DSHIM_DPDK_LIBRARY;
        }
    }
    return DSHIM_DPDK_LIBRARY;
}

void dpdk_thread_init() { t_in_dshim = true; }

// The progress thread: drives the stack when no application thread does,
// sleeping on Rx interrupts (or pacing itself where there are none) and on
// the next timer, so an idle process burns no core.
void* progress_main(void*) {
    t_in_dshim = true;
    // The port's input signals (net_tap) come to this thread only, so no
    // program thread is interrupted by them; it unblocks just that signal.
    if (g_port.signal_owner != nullptr) {
        if (const int sig = g_port.signal_owner(&g_port, int(gettid())); sig > 0) {
            sigset_t one;
            sigemptyset(&one);
            sigaddset(&one, sig);
            pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
        }
    }
    g_progress_ready.store(true, std::memory_order_release);
    stack* net = g_stack.load();
    nsec_t idle_sleep_us = 20;
    while (!g_stop_progress.load(std::memory_order_relaxed)) {
        // An application thread polled within APP_ACTIVE_NS: it drives rx,
        // tx and timers itself, and on this 2-core machine every wake-up of
        // ours would be a context switch on a core it spins on. Park until
        // it goes to sleep (runtime_sleeper_enter rings the doorbell) or it
        // has been quiet for APP_ACTIVE_NS.
        const nsec_t since_app = net->now() - g_app_pass.load(std::memory_order_relaxed);
        if (since_app < APP_ACTIVE_NS) {
            g_progress_parked.store(true, std::memory_order_seq_cst);
            if (g_sleepers.load(std::memory_order_seq_cst) == 0) {
                ++g_shim_counters.progress_parks;
                pollfd pfd{g_progress_kick_efd, POLLIN, 0};
                const int ms = int((APP_ACTIVE_NS - since_app) / NSEC_PER_MSEC) + 1;
                (void)libc.poll(&pfd, 1, ms);
                uint64_t v;
                (void)libc.read(g_progress_kick_efd, &v, sizeof(v));
            }
            g_progress_parked.store(false, std::memory_order_seq_cst);
            if (g_sleepers.load(std::memory_order_seq_cst) == 0 &&
                net->now() - g_app_pass.load(std::memory_order_relaxed) < APP_ACTIVE_NS) {
                continue;
            }
            // An application thread went to sleep: serve now, and let the
            // next pass of ours not count as the application's.
            g_app_pass.store(0, std::memory_order_relaxed);
        }
        unsigned got = 0;
        nsec_t next_timer = TIME_NEVER;
        nsec_t next_hrtimer = TIME_NEVER;
        if (stack_try_lock()) {
            got = net->poll();
            ++g_shim_counters.passes;
            ++g_shim_counters.progress_passes;
            next_timer = net->next_timer();
            next_hrtimer = net->next_hrtimer();
            stack_unlock();
        }
        if (got > 0) {
            idle_sleep_us = 20;
            continue;
        }
        const nsec_t now = net->now();
        if (next_hrtimer != TIME_NEVER && next_hrtimer < now + NSEC_PER_MSEC) {
            // A paced segment is due within the millisecond our sleeps are
            // counted in: poll until then (kernel-bypass stacks poll; the
            // kernel would use an hrtimer).
            continue;
        }
        int timeout_ms = 100;
        if (next_timer != TIME_NEVER) {
            const nsec_t d = next_timer > now ? next_timer - now : 0;
            timeout_ms = int(std::min<nsec_t>((d + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC, 100));
        }
        if (g_port.rx_intr_errno == 0) {
            if (g_port.rx_intr_enable(&g_port) == 0) {
                // Poll once more after arming so a frame that arrived before
                // the arm is not left waiting for the next one.
                // If an application thread holds the lock, its pass may have
                // run before the frame came: sleeping the full timeout could
                // leave the frame unseen for up to 100 ms (a lost wake-up
                // when that thread goes to sleep too). Sleep 1 ms at most
                // then (no busy loop beside a spinning application thread).
                unsigned late = 0;
                if (stack_try_lock()) {
                    late = net->poll();
                    stack_unlock();
                } else {
                    timeout_ms = std::min(timeout_ms, 1);
                }
                if (late == 0 && timeout_ms > 0) {
                    (void)g_port.rx_intr_wait(&g_port, timeout_ms);
                }
                g_port.rx_intr_disable(&g_port);
                continue;
            }
        }
        // No interrupts (memif): adaptive pacing, at most the next timer.
        const nsec_t cap_us = std::min<nsec_t>(nsec_t(timeout_ms) * 1000, 1000);
        usleep(useconds_t(std::min(idle_sleep_us, cap_us)));
        idle_sleep_us = std::min<nsec_t>(idle_sleep_us * 2, 1000);
    }
    return nullptr;
}

// strict: FIN_WAIT2 still counts as open (our FIN is acknowledged, but the
// peer's FIN has not come yet). Exit waits for it only briefly: when the peer
// is another process that exits too, our ACK of its FIN spares it a linger.
bool connections_settled(stack& net, bool strict) {
    for (list_head* n = net.all_socks.next; n != &net.all_socks; n = n->next) {
        sock* sk = container_of(n, &sock::sk_all_node);
        switch (sk->sk_state) {
        case TCP_FIN_WAIT2:
            if (strict) {
                return false;
            }
            break;
        case TCP_SYN_SENT:
        case TCP_SYN_RECV:
        case TCP_ESTABLISHED:
        case TCP_CLOSE_WAIT:
        case TCP_FIN_WAIT1:
        case TCP_CLOSING:
        case TCP_LAST_ACK:
            if (sk->sock_is_dead() && tcp_sk(sk)->icsk_parent) {
                continue;  // an unaccepted child: nothing of the user's
            }
            return false;
        default:
            break;
        }
    }
    return true;
}

// At exit: the kernel would close every fd, and still deliver what was
// queued. Close the dshim sockets and drive the orphans until their data and
// FIN are acknowledged, at most DSHIM_EXIT_LINGER_S (architecture.md §4).
void exit_linger() {
    t_in_dshim = true;
    stack* net = g_stack.load();
    if (!net || g_forked_child) {
        return;
    }
    stat_stop();
    fd_for_each([](int fd, dfile*) {
        if (dfile* f = fd_remove(fd)) {
            fd_put(f);
        }
    });
    // A socket that a blocked thread still holds (its recv or accept has the
    // file referenced) is not closed by clearing the table. At exit the
    // kernel kills such threads before it closes the files, so their FIN goes
    // out: shut the sending side (queued data, then FIN), as that close would.
    {
        stack_lock lk;
        for (list_head* n = net->all_socks.next; n != &net->all_socks; n = n->next) {
            sock* sk = container_of(n, &sock::sk_all_node);
            if (!sk->sock_is_dead() && sk->sk_socket != nullptr &&
                ((1u << sk->sk_state) & (TCPF_ESTABLISHED | TCPF_CLOSE_WAIT))) {
                (void)sk->sk_socket->ops->shutdown(sk->sk_socket, SHUT_WR);
            }
        }
    }
    const nsec_t start = mono_now();
    const nsec_t deadline = start + g_cfg.exit_linger_s * NSEC_PER_SEC;
    const nsec_t fin_wait2_grace = start + std::min<nsec_t>(g_cfg.exit_linger_s * NSEC_PER_SEC, 200 * NSEC_PER_MSEC);
    for (;;) {
        bool settled;
        {
            stack_lock lk;
            poll_pass_locked();
            settled = connections_settled(*net, mono_now() < fin_wait2_grace);
        }
        if (settled || mono_now() >= deadline) {
            if (!settled) {
                log_msg(1, "exit: connections still open after DSHIM_EXIT_LINGER_S=%llu s",
                        (unsigned long long)g_cfg.exit_linger_s);
            }
            break;
        }
        usleep(50);
    }
    if (g_cfg.exit_stats) {
        const std::string st = stat_render();
        ssize_t w = libc.write(2, st.data(), st.size());
        (void)w;
    }
    g_stop_progress.store(true);
    if (g_progress_started) {
        pthread_join(g_progress_thread, nullptr);
        g_progress_started = false;
    }
    pthread_mutex_lock(&g_stack_mu);
    g_stack.store(nullptr);
    delete net;
    if (g_port.detach) {
        g_port.detach(&g_port);
    }
    // The lock stays held: nothing may use the stack any more.
}

}  // namespace

void runtime_exit_files() {
    if (g_stack.load() == nullptr || g_forked_child || getpid() != g_owner_pid) {
        return;
    }
    t_in_dshim = true;
    stat_stop();
    if (g_port.exit_files) {
        g_port.exit_files(&g_port);
    }
}

namespace {

void atfork_prepare() {
    g_attach_mu.lock();
    pthread_mutex_lock(&g_stack_mu);
    g_sleeper_mu.lock();
}
void atfork_parent() {
    g_sleeper_mu.unlock();
    pthread_mutex_unlock(&g_stack_mu);
    g_attach_mu.unlock();
}
void atfork_child() {
    // The sleepers were other threads: none of them exists in the child.
    for (wake_slot* w : g_sleeping) {
        w->listed = false;
    }
    g_sleeping.clear();
    g_sleepers.store(0);
    g_sleeper_mu.unlock();
    pthread_mutex_unlock(&g_stack_mu);
    g_attach_mu.unlock();
    if (!g_stack.load()) {
        return;  // nothing attached: the child may attach nothing either
    }
    g_forked_child = true;
    g_progress_started = false;
    if (g_port.fork_child) {
        g_port.fork_child(&g_port);
    }
    // Inherited dshim sockets are unusable here (documented errno EBADFD);
    // closing them only closes the child's placeholder fds.
    fd_for_each([](int, dfile* f) {
        if (f->kind == dfile_kind::dshim) {
            f->kind = dfile_kind::inherited;
        }
    });
}

__attribute__((constructor(102))) void dshim_ctor() {
    t_in_dshim = true;
    libc_resolve();
    fdtable_init();
    g_cfg = config::load();
    g_progress_kick_efd = libc.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    g_ready.store(true);
    t_in_dshim = false;
}

}  // namespace

bool runtime_ready() { return g_ready.load(std::memory_order_acquire); }
bool runtime_is_forked_child() { return g_forked_child; }

stack* runtime_stack_if_attached() { return g_stack.load(std::memory_order_acquire); }

bool runtime_port_stats(dshim_port_stats* out) {
    if (g_stack.load(std::memory_order_acquire) == nullptr || g_port.stats == nullptr) {
        return false;
    }
    g_port.stats(&g_port, out);
    return true;
}

stack* runtime_stack(int* err) {
    if (stack* s = g_stack.load(std::memory_order_acquire)) {
        return s;
    }
    if (g_forked_child) {
        *err = EOPNOTSUPP;
        return nullptr;
    }
    std::lock_guard<std::mutex> g(g_attach_mu);
    if (stack* s = g_stack.load()) {
        return s;
    }
    if (g_attach_tried) {
        *err = g_attach_err;
        return nullptr;
    }
    g_attach_tried = true;
    const bool was_in = t_in_dshim;
    t_in_dshim = true;
    const std::string lib = g_cfg.dpdk_lib.empty() ? default_dpdk_lib_path() : g_cfg.dpdk_lib;
    void* h = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        log_msg(0, "cannot load the DPDK part %s: %s", lib.c_str(), dlerror());
        g_attach_err = ENETDOWN;
        t_in_dshim = was_in;
        *err = g_attach_err;
        return nullptr;
    }
    auto attach = reinterpret_cast<dshim_dpdk_attach_fn>(dlsym(h, DSHIM_DPDK_ATTACH_SYMBOL));
    dshim_port_config pc;
    pc.device = g_cfg.port.c_str();
    pc.eal_args = g_cfg.eal.empty() ? nullptr : g_cfg.eal.c_str();
    pc.mac = g_cfg.mac.empty() ? nullptr : g_cfg.mac.c_str();
    pc.pcap_path = g_cfg.pcap.empty() ? nullptr : g_cfg.pcap.c_str();
    pc.faults = g_cfg.faults.empty() ? nullptr : g_cfg.faults.c_str();
    pc.hugepages = g_cfg.hugepages;
    pc.nb_mbufs = g_cfg.mbufs;
    pc.log_level = g_cfg.log_level >= 3 ? 8 : 4;
    pc.thread_init = dpdk_thread_init;
    char msg[256] = {};
    const int rc = attach ? attach(&pc, &g_port, msg, sizeof(msg)) : -ENOSYS;
    if (rc < 0) {
        log_msg(0, "cannot attach DSHIM_PORT=%s: %s", g_cfg.port.c_str(), msg[0] ? msg : std::strerror(-rc));
        g_attach_err = -rc;
        t_in_dshim = was_in;
        *err = g_attach_err;
        return nullptr;
    }
    if (g_port.link_wait(&g_port, 3000) < 0) {
        log_msg(1, "link of %s is down after 3 s; continuing", g_port.name);
    }
    stack_init();
    stack_config sc;
    sc.ip = g_cfg.ip;
    sc.prefix_len = g_cfg.prefix_len;
    sc.gateway = g_cfg.gw;
    auto* net = new stack(*g_port.dev, *g_port.pool, *g_port.clock, sc);
    // net.ipv4.tcp_congestion_control (validated by config::load).
    std::snprintf(net->sysctl().congestion_control, sizeof(net->sysctl().congestion_control), "%s",
                  g_cfg.tcp_congestion.c_str());
    if (g_cfg.tcp_ecn >= 0) {
        net->sysctl().ecn = uint8_t(g_cfg.tcp_ecn);  // DSHIM_TCP_ECN (net.ipv4.tcp_ecn)
    }
    g_fast_clock_off = mono_now() - g_port.clock->now();
    g_fast_clock.store(g_port.clock, std::memory_order_release);
    g_stack.store(net, std::memory_order_release);
    log_msg(2, "attached %s as %u.%u.%u.%u/%u in %.3f s (EAL %.3f s)", g_port.name, g_cfg.ip >> 24,
            (g_cfg.ip >> 16) & 255, (g_cfg.ip >> 8) & 255, g_cfg.ip & 255, g_cfg.prefix_len, g_port.attach_seconds,
            g_port.eal_init_seconds);
    // The progress thread blocks every signal (Ctrl-C reaches the program).
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (pthread_create(&g_progress_thread, nullptr, progress_main, nullptr) == 0) {
        g_progress_started = true;
        pthread_setname_np(g_progress_thread, "dshim-progress");
        // Until the progress thread owns the port's input signal, the
        // signal may land on any program thread: wait for it (it takes
        // microseconds; bounded in case the machine is starved).
        for (int i = 0; i < 2000 && !g_progress_ready.load(std::memory_order_acquire); ++i) {
            usleep(100);
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    g_owner_pid = getpid();
    stat_start();
    std::atexit(exit_linger);
    t_in_dshim = was_in;
    return net;
}

stack_lock::stack_lock() { pthread_mutex_lock(&g_stack_mu); }
stack_lock::~stack_lock() { pthread_mutex_unlock(&g_stack_mu); }
bool stack_try_lock() { return pthread_mutex_trylock(&g_stack_mu) == 0; }
void stack_unlock() { pthread_mutex_unlock(&g_stack_mu); }

void poll_pass_locked() {
    if (stack* s = g_stack.load(std::memory_order_relaxed)) {
        s->poll();
        ++g_shim_counters.passes;
        runtime_note_app(s);
    }
}

void runtime_note_app(stack* s) { g_app_pass.store(s->now(), std::memory_order_relaxed); }

void poll_pass_try() {
    if (stack_try_lock()) {
        poll_pass_locked();
        stack_unlock();
    }
}

nsec_t now_ns() {
    if (const clock_source* c = g_fast_clock.load(std::memory_order_acquire)) {
        return c->now() + g_fast_clock_off;
    }
    return mono_now();
}

uint64_t runtime_event_seq() { return g_event_seq.load(std::memory_order_seq_cst); }

// A thread that exits (or is cancelled) inside a blocking call must not
// stay listed: notify would write through a dangling slot.
wake_slot::~wake_slot() {
    if (efd < 0) {
        return;
    }
    bool was_listed = false;
    {
        std::lock_guard<std::mutex> g(g_sleeper_mu);
        if (listed) {
            std::erase(g_sleeping, this);
            listed = false;
            was_listed = true;
        }
    }
    if (was_listed) {
        g_sleepers.fetch_sub(1, std::memory_order_seq_cst);
    }
    libc.close(efd);
    efd = -1;
}

// Every sleeper is woken (each re-checks its own condition), at most one
// write per sleep: a slot already signaled is skipped.
void runtime_notify() {
    g_event_seq.fetch_add(1, std::memory_order_seq_cst);
    if (g_sleepers.load(std::memory_order_seq_cst) > 0) {
        std::lock_guard<std::mutex> g(g_sleeper_mu);
        for (wake_slot* w : g_sleeping) {
            if (!w->signaled) {
                w->signaled = true;
                const uint64_t one = 1;
                ssize_t r = libc.write(w->efd, &one, sizeof(one));
                (void)r;
            }
        }
    }
}

int runtime_wait(nsec_t deadline, const wait_extra* extra, const sigset_t* mask) {
    ++g_shim_counters.sleeps;
    pollfd fds[64];
    int n = 0;
    fds[n++] = pollfd{t_wake.efd, POLLIN, 0};  // listed by runtime_sleeper_enter
    if (extra) {
        for (int i = 0; i < extra->nfds && n < 64; ++i) {
            fds[n++] = extra->fds[i];
        }
    }
    timespec ts{};
    timespec* tsp = nullptr;
    if (deadline != TIME_NEVER) {
        const nsec_t now = now_ns();
        const nsec_t d = deadline > now ? deadline - now : 0;
        ts.tv_sec = time_t(d / NSEC_PER_SEC);
        ts.tv_nsec = long(d % NSEC_PER_SEC);
        tsp = &ts;
    }
    // A handler of the program's that ran since the caller's
    // signal_wait_begin() (while it spun, or right before this sleep) must
    // end the wait: check with every signal blocked, and let ppoll unblock
    // them atomically (the pselect pattern), so none slips in between.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    if (signal_program_interrupts() > 0) {
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        return -EINTR;
    }
    const int handlers_before = signal_program_interrupts();
    const int r = libc.ppoll(fds, nfds_t(n), tsp, mask ? mask : &old);
    const int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    // The thread's own eventfd is drained by its next runtime_sleeper_enter,
    // before it lists itself again.
    if (extra) {
        for (int i = 0; i < extra->nfds && i + 1 < n; ++i) {
            extra->fds[i].revents = fds[i + 1].revents;
        }
    }
    // Only a handler of the program's own interrupts the caller; an internal
    // signal (net_tap's Rx trigger, SA_RESTART) is a spurious wake-up.
    if (r < 0 && saved == EINTR && signal_program_interrupts() != handlers_before) {
        return -EINTR;
    }
    return 0;
}

// Sleepers register around the final check (see block loops in calls.cc).
// Order matters: drain, then list (signaled cleared), then count. A notify
// that finds the count > 0 finds the slot listed; one that found it 0 bumped
// the event sequence before the count rose, which the caller's re-check sees.
void runtime_sleeper_enter() {
    wake_slot& me = t_wake;
    if (me.efd < 0) {
        me.efd = libc.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    } else {
        uint64_t v;
        ssize_t r = libc.read(me.efd, &v, sizeof(v));  // a write from an earlier sleep
        (void)r;
    }
    {
        std::lock_guard<std::mutex> g(g_sleeper_mu);
        me.signaled = false;
        if (!me.listed) {
            g_sleeping.push_back(&me);
            me.listed = true;
        }
    }
    g_sleepers.fetch_add(1, std::memory_order_seq_cst);
    // The progress thread stood aside for us: from now on it must serve.
    if (g_progress_parked.load(std::memory_order_seq_cst)) {
        const uint64_t one = 1;
        ssize_t w = libc.write(g_progress_kick_efd, &one, sizeof(one));
        (void)w;
    }
}
void runtime_sleeper_exit() {
    wake_slot& me = t_wake;
    {
        std::lock_guard<std::mutex> g(g_sleeper_mu);
        if (me.listed) {
            std::erase(g_sleeping, &me);
            me.listed = false;
        }
    }
    g_sleepers.fetch_sub(1, std::memory_order_seq_cst);
}

void sock_attach_callbacks(sock* sk) {
    sk->sk_state_change = sk_cb_notify;
    sk->sk_data_ready = sk_cb_data_ready;
    sk->sk_write_space = sk_cb_write_space;
    sk->sk_error_report = sk_cb_notify;
}

void release_dfile(dfile* f) {
    epoll_release_file(f);  // as the kernel's eventpoll_release at the last fput
    if (f->kind == dfile_kind::dshim && f->sock) {
        stack_lock lk;
        sock_release(f->sock);
        f->sock = nullptr;
        if (stack* s = g_stack.load()) {
            s->flush();
        }
    }
    delete f;
}

}  // namespace dshim::shim
