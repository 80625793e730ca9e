// Bulk transfers between two stacks on the simulated wire (testing.md
// layer 4): byte-exact delivery on a clean and on an impaired link.
#include "sim/transfer.hh"

// After our headers (as stack/ipv4/tcp_sockopt.cc): <linux/socket.h>
// defines SOCK_*BUF_LOCK macros that shadow sock_flags.
#include <linux/tcp.h>
#undef SOCK_SNDBUF_LOCK
#undef SOCK_RCVBUF_LOCK

using namespace dshim;
using namespace dshim::test;

TEST_CASE("sim: 16 MiB on a clean wire arrives byte-exact") {
    sim_wire_config wc;
    wc.a_to_b.delay = 100 * NSEC_PER_USEC;
    wc.b_to_a.delay = 100 * NSEC_PER_USEC;
    wc.a_to_b.bandwidth_bps = 10'000'000'000ull;
    wc.b_to_a.bandwidth_bps = 10'000'000'000ull;
    sim_pair p(wc);
    usock c, s;
    connect_pair(p, 9000, c, s);
    stream_state st{&c, &s, 16u << 20, 1};
    const nsec_t t0 = p.clk.now();
    const bool ok = run_streams(p, {&st}, 60 * NSEC_PER_SEC);
    if (!ok) {
        p.wire.dump_pcap("sim_16mib_clean.pcap");
    }
    INFO("sent " << st.sent << " received " << st.received << " in " << (p.clk.now() - t0) / NSEC_PER_MSEC << " ms");
    REQUIRE(ok);
    CHECK(st.mismatches == 0);
    CHECK(st.received == st.total);
    CHECK(p.a.counters().tcp_retrans_segs == 0);
    CHECK(p.b.counters().tcp_retrans_segs == 0);
    c.close();
    s.close();
}

TEST_CASE("sim: 4 MiB each way at once over a clean wire") {
    sim_wire_config wc;
    wc.a_to_b.delay = 50 * NSEC_PER_USEC;
    wc.b_to_a.delay = 50 * NSEC_PER_USEC;
    sim_pair p(wc);
    usock c, s;
    connect_pair(p, 9001, c, s);
    stream_state up{&c, &s, 4u << 20, 2};
    stream_state down{&s, &c, 4u << 20, 3};
    REQUIRE(run_streams(p, {&up, &down}, 60 * NSEC_PER_SEC));
    CHECK(up.mismatches == 0);
    CHECK(down.mismatches == 0);
    c.close();
    s.close();
}

TEST_CASE("sim: 2 MiB over a lossy, reordering, duplicating, corrupting wire arrives byte-exact") {
    sim_wire_config wc;
    link_faults lf;
    lf.loss = 0.02;
    lf.reorder = 0.02;
    lf.dup = 0.01;
    lf.corrupt = 0.001;
    lf.delay = 1 * NSEC_PER_MSEC;
    wc.a_to_b = lf;
    wc.b_to_a = lf;
    wc.seed = 12345;
    sim_pair p(wc);
    usock c, s;
    connect_pair(p, 9002, c, s);
    stream_state st{&c, &s, 2u << 20, 4};
    const bool ok = run_streams(p, {&st}, 600 * NSEC_PER_SEC);
    if (!ok) {
        p.wire.dump_pcap("sim_lossy.pcap");
    }
    INFO("sent " << st.sent << " received " << st.received);
    REQUIRE(ok);
    CHECK(st.mismatches == 0);
    CHECK(p.b.counters().tcp_retrans_segs > 0);
    c.close();
    s.close();
}

namespace {

// 4 MiB from a client with SO_MAX_PACING_RATE `rate` (0 = none) over a
// 1 Gbit/s, 1 ms wire with the given loss; returns the virtual time taken.
nsec_t paced_transfer(uint64_t rate, double loss, uint64_t* retrans = nullptr) {
    sim_wire_config wc;
    for (link_faults* lf : {&wc.a_to_b, &wc.b_to_a}) {
        lf->delay = NSEC_PER_MSEC;
        lf->bandwidth_bps = 1'000'000'000ull;
        lf->loss = loss;
    }
    wc.seed = 99;
    wc.capture_frames = 0;
    sim_pair p(wc);
    usock c, s;
    connect_pair(p, 9400, c, s);
    if (rate != 0) {
        REQUIRE(c.s->ops->setsockopt(c.s, SOL_SOCKET, SO_MAX_PACING_RATE, &rate, sizeof(rate)) == 0);
    }
    stream_state st{&c, &s, 4u << 20, 7};
    const nsec_t t0 = p.clk.now();
    REQUIRE(run_streams(p, {&st}, 60 * NSEC_PER_SEC));
    const nsec_t took = p.clk.now() - t0;
    CHECK(st.mismatches == 0);
    CHECK(st.received == st.total);
    if (rate != 0 && loss == 0) {
        // The delivery-rate estimator (TCP_INFO) sees the paced rate.
        tcp_info ti{};
        unsigned len = sizeof(ti);
        REQUIRE(c.s->ops->getsockopt(c.s, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0);
        INFO("tcpi_delivery_rate " << ti.tcpi_delivery_rate);
        CHECK(double(ti.tcpi_delivery_rate) >= 0.9 * double(rate));
        CHECK(double(ti.tcpi_delivery_rate) <= 1.1 * double(rate));
        CHECK(ti.tcpi_delivered >= (4u << 20) / 1460);  // every segment counted once
    }
    if (retrans) {
        *retrans = p.b.counters().tcp_retrans_segs;
    }
    c.close();
    s.close();
    return took;
}

}  // namespace

TEST_CASE("sim: SO_MAX_PACING_RATE holds a bulk transfer to its rate, with and without loss") {
    constexpr uint64_t rate = 12'500'000;  // 100 Mbit/s of payload
    const double ideal = double(4u << 20) / double(rate);
    const double free_s = double(paced_transfer(0, 0)) / 1e9;
    const double paced_s = double(paced_transfer(rate, 0)) / 1e9;
    uint64_t retrans = 0;
    const double lossy_s = double(paced_transfer(rate, 0.01, &retrans)) / 1e9;
    std::printf("pacing: 4 MiB unpaced %.3f s, paced at %llu B/s %.3f s (ideal %.3f s), paced with 1%% loss %.3f s "
                "(%llu retransmissions)\n",
                free_s, (unsigned long long)rate, paced_s, ideal, lossy_s, (unsigned long long)retrans);
    // Unpaced, the 1 Gbit/s wire takes ~40 ms plus slow start: far below.
    CHECK(free_s < ideal / 2);
    // Paced: the rate holds within a few percent (the first ten segments go
    // unpaced, slow start's first RTTs are cwnd-limited).
    CHECK(paced_s >= ideal * 0.98);
    CHECK(paced_s <= ideal * 1.08);
    // Loss: retransmissions are paced too, so never faster than the rate.
    CHECK(retrans > 0);
    CHECK(lossy_s >= ideal * 0.98);
}
