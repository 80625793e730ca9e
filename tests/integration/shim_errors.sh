#!/bin/bash
# Error paths and passthrough of programs under dshim on net_tap (issue 4):
# connect errors (refused, timeout, unreachable) as Linux reports them, with
# the kernel itself as the oracle (the same probe runs on a kernel socket);
# SO_RCVTIMEO and a program's signal handler interrupting a blocking recv;
# 127.0.0.1 and AF_UNIX traffic of a preloaded program staying on the kernel
# without attaching the port; bad configuration failing with one clear
# message naming the key.
#
# usage: shim_errors.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh"
lib_init errors "${1:-}"
need_tools ss /usr/bin/python3
ns_up

# Kernel helper in the namespace: an echo server on 127.0.0.1:7777 and a
# silent server on $KIP:7000 (accepts, never sends).
cat >"$WORK/kservers.py" <<'PY'
import socket, threading
def echo(c):
    with c:
        while True:
            b = c.recv(65536)
            if not b:
                return
            c.sendall(b)
def serve(addr, handler):
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(addr)
    l.listen(16)
    held = []
    while True:
        c, _ = l.accept()
        if handler:
            threading.Thread(target=handler, args=(c,), daemon=True).start()
        else:
            held.append(c)
threading.Thread(target=serve, args=(("127.0.0.1", 7777), echo), daemon=True).start()
serve(("198.18.0.1", 7000), None)
PY
ip netns exec "$NS" /usr/bin/python3 "$WORK/kservers.py" >"$WORK/kservers.log" 2>&1 &
KSERVERS=$!
PIDS+=("$KSERVERS")
wait_kernel_listen 7000 "$KSERVERS" && wait_kernel_listen 7777 "$KSERVERS"
check "kernel helper servers listen on 127.0.0.1:7777 and $KIP:7000" $? "$(cat "$WORK/kservers.log")"

# --- 6. connect errors, first on the kernel (the oracle), then under dshim.
cat >"$WORK/connect_errors.py" <<'PY'
import errno, select, socket, sys, time
def name(e):
    return errno.errorcode.get(e, str(e))
def blocking(addr, timeout=None):
    s = socket.socket()
    s.settimeout(timeout)
    t = time.monotonic()
    try:
        s.connect(addr)
        r = "connected"
    except socket.timeout:
        r = "timeout"
    except OSError as e:
        r = name(e.errno)
    finally:
        s.close()
    return r, time.monotonic() - t
def nonblocking(addr):
    s = socket.socket()
    s.setblocking(False)
    r = s.connect_ex(addr)
    p = select.poll()
    p.register(s, select.POLLOUT)
    ev = p.poll(10000)
    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    s.close()
    return "%s,%s,SO_ERROR=%s" % (name(r), "POLLOUT" if ev else "no-event", name(err) if err else 0)
what = sys.argv[1]
out = []
closed = (what, 9)
r, t = blocking(closed)
out.append("refused=" + r)
out.append("nonblocking-refused=" + nonblocking(closed))
r, t = blocking(("198.18.0.77", 80), 1.0)
out.append("timeout=%s(%.0fs)" % (r, t))
r, t = blocking(("198.18.0.77", 80))
out.append("no-host=%s" % r)
r, t = blocking(("198.19.5.5", 80))
out.append("unrouted=%s" % r)
print(" ".join(out))
PY
in_ns timeout 30 /usr/bin/python3 "$WORK/connect_errors.py" "$KIP" >"$WORK/kernel_errors.out" 2>&1
KRC=$?
EXPECT="refused=ECONNREFUSED nonblocking-refused=EINPROGRESS,POLLOUT,SO_ERROR=ECONNREFUSED timeout=timeout(1s) no-host=EHOSTUNREACH unrouted=ENETUNREACH"
[ "$KRC" = 0 ] && [ "$(cat "$WORK/kernel_errors.out")" = "$EXPECT" ]
check "the probe on a kernel socket sees what Linux says (probe is right)" $? \
    "rc=$KRC got: $(cat "$WORK/kernel_errors.out")"

timeout 60 env DSHIM_EXIT_STATS=1 ip netns exec "$NS" "$DSHIM" $(dshim_args) -- \
    /usr/bin/python3 "$WORK/connect_errors.py" "$KIP" >"$WORK/dshim_errors.out" 2>"$WORK/dshim_errors.err"
DRC=$?
GOT=$(cat "$WORK/dshim_errors.out")
echo "#   kernel: $(cat "$WORK/kernel_errors.out")"
echo "#   dshim:  $GOT"
for item in $EXPECT; do
    key=${item%%=*}
    got_item=$(tr ' ' '\n' <<<"$GOT" | grep "^$key=")
    [ "$got_item" = "$item" ]
    check "under dshim, connect $key: ${item#*=}" $? "got '${got_item:-nothing}' (rc=$DRC $(grep -v '^ ' "$WORK/dshim_errors.err" | tail -3))"
done
grep -Eq 'tcp_active_opens *[1-9]' "$WORK/dshim_errors.err"
check "the connect probes went through dshim (tcp_active_opens > 0)" $? \
    "$(grep -A4 '^counters' "$WORK/dshim_errors.err")"

# --- timeouts and signals on a blocking dshim socket (peer: the silent server).
cat >"$WORK/blocking.py" <<'PY'
import errno, signal, socket, struct, sys, time
out = []
s = socket.create_connection((sys.argv[1], 7000))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 300000))
t = time.monotonic()
try:
    s.recv(10)
    out.append("rcvtimeo=returned")
except OSError as e:
    out.append("rcvtimeo=%s(%.1fs)" % (errno.errorcode.get(e.errno), time.monotonic() - t))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 0))
class Alarm(Exception):
    pass
def on_alarm(sig, frame):
    raise Alarm()
signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.5)
t = time.monotonic()
try:
    s.recv(10)
    out.append("sigalrm=returned")
except Alarm:
    out.append("sigalrm=interrupted(%.1fs)" % (time.monotonic() - t))
print(" ".join(out))
PY
in_ns timeout 20 /usr/bin/python3 "$WORK/blocking.py" "$KIP" >"$WORK/kernel_blocking.out" 2>&1
timeout 20 ip netns exec "$NS" "$DSHIM" $(dshim_args) -- \
    /usr/bin/python3 "$WORK/blocking.py" "$KIP" >"$WORK/dshim_blocking.out" 2>&1
DRC=$?
echo "#   kernel: $(cat "$WORK/kernel_blocking.out")"
echo "#   dshim:  $(cat "$WORK/dshim_blocking.out")"
[ "$DRC" = 0 ] && [ "$(cat "$WORK/dshim_blocking.out")" = "rcvtimeo=EAGAIN(0.3s) sigalrm=interrupted(0.5s)" ]
check "under dshim, SO_RCVTIMEO expires with EAGAIN and SIGALRM interrupts a blocking recv" $? \
    "rc=$DRC $(cat "$WORK/dshim_blocking.out")"

# --- 7. loopback and AF_UNIX stay on the kernel; the port is never attached.
cat >"$WORK/local.py" <<'PY'
import os, socket, sys, threading
data = os.urandom(1 << 20)
def exchange(a, b):
    got = bytearray()
    t = threading.Thread(target=lambda: (a.sendall(data), a.shutdown(socket.SHUT_WR)))
    t.start()
    while len(got) < len(data):
        x = b.recv(65536)
        if not x:
            break
        got += x
    t.join()
    return bytes(got) == data
out = []
# a kernel echo server on 127.0.0.1 in the namespace
c = socket.create_connection(("127.0.0.1", 7777))
out.append("kernel-loopback=%s" % ("ok" if exchange(c, c) else "bad"))
c.close()
# the program's own 127.0.0.1 listener
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(1)
c = socket.create_connection(l.getsockname())
a, _ = l.accept()
out.append("own-loopback=%s" % ("ok" if exchange(c, a) else "bad"))
# socketpair
x, y = socket.socketpair()
out.append("socketpair=%s" % ("ok" if exchange(x, y) else "bad"))
# AF_UNIX stream listener on a path
path = sys.argv[1]
u = socket.socket(socket.AF_UNIX)
u.bind(path)
u.listen(1)
c = socket.socket(socket.AF_UNIX)
c.connect(path)
a, _ = u.accept()
out.append("af_unix=%s" % ("ok" if exchange(c, a) else "bad"))
print(" ".join(out))
PY
timeout 30 env DSHIM_LOG=2 DSHIM_EXIT_STATS=1 ip netns exec "$NS" "$DSHIM" $(dshim_args) -- \
    /usr/bin/python3 "$WORK/local.py" "$WORK/unix.sock" >"$WORK/local.out" 2>"$WORK/local.err"
DRC=$?
echo "#   $(cat "$WORK/local.out")"
[ "$DRC" = 0 ] && [ "$(cat "$WORK/local.out")" = "kernel-loopback=ok own-loopback=ok socketpair=ok af_unix=ok" ]
check "a preloaded program's 127.0.0.1 and AF_UNIX traffic works (1 MiB each, 4 kinds)" $? \
    "rc=$DRC $(cat "$WORK/local.out" "$WORK/local.err" | tail -5)"
! grep -q 'attached\|EAL\|^dshim pid' "$WORK/local.err"
check "such a program never attaches the port (no attach log, no exit stats)" $? "$(head -5 "$WORK/local.err")"

# --- bad configuration: one clear message naming the key, non-zero exit.
bad_config() {   # bad_config KEY DESCRIPTION ENV-ASSIGNMENT...
    local key=$1 what=$2 rc lines
    shift 2
    ip netns exec "$NS" env "$@" "$DSHIM" run --build "$BUILD" -- /bin/true >"$WORK/bad.out" 2>&1
    rc=$?
    lines=$(wc -l <"$WORK/bad.out")
    [ "$rc" != 0 ] && [ "$lines" = 1 ] && grep -q "$key" "$WORK/bad.out"
    check "bad configuration ($what): one message naming $key, exit $rc" $? "rc=$rc: $(cat "$WORK/bad.out")"
}
bad_config DSHIM_IP "DSHIM_IP=garbage" DSHIM_IP=garbage
bad_config DSHIM_IP "DSHIM_IP=198.18.0.2/40" DSHIM_IP=198.18.0.2/40
bad_config DSHIM_MAC "DSHIM_MAC=zz" DSHIM_MAC=zz
bad_config DSHIM_GW "DSHIM_GW=1.2.3" DSHIM_GW=1.2.3
bad_config DSHIM_SPIN_US "DSHIM_SPIN_US=-5" DSHIM_SPIN_US=-5
bad_config DSHIM_LOG "DSHIM_LOG=9" DSHIM_LOG=9
bad_config DSHIM_TCP_CONGESTION "DSHIM_TCP_CONGESTION=vegas" DSHIM_TCP_CONGESTION=vegas
printf 'DSHIM_IP=198.18.0.2/24\nDSHIM_NO_SUCH_KEY=1\n' >"$WORK/bad.conf"
bad_config DSHIM_NO_SUCH_KEY "unknown key in DSHIM_CONF" DSHIM_CONF="$WORK/bad.conf"
bad_config DSHIM_CONF "missing DSHIM_CONF file" DSHIM_CONF="$WORK/no-such.conf"

# A device DPDK cannot attach: the program's first socket use fails loudly.
timeout 30 ip netns exec "$NS" "$DSHIM" run --build "$BUILD" --port "net_nosuchdriver0" --ip "$DIP/24" -- \
    /usr/bin/python3 -c '
import socket, sys
try:
    socket.create_connection(("198.18.0.1", 7000), timeout=5)
except OSError as e:
    print("connect:", e.strerror)
    sys.exit(3)
print("connect: succeeded")' >"$WORK/nodev.out" 2>&1
RC=$?
echo "#   $(tr '\n' ' ' <"$WORK/nodev.out")"
[ "$RC" = 3 ] && grep -q 'DSHIM_PORT=net_nosuchdriver0' "$WORK/nodev.out"
check "an unusable DSHIM_PORT fails the connect with a message naming DSHIM_PORT" $? "rc=$RC $(cat "$WORK/nodev.out")"

# What a dshim process leaves behind after it ends: nothing, after exit()
# (the atexit detach) and after _exit() (no atexit: the shim's _exit removes
# the lock file, the stat socket and the EAL runtime directory).
for how in exit _exit; do
    ip netns exec "$NS" "$DSHIM" $(dshim_args) -- /usr/bin/python3 -c '
import os, socket, sys
socket.create_connection(("198.18.0.1", 7000), timeout=5).close()
sys.stdout.flush()
if sys.argv[1] == "_exit":
    os._exit(0)' "$how" >"$WORK/left_$how.out" 2>&1 &
    LPID=$!
    wait_exit "$LPID" 30
    RC=$?
    left_behind "$LPID"
    check "a dshim process that ends with $how() (rc=$RC) leaves no port lock file, stat socket or runtime directory" \
        $(( RC != 0 || $? != 0 )) "left: $LEFT $(tail -3 "$WORK/left_$how.out")"
done

finish
