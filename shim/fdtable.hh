// The fd table: which file descriptors are dshim sockets. Every dshim socket
// owns a real kernel fd (a placeholder: a kernel TCP socket while the
// socket may still be handed to the kernel, an eventfd for accepted
// connections), so numbers never collide with the kernel's and close, dup2
// and /proc stay coherent (architecture.md §4). Unknown fds are "not ours".
//
// Locking: table slots are atomic pointers; a dfile is reference counted
// (one reference per fd that names it, one per call in progress). The
// socket inside is touched only under the stack lock.
#pragma once
#include <atomic>
#include <cstdint>
#include <vector>

#include "core/sock.hh"

namespace dshim::shim {

// An option set on a socket before dshim decided to accelerate it: applied
// to the kernel placeholder at once (the kernel validates it) and replayed
// on the dshim socket at the decision.
struct recorded_opt {
    int level;
    int name;
    std::vector<unsigned char> value;
};

enum class dfile_kind : uint8_t {
    undecided,  // AF_INET/AF_INET6 stream socket not yet bound/connected: kernel or dshim
    dshim,      // served by the engine
    inherited,  // a dshim socket inherited across fork: unusable in the child
};

struct dfile {
    std::atomic<int> refcnt{1};
    dfile_kind kind = dfile_kind::undecided;
    socket* sock = nullptr;          // dshim: the BSD socket (owned)
    std::atomic<int> file_flags{0};  // O_NONBLOCK (shared by dup'ed fds, like a struct file)
    int type_flags = 0;              // SOCK_NONBLOCK/SOCK_CLOEXEC given at socket()
    std::vector<recorded_opt> opts;  // undecided: options to replay
    bool is_listener = false;
    // A listener bound to INADDR_ANY: its placeholder kernel socket listens
    // on the same port too (kernel-side connections: loopback, other
    // interfaces), and is kept O_NONBLOCK in the kernel (architecture.md §4).
    bool kernel_listen = false;
    // AF_INET, or AF_INET6 for a dual-stack socket: an IPv4 socket in the
    // engine whose addresses the program sees v4-mapped (shim/addr6.hh).
    int family = AF_INET;
};

// Reserves the table (size from RLIMIT_NOFILE, capped).
void fdtable_init();
// The dfile for fd with a reference taken, or nullptr if fd is not ours.
dfile* fd_get(int fd);
// Drops a reference; the last one releases the socket.
void fd_put(dfile* f);
// Installs f at fd (takes over one reference). Replaces nothing: fd must be free.
void fd_install(int fd, dfile* f);
// Removes fd from the table and returns its reference (nullptr if none).
dfile* fd_remove(int fd);
// Highest fd the table can hold.
int fd_limit();
// Calls fn(fd, f) for every fd currently in the table.
template <class Fn>
void fd_for_each(Fn&& fn);

// Implementation detail of fd_for_each.
extern std::atomic<dfile*>* g_fdtab;
extern int g_fdtab_size;
template <class Fn>
void fd_for_each(Fn&& fn) {
    for (int fd = 0; fd < g_fdtab_size; ++fd) {
        if (dfile* f = g_fdtab[fd].load(std::memory_order_acquire)) {
            fn(fd, f);
        }
    }
}

}  // namespace dshim::shim
