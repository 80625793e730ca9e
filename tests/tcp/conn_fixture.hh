// One established connection on the scripted-peer fixture, as the peer sees
// it: our port, both next sequence numbers, and how it was opened (active
// open answered with chosen SYN-ACK options, or passive open through a
// listener). Shared by the close, RST, data and window tests so each file
// states only what its cases are about.
#pragma once
#include "tcp/tcp_fixture.hh"

namespace dshim::test {

// How the peer answers our SYN (active open).
struct peer_syn_opts {
    uint16_t mss = 1460;    // 0: no MSS option (we then assume 536)
    int wscale = -1;        // -1: no window scale option
    bool ts = false;        // echo our TSval with TSval 1
    uint16_t win = 65535;   // SYN-ACK window (never scaled)
    uint64_t rtt_ms = 0;    // virtual time between our SYN and the SYN-ACK
    uint32_t isn = 1000;    // the peer's ISN
    uint16_t pport = 80;    // the peer's port
};

struct conn {
    usock u;
    uint16_t lport = 0;   // our port
    uint16_t pport = 80;  // the peer's port
    uint32_t snd = 0;     // our SND.NXT (what the peer acks)
    uint32_t rcv = 0;     // our RCV.NXT (the peer's next byte)

    // A segment from the peer at its next sequence number.
    wire::tcp_repr from_peer(uint8_t flags, uint16_t win = 65535) const {
        return seg(pport, lport, rcv, snd, flags, win);
    }
    // The same, seq_off bytes away from the peer's next sequence number.
    wire::tcp_repr from_peer_at(uint8_t flags, int32_t seq_off) const {
        return seg(pport, lport, rcv + uint32_t(seq_off), snd, flags);
    }
};

inline conn open_active(tcp_fixture& f, const peer_syn_opts& o = {}) {
    conn c;
    c.u = usock::create(f.net);
    c.pport = o.pport;
    REQUIRE(c.u.connect(PEER_IP, c.pport) == -EINPROGRESS);
    auto syn = f.expect_tcp(wire::TCPF_SYN);
    c.lport = syn.tcp.sport;
    c.snd = syn.tcp.seq.v + 1;
    c.rcv = o.isn + 1;
    f.advance_ms(o.rtt_ms);
    auto sa = seg(c.pport, c.lport, o.isn, c.snd, wire::TCPF_SYN | wire::TCPF_ACK, o.win);
    if (o.mss != 0) {
        sa.opt.has_mss = true;
        sa.opt.mss = o.mss;
    }
    if (o.wscale >= 0) {
        sa.opt.has_wscale = true;
        sa.opt.wscale = uint8_t(o.wscale);
    }
    if (o.ts) {
        sa.opt.has_ts = true;
        sa.opt.ts_val = 1;
        sa.opt.ts_ecr = syn.tcp.opt.ts_val;
    }
    f.inject(sa);
    REQUIRE(f.expect_tcp(wire::TCPF_ACK).tcp.ack.v == c.rcv);
    REQUIRE(c.u.state() == TCP_ESTABLISHED);
    REQUIRE(c.u.connect(PEER_IP, c.pport) == 0);
    f.expect_no_tx();
    return c;
}

// Active open up to SYN_SENT: our socket and the SYN it sent to pport.
struct syn_sent {
    usock u;
    parsed_frame syn;
};

inline syn_sent open_syn_sent(tcp_fixture& f, uint16_t pport) {
    syn_sent k;
    k.u = usock::create(f.net);
    REQUIRE(k.u.connect(PEER_IP, pport) == -EINPROGRESS);
    k.syn = f.expect_tcp(wire::TCPF_SYN);
    return k;
}

// Passive open on listener l (bound to lport) from the peer's pport.
inline conn open_passive(tcp_fixture& f, usock& l, uint16_t lport, uint16_t pport, uint32_t pisn) {
    conn c;
    f.inject(seg(pport, lport, pisn, 0, wire::TCPF_SYN));
    auto sa = f.expect_tcp(wire::TCPF_SYN | wire::TCPF_ACK);
    REQUIRE(sa.tcp.ack.v == pisn + 1);
    c.lport = lport;
    c.pport = pport;
    c.snd = sa.tcp.seq.v + 1;
    c.rcv = pisn + 1;
    f.inject(c.from_peer(wire::TCPF_ACK));
    f.expect_no_tx();
    REQUIRE(l.accept(&c.u) == 0);
    REQUIRE(c.u.state() == TCP_ESTABLISHED);
    return c;
}

// The peer sends payload (PSH|ACK) at its next sequence number.
inline void peer_sends(tcp_fixture& f, conn& c, const std::string& payload) {
    f.inject(c.from_peer(wire::TCPF_PSH | wire::TCPF_ACK), payload);
    c.rcv += uint32_t(payload.size());
}

// Linux's quick-ACK mode at the start: 16 one-byte segments from the peer,
// each ACKed at once, use it up (the bytes are left unread).
inline void leave_quickack(tcp_fixture& f, conn& c) {
    for (int i = 0; i < 16; ++i) {
        peer_sends(f, c, "q");
        f.expect_tcp(wire::TCPF_ACK);
    }
}

// One connection between the two stacks of a sim_pair: listener l on
// p.a:port, client c on p.b, and s, the connection l accepted; both ends
// ESTABLISHED.
struct sim_conn {
    usock l;
    usock c;
    usock s;
};

inline sim_conn open_sim(sim_pair& p, uint16_t port) {
    sim_conn k;
    k.l = usock::create(p.a);
    REQUIRE(k.l.bind(0, port) == 0);
    REQUIRE(k.l.listen(4) == 0);
    k.c = usock::create(p.b);
    REQUIRE(k.c.connect(PEER_IP, port) == -EINPROGRESS);
    REQUIRE(p.run_until([&] { return k.l.accept(&k.s) == 0; }));
    REQUIRE(p.run_until([&] { return k.c.state() == TCP_ESTABLISHED; }));
    return k;
}

inline sock* lookup(tcp_fixture& f, const conn& c) {
    return inet_lookup_established(f.net, PEER_IP, c.pport, LOCAL_IP, c.lport);
}

inline std::string payload_of(const parsed_frame& fr) {
    return std::string(reinterpret_cast<const char*>(fr.payload.data()), fr.payload.size());
}

inline void check_seg(const parsed_frame& fr, uint32_t seq, uint32_t ack) {
    CHECK(fr.tcp.seq.v == seq);
    CHECK(fr.tcp.ack.v == ack);
}

inline int so_error(usock& u) {
    int v = -1;
    REQUIRE(u.getsockopt_int(SOL_SOCKET, SO_ERROR, &v) == 0);
    return v;
}

// A 1 ms link: sim_pair::step() notices a frame only while it is on the
// link, so a zero-delay link can leave a last frame undelivered in the
// receiver's rx ring when nothing else is pending.
inline sim_wire_config delayed_wire() {
    sim_wire_config w;
    w.a_to_b.delay = NSEC_PER_MSEC;
    w.b_to_a.delay = NSEC_PER_MSEC;
    return w;
}

}  // namespace dshim::test
