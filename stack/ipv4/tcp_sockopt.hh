// Socket options of TCP/IPv4 sockets at SOL_SOCKET, IPPROTO_IP and
// IPPROTO_TCP (net/core/sock.c sk_setsockopt, net/ipv4/ip_sockglue.c,
// net/ipv4/tcp.c do_tcp_setsockopt), with Linux's errno and value rules.
#pragma once
#include "core/sock.hh"

namespace dshim {

int inet_setsockopt_sk(sock* sk, int level, int optname, const void* optval, unsigned optlen);
int inet_getsockopt_sk(sock* sk, int level, int optname, void* optval, unsigned* optlen);

}  // namespace dshim
