// Timing wheel implementation (see timer.hh). Kernel counterpart:
// kernel/time/timer.c (much simplified: one level, 1 ms ticks).
#include "core/timer.hh"

namespace dshim {

namespace {
uint64_t tick_of(nsec_t t) { return (t + timer_wheel::tick_ns - 1) / timer_wheel::tick_ns; }  // round up
}  // namespace

void timer_wheel::mod_timer(timer_list* t, nsec_t expires) {
    if (t->pending()) {
        t->node.del();
        --_count;
    }
    t->expires = expires;
    uint64_t tick = tick_of(expires);
    if (tick <= _last_tick) {
        tick = _last_tick + 1;  // already due: the next run() picks it up
    }
    _slot[tick % slots].add_tail(&t->node);
    ++_count;
}

unsigned timer_wheel::run(nsec_t now) {
    const uint64_t now_tick = now / tick_ns;
    if (now_tick <= _last_tick || _count == 0) {
        if (now_tick > _last_tick) { _last_tick = now_tick; }
        return 0;
    }
    unsigned fired = 0;
    uint64_t first = _last_tick + 1;
    if (now_tick - _last_tick > slots) {
        first = now_tick - slots + 1;  // every slot once
    }
    for (uint64_t tick = first; tick <= now_tick; ++tick) {
        list_head& slot = _slot[tick % slots];
        if (slot.empty()) { continue; }
        // Detach the slot so re-arming inside a handler cannot loop forever.
        list_head tmp;
        tmp.next = slot.next;
        tmp.prev = slot.prev;
        tmp.next->prev = &tmp;
        tmp.prev->next = &tmp;
        slot.next = slot.prev = &slot;
        while (!tmp.empty()) {
            list_head* n = tmp.next;
            n->del();
            timer_list* t = container_of(n, &timer_list::node);
            if (t->expires <= now) {
                --_count;
                t->expires = TIME_NEVER;
                ++fired;
                t->fn(t->arg);
            } else {
                slot.add_tail(n);  // a later round of the wheel
            }
        }
    }
    _last_tick = now_tick;
    return fired;
}

nsec_t timer_wheel::next_expiry() const {
    if (_count == 0) { return TIME_NEVER; }
    // The tick at which run() will fire the earliest timer: its expiry
    // rounded up to a tick, and never before the slot it sits in (a timer
    // armed already due waits in the next slot). Reporting the raw expiry
    // instead would let a caller that sleeps until it wake to find nothing
    // due, and spin.
    uint64_t best = ~uint64_t(0);
    for (uint64_t i = 1; i <= slots; ++i) {
        const uint64_t tick = _last_tick + i;
        const list_head& slot = _slot[tick % slots];
        for (const list_head* n = slot.next; n != &slot; n = n->next) {
            const timer_list* t = container_of(const_cast<list_head*>(n), &timer_list::node);
            const uint64_t fire = tick_of(t->expires) > tick ? tick_of(t->expires) : tick;
            if (fire < best) { best = fire; }
        }
        // Everything later in the wheel fires later.
        if (best <= tick) { break; }
    }
    return best == ~uint64_t(0) ? TIME_NEVER : nsec_t(best) * tick_ns;
}

}  // namespace dshim
