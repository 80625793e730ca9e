#!/usr/bin/python3
"""Writes the seed corpus of tests/fuzz/fuzz_frames.cc into tests/fuzz/corpus/.

Each seed is a sequence of records: u8 ctl, u16 len (big-endian), frame (see the
harness). Frames come from the peer 198.18.0.1 to dshim 198.18.0.2; ctl 0x08
asks the harness to fix checksums, 0x10 to read TCP seq/ack as offsets from the
connection's rcv_nxt/snd_una, bits 0-2 advance time, bits 5-6 drive the sockets.
Run with Debian's python (scapy): /usr/bin/python3 tests/fuzz/gen_corpus.py
"""
import os
import struct

from scapy.all import ARP, ICMP, IP, TCP, UDP, Ether, Raw, raw, fragment  # noqa: F401

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, 'corpus')
PEER_MAC, LOCAL_MAC = '02:d5:00:00:00:01', '02:d5:00:00:00:02'
PEER, LOCAL = '198.18.0.1', '198.18.0.2'
FIX, REL = 0x08, 0x10
RECV, SEND, CLOSE = 0x20, 0x40, 0x60
MS1, MS10, MS40, MS200, S1, S5, S60 = 1, 2, 3, 4, 5, 6, 7
# (peer port, our port) of the harness's two connections and the listener.
PASSIVE = (40000, 80)
ACTIVE = (5000, 50000)
TS = [('NOP', None), ('NOP', None), ('Timestamp', (200, 0))]


def eth(p):
    return Ether(src=PEER_MAC, dst=LOCAL_MAC) / p


def ip(p, **kw):
    return eth(IP(src=PEER, dst=LOCAL, flags='DF', **kw) / p)


def tcp(conn, flags, seq=0, ack=0, data=b'', opts=None, win=502):
    t = TCP(sport=conn[0], dport=conn[1], flags=flags, seq=seq, ack=ack, window=win, options=opts or [])
    return ip(t / Raw(data) if data else t)


def rec(ctl, frame):
    b = raw(frame)
    return struct.pack('>BH', ctl, len(b)) + b


def write(name, *records):
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(b''.join(records))


def main():
    os.makedirs(OUT, exist_ok=True)
    syn_opts = [('MSS', 1460), ('SAckOK', b''), ('Timestamp', (100, 0)), ('NOP', None), ('WScale', 7)]
    # Handshakes: a new passive open, and its completion.
    write('syn', rec(FIX, tcp((41000, 80), 'S', seq=5000, opts=syn_opts)))
    write('syn_ack_ack', rec(FIX | MS1, tcp((41000, 80), 'S', seq=5000, opts=syn_opts)),
          rec(FIX | RECV, tcp((41000, 80), 'A', seq=5001, ack=0)))
    write('syn_closed_port', rec(FIX, tcp((41001, 81), 'S', seq=1, opts=syn_opts)))
    write('synack_on_established', rec(FIX | REL, tcp(ACTIVE, 'SA', seq=0, ack=0, opts=syn_opts)))
    write('syn_on_established', rec(FIX | REL, tcp(PASSIVE, 'S', seq=0, opts=syn_opts)))
    # Data: in order, acking what we sent, then read.
    write('data', rec(FIX | REL | RECV, tcp(PASSIVE, 'PA', seq=0, ack=2000, data=b'x' * 1000, opts=TS)))
    write('data_active', rec(FIX | REL | RECV | MS40, tcp(ACTIVE, 'PA', seq=0, ack=2000, data=b'y' * 1400)))
    write('data_ofo', rec(FIX | REL, tcp(PASSIVE, 'A', seq=1000, ack=0, data=b'b' * 500)),
          rec(FIX | REL | RECV, tcp(PASSIVE, 'A', seq=0, ack=0, data=b'a' * 1000)))
    write('data_send_more', rec(FIX | REL | SEND, tcp(ACTIVE, 'A', seq=0, ack=1000)),
          rec(FIX | REL | MS200, tcp(ACTIVE, 'A', seq=0, ack=2000)))
    # Dup ACKs with SACK blocks -> fast retransmit; then RTO.
    dup = [rec(FIX | REL | (SEND if i == 0 else 0), tcp(ACTIVE, 'A', seq=0, ack=0, opts=TS)) for i in range(4)]
    write('dupacks', *dup, rec(FIX | REL | S1, tcp(ACTIVE, 'A', seq=0, ack=5000)))
    write('sack', rec(FIX | REL, tcp(PASSIVE, 'A', seq=0, ack=0,
                                     opts=[('NOP', None), ('NOP', None), ('SAck', (1000, 2000))])))
    write('zero_window', rec(FIX | REL | SEND, tcp(ACTIVE, 'A', seq=0, ack=2000, win=0)),
          rec(FIX | REL | S5, tcp(ACTIVE, 'A', seq=0, ack=0, win=0)),
          rec(FIX | REL, tcp(ACTIVE, 'A', seq=0, ack=0, win=502)))
    # Close paths.
    write('fin', rec(FIX | REL | RECV, tcp(PASSIVE, 'FA', seq=0, ack=2000)),
          rec(FIX | REL | CLOSE | MS200, tcp(PASSIVE, 'A', seq=1, ack=2001)))
    write('close_then_fin', rec(FIX | REL | CLOSE, tcp(PASSIVE, 'A', seq=0, ack=2000)),
          rec(FIX | REL | S60, tcp(PASSIVE, 'FA', seq=0, ack=2001)))
    write('rst', rec(FIX | REL | RECV, tcp(ACTIVE, 'R', seq=0)))
    write('rst_out_of_window', rec(FIX | REL, tcp(ACTIVE, 'R', seq=100000)))
    write('timers', rec(FIX | S60, tcp((1, 1), 'A')))
    # ARP, ICMP, UDP, fragments, bad checksum.
    write('arp_request', rec(0, Ether(src=PEER_MAC, dst='ff:ff:ff:ff:ff:ff') /
                             ARP(op=1, hwsrc=PEER_MAC, psrc=PEER, pdst=LOCAL)))
    write('arp_reply', rec(0, Ether(src=PEER_MAC, dst=LOCAL_MAC) /
                           ARP(op=2, hwsrc=PEER_MAC, psrc=PEER, hwdst=LOCAL_MAC, pdst=LOCAL)))
    write('icmp_echo', rec(FIX, ip(ICMP(type=8, id=7, seq=1) / Raw(b'ping' * 8))))
    quoted = raw(IP(src=LOCAL, dst=PEER, flags='DF') / TCP(sport=ACTIVE[1], dport=ACTIVE[0], flags='A'))[:28]
    write('icmp_frag_needed', rec(FIX, ip(ICMP(type=3, code=4, nexthopmtu=576) / Raw(quoted))))
    write('icmp_port_unreach', rec(FIX, ip(ICMP(type=3, code=3) / Raw(quoted))))
    write('udp', rec(FIX, ip(UDP(sport=53, dport=9999) / Raw(b'hello'))))
    frags = fragment(IP(src=PEER, dst=LOCAL) / UDP(sport=1, dport=2) / Raw(b'z' * 3000), fragsize=1000)
    write('ip_fragments', *[rec(FIX, eth(f)) for f in frags])
    write('bad_checksum', rec(REL, tcp(PASSIVE, 'PA', seq=0, ack=2000, data=b'c' * 100)))
    write('ip_options', rec(FIX, eth(IP(src=PEER, dst=LOCAL, options=b'\x01\x01\x01\x00') /
                                     TCP(sport=40000, dport=80, flags='A'))))


if __name__ == '__main__':
    main()
