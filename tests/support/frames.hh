// Frame builders and a parser/printer for tests, in the spirit of
// packetdrill's `< S 0:0(0) win 65535 <mss 1460>` lines: build whole
// Ethernet+IPv4+L4 frames with correct checksums from the stack's wire reprs,
// and turn any frame back into a repr set and a one-line tcpdump-style text
// for failure messages.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>
#include "buf/pbuf.hh"
#include "wire/arp.hh"
#include "wire/ether.hh"
#include "wire/icmp.hh"
#include "wire/ipv4.hh"
#include "wire/tcp.hh"
#include "wire/udp.hh"

namespace dshim::test {

using frame_bytes = std::vector<std::byte>;

// Link and network addresses of a frame, plus the IPv4 header fields the
// builders use (defaults: TTL 64, DF set, id 0, TOS 0, like Linux's TCP).
struct frame_addrs {
    wire::mac_addr src_mac;
    wire::mac_addr dst_mac;
    uint32_t src_ip = 0;  // host order
    uint32_t dst_ip = 0;
    uint8_t ttl = 64;
    uint8_t tos = 0;
    uint16_t ip_id = 0;
    uint16_t frag = wire::ip_df;  // flags + offset field

    // The same addresses seen from the other end (the IP fields are kept).
    frame_addrs reversed() const noexcept;
};

// Ethernet + IPv4 header + `payload` verbatim (the L4 checksum is the
// caller's); IPv4 header checksum correct.
frame_bytes make_ipv4_frame(const frame_addrs& a, uint8_t proto, std::span<const std::byte> payload);
// Ethernet + IPv4 + TCP (header and options from t.emit, then payload) with
// correct IPv4 and TCP checksums.
frame_bytes make_tcp_frame(const frame_addrs& a, const wire::tcp_repr& t, std::span<const std::byte> payload = {});
// Ethernet + IPv4 + UDP; u.len is ignored and set to 8 + payload size; the
// checksum is computed (as udp_repr::emit does).
frame_bytes make_udp_frame(const frame_addrs& a, const wire::udp_repr& u, std::span<const std::byte> payload = {});
// Ethernet + IPv4 + ICMP (header and i.payload) with checksums.
frame_bytes make_icmp_frame(const frame_addrs& a, const wire::icmp_repr& i);
// Ethernet (src/dst MAC from a, ethertype ARP) + the 28-byte ARP packet.
// No padding to 60 bytes (a NIC would add it; the stack must accept both).
frame_bytes make_arp_frame(const frame_addrs& a, const wire::arp_repr& arp);
// Broadcast who-has target_ip from (src_mac, src_ip).
frame_bytes make_arp_request(wire::mac_addr src_mac, uint32_t src_ip, uint32_t target_ip);
// Unicast reply from a.src (a.src_mac is-at a.src_ip) to a.dst.
frame_bytes make_arp_reply(const frame_addrs& a);

// Copies bytes into a fresh buffer from pool (nullptr-holding pbuf_ptr if the
// pool is exhausted or the frame does not fit).
pbuf_ptr to_pbuf(pbuf_pool& pool, std::span<const std::byte> frame, uint32_t headroom = 128);
inline std::span<const std::byte> as_bytes(const pbuf& p) noexcept { return p.span(); }

// A parsed frame. Every layer that parsed is filled in; err is the first
// error met (none for a good frame) and err_layer names where ("ether",
// "arp", "ipv4", "tcp", "udp", "icmp"). Checksums are verified.
struct parsed_frame {
    wire::ether_repr eth;
    bool is_arp = false;
    bool is_ipv4 = false;
    wire::arp_repr arp;
    wire::ipv4_repr ip;
    bool is_fragment = false;  // ip says MF or offset != 0: L4 is not parsed
    bool is_tcp = false;
    bool is_icmp = false;
    bool is_udp = false;
    wire::tcp_repr tcp;
    wire::icmp_repr icmp;      // icmp.payload is cleared (it would dangle): use `payload`
    wire::udp_repr udp;
    // L4 payload (TCP data, UDP data, ICMP body after the 8-byte header), or
    // the IPv4 payload for other protocols and fragments.
    std::vector<std::byte> payload;
    // TCP option bytes as they were on the wire (for printing nop/eol).
    std::vector<std::byte> tcp_opt_bytes;
    size_t frame_len = 0;
    // Every layer was decoded (true for good frames, and for frames whose
    // only fault is a checksum: those are decoded without verification so
    // describe() can still show them).
    bool decoded = false;
    wire::wire_error err = wire::wire_error::none;
    const char* err_layer = "";

    bool ok() const noexcept { return err == wire::wire_error::none; }
    // TCP: payload length plus one for each of SYN and FIN (sequence space used).
    uint32_t seg_len() const noexcept;
};

parsed_frame parse_frame(std::span<const std::byte> frame);
inline parsed_frame parse_frame(const pbuf& p) { return parse_frame(p.span()); }

// One line, tcpdump/packetdrill style, for example
//   198.18.0.2:40000 > 198.18.0.1:80 S. seq 100 ack 5 win 65535 <mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7> len 0
//   198.18.0.2:5000 > 198.18.0.1:53 udp len 12
//   198.18.0.2 > 198.18.0.1 icmp echo request id 1 seq 2 len 56
//   arp who-has 198.18.0.1 tell 198.18.0.2
//   malformed tcp (bad_checksum): 198.18.0.2:40000 > 198.18.0.1:80 P. seq 1 ack 1 win 502 len 5
//   malformed ipv4 (bad_total_len): 02:00:00:00:00:02 > 02:00:00:00:00:01 len 54
std::string describe(const parsed_frame& f);
inline std::string describe(std::span<const std::byte> frame) { return describe(parse_frame(frame)); }
inline std::string describe(const pbuf& p) { return describe(parse_frame(p.span())); }

// "S.", "P.", "F.", "R", "." ... in tcpdump's order (F S R P . U E W);
// "none" for no flags.
std::string tcp_flags_str(uint8_t flags);
std::string format_mac(const wire::mac_addr& m);
std::string format_ip(uint32_t a);

}  // namespace dshim::test
