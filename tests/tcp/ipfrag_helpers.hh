// Helpers shared by the IPv4 fragment tests (test_ipfrag*.cc): building a
// datagram's fragments as a peer would send them, and collecting what the
// stack sent, reassembled on the test side with independent checks.
#pragma once
#include <algorithm>
#include <map>
#include <vector>

#include "ipv4/ip_fragment.hh"
#include "support/inet_csum.hh"
#include "tcp/loss_fixture.hh"

namespace dshim::test::frag {

struct piece {
    uint32_t off;   // payload offset, multiple of 8 unless last
    uint32_t len;
    bool more;
};

inline std::vector<std::byte> pattern(size_t n) {
    std::vector<std::byte> v(n);
    for (size_t i = 0; i < n; ++i) {
        v[i] = std::byte(uint8_t(i * 13 + 5));
    }
    return v;
}

// The IPv4 payload (L4 header + data) of a whole frame built by frames.cc.
inline std::vector<std::byte> l3_payload(const frame_bytes& fr) {
    const size_t at = wire::ether_header_len + wire::ipv4_min_header_len;
    return {fr.begin() + long(at), fr.end()};
}

inline frame_bytes make_frag(const frame_addrs& base, uint16_t id, uint8_t proto, const std::vector<std::byte>& dgram,
                             const piece& p) {
    frame_addrs a = base;
    a.ip_id = id;
    a.frag = uint16_t((p.more ? wire::ip_mf : 0) | (p.off / 8));
    return make_ipv4_frame(a, proto, std::span(dgram).subspan(p.off, p.len));
}

// An ICMP echo request datagram (ICMP header + data) of n data bytes; built
// here rather than as a frame so it may exceed what one IP header can say.
inline std::vector<std::byte> echo_dgram(uint16_t id, size_t n, uint16_t seq = 1) {
    wire::icmp_repr i;
    i.type = wire::icmp_echo_request;
    i.rest = (uint32_t(id) << 16) | seq;
    auto data = pattern(n);
    i.payload = data;
    std::vector<std::byte> out(i.total_len());
    i.emit(out);
    return out;
}

// How a Linux sender cuts a datagram of `len` payload bytes for an MTU:
// (mtu - 20) & ~7 per piece, the rest in the last.
inline std::vector<piece> cut(uint32_t len, uint32_t mtu = 1500) {
    const uint32_t step = (mtu - 20) & ~7u;
    std::vector<piece> v;
    for (uint32_t off = 0; off < len; off += step) {
        const uint32_t n = std::min(step, len - off);
        v.push_back({off, n, off + n < len});
    }
    return v;
}

// What we sent, ARP left out (the neighbour entry ages during long waits).
// Every IPv4 header checksum is also verified with the test's own RFC 1071
// sum, not the stack's.
inline std::vector<parsed_frame> all_tx(tcp_fixture& f) {
    f.net.flush();
    std::vector<parsed_frame> out;
    while (f.dev.tx_pending() > 0) {
        pbuf_ptr p = f.dev.pop_tx();
        parsed_frame fr = parse_frame(*p);
        if (fr.is_ipv4) {
            CHECK(oracle_csum(oracle_sum(p->span().subspan(wire::ether_header_len, fr.ip.header_len))) == 0);
        }
        if (!fr.is_arp) {
            out.push_back(std::move(fr));
        }
    }
    return out;
}

// The datagram rebuilt from the fragments we sent, after checking each one
// as a receiver would and as RFC 791 asks of a sender: good header
// checksum, one ID, offsets in order and contiguous, MF on all but the last,
// every non-last piece a multiple of 8 bytes and within the MTU.
struct rebuilt {
    bool ok = false;
    wire::ipv4_repr first;            // header of the first piece
    std::vector<std::byte> payload;   // IP payload
    size_t pieces = 0;
};

inline rebuilt rebuild(const std::vector<parsed_frame>& tx, uint32_t mtu = 1500) {
    rebuilt r;
    if (tx.empty()) {
        return r;
    }
    r.first = tx[0].ip;
    uint32_t expect_off = 0;
    for (size_t i = 0; i < tx.size(); ++i) {
        const parsed_frame& fr = tx[i];
        INFO("piece " << i << ": " << describe(fr));
        REQUIRE(fr.is_ipv4);
        CHECK(fr.ok());
        CHECK(fr.ip.id == r.first.id);
        CHECK(fr.ip.proto == r.first.proto);
        CHECK((fr.ip.frag & wire::ip_df) == 0);
        CHECK(fr.ip.total_len <= mtu);
        const uint32_t off = uint32_t(fr.ip.frag & wire::ip_offmask) * 8;
        const bool more = (fr.ip.frag & wire::ip_mf) != 0;
        const uint32_t n = uint32_t(fr.ip.total_len) - fr.ip.header_len;
        CHECK(off == expect_off);
        CHECK(more == (i + 1 < tx.size()));
        if (more) {
            CHECK(n % 8 == 0);
            CHECK(n == ((mtu - 20) & ~7u));  // full pieces, as Linux cuts them
        }
        // parse_frame keeps the IP payload of a fragment; the whole frame
        // when it is not one (then the L4 body is in `payload` after 8 bytes).
        REQUIRE(fr.is_fragment);
        REQUIRE(fr.payload.size() == n);
        r.payload.insert(r.payload.end(), fr.payload.begin(), fr.payload.end());
        expect_off = off + n;
    }
    r.pieces = tx.size();
    r.ok = true;
    return r;
}

// Checks an echo reply datagram (ICMP header + data) against the request.
inline void check_echo_reply_dgram(const std::vector<std::byte>& reply, const std::vector<std::byte>& request) {
    REQUIRE(reply.size() == request.size());
    CHECK(oracle_csum(oracle_sum(reply)) == 0);  // ICMP checksum over the whole reply
    wire::icmp_repr icmp;
    REQUIRE(wire::icmp_repr::parse(reply, icmp) == wire::wire_error::none);
    CHECK(icmp.type == wire::icmp_echo_reply);
    CHECK(icmp.code == 0);
    CHECK(wire::load32(reply.data() + 4) == wire::load32(request.data() + 4));  // id, seq
    CHECK(std::equal(reply.begin() + 8, reply.end(), request.begin() + 8));
}

// The peer's next data segment carrying `payload` as one whole IPv4
// datagram (IP header stripped), ready to be cut into fragments.
inline std::vector<std::byte> peer_tcp_dgram(tcp_fixture& f, peer_conn& pc, const std::string& payload) {
    auto th = pc.pseg(0, 0, wire::TCPF_ACK | wire::TCPF_PSH);
    frame_addrs w = f.peer;
    w.frag = 0;
    return l3_payload(make_tcp_frame(w, th, std::as_bytes(std::span(payload.data(), payload.size()))));
}

// The connection's next read returns exactly `payload`.
inline void check_read(peer_conn& pc, const std::string& payload) {
    std::string got(payload.size() + 1000, '\0');
    CHECK(pc.s.recv(got.data(), got.size()) == long(payload.size()));
    got.resize(payload.size());
    CHECK(got == payload);
}

inline uint64_t drops(tcp_fixture& f, drop_reason r) { return f.net.counters().drop(r); }
inline unsigned queues(tcp_fixture& f) { return ipfrag_queue_count(*f.net.ipfrag); }
inline unsigned large_free(tcp_fixture& f) { return ipfrag_large_free(*f.net.ipfrag); }

}  // namespace dshim::test::frag
