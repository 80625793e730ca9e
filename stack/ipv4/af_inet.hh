// AF_INET family (net/ipv4/af_inet.c): inet_create, the inetsw switch table
// and the BSD ops of stream sockets (inet_stream_ops).
#pragma once
#include "core/sock.hh"

namespace dshim {

extern const proto_ops inet_stream_ops;
extern const net_proto_family inet_family_ops;

// Registers the AF_INET family and its inetsw entries (inet_init).
int inet_init();

}  // namespace dshim
