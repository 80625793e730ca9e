// Ethernet II header parse/emit (RFC 894 framing of IPv4) and MAC address
// text parsing. Kernel counterpart: eth_type_trans()/eth_header() in
// net/ethernet/eth.c.
#include "wire/ether.hh"

namespace dshim::wire {
namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

}  // namespace

bool parse_mac(const char* s, mac_addr& out) noexcept {
    if (s == nullptr) {
        return false;
    }
    // Exactly six two-digit hex octets separated by ':' and nothing after.
    mac_addr m;
    for (size_t i = 0; i < 6; ++i) {
        int hi = hex_value(s[0]);
        if (hi < 0) {
            return false;
        }
        int lo = hex_value(s[1]);
        if (lo < 0) {
            return false;
        }
        m.b[i] = static_cast<uint8_t>(hi << 4 | lo);
        s += 2;
        char want = i < 5 ? ':' : '\0';
        if (*s != want) {
            return false;
        }
        ++s;
    }
    out = m;
    return true;
}

wire_error ether_repr::parse(cbytes frame, ether_repr& out) noexcept {
    if (frame.size() < ether_header_len) {
        return wire_error::truncated;
    }
    const std::byte* p = frame.data();
    for (size_t i = 0; i < 6; ++i) {
        out.dst.b[i] = load8(p + i);
        out.src.b[i] = load8(p + 6 + i);
    }
    out.ethertype = load16(p + 12);
    return wire_error::none;
}

void ether_repr::emit(bytes out) const noexcept {
    std::byte* p = out.data();
    for (size_t i = 0; i < 6; ++i) {
        store8(p + i, dst.b[i]);
        store8(p + 6 + i, src.b[i]);
    }
    store16(p + 12, ethertype);
}

}  // namespace dshim::wire
