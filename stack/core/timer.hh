// Timers (the kernel's timer_list + a timing wheel). One wheel per stack,
// driven by the stack's clock in its poll pass; owned by the stack lock.
// Arming and cancelling are O(1) and never allocate. Timers due within the
// wheel's horizon (slots ticks) sit in their slot; later ones (TIME_WAIT's
// 60 s, keepalive) wait in an overflow list that is cascaded into the wheel
// every half horizon, so the wheel never holds a timer of a later round and
// next_expiry() is the first non-empty slot, not a scan of every timer (the
// kernel's cascading levels, reduced to two).
#pragma once
#include <cstdint>
#include "core/clock.hh"
#include "core/list.hh"

namespace dshim {

struct timer_list {
    list_head node;
    nsec_t expires = TIME_NEVER;
    void (*fn)(void* arg) = nullptr;
    void* arg = nullptr;

    bool pending() const { return node.linked(); }
};

class timer_wheel {
public:
    static constexpr nsec_t tick_ns = NSEC_PER_MSEC;
    static constexpr unsigned slots = 4096;

    explicit timer_wheel(nsec_t now) : _last_tick(now / tick_ns) {}
    timer_wheel(const timer_wheel&) = delete;
    timer_wheel& operator=(const timer_wheel&) = delete;

    // mod_timer: (re)arms t to fire at `expires` (absolute ns).
    void mod_timer(timer_list* t, nsec_t expires);
    // del_timer: cancels; a no-op when not pending.
    void del_timer(timer_list* t) { if (t->pending()) { t->node.del(); --_count; } t->expires = TIME_NEVER; }
    // Runs every timer due at `now`. Returns how many fired.
    unsigned run(nsec_t now);
    // The earliest expiry of any pending timer, TIME_NEVER if none.
    nsec_t next_expiry() const;
    unsigned count() const { return _count; }

private:
    void cascade(uint64_t now_tick);

    list_head _slot[slots];
    list_head _far;                          // timers beyond the horizon, unsorted
    uint64_t _far_min = ~uint64_t(0);        // no far timer fires before this tick (may be early)
    uint64_t _last_tick;  // every tick <= this has been run
    unsigned _count = 0;
};

// High-resolution timers (the kernel's hrtimer, reduced): nanosecond
// expiries in one list kept sorted, for the few timers that need better than
// the wheel's 1 ms tick (TCP pacing: a segment may be due 12 us after the
// last). Arming walks the pending ones, so it is meant for few timers; firing
// and next_expiry() are O(1). Shares timer_list with the wheel (a timer is in
// one of them at a time).
class hrtimer_queue {
public:
    hrtimer_queue() = default;
    hrtimer_queue(const hrtimer_queue&) = delete;
    hrtimer_queue& operator=(const hrtimer_queue&) = delete;

    // hrtimer_start: (re)arms t to fire at `expires` (absolute ns).
    void start(timer_list* t, nsec_t expires);
    // hrtimer_cancel: a no-op when not pending.
    void cancel(timer_list* t) { if (t->pending()) { t->node.del(); } t->expires = TIME_NEVER; }
    // Runs every timer due at `now` (expires <= now). Returns how many fired.
    unsigned run(nsec_t now);
    nsec_t next_expiry() const {
        return _q.empty() ? TIME_NEVER : container_of(_q.next, &timer_list::node)->expires;
    }

private:
    list_head _q;  // sorted by expires, earliest first; equal ones in arming order
};

}  // namespace dshim
