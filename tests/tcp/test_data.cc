// Data transfer on an established connection (RFC 9293 §3.8, §3.10.7.4
// step 7; RFC 1122 §4.2.3.2 delayed ACK, §4.2.3.4 Nagle; RFC 6928 IW10,
// RFC 3390): exact seq/ack/flags on the scripted-peer fixture, segmentation,
// coalescing, Nagle/TCP_NODELAY/TCP_CORK/MSG_MORE, receive-side calls and
// the delayed-ACK engine, compared with what Linux puts on the wire.
#include <sys/ioctl.h>

#include "sim/transfer.hh"
#include "tcp/conn_fixture.hh"

using namespace dshim;
using namespace dshim::test;
using wire::TCPF_ACK;
using wire::TCPF_FIN;
using wire::TCPF_PSH;
using wire::TCPF_SYN;

namespace {

// <netinet/tcp.h> clashes with the engine's names; these are stable ABI.
constexpr int OPT_TCP_NODELAY = 1;
constexpr int OPT_TCP_CORK = 3;

constexpr uint8_t PA = TCPF_PSH | TCPF_ACK;

std::string pattern(size_t n, char base = 'a') {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) {
        s[i] = char(base + i % 23);
    }
    return s;
}

int fionread(usock& s) {
    int v = -1;
    REQUIRE(s.s->ops->ioctl(s.s, FIONREAD, reinterpret_cast<unsigned long>(&v)) == 0);
    return v;
}

}  // namespace

TEST_CASE("established: data both ways carries exact seq, ack and PSH") {
    tcp_fixture f;
    conn c = open_active(f);

    f.inject(c.from_peer(PA), "hello");
    // First data: quick-ACK mode (Linux), so the ACK goes out at once.
    auto ack = f.expect_tcp(TCPF_ACK);
    CHECK(ack.tcp.seq.v == c.snd);
    CHECK(ack.tcp.ack.v == c.rcv + 5);
    CHECK(ack.payload.empty());
    CHECK(ack.tcp.window > 0);
    c.rcv += 5;
    CHECK(c.u.recv_str() == "hello");

    REQUIRE(c.u.send("world!") == 6);
    auto d = f.expect_tcp(PA);
    CHECK(d.tcp.seq.v == c.snd);
    CHECK(d.tcp.ack.v == c.rcv);
    CHECK(payload_of(d) == "world!");
    f.expect_no_tx();
    c.snd += 6;
    CHECK(c.u.tp()->packets_out == 1);

    f.inject(c.from_peer(TCPF_ACK));
    f.expect_no_tx();
    CHECK(c.u.tp()->snd_una.v == c.snd);
    CHECK(c.u.tp()->packets_out == 0);
    // Acknowledged: nothing is retransmitted later.
    f.advance_ms(5000);
    f.expect_no_tx();
    c.u.close();
}

TEST_CASE("sendmsg: 10000 bytes go out as MSS-sized segments, PSH on the last only") {
    tcp_fixture f;
    conn c = open_active(f);
    const std::string data = pattern(10000);
    REQUIRE(c.u.send(data) == 10000);
    auto segs = f.drain_tcp();
    REQUIRE(segs.size() == 7);  // 6 * 1460 + 1240
    std::string got;
    uint32_t seq = c.snd;
    for (size_t i = 0; i < segs.size(); ++i) {
        INFO("segment " << i << ": " << describe(segs[i]));
        CHECK(segs[i].tcp.seq.v == seq);
        CHECK(segs[i].tcp.ack.v == c.rcv);
        CHECK(segs[i].payload.size() == (i < 6 ? 1460u : 1240u));
        CHECK(tcp_flags_str(segs[i].tcp.flags) == tcp_flags_str(i < 6 ? uint8_t(TCPF_ACK) : PA));
        // Linux's IPv4 for TCP: DF set, TTL 64.
        CHECK((segs[i].ip.frag & wire::ip_df) != 0);
        CHECK(segs[i].ip.ttl == 64);
        seq += uint32_t(segs[i].payload.size());
        got += payload_of(segs[i]);
    }
    CHECK(got == data);
    c.u.close();
}

TEST_CASE("sendmsg: IW10 limits the first flight to 10 segments, ACKs release the rest") {
    tcp_fixture f;
    conn c = open_active(f);
    const std::string data = pattern(20000);
    REQUIRE(c.u.send(data) == 20000);
    auto first = f.drain_tcp();
    REQUIRE(first.size() == 10);
    for (auto& s : first) {
        CHECK(s.payload.size() == 1460);
        CHECK((s.tcp.flags & TCPF_PSH) == 0);
    }
    CHECK(c.u.tp()->packets_out == 10);
    f.expect_no_tx();
    // Two segments acknowledged: slow start grows cwnd to 12 (RFC 5681
    // §3.1), 8 are still in flight, so 4 more may go: all the rest.
    auto a = c.from_peer(TCPF_ACK);
    a.ack = wire::seq32(c.snd + 2 * 1460);
    f.inject(a);
    auto rest = f.drain_tcp();
    REQUIRE(rest.size() == 4);
    CHECK(rest[0].tcp.seq.v == c.snd + 10 * 1460);
    CHECK(rest[3].payload.size() == 20000 - 13 * 1460);
    CHECK(tcp_flags_str(rest[3].tcp.flags) == "P.");
    CHECK(c.u.tp()->snd_cwnd == 12);
    c.u.close();
}

TEST_CASE("rfc profile: the first flight follows RFC 3390 (3 segments of 1460)") {
    tcp_fixture f(tcp_profile::rfc);
    conn c = open_active(f);
    REQUIRE(c.u.send(pattern(20000)) == 20000);
    CHECK(f.drain_tcp().size() == 3);
    c.u.close();
}

TEST_CASE("Nagle: a second small write waits for the ACK of the first, then goes out coalesced") {
    tcp_fixture f;
    conn c = open_active(f);
    REQUIRE(c.u.send("a") == 1);
    auto s1 = f.expect_tcp(PA);
    CHECK(payload_of(s1) == "a");
    // A small segment is unacknowledged: hold further small ones (RFC 1122
    // §4.2.3.4, Minshall's variant as in Linux).
    REQUIRE(c.u.send("bc") == 2);
    f.expect_no_tx();
    REQUIRE(c.u.send("def") == 3);
    f.expect_no_tx();
    int outq = -1;
    REQUIRE(c.u.s->ops->ioctl(c.u.s, TIOCOUTQ, reinterpret_cast<unsigned long>(&outq)) == 0);
    CHECK(outq == 6);
    auto a = c.from_peer(TCPF_ACK);
    a.ack = wire::seq32(c.snd + 1);
    f.inject(a);
    auto s2 = f.expect_tcp(PA);
    CHECK(s2.tcp.seq.v == c.snd + 1);
    CHECK(payload_of(s2) == "bcdef");  // both writes in one segment
    f.expect_no_tx();
    c.u.close();
}

TEST_CASE("Nagle: a full-sized segment is never held, the partial tail is") {
    tcp_fixture f;
    conn c = open_active(f);
    REQUIRE(c.u.send("x") == 1);
    f.expect_tcp(PA);
    // 1460 + 40: the full segment goes, the 40-byte tail waits for the ACK.
    REQUIRE(c.u.send(pattern(1500)) == 1500);
    auto full = f.expect_tcp(TCPF_ACK);
    CHECK(full.payload.size() == 1460);
    f.expect_no_tx();
    auto ax = c.from_peer(TCPF_ACK);
    ax.ack = wire::seq32(c.snd + 1);  // acks only "x": the small one
    f.inject(ax);
    // "x" was the small segment outstanding; the full one is not small, so
    // Minshall lets the tail go now.
    auto tail = f.expect_tcp(PA);
    CHECK(tail.payload.size() == 40);
    c.u.close();
}

TEST_CASE("TCP_NODELAY: every small write goes out at once; setting it pushes held data") {
    tcp_fixture f;
    conn c = open_active(f);
    REQUIRE(c.u.send("1") == 1);
    f.expect_tcp(PA);
    REQUIRE(c.u.send("2") == 1);
    f.expect_no_tx();  // Nagle holds it
    REQUIRE(c.u.setsockopt_int(IPPROTO_TCP, OPT_TCP_NODELAY, 1) == 0);
    auto pushed = f.expect_tcp(PA);  // Linux pushes pending frames here
    CHECK(payload_of(pushed) == "2");
    int v = 0;
    REQUIRE(c.u.getsockopt_int(IPPROTO_TCP, OPT_TCP_NODELAY, &v) == 0);
    CHECK(v == 1);
    for (int i = 0; i < 3; ++i) {
        REQUIRE(c.u.send("z") == 1);
        auto s = f.expect_tcp(PA);
        CHECK(s.tcp.seq.v == c.snd + 2 + uint32_t(i));
    }
    CHECK(c.u.tp()->packets_out == 5);
    c.u.close();
}

TEST_CASE("TCP_CORK: partial segments wait for a full MSS or the uncork") {
    tcp_fixture f;
    conn c = open_active(f);
    REQUIRE(c.u.setsockopt_int(IPPROTO_TCP, OPT_TCP_CORK, 1) == 0);
    REQUIRE(c.u.send(pattern(100)) == 100);
    f.expect_no_tx();  // nothing in flight, still held: that is the cork
    REQUIRE(c.u.send(pattern(1400, 'A')) == 1400);
    // 1500 queued: one full segment leaves, 40 bytes stay corked. (It
    // keeps the PSH the first send put on it, as in Linux.)
    auto full = f.expect_tx();
    REQUIRE(full.is_tcp);
    CHECK(full.payload.size() == 1460);
    f.expect_no_tx();
    REQUIRE(c.u.setsockopt_int(IPPROTO_TCP, OPT_TCP_CORK, 0) == 0);
    auto tail = f.expect_tcp(PA);
    CHECK(tail.payload.size() == 40);
    CHECK(tail.tcp.seq.v == c.snd + 1460);
    c.u.close();
}

TEST_CASE("TCP_CORK: corked data leaves after the persist timeout (Linux's 200 ms ceiling)") {
    tcp_fixture f;
    conn c = open_active(f);
    REQUIRE(c.u.setsockopt_int(IPPROTO_TCP, OPT_TCP_CORK, 1) == 0);
    REQUIRE(c.u.send(pattern(100)) == 100);
    f.expect_no_tx();
    // Linux arms the probe timer (tcp_check_probe_timer) for corked data
    // with nothing in flight; at its expiry tcp_write_wakeup sends it.
    const nsec_t rto = c.u.tp()->icsk_rto;
    CHECK(rto >= 200 * NSEC_PER_MSEC);
    CHECK(rto <= 201 * NSEC_PER_MSEC);
    f.advance(rto - NSEC_PER_MSEC);
    f.expect_no_tx();
    f.advance_ms(2);
    auto s = f.expect_tcp(PA);
    CHECK(s.payload.size() == 100);
    c.u.close();
}

TEST_CASE("MSG_MORE: a partial segment waits for the next send without it") {
    tcp_fixture f;
    conn c = open_active(f);
    REQUIRE(c.u.send(std::string("HEAD "), MSG_MORE) == 5);
    f.expect_no_tx();
    REQUIRE(c.u.send(std::string("more "), MSG_MORE) == 5);
    f.expect_no_tx();
    REQUIRE(c.u.send("end") == 3);
    auto s = f.expect_tcp(PA);
    CHECK(payload_of(s) == "HEAD more end");
    f.expect_no_tx();
    c.u.close();
}

TEST_CASE("recv: MSG_PEEK leaves the data, partial reads resume in place, FIONREAD counts") {
    tcp_fixture f;
    conn c = open_active(f);
    CHECK(fionread(c.u) == 0);
    CHECK(c.u.recv_str() == "<" + std::to_string(-EAGAIN) + ">");
    peer_sends(f, c, "0123456789");
    f.drain_tcp();
    peer_sends(f, c, "abcdef");
    f.drain_tcp();
    CHECK(fionread(c.u) == 16);
    CHECK((c.u.poll() & POLLIN) != 0);

    char buf[32] = {};
    CHECK(c.u.recv(buf, 4, MSG_PEEK) == 4);
    CHECK(std::string(buf, 4) == "0123");
    // A peek across segment boundaries.
    CHECK(c.u.recv(buf, 32, MSG_PEEK) == 16);
    CHECK(std::string(buf, 16) == "0123456789abcdef");
    CHECK(fionread(c.u) == 16);

    CHECK(c.u.recv(buf, 3) == 3);
    CHECK(std::string(buf, 3) == "012");
    CHECK(fionread(c.u) == 13);
    CHECK(c.u.recv(buf, 9) == 9);  // the rest of the first segment + 2
    CHECK(std::string(buf, 9) == "3456789ab");
    CHECK(c.u.recv(buf, 32, MSG_PEEK) == 4);
    CHECK(std::string(buf, 4) == "cdef");
    CHECK(c.u.recv(buf, 32) == 4);
    CHECK(fionread(c.u) == 0);
    CHECK((c.u.poll() & POLLIN) == 0);
    CHECK(c.u.tp()->copied_seq.v == c.rcv);
    c.u.close();
}

TEST_CASE("delayed ACK (linux): quick-ACKs at start, then every second full segment, a lone one at 40 ms") {
    tcp_fixture f;
    conn c = open_active(f);
    const std::string mss_data = pattern(1460);
    // Quick-ACK mode at start: min(rcv_wnd / (2 * rcv_mss), 16) ACKs are
    // sent at once (Linux's tcp_incr_quickack, TCP_MAX_QUICKACKS = 16).
    for (int i = 0; i < 16; ++i) {
        INFO("segment " << i);
        peer_sends(f, c, mss_data);
        auto a = f.expect_tcp(TCPF_ACK);
        CHECK(a.tcp.ack.v == c.rcv);
        f.expect_no_tx();
        CHECK(c.u.recv_str().size() == 1460);  // the reader keeps up
    }
    CHECK(f.net.counters().tcp_quick_acks == 16);
    // Now one full segment is not ACKed at once...
    peer_sends(f, c, mss_data);
    f.expect_no_tx();
    CHECK(c.u.recv_str().size() == 1460);
    f.expect_no_tx();  // reading a full segment does not force an ACK
    // ...but the second one is (RFC 5681 §4.2, RFC 1122 §4.2.3.2).
    peer_sends(f, c, mss_data);
    auto a2 = f.expect_tcp(TCPF_ACK);
    CHECK(a2.tcp.ack.v == c.rcv);
    CHECK(c.u.recv_str().size() == 1460);
    f.expect_no_tx();

    // A lone full segment: the delayed-ACK timer, 40 ms (TCP_DELACK_MIN).
    peer_sends(f, c, mss_data);
    f.advance_ms(39);
    f.expect_no_tx();
    f.advance_ms(1);
    auto d = f.expect_tcp(TCPF_ACK);
    CHECK(d.tcp.ack.v == c.rcv);
    CHECK(f.net.counters().tcp_delayed_acks == 1);
    f.expect_no_tx();
    c.u.close();
}

TEST_CASE("delayed ACK (linux): a small pushed segment is ACKed when the reader drains it, else after 40 ms") {
    tcp_fixture f;
    conn c = open_active(f);
    // Leave quick-ACK mode first: 16 segments ACKed at once.
    leave_quickack(f, c);
    CHECK(c.u.recv_str() == std::string(16, 'q'));
    f.expect_no_tx();

    // A small segment nobody reads: ACKed by the timer.
    peer_sends(f, c, "ping");
    f.expect_no_tx();
    f.advance_ms(39);
    f.expect_no_tx();
    f.advance_ms(1);
    CHECK(f.expect_tcp(TCPF_ACK).tcp.ack.v == c.rcv);
    CHECK(c.u.recv_str() == "ping");
    f.expect_no_tx();

    // A small segment the reader drains at once: Linux's tcp_cleanup_rbuf
    // ACKs it then (pushed, not interactive, receive queue empty).
    f.advance_ms(1000);
    peer_sends(f, c, "pong");
    f.expect_no_tx();
    CHECK(c.u.recv_str() == "pong");
    CHECK(f.expect_tcp(TCPF_ACK).tcp.ack.v == c.rcv);
    c.u.close();
}

TEST_CASE("delayed ACK (rfc): no quick-ACK; every second full segment at once, a lone one at 200 ms") {
    tcp_fixture f(tcp_profile::rfc);
    conn c = open_active(f);
    const std::string d = pattern(1460);
    peer_sends(f, c, d);
    f.expect_no_tx();  // not even the first data is ACKed at once
    peer_sends(f, c, d);
    CHECK(f.expect_tcp(TCPF_ACK).tcp.ack.v == c.rcv);
    CHECK(c.u.recv_str().size() == 2920);
    f.expect_no_tx();
    peer_sends(f, c, d);
    f.advance_ms(199);
    f.expect_no_tx();
    f.advance_ms(1);
    CHECK(f.expect_tcp(TCPF_ACK).tcp.ack.v == c.rcv);
    CHECK(f.net.counters().tcp_quick_acks == 0);
    c.u.close();
}

TEST_CASE("delayed ACK: our data piggybacks the owed ACK and cancels the timer") {
    tcp_fixture f;
    conn c = open_active(f);
    leave_quickack(f, c);
    peer_sends(f, c, "request");
    f.expect_no_tx();  // ACK delayed
    REQUIRE(c.u.send("response") == 8);
    auto r = f.expect_tcp(PA);
    CHECK(r.tcp.ack.v == c.rcv);
    f.advance_ms(500);
    // No separate ACK later (the timer was cancelled by the data segment);
    // only an RTO retransmission of the unacknowledged response may follow.
    for (auto& s : f.drain_tcp()) {
        CHECK(s.payload.size() == 8);
    }
    c.u.close();
}

TEST_CASE("listen: data on the handshake-completing ACK is queued, readable and ACKed") {
    tcp_fixture f;
    usock l = usock::create(f.net);
    REQUIRE(l.bind(0, 8080) == 0);
    REQUIRE(l.listen(8) == 0);
    auto syn = seg(40000, 8080, 500, 0, TCPF_SYN, 65535);
    syn.opt.has_mss = true;
    syn.opt.mss = 1460;
    f.inject(syn);
    auto sa = f.expect_tcp(TCPF_SYN | TCPF_ACK);
    f.inject(seg(40000, 8080, 501, sa.tcp.seq.v + 1, PA, 65535), "GET / HTTP/1.0\r\n\r\n");
    auto a = f.expect_tcp(TCPF_ACK);
    CHECK(a.tcp.seq.v == sa.tcp.seq.v + 1);
    CHECK(a.tcp.ack.v == 501 + 18);
    usock s;
    REQUIRE(l.accept(&s) == 0);
    CHECK(s.state() == TCP_ESTABLISHED);
    CHECK(fionread(s) == 18);
    CHECK(s.recv_str() == "GET / HTTP/1.0\r\n\r\n");
    s.close();
    l.close();
}

TEST_CASE("receive queue: each buffer is charged at truesize to sk_rmem_alloc until read") {
    tcp_fixture f;
    conn c = open_active(f);
    const uint32_t ts = f.pool.truesize();
    CHECK(c.u.sk()->sk_rmem_alloc == 0);
    peer_sends(f, c, "x");
    CHECK(c.u.sk()->sk_rmem_alloc == int(ts));  // 1 byte costs a whole buffer
    peer_sends(f, c, pattern(1460));
    CHECK(c.u.sk()->sk_rmem_alloc == int(2 * ts));
    // The advertised window accounts for it: half the free buffer
    // (tcp_adv_win_scale = 1), from sk_rcvbuf minus the truesize charged.
    CHECK(tcp_space(c.u.sk()) == uint32_t(c.u.sk()->sk_rcvbuf - 2 * int(ts)) / 2);
    char b[8];
    CHECK(c.u.recv(b, 1) == 1);
    CHECK(c.u.sk()->sk_rmem_alloc == int(ts));  // first buffer released
    CHECK(c.u.recv(b, 8) == 8);
    CHECK(c.u.sk()->sk_rmem_alloc == int(ts));  // partly read: still charged
    c.u.recv_str();
    CHECK(c.u.sk()->sk_rmem_alloc == 0);
    c.u.close();
}

TEST_CASE("sim: small writes with Nagle arrive intact and in fewer segments than writes") {
    sim_pair p;
    usock c, s;
    connect_pair(p, 9100, c, s);
    const uint64_t segs_before = p.b.counters().tcp_out_segs;
    std::string sent;
    for (int i = 0; i < 200; ++i) {
        const std::string w = "w" + std::to_string(i) + ";";
        REQUIRE(c.send(w) == long(w.size()));
        sent += w;
        p.step();
    }
    std::string got;
    REQUIRE(p.run_until(
        [&] {
            char buf[4096];
            for (long n; (n = s.recv(buf, sizeof(buf))) > 0;) {
                got.append(buf, size_t(n));
            }
            return got.size() >= sent.size();
        },
        10 * NSEC_PER_SEC));
    CHECK(got == sent);
    CHECK(p.b.counters().tcp_out_segs - segs_before < 200);
    c.close();
    s.close();
}
