// Shared helpers of the intercepts (calls.cc, poll.cc).
#pragma once
#include <cerrno>
#include <cstdint>

#include "shim/fdtable.hh"
#include "shim/libc.hh"
#include "shim/runtime.hh"

namespace dshim::shim {

// Pass straight to libc? (inside dshim, or before the constructor ran)
inline bool passthrough() { return t_in_dshim || !runtime_ready(); }

// Turns a -errno result into -1 + errno.
template <class T>
inline T sys_ret(T r) {
    if (r < 0) {
        errno = int(-r);
        return T(-1);
    }
    return r;
}

// The readiness of a dshim file as poll bits (takes the stack lock).
uint32_t dfile_poll(dfile* f);

// A listener on INADDR_ANY that also accepts kernel-side connections
// through its placeholder (architecture.md §4): poll/select/epoll add the
// placeholder's kernel readiness (POLLIN) to the socket's own.
inline bool dfile_kernel_side(const dfile* f) { return f->kind == dfile_kind::dshim && f->kernel_listen; }

// RAII reference on a dfile found in the table.
class dfile_ref {
public:
    explicit dfile_ref(int fd) : _f(passthrough() ? nullptr : fd_get(fd)) {}
    ~dfile_ref() { if (_f) { fd_put(_f); } }
    dfile_ref(const dfile_ref&) = delete;
    dfile_ref& operator=(const dfile_ref&) = delete;
    dfile* get() const { return _f; }
    dfile* operator->() const { return _f; }
    explicit operator bool() const { return _f != nullptr; }

private:
    dfile* _f;
};

}  // namespace dshim::shim
