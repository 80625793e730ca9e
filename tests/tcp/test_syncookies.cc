// SYN cookies (Linux semantics, net/ipv4/syncookies.c): a full SYN queue (or
// tcp_syncookies=2) answers with a stateless cookie SYN-ACK; the final ACK
// rebuilds the child in ESTABLISHED; forged or stale cookies get a RST.
// TCP options survive only through the timestamp low bits. Profile: linux.
#include "ipv4/syncookies.hh"
#include "tcp/tcp_fixture.hh"

using namespace dshim;
using namespace dshim::test;
using wire::TCPF_ACK;
using wire::TCPF_PSH;
using wire::TCPF_RST;
using wire::TCPF_SYN;

namespace {

constexpr uint16_t LPORT = 8080;

usock make_listener(tcp_fixture& f, int backlog) {
    usock l = usock::create(f.net);
    REQUIRE(l.bind(0, LPORT) == 0);
    REQUIRE(l.listen(backlog) == 0);
    return l;
}

// Long waits in 1 s steps, discarding what was sent (SYN-ACK retransmissions
// of the embryos would otherwise fill the test device's tx ring).
void wait_s(tcp_fixture& f, uint32_t s) {
    for (uint32_t i = 0; i < s; ++i) {
        f.advance_ms(1000);
        f.dev.clear_tx();
    }
}

sock* lookup(tcp_fixture& f, uint16_t pport) { return inet_lookup_established(f.net, PEER_IP, pport, LOCAL_IP, LPORT); }

// Fills the SYN queue (8 embryos, the minimum) from ports 1000.. .
void fill_syn_queue(tcp_fixture& f, usock& l) {
    for (uint16_t i = 0; i < 8; ++i) {
        f.inject(seg(uint16_t(1000 + i), LPORT, 5000u * i, 0, TCPF_SYN));
        f.expect_tcp(TCPF_SYN | TCPF_ACK);
    }
    REQUIRE(inet_csk(l.sk())->icsk_syn_queue_len == 8);
}

wire::tcp_repr syn_with_mss(uint16_t pport, uint32_t pisn, uint16_t mss) {
    auto s = seg(pport, LPORT, pisn, 0, TCPF_SYN);
    s.opt.has_mss = true;
    s.opt.mss = mss;
    return s;
}

// A listener (backlog 4) with a full SYN queue: the next SYN gets a cookie.
usock full_listener(tcp_fixture& f) {
    usock l = make_listener(f, 4);
    fill_syn_queue(f, l);
    return l;
}

// The peer's SYN, and the SYN-ACK we answer it with.
parsed_frame syn_synack(tcp_fixture& f, const wire::tcp_repr& syn) {
    f.inject(syn);
    return f.expect_tcp(TCPF_SYN | TCPF_ACK);
}

}  // namespace

TEST_CASE("syncookies: full SYN queue answers with a cookie and keeps no state", "[syncookies]") {
    tcp_fixture f;
    usock l = full_listener(f);
    auto sa = syn_synack(f, syn_with_mss(2000, 777, 1460));
    CHECK(sa.tcp.ack.v == 778);
    CHECK(sa.tcp.opt.has_mss);
    CHECK_FALSE(sa.tcp.opt.has_wscale);  // no timestamps: nothing else remembered
    CHECK_FALSE(sa.tcp.opt.sack_permitted);
    CHECK_FALSE(sa.tcp.opt.has_ts);
    CHECK(f.net.counters().tcp_syncookies_sent == 1);
    CHECK(inet_csk(l.sk())->icsk_syn_queue_len == 8);
    CHECK(lookup(f, 2000) == nullptr);
    l.close();
}

TEST_CASE("syncookies: a valid cookie ACK gives an established socket carrying data both ways", "[syncookies]") {
    tcp_fixture f;
    usock l = full_listener(f);
    auto sa = syn_synack(f, syn_with_mss(2000, 777, 1300));
    const uint32_t iss = sa.tcp.seq.v;
    f.inject(seg(2000, LPORT, 778, iss + 1, TCPF_ACK | TCPF_PSH), std::string("hello"));
    CHECK(f.net.counters().tcp_syncookies_recv == 1);
    sock* c = lookup(f, 2000);
    REQUIRE(c != nullptr);
    CHECK(c->sk_state == TCP_ESTABLISHED);
    CHECK(tcp_sk(c)->rx_opt.mss_clamp == 1300);
    CHECK_FALSE(tcp_sk(c)->rx_opt.wscale_ok);
    CHECK_FALSE(tcp_sk(c)->rx_opt.sack_ok);
    usock a;
    REQUIRE(l.accept(&a) == 0);
    CHECK(a.recv_str() == "hello");
    REQUIRE(a.send(std::string("world")) == 5);
    bool seen = false;
    for (auto& fr : f.drain_tcp()) {
        if (fr.tcp.dport == 2000 && fr.payload.size() == 5) {
            CHECK(fr.tcp.seq.v == iss + 1);
            CHECK(fr.tcp.ack.v == 783);
            CHECK(std::string(reinterpret_cast<const char*>(fr.payload.data()), 5) == "world");
            seen = true;
        }
    }
    CHECK(seen);
    // The embryos are untouched.
    CHECK(inet_csk(l.sk())->icsk_syn_queue_len == 8);
    l.close();
    a.close();
}

TEST_CASE("syncookies: with timestamps the wscale and SACK-permitted are restored", "[syncookies]") {
    tcp_fixture f;
    usock l = full_listener(f);
    f.advance_ms(1234);
    f.dev.clear_tx();
    auto syn = syn_with_mss(2001, 9000, 1460);
    syn.opt.has_wscale = true;
    syn.opt.wscale = 7;
    syn.opt.sack_permitted = true;
    syn.opt.has_ts = true;
    syn.opt.ts_val = 100;
    auto sa = syn_synack(f, syn);
    CHECK(sa.tcp.opt.has_wscale);
    CHECK(sa.tcp.opt.sack_permitted);
    REQUIRE(sa.tcp.opt.has_ts);
    CHECK(sa.tcp.opt.ts_ecr == 100);
    CHECK((sa.tcp.opt.ts_val & 0xf) == 7);
    f.advance_ms(10);
    f.dev.clear_tx();
    auto ack = seg(2001, LPORT, 9001, sa.tcp.seq.v + 1, TCPF_ACK);
    ack.opt.has_ts = true;
    ack.opt.ts_val = 110;
    ack.opt.ts_ecr = sa.tcp.opt.ts_val;
    f.inject(ack);
    sock* c = lookup(f, 2001);
    REQUIRE(c != nullptr);
    CHECK(c->sk_state == TCP_ESTABLISHED);
    const auto& rx = tcp_sk(c)->rx_opt;
    CHECK(rx.tstamp_ok);
    CHECK(rx.wscale_ok);
    CHECK(rx.snd_wscale == 7);
    CHECK(rx.rcv_wscale == sa.tcp.opt.wscale);
    CHECK(rx.sack_ok);
    usock a;
    CHECK(l.accept(&a) == 0);
    l.close();
    a.close();
}

TEST_CASE("syncookies: forged and stale cookies get a RST and count as failed", "[syncookies]") {
    tcp_fixture f;
    usock l = full_listener(f);
    SECTION("forged") {
        auto sa = syn_synack(f, syn_with_mss(2002, 4242, 1460));
        f.inject(seg(2002, LPORT, 4243, sa.tcp.seq.v + 2, TCPF_ACK));
        auto rst = f.expect_tcp(TCPF_RST);
        CHECK(rst.tcp.seq.v == sa.tcp.seq.v + 2);
        CHECK(f.net.counters().tcp_syncookies_failed == 1);
        CHECK(f.net.counters().tcp_syncookies_recv == 0);
        CHECK(lookup(f, 2002) == nullptr);
    }
    SECTION("one counter old is still accepted") {
        auto sa = syn_synack(f, syn_with_mss(2003, 4242, 1460));
        wait_s(f, syncookie_period_sec);
        f.inject(seg(2003, LPORT, 4243, sa.tcp.seq.v + 1, TCPF_ACK));
        CHECK(f.net.counters().tcp_syncookies_recv == 1);
        REQUIRE(lookup(f, 2003) != nullptr);
        CHECK(lookup(f, 2003)->sk_state == TCP_ESTABLISHED);
    }
    SECTION("two counters old is stale") {
        auto sa = syn_synack(f, syn_with_mss(2004, 4242, 1460));
        wait_s(f, 2 * syncookie_period_sec);
        f.inject_raw(make_arp_request(PEER_MAC, PEER_IP, LOCAL_IP));  // the neighbour entry aged out
        f.dev.clear_tx();
        f.inject(seg(2004, LPORT, 4243, sa.tcp.seq.v + 1, TCPF_ACK));
        f.expect_tcp(TCPF_RST);
        CHECK(f.net.counters().tcp_syncookies_failed == 1);
        CHECK(lookup(f, 2004) == nullptr);
    }
    l.close();
}

TEST_CASE("syncookies: an ACK is checked as a cookie only within two minutes of the last cookie sent", "[syncookies]") {
    // Linux's tcp_synq_no_recent_overflow: a stray ACK to a listener that
    // sent no cookie lately is answered by a RST and is not a failed cookie.
    tcp_fixture f;
    usock l = make_listener(f, 4);
    f.inject(seg(2100, LPORT, 100, 12345, TCPF_ACK));
    f.expect_tcp(TCPF_RST);
    CHECK(f.net.counters().tcp_syncookies_failed == 0);
    // After a cookie went out, a wrong ACK is a failed cookie...
    fill_syn_queue(f, l);
    f.inject(syn_with_mss(2101, 4242, 1460));
    auto sa = f.expect_tcp(TCPF_SYN | TCPF_ACK);
    CHECK(f.net.counters().tcp_syncookies_sent == 1);
    f.inject(seg(2102, LPORT, 100, sa.tcp.seq.v + 7, TCPF_ACK));
    f.expect_tcp(TCPF_RST);
    CHECK(f.net.counters().tcp_syncookies_failed == 1);
    // ...for two cookie periods and a second; then stray again.
    wait_s(f, 2 * syncookie_period_sec + 2);
    f.inject_raw(make_arp_request(PEER_MAC, PEER_IP, LOCAL_IP));  // the neighbour entry aged out
    f.dev.clear_tx();
    f.inject(seg(2103, LPORT, 100, sa.tcp.seq.v + 7, TCPF_ACK));
    f.expect_tcp(TCPF_RST);
    CHECK(f.net.counters().tcp_syncookies_failed == 1);
    l.close();
}

TEST_CASE("syncookies=0: a full SYN queue drops the SYN", "[syncookies]") {
    tcp_fixture f;
    f.net.sysctl().syncookies = 0;
    usock l = full_listener(f);
    const auto drops = f.net.counters().tcp_listen_drops;
    f.inject(syn_with_mss(2005, 1, 1460));
    f.expect_no_tx();
    CHECK(f.net.counters().tcp_listen_drops == drops + 1);
    CHECK(f.net.counters().tcp_syncookies_sent == 0);
    // And an ACK that looks like a cookie is not checked: RST as before.
    f.inject(seg(2005, LPORT, 2, 12345, TCPF_ACK));
    f.expect_tcp(TCPF_RST);
    CHECK(f.net.counters().tcp_syncookies_failed == 0);
    l.close();
}

TEST_CASE("syncookies=2: every SYN gets a cookie", "[syncookies]") {
    tcp_fixture f;
    f.net.sysctl().syncookies = 2;
    usock l = make_listener(f, 4);
    auto sa = syn_synack(f, syn_with_mss(2006, 50, 1440));
    CHECK(inet_csk(l.sk())->icsk_syn_queue_len == 0);
    CHECK(lookup(f, 2006) == nullptr);
    CHECK(f.net.counters().tcp_syncookies_sent == 1);
    f.inject(seg(2006, LPORT, 51, sa.tcp.seq.v + 1, TCPF_ACK));
    REQUIRE(lookup(f, 2006) != nullptr);
    CHECK(tcp_sk(lookup(f, 2006))->rx_opt.mss_clamp == 1440);
    usock a;
    CHECK(l.accept(&a) == 0);
    l.close();
    a.close();
}

TEST_CASE("syncookies: a full accept queue drops the cookie ACK (Linux)", "[syncookies]") {
    tcp_fixture f;
    f.net.sysctl().syncookies = 2;
    usock l = make_listener(f, 0);  // one connection fits
    // Both SYNs before any ACK: the accept queue is empty when they come.
    uint32_t iss[2];
    for (uint16_t i = 0; i < 2; ++i) {
        iss[i] = syn_synack(f, syn_with_mss(uint16_t(3000 + i), 10, 1460)).tcp.seq.v;
    }
    for (uint16_t i = 0; i < 2; ++i) {
        f.inject(seg(uint16_t(3000 + i), LPORT, 11, iss[i] + 1, TCPF_ACK));
    }
    f.expect_no_tx();  // the second ACK is dropped, not reset
    CHECK(f.net.counters().tcp_syncookies_recv == 2);
    CHECK(l.sk()->sk_ack_backlog == 1);
    CHECK(lookup(f, 3000) != nullptr);
    CHECK(lookup(f, 3001) == nullptr);
    CHECK(f.net.counters().tcp_listen_overflows >= 1);
    l.close();
}

TEST_CASE("syncookies: a 10k SYN flood does not hurt an established transfer or a new handshake", "[syncookies]") {
    tcp_fixture f;
    usock l = make_listener(f, 1);
    // The data connection, before the flood.
    auto sa = syn_synack(f, syn_with_mss(4000, 100, 1460));
    f.inject(seg(4000, LPORT, 101, sa.tcp.seq.v + 1, TCPF_ACK));
    usock a;
    REQUIRE(l.accept(&a) == 0);
    uint32_t pseq = 101;
    const uint32_t iss = sa.tcp.seq.v;
    std::string got;
    uint64_t allocs_before = f.net.counters().tcp_passive_opens;
    for (uint32_t i = 0; i < 10000; ++i) {
        f.inject(syn_with_mss(uint16_t(10000 + i), 7 * i, 1460));
        if (i % 100 == 0) {
            const std::string chunk = "chunk" + std::to_string(i / 100) + ";";
            f.inject(seg(4000, LPORT, pseq, iss + 1, TCPF_ACK | TCPF_PSH), chunk);
            pseq += uint32_t(chunk.size());
            got += a.recv_str();
            f.dev.clear_tx();
        }
        if (i % 1000 == 0) {
            f.dev.clear_tx();
        }
    }
    f.dev.clear_tx();
    std::string want;
    for (uint32_t i = 0; i < 100; ++i) {
        want += "chunk" + std::to_string(i) + ";";
    }
    CHECK(got == want);
    // Only the first SYNs (up to the SYN queue limit) became embryos.
    CHECK(inet_csk(l.sk())->icsk_syn_queue_len == 8);
    CHECK(f.net.counters().tcp_passive_opens - allocs_before == 8);
    CHECK(f.net.counters().tcp_syncookies_sent == 10000 - 8);
    // Our direction still works.
    REQUIRE(a.send(std::string("ok")) == 2);
    bool seen = false;
    for (auto& fr : f.drain_tcp()) {
        seen = seen || (fr.tcp.dport == 4000 && fr.payload.size() == 2);
    }
    CHECK(seen);
    // A legitimate client completes through a cookie.
    auto sa2 = syn_synack(f, syn_with_mss(60000, 31337, 1460));
    f.inject(seg(60000, LPORT, 31338, sa2.tcp.seq.v + 1, TCPF_ACK));
    REQUIRE(lookup(f, 60000) != nullptr);
    CHECK(lookup(f, 60000)->sk_state == TCP_ESTABLISHED);
    usock b;
    CHECK(l.accept(&b) == 0);
    l.close();
    a.close();
    b.close();
}
