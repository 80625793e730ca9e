#!/bin/bash
# memcached (unmodified Debian binary) with 4 worker threads under dshim on
# net_tap (issue 6): its listener thread accepts and hands each connection to
# a worker thread with its own epoll set. Kernel clients: 8 threads with one
# connection each doing set/get of random values (1..3000 bytes), every value
# verified byte-exact; the same over 127.0.0.1 (the INADDR_ANY listener's
# kernel side); `stats` confirms 4 threads and the item count.
#
# usage: servers_memcached.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh"
lib_init memcached "${1:-}"
need_tools memcached ss /usr/bin/python3
ns_up

PORT=11311
cat >"$WORK/mc_clients.py" <<'PY'
# usage: mc_clients.py HOST PORT THREADS OPS
import random, socket, sys, threading
host, port, nthreads, nops = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
errors, done, lock = [], [0], threading.Lock()
class conn:
    def __init__(self):
        self.s = socket.create_connection((host, port), timeout=20)
        self.buf = b""
    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("connection closed")
            self.buf += d
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l
    def exact(self, n):
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("connection closed")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out
def worker(t):
    try:
        c = conn()
        rnd = random.Random(t)
        for i in range(nops):
            key = b"t%d:k%d" % (t, i % 64)
            val = rnd.randbytes(rnd.randrange(1, 3000))
            c.s.sendall(b"set %s 0 0 %d\r\n%s\r\n" % (key, len(val), val))
            if c.line() != b"STORED":
                raise RuntimeError("set not stored")
            c.s.sendall(b"get %s\r\n" % key)
            hdr = c.line().split()
            if hdr[:2] != [b"VALUE", key] or int(hdr[3]) != len(val):
                raise RuntimeError("bad reply header %r" % hdr)
            if c.exact(len(val) + 2) != val + b"\r\n" or c.line() != b"END":
                raise RuntimeError("value differs")
            with lock:
                done[0] += 1
        c.s.close()
    except Exception as e:
        errors.append("thread %d: %r" % (t, e))
ts = [threading.Thread(target=worker, args=(t,)) for t in range(nthreads)]
for t in ts: t.start()
for t in ts: t.join()
print("verified=%d errors=%d" % (done[0], len(errors)))
for e in errors[:5]: print(e)
sys.exit(0 if not errors and done[0] == nthreads * nops else 1)
PY

ip netns exec "$NS" env DSHIM_EXIT_STATS=1 "$DSHIM" $(dshim_args) -- \
    memcached -u root -p "$PORT" -U 0 -l 0.0.0.0 -t 4 -c 256 >"$WORK/memcached.log" 2>&1 &
MC=$!
PIDS+=("$MC")
wait_dshim_listen "$MC" "$PORT"
check "memcached -t 4 under dshim listens on :$PORT (dshim stat shows LISTEN)" $? "$(tail -5 "$WORK/memcached.log")"

START=$(date +%s.%N)
in_ns timeout 90 /usr/bin/python3 "$WORK/mc_clients.py" "$DIP" "$PORT" 8 400 >"$WORK/clients.out" 2>&1
RC=$?
SECS=$(awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
check "8 concurrent kernel clients x 400 set+get via $DIP (dshim): every value byte-exact" $RC \
    "$(cat "$WORK/clients.out")"
echo "#   $(head -1 "$WORK/clients.out") in $SECS s ($(awk -v s="$SECS" 'BEGIN { printf "%.0f", 2 * 3200 / s }') requests/s)"

in_ns timeout 60 /usr/bin/python3 "$WORK/mc_clients.py" 127.0.0.1 "$PORT" 4 100 >"$WORK/clients_lo.out" 2>&1
check "4 kernel clients x 100 set+get via 127.0.0.1 (kernel side of the 0.0.0.0 listener)" $? \
    "$(cat "$WORK/clients_lo.out")"

# stats over one more dshim connection.
in_ns timeout 10 /usr/bin/python3 - "$DIP" "$PORT" >"$WORK/stats.out" 2>&1 <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(b"stats\r\n")
buf = b""
while not buf.endswith(b"END\r\n"):
    d = s.recv(65536)
    if not d:
        break
    buf += d
print(buf.decode())
PY
grep -q 'STAT threads 4' "$WORK/stats.out" && grep -Eq 'STAT total_connections (1[3-9]|[2-9][0-9])' "$WORK/stats.out" &&
    grep -q 'STAT cmd_set 3600' "$WORK/stats.out"
check "memcached's stats: 4 threads, every connection and all 3600 sets counted" $? \
    "$(grep -E 'threads|total_connections|cmd_set|curr_items' "$WORK/stats.out" | tr -d '\r' | tr '\n' ' ')"

# An idle memcached (5 threads sleeping in epoll_wait) uses almost no CPU.
T0=$(awk '{ print $14 + $15 }' "/proc/$MC/stat" 2>/dev/null)
sleep 2
T1=$(awk '{ print $14 + $15 }' "/proc/$MC/stat" 2>/dev/null)
TICKS=$(( ${T1:-999} - ${T0:-0} ))
[ "$TICKS" -le 20 ]
check "idle for 2 s, memcached under dshim used $TICKS clock ticks (<= 20)" $?

kill -TERM "$MC" 2>/dev/null
wait_exit "$MC" 15
RC=$?
grep -q 'tcp_passive_opens' "$WORK/memcached.log"
check "memcached exits on SIGTERM (rc=$RC) and prints its exit stats" $(( RC == 124 || $? != 0 )) \
    "$(tail -5 "$WORK/memcached.log")"

finish
