// Why the stack dropped a frame (the kernel's enum skb_drop_reason): a bad
// incoming packet is never an errno, it is a counted drop reason.
#pragma once
#include <cstdint>

namespace dshim {

#define DSHIM_DROP_REASONS(X)                                                       \
    X(eth_truncated, "Ethernet header truncated")                                    \
    X(eth_not_for_us, "destination MAC neither ours nor broadcast")                  \
    X(eth_unknown_type, "ethertype not IPv4/ARP")                                    \
    X(arp_malformed, "ARP packet malformed or unsupported")                          \
    X(arp_not_for_us, "ARP target is not our address")                               \
    X(ip_truncated, "IPv4 header truncated")                                         \
    X(ip_bad_version, "IPv4 version not 4")                                          \
    X(ip_bad_header_len, "IPv4 IHL invalid")                                         \
    X(ip_bad_total_len, "IPv4 total length invalid")                                 \
    X(ip_bad_checksum, "IPv4 header checksum bad")                                   \
    X(ip_not_for_us, "IPv4 destination not our address")                             \
    X(ip_bad_source, "IPv4 source martian (multicast/broadcast/zero/ours)")          \
    X(ip_frag_expired, "IPv4 reassembly timed out (fragment freed)")                 \
    X(ip_frag_overlap, "IPv4 fragment overlapping another: queue dropped")           \
    X(ip_frag_dup, "IPv4 fragment duplicating data already held")                   \
    X(ip_frag_too_big, "IPv4 reassembled datagram too big")                          \
    X(ip_frag_memory, "IPv4 reassembly memory limit")                                \
    X(ip_frag_queues, "IPv4 reassembly queue table full")                            \
    X(ip_frag_bad, "IPv4 fragment length inconsistent")                              \
    X(ip_frag_no_large_buffer, "IPv4 reassembly: every 64 KiB buffer busy")         \
    X(ip_frag_df, "IPv4 output over the MTU with DF set: not fragmented")           \
    X(ip_unknown_proto, "IPv4 protocol not served")                                  \
    X(icmp_malformed, "ICMP truncated or bad checksum")                              \
    X(icmp_unhandled, "ICMP type not handled")                                       \
    X(udp_malformed, "UDP truncated, bad length or checksum")                        \
    X(udp_no_socket, "UDP to a port nobody listens on")                              \
    X(tcp_truncated, "TCP header truncated")                                         \
    X(tcp_bad_header_len, "TCP data offset invalid")                                 \
    X(tcp_bad_checksum, "TCP checksum bad")                                          \
    X(tcp_bad_option, "TCP option malformed")                                        \
    X(tcp_bad_flags, "TCP flag combination invalid")                                 \
    X(tcp_no_socket, "TCP segment for no socket (answered with RST)")               \
    X(tcp_old_ack, "TCP ACK for unsent data or too old")                             \
    X(tcp_out_of_window, "TCP segment outside the receive window")                  \
    X(tcp_rst, "TCP RST processed or ignored")                                       \
    X(tcp_listen_overflow, "TCP listen queue full")                                  \
    X(tcp_ofo, "TCP out-of-order segment dropped")                                   \
    X(tcp_rmem, "TCP receive memory exhausted")                                      \
    X(tcp_closed, "TCP segment for a closing socket")                                \
    X(tx_no_buffer, "no buffer to transmit")                                         \
    X(tx_device_full, "device refused the frame")                                    \
    X(neigh_queue_full, "ARP resolution queue full")                                 \
    X(neigh_failed, "ARP resolution failed")                                         \
    X(no_route, "no route to destination")                                          \
    X(rx_no_buffer, "no buffer for receive")

enum class drop_reason : uint8_t {
#define X(name, text) name,
    DSHIM_DROP_REASONS(X)
#undef X
    count_
};

inline constexpr unsigned drop_reason_count = unsigned(drop_reason::count_);

const char* drop_reason_name(drop_reason r) noexcept;
const char* drop_reason_text(drop_reason r) noexcept;

}  // namespace dshim
