// Time source of the engine. Every part of stack/ reads time only through
// this, so tests drive time by hand (a virtual clock) and dpdk_port/ reads the
// TSC.
#pragma once
#include <cstdint>

namespace dshim {

using nsec_t = uint64_t;
inline constexpr nsec_t NSEC_PER_USEC = 1000;
inline constexpr nsec_t NSEC_PER_MSEC = 1000 * 1000;
inline constexpr nsec_t NSEC_PER_SEC = 1000 * 1000 * 1000;
inline constexpr nsec_t TIME_NEVER = ~nsec_t(0);

struct clock_source {
    virtual ~clock_source() = default;
    // Monotonic nanoseconds.
    virtual nsec_t now() const noexcept = 0;
};

// A clock the owner moves by hand (tests, simulations).
class virtual_clock final : public clock_source {
public:
    nsec_t now() const noexcept override { return _now; }
    void advance(nsec_t d) noexcept { _now += d; }
    void set(nsec_t t) noexcept { _now = t; }

private:
    nsec_t _now = NSEC_PER_SEC;  // not zero: zero looks like "unset" too easily
};

}  // namespace dshim
