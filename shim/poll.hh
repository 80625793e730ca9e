// poll/select/epoll over any mix of kernel and dshim fds (architecture.md
// §4): dshim readiness comes from the sockets' poll ops, kernel readiness
// from the kernel at most every DSHIM_POLL_KERNEL_US while spinning (and
// always before sleeping: the sleep waits on both at once).
//
// epoll (kernel counterpart fs/eventpoll.c). An epoll set is the kernel's
// epoll fd (holding the kernel fds) plus the shim's record of it, made at
// epoll_create: the dshim members, each with its events, data and
// edge-trigger state. A call harvests the dshim members (rotating start, so
// none starves), then the kernel epoll with timeout 0; when dshim events
// filled maxevents the next call asks the kernel first. Semantics as Linux:
//  - level/edge-triggered: EPOLLET reports a member again only after a new
//    event on it (the sock callbacks count receive- and send-side events
//    separately, so an ACK does not re-report EPOLLIN); EPOLLONESHOT disables
//    the member until EPOLL_CTL_MOD; EPOLLERR/EPOLLHUP always reported.
//  - EPOLLEXCLUSIVE: ADD only (EINVAL on MOD or with other bits); wake-one is
//    approximated: each socket event is reported to the first set that sees it.
//  - a registration is keyed by (file, fd), as Linux: closing one fd of a
//    dup'ed socket keeps it registered; it goes when the socket's last
//    reference goes (epoll_release_file).
//  - nesting: an epoll fd added to another epoll set is registered in the
//    outer kernel epoll with a tag (its kernel members' readiness) and
//    recorded in the outer set, which also evaluates the inner set's dshim
//    members: the outer call reports the inner fd once, merging both. An
//    epoll fd in a poll/select set is readable when its kernel part or a
//    dshim member is ready. Limits: only through the intercepted calls (a
//    raw epoll_wait syscall on the outer fd sees kernel members only); an
//    edge-triggered nested epoll fd is re-reported while its dshim part stays
//    ready; a dup of an epoll fd carries only its kernel members.
#pragma once

namespace dshim::shim {

struct dfile;

// fd is being closed (or replaced by dup2): if it is an epoll fd, drops the
// shim's record of it and its place in the sets it was nested in.
void epoll_forget(int fd);
// The last reference to a dshim socket is going: removes it from every set.
void epoll_release_file(dfile* f);
// An undecided socket is handed to the kernel: its registrations move to
// the kernel epoll sets.
void epoll_handover(int fd, dfile* f);

}  // namespace dshim::shim
