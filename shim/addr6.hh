// Dual-stack (AF_INET6) sockets on the engine. The engine speaks IPv4 only;
// an AF_INET6 stream socket that binds to ::, to ::ffff:DSHIM_IP, or
// connects to a v4-mapped address routed through dshim is an IPv4 socket in
// the engine, and the program sees its addresses as v4-mapped ::ffff:a.b.c.d
// (RFC 4291 §2.5.5.2), exactly as a Linux dual-stack socket shows IPv4 peers.
// Kernel counterparts: inet6_bind/inet6_getname with ipv6_addr_v4mapped.
#pragma once
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace dshim::shim {

enum class v6_addr_kind { mapped, any, other };

// What an IPv6 address means to dshim; a mapped or any address is returned
// as the IPv4 sockaddr the engine understands (port kept).
inline v6_addr_kind v6_to_v4(const sockaddr_in6& s6, sockaddr_in* out) {
    static constexpr unsigned char mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    *out = sockaddr_in{};
    out->sin_family = AF_INET;
    out->sin_port = s6.sin6_port;
    if (std::memcmp(s6.sin6_addr.s6_addr, mapped_prefix, 12) == 0) {
        std::memcpy(&out->sin_addr.s_addr, s6.sin6_addr.s6_addr + 12, 4);
        return v6_addr_kind::mapped;
    }
    static constexpr unsigned char zero[16] = {};
    if (std::memcmp(s6.sin6_addr.s6_addr, zero, 16) == 0) {
        return v6_addr_kind::any;
    }
    return v6_addr_kind::other;
}

// The program's view of an engine (IPv4) address on an AF_INET6 socket:
// ::ffff:a.b.c.d, or :: for INADDR_ANY (an unbound or ANY-bound socket).
inline sockaddr_in6 v4_to_v6(const sockaddr_in& sin) {
    sockaddr_in6 s6{};
    s6.sin6_family = AF_INET6;
    s6.sin6_port = sin.sin_port;
    if (sin.sin_addr.s_addr != 0) {
        s6.sin6_addr.s6_addr[10] = 0xff;
        s6.sin6_addr.s6_addr[11] = 0xff;
        std::memcpy(s6.sin6_addr.s6_addr + 12, &sin.sin_addr.s_addr, 4);
    }
    return s6;
}

// Checks an address given to bind/connect on a decided AF_INET6 dshim socket
// as inet6_bind/inet6_connect do, and converts it for the engine. Returns 0
// or -errno (for_bind: an IPv6 address dshim cannot own is EADDRNOTAVAIL;
// for connect it is unreachable through dshim).
inline int v6_addr_in(const sockaddr* a, socklen_t len, bool for_bind, sockaddr_in* out) {
    if (a == nullptr) {
        return -EFAULT;
    }
    if (len < socklen_t(sizeof(sockaddr_in6))) {
        return -EINVAL;
    }
    sockaddr_in6 s6;
    std::memcpy(&s6, a, sizeof(s6));
    if (s6.sin6_family != AF_INET6) {
        return -EAFNOSUPPORT;
    }
    switch (v6_to_v4(s6, out)) {
    case v6_addr_kind::mapped: return 0;
    case v6_addr_kind::any: return for_bind ? 0 : -ENETUNREACH;
    case v6_addr_kind::other: return for_bind ? -EADDRNOTAVAIL : -ENETUNREACH;
    }
    return -EINVAL;
}

}  // namespace dshim::shim
