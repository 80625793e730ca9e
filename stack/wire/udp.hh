// UDP header (RFC 768).
#pragma once
#include "wire/bytes.hh"

namespace dshim::wire {

inline constexpr size_t udp_header_len = 8;

struct udp_repr {
    uint16_t sport = 0;
    uint16_t dport = 0;
    uint16_t len = 0;    // header + payload

    // pkt is the IP payload. Needs >= 8 bytes, 8 <= len <= pkt.size()
    // (bad_total_len). A non-zero checksum is verified with the pseudo-header
    // of src/dst when verify_csum (bad_checksum); zero means "none".
    static wire_error parse(cbytes pkt, uint32_t src, uint32_t dst, udp_repr& out,
                            bool verify_csum = true) noexcept;
    // Writes the 8-byte header; the checksum covers out[0..len) which must
    // already hold the payload after the header.
    void emit(bytes out, uint32_t src, uint32_t dst) const noexcept;
};

}  // namespace dshim::wire
