// poll/select/epoll over any mix of kernel and dshim fds (architecture.md
// §4): dshim readiness comes from the sockets' poll ops, kernel readiness
// from the kernel at most every DSHIM_POLL_KERNEL_US while spinning, and
// sleeping waits on both at once.
#pragma once

namespace dshim::shim {

// Drops fd's dshim epoll state when fd is closed (an epoll fd's interest
// list, or fd as a member of dshim interest lists).
void epoll_forget(int fd);

}  // namespace dshim::shim
