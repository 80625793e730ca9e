// TCP entry points shared by the tcp_*.cc files (include/net/tcp.h).
// Everything here runs under the stack lock.
#pragma once
#include "core/sock.hh"
#include "ipv4/tcp_sock.hh"
#include "wire/ipv4.hh"
#include "wire/tcp.hh"

namespace dshim {

class stack;
struct tcp_timewait_sock;

extern const proto tcp_prot;
extern const tcp_congestion_ops tcp_reno;
extern const tcp_congestion_ops tcp_cubic;
extern const tcp_congestion_ops tcp_bbr_cong_ops;

// Maximum segment lifetime stuff and fixed protocol constants.
#ifndef TCP_MSS_DEFAULT  // <linux/tcp.h> defines the same value as a macro
inline constexpr uint16_t TCP_MSS_DEFAULT = 536;   // RFC 9293 §3.7.1 when no MSS option
#endif
inline constexpr uint16_t TCP_MIN_MSS = 88;
inline constexpr uint32_t TCP_MAX_WINDOW = 65535;
inline constexpr uint8_t TCP_MAX_WSCALE = 14;
inline constexpr uint8_t TCP_MAX_QUICKACKS = 16;
inline constexpr nsec_t TCP_TIMEOUT_INIT = 1 * NSEC_PER_SEC;
inline constexpr nsec_t TCP_RESOURCE_PROBE = 500 * NSEC_PER_MSEC;

// --- tcp_ipv4.cc: demux, hashing, ports, connect, stateless RST
void tcp_v4_rcv(stack& net, pbuf_ptr skb, const wire::ipv4_repr& iph);
int tcp_v4_connect(sock* sk, const sockaddr* uaddr, int addr_len);
bool tcp_v4_send_unicast_reply(stack& net, uint32_t saddr, uint32_t daddr, const wire::tcp_repr& th);
void tcp_v4_send_reset(stack& net, uint32_t saddr, uint32_t daddr, const wire::tcp_repr& th,
                       uint32_t payload_len);
void tcp_v4_send_ack_raw(stack& net, uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport,
                         seq32 seq, seq32 ack, uint16_t win, bool ts, uint32_t tsval, uint32_t tsecr);
sock* inet_lookup_established(stack& net, uint32_t saddr, uint16_t sport, uint32_t daddr, uint16_t dport);
sock* inet_lookup_listener(stack& net, uint32_t daddr, uint16_t dport, uint32_t saddr, uint16_t sport);
void inet_ehash_insert(sock* sk);
void inet_hash_listener(sock* sk);
void inet_unhash(sock* sk);
int inet_csk_get_port(sock* sk, uint16_t snum);
void inet_put_port(sock* sk);
bool inet_port_conflict(sock* sk, uint16_t port, bool relax_listen);
seq32 secure_tcp_seq(stack& net, uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport);
uint32_t secure_tcp_ts_off(stack& net, uint32_t saddr, uint32_t daddr);
void tcp_stack_destroy(stack& net);

// --- tcp.cc: user operations, state changes
void tcp_set_state(sock* sk, int state);
void tcp_done(sock* sk);
void tcp_init_sock_common(sock* sk);
void inet_csk_destroy_sock(sock* sk);
void sock_hold(sock* sk);
void sock_put(sock* sk);
uint32_t tcp_poll_mask(sock* sk);
int tcp_inq(sock* sk);           // readable bytes
void tcp_cleanup_rbuf(sock* sk, int copied);
int tcp_disconnect(sock* sk, int flags);
void tcp_write_err(sock* sk);
void tcp_reset(sock* sk);

// --- tcp_output.cc
void tcp_write_xmit(sock* sk, int nonagle);
// Pacing (tcp_output.cc): whether the next segment must wait (arms the
// pacing timer), and the pacing rate recomputed after an ACK.
bool tcp_pacing_check(sock* sk);
void tcp_pacing_timer(void* arg);
void tcp_update_pacing_rate(sock* sk);
void tcp_push_pending_frames(sock* sk);
void tcp_send_ack(sock* sk);
void tcp_send_delayed_ack(sock* sk);
void tcp_send_fin(sock* sk);
void tcp_send_active_reset(sock* sk);
int tcp_connect(sock* sk);
int tcp_send_synack(sock* sk);
int tcp_retransmit_skb(sock* sk, pbuf* skb);
void tcp_xmit_retransmit_queue(sock* sk);
void tcp_send_probe0(sock* sk);
int tcp_write_wakeup(sock* sk);
void tcp_send_window_probe(sock* sk);
void tcp_send_challenge_ack(sock* sk);
bool tcp_oow_rate_limited(sock* sk);
uint32_t tcp_select_window(sock* sk);
uint32_t tcp_select_window_raw(sock* sk);
uint32_t tcp_receive_window(const tcp_sock* tp);
uint32_t tcp_space(const sock* sk);
// The receive memory this socket may hold: sk_rcvbuf, capped by its share
// of the buffer pool (architecture.md §3).
int tcp_rcvbuf_limit(const sock* sk);
uint16_t tcp_current_mss(sock* sk);
void tcp_sync_mss(sock* sk, uint32_t pmtu);
// The MSS this socket offers: the device MTU less 40, bounded by TCP_MAXSEG.
uint16_t tcp_advmss(const sock* sk);
void tcp_mtup_init(sock* sk);
void tcp_init_nondata_skb(pbuf* skb, seq32 seq, uint8_t flags);
pbuf* tcp_alloc_skb(sock* sk, uint32_t size);
void tcp_queue_skb(sock* sk, pbuf_ptr skb);
uint32_t tcp_init_cwnd(const tcp_sock* tp);
uint32_t tcp_time_stamp(const tcp_sock* tp);
bool tcp_nagle_test(const tcp_sock* tp, const pbuf* skb, uint32_t mss, int nonagle);

// --- tcp_input.cc
void tcp_rcv_state_process(sock* sk, pbuf_ptr skb, const wire::tcp_repr& th);
void tcp_parse_options_into(tcp_sock* tp, const wire::tcp_repr& th);
void tcp_rtt_estimator(sock* sk, long mrtt_us);
void tcp_set_rto(sock* sk);
void tcp_enter_loss(sock* sk);
void tcp_init_transfer(sock* sk);
void tcp_enter_quickack_mode(sock* sk, unsigned max_quickacks);
void tcp_fin(sock* sk);

// --- tcp_rate.cc: delivery-rate samples (for BBR)
void tcp_rate_skb_sent(sock* sk, pbuf* skb);
void tcp_rate_skb_delivered(sock* sk, pbuf* skb, rate_sample* rs, bool sacking);
void tcp_rate_gen(sock* sk, uint32_t delivered, uint32_t lost, rate_sample* rs);
void tcp_rate_check_app_limited(sock* sk);
// The congestion control module sets cwnd itself (BBR): PRR, cong_avoid and
// the fixed recovery windows stand aside.
inline bool tcp_ca_controls_cwnd(const tcp_sock* tp) {
    return tp->icsk_ca_ops != nullptr && tp->icsk_ca_ops->cong_control != nullptr;
}

// --- tcp_recovery.cc: SACK scoreboard, RACK-TLP, PRR, undo
struct tcp_sack_result {
    uint32_t newly_sacked = 0;  // segments newly marked TCPCB_SACKED
    bool dsack = false;         // the first block was a D-SACK (RFC 2883)
};
tcp_sack_result tcp_sacktag_write_queue(sock* sk, const wire::tcp_repr& th, rate_sample* rs);
void tcp_sack_mark_lost(sock* sk);
void tcp_rack_advance(tcp_sock* tp, uint8_t sacked, seq32 end_seq, nsec_t xmit_time);
nsec_t tcp_rack_detect_loss(sock* sk);
void tcp_rack_reo_timeout(sock* sk);
void tcp_sack_fastretrans_alert(sock* sk, uint32_t delivered, bool snd_una_advanced, bool dsack);
void tcp_cwnd_reduction(sock* sk, uint32_t newly_acked_sacked, bool newly_lost, bool snd_una_advanced,
                        bool fast_rexmit);
void tcp_init_undo(tcp_sock* tp);
void tcp_enter_cwr(sock* sk);
void tcp_dsack_set(tcp_sock* tp, seq32 seq, seq32 end_seq);
bool tcp_schedule_loss_probe(sock* sk);
void tcp_send_loss_probe(sock* sk);
void tcp_process_tlp_ack(sock* sk, seq32 ack, bool dsack, bool snd_una_advanced, bool data_sacked);

// --- tcp_icmp.cc: ICMP errors for TCP (tcp_v4_err)
void tcp_v4_err(stack& net, uint8_t type, uint8_t code, uint32_t info, std::span<const std::byte> quoted);
void tcp_v4_mtu_reduced(sock* sk, uint32_t mtu);

// --- tcp_timer.cc
void tcp_init_xmit_timers(sock* sk);
void tcp_clear_xmit_timers(sock* sk);
void inet_csk_reset_xmit_timer(sock* sk, uint8_t what, nsec_t when);
void inet_csk_clear_xmit_timer(sock* sk, uint8_t what);
void tcp_rearm_rto(sock* sk);
void tcp_reset_keepalive_timer(sock* sk, nsec_t len);
void tcp_delete_keepalive_timer(sock* sk);
void tcp_set_keepalive(sock* sk, bool on);
nsec_t inet_csk_rto_backoff(const inet_connection_sock* icsk, nsec_t max_when);
nsec_t keepalive_time_when(const tcp_sock* tp);
nsec_t keepalive_intvl_when(const tcp_sock* tp);
int keepalive_probes(const tcp_sock* tp);

// --- tcp_minisocks.cc: listener children and TIME_WAIT
void tcp_conn_request(sock* listener, const wire::ipv4_repr& iph, const wire::tcp_repr& th);
void inet_csk_listen_stop(sock* listener);
void inet_csk_reqsk_queue_drop(sock* child);
void inet_csk_child_established(sock* child);
void tcp_time_wait(sock* sk, int state, nsec_t timeo);
// Returns true when the segment was consumed by the TIME_WAIT socket; false
// when it is a new SYN the listener should take (the tw socket is gone then).
bool tcp_timewait_state_process(tcp_timewait_sock* tw, pbuf_ptr& skb, const wire::ipv4_repr& iph,
                                const wire::tcp_repr& th);
void inet_twsk_kill(tcp_timewait_sock* tw);

// --- tcp_cong.cc
void tcp_init_congestion_control(sock* sk);
const tcp_congestion_ops* tcp_ca_find(const char* name);
uint32_t tcp_slow_start(tcp_sock* tp, uint32_t acked);
void tcp_cong_avoid_ai(tcp_sock* tp, uint32_t w, uint32_t acked);

// Time helpers
inline uint32_t tcp_stamp_us(nsec_t t) { return uint32_t(t / NSEC_PER_USEC); }

}  // namespace dshim
