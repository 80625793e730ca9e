// Signal bookkeeping for EINTR vs SA_RESTART (architecture.md §3): the
// sigaction/signal wrappers remember each handler's SA_RESTART and install a
// trampoline that records which signal interrupted the thread.
#pragma once

namespace dshim::shim {

// Marks the start of a blocking wait in this thread.
void signal_wait_begin();
// After a wait returned EINTR: true when every handler that ran since
// signal_wait_begin() was installed with SA_RESTART.
bool signal_should_restart();
// How many of the program's own handlers ran in this thread since
// signal_wait_begin(). A wait whose EINTR leaves this unchanged was woken by a
// signal of dshim's or DPDK's (net_tap's Rx trigger signal), which the program
// must never see.
int signal_program_interrupts();

}  // namespace dshim::shim
