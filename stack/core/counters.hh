// Stack-wide counters (the kernel's SNMP MIBs: Ip*, Icmp*, Tcp*, TcpExt*),
// read by `dshim stat` and by tests. Owned by the stack lock.
#pragma once
#include <cstdint>
#include "core/drop_reason.hh"

namespace dshim {

#define DSHIM_COUNTERS(X)                                                 \
    X(rx_frames) X(rx_bytes) X(tx_frames) X(tx_bytes)                     \
    X(arp_requests_rx) X(arp_replies_rx) X(arp_requests_tx) X(arp_replies_tx) \
    X(ip_in_receives) X(ip_in_delivers) X(ip_out_requests)               \
    X(icmp_in_msgs) X(icmp_out_msgs) X(icmp_in_echos) X(icmp_out_echo_reps) \
    X(tcp_active_opens) X(tcp_passive_opens) X(tcp_attempt_fails)         \
    X(tcp_estab_resets) X(tcp_in_segs) X(tcp_out_segs) X(tcp_retrans_segs) \
    X(tcp_in_errs) X(tcp_out_rsts)                                        \
    X(tcp_listen_overflows) X(tcp_listen_drops)                           \
    X(tcp_timeouts) X(tcp_fast_retrans) X(tcp_loss_probes)                \
    X(tcp_delayed_acks) X(tcp_quick_acks) X(tcp_pure_acks_rx)             \
    X(tcp_ofo_queued) X(tcp_ofo_drops) X(tcp_dup_segs) X(tcp_rcv_collapsed) \
    X(tcp_zero_window_probes) X(tcp_window_updates)                       \
    X(tcp_rcv_pruned) X(tcp_mem_pressure) X(tcp_enobufs)                  \
    X(tcp_challenge_acks) X(tcp_time_wait_recycled)                       \
    X(tcp_sack_recovery) X(tcp_reno_recovery) X(tcp_dsack_rx) X(tcp_dsack_tx) \
    X(tcp_spurious_undos) X(tcp_lost_retransmits) X(tcp_rack_reo_timeouts) \
    X(tcp_challenge_ack_limited)                                          \
    X(tcp_syncookies_sent) X(tcp_syncookies_recv) X(tcp_syncookies_failed) \
    X(tcp_ecn_ce_rx) X(tcp_ecn_cwr)                                       \
    X(icmp_in_dest_unreachs) X(icmp_in_frag_needed)                       \
    X(ip_reasm_reqds) X(ip_reasm_oks) X(ip_reasm_fails) X(ip_reasm_timeouts) \
    X(ip_frag_oks) X(ip_frag_fails) X(ip_frag_creates)

struct stack_counters {
#define X(name) uint64_t name = 0;
    DSHIM_COUNTERS(X)
#undef X
    uint64_t drops[drop_reason_count] = {};
    uint64_t total_drops() const {
        uint64_t s = 0;
        for (auto d : drops) { s += d; }
        return s;
    }
    uint64_t drop(drop_reason r) const { return drops[unsigned(r)]; }
};

}  // namespace dshim
