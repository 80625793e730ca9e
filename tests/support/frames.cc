// Frame builders, parser and printer for tests (see frames.hh). Built only
// from the wire reprs' emit/parse; the printer reads TCP options from the raw
// bytes so it shows nop/eol padding as packetdrill does.
#include "support/frames.hh"

#include <cstdio>
#include <cstring>
#include <string_view>

namespace dshim::test {

namespace {

constexpr size_t eth_len = wire::ether_header_len;
constexpr size_t ip_len = wire::ipv4_min_header_len;

// Ethernet + 20-byte IPv4 header for an L4 message of l4_len bytes; returns
// the frame sized to hold it, headers written.
frame_bytes ip_frame_shell(const frame_addrs& a, uint8_t proto, size_t l4_len) {
    frame_bytes f(eth_len + ip_len + l4_len, std::byte{0});
    wire::ether_repr eth{a.dst_mac, a.src_mac, wire::ethertype_ipv4};
    eth.emit(f);
    wire::ipv4_repr ip;
    ip.tos = a.tos;
    ip.total_len = uint16_t(ip_len + l4_len);
    ip.id = a.ip_id;
    ip.frag = a.frag;
    ip.ttl = a.ttl;
    ip.proto = proto;
    ip.src = a.src_ip;
    ip.dst = a.dst_ip;
    ip.emit(std::span(f).subspan(eth_len, ip_len));
    return f;
}

std::span<std::byte> l4_of(frame_bytes& f) { return std::span(f).subspan(eth_len + ip_len); }

void appendf(std::string& s, const char* fmt, auto... args) {
    char buf[128];
    int n = std::snprintf(buf, sizeof(buf), fmt, args...);
    if (n > 0) {
        s.append(buf, size_t(n) < sizeof(buf) ? size_t(n) : sizeof(buf) - 1);
    }
}

// Options from the raw option bytes, packetdrill style: "mss 1460,sackOK,TS
// val 1 ecr 0,nop,wscale 7".
std::string options_from_bytes(std::span<const std::byte> o) {
    std::string s;
    size_t i = 0;
    auto sep = [&] {
        if (!s.empty()) {
            s += ',';
        }
    };
    while (i < o.size()) {
        uint8_t kind = uint8_t(o[i]);
        sep();
        if (kind == wire::tcpopt_eol) {
            s += "eol";
            break;
        }
        if (kind == wire::tcpopt_nop) {
            s += "nop";
            ++i;
            continue;
        }
        if (i + 1 >= o.size() || uint8_t(o[i + 1]) < 2 || i + uint8_t(o[i + 1]) > o.size()) {
            appendf(s, "opt %u malformed", unsigned(kind));
            break;
        }
        size_t len = uint8_t(o[i + 1]);
        const std::byte* p = o.data() + i;
        if (kind == wire::tcpopt_mss && len == 4) {
            appendf(s, "mss %u", unsigned(wire::load16(p + 2)));
        } else if (kind == wire::tcpopt_wscale && len == 3) {
            appendf(s, "wscale %u", unsigned(wire::load8(p + 2)));
        } else if (kind == wire::tcpopt_sack_perm && len == 2) {
            s += "sackOK";
        } else if (kind == wire::tcpopt_timestamp && len == 10) {
            appendf(s, "TS val %u ecr %u", unsigned(wire::load32(p + 2)), unsigned(wire::load32(p + 6)));
        } else if (kind == wire::tcpopt_sack && len >= 2 && (len - 2) % 8 == 0) {
            s += "sack";
            for (size_t b = 2; b + 8 <= len; b += 8) {
                appendf(s, " %u:%u", unsigned(wire::load32(p + b)), unsigned(wire::load32(p + b + 4)));
            }
        } else {
            appendf(s, "opt %u len %zu", unsigned(kind), len);
        }
        i += len;
    }
    return s;
}

// The same from decoded options, when no raw bytes are at hand.
std::string options_from_repr(const wire::tcp_options& o) {
    std::string s;
    auto sep = [&] {
        if (!s.empty()) {
            s += ',';
        }
    };
    if (o.has_mss) {
        sep();
        appendf(s, "mss %u", unsigned(o.mss));
    }
    if (o.sack_permitted) {
        sep();
        s += "sackOK";
    }
    if (o.has_ts) {
        sep();
        appendf(s, "TS val %u ecr %u", unsigned(o.ts_val), unsigned(o.ts_ecr));
    }
    if (o.has_wscale) {
        sep();
        appendf(s, "wscale %u", unsigned(o.wscale));
    }
    if (o.num_sacks) {
        sep();
        s += "sack";
        for (unsigned i = 0; i < o.num_sacks && i < 4; ++i) {
            appendf(s, " %u:%u", unsigned(o.sacks[i].start.v), unsigned(o.sacks[i].end.v));
        }
    }
    return s;
}

void describe_icmp(std::string& s, const parsed_frame& f) {
    const wire::icmp_repr& i = f.icmp;
    switch (i.type) {
    case wire::icmp_echo_request:
    case wire::icmp_echo_reply:
        appendf(s, "icmp echo %s id %u seq %u", i.type == wire::icmp_echo_request ? "request" : "reply",
                unsigned(i.rest >> 16), unsigned(i.rest & 0xffff));
        break;
    case wire::icmp_dest_unreach:
        if (i.code == wire::icmp_code_frag_needed) {
            appendf(s, "icmp unreachable frag-needed mtu %u", unsigned(i.rest & 0xffff));
        } else if (i.code == wire::icmp_code_port_unreach) {
            s += "icmp unreachable port";
        } else {
            appendf(s, "icmp unreachable code %u", unsigned(i.code));
        }
        break;
    case wire::icmp_time_exceeded:
        appendf(s, "icmp time exceeded code %u", unsigned(i.code));
        break;
    default:
        appendf(s, "icmp type %u code %u", unsigned(i.type), unsigned(i.code));
        break;
    }
    appendf(s, " len %zu", f.payload.size());
}

}  // namespace

frame_addrs frame_addrs::reversed() const noexcept {
    frame_addrs r = *this;
    r.src_mac = dst_mac;
    r.dst_mac = src_mac;
    r.src_ip = dst_ip;
    r.dst_ip = src_ip;
    return r;
}

frame_bytes make_ipv4_frame(const frame_addrs& a, uint8_t proto, std::span<const std::byte> payload) {
    frame_bytes f = ip_frame_shell(a, proto, payload.size());
    if (!payload.empty()) {
        std::memcpy(l4_of(f).data(), payload.data(), payload.size());
    }
    return f;
}

frame_bytes make_tcp_frame(const frame_addrs& a, const wire::tcp_repr& t, std::span<const std::byte> payload) {
    size_t hl = t.emit_header_len();
    frame_bytes f = ip_frame_shell(a, wire::ipproto_tcp, hl + payload.size());
    std::span<std::byte> seg = l4_of(f);
    t.emit(seg.first(hl));
    if (!payload.empty()) {
        std::memcpy(seg.data() + hl, payload.data(), payload.size());
    }
    wire::tcp_fill_checksum(seg, a.src_ip, a.dst_ip);
    return f;
}

frame_bytes make_udp_frame(const frame_addrs& a, const wire::udp_repr& u, std::span<const std::byte> payload) {
    size_t len = wire::udp_header_len + payload.size();
    frame_bytes f = ip_frame_shell(a, wire::ipproto_udp, len);
    std::span<std::byte> seg = l4_of(f);
    if (!payload.empty()) {
        std::memcpy(seg.data() + wire::udp_header_len, payload.data(), payload.size());
    }
    wire::udp_repr r = u;
    r.len = uint16_t(len);
    r.emit(seg, a.src_ip, a.dst_ip);
    return f;
}

frame_bytes make_icmp_frame(const frame_addrs& a, const wire::icmp_repr& i) {
    frame_bytes f = ip_frame_shell(a, wire::ipproto_icmp, i.total_len());
    i.emit(l4_of(f));
    return f;
}

frame_bytes make_arp_frame(const frame_addrs& a, const wire::arp_repr& arp) {
    frame_bytes f(eth_len + wire::arp_packet_len, std::byte{0});
    wire::ether_repr eth{a.dst_mac, a.src_mac, wire::ethertype_arp};
    eth.emit(f);
    arp.emit(std::span(f).subspan(eth_len));
    return f;
}

frame_bytes make_arp_request(wire::mac_addr src_mac, uint32_t src_ip, uint32_t target_ip) {
    frame_addrs a;
    a.src_mac = src_mac;
    a.dst_mac = wire::mac_addr::broadcast();
    wire::arp_repr r;
    r.op = wire::arp_op_request;
    r.sha = src_mac;
    r.spa = src_ip;
    r.tpa = target_ip;
    return make_arp_frame(a, r);
}

frame_bytes make_arp_reply(const frame_addrs& a) {
    wire::arp_repr r;
    r.op = wire::arp_op_reply;
    r.sha = a.src_mac;
    r.spa = a.src_ip;
    r.tha = a.dst_mac;
    r.tpa = a.dst_ip;
    return make_arp_frame(a, r);
}

pbuf_ptr to_pbuf(pbuf_pool& pool, std::span<const std::byte> frame, uint32_t headroom) {
    pbuf_ptr p(pool.alloc(headroom, uint32_t(frame.size())));
    if (p && !frame.empty()) {
        std::memcpy(p->append(uint32_t(frame.size())), frame.data(), frame.size());
    }
    return p;
}

uint32_t parsed_frame::seg_len() const noexcept {
    if (!is_tcp) {
        return 0;
    }
    return uint32_t(payload.size()) + ((tcp.flags & wire::TCPF_SYN) ? 1 : 0) + ((tcp.flags & wire::TCPF_FIN) ? 1 : 0);
}

parsed_frame parse_frame(std::span<const std::byte> frame) {
    parsed_frame f;
    f.frame_len = frame.size();
    // Records the first error; returns f for the early exits.
    auto note = [&](wire::wire_error e, const char* layer) {
        if (f.err == wire::wire_error::none) {
            f.err = e;
            f.err_layer = layer;
        }
        return f;
    };
    if (wire::wire_error e = wire::ether_repr::parse(frame, f.eth); e != wire::wire_error::none) {
        return note(e, "ether");
    }
    std::span<const std::byte> l3 = frame.subspan(eth_len);
    if (f.eth.ethertype == wire::ethertype_arp) {
        f.is_arp = true;
        if (wire::wire_error e = wire::arp_repr::parse(l3, f.arp); e != wire::wire_error::none) {
            return note(e, "arp");
        }
        f.decoded = true;
        return f;
    }
    if (f.eth.ethertype != wire::ethertype_ipv4) {
        f.payload.assign(l3.begin(), l3.end());
        f.decoded = true;
        return f;
    }
    f.is_ipv4 = true;
    // A bad checksum is recorded, then the frame is decoded anyway so the
    // failure message can say what it was.
    if (wire::wire_error e = wire::ipv4_repr::parse(l3, f.ip); e != wire::wire_error::none) {
        note(e, "ipv4");
        if (e != wire::wire_error::bad_checksum ||
            wire::ipv4_repr::parse(l3, f.ip, false) != wire::wire_error::none) {
            return f;
        }
    }
    // Ethernet padding past total_len is not part of the packet.
    std::span<const std::byte> l4 = l3.subspan(f.ip.header_len, f.ip.total_len - f.ip.header_len);
    if (f.ip.is_fragment()) {
        f.is_fragment = true;
        f.payload.assign(l4.begin(), l4.end());
        f.decoded = true;
        return f;
    }
    switch (f.ip.proto) {
    case wire::ipproto_tcp: {
        f.is_tcp = true;
        if (wire::wire_error e = wire::tcp_repr::parse(l4, f.ip.src, f.ip.dst, f.tcp); e != wire::wire_error::none) {
            note(e, "tcp");
            if (e != wire::wire_error::bad_checksum ||
                wire::tcp_repr::parse(l4, f.ip.src, f.ip.dst, f.tcp, false) != wire::wire_error::none) {
                return f;
            }
        }
        auto opts = l4.subspan(wire::tcp_min_header_len, f.tcp.header_len - wire::tcp_min_header_len);
        f.tcp_opt_bytes.assign(opts.begin(), opts.end());
        auto data = l4.subspan(f.tcp.header_len);
        f.payload.assign(data.begin(), data.end());
        f.decoded = true;
        return f;
    }
    case wire::ipproto_udp: {
        f.is_udp = true;
        if (wire::wire_error e = wire::udp_repr::parse(l4, f.ip.src, f.ip.dst, f.udp); e != wire::wire_error::none) {
            note(e, "udp");
            if (e != wire::wire_error::bad_checksum ||
                wire::udp_repr::parse(l4, f.ip.src, f.ip.dst, f.udp, false) != wire::wire_error::none) {
                return f;
            }
        }
        auto data = l4.subspan(wire::udp_header_len, f.udp.len - wire::udp_header_len);
        f.payload.assign(data.begin(), data.end());
        f.decoded = true;
        return f;
    }
    case wire::ipproto_icmp: {
        f.is_icmp = true;
        wire::wire_error e = wire::icmp_repr::parse(l4, f.icmp);
        if (e == wire::wire_error::none || (e == wire::wire_error::bad_checksum && l4.size() >= wire::icmp_header_len)) {
            if (e != wire::wire_error::none) {
                // icmp_repr::parse has no "don't verify" mode: decode the
                // fixed header by hand.
                f.icmp.type = wire::load8(l4.data());
                f.icmp.code = wire::load8(l4.data() + 1);
                f.icmp.rest = wire::load32(l4.data() + 4);
                f.icmp.payload = l4.subspan(wire::icmp_header_len);
            }
            f.payload.assign(f.icmp.payload.begin(), f.icmp.payload.end());
            f.decoded = true;
        }
        f.icmp.payload = {};
        if (e != wire::wire_error::none) {
            note(e, "icmp");
        }
        return f;
    }
    default:
        f.payload.assign(l4.begin(), l4.end());
        f.decoded = true;
        return f;
    }
}

std::string tcp_flags_str(uint8_t flags) {
    static constexpr struct {
        uint8_t bit;
        char c;
    } order[] = {{wire::TCPF_FIN, 'F'}, {wire::TCPF_SYN, 'S'}, {wire::TCPF_RST, 'R'}, {wire::TCPF_PSH, 'P'},
                 {wire::TCPF_ACK, '.'}, {wire::TCPF_URG, 'U'}, {wire::TCPF_ECE, 'E'}, {wire::TCPF_CWR, 'W'}};
    std::string s;
    for (const auto& o : order) {
        if (flags & o.bit) {
            s += o.c;
        }
    }
    return s.empty() ? "none" : s;
}

std::string format_mac(const wire::mac_addr& m) {
    std::string s;
    appendf(s, "%02x:%02x:%02x:%02x:%02x:%02x", m.b[0], m.b[1], m.b[2], m.b[3], m.b[4], m.b[5]);
    return s;
}

std::string format_ip(uint32_t a) {
    std::string s;
    appendf(s, "%u.%u.%u.%u", unsigned(a >> 24), unsigned((a >> 16) & 0xff), unsigned((a >> 8) & 0xff),
            unsigned(a & 0xff));
    return s;
}

namespace {

// The line for a frame whose layers all decoded.
std::string describe_decoded(const parsed_frame& f) {
    std::string s;
    if (f.is_arp) {
        if (f.arp.op == wire::arp_op_request) {
            s = "arp who-has " + format_ip(f.arp.tpa) + " tell " + format_ip(f.arp.spa);
        } else {
            s = "arp reply " + format_ip(f.arp.spa) + " is-at " + format_mac(f.arp.sha);
        }
        return s;
    }
    if (!f.is_ipv4) {
        appendf(s, "%s > %s ethertype 0x%04x len %zu", format_mac(f.eth.src).c_str(), format_mac(f.eth.dst).c_str(),
                unsigned(f.eth.ethertype), f.frame_len);
        return s;
    }
    std::string src = format_ip(f.ip.src);
    std::string dst = format_ip(f.ip.dst);
    if (f.is_fragment) {
        appendf(s, "%s > %s frag id %u off %u%s proto %u len %zu", src.c_str(), dst.c_str(), unsigned(f.ip.id),
                unsigned(f.ip.frag & wire::ip_offmask) * 8, (f.ip.frag & wire::ip_mf) ? "+" : "",
                unsigned(f.ip.proto), f.payload.size());
        return s;
    }
    if (f.is_tcp) {
        const wire::tcp_repr& t = f.tcp;
        appendf(s, "%s:%u > %s:%u %s seq %u", src.c_str(), unsigned(t.sport), dst.c_str(), unsigned(t.dport),
                tcp_flags_str(t.flags).c_str(), unsigned(t.seq.v));
        if (t.flags & wire::TCPF_ACK) {
            appendf(s, " ack %u", unsigned(t.ack.v));
        }
        appendf(s, " win %u", unsigned(t.window));
        if (t.flags & wire::TCPF_URG) {
            appendf(s, " urg %u", unsigned(t.urg_ptr));
        }
        std::string opts = f.tcp_opt_bytes.empty() ? options_from_repr(t.opt) : options_from_bytes(f.tcp_opt_bytes);
        if (!opts.empty()) {
            s += " <" + opts + ">";
        }
        appendf(s, " len %zu", f.payload.size());
        return s;
    }
    if (f.is_udp) {
        appendf(s, "%s:%u > %s:%u udp len %zu", src.c_str(), unsigned(f.udp.sport), dst.c_str(),
                unsigned(f.udp.dport), f.payload.size());
        return s;
    }
    s = src + " > " + dst + " ";
    if (f.is_icmp) {
        describe_icmp(s, f);
        return s;
    }
    appendf(s, "proto %u len %zu", unsigned(f.ip.proto), f.payload.size());
    return s;
}

}  // namespace

std::string describe(const parsed_frame& f) {
    if (f.ok()) {
        return describe_decoded(f);
    }
    std::string s;
    appendf(s, "malformed %s (%s): ", f.err_layer, wire::wire_error_name(f.err));
    if (f.decoded) {
        return s + describe_decoded(f);
    }
    if (f.is_ipv4 && std::string_view(f.err_layer) != "ipv4") {
        s += format_ip(f.ip.src) + " > " + format_ip(f.ip.dst) + " ";
    } else if (std::string_view(f.err_layer) != "ether") {
        s += format_mac(f.eth.src) + " > " + format_mac(f.eth.dst) + " ";
    }
    appendf(s, "len %zu", f.frame_len);
    return s;
}

}  // namespace dshim::test
