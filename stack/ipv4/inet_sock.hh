// The IPv4 layer of a socket (include/net/inet_sock.h): addresses, ports,
// TTL/TOS. Addresses and ports are host order.
#pragma once
#include "core/sock.hh"

namespace dshim {

struct inet_sock : sock {
    uint32_t inet_saddr = 0;      // source address used on the wire
    uint32_t inet_rcv_saddr = 0;  // bound local address (0 = any)
    uint32_t inet_daddr = 0;      // peer address
    uint16_t inet_num = 0;        // local port (bound)
    uint16_t inet_sport = 0;      // local port as sent
    uint16_t inet_dport = 0;      // peer port
    uint8_t uc_ttl = 64;
    uint8_t tos = 0;
    uint16_t inet_id = 0;         // IP id counter for non-DF traffic
    bool bindport_locked = false; // the user bound the port (SOCK_BINDPORT_LOCK): keep it at CLOSE
    list_head bind_node;          // in the stack's bind hash (port owners)
    list_head hash_node;          // in the established or listening hash
};

inline inet_sock* inet_sk(sock* sk) { return static_cast<inet_sock*>(sk); }
inline const inet_sock* inet_sk(const sock* sk) { return static_cast<const inet_sock*>(sk); }

}  // namespace dshim
