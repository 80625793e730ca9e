// Helpers for the loss/recovery/OFO/memory tests (tcp_loss_tests): an
// established connection between our stack and the scripted peer, with the
// peer's sequence bookkeeping and payloads whose bytes are a function of the
// sequence number (so reassembly mistakes show as wrong bytes).
#pragma once
#include "tcp/tcp_fixture.hh"

namespace dshim::test {

// <netinet/tcp.h> clashes with the engine's TCP state names.
inline constexpr int OPT_TCP_NODELAY = 1;
inline constexpr int OPT_TCP_SYNCNT = 7;

struct peer_opts {
    uint16_t mss = 1000;          // peer's MSS option (our segment size)
    bool sack = false;
    bool ts = false;
    int wscale = -1;              // peer's window scale option; -1 = none
    uint16_t win = 65535;         // peer's window in the SYN-ACK / ACKs
    uint64_t rtt_ms = 100;        // time between our SYN and the SYN-ACK
    uint16_t port = 80;
    int sndbuf = 1 << 20;         // SO_SNDBUF before connect (0 = default)
    // TCP_CONGESTION before connect: these tests check RFC 5681/6582 Reno
    // arithmetic; the stack default is cubic (nullptr keeps it).
    const char* cc = "reno";
    bool ecn = false;             // SYN-ACK with ECE (accepts an ECN SYN, RFC 3168)
};

// Byte at peer sequence offset n (offset from the peer's ISN + 1).
inline char peer_byte(uint32_t n) { return char('A' + (n * 7 + n / 251) % 26); }

struct peer_conn {
    tcp_fixture& f;
    peer_opts o;
    usock s;
    uint16_t lport = 0;
    uint32_t irs = 0;        // our ISN
    uint32_t peer_isn = 7000;
    uint32_t tsval = 1000;   // peer's TSval clock
    uint32_t last_tsecr = 0; // our latest TSval seen

    peer_conn(tcp_fixture& fx, const peer_opts& po = {}) : f(fx), o(po) {}

    // Our first data byte's sequence number.
    uint32_t snd0() const { return irs + 1; }
    uint32_t rcv0() const { return peer_isn + 1; }

    // Active open from our side: SYN, (rtt) SYN-ACK, our ACK.
    void open() {
        s = usock::create(f.net);
        if (o.sndbuf != 0) {
            REQUIRE(s.setsockopt_int(SOL_SOCKET, SO_SNDBUF, o.sndbuf) == 0);
        }
        if (o.cc) {
            constexpr int opt_tcp_congestion = 13;
            REQUIRE(s.s->ops->setsockopt(s.s, IPPROTO_TCP, opt_tcp_congestion, o.cc, unsigned(std::strlen(o.cc))) == 0);
        }
        REQUIRE(s.connect(PEER_IP, o.port) == -EINPROGRESS);
        const uint8_t ecn_syn = f.net.sysctl().ecn == 1 ? wire::TCPF_ECE | wire::TCPF_CWR : 0;
        auto syn = f.expect_tcp(wire::TCPF_SYN | ecn_syn);
        irs = syn.tcp.seq.v;
        lport = syn.tcp.sport;
        last_tsecr = syn.tcp.opt.ts_val;
        f.advance_ms(o.rtt_ms);
        auto sa = seg(o.port, lport, peer_isn, irs + 1,
                      wire::TCPF_SYN | wire::TCPF_ACK | (o.ecn ? wire::TCPF_ECE : 0), o.win);
        sa.opt.has_mss = true;
        sa.opt.mss = o.mss;
        sa.opt.sack_permitted = o.sack;
        if (o.ts) {
            sa.opt.has_ts = true;
            sa.opt.ts_val = tsval;
            sa.opt.ts_ecr = last_tsecr;
        }
        if (o.wscale >= 0) {
            sa.opt.has_wscale = true;
            sa.opt.wscale = uint8_t(o.wscale);
        }
        f.inject(sa);
        auto ack = f.expect_tcp(wire::TCPF_ACK);
        REQUIRE(s.state() == TCP_ESTABLISHED);
        REQUIRE(s.connect(PEER_IP, o.port) == 0);
        note(ack);
    }

    void note(const parsed_frame& fr) {
        if (fr.tcp.opt.has_ts) {
            last_tsecr = fr.tcp.opt.ts_val;
        }
    }

    // A segment from the peer; seq/ack are offsets from the ISNs (+1).
    wire::tcp_repr pseg(uint32_t seq_off, uint32_t ack_off, uint8_t flags = wire::TCPF_ACK, int win = -1) {
        auto th = seg(o.port, lport, rcv0() + seq_off, snd0() + ack_off, flags,
                      uint16_t(win < 0 ? o.win : win));
        if (o.ts) {
            th.opt.has_ts = true;
            th.opt.ts_val = ++tsval;
            th.opt.ts_ecr = last_tsecr;
        }
        return th;
    }
    // The peer ACKs up to our byte offset ack_off.
    void ack(uint32_t ack_off, int win = -1) { f.inject(pseg(0, ack_off, wire::TCPF_ACK, win)); }
    // The peer sends len bytes at its offset seq_off (acking ack_off of ours).
    void data(uint32_t seq_off, uint32_t len, uint32_t ack_off = 0, uint8_t flags = wire::TCPF_ACK) {
        std::string p(len, '\0');
        for (uint32_t i = 0; i < len; ++i) {
            p[i] = peer_byte(seq_off + i);
        }
        f.inject(pseg(seq_off, ack_off, flags), p);
    }
    // Our byte offset of a frame we sent.
    uint32_t off(const parsed_frame& fr) const { return fr.tcp.seq.v - snd0(); }
    uint32_t ack_off(const parsed_frame& fr) const { return fr.tcp.ack.v - rcv0(); }

    // Queues n bytes for sending (what goes out is up to the engine).
    long send_bytes(size_t n) {
        std::string p(n, 'x');
        return s.send(p);
    }
};

// The next TCP frame we sent, answering ARP requests on the way (a long
// test outlives the neighbour's reachable time); fails when there is none.
inline parsed_frame next_tcp(tcp_fixture& f) {
    for (;;) {
        parsed_frame fr = f.expect_tx();
        if (fr.is_arp) {
            if (fr.arp.op == wire::arp_op_request) {
                f.inject_raw(make_arp_reply(f.peer));
            }
            continue;
        }
        return fr;
    }
}
inline parsed_frame next_tcp(tcp_fixture& f, uint8_t flags) {
    parsed_frame fr = next_tcp(f);
    INFO("tx: " << describe(fr));
    REQUIRE(fr.is_tcp);
    CHECK(tcp_flags_str(fr.tcp.flags) == tcp_flags_str(flags));
    return fr;
}
// Runs timers one expiry at a time (answering ARP) until we send TCP
// frames or `limit` passes; returns them (empty on timeout).
inline std::vector<parsed_frame> run_until_tcp(tcp_fixture& f, nsec_t limit) {
    const nsec_t end = f.clk.now() + limit;
    std::vector<parsed_frame> out;
    while (out.empty()) {
        f.net.flush();
        while (f.dev.tx_pending() > 0) {
            parsed_frame fr = f.expect_tx();
            if (fr.is_arp && fr.arp.op == wire::arp_op_request) {
                f.inject_raw(make_arp_reply(f.peer));
            } else if (fr.is_tcp) {
                out.push_back(std::move(fr));
            }
        }
        if (!out.empty()) {
            break;
        }
        const nsec_t next = f.net.next_timer();
        if (next == TIME_NEVER || next > end) {
            f.advance(end - f.clk.now());
            break;
        }
        f.advance(next > f.clk.now() ? next - f.clk.now() : 0);
    }
    return out;
}

// No TCP frame was sent (ARP is ignored).
inline void expect_no_tcp(tcp_fixture& f) {
    for (auto& fr : f.drain_tcp()) {
        FAIL("unexpected tx: " << describe(fr));
    }
}

// Frames carrying data, in order, from a drained batch.
inline std::vector<parsed_frame> data_frames(std::vector<parsed_frame> v) {
    std::vector<parsed_frame> out;
    for (auto& fr : v) {
        if (!fr.payload.empty()) {
            out.push_back(std::move(fr));
        }
    }
    return out;
}

inline std::string expected_peer_bytes(uint32_t from, uint32_t len) {
    std::string p(len, '\0');
    for (uint32_t i = 0; i < len; ++i) {
        p[i] = peer_byte(from + i);
    }
    return p;
}

}  // namespace dshim::test
