#!/usr/bin/python3
# Wire probes against dshim on net_tap (issue 5), the helper of
# wire_probes.sh. Subcommands:
#   server  run under dshim: echo on 7000, a 32 MiB pattern stream on 7001
#   probe   kernel side, scapy on the tap as a host the kernel does not own
#           (198.18.0.3, ARP answered here, so the kernel never RSTs it):
#           RFC 5961 RST/SYN/data checks and malformed headers, with dshim's
#           drop counters read through `dshim stat` before and after
#   flood   >= 100k SYNs from 198.18.0.0/15 on a raw AF_PACKET socket,
#           prebuilt frame, addresses/ports and checksums patched per frame
#   bulk    kernel side: receives the 7001 stream slowly, checks it
#   legit   kernel side: N echo connections to 7000, all must succeed
# Output: "ok - ..." / "FAIL - ..." lines; the shell counts them.
import hashlib
import os
import queue
import random
import socket
import struct
import subprocess
import sys
import threading
import time

DIP, KIP, SIP = "198.18.0.2", "198.18.0.1", "198.18.0.3"
SMAC = "02:d5:00:00:00:03"
ECHO_PORT, BULK_PORT = 7000, 7001
BULK_BYTES = 32 * 1024 * 1024


def pattern():
    return random.Random(5).randbytes(BULK_BYTES)


def say(ok, name, detail=""):
    print(("ok - " if ok else "FAIL - ") + name + ("" if ok or not detail else ": " + detail), flush=True)
    return ok


# --- server (under dshim)
def server():
    data = pattern()

    def echo(c):
        with c:
            while True:
                b = c.recv(65536)
                if not b:
                    return
                c.sendall(b)

    def bulk(c):
        with c:
            c.sendall(data)

    def serve(port, fn):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((DIP, port))
        ls.listen(128)
        while True:
            c, _ = ls.accept()
            threading.Thread(target=fn, args=(c,), daemon=True).start()

    threading.Thread(target=serve, args=(BULK_PORT, bulk), daemon=True).start()
    serve(ECHO_PORT, echo)


# --- kernel-side helpers
def bulk_recv(rate_mib):
    want = hashlib.sha256(pattern()).hexdigest()
    s = socket.create_connection((DIP, BULK_PORT), timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
    h = hashlib.sha256()
    n = 0
    t0 = time.monotonic()
    marked = False
    while True:
        b = s.recv(65536)
        if not b:
            break
        h.update(b)
        n += len(b)
        if not marked and n >= 2 * 1024 * 1024:
            open(os.environ.get("WIRE_MARK", "/dev/null"), "w").close()   # tells the shell to start the flood
            marked = True
        # Hold the rate so that the transfer spans the flood.
        ahead = n / (rate_mib * 1048576) - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
    secs = time.monotonic() - t0
    ok = n == BULK_BYTES and h.hexdigest() == want
    say(ok, "established 32 MiB stream from dshim during the SYN flood is byte-exact (%d bytes, %.1f s)" % (n, secs),
        "got %d bytes sha %s" % (n, h.hexdigest()))
    return ok


def legit(count, label):
    bad = 0
    err = ""
    for i in range(count):
        try:
            s = socket.create_connection((DIP, ECHO_PORT), timeout=5)
            s.settimeout(5)
            msg = b"legit-%d" % i
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                b = s.recv(100)
                if not b:
                    break
                got += b
            s.close()
            if got != msg:
                bad += 1
                err = "echo %r" % got
        except OSError as e:
            bad += 1
            err = str(e)
    return say(bad == 0, "%d new connections to the flooded listener %s succeed" % (count, label),
               "%d failed, last: %s" % (bad, err))


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def fold(s):
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def flood(iface, dmac, count):
    dmac_b = bytes.fromhex(dmac.replace(":", ""))
    eth = dmac_b + bytes.fromhex("02d5000000ee") + b"\x08\x00"
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0, 0, 64, 6, 0, b"\0\0\0\0", socket.inet_aton(DIP)))
    tcp = bytearray(struct.pack("!HHIIBBHHH", 0, ECHO_PORT, 0x12345678, 0, 5 << 4, 0x02, 64240, 0, 0))
    ip_base = csum(bytes(ip))
    pseudo_base = csum(socket.inet_aton(DIP) + struct.pack("!BBH", 0, 6, 20)) + csum(bytes(tcp))
    frame = bytearray(eth + ip + tcp)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    rnd = random.Random(99)
    sent = 0
    t0 = time.monotonic()
    while sent < count:
        # 198.18.0.0/15 only, never .1/.2/.3 of the test's /24.
        hi = 198 << 8 | (18 + rnd.getrandbits(1))
        lo = rnd.getrandbits(16)
        if hi == (198 << 8 | 18) and lo < 16:
            continue
        sport = 1024 + rnd.getrandbits(15)
        frame[26:28] = struct.pack("!H", hi)
        frame[28:30] = struct.pack("!H", lo)
        frame[24:26] = struct.pack("!H", fold(ip_base + hi + lo))
        frame[34:36] = struct.pack("!H", sport)
        frame[50:52] = struct.pack("!H", fold(pseudo_base + hi + lo + sport))
        try:
            s.send(frame)
        except BlockingIOError:
            continue
        except OSError as e:
            if e.errno == 105:   # ENOBUFS: the tap queue is full, retry
                time.sleep(0.0005)
                continue
            raise
        sent += 1
    secs = time.monotonic() - t0
    say(sent >= count, "sent %d SYNs from 198.18.0.0/15 in %.2f s (%.0f/s)" % (sent, secs, sent / secs))


# --- probe (scapy, a host the kernel does not own)
class Wire:
    def __init__(self, iface, dmac):
        self.iface, self.dmac = iface, dmac
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        self.s.bind((iface, 0))
        self.q = queue.Queue()
        self.stop = False
        self.seen = []   # what expect() skipped, for failure details
        threading.Thread(target=self.rx, daemon=True).start()

    def rx(self):
        from scapy.all import ARP, Ether, IP, TCP
        while not self.stop:
            b, addr = self.s.recvfrom(65536)
            if addr[2] == socket.PACKET_OUTGOING:
                continue
            p = Ether(b)
            if ARP in p and p[ARP].op == 1 and p[ARP].pdst == SIP:
                self.send_raw(bytes(Ether(dst=p.src, src=SMAC) /
                                    ARP(op=2, hwsrc=SMAC, psrc=SIP, hwdst=p[ARP].hwsrc, pdst=p[ARP].psrc)))
            elif IP in p and TCP in p and p[IP].src == DIP and p[IP].dst == SIP:
                self.q.put(p[TCP])

    def send_raw(self, b):
        self.s.send(b)

    def send_ip(self, ipbytes):
        from scapy.all import Ether
        self.send_raw(bytes(Ether(dst=self.dmac, src=SMAC, type=0x800)) + ipbytes)

    def expect(self, pred, timeout=2.0):
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            try:
                t = self.q.get(timeout=left)
            except queue.Empty:
                return None
            if pred(t):
                return t
            self.seen.append("%s seq=%d ack=%d len=%d" % (t.sprintf("%TCP.flags%"), t.seq, t.ack, len(bytes(t.payload))))

    def drain(self, secs=0.2):
        time.sleep(secs)
        got = []
        while True:
            try:
                got.append(self.q.get_nowait())
            except queue.Empty:
                return got


def stat_drops(dshim, pid):
    out = subprocess.run([dshim, "stat", str(pid)], capture_output=True, text=True).stdout
    d = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 2 and line.startswith("  ") and f[1].isdigit():
            d[f[0]] = int(f[1])
    return d


def probe(iface, dmac, dshim, pid):
    from scapy.all import IP, TCP, Raw
    w = Wire(iface, dmac)
    sport = 40000 + random.Random(os.getpid()).randrange(20000)
    iss = 1000000
    fails = 0

    def chk(ok, name, detail=""):
        nonlocal fails
        if not say(ok, name, detail):
            fails += 1
        return ok

    def seg(flags, seq, ack, data=b"", **kw):
        return bytes(IP(src=SIP, dst=DIP) / TCP(sport=sport, dport=ECHO_PORT, flags=flags, seq=seq & 0xFFFFFFFF,
                                                ack=ack & 0xFFFFFFFF, window=65535, **kw) / Raw(data))

    def ours(t):
        return t.sport == ECHO_PORT and t.dport == sport

    # Handshake (no window scaling: dshim's advertised window is exact).
    w.send_ip(seg("S", iss, 0, options=[("MSS", 1460)]))
    sa = w.expect(lambda t: ours(t) and t.flags & 0x12 == 0x12, 5)
    if not chk(sa is not None, "scapy host %s gets a SYN-ACK from dshim" % SIP):
        return 1
    st = {"snd": iss + 1, "rcv": sa.seq + 1, "n": 0}
    wnd = sa.window
    w.send_ip(seg("A", st["snd"], st["rcv"]))

    def ping(label):
        """Data one way, its echo back: the connection is alive and in sync."""
        st["n"] += 1
        msg = b"ping-%d-%s" % (st["n"], label.encode())
        w.send_ip(seg("PA", st["snd"], st["rcv"], msg))
        st["snd"] += len(msg)
        got = b""
        end = time.monotonic() + 3
        while got != msg and time.monotonic() < end:
            t = w.expect(lambda t: ours(t) and len(bytes(t.payload)) > 0, end - time.monotonic())
            if t is None:
                break
            if t.flags & 0x04:
                return False, "RST"
            data = bytes(t.payload)
            if t.seq == st["rcv"]:
                got += data
                st["rcv"] += len(data)
                w.send_ip(seg("A", st["snd"], st["rcv"]))
        return got == msg, "echo %r want %r" % (got, msg)

    def is_pure_ack(t):
        return (ours(t) and t.flags & 0x17 == 0x10 and len(bytes(t.payload)) == 0 and
                t.seq == st["rcv"] and t.ack == st["snd"])

    ok, d = ping("first")
    chk(ok, "data flows on the scapy connection", d)

    # RFC 5961 §3: RST out of the window is ignored.
    w.drain(0.1)
    w.send_ip(seg("R", st["snd"] + 0x40000000, 0))
    chk(not any(ours(t) for t in w.drain(0.3)), "out-of-window RST gets no answer")
    ok, d = ping("after-oow-rst")
    chk(ok, "out-of-window RST leaves the connection alone (data flows)", d)

    # §3.2: RST in the window but not at rcv_nxt -> challenge ACK, connection stays.
    w.seen.clear()
    w.send_ip(seg("R", st["snd"] + min(100, wnd - 1), 0))
    t = w.expect(is_pure_ack, 1.0)
    chk(t is not None, "in-window RST (rcv_nxt+100) gets a challenge ACK (seq=snd_nxt ack=rcv_nxt)",
        "want seq=%d ack=%d, seen %r" % (st["rcv"], st["snd"], w.seen))
    ok, d = ping("after-inwin-rst")
    chk(ok, "in-window RST leaves the connection established", d)

    # §4: SYN in the window -> challenge ACK, connection stays.
    time.sleep(0.6)   # out-of-window ACKs are rate limited per socket (Linux: tcp_invalid_ratelimit 500 ms)
    w.seen.clear()
    w.send_ip(seg("S", st["snd"] + 10, 0))
    t = w.expect(is_pure_ack, 1.0)
    chk(t is not None, "in-window SYN on an established connection gets a challenge ACK",
        "want seq=%d ack=%d, seen %r" % (st["rcv"], st["snd"], w.seen))
    ok, d = ping("after-syn")
    chk(ok, "in-window SYN leaves the connection established", d)

    # RFC 9293 §3.10.7.4: unacceptable data -> ACK (a duplicate), dropped.
    time.sleep(0.6)
    w.seen.clear()
    w.send_ip(seg("PA", st["snd"] + 0x40000000, st["rcv"], b"EVIL-OOW"))
    t = w.expect(is_pure_ack, 1.0)
    chk(t is not None, "out-of-window data gets a duplicate ACK",
        "want seq=%d ack=%d, seen %r" % (st["rcv"], st["snd"], w.seen))
    ok, d = ping("after-oow-data")
    chk(ok, "out-of-window data is dropped, connection in sync", d)

    # Malformed headers: each carries data at rcv_nxt, so a frame wrongly
    # accepted would show up in the echo stream and break the next ping.
    def good(data=b"EVIL"):
        return bytearray(seg("PA", st["snd"], st["rcv"], data))

    def tcp_fix(b):
        """Recompute the TCP checksum of IP packet b (20-byte IP header)."""
        b[36:38] = b"\0\0"
        pseudo = bytes(b[12:20]) + struct.pack("!BBH", 0, 6, len(b) - 20)
        b[36:38] = struct.pack("!H", fold(csum(pseudo + bytes(b[20:]))))
        return b

    def ip_fix(b):
        ihl = (b[0] & 15) * 4
        b[10:12] = b"\0\0"
        b[10:12] = struct.pack("!H", fold(csum(bytes(b[:max(ihl, 20)]))))
        return b

    cases = []
    b = good()
    b = b[:30]                                  # 20 IP + 10 TCP
    b[2:4] = struct.pack("!H", 30)
    cases.append(("truncated TCP header (10 bytes)", ip_fix(b), ["tcp_truncated"]))
    b = good()
    b[32] = (4 << 4) | (b[32] & 15)             # data offset 4 (< 5)
    cases.append(("TCP data offset 4", tcp_fix(b), ["tcp_bad_header_len"]))
    b = good()
    b[32] = (15 << 4) | (b[32] & 15)            # data offset 60 > segment
    cases.append(("TCP data offset 15 past the segment", tcp_fix(b), ["tcp_bad_header_len"]))
    # Options: data offset 6, the first 4 payload bytes are the options.
    b = good(b"\x08\x00\x01\x01EVIL")
    b[32] = (6 << 4) | (b[32] & 15)
    cases.append(("zero-length TCP option (kind 8 len 0)", tcp_fix(b), ["tcp_bad_option"]))
    b = good(b"\x03\x0a\x07\x00EVIL")
    b[32] = (6 << 4) | (b[32] & 15)
    cases.append(("TCP option running past the header (kind 3 len 10)", tcp_fix(b), ["tcp_bad_option"]))
    b = good(b"\x01\x01\x01\x05EVIL")
    b[32] = (6 << 4) | (b[32] & 15)
    cases.append(("TCP option length 5 at the header end (NOP NOP NOP kind 5)", tcp_fix(b), ["tcp_bad_option"]))
    b = good()
    b[36] ^= 0x5A
    cases.append(("bad TCP checksum", b, ["tcp_bad_checksum"]))
    b = good()
    b[0] = 0x44                                 # IHL 4 (16 bytes)
    cases.append(("IP IHL 4", ip_fix(b), ["ip_bad_header_len"]))
    b = good()
    b[0] = 0x4F                                 # IHL 15: header past the packet? (60 < len, options garbage)
    b = b[:44]
    b[2:4] = struct.pack("!H", 44)
    cases.append(("IP IHL 15 beyond total length", ip_fix(b), ["ip_bad_header_len", "ip_bad_total_len"]))
    b = good()
    b[2:4] = struct.pack("!H", len(b) + 200)    # total length past the frame
    cases.append(("IP total length past the frame", ip_fix(b), ["ip_bad_total_len"]))
    b = good()
    b[2:4] = struct.pack("!H", 16)              # total length < header
    cases.append(("IP total length below the header", ip_fix(b), ["ip_bad_total_len", "ip_bad_header_len"]))
    b = good()
    b[10] ^= 0x33
    cases.append(("bad IP header checksum", b, ["ip_bad_checksum"]))

    for name, pkt, reasons in cases:
        before = stat_drops(dshim, pid)
        w.send_ip(bytes(pkt))
        time.sleep(0.15)
        after = stat_drops(dshim, pid)
        rose = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
        chk(any(rose.get(r, 0) >= 1 for r in reasons),
            "malformed: %s is dropped and counted (%s)" % (name, "/".join(reasons)), "counters moved: %r" % rose)
        ok, d = ping("after-" + name.split()[0])
        chk(ok, "malformed: connection survives %s" % name, d)

    # §3.2: RST exactly at rcv_nxt kills the connection.
    w.send_ip(seg("R", st["snd"], 0))
    time.sleep(0.2)
    w.drain(0)
    w.seen.clear()
    w.send_ip(seg("PA", st["snd"], st["rcv"], b"after-exact-rst"))
    t = w.expect(lambda t: ours(t) and t.flags & 0x04, 2.0)
    chk(t is not None, "exact RST (seq=rcv_nxt) kills the connection (later data answered with RST)",
        "seen %r" % w.seen)
    w.stop = True
    return 1 if fails else 0


def main():
    cmd = sys.argv[1]
    if cmd == "server":
        server()
    elif cmd == "probe":
        sys.exit(probe(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])))
    elif cmd == "flood":
        flood(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "bulk":
        sys.exit(0 if bulk_recv(float(sys.argv[2])) else 1)
    elif cmd == "legit":
        sys.exit(0 if legit(int(sys.argv[2]), sys.argv[3]) else 1)


if __name__ == "__main__":
    main()
