// dshim_dpdk_attach: the one exported entry point of libdshim_dpdk.so. Owns
// the port context (lock, EAL session, mempool, ethdev, capture, clock) and
// the dshim_port operations the shim calls through.
#include <atomic>
#include <memory>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <string>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

#include <rte_ethdev.h>
#include <rte_log.h>

#include "capture.hh"
#include "dpdk_port.hh"
#include "eal.hh"
#include "eth_port.hh"
#include "faults.hh"
#include "mbuf_pool.hh"
#include "port_lock.hh"
#include "tsc_clock.hh"

namespace dshim::dpdk {
namespace {

// Everything one attached port owns, torn down in reverse order.
struct port_ctx {
    port_lock lock;
    eal_session eal;
    mbuf_pool pool;
    eth_port dev;
    capture cap;
    tsc_clock clock;
    std::unique_ptr<fault_netdev> faults;   // DSHIM_FAULTS: wraps dev when set
    std::vector<int> async_fds;             // fds DPDK opened with O_ASYNC (signal on input)
    bool forked = false;
};

// DPDK initialises once per process.
std::atomic<bool> g_attached{false};

double now_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

std::vector<int> open_fds() {
    std::vector<int> fds;
    DIR* d = opendir("/proc/self/fd");
    if (d == nullptr) {
        return fds;
    }
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9') {
            fds.push_back(std::atoi(e->d_name));
        }
    }
    closedir(d);
    return fds;
}

// DPDK opens tap queues, eventfds and sockets without O_CLOEXEC: a program
// that forks and execs must not hand them to the new image (it would keep
// the port's queues open after we exit). Returns the new fds that signal on
// input (O_ASYNC), for signal_owner.
std::vector<int> cloexec_new_fds(const std::vector<int>& before) {
    std::vector<int> async_fds;
    for (int fd : open_fds()) {
        bool old = false;
        for (int b : before) {
            if (b == fd) {
                old = true;
                break;
            }
        }
        if (old) {
            continue;
        }
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0 && !(fl & FD_CLOEXEC)) {
            fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
        }
        int sfl = fcntl(fd, F_GETFL);
        if (sfl >= 0 && (sfl & O_ASYNC)) {
            async_fds.push_back(fd);
        }
    }
    return async_fds;
}

port_ctx* ctx_of(dshim_port* p) {
    return static_cast<port_ctx*>(p->impl);
}

int op_rx_intr_enable(dshim_port* p) noexcept {
    return ctx_of(p)->dev.rx_intr_enable();
}
int op_rx_intr_disable(dshim_port* p) noexcept {
    return ctx_of(p)->dev.rx_intr_disable();
}
int op_rx_intr_wait(dshim_port* p, int timeout_ms) noexcept {
    // Frames held by fault injection (delay, reordering) are released by
    // polling, not by an interrupt: sleep at most 1 ms while any wait.
    const fault_netdev* f = ctx_of(p)->faults.get();
    if (f != nullptr && f->holding() && (timeout_ms < 0 || timeout_ms > 1)) {
        timeout_ms = 1;
    }
    return ctx_of(p)->dev.rx_intr_wait(timeout_ms);
}
int op_link_up(dshim_port* p) noexcept {
    return ctx_of(p)->dev.link_up() ? 1 : 0;
}
int op_link_wait(dshim_port* p, int timeout_ms) noexcept {
    double deadline = now_seconds() + timeout_ms / 1000.0;
    for (;;) {
        if (ctx_of(p)->dev.link_up()) {
            return 0;
        }
        if (timeout_ms >= 0 && now_seconds() >= deadline) {
            return -ETIMEDOUT;
        }
        usleep(1000);
    }
}

void op_stats(dshim_port* p, dshim_port_stats* out) noexcept {
    port_ctx* c = ctx_of(p);
    *out = dshim_port_stats{};
    out->rx_packets = c->dev.rx_packets;
    out->rx_bytes = c->dev.rx_bytes;
    out->tx_packets = c->dev.tx_packets;
    out->tx_bytes = c->dev.tx_bytes;
    out->rx_drop_multiseg = c->dev.rx_drop_multiseg;
    out->tx_refused = c->dev.tx_refused;
    out->alloc_fail = c->pool.alloc_fail;
    out->pcap_drop = c->cap.drops;
    rte_eth_stats st{};
    if (!c->forked && rte_eth_stats_get(c->dev.port_id(), &st) == 0) {
        out->dev_imissed = st.imissed;
        out->dev_ierrors = st.ierrors;
        out->dev_oerrors = st.oerrors;
        out->dev_rx_nombuf = st.rx_nombuf;
    }
    if (const fault_netdev* f = c->faults.get()) {
        out->fault_rx_lost = f->rx_faults.lost;
        out->fault_rx_dup = f->rx_faults.duplicated;
        out->fault_rx_reordered = f->rx_faults.reordered;
        out->fault_rx_corrupted = f->rx_faults.corrupted;
        out->fault_rx_delayed = f->rx_faults.delayed;
        out->fault_tx_lost = f->tx_faults.lost;
        out->fault_tx_dup = f->tx_faults.duplicated;
        out->fault_tx_reordered = f->tx_faults.reordered;
        out->fault_tx_corrupted = f->tx_faults.corrupted;
        out->fault_tx_delayed = f->tx_faults.delayed;
        out->fault_copy_fail = f->rx_faults.copy_fail + f->tx_faults.copy_fail;
        out->fault_rx_ce = f->rx_faults.ce_marked;
        out->fault_tx_ce = f->tx_faults.ce_marked;
    }
}

int op_signal_owner(dshim_port* p, int tid) noexcept {
    int sig = 0;
    for (int fd : ctx_of(p)->async_fds) {
        f_owner_ex o{F_OWNER_TID, tid};
        if (fcntl(fd, F_SETOWN_EX, &o) == 0) {
            const int s = fcntl(fd, F_GETSIG);
            sig = s > 0 ? s : SIGIO;
        }
    }
    return sig;
}

void op_fork_child(dshim_port* p) noexcept {
    port_ctx* c = ctx_of(p);
    c->forked = true;
    c->dev.cut_off();
    c->pool.cut_off();
    c->cap.cut_off();
    c->lock.forget();
}

// Tears down whatever exists, in reverse order of creation.
void teardown(port_ctx* c) noexcept {
    if (c->forked) {
        return;   // the parent's port: nothing here is ours to stop
    }
    if (c->faults) {
        c->faults->drop_held();   // held frames go back to the pool first
    }
    c->dev.set_capture(nullptr);
    c->cap.close();
    c->dev.close();
    c->pool.destroy();
    c->eal.cleanup();
    c->lock.release();
}

void op_detach(dshim_port* p) noexcept {
    port_ctx* c = ctx_of(p);
    if (c == nullptr) {
        return;
    }
    teardown(c);
    if (!c->forked) {
        delete c;   // a forked child leaks it: its destructors would touch DPDK
    }
    p->impl = nullptr;
    p->dev = nullptr;
    p->pool = nullptr;
    p->clock = nullptr;
}

// Empties and removes dir with system calls only (no opendir/nftw, which
// allocate): _exit is often called from a signal handler, which may have
// interrupted malloc. The EAL runtime directory is flat (empty with
// --no-shconf); whatever cannot be removed stays.
void remove_dir_signal_safe(const char* dir) noexcept {
    const int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        return;
    }
    alignas(8) char buf[4096];
    for (;;) {
        const long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
        if (n <= 0) {
            break;
        }
        for (long off = 0; off < n;) {
            auto* d = reinterpret_cast<struct dirent64*>(buf + off);
            off += d->d_reclen;
            if (std::strcmp(d->d_name, ".") != 0 && std::strcmp(d->d_name, "..") != 0) {
                (void)unlinkat(fd, d->d_name, d->d_type == DT_DIR ? AT_REMOVEDIR : 0);
            }
        }
    }
    close(fd);
    (void)rmdir(dir);
}

// Async-signal-safe (see dpdk_port.hh).
void op_exit_files(dshim_port* p) noexcept {
    port_ctx* c = ctx_of(p);
    if (c == nullptr || c->forked) {
        return;
    }
    c->lock.unlink_held();
    if (!c->eal.runtime_dir().empty()) {
        remove_dir_signal_safe(c->eal.runtime_dir().c_str());
    }
}

struct attach_job {
    const dshim_port_config* cfg;
    dshim_port* out;
    port_ctx* ctx;
    std::string err;
    double eal_seconds;
    double pool_seconds;
    double port_seconds;
    std::string dpdk_log;   // what DPDK logged during the attach
};

int attach_steps(attach_job* job);

// Runs on the isolated attach thread. DPDK logs to stdout and syslog by
// default; a host program's stdout is its output, so DPDK's messages are
// kept in memory during the attach (PMDs log benign "errors" there, e.g.
// net_tap without the multiq qdisc) and shown only when the attach fails or
// a verbose log level was asked for; afterwards they go to stderr.
int attach_on_thread(void* arg) {
    auto* job = static_cast<attach_job*>(arg);
    char* buf = nullptr;
    size_t len = 0;
    FILE* mem = open_memstream(&buf, &len);
    rte_openlog_stream(mem != nullptr ? mem : stderr);
    int rc = attach_steps(job);
    rte_openlog_stream(stderr);
    if (mem != nullptr) {
        std::fclose(mem);
        if (buf != nullptr) {
            job->dpdk_log.assign(buf, len);
        }
        std::free(buf);
    }
    return rc;
}

int attach_steps(attach_job* job) {
    const dshim_port_config& cfg = *job->cfg;
    port_ctx* c = job->ctx;

    fault_spec faults;
    if (cfg.faults != nullptr && !parse_fault_spec(cfg.faults, faults, job->err)) {
        job->err = "DSHIM_FAULTS: " + job->err;
        return -EINVAL;
    }
    std::vector<std::string> args;
    bool is_pci = false;
    if (!build_eal_args(cfg, args, is_pci, job->err)) {
        return -EINVAL;
    }
    int rc = c->lock.acquire(cfg.lock_dir, cfg.device, job->err);
    if (rc != 0) {
        return rc;
    }
    std::vector<int> fds_before = open_fds();
    double t0 = now_seconds();
    rc = c->eal.init(args, job->err);
    job->eal_seconds = now_seconds() - t0;
    if (rc != 0) {
        return rc;
    }
    uint16_t port_id = RTE_MAX_ETHPORTS;
    uint16_t pid;
    RTE_ETH_FOREACH_DEV(pid) {
        port_id = pid;
        break;
    }
    if (port_id == RTE_MAX_ETHPORTS) {
        job->err = std::string("DPDK found no port for device '") + cfg.device +
                   "' (check the device string; the PMD log above may say why) (DSHIM_PORT)";
        return -ENODEV;
    }
    int socket = rte_eth_dev_socket_id(port_id);
    if (socket < 0) {
        socket = SOCKET_ID_ANY;
    }
    uint32_t nb = cfg.nb_mbufs ? cfg.nb_mbufs : 8191;
    t0 = now_seconds();
    rc = c->pool.create("dshim_mbufs", nb, cfg.cache_size, socket, !cfg.hugepages && !is_pci);
    job->pool_seconds = now_seconds() - t0;
    if (rc != 0) {
        job->err = "cannot create a mempool of " + std::to_string(nb) + " mbufs: " + std::strerror(-rc) +
                   (cfg.hugepages ? "" : " (raise the EAL memory with -m, or use fewer mbufs)");
        return rc;
    }
    eth_port_options opt;
    opt.rx_desc = cfg.rx_desc ? cfg.rx_desc : 512;
    opt.tx_desc = cfg.tx_desc ? cfg.tx_desc : 512;
    opt.mac = is_pci && cfg.mac && *cfg.mac ? cfg.mac : nullptr;
    t0 = now_seconds();
    rc = c->dev.open(port_id, c->pool, opt, job->err);
    if (rc != 0) {
        job->err = std::string("port '") + cfg.device + "': " + job->err;
        return rc;
    }
    if (cfg.pcap_path != nullptr && *cfg.pcap_path != '\0') {
        rc = c->cap.open(cfg.pcap_path, port_id, socket, job->err);
        if (rc != 0) {
            return rc;
        }
        c->dev.set_capture(&c->cap);
    }
    job->port_seconds = now_seconds() - t0;
    c->clock.start();
    if (faults.active()) {
        c->faults = std::make_unique<fault_netdev>(c->dev, c->pool, c->clock, faults);
    }
    c->async_fds = cloexec_new_fds(fds_before);

    dshim_port* out = job->out;
    out->port_id = port_id;
    if (rte_eth_dev_get_name_by_port(port_id, out->name) != 0) {
        std::snprintf(out->name, sizeof(out->name), "port%u", unsigned(port_id));
    }
    std::snprintf(out->lock_path, sizeof(out->lock_path), "%s", c->lock.path().c_str());
    std::snprintf(out->runtime_dir, sizeof(out->runtime_dir), "%s", c->eal.runtime_dir().c_str());
    return 0;
}

}  // namespace
}  // namespace dshim::dpdk

extern "C" __attribute__((visibility("default"))) int dshim_dpdk_attach(const dshim_port_config* cfg, dshim_port* out,
                                                                         char* err, size_t errlen) noexcept {
    using namespace dshim::dpdk;
    auto set_err = [&](const std::string& msg) {
        if (err != nullptr && errlen > 0) {
            std::snprintf(err, errlen, "%s", msg.c_str());
        }
    };
    if (cfg == nullptr || out == nullptr) {
        set_err("dshim_dpdk_attach: null argument");
        return -EINVAL;
    }
    if (cfg->abi != DSHIM_DPDK_ABI) {
        set_err("libdshim_dpdk.so ABI " + std::to_string(DSHIM_DPDK_ABI) + " does not match the caller's " +
                std::to_string(cfg->abi) + " (mixed builds?)");
        return -EINVAL;
    }
    bool expected = false;
    if (!g_attached.compare_exchange_strong(expected, true)) {
        set_err("DPDK is already initialised in this process (one attach per process)");
        return -EALREADY;
    }
    double t0 = now_seconds();
    *out = dshim_port{};
    out->rx_intr_fd = -1;
    attach_job job{cfg, out, new port_ctx, {}, 0.0, 0.0, 0.0, {}};
    int rc = run_isolated(cfg->thread_init, attach_on_thread, &job);
    if (!job.dpdk_log.empty() && (rc != 0 || cfg->log_level >= 7)) {
        std::fprintf(stderr, "%s", job.dpdk_log.c_str());
    }
    if (rc != 0) {
        bool retry_possible = !job.ctx->eal.tried();
        teardown(job.ctx);
        delete job.ctx;
        if (retry_possible) {
            g_attached.store(false);
        }
        set_err("dshim: cannot attach DPDK port: " + job.err);
        *out = dshim_port{};
        out->rx_intr_fd = -1;
        return rc < 0 ? rc : -rc;
    }
    port_ctx* c = job.ctx;
    out->dev = c->faults ? static_cast<dshim::netdev*>(c->faults.get()) : &c->dev;
    out->pool = &c->pool;
    out->clock = &c->clock;
    out->rx_intr_errno = c->dev.rx_intr_errno();
    out->rx_intr_fd = c->dev.rx_intr_fd();
    out->rx_intr_enable = op_rx_intr_enable;
    out->rx_intr_disable = op_rx_intr_disable;
    out->rx_intr_wait = op_rx_intr_wait;
    out->link_wait = op_link_wait;
    out->link_up = op_link_up;
    out->stats = op_stats;
    out->fork_child = op_fork_child;
    out->signal_owner = op_signal_owner;
    out->detach = op_detach;
    out->exit_files = op_exit_files;
    out->impl = c;
    out->eal_init_seconds = job.eal_seconds;
    out->pool_seconds = job.pool_seconds;
    out->port_seconds = job.port_seconds;
    out->attach_seconds = now_seconds() - t0;
    set_err("");
    return 0;
}
