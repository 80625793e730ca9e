// Resets: the RST we send for segments that belong to no connection
// (RFC 9293 §3.10.7.1), connection refused, RST acceptance in every state
// (§3.10.7.3-4 with RFC 5961 §3.2 challenge ACKs), SYN in a synchronized
// state (RFC 5961 §4.2), ACKs of unsent data (§5.2) and abort (SO_LINGER 0).
// Kernel counterparts: tcp_v4_send_reset, tcp_reset, tcp_validate_incoming.
// Profile: linux. errno sequences checked against the kernel on 127.0.0.1.
#include "tcp/conn_fixture.hh"

using namespace dshim;
using namespace dshim::test;
using wire::TCPF_ACK;
using wire::TCPF_FIN;
using wire::TCPF_PSH;
using wire::TCPF_RST;
using wire::TCPF_SYN;

namespace {

constexpr uint32_t PEER_ISN = 700000;

conn open_conn(tcp_fixture& f, uint16_t pport = 80) {
    return dshim::test::open_active(f, {.mss = 0, .isn = PEER_ISN, .pport = pport});
}

}  // namespace

// ------------------------------------------------------------ closed port

TEST_CASE("closed port: SYN gets RST|ACK with seq 0, ack = SEG.SEQ + 1") {
    tcp_fixture f;
    f.inject(seg(40000, 9999, 1000, 0, TCPF_SYN));
    auto rst = f.expect_tcp(TCPF_RST | TCPF_ACK);
    check_seg(rst, 0, 1001);
    CHECK(rst.tcp.sport == 9999);
    CHECK(rst.tcp.dport == 40000);
    CHECK(rst.tcp.window == 0);
    CHECK(rst.payload.empty());
    CHECK(f.net.counters().tcp_out_rsts == 1);
    CHECK(f.net.counters().drop(drop_reason::tcp_no_socket) == 1);
    f.expect_no_tx();
}

TEST_CASE("closed port: SYN with data is answered with ack covering SYN and data") {
    tcp_fixture f;
    f.inject(seg(40000, 9999, 1000, 0, TCPF_SYN), std::string("0123456789"));
    check_seg(f.expect_tcp(TCPF_RST | TCPF_ACK), 0, 1011);
}

TEST_CASE("closed port: an ACK (with or without data) gets a bare RST with seq = SEG.ACK") {
    tcp_fixture f;
    f.inject(seg(40000, 9999, 500, 7777, TCPF_ACK));
    auto rst = f.expect_tcp(TCPF_RST);
    CHECK(rst.tcp.seq.v == 7777);
    f.inject(seg(40000, 9999, 500, 8888, TCPF_ACK | TCPF_PSH), std::string("data"));
    CHECK(f.expect_tcp(TCPF_RST).tcp.seq.v == 8888);
    f.inject(seg(40000, 9999, 500, 9999, TCPF_FIN | TCPF_ACK));
    CHECK(f.expect_tcp(TCPF_RST).tcp.seq.v == 9999);
    CHECK(f.net.counters().tcp_out_rsts == 3);
}

TEST_CASE("closed port: a FIN without ACK gets RST|ACK acking the FIN") {
    tcp_fixture f;
    f.inject(seg(40000, 9999, 300, 0, TCPF_FIN));
    check_seg(f.expect_tcp(TCPF_RST | TCPF_ACK), 0, 301);
}

TEST_CASE("closed port: a RST is never answered with a RST") {
    tcp_fixture f;
    f.inject(seg(40000, 9999, 300, 0, TCPF_RST));
    f.inject(seg(40000, 9999, 300, 77, TCPF_RST | TCPF_ACK));
    f.expect_no_tx();
    CHECK(f.net.counters().tcp_out_rsts == 0);
}

TEST_CASE("closed port: a bound but not listening socket does not take a SYN") {
    tcp_fixture f;
    usock b = usock::create(f.net);
    REQUIRE(b.bind(0, 9999) == 0);
    f.inject(seg(40000, 9999, 1000, 0, TCPF_SYN));
    check_seg(f.expect_tcp(TCPF_RST | TCPF_ACK), 0, 1001);
    CHECK(b.state() == TCP_CLOSE);
    b.close();
}

// ---------------------------------------------------------- refused

TEST_CASE("connect refused: RST|ACK for our SYN -> ECONNREFUSED from connect, then a new attempt may start") {
    tcp_fixture f;
    auto [c, syn] = open_syn_sent(f, 81);
    f.inject(seg(81, syn.tcp.sport, 0, syn.tcp.seq.v + 1, TCPF_RST | TCPF_ACK, 0));
    f.expect_no_tx();
    CHECK(c.state() == TCP_CLOSE);
    // Linux: POLLIN|POLLOUT|POLLERR|POLLHUP|POLLRDHUP (oracle 0x201d).
    const uint32_t m = c.poll();
    CHECK((m & (POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDHUP)) ==
          (POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDHUP));
    CHECK(c.connect(PEER_IP, 81) == -ECONNREFUSED);
    CHECK(f.net.counters().tcp_attempt_fails == 1);
    CHECK(lookup(f, conn{{}, syn.tcp.sport, 81, 0, 0}) == nullptr);
    // As on Linux, the next connect() is a fresh attempt.
    CHECK(c.connect(PEER_IP, 81) == -EINPROGRESS);
    f.expect_tcp(TCPF_SYN);
    c.close();
    CHECK(f.net.sock_count == 0);
}

TEST_CASE("connect refused: SO_ERROR reports ECONNREFUSED once; then ECONNABORTED, ENOTCONN, EPIPE (Linux)") {
    tcp_fixture f;
    auto [c, syn] = open_syn_sent(f, 81);
    f.inject(seg(81, syn.tcp.sport, 0, syn.tcp.seq.v + 1, TCPF_RST | TCPF_ACK, 0));
    CHECK(so_error(c) == ECONNREFUSED);
    CHECK(so_error(c) == 0);
    CHECK(c.connect(PEER_IP, 81) == -ECONNABORTED);
    char b[8];
    CHECK(c.recv(b, sizeof(b)) == -ENOTCONN);
    CHECK(c.send("x") == -EPIPE);
    c.close();
}

// ----------------------------------------------------------- SYN_SENT

TEST_CASE("syn_sent: RST with an unacceptable ACK is dropped silently; the SYN is retransmitted at 1 s") {
    tcp_fixture f;
    auto [c, syn] = open_syn_sent(f, 80);
    const uint32_t iss = syn.tcp.seq.v;
    f.inject(seg(80, syn.tcp.sport, 0, iss, TCPF_RST | TCPF_ACK));      // ack = ISS
    f.inject(seg(80, syn.tcp.sport, 0, iss + 2, TCPF_RST | TCPF_ACK));  // ack > SND.NXT
    f.inject(seg(80, syn.tcp.sport, 0, 0, TCPF_RST));                   // no ACK at all
    f.expect_no_tx();
    CHECK(c.state() == TCP_SYN_SENT);
    CHECK(c.connect(PEER_IP, 80) == -EALREADY);
    f.advance_ms(999);
    f.expect_no_tx();
    f.advance_ms(1);
    auto again = f.expect_tcp(TCPF_SYN);
    CHECK(again.tcp.seq.v == iss);
    c.close();
}

TEST_CASE("syn_sent: SYN-ACK with a bad ACK is answered by RST seq=SEG.ACK; a good one still completes") {
    tcp_fixture f;
    auto [c, syn] = open_syn_sent(f, 80);
    const uint32_t iss = syn.tcp.seq.v;
    f.inject(seg(80, syn.tcp.sport, 5000, iss + 1000, TCPF_SYN | TCPF_ACK));
    auto rst = f.expect_tcp(TCPF_RST);
    CHECK(rst.tcp.seq.v == iss + 1000);
    f.expect_no_tx();
    CHECK(c.state() == TCP_SYN_SENT);
    f.inject(seg(80, syn.tcp.sport, 5000, iss + 1, TCPF_SYN | TCPF_ACK));
    check_seg(f.expect_tcp(TCPF_ACK), iss + 1, 5001);
    CHECK(c.state() == TCP_ESTABLISHED);
    c.close();
}

// ----------------------------------------------------------- SYN_RECV

TEST_CASE("syn_recv: RST at RCV.NXT silently drops the embryo; the listener is unaffected") {
    tcp_fixture f;
    usock l = usock::create(f.net);
    REQUIRE(l.bind(0, 8080) == 0);
    REQUIRE(l.listen(8) == 0);
    f.inject(seg(40000, 8080, 1000, 0, TCPF_SYN));
    auto sa = f.expect_tcp(TCPF_SYN | TCPF_ACK);
    conn probe{{}, 8080, 40000, 0, 0};
    REQUIRE(lookup(f, probe) != nullptr);
    // Out of window: ignored.
    f.inject(seg(40000, 8080, 1001 + 1000000, 0, TCPF_RST));
    f.expect_no_tx();
    REQUIRE(lookup(f, probe) != nullptr);
    // Exact: the embryo goes, nothing is sent, nothing to accept.
    f.inject(seg(40000, 8080, 1001, 0, TCPF_RST));
    f.expect_no_tx();
    CHECK(lookup(f, probe) == nullptr);
    usock none;
    CHECK(l.accept(&none) == -EAGAIN);
    CHECK(inet_csk(l.sk())->icsk_syn_queue_len == 0);
    CHECK(f.net.sock_count == 1);
    CHECK(l.state() == TCP_LISTEN);
    // No SYN-ACK retransmission for the dead embryo.
    f.advance_ms(3000);
    f.expect_no_tx();
    // The same peer port connects again and succeeds.
    f.inject(seg(40000, 8080, 9000, 0, TCPF_SYN));
    auto sa2 = f.expect_tcp(TCPF_SYN | TCPF_ACK);
    CHECK(sa2.tcp.ack.v == 9001);
    f.inject(seg(40000, 8080, 9001, sa2.tcp.seq.v + 1, TCPF_ACK));
    usock a;
    REQUIRE(l.accept(&a) == 0);
    (void)sa;
    a.close();
    l.close();
    f.drain_tcp();
}

// -------------------------------------------------------- ESTABLISHED

TEST_CASE("established: RST at RCV.NXT -> CLOSE; recv gives ECONNRESET once then 0; send EPIPE (Linux)") {
    tcp_fixture f;
    conn c = open_conn(f);
    const uint64_t resets = f.net.counters().tcp_estab_resets;
    f.inject(c.from_peer(TCPF_RST));
    f.expect_no_tx();
    CHECK(c.u.state() == TCP_CLOSE);
    CHECK(f.net.counters().tcp_estab_resets == resets + 1);
    CHECK(lookup(f, c) == nullptr);
    const uint32_t m = c.u.poll();
    CHECK((m & (POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDHUP)) ==
          (POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDHUP));
    char b[8];
    CHECK(c.u.recv(b, sizeof(b)) == -ECONNRESET);
    CHECK(c.u.recv(b, sizeof(b)) == 0);
    CHECK(c.u.send("x") == -EPIPE);
    CHECK(c.u.send("x") == -EPIPE);
    CHECK((c.u.poll() & POLLERR) == 0);  // the error was taken
    c.u.close();
    f.expect_no_tx();
    CHECK(f.net.sock_count == 0);
}

TEST_CASE("established: after a RST the first send takes ECONNRESET, then recv gives 0 (Linux)") {
    tcp_fixture f;
    conn c = open_conn(f);
    f.inject(c.from_peer(TCPF_RST | TCPF_ACK));
    CHECK(c.u.state() == TCP_CLOSE);
    CHECK(c.u.send("x") == -ECONNRESET);
    CHECK(c.u.recv_str() == "");
    CHECK(so_error(c.u) == 0);
    c.u.close();
}

TEST_CASE("established: after a RST, SO_ERROR is ECONNRESET once and recv then gives 0") {
    tcp_fixture f;
    conn c = open_conn(f);
    f.inject(c.from_peer(TCPF_RST));
    CHECK(so_error(c.u) == ECONNRESET);
    CHECK(so_error(c.u) == 0);
    CHECK(c.u.recv_str() == "");
    c.u.close();
}

TEST_CASE("established: data queued before a RST stays readable, then ECONNRESET, then 0 (Linux)") {
    tcp_fixture f;
    conn c = open_conn(f);
    f.inject(c.from_peer(TCPF_ACK | TCPF_PSH), std::string("abc"));
    f.drain_tcp();
    c.rcv += 3;
    f.inject(c.from_peer(TCPF_RST));
    CHECK(c.u.state() == TCP_CLOSE);
    // Linux keeps the queued bytes readable after a reset (tcp_reset does
    // not purge the receive queue): data, then the error, then 0.
    CHECK(c.u.recv_str() == "abc");
    char b[8];
    CHECK(c.u.recv(b, sizeof(b)) == -ECONNRESET);
    CHECK(c.u.recv(b, sizeof(b)) == 0);
    c.u.close();
    f.expect_no_tx();  // nothing unread any more: no RST back
}

TEST_CASE("established: in-window RST not at RCV.NXT -> challenge ACK, connection stays (RFC 5961 §3.2)") {
    tcp_fixture f;
    conn c = open_conn(f);
    f.advance_ms(1000);
    const uint64_t ch = f.net.counters().tcp_challenge_acks;
    f.inject(c.from_peer_at(TCPF_RST, 10));
    auto ack = f.expect_tcp(TCPF_ACK);
    check_seg(ack, c.snd, c.rcv);
    f.expect_no_tx();
    CHECK(c.u.state() == TCP_ESTABLISHED);
    CHECK(f.net.counters().tcp_challenge_acks == ch + 1);
    CHECK(so_error(c.u) == 0);
    // Challenge ACKs are rate limited per socket (Linux: 500 ms).
    f.inject(c.from_peer_at(TCPF_RST, 20));
    f.expect_no_tx();
    f.advance_ms(500);
    f.inject(c.from_peer_at(TCPF_RST, 30));
    check_seg(f.expect_tcp(TCPF_ACK), c.snd, c.rcv);
    // The peer, having seen the challenge, resets with the exact number.
    f.inject(c.from_peer(TCPF_RST));
    CHECK(c.u.state() == TCP_CLOSE);
    CHECK(so_error(c.u) == ECONNRESET);
    c.u.close();
}

TEST_CASE("established: RST outside the window is ignored without a reply") {
    tcp_fixture f;
    conn c = open_conn(f);
    f.inject(c.from_peer_at(TCPF_RST, 1000000));
    f.inject(c.from_peer_at(TCPF_RST, -10));  // old
    f.inject(c.from_peer_at(TCPF_RST | TCPF_ACK, -1));
    f.expect_no_tx();
    CHECK(c.u.state() == TCP_ESTABLISHED);
    CHECK(so_error(c.u) == 0);
    // Still works.
    f.inject(c.from_peer(TCPF_ACK | TCPF_PSH), std::string("ok"));
    check_seg(f.expect_tcp(TCPF_ACK), c.snd, c.rcv + 2);
    CHECK(c.u.recv_str() == "ok");
    c.u.close();
    f.drain_tcp();
}

TEST_CASE("established: a SYN, in window or not, gets a challenge ACK and changes nothing (RFC 5961 §4)") {
    tcp_fixture f;
    conn c = open_conn(f);
    f.advance_ms(1000);
    f.inject(seg(c.pport, c.lport, c.rcv + 5, 0, TCPF_SYN));
    check_seg(f.expect_tcp(TCPF_ACK), c.snd, c.rcv);
    f.expect_no_tx();
    CHECK(c.u.state() == TCP_ESTABLISHED);
    f.advance_ms(600);
    f.inject(seg(c.pport, c.lport, c.rcv + 3000000, 0, TCPF_SYN));
    check_seg(f.expect_tcp(TCPF_ACK), c.snd, c.rcv);
    CHECK(c.u.state() == TCP_ESTABLISHED);
    CHECK(so_error(c.u) == 0);
    CHECK(f.net.counters().tcp_out_rsts == 0);
    c.u.close();
    f.drain_tcp();
}

TEST_CASE("established: ACK of data never sent -> ACK back, the segment's data is dropped (RFC 9293 §3.10.7.4)") {
    tcp_fixture f;
    conn c = open_conn(f);
    f.advance_ms(1000);
    f.inject(seg(c.pport, c.lport, c.rcv, c.snd + 1000, TCPF_ACK | TCPF_PSH), std::string("bogus"));
    check_seg(f.expect_tcp(TCPF_ACK), c.snd, c.rcv);
    f.expect_no_tx();
    char b[8];
    CHECK(c.u.recv(b, sizeof(b)) == -EAGAIN);
    CHECK(c.u.tp()->snd_una.v == c.snd);
    CHECK(c.u.state() == TCP_ESTABLISHED);
    c.u.close();
    f.drain_tcp();
}

// ------------------------------------------------------ closing states

TEST_CASE("fin_wait1: exact RST closes with ECONNRESET") {
    tcp_fixture f;
    conn c = open_conn(f);
    REQUIRE(c.u.shutdown(SHUT_WR) == 0);
    f.expect_tcp(TCPF_FIN | TCPF_ACK);
    REQUIRE(c.u.state() == TCP_FIN_WAIT1);
    f.inject(c.from_peer(TCPF_RST));
    f.expect_no_tx();
    CHECK(c.u.state() == TCP_CLOSE);
    CHECK(so_error(c.u) == ECONNRESET);
    CHECK(lookup(f, c) == nullptr);
    f.advance_ms(5000);
    f.expect_no_tx();  // no FIN retransmission
    c.u.close();
}

TEST_CASE("fin_wait1 orphan: exact RST frees it, nothing is sent, no FIN retransmission") {
    tcp_fixture f;
    conn c = open_conn(f);
    c.u.close();
    f.expect_tcp(TCPF_FIN | TCPF_ACK);
    f.inject(c.from_peer(TCPF_RST));
    f.expect_no_tx();
    CHECK(lookup(f, c) == nullptr);
    CHECK(f.net.sock_count == 0);
    CHECK(f.net.orphan_count == 0);
    f.advance_ms(5000);
    f.expect_no_tx();
}

TEST_CASE("fin_wait2: exact RST closes with ECONNRESET; an in-window one is challenged") {
    tcp_fixture f;
    conn c = open_conn(f);
    REQUIRE(c.u.shutdown(SHUT_WR) == 0);
    f.expect_tcp(TCPF_FIN | TCPF_ACK);
    c.snd += 1;
    f.inject(c.from_peer(TCPF_ACK));
    REQUIRE(c.u.state() == TCP_FIN_WAIT2);
    f.inject(c.from_peer_at(TCPF_RST, 7));
    check_seg(f.expect_tcp(TCPF_ACK), c.snd, c.rcv);
    CHECK(c.u.state() == TCP_FIN_WAIT2);
    f.inject(c.from_peer(TCPF_RST));
    CHECK(c.u.state() == TCP_CLOSE);
    CHECK(so_error(c.u) == ECONNRESET);
    c.u.close();
    f.expect_no_tx();
}

TEST_CASE("close_wait: RST gives EPIPE (Linux); recv still sees end of stream 0, send EPIPE") {
    tcp_fixture f;
    conn c = open_conn(f);
    f.inject(c.from_peer(TCPF_FIN | TCPF_ACK));
    f.drain_tcp();
    c.rcv += 1;
    REQUIRE(c.u.state() == TCP_CLOSE_WAIT);
    f.inject(c.from_peer(TCPF_RST));
    CHECK(c.u.state() == TCP_CLOSE);
    CHECK((c.u.poll() & POLLERR) != 0);
    CHECK(so_error(c.u) == EPIPE);
    CHECK(c.u.recv_str() == "");
    CHECK(c.u.send("x") == -EPIPE);
    c.u.close();
    f.expect_no_tx();
}

TEST_CASE("close_wait: recv after the RST returns 0 (FIN seen first), the error stays for send") {
    tcp_fixture f;
    conn c = open_conn(f);
    f.inject(c.from_peer(TCPF_FIN | TCPF_ACK));
    f.drain_tcp();
    c.rcv += 1;
    f.inject(c.from_peer(TCPF_RST));
    CHECK(c.u.recv_str() == "");
    CHECK(c.u.send("x") == -EPIPE);
    CHECK(c.u.send("x") == -EPIPE);
    c.u.close();
}

TEST_CASE("last_ack: exact RST closes it (ECONNRESET); orphan variant is freed") {
    {
        tcp_fixture f;
        conn c = open_conn(f);
        f.inject(c.from_peer(TCPF_FIN | TCPF_ACK));
        f.drain_tcp();
        c.rcv += 1;
        REQUIRE(c.u.shutdown(SHUT_WR) == 0);
        f.expect_tcp(TCPF_FIN | TCPF_ACK);
        REQUIRE(c.u.state() == TCP_LAST_ACK);
        f.inject(c.from_peer(TCPF_RST));
        f.expect_no_tx();
        CHECK(c.u.state() == TCP_CLOSE);
        CHECK(so_error(c.u) == ECONNRESET);
        c.u.close();
    }
    {
        tcp_fixture f;
        conn c = open_conn(f);
        f.inject(c.from_peer(TCPF_FIN | TCPF_ACK));
        f.drain_tcp();
        c.rcv += 1;
        c.u.close();
        f.expect_tcp(TCPF_FIN | TCPF_ACK);
        REQUIRE(lookup(f, c) != nullptr);
        f.inject(c.from_peer(TCPF_RST));
        f.expect_no_tx();
        CHECK(lookup(f, c) == nullptr);
        CHECK(f.net.sock_count == 0);
        f.advance_ms(5000);
        f.expect_no_tx();
    }
}

TEST_CASE("closing: exact RST closes it with ECONNRESET") {
    tcp_fixture f;
    conn c = open_conn(f);
    REQUIRE(c.u.shutdown(SHUT_WR) == 0);
    f.expect_tcp(TCPF_FIN | TCPF_ACK);
    f.inject(c.from_peer(TCPF_FIN | TCPF_ACK));  // does not ack our FIN
    f.expect_tcp(TCPF_ACK);
    c.rcv += 1;
    REQUIRE(c.u.state() == TCP_CLOSING);
    f.inject(c.from_peer(TCPF_RST));
    f.expect_no_tx();
    CHECK(c.u.state() == TCP_CLOSE);
    CHECK(so_error(c.u) == ECONNRESET);
    c.u.close();
    f.advance_ms(5000);
    f.expect_no_tx();
}

TEST_CASE("time_wait: exact RST kills it (Linux, tcp_rfc1337=0); an inexact one is ignored") {
    tcp_fixture f;
    conn c = open_conn(f);
    c.u.close();
    f.expect_tcp(TCPF_FIN | TCPF_ACK);
    c.snd += 1;
    f.inject(c.from_peer(TCPF_FIN | TCPF_ACK));
    f.expect_tcp(TCPF_ACK);
    c.rcv += 1;
    REQUIRE(lookup(f, c) != nullptr);
    REQUIRE(lookup(f, c)->sk_state == TCP_TIME_WAIT);
    f.inject(c.from_peer_at(TCPF_RST, 5));
    f.expect_no_tx();
    REQUIRE(lookup(f, c) != nullptr);
    f.inject(c.from_peer(TCPF_RST));
    f.expect_no_tx();
    CHECK(lookup(f, c) == nullptr);
    CHECK(f.net.ehash_count == 0);
    // The tuple is closed now: a segment gets the closed-port RST.
    f.inject(c.from_peer(TCPF_ACK));
    CHECK(f.expect_tcp(TCPF_RST).tcp.seq.v == c.snd);
}

// ------------------------------------------------------------ abort

TEST_CASE("abort: SO_LINGER {1,0} with unacked data sends RST|ACK at SND.NXT and drops everything") {
    tcp_fixture f;
    const size_t pool_base = f.pool.in_use();
    conn c = open_conn(f);
    REQUIRE(c.u.send(std::string(100, 'q')) == 100);
    auto d = f.expect_tcp(TCPF_ACK | TCPF_PSH);
    check_seg(d, c.snd, c.rcv);
    linger lg{1, 0};
    REQUIRE(c.u.s->ops->setsockopt(c.u.s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
    const uint64_t rsts = f.net.counters().tcp_out_rsts;
    c.u.close();
    auto rst = f.expect_tcp(TCPF_RST | TCPF_ACK);
    check_seg(rst, c.snd + 100, c.rcv);  // SND.NXT, past the unacked data
    CHECK(rst.payload.empty());
    CHECK(f.net.counters().tcp_out_rsts == rsts + 1);
    f.expect_no_tx();
    CHECK(lookup(f, c) == nullptr);
    CHECK(f.net.sock_count == 0);
    f.advance_ms(10000);
    f.expect_no_tx();  // no retransmission of the dropped data
    CHECK(f.pool.in_use() == pool_base);
}

TEST_CASE("abort: connect(AF_UNSPEC) on an established socket sends RST and leaves it reusable") {
    tcp_fixture f;
    conn c = open_conn(f);
    sockaddr sa{};
    sa.sa_family = AF_UNSPEC;
    REQUIRE(c.u.s->ops->connect(c.u.s, &sa, sizeof(sa), 0) == 0);
    check_seg(f.expect_tcp(TCPF_RST | TCPF_ACK), c.snd, c.rcv);
    CHECK(c.u.state() == TCP_CLOSE);
    CHECK(lookup(f, c) == nullptr);
    // Linux: the socket can connect again.
    CHECK(c.u.connect(PEER_IP, 80) == -EINPROGRESS);
    f.expect_tcp(TCPF_SYN);
    c.u.close();
}

TEST_CASE("sim: an abort on one stack resets the other: ECONNRESET there, nothing left on either") {
    sim_pair p(delayed_wire());
    auto [l, c, s] = open_sim(p, 7200);
    linger lg{1, 0};
    REQUIRE(s.s->ops->setsockopt(s.s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
    s.close();
    REQUIRE(p.run_until([&] { return c.state() == TCP_CLOSE; }, 5 * NSEC_PER_SEC));
    char b[4];
    CHECK(c.recv(b, sizeof(b)) == -ECONNRESET);
    CHECK(c.recv(b, sizeof(b)) == 0);
    c.close();
    l.close();
    p.run_for(NSEC_PER_SEC);
    CHECK(p.a.sock_count == 0);
    CHECK(p.b.sock_count == 0);
    CHECK(p.a.ehash_count == 0);
    CHECK(p.b.ehash_count == 0);
}
