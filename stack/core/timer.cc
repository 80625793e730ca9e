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
    ++_count;
    if (tick - _last_tick >= slots) {
        _far.add_tail(&t->node);
        if (tick < _far_min) {
            _far_min = tick;
        }
        return;
    }
    _slot[tick % slots].add_tail(&t->node);
}

// Moves every overflow timer now inside the horizon into its slot, and finds
// the earliest of those that stay. Called when the horizon is half-way to
// the earliest overflow timer, so each timer moves once, in batches.
void timer_wheel::cascade(uint64_t now_tick) {
    uint64_t far_min = ~uint64_t(0);
    list_head* n = _far.next;
    while (n != &_far) {
        list_head* next = n->next;
        timer_list* t = container_of(n, &timer_list::node);
        uint64_t tick = tick_of(t->expires);
        if (tick <= now_tick) {
            tick = now_tick + 1;
        }
        if (tick - now_tick < slots) {
            n->del();
            _slot[tick % slots].add_tail(n);
        } else if (tick < far_min) {
            far_min = tick;
        }
        n = next;
    }
    _far_min = far_min;
}

unsigned timer_wheel::run(nsec_t now) {
    const uint64_t now_tick = now / tick_ns;
    if (now_tick <= _last_tick) {
        return 0;
    }
    unsigned fired = 0;
    while (_last_tick < now_tick) {
        if (_count == 0) {
            _last_tick = now_tick;
            break;
        }
        // Overflow timers enter the wheel before the horizon reaches them:
        // when they are half a horizon away. Time is then walked half a
        // horizon at a time, so a long jump (a virtual clock, a stalled
        // process) cascades on the way and fires everything in order.
        if (_far_min != ~uint64_t(0) && _far_min <= _last_tick + slots / 2) {
            cascade(_last_tick);
        }
        const uint64_t end = now_tick < _last_tick + slots / 2 ? now_tick : _last_tick + slots / 2;
        for (uint64_t tick = _last_tick + 1; tick <= end; ++tick) {
            // From here a timer armed already due goes to the next slot.
            _last_tick = tick;
            list_head& slot = _slot[tick % slots];
            if (slot.empty()) {
                continue;
            }
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
                --_count;
                t->expires = TIME_NEVER;
                ++fired;
                t->fn(t->arg);
            }
        }
        _last_tick = end;
    }
    return fired;
}

nsec_t timer_wheel::next_expiry() const {
    if (_count == 0) { return TIME_NEVER; }
    // The tick at which run() will fire the earliest timer: the first
    // non-empty slot (the wheel holds no timer of a later round), and a
    // timer armed already due waits in the next slot. Reporting the raw
    // expiry instead would let a caller that sleeps until it wake to find
    // nothing due, and spin. The overflow list bounds it from above.
    uint64_t best = _far_min;
    for (uint64_t i = 1; i <= slots; ++i) {
        const uint64_t tick = _last_tick + i;
        if (tick >= best) {
            break;
        }
        if (!_slot[tick % slots].empty()) {
            best = tick;
            break;
        }
    }
    return best == ~uint64_t(0) ? TIME_NEVER : nsec_t(best) * tick_ns;
}

void hrtimer_queue::start(timer_list* t, nsec_t expires) {
    if (t->pending()) {
        t->node.del();
    }
    t->expires = expires;
    // From the back: a new timer is usually the latest (a pacing gap).
    list_head* pos = _q.prev;
    while (pos != &_q && container_of(pos, &timer_list::node)->expires > expires) {
        pos = pos->prev;
    }
    pos->add_front(&t->node);
}

unsigned hrtimer_queue::run(nsec_t now) {
    // Detach the due prefix first: a handler that re-arms its timer (even at
    // `now`) lands in _q and waits for the next run, so a run always ends.
    list_head due;
    while (!_q.empty() && container_of(_q.next, &timer_list::node)->expires <= now) {
        list_head* n = _q.next;
        n->del();
        due.add_tail(n);
    }
    unsigned fired = 0;
    while (!due.empty()) {
        timer_list* t = container_of(due.next, &timer_list::node);
        t->node.del();
        t->expires = TIME_NEVER;
        ++fired;
        t->fn(t->arg);
    }
    return fired;
}

}  // namespace dshim
