// Connection-oriented socket layer (include/net/inet_connection_sock.h):
// retransmit/delayed-ACK/keepalive timers, RTO, congestion-control ops,
// the accept queue of a listener.
#pragma once
#include "core/timer.hh"
#include "ipv4/inet_sock.hh"

namespace dshim {

struct tcp_sock;
struct rate_sample;

// Congestion control (struct tcp_congestion_ops): behind a table so NewReno
// CUBIC and BBR are interchangeable per socket.
struct tcp_congestion_ops {
    const char* name;
    void (*init)(tcp_sock* tp);
    // New ssthresh after a loss event.
    uint32_t (*ssthresh)(tcp_sock* tp);
    // Grows cwnd for `acked` newly acknowledged segments (not in recovery).
    void (*cong_avoid)(tcp_sock* tp, uint32_t acked);
    // Called on state changes into/out of loss/recovery (may be null).
    void (*set_state)(tcp_sock* tp, uint8_t new_state);
    // Restores cwnd after a spurious loss indication (may be null).
    uint32_t (*undo_cwnd)(tcp_sock* tp);
    // A module that models the path sets cwnd and the pacing rate itself
    // from each ACK's delivery-rate sample (may be null; when set, neither
    // cong_avoid nor PRR's reduction nor the generic pacing rate is used).
    void (*cong_control)(tcp_sock* tp, const rate_sample* rs);
    // Send buffer in cwnds' worth of segments (Linux's sndbuf_expand; 0 = 2).
    uint8_t sndbuf_expand = 0;
};

// icsk_ca_state values (enum tcp_ca_state)
enum tcp_ca_state : uint8_t {
    TCP_CA_Open = 0,
    TCP_CA_Disorder = 1,
    TCP_CA_CWR = 2,
    TCP_CA_Recovery = 3,
    TCP_CA_Loss = 4,
};

// icsk_ack.pending bits
enum : uint8_t {
    ICSK_ACK_SCHED = 1,   // an ACK is owed
    ICSK_ACK_TIMER = 2,   // the delayed-ACK timer is armed
    ICSK_ACK_PUSHED = 4,  // the peer pushed: ACK promptly
    ICSK_ACK_NOW = 8,     // send the next ACK at once, one time (ECN CWR received)
};

// Which timer icsk_retransmit_timer is used for (icsk_pending).
enum : uint8_t {
    ICSK_TIME_NONE = 0,
    ICSK_TIME_RETRANS = 1,
    ICSK_TIME_PROBE0 = 3,
    ICSK_TIME_REO_TIMEOUT = 5,   // RACK reordering timer (RFC 8985 §6.3)
    ICSK_TIME_LOSS_PROBE = 6,    // tail loss probe (RFC 8985 §7)
};

struct inet_connection_sock : inet_sock {
    timer_list icsk_retransmit_timer;  // RTO and zero-window probe
    timer_list icsk_delack_timer;
    timer_list sk_timer;               // keepalive, SYN-RECV expiry, TIME_WAIT, FIN_WAIT2
    uint8_t icsk_pending = ICSK_TIME_NONE;
    nsec_t icsk_rto = 0;               // current RTO (ns), before backoff
    uint8_t icsk_retransmits = 0;      // consecutive RTO expiries for this segment
    uint8_t icsk_backoff = 0;          // exponential backoff shift
    uint8_t icsk_probes_out = 0;       // unanswered zero-window or keepalive probes
    uint8_t icsk_syn_retries = 0;      // TCP_SYNCNT (0 = default)
    uint8_t icsk_ca_state = TCP_CA_Open;
    const tcp_congestion_ops* icsk_ca_ops = nullptr;
    nsec_t icsk_user_timeout = 0;      // TCP_USER_TIMEOUT (0 = off)
    uint32_t icsk_pmtu_cookie = 0;     // path MTU this socket was sized for
    // Private state of the congestion-control module (icsk_ca_priv).
    alignas(8) unsigned char icsk_ca_priv[104] = {};
    template <class T> T* ca_priv() {
        static_assert(sizeof(T) <= sizeof(icsk_ca_priv));
        return reinterpret_cast<T*>(icsk_ca_priv);
    }
    struct {
        uint8_t pending = 0;           // ICSK_ACK_*
        uint8_t quick = 0;             // ACKs still to send without delay
        bool pingpong = false;         // interactive: delay ACKs more
        nsec_t ato = 0;                // delayed-ACK timeout
        nsec_t lrcvtime = 0;           // time of the last received data
        uint16_t rcv_mss = 0;          // estimate of the peer's segment size
    } icsk_ack;

    // Listener: children that completed the handshake, in arrival order, and
    // the count still in SYN_RECV (the SYN queue).
    list_head icsk_accept_queue;
    uint32_t icsk_syn_queue_len = 0;
    // When the last SYN cookie went out (Linux's synq overflow stamp): an ACK
    // is checked as a cookie only within two minutes of it.
    nsec_t icsk_synq_last_overflow = 0;
    // Child: its listener while in SYN_RECV or the accept queue.
    inet_connection_sock* icsk_parent = nullptr;
    list_head icsk_accept_node;        // in the parent's accept queue or child list
};

inline inet_connection_sock* inet_csk(sock* sk) { return static_cast<inet_connection_sock*>(sk); }
inline const inet_connection_sock* inet_csk(const sock* sk) { return static_cast<const inet_connection_sock*>(sk); }

}  // namespace dshim
