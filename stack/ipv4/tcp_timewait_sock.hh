// TIME_WAIT minisocket (include/net/inet_timewait_sock.h, tcp_timewait_sock):
// what remains of a connection after the full socket is done, so its 4-tuple
// keeps answering for 2*MSL (RFC 9293 §3.6.1) without holding buffers.
#pragma once
#include "core/timer.hh"
#include "ipv4/inet_sock.hh"
#include "wire/seq32.hh"

namespace dshim {

struct tcp_timewait_sock : inet_sock {
    uint8_t tw_substate = 0;      // TCP_TIME_WAIT or TCP_FIN_WAIT2 (orphan)
    wire::seq32 tw_rcv_nxt;
    wire::seq32 tw_snd_nxt;
    uint32_t tw_rcv_wnd = 0;
    uint8_t tw_rcv_wscale = 0;
    bool tw_tstamp_ok = false;
    uint32_t tw_ts_recent = 0;
    nsec_t tw_ts_recent_stamp = 0;
    uint32_t tw_ts_offset = 0;
    timer_list tw_timer;
};

}  // namespace dshim
