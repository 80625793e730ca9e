// Bulk transfers between two stacks on the simulated wire (testing.md
// layer 4): byte-exact delivery on a clean and on an impaired link.
#include "sim/transfer.hh"

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
