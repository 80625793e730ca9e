// IPv4 header parse/emit (RFC 791) and dotted-quad text conversion. Kernel
// counterpart: the header validation in ip_rcv_core() (net/ipv4/ip_input.c)
// and the header build in ip_build_and_send_pkt()/__ip_queue_xmit().
// Options are not interpreted here: parse reports header_len, the caller may
// look at pkt[20..header_len).
#include "wire/ipv4.hh"

#include "wire/checksum.hh"

namespace dshim::wire {

bool parse_ipv4(const char* s, uint32_t& out) noexcept {
    if (s == nullptr) {
        return false;
    }
    // Four decimal octets 0..255, 1-3 digits each, no leading zeros (so
    // "010" is never mistaken for octal, as inet_pton also refuses it), no
    // signs, no spaces, nothing after the last octet.
    uint32_t addr = 0;
    for (int i = 0; i < 4; ++i) {
        if (*s < '0' || *s > '9') {
            return false;
        }
        uint32_t v = 0;
        int digits = 0;
        const char* start = s;
        while (*s >= '0' && *s <= '9') {
            if (++digits > 3) {
                return false;
            }
            v = v * 10 + uint32_t(*s - '0');
            ++s;
        }
        if (v > 255 || (digits > 1 && *start == '0')) {
            return false;
        }
        addr = (addr << 8) | v;
        char want = i < 3 ? '.' : '\0';
        if (*s != want) {
            return false;
        }
        ++s;
    }
    out = addr;
    return true;
}

const char* format_ipv4(uint32_t a, char* buf) noexcept {
    char* p = buf;
    for (int i = 3; i >= 0; --i) {
        unsigned v = (a >> (i * 8)) & 0xffu;
        if (v >= 100) {
            *p++ = char('0' + v / 100);
        }
        if (v >= 10) {
            *p++ = char('0' + (v / 10) % 10);
        }
        *p++ = char('0' + v % 10);
        if (i > 0) {
            *p++ = '.';
        }
    }
    *p = '\0';
    return buf;
}

wire_error ipv4_repr::parse(cbytes pkt, ipv4_repr& out, bool verify_csum) noexcept {
    if (pkt.size() < ipv4_min_header_len) {
        return wire_error::truncated;
    }
    const std::byte* p = pkt.data();
    uint8_t vihl = load8(p);
    if ((vihl >> 4) != 4) {
        return wire_error::bad_version;
    }
    size_t hlen = size_t(vihl & 0x0f) * 4;
    uint16_t tot = load16(p + 2);
    // RFC 1122 §3.2.1.1-2: a header shorter than 5 words or longer than the
    // datagram it describes is discarded silently.
    if (hlen < ipv4_min_header_len || hlen > tot) {
        return wire_error::bad_header_len;
    }
    // Bytes beyond total_len (Ethernet minimum-frame padding) are allowed;
    // fewer than total_len are not.
    if (tot > pkt.size()) {
        return wire_error::bad_total_len;
    }
    if (verify_csum && csum_fold(csum_partial(pkt.first(hlen))) != 0) {
        return wire_error::bad_checksum;
    }
    out.header_len = static_cast<uint8_t>(hlen);
    out.tos = load8(p + 1);
    out.total_len = tot;
    out.id = load16(p + 4);
    out.frag = load16(p + 6);
    out.ttl = load8(p + 8);
    out.proto = load8(p + 9);
    out.src = load32(p + 12);
    out.dst = load32(p + 16);
    return wire_error::none;
}

void ipv4_repr::emit(bytes out, bool fill_csum) const noexcept {
    std::byte* p = out.data();
    store8(p, 0x45);
    store8(p + 1, tos);
    store16(p + 2, total_len);
    store16(p + 4, id);
    store16(p + 6, frag);
    store8(p + 8, ttl);
    store8(p + 9, proto);
    store16(p + 10, 0);
    store32(p + 12, src);
    store32(p + 16, dst);
    if (fill_csum) {
        store16(p + 10, csum_fold(csum_partial(cbytes(p, ipv4_min_header_len))));
    }
}

}  // namespace dshim::wire
