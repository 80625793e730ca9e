// The engine's clock on a DPDK port: the TSC scaled to nanoseconds (the
// kernel's sched_clock on x86). rdtsc lives only here (style.md, Time).
#pragma once
#include <cstdint>

#include <rte_cycles.h>

#include "core/clock.hh"

namespace dshim::dpdk {

class tsc_clock final : public clock_source {
public:
    // Needs EAL up (rte_get_tsc_hz). Starts at one second, like virtual_clock.
    void start() noexcept {
        uint64_t hz = rte_get_tsc_hz();
        // ns = cycles * 1e9 / hz as a 32.32 fixed-point multiply.
        _mult = uint64_t((static_cast<unsigned __int128>(NSEC_PER_SEC) << 32) / hz);
        _base = rte_get_tsc_cycles();
    }
    nsec_t now() const noexcept override {
        uint64_t delta = rte_get_tsc_cycles() - _base;
        return NSEC_PER_SEC + nsec_t((static_cast<unsigned __int128>(delta) * _mult) >> 32);
    }

private:
    uint64_t _mult = 0;
    uint64_t _base = 0;
};

}  // namespace dshim::dpdk
