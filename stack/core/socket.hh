// The BSD socket layer's registry and creation path (net/socket.c):
// sock_register() of protocol families and sock_create(), which looks up the
// family and calls its create() (inet_create for AF_INET).
#pragma once
#include "core/result.hh"
#include "core/sock.hh"

namespace dshim {

inline constexpr int NPROTO = 46;  // AF_MAX on Linux 6.x

// Registers a family: 0, -EINVAL (bad family number), -EEXIST (taken).
int sock_register(const net_proto_family* ops);
void sock_unregister(int family);
// Registers every family dshim serves (AF_INET). Idempotent.
void stack_init();

// socket(): -EINVAL for a bad type, -EAFNOSUPPORT for a family nobody
// registered, the family's errors otherwise (EPROTONOSUPPORT...).
result<socket*> sock_create(stack* net, int family, int type, int protocol);
// Frees a socket after its ops->release (sock_release).
void sock_release(socket* sock);

}  // namespace dshim
