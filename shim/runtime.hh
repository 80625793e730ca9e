// The process-wide dshim runtime: configuration, the stack (created when the
// first socket is accelerated, which also attaches the DPDK port), the stack
// lock, the progress thread, and the event wait/notify used by blocking
// calls (architecture.md §3).
#pragma once
#include <poll.h>
#include <signal.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "core/clock.hh"
#include "core/stack.hh"
#include "shim/config.hh"
#include "shim/fdtable.hh"

struct dshim_port_stats;

namespace dshim::shim {

extern config g_cfg;
// Set in threads that must pass every call straight to libc: DPDK's and
// dshim's own threads, and any thread while it is inside dshim code.
extern thread_local bool t_in_dshim;

// True once the library constructor ran and configuration is loaded.
bool runtime_ready();
// The stack, attaching the port on first use: nullptr with *err set (a
// positive errno) when the port cannot be attached (reported loudly once).
stack* runtime_stack(int* err);
// Stack for sockets that already exist (never attaches).
stack* runtime_stack_if_attached();
// The port's counters (DSHIM_FAULTS injections among them); false when no
// port is attached.
bool runtime_port_stats(dshim_port_stats* out);
// After fork() in the child: dshim sockets become unusable, no port.
bool runtime_is_forked_child();
// The program ends without exit() (_exit, _Exit): no atexit handler, so no
// exit linger and no detach. Removes the names only the attaching process
// made (stat socket, port lock file, EAL runtime directory); the kernel
// closes the fds. Does nothing in any other process. Async-signal-safe (a
// signal handler's _exit): unlinks and clears only, no allocation.
void runtime_exit_files();

// The stack lock (one poll pass or one socket operation at a time).
class stack_lock {
public:
    stack_lock();
    ~stack_lock();
    stack_lock(const stack_lock&) = delete;
    stack_lock& operator=(const stack_lock&) = delete;
};
bool stack_try_lock();
void stack_unlock();

// One poll pass (rx, protocol, timers, tx flush); the caller holds the lock.
void poll_pass_locked();
// A pass if the lock is free: what spinning threads do.
void poll_pass_try();
// An application thread is working on the stack (caller holds the lock): the
// progress thread stays parked while this keeps happening.
void runtime_note_app(stack* s);

// Monotonic time (the stack's clock when attached, CLOCK_MONOTONIC otherwise).
nsec_t now_ns();

// Event waiting: blocking calls sleep until some socket changed
// (sock callbacks call runtime_notify) or the deadline passes. Also woken
// when one of extra_fds (kernel fds, events) is ready. Returns 0 on an event
// or timeout, -EINTR when a signal handler ran.
struct wait_extra {
    struct pollfd* fds = nullptr;
    int nfds = 0;
};
int runtime_wait(nsec_t deadline, const wait_extra* extra = nullptr, const sigset_t* mask = nullptr);
void runtime_notify();
// Sleepers register before their last check of the condition, so a notify
// between that check and the sleep is never lost.
void runtime_sleeper_enter();
void runtime_sleeper_exit();
uint64_t runtime_event_seq();

// Sets the sock callbacks of a dshim socket so state changes wake waiters.
void sock_attach_callbacks(sock* sk);

// Releases what a dfile owns (called by fd_put on the last reference).
void release_dfile(dfile* f);

// Counters of the shim (for `dshim stat`).
struct shim_counters {
    std::atomic<uint64_t> handovers{0};
    std::atomic<uint64_t> accelerated{0};
    std::atomic<uint64_t> passes{0};
    std::atomic<uint64_t> sleeps{0};
    std::atomic<uint64_t> progress_passes{0};  // passes run by the progress thread
    std::atomic<uint64_t> progress_parks{0};   // times it stood aside for an active application thread
};
extern shim_counters g_shim_counters;

}  // namespace dshim::shim
