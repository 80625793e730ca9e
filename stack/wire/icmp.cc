// ICMP message parse/emit (RFC 792; RFC 1191 puts the next-hop MTU in the
// low 16 bits of "rest" for frag-needed). Kernel counterpart: the checksum
// and header checks in icmp_rcv() (net/ipv4/icmp.c); type dispatch is the
// protocol layer's.
#include "wire/icmp.hh"

#include "wire/checksum.hh"

namespace dshim::wire {

wire_error icmp_repr::parse(cbytes pkt, icmp_repr& out) noexcept {
    if (pkt.size() < icmp_header_len) {
        return wire_error::truncated;
    }
    // RFC 792: the checksum covers the whole ICMP message.
    if (csum_fold(csum_partial(pkt)) != 0) {
        return wire_error::bad_checksum;
    }
    const std::byte* p = pkt.data();
    out.type = load8(p);
    out.code = load8(p + 1);
    out.rest = load32(p + 4);
    out.payload = pkt.subspan(icmp_header_len);
    return wire_error::none;
}

void icmp_repr::emit(bytes out) const noexcept {
    std::byte* p = out.data();
    store8(p, type);
    store8(p + 1, code);
    store16(p + 2, 0);
    store32(p + 4, rest);
    if (!payload.empty()) {
        // memmove: a reply may be built in place over the request.
        std::memmove(p + icmp_header_len, payload.data(), payload.size());
    }
    store16(p + 2, csum_fold(csum_partial(cbytes(p, total_len()))));
}

}  // namespace dshim::wire
