// TCP-internal pacing (issue 5's pacing hooks; Linux's EDT pacing with
// SO_MAX_PACING_RATE): the option's 32/64-bit forms and errno, departures
// spaced len/rate apart once the initial window is out, the late-departure
// credit, sk_pacing_rate from cwnd/srtt in TCP_INFO, inheritance by accepted
// children, and an unpaced socket still sending its window at once.
#include "tcp/conn_fixture.hh"

// After our headers, as stack/ipv4/tcp_sockopt.cc does: <linux/socket.h>
// defines SOCK_*BUF_LOCK macros that shadow sock_flags.
#include <linux/tcp.h>
#undef SOCK_SNDBUF_LOCK
#undef SOCK_RCVBUF_LOCK

using namespace dshim;
using namespace dshim::test;

namespace {

constexpr uint32_t MSS = 1448;  // the peer offers it; no timestamps, so segments carry exactly this

int set_rate(usock& u, const void* v, unsigned len) {
    return u.s->ops->setsockopt(u.s, SOL_SOCKET, SO_MAX_PACING_RATE, v, len);
}

int set_rate64(usock& u, uint64_t r) { return set_rate(u, &r, sizeof(r)); }

uint64_t get_rate64(usock& u) {
    uint64_t v = 0;
    unsigned len = sizeof(v);
    REQUIRE(u.s->ops->getsockopt(u.s, SOL_SOCKET, SO_MAX_PACING_RATE, &v, &len) == 0);
    REQUIRE(len == sizeof(v));
    return v;
}

tcp_info get_info(usock& u) {
    tcp_info ti{};
    unsigned len = sizeof(ti);
    REQUIRE(u.s->ops->getsockopt(u.s, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0);
    return ti;
}

// A connection whose peer offers a large scaled window and an MSS that makes
// our segments exactly MSS bytes (no timestamps).
conn open(tcp_fixture& f, uint64_t rtt_ms) {
    peer_syn_opts o;
    o.mss = MSS;
    o.wscale = 7;
    o.rtt_ms = rtt_ms;
    return open_active(f, o);
}

// Departure times: steps virtual time to each timer (pacing's included) up
// to `end`, collecting the data segments sent and when.
struct departure {
    nsec_t t;
    uint32_t seq;
};

std::vector<departure> run_collect(tcp_fixture& f, nsec_t end) {
    std::vector<departure> out;
    auto take = [&] {
        for (auto& fr : f.drain_tcp()) {
            if (!fr.payload.empty()) {
                out.push_back({f.clk.now(), fr.tcp.seq.v});
            }
        }
    };
    take();
    for (;;) {
        const nsec_t next = f.net.next_timer();
        if (next == TIME_NEVER || next > end) {
            break;
        }
        f.clk.set(std::max(next, f.clk.now()));
        f.net.run_timers();
        take();
    }
    f.clk.set(std::max(end, f.clk.now()));
    f.net.run_timers();
    take();
    return out;
}

}  // namespace

TEST_CASE("pacing: SO_MAX_PACING_RATE takes 32 and 64 bits, reads back both ways, short optlen is EINVAL") {
    tcp_fixture f;
    usock u = usock::create(f.net);
    // Default: unlimited.
    CHECK(get_rate64(u) == ~uint64_t(0));
    uint32_t v32 = 0;
    unsigned len = sizeof(v32);
    REQUIRE(u.s->ops->getsockopt(u.s, SOL_SOCKET, SO_MAX_PACING_RATE, &v32, &len) == 0);
    CHECK(len == 4);
    CHECK(v32 == ~uint32_t(0));
    CHECK(u.sk()->sk_pacing_status == SK_PACING_NONE);

    uint16_t v16 = 1;
    CHECK(set_rate(u, &v16, sizeof(v16)) == -EINVAL);
    CHECK(u.sk()->sk_pacing_status == SK_PACING_NONE);

    // ~0U as an int means unlimited and does not turn pacing on.
    v32 = ~uint32_t(0);
    REQUIRE(set_rate(u, &v32, sizeof(v32)) == 0);
    CHECK(get_rate64(u) == ~uint64_t(0));
    CHECK(u.sk()->sk_pacing_status == SK_PACING_NONE);

    v32 = 1'000'000;
    REQUIRE(set_rate(u, &v32, sizeof(v32)) == 0);
    CHECK(get_rate64(u) == 1'000'000);
    CHECK(u.sk()->sk_pacing_status == SK_PACING_NEEDED);

    // 64 bits: above 4 GB/s reads back clamped through a 4-byte buffer.
    REQUIRE(set_rate64(u, 5'000'000'000ull) == 0);
    CHECK(get_rate64(u) == 5'000'000'000ull);
    len = sizeof(v32);
    REQUIRE(u.s->ops->getsockopt(u.s, SOL_SOCKET, SO_MAX_PACING_RATE, &v32, &len) == 0);
    CHECK(v32 == ~uint32_t(0));

    // Lifting the limit keeps pacing on (at the computed rate), as Linux.
    REQUIRE(set_rate64(u, ~uint64_t(0)) == 0);
    CHECK(get_rate64(u) == ~uint64_t(0));
    CHECK(u.sk()->sk_pacing_status == SK_PACING_NEEDED);
    u.close();
}

TEST_CASE("pacing: after the initial window, segments leave len/rate apart (1448 B at 1.448 MB/s = 1 ms)") {
    tcp_fixture f;
    conn c = open(f, 10);
    REQUIRE(c.u.tp()->mss_cache == MSS);
    REQUIRE(set_rate64(c.u, 1'448'000) == 0);
    const std::string data(20 * MSS, 'p');
    const long sent = c.u.send(data);
    REQUIRE(sent >= long(10 * MSS));
    const nsec_t t0 = f.clk.now();
    // The initial window (10 segments) goes out at once: Linux does not
    // pace the first ten data segments.
    auto first = run_collect(f, t0);
    REQUIRE(first.size() == 10);
    for (auto& d : first) {
        CHECK(d.t == t0);
    }
    // cwnd-limited until the ACK, which comes one RTT (10 ms) later.
    f.advance_ms(10);
    CHECK(f.drain_tcp().empty());
    const nsec_t t1 = f.clk.now();
    f.inject(seg(c.pport, c.lport, c.rcv, c.snd + 10 * MSS, wire::TCPF_ACK, 65535));
    // The send buffer held less than 20 segments: top it up.
    REQUIRE(c.u.send(data.substr(size_t(sent))) == long(data.size()) - sent);
    auto next = run_collect(f, t1 + 30 * NSEC_PER_MSEC);
    // Slow start doubled cwnd: ten more may be in flight, paced.
    REQUIRE(next.size() == 10);
    CHECK(next[0].t == t1);  // its departure time passed long ago
    // The late start earns half a gap of credit, then exact 1 ms gaps.
    CHECK(next[1].t - next[0].t == NSEC_PER_MSEC / 2);
    for (size_t i = 2; i < next.size(); ++i) {
        INFO("segment " << i);
        CHECK(next[i].t - next[i - 1].t == NSEC_PER_MSEC);
        CHECK(next[i].seq == next[i - 1].seq + MSS);
    }
    // TCP_INFO: the pacing rate is the limit (the computed one is higher).
    const tcp_info ti = get_info(c.u);
    CHECK(ti.tcpi_max_pacing_rate == 1'448'000);
    CHECK(ti.tcpi_pacing_rate == 1'448'000);
    c.u.close();
}

TEST_CASE("pacing: sk_pacing_rate follows cwnd and srtt (200% in slow start), unpaced sockets send their window at once") {
    tcp_fixture f;
    conn c = open(f, 10);
    const std::string data(20 * MSS, 'q');
    const long sent = c.u.send(data);
    REQUIRE(sent >= long(10 * MSS));
    auto first = run_collect(f, f.clk.now());
    REQUIRE(first.size() == 10);
    f.advance_ms(10);
    const nsec_t t1 = f.clk.now();
    f.inject(seg(c.pport, c.lport, c.rcv, c.snd + 10 * MSS, wire::TCPF_ACK, 65535));
    // The send buffer held less than 20 segments: top it up.
    REQUIRE(c.u.send(data.substr(size_t(sent))) == long(data.size()) - sent);
    auto next = run_collect(f, t1 + 30 * NSEC_PER_MSEC);
    REQUIRE(next.size() == 10);
    for (auto& d : next) {
        CHECK(d.t == t1);  // no pacing: the whole window at once
    }
    // srtt 10 ms (first sample), cwnd 20, ssthresh infinite: 200% of
    // 20 * 1448 B per 10 ms.
    REQUIRE(c.u.tp()->snd_cwnd == 20);
    REQUIRE((c.u.tp()->srtt_us >> 3) == 10'000);
    const tcp_info ti = get_info(c.u);
    CHECK(ti.tcpi_pacing_rate == 2ull * 20 * MSS * 100);
    CHECK(ti.tcpi_max_pacing_rate == ~uint64_t(0));
    c.u.close();
}

TEST_CASE("pacing: an accepted child inherits the listener's SO_MAX_PACING_RATE") {
    tcp_fixture f;
    usock l = usock::create(f.net);
    REQUIRE(l.bind(LOCAL_IP, 8080) == 0);
    REQUIRE(set_rate64(l, 2'000'000) == 0);
    REQUIRE(l.listen(8) == 0);
    conn c = open_passive(f, l, 8080, 40000, 5000);
    CHECK(get_rate64(c.u) == 2'000'000);
    CHECK(c.u.sk()->sk_pacing_status == SK_PACING_NEEDED);
    c.u.close();
    l.close();
}
