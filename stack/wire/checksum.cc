// Internet checksum (RFC 1071), the kernel's csum_partial()/csum_fold() and
// csum_tcpudp_nofold() counterparts, plus the IPv4 pseudo-header of RFC 9293
// §3.1 and RFC 768.
//
// Sums are kept in "network word" terms: the value csum_partial() returns is
// congruent (mod 0xffff) to the sum of the data's big-endian 16-bit words, so
// it mixes freely with pseudo_header_sum(), which adds host-order numbers.
#include "wire/checksum.hh"

#include <bit>

namespace dshim::wire {
namespace {

// Folds a 64-bit one's-complement accumulator to 16 bits (end-around carry).
constexpr uint32_t fold64_to16(uint64_t s) {
    s = (s & 0xffffffffu) + (s >> 32);
    s = (s & 0xffffffffu) + (s >> 32);
    s = (s & 0xffffu) + (s >> 16);
    s = (s & 0xffffu) + (s >> 16);
    s = (s & 0xffffu) + (s >> 16);
    return uint32_t(s);
}

}  // namespace

uint32_t csum_partial(cbytes data, uint32_t sum) noexcept {
    // RFC 1071 §2(B): the one's-complement sum is independent of byte order,
    // so sum native-endian words (8 bytes per load) and swap the folded
    // 16-bit result once at the end. Each 64-bit load is added as two 32-bit
    // halves into a 64-bit accumulator, which cannot overflow below 2^32
    // iterations (far beyond any frame).
    const std::byte* p = data.data();
    size_t n = data.size();
    uint64_t acc = 0;

    while (n >= 32) {
        uint64_t w[4];
        std::memcpy(w, p, sizeof(w));
        acc += (w[0] & 0xffffffffu) + (w[0] >> 32);
        acc += (w[1] & 0xffffffffu) + (w[1] >> 32);
        acc += (w[2] & 0xffffffffu) + (w[2] >> 32);
        acc += (w[3] & 0xffffffffu) + (w[3] >> 32);
        p += 32;
        n -= 32;
    }
    while (n >= 8) {
        uint64_t w;
        std::memcpy(&w, p, sizeof(w));
        acc += (w & 0xffffffffu) + (w >> 32);
        p += 8;
        n -= 8;
    }
    if (n >= 4) {
        uint32_t w;
        std::memcpy(&w, p, sizeof(w));
        acc += w;
        p += 4;
        n -= 4;
    }
    if (n >= 2) {
        uint16_t w;
        std::memcpy(&w, p, sizeof(w));
        acc += w;
        p += 2;
        n -= 2;
    }
    if (n == 1) {
        // The odd byte is the high-order byte of a zero-padded big-endian
        // word; in native terms it sits where a native 16-bit load of
        // {byte, 0} would put it.
        uint8_t pad[2] = {static_cast<uint8_t>(*p), 0};
        uint16_t w;
        std::memcpy(&w, pad, sizeof(w));
        acc += w;
    }

    uint32_t folded = fold64_to16(acc);
    if constexpr (std::endian::native == std::endian::little) {
        folded = ((folded & 0xffu) << 8) | (folded >> 8);
    }
    // Add the caller's running sum with end-around carry, staying in 32 bits.
    uint64_t total = uint64_t(sum) + folded;
    total = (total & 0xffffffffu) + (total >> 32);
    return uint32_t(total);
}

uint16_t csum_fold(uint32_t sum) noexcept {
    sum = (sum & 0xffffu) + (sum >> 16);
    sum = (sum & 0xffffu) + (sum >> 16);
    return static_cast<uint16_t>(~sum & 0xffffu);
}

uint32_t pseudo_header_sum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4_len) noexcept {
    // src(4) dst(4) zero(1) proto(1) length(2), as big-endian words.
    uint64_t s = uint64_t(src >> 16) + (src & 0xffffu) + (dst >> 16) + (dst & 0xffffu) +
                 proto + l4_len;
    return uint32_t((s & 0xffffffffu) + (s >> 32));
}

}  // namespace dshim::wire
