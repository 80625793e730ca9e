// port_probe: attaches one DPDK port through libdshim_dpdk.so exactly as the
// shim does (dlopen + dlsym of dshim_dpdk_attach) and acts as a tiny host
// on it using only stack/wire/: answers ARP (RFC 826) and ICMP echo (RFC 792)
// for one IPv4 address, echoes UDP port 7 (RFC 862), and can ping a peer.
// It also checks what attaching must not change in its host process.
// A test tool for tests/integration/, not part of dshim.
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <dlfcn.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <string>
#include <unistd.h>

#include "dpdk_port.hh"
#include "wire/arp.hh"
#include "wire/checksum.hh"
#include "wire/ether.hh"
#include "wire/icmp.hh"
#include "wire/ipv4.hh"
#include "wire/udp.hh"

namespace {

using namespace dshim;

std::atomic<bool> g_stop{false};

void on_signal(int) {
    g_stop.store(true);
}

double now_s() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

struct options {
    std::string lib;
    std::string port;
    std::string ip_str;
    std::string mac;
    std::string pcap;
    std::string eal;
    std::string ready_file;
    std::string ping_str;
    double seconds = 30;
    int ping_count = 3;
    bool use_intr = true;
    bool hugepages = false;
    uint32_t mbufs = 0;
};

void usage() {
    std::fprintf(stderr,
                 "usage: port_probe --lib libdshim_dpdk.so --port DEVICE --ip A.B.C.D\n"
                 "         [--mac M] [--pcap FILE] [--eal ARGS] [--ready-file F] [--seconds S]\n"
                 "         [--ping PEER [--count N]] [--no-intr] [--mbufs N] [--hugepages]\n");
}

// What attaching must leave alone in the calling thread (architecture §7).
struct host_state {
    cpu_set_t affinity;
    sigset_t mask;
    int optind_v, opterr_v, optopt_v;

    void capture() {
        CPU_ZERO(&affinity);
        pthread_getaffinity_np(pthread_self(), sizeof(affinity), &affinity);
        pthread_sigmask(SIG_SETMASK, nullptr, &mask);
        optind_v = optind;
        opterr_v = opterr;
        optopt_v = optopt;
    }
};

// Threads other than the main one that could receive SIGINT or SIGTERM.
int threads_with_signals_open(std::string& names) {
    int bad = 0;
    DIR* d = opendir("/proc/self/task");
    if (d == nullptr) {
        return -1;
    }
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || std::atoi(e->d_name) == getpid()) {
            continue;
        }
        std::string base = std::string("/proc/self/task/") + e->d_name;
        FILE* f = std::fopen((base + "/status").c_str(), "r");
        if (f == nullptr) {
            continue;
        }
        char line[256];
        unsigned long long blk = 0;
        while (std::fgets(line, sizeof(line), f)) {
            if (std::strncmp(line, "SigBlk:", 7) == 0) {
                blk = std::strtoull(line + 7, nullptr, 16);
            }
        }
        std::fclose(f);
        unsigned long long need = (1ull << (SIGINT - 1)) | (1ull << (SIGTERM - 1)) | (1ull << (SIGHUP - 1));
        if ((blk & need) != need) {
            ++bad;
            char comm[64] = "?";
            if (FILE* c = std::fopen((base + "/comm").c_str(), "r")) {
                if (std::fgets(comm, sizeof(comm), c)) {
                    comm[std::strcspn(comm, "\n")] = '\0';
                }
                std::fclose(c);
            }
            names += std::string(names.empty() ? "" : ",") + comm;
        }
    }
    closedir(d);
    return bad;
}

int count_threads() {
    int n = 0;
    if (DIR* d = opendir("/proc/self/task")) {
        while (dirent* e = readdir(d)) {
            n += (e->d_name[0] >= '0' && e->d_name[0] <= '9');
        }
        closedir(d);
    }
    return n;
}

const char* mac_str(const wire::mac_addr& m, char* buf) {
    std::snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m.b[0], m.b[1], m.b[2], m.b[3], m.b[4], m.b[5]);
    return buf;
}

class responder {
public:
    responder(dshim_port& port, uint32_t ip) : _p(port), _ip(ip), _mac(port.dev->mac()) {}

    uint64_t arp_replies = 0, echo_replies = 0, udp_echoes = 0, echo_replies_seen = 0;
    uint64_t rx_frames = 0, tx_fail = 0, alloc_fail = 0, bad_frames = 0;
    uint32_t peer_ip = 0;
    wire::mac_addr peer_mac{};
    bool peer_known = false;

    // Handles one received frame (ownership passes in).
    void input(pbuf* raw) {
        pbuf_ptr p(raw);
        ++rx_frames;
        wire::ether_repr eth;
        if (wire::ether_repr::parse(p->span(), eth) != wire::wire_error::none) {
            ++bad_frames;
            return;
        }
        if (!(eth.dst == _mac) && !eth.dst.is_broadcast()) {
            return;
        }
        wire::cbytes payload = std::span<const std::byte>(p->span()).subspan(wire::ether_header_len);
        if (eth.ethertype == wire::ethertype_arp) {
            arp_input(payload);
        } else if (eth.ethertype == wire::ethertype_ipv4) {
            bool ip_ok = (p->flags & PBUF_RX_IP_CSUM_GOOD) != 0;
            ipv4_input(eth, payload, ip_ok);
        }
    }

    void send_arp_request(uint32_t target) {
        wire::arp_repr a;
        a.op = wire::arp_op_request;
        a.sha = _mac;
        a.spa = _ip;
        a.tpa = target;
        send_arp(a, wire::mac_addr::broadcast());
    }

    void send_echo_request(uint16_t id, uint16_t seq) {
        static const char msg[] = "dshim port_probe echo";
        wire::icmp_repr icmp;
        icmp.type = wire::icmp_echo_request;
        icmp.rest = (uint32_t(id) << 16) | seq;
        icmp.payload = std::as_bytes(std::span(msg, sizeof(msg) - 1));
        send_icmp(peer_mac, peer_ip, icmp);
    }

private:
    pbuf_ptr frame(size_t len) {
        pbuf* raw = _p.pool->alloc(128, uint32_t(len < 60 ? 60 : len));
        if (raw == nullptr) {
            ++alloc_fail;
            return {};
        }
        pbuf_ptr p(raw);
        std::byte* d = p->append(uint32_t(len < 60 ? 60 : len));
        std::memset(d, 0, p->len);   // Ethernet padding of short frames
        return p;
    }

    void transmit(pbuf_ptr p) {
        pbuf* raw = p.release();
        if (_p.dev->tx_burst(&raw, 1) != 1) {
            ++tx_fail;
            _p.pool->free(raw);   // burst ownership: refused frames stay ours
        }
    }

    void send_arp(const wire::arp_repr& a, const wire::mac_addr& dst) {
        pbuf_ptr p = frame(wire::ether_header_len + wire::arp_packet_len);
        if (!p) {
            return;
        }
        wire::ether_repr eth{dst, _mac, wire::ethertype_arp};
        eth.emit(p->span());
        a.emit(p->span().subspan(wire::ether_header_len));
        transmit(std::move(p));
    }

    void arp_input(wire::cbytes pkt) {
        wire::arp_repr a;
        if (wire::arp_repr::parse(pkt, a) != wire::wire_error::none) {
            ++bad_frames;
            return;
        }
        if (peer_ip != 0 && a.spa == peer_ip) {
            peer_mac = a.sha;
            peer_known = true;
        }
        if (a.op == wire::arp_op_request && a.tpa == _ip) {
            wire::arp_repr r;
            r.op = wire::arp_op_reply;
            r.sha = _mac;
            r.spa = _ip;
            r.tha = a.sha;
            r.tpa = a.spa;
            send_arp(r, a.sha);
            ++arp_replies;
        }
    }

    // IPv4 header with the checksum left to the device when it offers that.
    void emit_ip(pbuf& p, const wire::ipv4_repr& ip) {
        bool offload = (_p.dev->offloads() & NETDEV_TX_IP_CSUM) != 0;
        ip.emit(p.span().subspan(wire::ether_header_len), !offload);
        if (offload) {
            p.flags |= PBUF_TX_IP_CSUM;
            p.l2_len = uint8_t(wire::ether_header_len);
            p.l3_len = uint8_t(wire::ipv4_min_header_len);
        }
    }

    void send_icmp(const wire::mac_addr& dst_mac, uint32_t dst, const wire::icmp_repr& icmp) {
        size_t ip_len = wire::ipv4_min_header_len + icmp.total_len();
        pbuf_ptr p = frame(wire::ether_header_len + ip_len);
        if (!p) {
            return;
        }
        wire::ether_repr eth{dst_mac, _mac, wire::ethertype_ipv4};
        eth.emit(p->span());
        wire::ipv4_repr ip;
        ip.total_len = uint16_t(ip_len);
        ip.id = _ip_id++;
        ip.frag = wire::ip_df;
        ip.proto = wire::ipproto_icmp;
        ip.src = _ip;
        ip.dst = dst;
        emit_ip(*p, ip);
        icmp.emit(p->span().subspan(wire::ether_header_len + wire::ipv4_min_header_len));
        p->trim(uint32_t(wire::ether_header_len + ip_len < 60 ? 60 : wire::ether_header_len + ip_len));
        transmit(std::move(p));
    }

    void ipv4_input(const wire::ether_repr& eth, wire::cbytes pkt, bool csum_ok) {
        wire::ipv4_repr ip;
        if (wire::ipv4_repr::parse(pkt, ip, !csum_ok) != wire::wire_error::none) {
            ++bad_frames;
            return;
        }
        if (ip.dst != _ip || ip.is_fragment()) {
            return;
        }
        wire::cbytes l4 = pkt.subspan(ip.header_len, size_t(ip.total_len) - ip.header_len);
        if (ip.proto == wire::ipproto_icmp) {
            wire::icmp_repr icmp;
            if (wire::icmp_repr::parse(l4, icmp) != wire::wire_error::none) {
                ++bad_frames;
                return;
            }
            if (icmp.type == wire::icmp_echo_request) {
                wire::icmp_repr reply = icmp;
                reply.type = wire::icmp_echo_reply;
                reply.code = 0;
                send_icmp(eth.src, ip.src, reply);
                ++echo_replies;
            } else if (icmp.type == wire::icmp_echo_reply && ip.src == peer_ip) {
                ++echo_replies_seen;
            }
        } else if (ip.proto == wire::ipproto_udp) {
            wire::udp_repr udp;
            if (wire::udp_repr::parse(l4, ip.src, ip.dst, udp) != wire::wire_error::none) {
                ++bad_frames;
                return;
            }
            if (udp.dport == 7) {
                udp_echo(eth, ip, udp, l4.subspan(wire::udp_header_len, udp.len - wire::udp_header_len));
            }
        }
    }

    void udp_echo(const wire::ether_repr& eth, const wire::ipv4_repr& in_ip, const wire::udp_repr& in,
                  wire::cbytes data) {
        size_t ip_len = wire::ipv4_min_header_len + wire::udp_header_len + data.size();
        pbuf_ptr p = frame(wire::ether_header_len + ip_len);
        if (!p) {
            return;
        }
        wire::ether_repr e{eth.src, _mac, wire::ethertype_ipv4};
        e.emit(p->span());
        wire::ipv4_repr ip;
        ip.total_len = uint16_t(ip_len);
        ip.id = _ip_id++;
        ip.proto = wire::ipproto_udp;
        ip.src = _ip;
        ip.dst = in_ip.src;
        emit_ip(*p, ip);
        wire::bytes l4 = p->span().subspan(wire::ether_header_len + wire::ipv4_min_header_len,
                                           wire::udp_header_len + data.size());
        std::memcpy(l4.data() + wire::udp_header_len, data.data(), data.size());
        wire::udp_repr u{in.dport, in.sport, uint16_t(wire::udp_header_len + data.size())};
        u.emit(l4, ip.src, ip.dst);
        if (_p.dev->offloads() & NETDEV_TX_UDP_CSUM) {
            // Device checksum: the field holds the pseudo-header sum (DPDK's
            // convention), the device folds in the rest.
            uint16_t phdr = uint16_t(~wire::csum_fold(wire::pseudo_header_sum(ip.src, ip.dst, wire::ipproto_udp, u.len)));
            wire::store16(l4.data() + 6, phdr);
            p->flags |= PBUF_TX_UDP_CSUM;
            p->l2_len = uint8_t(wire::ether_header_len);
            p->l3_len = uint8_t(wire::ipv4_min_header_len);
            p->l4_len = uint8_t(wire::udp_header_len);
        }
        p->trim(uint32_t(wire::ether_header_len + ip_len < 60 ? 60 : wire::ether_header_len + ip_len));
        transmit(std::move(p));
        ++udp_echoes;
    }

    dshim_port& _p;
    uint32_t _ip;
    wire::mac_addr _mac;
    uint16_t _ip_id = 1;
};

// pbuf_pool contract on mbufs: alloc, clone (shared data, own descriptor),
// free in either order, everything back in the pool afterwards.
bool pool_selftest(pbuf_pool& pool, std::string& why) {
    size_t start = pool.available();
    pbuf* a = pool.alloc(64, 1000);
    if (a == nullptr || a->headroom() != 64 || a->len != 0 || a->tailroom() < 1000) {
        why = "alloc";
        return false;
    }
    std::memset(a->append(100), 0x5a, 100);
    pbuf* b = pool.clone(a);
    if (b == nullptr || b == a || b->data != a->data || b->len != 100) {
        why = "clone";
        return false;
    }
    pool.free(a);
    bool data_ok = b->data[99] == std::byte{0x5a};
    pool.free(b);
    if (!data_ok) {
        why = "clone data after freeing the original";
        return false;
    }
    pbuf* many[64];
    for (pbuf*& p : many) {
        p = pool.alloc(0, pool.buf_size());
        if (p == nullptr) {
            why = "alloc of a full-size buffer";
            return false;
        }
    }
    if (pool.alloc(0, pool.buf_size() + 1) != nullptr) {
        why = "alloc larger than buf_size";
        return false;
    }
    for (pbuf* p : many) {
        pool.free(p);
    }
    if (pool.available() != start) {
        why = "available " + std::to_string(pool.available()) + " != " + std::to_string(start);
        return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    static const option longopts[] = {
        {"lib", required_argument, nullptr, 'l'},      {"port", required_argument, nullptr, 'p'},
        {"ip", required_argument, nullptr, 'i'},       {"mac", required_argument, nullptr, 'm'},
        {"pcap", required_argument, nullptr, 'c'},     {"eal", required_argument, nullptr, 'e'},
        {"ready-file", required_argument, nullptr, 'r'}, {"seconds", required_argument, nullptr, 's'},
        {"ping", required_argument, nullptr, 'P'},     {"count", required_argument, nullptr, 'n'},
        {"no-intr", no_argument, nullptr, 'I'},        {"mbufs", required_argument, nullptr, 'b'},
        {"hugepages", no_argument, nullptr, 'H'},      {nullptr, 0, nullptr, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, nullptr)) != -1) {
        switch (c) {
        case 'l': o.lib = optarg; break;
        case 'p': o.port = optarg; break;
        case 'i': o.ip_str = optarg; break;
        case 'm': o.mac = optarg; break;
        case 'c': o.pcap = optarg; break;
        case 'e': o.eal = optarg; break;
        case 'r': o.ready_file = optarg; break;
        case 's': o.seconds = std::atof(optarg); break;
        case 'P': o.ping_str = optarg; break;
        case 'n': o.ping_count = std::atoi(optarg); break;
        case 'I': o.use_intr = false; break;
        case 'b': o.mbufs = uint32_t(std::atoi(optarg)); break;
        case 'H': o.hugepages = true; break;
        default: usage(); return 2;
        }
    }
    uint32_t ip = 0, peer = 0;
    if (o.lib.empty() || o.port.empty() || !wire::parse_ipv4(o.ip_str.c_str(), ip) ||
        (!o.ping_str.empty() && !wire::parse_ipv4(o.ping_str.c_str(), peer))) {
        usage();
        return 2;
    }

    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);

    // Load the DPDK part the way the shim does.
    double t_load = now_s();
    void* h = dlopen(o.lib.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
        std::fprintf(stderr, "port_probe: dlopen %s: %s\n", o.lib.c_str(), dlerror());
        return 1;
    }
    auto attach = reinterpret_cast<dshim_dpdk_attach_fn>(dlsym(h, DSHIM_DPDK_ATTACH_SYMBOL));
    if (attach == nullptr) {
        std::fprintf(stderr, "port_probe: dlsym %s: %s\n", DSHIM_DPDK_ATTACH_SYMBOL, dlerror());
        return 1;
    }
    t_load = now_s() - t_load;

    dshim_port_config cfg;
    cfg.device = o.port.c_str();
    cfg.mac = o.mac.empty() ? nullptr : o.mac.c_str();
    cfg.pcap_path = o.pcap.empty() ? nullptr : o.pcap.c_str();
    cfg.eal_args = o.eal.empty() ? nullptr : o.eal.c_str();
    cfg.hugepages = o.hugepages;
    if (o.mbufs) {
        cfg.nb_mbufs = o.mbufs;
    }

    host_state before, after;
    opterr = 0;   // distinctive values EAL's getopt use would clobber
    optopt = 'Z';
    before.capture();
    int threads_before = count_threads();
    dshim_port port{};
    char err[512];
    int rc = attach(&cfg, &port, err, sizeof(err));
    after.capture();
    if (rc != 0) {
        std::fprintf(stderr, "port_probe: %s (%s)\n", err, std::strerror(-rc));
        return 3;
    }

    // Isolation checks: the attaching thread kept its affinity, signal mask
    // and getopt state; every thread attaching created blocks signals.
    std::string bad_threads;
    int open_threads = threads_with_signals_open(bad_threads);
    bool same_affinity = CPU_EQUAL(&before.affinity, &after.affinity);
    bool same_mask = true;
    for (int s = 1; s < SIGRTMIN; ++s) {
        same_mask = same_mask && sigismember(&before.mask, s) == sigismember(&after.mask, s);
    }
    bool same_getopt = before.optind_v == after.optind_v && before.opterr_v == after.opterr_v &&
                       before.optopt_v == after.optopt_v;
    bool isolated = same_affinity && same_mask && same_getopt && open_threads == 0;
    std::printf("isolation: %s (affinity %s, sigmask %s, getopt %s, threads %d->%d, signal-open threads %d%s%s)\n",
                isolated ? "ok" : "FAIL", same_affinity ? "kept" : "CHANGED", same_mask ? "kept" : "CHANGED",
                same_getopt ? "kept" : "CHANGED", threads_before, count_threads(), open_threads,
                bad_threads.empty() ? "" : ": ", bad_threads.c_str());

    char macbuf[18];
    std::printf("attached: port=%s mac=%s mtu=%u offloads=0x%x rx_intr=%s dlopen_s=%.4f attach_s=%.4f eal_s=%.4f "
                "pool_s=%.4f port_s=%.4f runtime_dir=%s lock=%s mbufs=%zu\n",
                port.name, mac_str(port.dev->mac(), macbuf), unsigned(port.dev->mtu()), port.dev->offloads(),
                port.rx_intr_errno == 0 ? "yes" : std::strerror(port.rx_intr_errno), t_load, port.attach_seconds,
                port.eal_init_seconds, port.pool_seconds, port.port_seconds, port.runtime_dir, port.lock_path, port.pool->capacity());
    std::fflush(stdout);

    std::string why;
    bool pool_ok = pool_selftest(*port.pool, why);
    std::printf("pool: %s%s%s\n", pool_ok ? "ok" : "FAIL ", why.c_str(), "");
    if (port.link_wait(&port, 5000) != 0) {
        std::printf("link: down after 5 s\n");
    } else {
        std::printf("link: up\n");
    }
    std::fflush(stdout);
    if (!o.ready_file.empty()) {
        if (FILE* f = std::fopen(o.ready_file.c_str(), "w")) {
            std::fprintf(f, "%d %.4f %.4f %s\n", getpid(), port.attach_seconds, port.eal_init_seconds,
                         port.runtime_dir);
            std::fclose(f);
        }
    }

    responder r(port, ip);
    r.peer_ip = peer;
    bool use_intr = o.use_intr && port.rx_intr_errno == 0;
    uint64_t wakeups = 0, sleeps = 0;
    double deadline = now_s() + o.seconds;
    double next_ping = 0;
    uint16_t seq = 0;
    int result = 0;
    size_t pool_start = port.pool->available();
    while (!g_stop.load() && now_s() < deadline) {
        pbuf* rx[32];
        uint16_t n = port.dev->rx_burst(rx, 32);
        for (uint16_t i = 0; i < n; ++i) {
            r.input(rx[i]);
        }
        if (peer != 0) {
            if (r.echo_replies_seen >= uint64_t(o.ping_count)) {
                break;
            }
            if (now_s() >= next_ping) {
                if (!r.peer_known) {
                    r.send_arp_request(peer);
                } else {
                    r.send_echo_request(0x4453, ++seq);
                }
                next_ping = now_s() + 0.2;
            }
        }
        if (n > 0) {
            continue;
        }
        if (use_intr) {
            // Arm, poll once more (a frame may have slipped in), then sleep.
            port.rx_intr_enable(&port);
            n = port.dev->rx_burst(rx, 32);
            for (uint16_t i = 0; i < n; ++i) {
                r.input(rx[i]);
            }
            if (n == 0) {
                ++sleeps;
                wakeups += port.rx_intr_wait(&port, peer != 0 ? 50 : 200) > 0;
            }
            port.rx_intr_disable(&port);
        } else {
            usleep(500);
        }
    }
    if (peer != 0 && r.echo_replies_seen < uint64_t(o.ping_count)) {
        result = 4;
    }

    dshim_port_stats st{};
    port.stats(&port, &st);
    std::printf("probe: rx=%llu arp_replies=%llu echo_replies=%llu udp_echoes=%llu echo_replies_seen=%llu "
                "bad=%llu tx_fail=%llu alloc_fail=%llu sleeps=%llu intr_wakeups=%llu\n",
                (unsigned long long)r.rx_frames, (unsigned long long)r.arp_replies,
                (unsigned long long)r.echo_replies, (unsigned long long)r.udp_echoes,
                (unsigned long long)r.echo_replies_seen, (unsigned long long)r.bad_frames,
                (unsigned long long)r.tx_fail, (unsigned long long)r.alloc_fail, (unsigned long long)sleeps,
                (unsigned long long)wakeups);
    std::printf("port: rx_packets=%llu rx_bytes=%llu tx_packets=%llu tx_bytes=%llu multiseg_drop=%llu "
                "tx_refused=%llu alloc_fail=%llu pcap_drop=%llu imissed=%llu ierrors=%llu oerrors=%llu "
                "pool_available=%zu/%zu (at start %zu)\n",
                (unsigned long long)st.rx_packets, (unsigned long long)st.rx_bytes,
                (unsigned long long)st.tx_packets, (unsigned long long)st.tx_bytes,
                (unsigned long long)st.rx_drop_multiseg, (unsigned long long)st.tx_refused,
                (unsigned long long)st.alloc_fail, (unsigned long long)st.pcap_drop,
                (unsigned long long)st.dev_imissed, (unsigned long long)st.dev_ierrors,
                (unsigned long long)st.dev_oerrors, port.pool->available(), port.pool->capacity(), pool_start);
    std::fflush(stdout);
    port.detach(&port);
    std::printf("detached\n");
    return isolated && pool_ok ? result : 5;
}
