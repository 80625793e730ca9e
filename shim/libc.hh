// The libc functions dshim interposes, as one X-macro list: it declares the
// table of the real (next) definitions, resolved with dlsym(RTLD_NEXT), so an
// intercept can pass a call through untouched. (OpenOnload's template.)
#pragma once
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

// X(return type, name, (parameters), (argument names))
#define DSHIM_LIBC_FUNCS(X)                                                                            \
    X(int, socket, (int domain, int type, int protocol), (domain, type, protocol))                     \
    X(int, socketpair, (int d, int t, int p, int sv[2]), (d, t, p, sv))                                \
    X(int, bind, (int fd, const struct sockaddr* a, socklen_t l), (fd, a, l))                          \
    X(int, listen, (int fd, int backlog), (fd, backlog))                                              \
    X(int, accept, (int fd, struct sockaddr* a, socklen_t* l), (fd, a, l))                             \
    X(int, accept4, (int fd, struct sockaddr* a, socklen_t* l, int flags), (fd, a, l, flags))          \
    X(int, connect, (int fd, const struct sockaddr* a, socklen_t l), (fd, a, l))                       \
    X(ssize_t, read, (int fd, void* b, size_t n), (fd, b, n))                                          \
    X(ssize_t, write, (int fd, const void* b, size_t n), (fd, b, n))                                   \
    X(ssize_t, readv, (int fd, const struct iovec* v, int n), (fd, v, n))                              \
    X(ssize_t, writev, (int fd, const struct iovec* v, int n), (fd, v, n))                             \
    X(ssize_t, recv, (int fd, void* b, size_t n, int f), (fd, b, n, f))                                \
    X(ssize_t, recvfrom, (int fd, void* b, size_t n, int f, struct sockaddr* a, socklen_t* l),         \
      (fd, b, n, f, a, l))                                                                             \
    X(ssize_t, recvmsg, (int fd, struct msghdr* m, int f), (fd, m, f))                                 \
    X(ssize_t, send, (int fd, const void* b, size_t n, int f), (fd, b, n, f))                          \
    X(ssize_t, sendto, (int fd, const void* b, size_t n, int f, const struct sockaddr* a, socklen_t l), \
      (fd, b, n, f, a, l))                                                                             \
    X(ssize_t, sendmsg, (int fd, const struct msghdr* m, int f), (fd, m, f))                           \
    X(int, close, (int fd), (fd))                                                                     \
    X(int, shutdown, (int fd, int how), (fd, how))                                                    \
    X(int, getsockname, (int fd, struct sockaddr* a, socklen_t* l), (fd, a, l))                        \
    X(int, getpeername, (int fd, struct sockaddr* a, socklen_t* l), (fd, a, l))                        \
    X(int, getsockopt, (int fd, int lv, int o, void* v, socklen_t* l), (fd, lv, o, v, l))              \
    X(int, setsockopt, (int fd, int lv, int o, const void* v, socklen_t l), (fd, lv, o, v, l))         \
    X(int, fcntl, (int fd, int cmd, long arg), (fd, cmd, arg))                                         \
    X(int, ioctl, (int fd, unsigned long req, void* arg), (fd, req, arg))                              \
    X(int, poll, (struct pollfd* p, nfds_t n, int t), (p, n, t))                                      \
    X(int, ppoll, (struct pollfd* p, nfds_t n, const struct timespec* t, const sigset_t* s),          \
      (p, n, t, s))                                                                                    \
    X(int, select, (int n, fd_set* r, fd_set* w, fd_set* e, struct timeval* t), (n, r, w, e, t))       \
    X(int, pselect, (int n, fd_set* r, fd_set* w, fd_set* e, const struct timespec* t,                 \
                     const sigset_t* s),                                                               \
      (n, r, w, e, t, s))                                                                              \
    X(int, epoll_create, (int size), (size))                                                          \
    X(int, epoll_create1, (int flags), (flags))                                                       \
    X(int, epoll_ctl, (int ep, int op, int fd, struct epoll_event* ev), (ep, op, fd, ev))              \
    X(int, epoll_wait, (int ep, struct epoll_event* ev, int n, int t), (ep, ev, n, t))                 \
    X(int, epoll_pwait, (int ep, struct epoll_event* ev, int n, int t, const sigset_t* s),            \
      (ep, ev, n, t, s))                                                                               \
    X(int, dup, (int fd), (fd))                                                                       \
    X(int, dup2, (int fd, int fd2), (fd, fd2))                                                        \
    X(int, dup3, (int fd, int fd2, int flags), (fd, fd2, flags))                                      \
    X(int, close_range, (unsigned lo, unsigned hi, int flags), (lo, hi, flags))                       \
    X(void, closefrom, (int lo), (lo))                                                                \
    X(pid_t, fork, (void), ())                                                                        \
    X(pid_t, vfork, (void), ())                                                                       \
    X(void, _exit, (int status), (status))                                                            \
    X(int, sigaction, (int sig, const struct sigaction* a, struct sigaction* o), (sig, a, o))          \
    X(sighandler_t, signal, (int sig, sighandler_t h), (sig, h))                                      \
    X(int, eventfd, (unsigned int v, int flags), (v, flags))

namespace dshim::shim {

struct libc_table {
#define X(ret, name, params, args) ret(*name) params = nullptr;
    DSHIM_LIBC_FUNCS(X)
#undef X
};

// The real functions. Filled by libc_resolve() (called from the library
// constructor and lazily by any intercept that runs earlier).
extern libc_table libc;
void libc_resolve() noexcept;

}  // namespace dshim::shim
