// memif_pingpong: the floor under every dshim latency figure. Two processes
// on one net_memif link bounce a raw Ethernet frame (no IP, no TCP, no
// socket) through libdshim_dpdk.so's port layer, loaded as the shim loads it
// (dlopen + dshim_dpdk_attach), busy-polling rx_burst: what is left of a
// ping-pong is the memif ring transfer and the pbuf/mbuf handling dshim
// itself uses. scripts/bench reports its half-RTT percentiles beside
// sockperf's.
//
// usage: memif_pingpong --lib LIBDSHIM_DPDK_SO --port 'net_memif0,role=server,socket=S'
//            --role pong|ping [--size 64] [--count 200000] [--warmup 20000] [--seconds 30]
// ping prints: "half_rtt_ns p50=N p99=N p999=N avg=N count=N" (sorted samples,
// RTT / 2), pong answers until ping sends its stop frame or --seconds pass.
#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "dpdk_port.hh"

namespace {

constexpr uint16_t ETHERTYPE_PINGPONG = 0x88b5;  // IEEE local experimental
constexpr std::byte STOP{0xff};

struct options {
    std::string lib, port, role;
    uint32_t size = 64, count = 200000, warmup = 20000, seconds = 30;
};

uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

bool parse(int argc, char** argv, options& o) {
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i], v = argv[i + 1];
        if (k == "--lib") { o.lib = v; }
        else if (k == "--port") { o.port = v; }
        else if (k == "--role") { o.role = v; }
        else if (k == "--size") { o.size = uint32_t(std::atoi(v.c_str())); }
        else if (k == "--count") { o.count = uint32_t(std::atoi(v.c_str())); }
        else if (k == "--warmup") { o.warmup = uint32_t(std::atoi(v.c_str())); }
        else if (k == "--seconds") { o.seconds = uint32_t(std::atoi(v.c_str())); }
        else { return false; }
    }
    return !o.lib.empty() && !o.port.empty() && (o.role == "ping" || o.role == "pong") && o.size >= 60 &&
           o.size <= 1514;
}

// One frame of o.size bytes: broadcast destination, our source MAC, the
// experimental ethertype, then a marker byte (STOP ends the pong).
dshim::pbuf* make_frame(dshim_port& p, uint32_t size, std::byte marker) {
    dshim::pbuf* b = p.pool->alloc(0, size);
    if (b == nullptr) {
        return nullptr;
    }
    std::byte* d = b->append(size);
    std::memset(d, 0, size);
    std::memset(d, 0xff, 6);
    const auto mac = p.dev->mac();
    std::memcpy(d + 6, mac.b.data(), 6);
    d[12] = std::byte(ETHERTYPE_PINGPONG >> 8);
    d[13] = std::byte(ETHERTYPE_PINGPONG & 0xff);
    d[14] = marker;
    return b;
}

bool is_ours(const dshim::pbuf* b) {
    return b->len >= 15 && b->data[12] == std::byte(ETHERTYPE_PINGPONG >> 8) &&
           b->data[13] == std::byte(ETHERTYPE_PINGPONG & 0xff);
}

bool send_one(dshim_port& p, dshim::pbuf* b) {
    while (p.dev->tx_burst(&b, 1) == 0) {
    }
    return true;
}

int run_pong(dshim_port& p, const options& o) {
    const uint64_t end = now_ns() + uint64_t(o.seconds) * 1000000000ull;
    dshim::pbuf* rx[32];
    uint64_t answered = 0;
    while (now_ns() < end) {
        const uint16_t n = p.dev->rx_burst(rx, 32);
        for (uint16_t i = 0; i < n; ++i) {
            dshim::pbuf* b = rx[i];
            if (!is_ours(b)) {
                p.pool->free(b);
                continue;
            }
            const bool stop = b->data[14] == STOP;
            send_one(p, b);  // the same buffer goes back
            ++answered;
            if (stop) {
                std::printf("pong answered %llu\n", (unsigned long long)answered);
                return 0;
            }
        }
    }
    std::printf("pong timed out after %llu\n", (unsigned long long)answered);
    return 1;
}

int run_ping(dshim_port& p, const options& o) {
    std::vector<uint64_t> rtt;
    rtt.reserve(o.count);
    dshim::pbuf* rx[32];
    // Wait for the link (the pong may still be attaching).
    const uint64_t give_up = now_ns() + uint64_t(o.seconds) * 1000000000ull;
    while (p.link_up(&p) != 1) {
        if (now_ns() > give_up) {
            std::fprintf(stderr, "memif_pingpong: link never came up\n");
            return 1;
        }
    }
    for (uint32_t i = 0; i < o.warmup + o.count; ++i) {
        dshim::pbuf* b = make_frame(p, o.size, std::byte(1));
        if (b == nullptr) {
            std::fprintf(stderr, "memif_pingpong: pool empty\n");
            return 1;
        }
        const uint64_t t0 = now_ns();
        send_one(p, b);
        bool got = false;
        while (!got) {
            const uint16_t n = p.dev->rx_burst(rx, 32);
            for (uint16_t k = 0; k < n; ++k) {
                got = got || is_ours(rx[k]);
                p.pool->free(rx[k]);
            }
            // Per frame: a whole run under load can outlast --seconds, a lost
            // answer cannot take more than a second.
            if (!got && now_ns() - t0 > 1000000000ull) {
                std::fprintf(stderr, "memif_pingpong: no answer (frame %u)\n", i);
                return 1;
            }
        }
        if (i >= o.warmup) {
            rtt.push_back(now_ns() - t0);
        }
    }
    if (dshim::pbuf* b = make_frame(p, o.size, STOP)) {
        send_one(p, b);
    }
    std::sort(rtt.begin(), rtt.end());
    auto pct = [&](double q) { return rtt[std::min(rtt.size() - 1, size_t(q * double(rtt.size())))] / 2; };
    uint64_t sum = 0;
    for (uint64_t v : rtt) {
        sum += v;
    }
    std::printf("half_rtt_ns p50=%llu p99=%llu p999=%llu avg=%llu count=%zu\n", (unsigned long long)pct(0.50),
                (unsigned long long)pct(0.99), (unsigned long long)pct(0.999),
                (unsigned long long)(sum / rtt.size() / 2), rtt.size());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    if (!parse(argc, argv, o)) {
        std::fprintf(stderr,
                     "usage: memif_pingpong --lib LIB --port DEV --role ping|pong [--size 64] [--count N] "
                     "[--warmup N] [--seconds N]\n");
        return 2;
    }
    void* h = dlopen(o.lib.c_str(), RTLD_NOW | RTLD_LOCAL);
    auto attach = h ? reinterpret_cast<dshim_dpdk_attach_fn>(dlsym(h, DSHIM_DPDK_ATTACH_SYMBOL)) : nullptr;
    if (attach == nullptr) {
        std::fprintf(stderr, "memif_pingpong: cannot load %s: %s\n", o.lib.c_str(), dlerror());
        return 1;
    }
    dshim_port_config cfg;
    cfg.device = o.port.c_str();
    dshim_port port{};
    char err[512];
    if (int rc = attach(&cfg, &port, err, sizeof(err)); rc != 0) {
        std::fprintf(stderr, "memif_pingpong: %s\n", err);
        return 1;
    }
    const int rc = o.role == "ping" ? run_ping(port, o) : run_pong(port, o);
    std::fflush(stdout);
    port.detach(&port);
    return rc;
}
