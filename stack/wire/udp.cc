// UDP header parse/emit (RFC 768, RFC 1122 §4.1.3.4). Kernel counterpart:
// the length and checksum checks of __udp4_lib_rcv()/udp4_csum_init() and
// udp_send_skb() in net/ipv4/udp.c.
#include "wire/udp.hh"

#include "wire/checksum.hh"
#include "wire/ipv4.hh"

namespace dshim::wire {

wire_error udp_repr::parse(cbytes pkt, uint32_t src, uint32_t dst, udp_repr& out,
                           bool verify_csum) noexcept {
    if (pkt.size() < udp_header_len) {
        return wire_error::truncated;
    }
    const std::byte* p = pkt.data();
    uint16_t l = load16(p + 4);
    if (l < udp_header_len || l > pkt.size()) {
        return wire_error::bad_total_len;
    }
    // RFC 768: a transmitted zero checksum means the sender computed none.
    if (verify_csum && load16(p + 6) != 0) {
        uint32_t s = pseudo_header_sum(src, dst, ipproto_udp, l);
        if (csum_fold(csum_partial(pkt.first(l), s)) != 0) {
            return wire_error::bad_checksum;
        }
    }
    out.sport = load16(p);
    out.dport = load16(p + 2);
    out.len = l;
    return wire_error::none;
}

void udp_repr::emit(bytes out, uint32_t src, uint32_t dst) const noexcept {
    std::byte* p = out.data();
    store16(p, sport);
    store16(p + 2, dport);
    store16(p + 4, len);
    store16(p + 6, 0);
    uint32_t s = pseudo_header_sum(src, dst, ipproto_udp, len);
    uint16_t c = csum_fold(csum_partial(cbytes(p, len), s));
    // RFC 768: a computed zero is sent as all ones, zero meaning "none".
    store16(p + 6, c == 0 ? 0xffff : c);
}

}  // namespace dshim::wire
