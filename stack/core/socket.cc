// Family registry and socket creation (net/socket.c: sock_register,
// __sock_create, sock_release) plus the sock_no_* stubs.
#include "core/socket.hh"

#include <cerrno>

namespace dshim {

namespace {
const net_proto_family* net_families[NPROTO];
}  // namespace

int sock_register(const net_proto_family* ops) {
    if (!ops || ops->family < 0 || ops->family >= NPROTO || !ops->create) {
        return -EINVAL;
    }
    if (net_families[ops->family]) {
        return -EEXIST;
    }
    net_families[ops->family] = ops;
    return 0;
}

void sock_unregister(int family) {
    if (family >= 0 && family < NPROTO) {
        net_families[family] = nullptr;
    }
}

result<socket*> sock_create(stack* net, int family, int type, int protocol) {
    // __sock_create: flags are the caller's business (SOCK_NONBLOCK/CLOEXEC
    // are stripped by the shim); the type must be a real one.
    if (family < 0 || family >= NPROTO) {
        return result<socket*>::error(EAFNOSUPPORT);
    }
    if (type < 0 || type >= 11 /* SOCK_MAX */) {
        return result<socket*>::error(EINVAL);
    }
    const net_proto_family* pf = net_families[family];
    if (!pf) {
        return result<socket*>::error(EAFNOSUPPORT);
    }
    auto* sock = new socket();
    sock->type = short(type);
    sock->net = net;
    if (int err = pf->create(net, sock, protocol, 0); err < 0) {
        delete sock;
        return result<socket*>::error(-err);
    }
    return sock;
}

void sock_release(socket* sock) {
    if (!sock) {
        return;
    }
    if (sock->ops) {
        sock->ops->release(sock);
    }
    delete sock;
}

int sock_no_bind(socket*, const sockaddr*, int) { return -EOPNOTSUPP; }
int sock_no_connect(socket*, const sockaddr*, int, int) { return -EOPNOTSUPP; }
int sock_no_accept(socket*, socket**, int) { return -EOPNOTSUPP; }
int sock_no_getname(socket*, sockaddr*, int) { return -EOPNOTSUPP; }
int sock_no_ioctl(socket*, unsigned, unsigned long) { return -EOPNOTSUPP; }
int sock_no_listen(socket*, int) { return -EOPNOTSUPP; }
int sock_no_shutdown(socket*, int) { return -EOPNOTSUPP; }
long sock_no_sendmsg(socket*, const msghdr*, size_t, int) { return -EOPNOTSUPP; }
long sock_no_recvmsg(socket*, msghdr*, size_t, int) { return -EOPNOTSUPP; }

}  // namespace dshim
