// TCP header and option parse/emit (RFC 9293 §3.1-3.2, §3.7.1 MSS; RFC 7323
// window scale and timestamps; RFC 2018 SACK). Kernel counterparts:
// tcp_parse_options() (net/ipv4/tcp_input.c) and tcp_options_write()/
// tcp_syn_options()/tcp_established_options() (net/ipv4/tcp_output.c), whose
// on-wire layout emit() reproduces so captures look like Linux's.
#include "wire/tcp.hh"

#include "wire/checksum.hh"
#include "wire/ipv4.hh"

namespace dshim::wire {
namespace {

constexpr size_t tcp_max_option_len = tcp_max_header_len - tcp_min_header_len;  // 40
constexpr uint8_t tcpolen_mss = 4;
constexpr uint8_t tcpolen_wscale = 3;
constexpr uint8_t tcpolen_sack_perm = 2;
constexpr uint8_t tcpolen_timestamp = 10;
constexpr uint8_t tcpolen_sack_base = 2;
constexpr uint8_t tcpolen_sack_perblock = 8;
constexpr size_t max_sack_blocks = 4;

// Bytes of everything but SACK blocks, each group padded to 4 as Linux does.
size_t fixed_option_len(const tcp_options& o) {
    size_t len = 0;
    if (o.has_mss) {
        len += 4;
    }
    if (o.has_ts || o.sack_permitted) {
        // sackOK+TS packs into 12; nop nop TS is 12; nop nop sackOK is 4.
        len += o.has_ts ? 12 : 4;
    }
    if (o.has_wscale) {
        len += 4;
    }
    return len;
}

// SACK blocks that fit after the fixed options (nop nop kind len + 8n), as
// tcp_established_options() trims them: at most 3 alongside timestamps.
size_t sack_blocks_emitted(const tcp_options& o, size_t fixed) {
    size_t n = o.num_sacks < max_sack_blocks ? o.num_sacks : max_sack_blocks;
    if (n == 0 || fixed + 4 + tcpolen_sack_perblock > tcp_max_option_len) {
        return 0;
    }
    size_t room = (tcp_max_option_len - fixed - 4) / tcpolen_sack_perblock;
    return n < room ? n : room;
}

// Parses the option bytes of a TCP header. RFC 9293 §3.2: EOL ends the list,
// NOP is one byte, every other option has a length octet counting kind and
// length; an unknown kind is skipped by that length (MUST-6/MUST-68 ask a
// receiver to accept and ignore options it does not implement).
wire_error parse_options(cbytes opts, tcp_options& o) {
    const std::byte* p = opts.data();
    const size_t end = opts.size();
    size_t i = 0;
    while (i < end) {
        uint8_t kind = load8(p + i);
        if (kind == tcpopt_eol) {
            break;
        }
        if (kind == tcpopt_nop) {
            ++i;
            continue;
        }
        if (i + 1 >= end) {
            return wire_error::bad_option;  // no room for the length octet
        }
        uint8_t len = load8(p + i + 1);
        if (len < 2 || i + len > end) {
            return wire_error::bad_option;
        }
        const std::byte* v = p + i + 2;
        switch (kind) {
        case tcpopt_mss:
            if (len != tcpolen_mss) {
                return wire_error::bad_option;
            }
            o.has_mss = true;
            o.mss = load16(v);
            break;
        case tcpopt_wscale:
            if (len != tcpolen_wscale) {
                return wire_error::bad_option;
            }
            o.has_wscale = true;
            o.wscale = load8(v);
            break;
        case tcpopt_sack_perm:
            if (len != tcpolen_sack_perm) {
                return wire_error::bad_option;
            }
            o.sack_permitted = true;
            break;
        case tcpopt_timestamp:
            if (len != tcpolen_timestamp) {
                return wire_error::bad_option;
            }
            o.has_ts = true;
            o.ts_val = load32(v);
            o.ts_ecr = load32(v + 4);
            break;
        case tcpopt_sack: {
            size_t body = size_t(len) - tcpolen_sack_base;
            size_t n = body / tcpolen_sack_perblock;
            if (body % tcpolen_sack_perblock != 0 || n < 1 || n > max_sack_blocks) {
                return wire_error::bad_option;
            }
            o.num_sacks = static_cast<uint8_t>(n);
            for (size_t b = 0; b < n; ++b) {
                o.sacks[b].start = seq32(load32(v + b * 8));
                o.sacks[b].end = seq32(load32(v + b * 8 + 4));
            }
            break;
        }
        default:
            break;  // unknown: skipped by its length
        }
        i += len;
    }
    return wire_error::none;
}

}  // namespace

size_t tcp_options::emit_len() const noexcept {
    size_t fixed = fixed_option_len(*this);
    size_t n = sack_blocks_emitted(*this, fixed);
    return fixed + (n != 0 ? 4 + n * tcpolen_sack_perblock : 0);
}

wire_error tcp_repr::parse(cbytes pkt, uint32_t src, uint32_t dst, tcp_repr& out,
                           bool verify_csum) noexcept {
    if (pkt.size() < tcp_min_header_len) {
        return wire_error::truncated;
    }
    const std::byte* p = pkt.data();
    size_t hlen = size_t(load8(p + 12) >> 4) * 4;
    if (hlen < tcp_min_header_len || hlen > pkt.size()) {
        return wire_error::bad_header_len;
    }
    if (verify_csum) {
        uint32_t s = pseudo_header_sum(src, dst, ipproto_tcp, uint16_t(pkt.size()));
        if (csum_fold(csum_partial(pkt, s)) != 0) {
            return wire_error::bad_checksum;
        }
    }
    tcp_repr r;
    r.sport = load16(p);
    r.dport = load16(p + 2);
    r.seq = seq32(load32(p + 4));
    r.ack = seq32(load32(p + 8));
    r.header_len = static_cast<uint8_t>(hlen);
    r.flags = load8(p + 13);
    r.window = load16(p + 14);
    r.urg_ptr = load16(p + 18);
    wire_error e = parse_options(pkt.subspan(tcp_min_header_len, hlen - tcp_min_header_len), r.opt);
    if (e != wire_error::none) {
        return e;
    }
    out = r;
    return wire_error::none;
}

void tcp_repr::emit(bytes out) const noexcept {
    std::byte* p = out.data();
    const tcp_options& o = opt;
    size_t fixed = fixed_option_len(o);
    size_t nsack = sack_blocks_emitted(o, fixed);
    size_t hlen = tcp_min_header_len + fixed + (nsack != 0 ? 4 + nsack * tcpolen_sack_perblock : 0);

    store16(p, sport);
    store16(p + 2, dport);
    store32(p + 4, seq.v);
    store32(p + 8, ack.v);
    store8(p + 12, static_cast<uint8_t>((hlen / 4) << 4));
    store8(p + 13, flags);
    store16(p + 14, window);
    store16(p + 16, 0);
    store16(p + 18, urg_ptr);

    // Option order and padding as Linux's tcp_options_write(): a SYN carries
    // MSS, sackOK, TS, nop, wscale; an established segment nop nop TS then
    // nop nop SACK. Which options are present is the caller's choice.
    std::byte* q = p + tcp_min_header_len;
    if (o.has_mss) {
        store8(q, tcpopt_mss);
        store8(q + 1, tcpolen_mss);
        store16(q + 2, o.mss);
        q += 4;
    }
    if (o.has_ts) {
        if (o.sack_permitted) {
            store8(q, tcpopt_sack_perm);
            store8(q + 1, tcpolen_sack_perm);
        } else {
            store8(q, tcpopt_nop);
            store8(q + 1, tcpopt_nop);
        }
        store8(q + 2, tcpopt_timestamp);
        store8(q + 3, tcpolen_timestamp);
        store32(q + 4, o.ts_val);
        store32(q + 8, o.ts_ecr);
        q += 12;
    } else if (o.sack_permitted) {
        store8(q, tcpopt_nop);
        store8(q + 1, tcpopt_nop);
        store8(q + 2, tcpopt_sack_perm);
        store8(q + 3, tcpolen_sack_perm);
        q += 4;
    }
    if (o.has_wscale) {
        store8(q, tcpopt_nop);
        store8(q + 1, tcpopt_wscale);
        store8(q + 2, tcpolen_wscale);
        store8(q + 3, o.wscale);
        q += 4;
    }
    if (nsack != 0) {
        store8(q, tcpopt_nop);
        store8(q + 1, tcpopt_nop);
        store8(q + 2, tcpopt_sack);
        store8(q + 3, static_cast<uint8_t>(tcpolen_sack_base + nsack * tcpolen_sack_perblock));
        q += 4;
        for (size_t b = 0; b < nsack; ++b) {
            store32(q, o.sacks[b].start.v);
            store32(q + 4, o.sacks[b].end.v);
            q += 8;
        }
    }
}

void tcp_fill_checksum(bytes seg, uint32_t src, uint32_t dst) noexcept {
    std::byte* p = seg.data();
    store16(p + 16, 0);
    uint32_t s = pseudo_header_sum(src, dst, ipproto_tcp, uint16_t(seg.size()));
    store16(p + 16, csum_fold(csum_partial(cbytes(seg.data(), seg.size()), s)));
}

uint16_t tcp_pseudo_csum(uint32_t src, uint32_t dst, uint16_t l4_len) noexcept {
    return static_cast<uint16_t>(~csum_fold(pseudo_header_sum(src, dst, ipproto_tcp, l4_len)));
}

}  // namespace dshim::wire
