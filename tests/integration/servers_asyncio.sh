#!/bin/bash
# A python asyncio echo server (asyncio.start_server, the epoll selector,
# non-blocking sockets) under dshim on net_tap (issue 6): 50 kernel clients
# connect at once and each streams 200 KB in 7001-byte pieces while reading
# the echo; every echo must equal what was sent. Then the same with 50
# clients over 127.0.0.1 (the INADDR_ANY listener's kernel side).
#
# usage: servers_asyncio.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh"
lib_init asyncio "${1:-}"
need_tools ss /usr/bin/python3
ns_up

PORT=7070
cat >"$WORK/echo_server.py" <<'PY'
import asyncio, signal, sys
async def handle(reader, writer):
    while True:
        data = await reader.read(65536)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()
async def main():
    server = await asyncio.start_server(handle, "0.0.0.0", int(sys.argv[1]), backlog=128)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()
asyncio.run(main())
PY
cat >"$WORK/echo_clients.py" <<'PY'
# usage: echo_clients.py HOST PORT CLIENTS BYTES
import random, socket, sys, threading
host, port, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ok, errors = [], []
together = threading.Barrier(n)
def client(i):
    try:
        data = random.Random(i).randbytes(size)
        s = socket.create_connection((host, port), timeout=30)
        together.wait(timeout=30)  # all connected at once
        def send():
            for off in range(0, size, 7001):
                s.sendall(data[off:off + 7001])
            s.shutdown(socket.SHUT_WR)
        sender = threading.Thread(target=send)
        sender.start()
        got = bytearray()
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
        sender.join()
        s.close()
        if bytes(got) != data:
            raise RuntimeError("echo differs: %d of %d bytes" % (len(got), size))
        ok.append(i)
    except Exception as e:
        errors.append("client %d: %r" % (i, e))
threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
for t in threads: t.start()
for t in threads: t.join()
print("clients=%d verified=%d errors=%d" % (n, len(ok), len(errors)))
for e in errors[:5]: print(e)
sys.exit(0 if len(ok) == n else 1)
PY

ip netns exec "$NS" env DSHIM_EXIT_STATS=1 "$DSHIM" $(dshim_args) -- \
    /usr/bin/python3 "$WORK/echo_server.py" "$PORT" >"$WORK/server.log" 2>&1 &
SERVER=$!
PIDS+=("$SERVER")
wait_dshim_listen "$SERVER" "$PORT"
check "asyncio echo server under dshim listens on :$PORT (dshim stat shows LISTEN)" $? "$(tail -5 "$WORK/server.log")"

START=$(date +%s.%N)
in_ns timeout 90 /usr/bin/python3 "$WORK/echo_clients.py" "$DIP" "$PORT" 50 200000 >"$WORK/clients.out" 2>&1
RC=$?
SECS=$(awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
check "50 concurrent kernel clients via $DIP (dshim): each 200000-byte echo equal" $RC "$(cat "$WORK/clients.out")"
echo "#   $(head -1 "$WORK/clients.out"), 2 x 10 MB in $SECS s"

in_ns timeout 90 /usr/bin/python3 "$WORK/echo_clients.py" 127.0.0.1 "$PORT" 50 200000 >"$WORK/clients_lo.out" 2>&1
check "50 concurrent kernel clients via 127.0.0.1 (kernel side of the 0.0.0.0 listener): echoes equal" $? \
    "$(cat "$WORK/clients_lo.out")"

kill -TERM "$SERVER" 2>/dev/null
wait_exit "$SERVER" 15
RC=$?
grep -Eq 'tcp_passive_opens +50$' "$WORK/server.log"
check "the server exits on SIGTERM (rc=$RC); exit stats: 50 dshim connections" $(( RC != 0 || $? != 0 )) \
    "$(grep -E 'passive_opens' "$WORK/server.log") $(tail -3 "$WORK/server.log")"

finish
