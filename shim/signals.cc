// sigaction/signal interposition (see signals.hh).
#include "shim/signals.hh"

#include <atomic>
#include <csignal>
#include <cstring>

#include "shim/libc.hh"
#include "shim/runtime.hh"

namespace dshim::shim {

namespace {

constexpr int kNsig = 65;
// The program's handlers, as it installed them.
std::atomic<void (*)(int, siginfo_t*, void*)> g_user_action[kNsig];
std::atomic<void (*)(int)> g_user_handler[kNsig];
std::atomic<bool> g_siginfo[kNsig];
std::atomic<bool> g_restart[kNsig];
thread_local int t_interrupts = 0;           // handlers run during the current wait
thread_local bool t_all_restart = true;      // ...all of them SA_RESTART

void trampoline(int sig, siginfo_t* info, void* uc) {
    if (sig > 0 && sig < kNsig) {
        ++t_interrupts;
        if (!g_restart[sig].load(std::memory_order_relaxed)) {
            t_all_restart = false;
        }
        if (g_siginfo[sig].load(std::memory_order_relaxed)) {
            if (auto fn = g_user_action[sig].load()) {
                fn(sig, info, uc);
            }
        } else if (auto fn = g_user_handler[sig].load()) {
            fn(sig);
        }
    }
}

bool is_special(const struct sigaction* a) {
    if (a->sa_flags & SA_SIGINFO) {
        return false;
    }
    return a->sa_handler == SIG_DFL || a->sa_handler == SIG_IGN;
}

}  // namespace

void signal_wait_begin() {
    t_interrupts = 0;
    t_all_restart = true;
}

bool signal_should_restart() { return t_interrupts > 0 && t_all_restart; }

int signal_program_interrupts() { return t_interrupts; }

}  // namespace dshim::shim

using namespace dshim::shim;

#pragma GCC visibility push(default)
extern "C" int sigaction(int sig, const struct sigaction* act, struct sigaction* oact) {
    libc_resolve();
    if (t_in_dshim || sig <= 0 || sig >= kNsig || sig == SIGKILL || sig == SIGSTOP) {
        return libc.sigaction(sig, act, oact);
    }
    const auto prev_action = g_user_action[sig].load();
    const auto prev_handler = g_user_handler[sig].load();
    const bool prev_siginfo = g_siginfo[sig].load();
    const bool prev_restart = g_restart[sig].load();
    struct sigaction mine;
    const struct sigaction* pass = act;
    if (act && !is_special(act)) {
        mine = *act;
        if (act->sa_flags & SA_SIGINFO) {
            g_user_action[sig].store(act->sa_sigaction);
            g_siginfo[sig].store(true);
        } else {
            g_user_handler[sig].store(act->sa_handler);
            g_siginfo[sig].store(false);
        }
        g_restart[sig].store((act->sa_flags & SA_RESTART) != 0);
        mine.sa_sigaction = trampoline;
        mine.sa_flags |= SA_SIGINFO;
        pass = &mine;
    }
    const int r = libc.sigaction(sig, pass, oact);
    if (r == 0 && oact && (oact->sa_flags & SA_SIGINFO) && oact->sa_sigaction == trampoline) {
        // Show the program its own (previous) handler back.
        if (prev_siginfo) {
            oact->sa_sigaction = prev_action;
        } else {
            oact->sa_flags &= ~SA_SIGINFO;
            oact->sa_handler = prev_handler;
        }
        if (!prev_restart) {
            oact->sa_flags &= ~SA_RESTART;
        }
    }
    return r;
}

extern "C" sighandler_t signal(int sig, sighandler_t handler) {
    libc_resolve();
    if (t_in_dshim) {
        return libc.signal(sig, handler);
    }
    // glibc's signal(): BSD semantics, SA_RESTART.
    struct sigaction act{}, old{};
    act.sa_handler = handler;
    sigemptyset(&act.sa_mask);
    act.sa_flags = SA_RESTART;
    if (sigaction(sig, &act, &old) < 0) {
        return SIG_ERR;
    }
    return (old.sa_flags & SA_SIGINFO) ? reinterpret_cast<sighandler_t>(reinterpret_cast<void*>(old.sa_sigaction))
                                       : old.sa_handler;
}
#pragma GCC visibility pop
