// `dshim stat PID`: a tiny AF_UNIX service thread that dumps the process's
// dshim sockets and the stack counters as text (like `onload_stackdump`).
// The socket lives at /run/dshim/stat-PID.sock (or /tmp/dshim-stat-PID.sock).
#include "shim/stat.hh"

#include <pthread.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "dpdk_port/dpdk_port.hh"
#include "ipv4/tcp.hh"
#include "shim/libc.hh"
#include "shim/runtime.hh"

namespace dshim::shim {

namespace {

std::string g_stat_path;
int g_stat_fd = -1;

std::string fmt_addr(uint32_t ip, uint16_t port) {
    char b[32];
    std::snprintf(b, sizeof(b), "%u.%u.%u.%u:%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255, port);
    return b;
}

void append_sock(std::string& out, const char* who, sock* sk) {
    auto* inet = inet_sk(sk);
    char line[256];
    const tcp_sock* tp = tcp_sk(sk);
    const bool full = sk->sk_state != TCP_TIME_WAIT;
    std::snprintf(line, sizeof(line), "  %-6s %-12s %-22s %-22s %8d %8u %6u %5u %8d %8d %8u %8u\n", who,
                  tcp_state_name(sk->sk_state), fmt_addr(inet->inet_rcv_saddr, inet->inet_num).c_str(),
                  fmt_addr(inet->inet_daddr, inet->inet_dport).c_str(), full ? tcp_inq(sk) : 0,
                  full ? uint32_t(tp->write_seq - tp->snd_una) : 0u, full ? tp->snd_cwnd : 0u,
                  full ? tp->total_retrans : 0u, full ? sk->sk_rcvbuf : 0, full ? sk->sk_sndbuf : 0,
                  full ? tp->rcv_wnd : 0u, full ? tp->snd_wnd : 0u);
    out += line;
}

}  // namespace

std::string stat_render() {
    std::string out;
    char line[256];
    stack* net = runtime_stack_if_attached();
    std::snprintf(line, sizeof(line), "dshim pid %d  port %s  ip %u.%u.%u.%u/%u\n", int(getpid()), g_cfg.port.c_str(),
                  g_cfg.ip >> 24, (g_cfg.ip >> 16) & 255, (g_cfg.ip >> 8) & 255, g_cfg.ip & 255, g_cfg.prefix_len);
    out += line;
    if (!net) {
        out += "not attached\n";
        return out;
    }
    stack_lock lk;
    out += "sockets:\n  fd     state        local                  remote                 recv-q   send-q   cwnd retr   rcvbuf   sndbuf  rcv_wnd  snd_wnd\n";
    std::vector<sock*> seen;
    fd_for_each([&](int fd, dfile* f) {
        if (f->kind == dfile_kind::dshim && f->sock && f->sock->sk) {
            append_sock(out, std::to_string(fd).c_str(), f->sock->sk);
            seen.push_back(f->sock->sk);
        }
    });
    for (list_head* n = net->all_socks.next; n != &net->all_socks; n = n->next) {
        sock* sk = container_of(n, &sock::sk_all_node);
        bool dup = false;
        for (sock* s : seen) {
            dup = dup || s == sk;
        }
        if (!dup) {
            append_sock(out, sk->sk_state == TCP_TIME_WAIT ? "tw" : "-", sk);
        }
    }
    out += "counters:\n";
    const stack_counters& c = net->counters();
#define X(name)                                                                              \
    if (c.name) {                                                                             \
        std::snprintf(line, sizeof(line), "  %-26s %llu\n", #name, (unsigned long long)c.name); \
        out += line;                                                                          \
    }
    DSHIM_COUNTERS(X)
#undef X
    out += "drops:\n";
    for (unsigned i = 0; i < drop_reason_count; ++i) {
        if (c.drops[i]) {
            std::snprintf(line, sizeof(line), "  %-26s %llu   (%s)\n", drop_reason_name(drop_reason(i)),
                          (unsigned long long)c.drops[i], drop_reason_text(drop_reason(i)));
            out += line;
        }
    }
    if (dshim_port_stats ps{}; runtime_port_stats(&ps)) {
        std::snprintf(line, sizeof(line), "port:\n  rx %llu frames %llu bytes  tx %llu frames %llu bytes\n",
                      (unsigned long long)ps.rx_packets, (unsigned long long)ps.rx_bytes,
                      (unsigned long long)ps.tx_packets, (unsigned long long)ps.tx_bytes);
        out += line;
        if (!g_cfg.faults.empty()) {
            out += "faults (" + g_cfg.faults + "):\n";
            std::snprintf(line, sizeof(line),
                          "  rx lost %llu dup %llu reordered %llu corrupted %llu delayed %llu ce-marked %llu\n"
                          "  tx lost %llu dup %llu reordered %llu corrupted %llu delayed %llu ce-marked %llu  "
                          "copy-fail %llu\n",
                          (unsigned long long)ps.fault_rx_lost,
                          (unsigned long long)ps.fault_rx_dup, (unsigned long long)ps.fault_rx_reordered,
                          (unsigned long long)ps.fault_rx_corrupted, (unsigned long long)ps.fault_rx_delayed,
                          (unsigned long long)ps.fault_rx_ce,
                          (unsigned long long)ps.fault_tx_lost, (unsigned long long)ps.fault_tx_dup,
                          (unsigned long long)ps.fault_tx_reordered, (unsigned long long)ps.fault_tx_corrupted,
                          (unsigned long long)ps.fault_tx_delayed, (unsigned long long)ps.fault_tx_ce,
                          (unsigned long long)ps.fault_copy_fail);
            out += line;
        }
    }
    std::snprintf(line, sizeof(line),
                  "shim:\n  accelerated %llu  handed-over %llu  passes %llu  sleeps %llu  progress-passes %llu  "
                  "progress-parks %llu\n",
                  (unsigned long long)g_shim_counters.accelerated.load(),
                  (unsigned long long)g_shim_counters.handovers.load(),
                  (unsigned long long)g_shim_counters.passes.load(), (unsigned long long)g_shim_counters.sleeps.load(),
                  (unsigned long long)g_shim_counters.progress_passes.load(),
                  (unsigned long long)g_shim_counters.progress_parks.load());
    out += line;
    return out;
}

namespace {

void* stat_main(void*) {
    t_in_dshim = true;
    for (;;) {
        const int c = libc.accept4(g_stat_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR) {
                continue;
            }
            return nullptr;
        }
        char req[64];
        (void)libc.read(c, req, sizeof(req));
        const std::string s = stat_render();
        size_t off = 0;
        while (off < s.size()) {
            const ssize_t w = libc.write(c, s.data() + off, s.size() - off);
            if (w <= 0) {
                break;
            }
            off += size_t(w);
        }
        libc.close(c);
    }
}

}  // namespace

void stat_start() {
    t_in_dshim = true;
    const int fd = libc.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return;
    }
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    mkdir("/run/dshim", 0755);
    std::string path = "/run/dshim/stat-" + std::to_string(getpid()) + ".sock";
    if (access("/run/dshim", W_OK) != 0) {
        path = "/tmp/dshim-stat-" + std::to_string(getpid()) + ".sock";
    }
    unlink(path.c_str());
    std::snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path.c_str());
    if (libc.bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0 || libc.listen(fd, 4) < 0) {
        libc.close(fd);
        return;
    }
    g_stat_fd = fd;
    g_stat_path = path;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t th;
    if (pthread_create(&th, nullptr, stat_main, nullptr) == 0) {
        pthread_detach(th);
        pthread_setname_np(th, "dshim-stat");
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void stat_stop() {
    if (!g_stat_path.empty()) {
        unlink(g_stat_path.c_str());
        g_stat_path.clear();
    }
}

}  // namespace dshim::shim
