#!/bin/bash
# A node.js HTTP server (Debian's nodejs, unmodified) under dshim on net_tap
# (issue 6): libuv's epoll loop, accept4(SOCK_NONBLOCK|SOCK_CLOEXEC), and its
# syscall(SYS_close) closes. Kernel curl: a text reply, a 1 MiB body (sha256
# computed by node and by the test agree), a 3 MB POST hashed by the server;
# the same via 127.0.0.1 before and after dshim connections (fd numbers are
# reused by the kernel: a stale dshim fd would break these); ab 1000
# requests, 20 concurrent, none failed.
#
# usage: servers_node.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh"
lib_init node "${1:-}"
NODE=/usr/bin/node
need_tools "$NODE" curl ab ss
ns_up

PORT=8090
cat >"$WORK/server.js" <<'JS'
const http = require('http');
const crypto = require('crypto');
const port = parseInt(process.argv[2]);
const big = Buffer.alloc(1 << 20);
for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 8)) & 255;
http.createServer((req, res) => {
  if (req.url === '/big') {
    res.writeHead(200, {'Content-Type': 'application/octet-stream'});
    res.end(big);
  } else if (req.method === 'POST') {
    const h = crypto.createHash('sha256');
    req.on('data', (d) => h.update(d));
    req.on('end', () => res.end(h.digest('hex') + '\n'));
  } else {
    res.end('hello from node\n');
  }
}).listen(port, '0.0.0.0', () => console.log('listening on ' + port));
process.on('SIGTERM', () => process.exit(0));
console.log('big sha256 ' + crypto.createHash('sha256').update(big).digest('hex'));
JS

ip netns exec "$NS" env DSHIM_EXIT_STATS=1 "$DSHIM" $(dshim_args) -- \
    "$NODE" "$WORK/server.js" "$PORT" >"$WORK/node.log" 2>&1 &
SERVER=$!
PIDS+=("$SERVER")
wait_dshim_listen "$SERVER" "$PORT"
check "node ($($NODE --version)) under dshim listens on :$PORT (dshim stat shows LISTEN)" $? "$(tail -5 "$WORK/node.log")"

get() { in_ns timeout 20 curl -sS "$@"; }
[ "$(get "http://127.0.0.1:$PORT/")" = "hello from node" ]
check "curl via 127.0.0.1 (kernel side of the 0.0.0.0 listener) gets the reply" $?
[ "$(get "http://$DIP:$PORT/")" = "hello from node" ]
check "curl via $DIP (dshim) gets the reply" $?

WANT=$(awk '/^big sha256/ { print $3 }' "$WORK/node.log")
get -o "$WORK/big.bin" "http://$DIP:$PORT/big"
[ -n "$WANT" ] && [ "$(sha "$WORK/big.bin")" = "$WANT" ] && [ "$(stat -c %s "$WORK/big.bin")" = 1048576 ]
check "curl via dshim downloads node's 1 MiB body, sha256 equal" $? "want=$WANT got=$(sha "$WORK/big.bin")"

head -c 3000000 /dev/urandom >"$WORK/post.bin"
[ "$(get --data-binary @"$WORK/post.bin" "http://$DIP:$PORT/post")" = "$(sha "$WORK/post.bin")" ]
check "curl via dshim POSTs 3 MB; node's sha256 of the body equals ours" $?

OK=0
for i in 1 2 3 4 5; do
    [ "$(get "http://127.0.0.1:$PORT/")" = "hello from node" ] && OK=$((OK + 1))
    [ "$(get "http://$DIP:$PORT/")" = "hello from node" ] && OK=$((OK + 1))
done
[ "$OK" = 10 ]
check "alternating loopback and dshim connections: 10 of 10 replies (closed fds reused safely)" $? "ok=$OK"

in_ns timeout 90 ab -q -n 1000 -c 20 "http://$DIP:$PORT/" >"$WORK/ab.out" 2>&1
RC=$?
DONE=$(awk '/^Complete requests:/ { print $3 }' "$WORK/ab.out")
FAILED=$(awk '/^Failed requests:/ { print $3 }' "$WORK/ab.out")
[ "$RC" = 0 ] && [ "${DONE:-}" = 1000 ] && [ "${FAILED:-}" = 0 ] && ! grep -q '^Non-2xx' "$WORK/ab.out"
check "ab -n 1000 -c 20 from the kernel side: 1000 complete, 0 failed" $? "rc=$RC $(tail -5 "$WORK/ab.out")"
echo "#   node via dshim: $(awk '/^Requests per second:/ { print $4 }' "$WORK/ab.out") requests/s"

kill -TERM "$SERVER" 2>/dev/null
wait_exit "$SERVER" 15
RC=$?
# 1 + 1 + 1 + 5 curl and 1000 ab connections came through dshim.
NOPENS=$(awk '$1 == "tcp_passive_opens" { print $2 }' "$WORK/node.log")
[ "${NOPENS:-0}" -ge 1008 ]
check "node exits on SIGTERM (rc=$RC); exit stats count every dshim connection" $(( RC != 0 || $? != 0 )) \
    "$(grep -E 'passive_opens' "$WORK/node.log") $(tail -3 "$WORK/node.log")"

finish
