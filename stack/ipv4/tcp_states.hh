// TCP states with the kernel's numbering (include/net/tcp_states.h), so
// TCP_INFO's tcpi_state and `ss` style output match Linux.
#pragma once
#include <cstdint>

namespace dshim {

enum tcp_state : uint8_t {
    TCP_ESTABLISHED = 1,
    TCP_SYN_SENT,
    TCP_SYN_RECV,
    TCP_FIN_WAIT1,
    TCP_FIN_WAIT2,
    TCP_TIME_WAIT,
    TCP_CLOSE,
    TCP_CLOSE_WAIT,
    TCP_LAST_ACK,
    TCP_LISTEN,
    TCP_CLOSING,
    TCP_NEW_SYN_RECV,
    TCP_MAX_STATES,
};

enum : uint32_t {
    TCPF_ESTABLISHED = 1u << TCP_ESTABLISHED,
    TCPF_SYN_SENT = 1u << TCP_SYN_SENT,
    TCPF_SYN_RECV = 1u << TCP_SYN_RECV,
    TCPF_FIN_WAIT1 = 1u << TCP_FIN_WAIT1,
    TCPF_FIN_WAIT2 = 1u << TCP_FIN_WAIT2,
    TCPF_TIME_WAIT = 1u << TCP_TIME_WAIT,
    TCPF_CLOSE = 1u << TCP_CLOSE,
    TCPF_CLOSE_WAIT = 1u << TCP_CLOSE_WAIT,
    TCPF_LAST_ACK = 1u << TCP_LAST_ACK,
    TCPF_LISTEN = 1u << TCP_LISTEN,
    TCPF_CLOSING = 1u << TCP_CLOSING,
};

const char* tcp_state_name(int state) noexcept;

}  // namespace dshim
