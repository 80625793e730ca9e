#!/bin/bash
# redis-server and redis-benchmark both under dshim, dshim <-> dshim over
# net_memif (issue 6): redis-server is the memif server process, the clients
# (redis-cli, then redis-benchmark with 1 and with 50 connections) are memif
# client processes, one after the other (one process per port). Values set
# over memif read back byte-exact; every benchmark request answered, none
# failed (its --csv output), requests/s reported.
#
# usage: servers_redis_memif.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh"
lib_init redismemif "${1:-}"
need_tools redis-server redis-cli redis-benchmark
ip netns add "$NS" || { check "create namespace $NS" 1; finish; }
NAMESPACES+=("$NS")
ip -n "$NS" link set lo up

SOCK="$WORK/memif.sock"
SRV_IP=198.18.1.2
CLI_IP=198.18.1.3
PORT=6391
# memif ROLE IP: the launcher prefix for one memif end (ip and the launcher
# exec, so a background job's $! is the program itself).
memif() {
    echo ip netns exec "$NS" "$DSHIM" run --build "$BUILD" --port "net_memif0,role=$1,socket=$SOCK" \
        --mac "02:d5:00:00:01:0${2##*.}" --ip "$2/24" --
}
# A client process exits right after its last reply; the server acks its FIN
# at once, so a short linger is plenty.
export DSHIM_EXIT_LINGER_S=2

$(memif server "$SRV_IP") redis-server --port "$PORT" --bind "$SRV_IP" --protected-mode no --save "" \
    --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
REDIS=$!
PIDS+=("$REDIS")
wait_dshim_listen "$REDIS" "$PORT"
check "redis-server under dshim (memif server, $SRV_IP) listens on :$PORT" $? "$(tail -5 "$WORK/redis.log")"

head -c 30000 /dev/urandom | base64 -w0 >"$WORK/value.txt"   # 40000 bytes
cli() { timeout 20 $(memif client "$CLI_IP") redis-cli -h "$SRV_IP" -p "$PORT" "$@"; }
cli -x SET big <"$WORK/value.txt" >"$WORK/set.out" 2>&1
cli --raw GET big >"$WORK/get.out" 2>&1
(cat "$WORK/value.txt"; echo) | cmp -s - "$WORK/get.out"
check "redis-cli under dshim (memif client) SET/GET of a 40000-byte value round-trips byte-exact" $? \
    "set: $(cat "$WORK/set.out") get: $(head -c 200 "$WORK/get.out")"

for c in 1 50; do
    timeout 120 $(memif client "$CLI_IP") redis-benchmark -h "$SRV_IP" -p "$PORT" -n 20000 -c "$c" \
        -t set,get --csv >"$WORK/bench$c.csv" 2>"$WORK/bench$c.err"
    RC=$?
    SET_RPS=$(awk -F'"' '$2 == "SET" { print $4 }' "$WORK/bench$c.csv")
    GET_RPS=$(awk -F'"' '$2 == "GET" { print $4 }' "$WORK/bench$c.csv")
    awk -v s="${SET_RPS:-0}" -v g="${GET_RPS:-0}" 'BEGIN { exit !(s > 0 && g > 0) }' &&
        [ "$RC" = 0 ] && ! grep -qi 'error' "$WORK/bench$c.err"
    check "redis-benchmark under dshim over memif, -c $c -n 20000 SET/GET: all answered" $? \
        "rc=$RC $(cat "$WORK/bench$c.csv") $(tail -3 "$WORK/bench$c.err")"
    echo "#   memif -c $c: SET ${SET_RPS:-?} requests/s, GET ${GET_RPS:-?} requests/s"
done

# The benchmark SETs key:__rand_int__ (no -r) to a 3-byte payload (-d 3).
GOT=$(cli --raw GET key:__rand_int__ 2>&1)
[ "${#GOT}" = 3 ]
check "the key the benchmark SET over memif reads back, its 3-byte value (-d 3)" $? "got: $GOT"

cli SHUTDOWN NOSAVE >/dev/null 2>&1
wait_exit "$REDIS" 15
check "redis-server exits on SHUTDOWN" $? "$(tail -3 "$WORK/redis.log")"
finish
