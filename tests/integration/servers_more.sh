#!/bin/bash
# Programs a new user tries first, none named by the issues: dual-stack
# (AF_INET6) servers and clients, lighttpd, haproxy, wget and netcat, all
# unmodified Debian binaries under dshim on net_tap, kernel peers in the
# namespace (issue 6: "tried with further unmodified programs").
#  - node's default listen() binds [::] (IPV6_V6ONLY off): served over dshim
#    (IPv4 peers seen as ::ffff:a.b.c.d, as on Linux) and, through the
#    placeholder, over IPv4 and IPv6 loopback;
#  - an AF_INET6 client connecting to ::ffff:198.18.0.1 goes through dshim;
#    IPV6_V6ONLY sockets and real IPv6 destinations stay on the kernel;
#  - lighttpd (static files, ab with and without keep-alive), haproxy proxying
#    kernel clients to a kernel backend through dshim, wget, nc both ways;
#  - net_tap's input signal is directed at dshim's progress thread: a program
#    thread's nanosleep is not interrupted while data streams in.
#
# usage: servers_more.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh"
lib_init more "${1:-}"
NODE=/usr/bin/node
PY=/usr/bin/python3
need_tools "$NODE" "$PY" curl ab ss wget nc lighttpd haproxy
ns_up
ip -n "$NS" addr add ::1/128 dev lo 2>/dev/null

run_bg() {  # run_bg LOG PROGRAM ARGS...: under dshim, in the background; sets BGPID
    local log=$1
    shift
    ip netns exec "$NS" "$DSHIM" $(dshim_args) -- "$@" >"$log" 2>&1 &
    BGPID=$!
    PIDS+=("$BGPID")
}
stop_bg() { kill -TERM "$1" 2>/dev/null; wait_exit "$1" 15 >/dev/null; }
get() { in_ns timeout 20 curl -sS "$@"; }
make_file "$WORK/f4m" 4

# --- node, default (dual-stack) listen
cat >"$WORK/node.js" <<'JS'
const s = require('http').createServer((q, r) =>
  r.end(`peer=${q.socket.remoteAddress} local=${q.socket.localAddress}\n`));
s.listen(parseInt(process.argv[2]), () => console.log('listening ' + JSON.stringify(s.address())));
process.on('SIGTERM', () => process.exit(0));
JS
run_bg "$WORK/node.log" "$NODE" "$WORK/node.js" 8091
wait_dshim_listen "$BGPID" 8091
check "node listen(8091) with no host (binds [::]) is a dshim listener" $? "$(cat "$WORK/node.log")"
grep -q '"address":"::","family":"IPv6"' "$WORK/node.log"
check "node sees its own address as [::] (IPv6 family)" $? "$(cat "$WORK/node.log")"
[ "$(get "http://$DIP:8091/")" = "peer=::ffff:$KIP local=::ffff:$DIP" ]
check "over dshim: the peer and local addresses are v4-mapped, as Linux shows them" $? "$(get "http://$DIP:8091/")"
[ "$(get "http://127.0.0.1:8091/")" = "peer=::ffff:127.0.0.1 local=::ffff:127.0.0.1" ]
check "IPv4 loopback reaches the same listener through its kernel placeholder" $?
[ "$(get -g "http://[::1]:8091/")" = "peer=::1 local=::1" ]
check "IPv6 loopback reaches it too" $?
stop_bg "$BGPID"

# --- AF_INET6 client, v4-mapped destination; V6ONLY and real IPv6 stay kernel
ip netns exec "$NS" "$PY" -m http.server 8080 --bind "$KIP" --directory "$WORK" >/dev/null 2>&1 &
PIDS+=("$!")
wait_kernel_listen 8080
in_ns env DSHIM_EXIT_STATS=1 "$DSHIM" $(dshim_args) -- "$PY" - "$KIP" >"$WORK/v6.out" 2>&1 <<'PYEOF'
import hashlib, socket, sys, errno
kip = sys.argv[1]
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.connect(("::ffff:" + kip, 8080))
print("peer", s.getpeername()[0], "local", s.getsockname()[0])
print("domain", s.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN) == socket.AF_INET6)
print("v6only", s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY))
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, 0x20)
print("tclass", s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS))
try:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    print("v6only-set ok")
except OSError as e:
    print("v6only-set", errno.errorcode[e.errno])
s.sendall(b"GET /f4m HTTP/1.0\r\n\r\n")
d = b""
while True:
    x = s.recv(1 << 16)
    if not x:
        break
    d += x
body = d.split(b"\r\n\r\n", 1)[1]
print("sha", hashlib.sha256(body).hexdigest())
o = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
o.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
o.bind(("::", 9999))
o.listen()
print("v6only-listener", o.getsockname()[0])
u = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
try:
    u.connect(("2001:db8::1", 80))
except OSError as e:
    print("real-v6", errno.errorcode[e.errno])
PYEOF
RC=$?
grep -q "^peer ::ffff:$KIP local ::ffff:$DIP$" "$WORK/v6.out"
check "AF_INET6 client to ::ffff:$KIP: connected over dshim, v4-mapped names" $? "rc=$RC $(head -3 "$WORK/v6.out")"
grep -q "^sha $(sha "$WORK/f4m")$" "$WORK/v6.out"
check "AF_INET6 client downloads 4 MiB through dshim, sha256 equal" $?
grep -q "^domain True$" "$WORK/v6.out" && grep -q "^v6only 0$" "$WORK/v6.out" &&
    grep -q "^tclass 32$" "$WORK/v6.out" && grep -q "^v6only-set EINVAL$" "$WORK/v6.out"
check "SO_DOMAIN AF_INET6, IPV6_V6ONLY 0 (EINVAL once bound), IPV6_TCLASS kept, as Linux" $? "$(cat "$WORK/v6.out")"
grep -q "^v6only-listener ::$" "$WORK/v6.out" && grep -q "^real-v6 ENETUNREACH$" "$WORK/v6.out"
check "IPV6_V6ONLY listener and a real IPv6 destination are left to the kernel" $? "$(tail -3 "$WORK/v6.out")"
grep -Eq "^ *tcp_active_opens +1$" "$WORK/v6.out"
check "exactly one connection went through dshim" $? "$(grep active_opens "$WORK/v6.out")"

# --- lighttpd
mkdir -p "$WORK/www" && cp "$WORK/f4m" "$WORK/www/" && echo hello-lighttpd >"$WORK/www/index.html"
cat >"$WORK/lighttpd.conf" <<CONF
server.document-root = "$WORK/www"
server.port = 8082
server.bind = "0.0.0.0"
server.errorlog = "$WORK/lighttpd.err"
CONF
run_bg "$WORK/lighttpd.log" lighttpd -D -f "$WORK/lighttpd.conf"
wait_dshim_listen "$BGPID" 8082
check "lighttpd -D under dshim listens on :8082" $? "$(cat "$WORK/lighttpd.log" "$WORK/lighttpd.err" 2>/dev/null)"
[ "$(get "http://$DIP:8082/index.html")" = hello-lighttpd ]
check "curl gets lighttpd's page over dshim" $?
get -o "$WORK/lt.bin" "http://$DIP:8082/f4m"
[ "$(sha "$WORK/lt.bin")" = "$(sha "$WORK/f4m")" ]
check "curl downloads 4 MiB from lighttpd (sendfile path), sha256 equal" $?
for k in "" -k; do
    in_ns timeout 60 ab -q $k -n 2000 -c 10 "http://$DIP:8082/index.html" >"$WORK/ab.out" 2>&1
    RC=$?
    [ "$RC" = 0 ] && grep -q '^Complete requests: *2000$' "$WORK/ab.out" && grep -q '^Failed requests: *0$' "$WORK/ab.out"
    check "ab ${k:-(new connection each)} -n 2000 -c 10 against lighttpd: 0 failed" $? "rc=$RC $(tail -4 "$WORK/ab.out")"
    echo "#   lighttpd ${k:-close}: $(awk '/^Requests per second:/ { print $4 }' "$WORK/ab.out") requests/s"
done
stop_bg "$BGPID"

# --- haproxy: kernel clients -> haproxy (dshim both sides) -> kernel backend
cat >"$WORK/haproxy.cfg" <<CONF
global
  maxconn 200
defaults
  mode http
  timeout connect 5s
  timeout client 20s
  timeout server 20s
frontend fe
  bind $DIP:8083
  default_backend be
backend be
  server s1 $KIP:8080
CONF
run_bg "$WORK/haproxy.log" haproxy -f "$WORK/haproxy.cfg" -db
wait_dshim_listen "$BGPID" 8083
check "haproxy -db under dshim listens on $DIP:8083" $? "$(cat "$WORK/haproxy.log")"
get -o "$WORK/hp.bin" "http://$DIP:8083/f4m"
[ "$(sha "$WORK/hp.bin")" = "$(sha "$WORK/f4m")" ]
check "4 MiB through haproxy (both legs on dshim), sha256 equal" $?
in_ns timeout 60 ab -q -n 500 -c 5 "http://$DIP:8083/index.html" >"$WORK/ab.out" 2>&1 || true
grep -q '^Failed requests: *0$' "$WORK/ab.out" && grep -q '^Complete requests: *500$' "$WORK/ab.out"
check "ab -n 500 -c 5 through haproxy: 0 failed" $? "$(tail -4 "$WORK/ab.out")"
stop_bg "$BGPID"

# --- wget and netcat
in_ns "$DSHIM" $(dshim_args) -- wget -q -O "$WORK/wget.bin" "http://$KIP:8080/f4m"
RC=$?
[ "$RC" = 0 ] && [ "$(sha "$WORK/wget.bin")" = "$(sha "$WORK/f4m")" ]
check "wget under dshim downloads 4 MiB, sha256 equal" $? "rc=$RC"
ip netns exec "$NS" timeout 30 nc -l "$KIP" 9000 >"$WORK/nc1.bin" &
NCP=$!
PIDS+=("$NCP")
wait_kernel_listen 9000
in_ns timeout 30 "$DSHIM" $(dshim_args) -- nc -N "$KIP" 9000 <"$WORK/f4m"
RC=$?
wait "$NCP"
[ "$RC" = 0 ] && [ "$(sha "$WORK/nc1.bin")" = "$(sha "$WORK/f4m")" ]
check "nc under dshim sends 4 MiB to a kernel nc, then shuts down (-N): sha256 equal" $? "rc=$RC"
ip netns exec "$NS" "$DSHIM" $(dshim_args) -- nc -l "$DIP" 9001 >"$WORK/nc2.bin" 2>"$WORK/nc2.err" &
BGPID=$!
PIDS+=("$BGPID")
wait_dshim_listen "$BGPID" 9001
in_ns timeout 30 nc -N "$DIP" 9001 <"$WORK/f4m"
RC=$?
wait_exit "$BGPID" 15
[ "$RC" = 0 ] && [ "$(sha "$WORK/nc2.bin")" = "$(sha "$WORK/f4m")" ]
check "nc -l under dshim receives 4 MiB from a kernel nc, sha256 equal" $? "rc=$RC size=$(stat -c %s "$WORK/nc2.bin") $(cat "$WORK/nc2.err")"

# --- the port's input signals never reach program threads
SQ=$BUILD/tests/integration/sig_quiet
ip netns exec "$NS" sh -c "head -c 100000000 /dev/zero | timeout 30 nc -N -l $KIP 9100" &
PIDS+=("$!")
wait_kernel_listen 9100
in_ns timeout 60 "$DSHIM" $(dshim_args) -- "$SQ" "$KIP" 9100 100000000 >"$WORK/sq.out" 2>&1
check "while 100 MB stream in over net_tap, a program thread's nanosleep is never interrupted (EINTR)" $? \
    "$(cat "$WORK/sq.out")"

finish
