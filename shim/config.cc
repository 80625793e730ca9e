// Configuration parsing (see config.hh).
#include "shim/config.hh"

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sys/syscall.h>
#include <unistd.h>

#include "dpdk_port/fault_spec.hh"
#include "wire/ether.hh"
#include "wire/ipv4.hh"

namespace dshim::shim {

int g_log_level = 1;

void log_msg(int level, const char* fmt, ...) {
    if (level > g_log_level) {
        return;
    }
    char buf[512];
    int n = std::snprintf(buf, sizeof(buf), "dshim[%d]: ", int(getpid()));
    va_list ap;
    va_start(ap, fmt);
    int m = std::vsnprintf(buf + n, sizeof(buf) - size_t(n) - 1, fmt, ap);
    va_end(ap);
    size_t len = size_t(n) + size_t(std::max(0, std::min(m, int(sizeof(buf)) - n - 2)));
    buf[len++] = '\n';
    // write(2) directly: stdio may be in use by the program.
    ssize_t w = ::syscall(SYS_write, 2, buf, len);
    (void)w;
}

namespace {

[[noreturn]] void bad(const char* key, const std::string& value, const char* why) {
    char buf[600];
    int n = std::snprintf(buf, sizeof(buf), "dshim: %s: invalid value '%s': %s\n", key, value.c_str(), why);
    ssize_t w = ::syscall(SYS_write, 2, buf, size_t(std::max(n, 0)));
    (void)w;
    std::_Exit(1);
}

bool parse_u64(const std::string& s, uint64_t& out) {
    if (s.empty()) {
        return false;
    }
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    if (errno != 0 || *end != '\0' || s[0] == '-') {
        return false;
    }
    out = v;
    return true;
}

std::string trim(const std::string& s) {
    size_t a = s.find_first_not_of(" \t\r\n");
    size_t b = s.find_last_not_of(" \t\r\n");
    return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

std::map<std::string, std::string> read_conf_file(const std::string& path) {
    std::map<std::string, std::string> kv;
    FILE* f = std::fopen(path.c_str(), "re");
    if (!f) {
        bad("DSHIM_CONF", path, std::strerror(errno));
    }
    char line[1024];
    int lineno = 0;
    while (std::fgets(line, sizeof(line), f)) {
        ++lineno;
        std::string l = trim(line);
        if (l.empty() || l[0] == '#') {
            continue;
        }
        size_t eq = l.find('=');
        if (eq == std::string::npos) {
            std::fclose(f);
            bad("DSHIM_CONF", path + ":" + std::to_string(lineno), "expected KEY=VALUE");
        }
        std::string k = trim(l.substr(0, eq));
        std::string v = trim(l.substr(eq + 1));
        if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
            v = v.substr(1, v.size() - 2);
        }
        if (k.rfind("DSHIM_", 0) != 0) {
            std::fclose(f);
            bad("DSHIM_CONF", path + ":" + std::to_string(lineno), "keys start with DSHIM_");
        }
        kv[k] = v;
    }
    std::fclose(f);
    return kv;
}

}  // namespace

config config::load() {
    config c;
    std::map<std::string, std::string> kv;
    if (const char* conf = std::getenv("DSHIM_CONF"); conf && *conf) {
        kv = read_conf_file(conf);
    }
    static const char* const keys[] = {"DSHIM_PORT", "DSHIM_IP",     "DSHIM_GW",  "DSHIM_MAC",
                                       "DSHIM_EAL",  "DSHIM_SPIN_US", "DSHIM_LOG", "DSHIM_PCAP",
                                       "DSHIM_EXIT_LINGER_S", "DSHIM_HUGEPAGES", "DSHIM_MBUFS",
                                       "DSHIM_POLL_KERNEL_US", "DSHIM_DPDK_LIB", "DSHIM_FAULTS",
                                       "DSHIM_EXIT_STATS", "DSHIM_TCP_CONGESTION", "DSHIM_TCP_ECN"};
    for (const char* k : keys) {
        if (const char* v = std::getenv(k)) {
            kv[k] = v;
        }
    }
    for (const auto& [k, v] : kv) {
        bool known = false;
        for (const char* kk : keys) {
            known = known || k == kk;
        }
        if (!known) {
            bad(k.c_str(), v, "unknown key");
        }
    }
    auto get = [&](const char* k) -> const std::string* {
        auto it = kv.find(k);
        return it == kv.end() ? nullptr : &it->second;
    };
    if (auto* v = get("DSHIM_LOG")) {
        uint64_t x;
        if (!parse_u64(*v, x) || x > 3) {
            bad("DSHIM_LOG", *v, "expected 0..3");
        }
        c.log_level = int(x);
        g_log_level = c.log_level;
    }
    if (auto* v = get("DSHIM_PORT")) {
        if (v->empty()) {
            bad("DSHIM_PORT", *v, "empty");
        }
        c.port = *v;
    }
    if (auto* v = get("DSHIM_IP")) {
        size_t slash = v->find('/');
        std::string addr = v->substr(0, slash);
        uint32_t ip;
        if (!wire::parse_ipv4(addr.c_str(), ip) || ip == 0) {
            bad("DSHIM_IP", *v, "expected a.b.c.d/prefix, e.g. 198.18.0.2/24");
        }
        c.ip = ip;
        if (slash != std::string::npos) {
            uint64_t p;
            if (!parse_u64(v->substr(slash + 1), p) || p < 1 || p > 32) {
                bad("DSHIM_IP", *v, "prefix length must be 1..32");
            }
            c.prefix_len = uint8_t(p);
        }
    }
    if (auto* v = get("DSHIM_GW")) {
        uint32_t gw;
        if (!wire::parse_ipv4(v->c_str(), gw) || gw == 0) {
            bad("DSHIM_GW", *v, "expected a.b.c.d");
        }
        const uint32_t mask = c.prefix_len ? ~uint32_t(0) << (32 - c.prefix_len) : 0;
        if (c.ip != 0 && (gw & mask) != (c.ip & mask)) {
            bad("DSHIM_GW", *v, "gateway is not inside DSHIM_IP's subnet");
        }
        c.gw = gw;
    }
    if (auto* v = get("DSHIM_MAC")) {
        wire::mac_addr m;
        if (!wire::parse_mac(v->c_str(), m) || m.is_multicast() || m.is_zero()) {
            bad("DSHIM_MAC", *v, "expected a unicast aa:bb:cc:dd:ee:ff");
        }
        c.mac = *v;
    }
    if (auto* v = get("DSHIM_EAL")) {
        c.eal = *v;
    }
    if (auto* v = get("DSHIM_SPIN_US")) {
        if (!parse_u64(*v, c.spin_us) || c.spin_us > 10'000'000) {
            bad("DSHIM_SPIN_US", *v, "expected microseconds 0..10000000");
        }
    }
    if (auto* v = get("DSHIM_TCP_CONGESTION")) {
        if (*v != "cubic" && *v != "reno" && *v != "newreno" && *v != "bbr") {
            bad("DSHIM_TCP_CONGESTION", *v, "expected cubic, reno or bbr");
        }
        c.tcp_congestion = *v;
    }
    if (auto* v = get("DSHIM_PCAP")) {
        if (v->empty()) {
            bad("DSHIM_PCAP", *v, "expected a file name");
        }
        c.pcap = *v;
    }
    if (auto* v = get("DSHIM_EXIT_LINGER_S")) {
        if (!parse_u64(*v, c.exit_linger_s) || c.exit_linger_s > 3600) {
            bad("DSHIM_EXIT_LINGER_S", *v, "expected seconds 0..3600");
        }
    }
    if (auto* v = get("DSHIM_HUGEPAGES")) {
        if (*v != "0" && *v != "1") {
            bad("DSHIM_HUGEPAGES", *v, "expected 0 or 1");
        }
        c.hugepages = *v == "1";
    }
    if (auto* v = get("DSHIM_MBUFS")) {
        uint64_t x;
        if (!parse_u64(*v, x) || x < 1024 || x > 1'048'575) {
            bad("DSHIM_MBUFS", *v, "expected 1024..1048575");
        }
        c.mbufs = uint32_t(x);
    }
    if (auto* v = get("DSHIM_POLL_KERNEL_US")) {
        if (!parse_u64(*v, c.poll_kernel_us) || c.poll_kernel_us > 1'000'000) {
            bad("DSHIM_POLL_KERNEL_US", *v, "expected microseconds 0..1000000");
        }
    }
    if (auto* v = get("DSHIM_EXIT_STATS")) {
        if (*v != "0" && *v != "1") {
            bad("DSHIM_EXIT_STATS", *v, "expected 0 or 1");
        }
        c.exit_stats = *v == "1";
    }
    if (auto* v = get("DSHIM_TCP_ECN")) {
        uint64_t x;
        if (!parse_u64(*v, x) || x > 2) {
            bad("DSHIM_TCP_ECN", *v, "expected 0 (off), 1 (request and accept ECN) or 2 (accept only)");
        }
        c.tcp_ecn = int(x);
    }
    if (auto* v = get("DSHIM_DPDK_LIB")) {
        c.dpdk_lib = *v;
    }
    if (auto* v = get("DSHIM_FAULTS")) {
        dpdk::fault_spec spec;
        std::string why;
        if (!dpdk::parse_fault_spec(*v, spec, why)) {
            bad("DSHIM_FAULTS", *v, why.c_str());
        }
        c.faults = *v;
    }
    if (!c.port.empty() && c.ip == 0) {
        bad("DSHIM_IP", "", "required when DSHIM_PORT is set");
    }
    if (c.port.empty() && c.ip != 0) {
        bad("DSHIM_PORT", "", "required when DSHIM_IP is set");
    }
    c.enabled = !c.port.empty();
    return c;
}

}  // namespace dshim::shim
