#!/usr/bin/python3
# Regenerates golden_frames.hh: real frames built by scapy (an independent
# encoder) that the wire tests decode and re-encode byte for byte.
# Run: /usr/bin/python3 tests/wire/gen_golden.py > tests/wire/golden_frames.hh
# Addresses are from 198.18.0.0/15 (RFC 2544); nothing is sent anywhere.
from scapy.all import Ether, ARP, IP, TCP, UDP, ICMP, Raw
from scapy.utils import checksum

A_MAC = "02:00:00:00:00:01"
B_MAC = "02:00:00:00:00:02"
A_IP = "198.18.0.1"
B_IP = "198.18.0.2"

frames = []


def add(name, comment, pkt):
    frames.append((name, comment, bytes(pkt)))


add("arp_request", "who-has 198.18.0.2 tell 198.18.0.1 (broadcast)",
    Ether(dst="ff:ff:ff:ff:ff:ff", src=A_MAC) /
    ARP(op=1, hwsrc=A_MAC, psrc=A_IP, hwdst="00:00:00:00:00:00", pdst=B_IP))
add("arp_reply", "198.18.0.2 is-at 02:00:00:00:00:02",
    Ether(dst=A_MAC, src=B_MAC) /
    ARP(op=2, hwsrc=B_MAC, psrc=B_IP, hwdst=A_MAC, pdst=A_IP))
add("icmp_echo", "ping 198.18.0.2, id 0x1234 seq 7, 37-byte (odd) payload",
    Ether(dst=B_MAC, src=A_MAC) /
    IP(src=A_IP, dst=B_IP, id=0xbeef, flags="DF", ttl=64) /
    ICMP(type=8, code=0, id=0x1234, seq=7) / Raw(bytes(range(0x20, 0x20 + 37))))
add("icmp_frag_needed", "dest-unreach frag-needed, next-hop MTU 1400, quoting an IP+8 header",
    Ether(dst=A_MAC, src=B_MAC) /
    IP(src=B_IP, dst=A_IP, id=1, ttl=255) /
    ICMP(type=3, code=4, nexthopmtu=1400) /
    IP(src=A_IP, dst="198.19.0.9", id=2, flags="DF", ttl=63) / UDP(sport=5000, dport=6000, len=8, chksum=0))
add("udp_odd", "UDP 198.18.0.1:40001 -> 198.18.0.2:53, 11-byte payload, checksum set",
    Ether(dst=B_MAC, src=A_MAC) /
    IP(src=A_IP, dst=B_IP, id=0x0102, flags="DF", ttl=64) /
    UDP(sport=40001, dport=53) / Raw(b"hello world"))

# UDP whose computed checksum is zero: RFC 768 sends it as 0xffff. Pick the
# first payload word so that the one's-complement sum is 0xffff.
probe = IP(src=A_IP, dst=B_IP, id=3, ttl=64) / UDP(sport=1000, dport=2000) / Raw(b"\x00\x00ab")
c = bytes(probe)[20 + 6:20 + 8]
u = IP(src=A_IP, dst=B_IP, id=3, ttl=64) / UDP(sport=1000, dport=2000) / Raw(c + b"ab")
assert bytes(u)[26:28] == b"\xff\xff", bytes(u)[26:28]
add("udp_csum_ffff", "UDP whose checksum computes to 0 and is sent as 0xffff",
    Ether(dst=B_MAC, src=A_MAC) / u)

ts_syn = 0x0a0b0c0d
add("tcp_syn_linux", "Linux SYN: mss 1460, sackOK, TS val 0x0a0b0c0d ecr 0, nop, wscale 7",
    Ether(dst=B_MAC, src=A_MAC) /
    IP(src=A_IP, dst=B_IP, id=0x4d2f, flags="DF", ttl=64) /
    TCP(sport=40000, dport=80, seq=0x12345678, ack=0, flags="S", window=64240,
        options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (ts_syn, 0)), ("NOP", None), ("WScale", 7)]))
add("tcp_synack_linux", "Linux SYN-ACK: mss 1460, sackOK, TS, nop, wscale 7",
    Ether(dst=A_MAC, src=B_MAC) /
    IP(src=B_IP, dst=A_IP, id=0, flags="DF", ttl=64) /
    TCP(sport=80, dport=40000, seq=0xfffffff0, ack=0x12345679, flags="SA", window=65160,
        options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (0x11223344, ts_syn)), ("NOP", None), ("WScale", 7)]))
add("tcp_syn_ts_only", "SYN with mss 536, nop nop TS, nop wscale 0 (no SACK)",
    Ether(dst=B_MAC, src=A_MAC) /
    IP(src=A_IP, dst=B_IP, id=5, flags="DF", ttl=64) /
    TCP(sport=40002, dport=8080, seq=1, flags="S", window=1024,
        options=[("MSS", 536), ("NOP", None), ("NOP", None), ("Timestamp", (1, 0)), ("NOP", None), ("WScale", 0)]))
add("tcp_syn_sack_only", "SYN with mss 1400, nop nop sackOK, nop wscale 14 (no TS)",
    Ether(dst=B_MAC, src=A_MAC) /
    IP(src=A_IP, dst=B_IP, id=6, flags="DF", ttl=64) /
    TCP(sport=40003, dport=8080, seq=2, flags="S", window=2048,
        options=[("MSS", 1400), ("NOP", None), ("NOP", None), ("SAckOK", b""), ("NOP", None), ("WScale", 14)]))
add("tcp_syn_bare", "SYN without options",
    Ether(dst=B_MAC, src=A_MAC) /
    IP(src=A_IP, dst=B_IP, id=7, ttl=64) /
    TCP(sport=40004, dport=22, seq=0x80000000, flags="S", window=512, options=[]))
add("tcp_data_ts", "PSH|ACK, nop nop TS, 5 bytes of data",
    Ether(dst=B_MAC, src=A_MAC) /
    IP(src=A_IP, dst=B_IP, id=0x4d30, flags="DF", ttl=64) /
    TCP(sport=40000, dport=80, seq=0x12345679, ack=0xfffffff1, flags="PA", window=502,
        options=[("NOP", None), ("NOP", None), ("Timestamp", (ts_syn + 5, 0x11223344))]) / Raw(b"hello"))
add("tcp_ack_sack", "ACK, nop nop TS, nop nop SACK with 2 blocks",
    Ether(dst=A_MAC, src=B_MAC) /
    IP(src=B_IP, dst=A_IP, id=0, flags="DF", ttl=64) /
    TCP(sport=80, dport=40000, seq=0xfffffff1, ack=0x1234567e, flags="A", window=509,
        options=[("NOP", None), ("NOP", None), ("Timestamp", (0x11223350, ts_syn + 5)),
                 ("NOP", None), ("NOP", None), ("SAck", (0x12345700, 0x12345800, 0x12345900, 0x12345a00))]))
add("tcp_ack_sack3", "ACK, nop nop TS, nop nop SACK with 3 blocks (40 option bytes)",
    Ether(dst=A_MAC, src=B_MAC) /
    IP(src=B_IP, dst=A_IP, id=0, flags="DF", ttl=64) /
    TCP(sport=80, dport=40000, seq=100, ack=200, flags="A", window=509,
        options=[("NOP", None), ("NOP", None), ("Timestamp", (7, 8)),
                 ("NOP", None), ("NOP", None), ("SAck", (300, 400, 500, 600, 0xfffffff0, 0x10))]))
add("tcp_rst_ack", "RST|ACK, no options, window 0",
    Ether(dst=A_MAC, src=B_MAC) /
    IP(src=B_IP, dst=A_IP, id=0, flags="DF", ttl=64) /
    TCP(sport=80, dport=40000, seq=0, ack=0x12345679, flags="RA", window=0, options=[]))
add("tcp_fin_odd", "FIN|PSH|ACK with 3 bytes of data (odd checksum length), urg ptr set",
    Ether(dst=B_MAC, src=A_MAC) /
    IP(src=A_IP, dst=B_IP, id=9, flags="DF", ttl=64) /
    TCP(sport=40000, dport=80, seq=5, ack=6, flags="FPAU", window=100, urgptr=3, options=[]) / Raw(b"bye"))

print("// Golden frames generated by tests/wire/gen_golden.py with scapy "
      "(Debian python3-scapy);")
print("// do not edit by hand: regenerate. Each is a full Ethernet frame.")
print("#pragma once")
print("#include <cstdint>")
print("")
print("namespace golden {")
print("")
for name, comment, b in frames:
    print(f"// {comment}")
    print(f"inline constexpr uint8_t {name}[{len(b)}] = {{")
    for i in range(0, len(b), 12):
        print("    " + ", ".join(f"0x{x:02x}" for x in b[i:i + 12]) + ",")
    print("};")
    print("")
print("}  // namespace golden")
