// Deterministic pseudo-random numbers for tests and simulations:
// xoshiro256** (Blackman & Vigna) seeded through splitmix64, so one 64-bit
// seed reproduces a whole run on any platform (std::mt19937 would too, but
// the distributions in <random> are not portable across libraries).
#pragma once
#include <cstdint>

namespace dshim::test {

inline uint64_t splitmix64(uint64_t& state) noexcept {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

class det_rng {
public:
    explicit det_rng(uint64_t seed = 1) noexcept { reseed(seed); }

    void reseed(uint64_t seed) noexcept {
        uint64_t sm = seed;
        for (auto& w : _s) {
            w = splitmix64(sm);
        }
    }

    uint64_t next() noexcept {
        uint64_t result = rotl(_s[1] * 5, 7) * 9;
        uint64_t t = _s[1] << 17;
        _s[2] ^= _s[0];
        _s[3] ^= _s[1];
        _s[1] ^= _s[2];
        _s[0] ^= _s[3];
        _s[2] ^= t;
        _s[3] = rotl(_s[3], 45);
        return result;
    }

    // Uniform in [0, 1) with 53 bits.
    double uniform() noexcept { return double(next() >> 11) * 0x1.0p-53; }
    // Uniform in [0, n) (n > 0); the modulo bias is below 2^-32 for the
    // small n tests use.
    uint64_t below(uint64_t n) noexcept { return n ? next() % n : 0; }
    // True with probability p.
    bool chance(double p) noexcept { return uniform() < p; }

private:
    static uint64_t rotl(uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
    uint64_t _s[4];
};

}  // namespace dshim::test
