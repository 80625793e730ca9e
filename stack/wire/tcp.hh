// TCP header and options (RFC 9293 §3.1-3.2; options: MSS RFC 9293 §3.7.1,
// window scale and timestamps RFC 7323, SACK RFC 2018).
//
// Parsing reports what the header says; negotiation (clamping, ignoring
// options outside SYN) is tcp_input's job.
#pragma once
#include "wire/bytes.hh"
#include "wire/seq32.hh"

namespace dshim::wire {

inline constexpr size_t tcp_min_header_len = 20;
inline constexpr size_t tcp_max_header_len = 60;

enum tcp_flag : uint8_t {
    TCPF_FIN = 0x01,
    TCPF_SYN = 0x02,
    TCPF_RST = 0x04,
    TCPF_PSH = 0x08,
    TCPF_ACK = 0x10,
    TCPF_URG = 0x20,
    TCPF_ECE = 0x40,
    TCPF_CWR = 0x80,
};

inline constexpr uint8_t tcpopt_eol = 0;
inline constexpr uint8_t tcpopt_nop = 1;
inline constexpr uint8_t tcpopt_mss = 2;
inline constexpr uint8_t tcpopt_wscale = 3;
inline constexpr uint8_t tcpopt_sack_perm = 4;
inline constexpr uint8_t tcpopt_sack = 5;
inline constexpr uint8_t tcpopt_timestamp = 8;

struct sack_block {
    seq32 start;
    seq32 end;
};

struct tcp_options {
    bool has_mss = false;
    uint16_t mss = 0;
    bool has_wscale = false;
    uint8_t wscale = 0;        // as received (may exceed 14; clamping is tcp_input's)
    bool sack_permitted = false;
    bool has_ts = false;
    uint32_t ts_val = 0;
    uint32_t ts_ecr = 0;
    uint8_t num_sacks = 0;     // 0..4
    sack_block sacks[4];

    // Bytes these options take when emitted (multiple of 4, <= 40).
    size_t emit_len() const noexcept;
};

struct tcp_repr {
    uint16_t sport = 0;
    uint16_t dport = 0;
    seq32 seq;
    seq32 ack;
    uint8_t header_len = 20;   // data offset * 4 (parse); emit computes its own
    uint8_t flags = 0;         // tcp_flag bits
    uint16_t window = 0;       // raw, unscaled
    uint16_t urg_ptr = 0;
    tcp_options opt;

    // pkt is the IP payload (TCP header + data). Checks: >= 20 bytes
    // (truncated), data offset >= 5 and offset*4 <= pkt.size()
    // (bad_header_len), checksum with the IPv4 pseudo-header of src/dst when
    // verify_csum (bad_checksum), options well-formed (bad_option: a length
    // < 2 or running past the header; a known option with the wrong length).
    // Unknown options are skipped. The payload is pkt.subspan(header_len).
    static wire_error parse(cbytes pkt, uint32_t src, uint32_t dst, tcp_repr& out,
                            bool verify_csum = true) noexcept;

    // Header length emit() will write: 20 + opt.emit_len().
    size_t emit_header_len() const noexcept { return tcp_min_header_len + opt.emit_len(); }

    // Writes the header and options into out[0..emit_header_len()). Option
    // layout follows Linux's order and padding:
    //   SYN: MSS(4) | SACK_PERM+TS: [sackOK(2) TS(10)] or [nop nop TS] or
    //        [nop nop sackOK] | [nop wscale(3)]
    //   other: [nop nop TS(10)] then [nop nop SACK blocks].
    // The checksum field is written as zero: call tcp_fill_checksum() after
    // the payload is in place, or leave it to the device (offload).
    void emit(bytes out) const noexcept;
};

// Computes and stores the TCP checksum over seg (header + payload, the whole
// IP payload) with the pseudo-header of src/dst.
void tcp_fill_checksum(bytes seg, uint32_t src, uint32_t dst) noexcept;
// The pseudo-header-only partial sum, for checksum offload (what DPDK's
// rte_ipv4_phdr_cksum puts in the field), folded but not complemented.
uint16_t tcp_pseudo_csum(uint32_t src, uint32_t dst, uint16_t l4_len) noexcept;

}  // namespace dshim::wire
