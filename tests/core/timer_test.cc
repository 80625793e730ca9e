// The timing wheel (stack/core/timer.*): timers fire at their tick, in
// order, once; far timers (beyond the 4096-tick horizon) wait in the
// overflow list and still fire exactly on time across long clock jumps;
// next_expiry() reports the earliest tick without scanning every timer. The
// nanosecond hrtimer queue (pacing) fires in order and never loops on a re-arm.
#include <catch2/catch.hpp>

#include <vector>

#include "core/timer.hh"

using namespace dshim;

namespace {

struct rec {
    timer_list t;
    std::vector<std::pair<int, nsec_t>>* log = nullptr;
    nsec_t* now = nullptr;
    int id = 0;
};

void fire(void* arg) {
    auto* r = static_cast<rec*>(arg);
    r->log->push_back({r->id, *r->now});
}

// n records that log (id, time) to log when they fire.
std::vector<rec> make_recs(size_t n, std::vector<std::pair<int, nsec_t>>& log, nsec_t& now) {
    std::vector<rec> recs(n);
    for (size_t i = 0; i < n; ++i) {
        recs[i].log = &log;
        recs[i].now = &now;
        recs[i].id = int(i);
        recs[i].t.fn = fire;
        recs[i].t.arg = &recs[i];
    }
    return recs;
}

}  // namespace

TEST_CASE("timer wheel: near and far timers fire at their ms, in order, across jumps") {
    nsec_t now = NSEC_PER_SEC;
    timer_wheel w(now);
    std::vector<std::pair<int, nsec_t>> log;
    std::vector<rec> recs = make_recs(6, log, now);
    const nsec_t at[6] = {5 * NSEC_PER_MSEC, 3 * NSEC_PER_SEC, 60 * NSEC_PER_SEC, 60 * NSEC_PER_SEC + 1,
                          7200 * NSEC_PER_SEC, 10 * NSEC_PER_SEC};
    for (int i = 0; i < 6; ++i) {
        w.mod_timer(&recs[size_t(i)].t, now + at[i]);
    }
    CHECK(w.count() == 6);
    CHECK(w.next_expiry() == now + 5 * NSEC_PER_MSEC);
    // Walk the clock as a poll loop would: straight to each next expiry.
    int steps = 0;
    while (w.count() > 0 && steps < 100) {
        now = w.next_expiry();
        w.run(now);
        ++steps;
    }
    REQUIRE(log.size() == 6);
    const nsec_t t0 = NSEC_PER_SEC;
    CHECK(log[0] == std::make_pair(0, t0 + 5 * NSEC_PER_MSEC));
    CHECK(log[1] == std::make_pair(1, t0 + 3 * NSEC_PER_SEC));
    CHECK(log[2] == std::make_pair(5, t0 + 10 * NSEC_PER_SEC));
    CHECK(log[3] == std::make_pair(2, t0 + 60 * NSEC_PER_SEC));
    // 1 ns past a whole ms rounds up to the next tick.
    CHECK(log[4] == std::make_pair(3, t0 + 60 * NSEC_PER_SEC + NSEC_PER_MSEC));
    CHECK(log[5] == std::make_pair(4, t0 + 7200 * NSEC_PER_SEC));
    CHECK(w.next_expiry() == TIME_NEVER);
}

TEST_CASE("timer wheel: one long jump fires every due timer once, a cancelled far timer never") {
    nsec_t now = NSEC_PER_SEC;
    timer_wheel w(now);
    std::vector<std::pair<int, nsec_t>> log;
    std::vector<rec> recs = make_recs(300, log, now);
    for (int i = 0; i < 300; ++i) {
        w.mod_timer(&recs[size_t(i)].t, now + nsec_t(i + 1) * 100 * NSEC_PER_MSEC);  // 0.1 s .. 30 s
    }
    w.del_timer(&recs[250].t);
    now += 20 * NSEC_PER_SEC;
    w.run(now);
    CHECK(log.size() == 200);  // 0.1 s .. 20 s
    now += 20 * NSEC_PER_SEC;
    w.run(now);
    CHECK(log.size() == 299);
    for (size_t i = 1; i < log.size(); ++i) {
        CHECK(log[i].first > log[i - 1].first);  // in expiry order
    }
    CHECK(w.count() == 0);
}

TEST_CASE("timer wheel: next_expiry with 40000 far timers is the earliest, and cheap to ask") {
    nsec_t now = NSEC_PER_SEC;
    timer_wheel w(now);
    std::vector<std::pair<int, nsec_t>> log;
    std::vector<rec> recs = make_recs(40000, log, now);
    for (int i = 0; i < 40000; ++i) {
        // TIME_WAIT-like: 60 s after connections closed over 40 s.
        w.mod_timer(&recs[size_t(i)].t, now + 60 * NSEC_PER_SEC + nsec_t(i) * NSEC_PER_MSEC);
    }
    CHECK(w.next_expiry() == now + 60 * NSEC_PER_SEC);
    // Ticking 1 ms at a time for a while fires nothing and keeps the answer.
    for (int i = 0; i < 100; ++i) {
        now += NSEC_PER_MSEC;
        CHECK(w.run(now) == 0);
    }
    CHECK(w.next_expiry() == NSEC_PER_SEC + 60 * NSEC_PER_SEC);
    now = NSEC_PER_SEC + 100 * NSEC_PER_SEC;
    CHECK(w.run(now) == 40000);
    CHECK(log.front().first == 0);
    CHECK(log.back().first == 39999);
}

namespace {

struct rearm_rec {
    timer_list t;
    hrtimer_queue* q = nullptr;
    nsec_t* now = nullptr;
    int fired = 0;
};

void rearm_at_now(void* arg) {
    auto* r = static_cast<rearm_rec*>(arg);
    ++r->fired;
    r->q->start(&r->t, *r->now);  // due again at once: must wait for the next run
}

}  // namespace

TEST_CASE("hrtimer queue: nanosecond expiries fire in order (ties in arming order), re-arm and cancel") {
    nsec_t now = NSEC_PER_SEC;
    hrtimer_queue q;
    CHECK(q.next_expiry() == TIME_NEVER);
    std::vector<std::pair<int, nsec_t>> log;
    std::vector<rec> recs = make_recs(5, log, now);
    // Armed out of order; 2 and 3 share an expiry.
    q.start(&recs[0].t, now + 12'345);
    q.start(&recs[1].t, now + 500);
    q.start(&recs[2].t, now + 7'000);
    q.start(&recs[3].t, now + 7'000);
    q.start(&recs[4].t, now + 1);
    CHECK(q.next_expiry() == now + 1);
    // Re-arming moves a timer; cancelling removes it.
    q.start(&recs[4].t, now + 20'000);
    q.cancel(&recs[1].t);
    CHECK_FALSE(recs[1].t.pending());
    CHECK(q.next_expiry() == now + 7'000);
    now += 6'999;
    CHECK(q.run(now) == 0);
    now += 1;
    CHECK(q.run(now) == 2);
    now += 20'000;
    CHECK(q.run(now) == 2);
    REQUIRE(log.size() == 4);
    CHECK(log[0].first == 2);
    CHECK(log[1].first == 3);
    CHECK(log[2].first == 0);
    CHECK(log[3].first == 4);
    CHECK(q.next_expiry() == TIME_NEVER);

    // A handler re-arming its timer at `now` does not loop within one run.
    rearm_rec r;
    r.q = &q;
    r.now = &now;
    r.t.fn = rearm_at_now;
    r.t.arg = &r;
    q.start(&r.t, now);
    CHECK(q.run(now) == 1);
    CHECK(r.fired == 1);
    CHECK(q.run(now) == 1);
    CHECK(r.fired == 2);
    q.cancel(&r.t);
    CHECK(q.next_expiry() == TIME_NEVER);
}
