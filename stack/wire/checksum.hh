// Internet checksum (RFC 1071) with incremental partial sums and the IPv4
// pseudo-header used by TCP and UDP (RFC 9293 §3.1, RFC 768).
#pragma once
#include "wire/bytes.hh"

namespace dshim::wire {

// One's-complement sum of data added to sum (not folded). Handles odd lengths
// and odd start offsets only by the caller chaining even-length pieces; an odd
// length is padded with a zero byte as RFC 1071 says.
uint32_t csum_partial(cbytes data, uint32_t sum = 0) noexcept;
// Fold to 16 bits and complement: the value to store in a header.
uint16_t csum_fold(uint32_t sum) noexcept;
// Pseudo-header sum for IPv4 (addresses in host order).
uint32_t pseudo_header_sum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4_len) noexcept;

}  // namespace dshim::wire
