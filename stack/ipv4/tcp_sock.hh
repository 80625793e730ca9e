// The TCP socket (include/linux/tcp.h): RFC 9293 send/receive variables, the
// RTT estimator (RFC 6298), congestion state (RFC 5681/6582), negotiated
// options (RFC 7323, 2018) and the out-of-order queue.
//
// Write queue layout: sk_write_queue holds, in sequence order, segments sent
// but not yet acknowledged followed by segments not yet sent; `send_head`
// points at the first unsent one (the kernel splits these into tcp_rtx_queue
// and sk_write_queue). Each buffer's cb holds a tcp_skb_cb.
#pragma once
#include "ipv4/inet_connection_sock.hh"
#include "ipv4/tcp_states.hh"
#include "wire/seq32.hh"
#include "wire/tcp.hh"

namespace dshim {

using wire::seq32;

// Per-segment control block, kept in pbuf::cb (struct tcp_skb_cb).
struct tcp_skb_cb {
    seq32 seq;            // first sequence number (SYN counts)
    seq32 end_seq;        // seq + SYN + FIN + payload length
    uint8_t tcp_flags;    // flags to send / as received
    uint8_t sacked;       // TCPCB_* (retransmitted, lost, sacked)
    uint16_t retrans;     // times retransmitted
    uint8_t ip_dsfield;   // rx: the IPv4 TOS octet it arrived with (ECN field, tcp_ecn.cc)
    // Delivery-rate sampling state at the last transmission (Linux's
    // tcp_skb_cb.tx, tcp_rate.c): tp->delivered then, and the send and
    // delivery times of the flight it went out in (delivered_mstamp is
    // cleared once the segment was SACKed, so it counts once).
    uint32_t tx_delivered;
    nsec_t when;          // last transmit time (0 = never sent)
    nsec_t tx_first_tx_mstamp;
    nsec_t tx_delivered_mstamp;
};
static_assert(sizeof(tcp_skb_cb) <= 48, "tcp_skb_cb must fit pbuf::cb");

inline tcp_skb_cb* TCP_SKB_CB(pbuf* p) { return p->cb_as<tcp_skb_cb>(); }

enum : uint8_t {
    TCPCB_RETRANS = 1,    // retransmitted at least once (Karn: no RTT sample)
    TCPCB_LOST = 2,       // marked lost, to be retransmitted
    TCPCB_SACKED = 4,     // covered by a SACK block from the peer
    TCPCB_EVER_RETRANS = 8,
    TCPCB_APP_LIMITED = 16,  // rate sampling: sent while the application was the limit
};

// A delivery-rate sample (Linux's struct rate_sample, tcp_rate.c), made
// from one ACK: how much was delivered over which interval, for congestion
// control modules that model the path (BBR).
struct rate_sample {
    nsec_t prior_mstamp = 0;      // delivered_mstamp of the flight's start (0 = no sample)
    uint32_t prior_delivered = 0; // tp->delivered then
    int32_t delivered = 0;        // segments delivered over the interval (-1 = invalid)
    int64_t interval_us = -1;     // the interval (max of send and ACK spans), -1 = invalid
    int64_t rtt_us = -1;          // RTT of the most recently sent segment this ACK delivered
    uint32_t acked_sacked = 0;    // segments this ACK newly acked or SACKed
    uint32_t prior_in_flight = 0; // packets in flight before this ACK
    int32_t losses = 0;           // segments newly marked lost by this ACK
    nsec_t last_tx = 0;           // send time of the most recently sent delivered segment
    seq32 last_end_seq;
    bool is_app_limited = false;  // the sample may understate the path's rate
    bool is_retrans = false;      // the sample comes from a retransmission
};

// tp->ecn_flags (RFC 3168)
enum : uint8_t {
    TCP_ECN_OK = 1,        // negotiated
    TCP_ECN_QUEUE_CWR = 2, // send CWR on the next data segment
    TCP_ECN_DEMAND_CWR = 4,// receiver: echo ECE until the peer sends CWR
    TCP_ECN_SEEN = 8,      // ECT or CE seen on received data (TCPI_OPT_ECN_SEEN)
};

// tp->nonagle bits
enum : uint8_t {
    TCP_NAGLE_OFF = 1,    // TCP_NODELAY
    TCP_NAGLE_CORK = 2,   // TCP_CORK
    TCP_NAGLE_PUSH = 4,   // push once regardless
};

struct tcp_options_received {
    bool tstamp_ok = false;     // timestamps negotiated
    bool sack_ok = false;       // SACK permitted negotiated
    bool wscale_ok = false;     // window scaling negotiated
    uint8_t snd_wscale = 0;     // shift applied to the peer's windows
    uint8_t rcv_wscale = 0;     // shift we apply to ours
    uint32_t ts_recent = 0;     // peer's TSval to echo
    nsec_t ts_recent_stamp = 0; // when ts_recent was taken
    uint16_t mss_clamp = 0;     // peer's MSS option (or 536 if absent)
    uint16_t user_mss = 0;      // TCP_MAXSEG
    // Options seen in the last parsed segment
    bool saw_tstamp = false;
    uint32_t rcv_tsval = 0;
    uint32_t rcv_tsecr = 0;
};

struct tcp_sock : inet_connection_sock {
    // --- receive side (RFC 9293 RCV.*)
    seq32 rcv_nxt;              // next sequence expected
    seq32 copied_seq;           // head of unread data (read by the user up to here)
    // Receive buffer autotuning (tcp_rcv_space_adjust): bytes the user read
    // in the last measurement interval, from which sequence, since when.
    uint32_t rcvq_space = 0;
    seq32 rcvq_seq;
    nsec_t rcvq_time = 0;
    seq32 rcv_wup;              // rcv_nxt at the last window update sent
    uint32_t rcv_wnd = 0;       // window advertised in the last segment (bytes)
    uint32_t rcv_ssthresh = 0;  // current window clamp (grows with the flow)
    uint32_t window_clamp = 0;  // largest window we will ever offer
    seq32 irs;                  // initial receive sequence

    // --- send side (RFC 9293 SND.*)
    seq32 snd_una;              // oldest unacknowledged
    seq32 snd_nxt;              // next to send
    seq32 write_seq;            // tail of data queued by the user (+1 past FIN once queued)
    seq32 snd_wl1;              // seq of the segment that last updated the window
    seq32 snd_wl2;              // ack of that segment
    seq32 snd_up;
    seq32 iss;                  // initial send sequence
    seq32 pushed_seq;
    seq32 snd_sml;              // end of the last small segment (Nagle, Minshall)
    uint32_t snd_wnd = 0;       // peer's window (scaled, bytes)
    uint32_t max_window = 0;    // largest window the peer offered
    pbuf* send_head = nullptr;  // first unsent segment in sk_write_queue

    // --- segment sizes
    uint16_t mss_cache = 536;   // payload per segment we send (after options)
    uint16_t advmss = 1460;     // MSS we advertise

    // --- RTT estimator (RFC 6298), microseconds like the kernel
    uint32_t srtt_us = 0;       // smoothed RTT << 3 (0 = no sample yet)
    uint32_t mdev_us = 0;       // mean deviation << 2
    uint32_t rttvar_us = 0;
    uint32_t rtt_min_us = 0;

    // --- congestion control (RFC 5681, 6582)
    uint32_t snd_cwnd = 10;     // in segments
    uint32_t snd_cwnd_cnt = 0;  // linear increase counter
    uint32_t snd_ssthresh = 0x7fffffff;
    uint32_t prior_cwnd = 0;
    uint32_t prior_ssthresh = 0;
    uint32_t packets_out = 0;   // segments in flight (sent, not acked)
    uint32_t retrans_out = 0;   // retransmitted segments in flight
    uint32_t sacked_out = 0;    // SACK: segments marked TCPCB_SACKED; Reno: duplicate ACK count
    uint32_t lost_out = 0;
    seq32 highest_sack;         // end_seq of the highest SACKed segment (valid while sacked_out)
    uint8_t reordering = 3;     // DupThresh (RFC 6675 §2), raised when reordering is seen
    // PRR (RFC 6937): data delivered / sent since recovery began, in segments.
    uint32_t prr_delivered = 0;
    uint32_t prr_out = 0;
    uint32_t undo_tsval = 0;    // our TSval of the first retransmission of the episode (Eifel)
    seq32 tlp_high_seq;         // snd_nxt when the tail loss probe went out (0 = none)
    bool tlp_retrans = false;   // the probe was a retransmission
    // RACK (RFC 8985 §6.1): the most recently sent segment known delivered.
    struct {
        nsec_t mstamp = 0;      // its transmit time
        seq32 end_seq;
        uint32_t rtt_us = 0;    // RTT measured on it
        uint8_t reo_wnd_steps = 1;
        bool reord = false;     // reordering was observed on this connection
        bool advanced = false;  // updated by the ACK being processed
        nsec_t reo_deadline = 0;  // reorder timer wanted (0 = none)
    } rack;
    // ECN (RFC 3168)
    uint8_t ecn_flags = 0;      // TCP_ECN_* (tcp_ecn.cc); once per window = CA_CWR until high_seq
    bool dsack = false;         // duplicate_sack holds a D-SACK block to send (RFC 2883)
    wire::sack_block duplicate_sack;
    seq32 high_seq;             // snd_nxt when recovery started (RFC 6582 "recover")
    seq32 undo_marker;
    uint32_t undo_retrans = 0;  // retransmissions not (yet) proven spurious by D-SACK
    bool undo_armed = false;    // undo_marker is set: this episode may still be undone
    uint32_t delivered = 0;     // segments delivered (cumulatively ACKed or SACKed)
    // Delivery-rate sampling (tcp_rate.cc): when `delivered` last grew, when
    // the current flight began, and until which delivered count samples are
    // application-limited (0 = not).
    nsec_t delivered_mstamp = 0;
    nsec_t first_tx_mstamp = 0;
    uint32_t app_limited = 0;
    uint32_t lost = 0;          // segments ever marked lost (rs->losses comes from its growth)
    uint32_t rate_delivered = 0;    // the best recent rate sample (TCP_INFO delivery rate)
    uint32_t rate_interval_us = 0;
    bool rate_app_limited = false;
    nsec_t retrans_stamp = 0;   // first retransmission time of the head (R2 timing)
    uint32_t total_retrans = 0;
    uint32_t bytes_in_flight_limit = 0;
    // --- pacing (Linux's earliest-departure-time model): when the next
    // segment may leave, and the high-resolution timer that sends it then.
    nsec_t tcp_wstamp_ns = 0;
    timer_list pacing_timer;

    // --- timestamps/options
    tcp_options_received rx_opt;
    uint32_t tsoffset = 0;      // per-connection TSval offset (RFC 7323 §5.4)
    nsec_t rcv_tstamp = 0;      // time of the last received ACK (keepalive, R2)
    nsec_t lsndtime = 0;        // time of the last sent data
    nsec_t linger2 = 0;         // TCP_LINGER2 (0 = default FIN_WAIT2 timeout)
    uint8_t nonagle = 0;
    bool fastopen = false;

    // --- keepalive (0 = the stack defaults)
    nsec_t keepalive_time = 0;
    nsec_t keepalive_intvl = 0;
    uint8_t keepalive_probes = 0;

    // --- out-of-order queue, sorted by seq, bounded (tcp_data_queue_ofo)
    pbuf_queue out_of_order_queue;
    // SACK blocks we report (RFC 2018): the ranges held in out_of_order_queue,
    // most recent first.
    uint8_t num_sacks = 0;
    wire::sack_block selective_acks[4];

    // --- statistics (TCP_INFO)
    uint64_t bytes_acked = 0;
    uint64_t bytes_received = 0;
    uint32_t segs_in = 0;
    uint32_t segs_out = 0;
    uint32_t data_segs_in = 0;
    uint32_t data_segs_out = 0;
    uint32_t rcv_ooopack = 0;
    uint32_t dsack_dups = 0;
    nsec_t last_oow_ack_time = 0;  // rate limit for ACKs to out-of-window segments

    // Bytes in flight (RFC 5681 FlightSize in segments, Reno accounting).
    uint32_t packets_in_flight() const {  // RFC 6675 "pipe" when SACK is on
        const uint32_t left = sacked_out + lost_out;
        return packets_out > left ? packets_out - left + retrans_out : retrans_out;
    }
};

inline tcp_sock* tcp_sk(sock* sk) { return static_cast<tcp_sock*>(sk); }
inline const tcp_sock* tcp_sk(const sock* sk) { return static_cast<const tcp_sock*>(sk); }

}  // namespace dshim
