// DSHIM_FAULTS: the parsed form of the fault-injection spec and its parser
// (what netem's qdisc parameters are to a kernel interface). Header-only and
// DPDK-free: the shim validates DSHIM_FAULTS with it before any attach, and
// libdshim_dpdk.so parses the same string again to build its fault_netdev.
#pragma once
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace dshim::dpdk {

struct fault_spec {
    // Per-frame probabilities, each 0..1, applied to every frame of the
    // enabled directions independently.
    double loss = 0;     // frame dropped
    double dup = 0;      // frame sent/received twice
    double reorder = 0;  // frame held back and released after the next one
    double corrupt = 0;  // one byte flipped after the checksums are final
    double ce = 0;       // an ECT(0)/ECT(1) IPv4 frame re-marked CE (an AQM, RFC 3168 §5)
    uint32_t delay_us = 0;   // every frame held this long (0..1000000)
    uint64_t seed = 1;       // deterministic RNG
    bool rx = true;          // dir=rx|tx|both
    bool tx = true;

    bool active() const noexcept {
        return (rx || tx) && (loss > 0 || dup > 0 || reorder > 0 || corrupt > 0 || ce > 0 || delay_us > 0);
    }
};

// Parses "loss=0.05,dup=0.01,reorder=0.02,corrupt=0.001,ce=0.01,delay_us=200,
// seed=7,dir=both". An empty string means no faults. Returns false with err naming
// the bad key and what it expects.
inline bool parse_fault_spec(const std::string& text, fault_spec& out, std::string& err) {
    fault_spec s;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t comma = text.find(',', pos);
        if (comma == std::string::npos) {
            comma = text.size();
        }
        const std::string item = text.substr(pos, comma - pos);
        pos = comma + 1;
        if (item.empty()) {
            continue;
        }
        const size_t eq = item.find('=');
        if (eq == std::string::npos) {
            err = "'" + item + "': expected key=value (keys: loss, dup, reorder, corrupt, ce, delay_us, seed, dir)";
            return false;
        }
        const std::string key = item.substr(0, eq);
        const std::string val = item.substr(eq + 1);
        auto prob = [&](double& dst) {
            char* end = nullptr;
            errno = 0;
            const double v = std::strtod(val.c_str(), &end);
            if (val.empty() || errno != 0 || *end != '\0' || !(v >= 0.0 && v <= 1.0)) {
                err = key + "=" + val + ": expected a probability 0..1";
                return false;
            }
            dst = v;
            return true;
        };
        auto uint = [&](uint64_t& dst, uint64_t max) {
            char* end = nullptr;
            errno = 0;
            const unsigned long long v = std::strtoull(val.c_str(), &end, 10);
            if (val.empty() || val[0] == '-' || errno != 0 || *end != '\0' || v > max) {
                err = key + "=" + val + ": expected an integer 0.." + std::to_string(max);
                return false;
            }
            dst = v;
            return true;
        };
        bool ok = true;
        if (key == "loss") {
            ok = prob(s.loss);
        } else if (key == "dup") {
            ok = prob(s.dup);
        } else if (key == "reorder") {
            ok = prob(s.reorder);
        } else if (key == "corrupt") {
            ok = prob(s.corrupt);
        } else if (key == "ce") {
            ok = prob(s.ce);
        } else if (key == "delay_us") {
            uint64_t v = 0;
            ok = uint(v, 1'000'000);
            s.delay_us = uint32_t(v);
        } else if (key == "seed") {
            ok = uint(s.seed, ~uint64_t(0));
        } else if (key == "dir") {
            if (val == "rx" || val == "tx" || val == "both") {
                s.rx = val != "tx";
                s.tx = val != "rx";
            } else {
                err = key + "=" + val + ": expected rx, tx or both";
                ok = false;
            }
        } else {
            err = "unknown key '" + key + "' (keys: loss, dup, reorder, corrupt, ce, delay_us, seed, dir)";
            ok = false;
        }
        if (!ok) {
            return false;
        }
    }
    out = s;
    return true;
}

}  // namespace dshim::dpdk
