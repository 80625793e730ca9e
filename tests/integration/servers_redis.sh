#!/bin/bash
# redis-server (unmodified Debian binary) under dshim on net_tap (issue 6):
# redis-cli SET/GET of a 100 KB value round-trips byte-exact, over dshim and
# over loopback (the INADDR_ANY listener also accepts kernel connections
# through its placeholder); redis-benchmark from the kernel side (SET/GET,
# 20 clients) with its replies checked; BGSAVE forks a child that writes the
# RDB while the parent keeps serving; SHUTDOWN exits cleanly. Then
# `--daemonize yes`: redis forks before it makes any socket, so the daemon
# child attaches the port itself, serves, and BGSAVEs too.
#
# usage: servers_redis.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh"
lib_init redis "${1:-}"
need_tools redis-server redis-cli redis-benchmark redis-check-rdb ss
ns_up

PORT=6390
head -c 75000 /dev/urandom | base64 -w0 >"$WORK/value.txt"   # 100000 bytes
cli() { in_ns timeout 10 redis-cli -h "$1" -p "$PORT" "${@:2}"; }

# bgsave_ok HOST: BGSAVE, then until the save finished (max ~15 s); ok status.
bgsave_ok() {
    local i out
    cli "$1" BGSAVE >"$WORK/bgsave.out" 2>&1 || return 1
    for i in $(seq 150); do
        out=$(cli "$1" INFO persistence 2>/dev/null | tr -d '\r')
        if grep -q '^rdb_bgsave_in_progress:0' <<<"$out"; then
            grep -q '^rdb_last_bgsave_status:ok' <<<"$out"
            return
        fi
        sleep 0.1
    done
    return 1
}

# --- 1. redis-server in the foreground
ip netns exec "$NS" env DSHIM_EXIT_STATS=1 "$DSHIM" $(dshim_args) -- \
    redis-server --port "$PORT" --bind 0.0.0.0 --protected-mode no --save "" --appendonly no \
    --dir "$WORK" --dbfilename fg.rdb >"$WORK/redis.log" 2>&1 &
REDIS=$!
PIDS+=("$REDIS")
wait_dshim_listen "$REDIS" "$PORT"
check "redis-server under dshim listens on :$PORT (dshim stat shows LISTEN)" $? "$(tail -5 "$WORK/redis.log")"

cli "$DIP" -x SET big <"$WORK/value.txt" >"$WORK/set.out" 2>&1
cli "$DIP" --raw GET big >"$WORK/get.out" 2>&1
(cat "$WORK/value.txt"; echo) | cmp -s - "$WORK/get.out"
check "redis-cli SET/GET of a 100000-byte value via $DIP (dshim) round-trips byte-exact" $? \
    "set: $(cat "$WORK/set.out") get: $(head -c 200 "$WORK/get.out")"

cli 127.0.0.1 --raw GET big >"$WORK/get_lo.out" 2>&1
(cat "$WORK/value.txt"; echo) | cmp -s - "$WORK/get_lo.out"
check "the same value via 127.0.0.1 (kernel connection accepted by the 0.0.0.0 listener)" $? \
    "$(head -c 200 "$WORK/get_lo.out")"

in_ns timeout 90 redis-benchmark -h "$DIP" -p "$PORT" -n 20000 -c 20 -t set,get --csv \
    >"$WORK/bench.csv" 2>"$WORK/bench.err"
RC=$?
SET_RPS=$(awk -F'"' '$2 == "SET" { print $4 }' "$WORK/bench.csv")
GET_RPS=$(awk -F'"' '$2 == "GET" { print $4 }' "$WORK/bench.csv")
[ "$RC" = 0 ] && [ -n "$SET_RPS" ] && [ -n "$GET_RPS" ]
check "redis-benchmark -n 20000 -c 20 -t set,get from the kernel side completes" $? \
    "rc=$RC $(cat "$WORK/bench.csv") $(tail -3 "$WORK/bench.err")"
echo "#   redis-benchmark via dshim: SET ${SET_RPS:-?} req/s, GET ${GET_RPS:-?} req/s"
# redis-benchmark's SETs write a 3-byte value (its default -d 3) at
# key:__rand_int__, and nothing else.
[ "$(cli "$DIP" STRLEN key:__rand_int__ 2>&1)" = 3 ] && [ "$(cli "$DIP" DBSIZE 2>&1)" = 2 ]
check "the benchmark's writes are there (STRLEN key:__rand_int__ = 3, DBSIZE = 2)" $? \
    "$(cli "$DIP" KEYS '*' 2>&1 | head -5 | tr '\n' ' ')"

bgsave_ok "$DIP"
check "BGSAVE: the forked child writes the RDB, status ok" $? "$(cat "$WORK/bgsave.out"; tail -5 "$WORK/redis.log")"
in_ns timeout 20 redis-check-rdb "$WORK/fg.rdb" >"$WORK/check_rdb.out" 2>&1
check "redis-check-rdb accepts the child's RDB" $? "$(tail -3 "$WORK/check_rdb.out")"
cli "$DIP" --raw GET big >"$WORK/get2.out" 2>&1
(cat "$WORK/value.txt"; echo) | cmp -s - "$WORK/get2.out" && [ "$(cli "$DIP" PING)" = PONG ]
check "the parent keeps serving after the fork (GET, PING)" $?

cli "$DIP" SHUTDOWN NOSAVE >/dev/null 2>&1
wait_exit "$REDIS" 15
RC=$?
grep -q 'tcp_passive_opens' "$WORK/redis.log"
check "SHUTDOWN: redis-server exits (rc=$RC) and prints its exit stats" $(( RC == 124 || $? != 0 )) \
    "$(tail -5 "$WORK/redis.log")"
echo "#   $(grep -Eo 'tcp_passive_opens +[0-9]+' "$WORK/redis.log")"

# --- 2. redis --daemonize yes: forks before any socket exists; the daemon
# child attaches the port (the parent never did) and serves.
ip netns exec "$NS" "$DSHIM" $(dshim_args) -- \
    redis-server --port "$PORT" --bind 0.0.0.0 --protected-mode no --save "" --appendonly no \
    --dir "$WORK" --dbfilename daemon.rdb --daemonize yes --pidfile "$WORK/daemon.pid" \
    --logfile "$WORK/daemon.log" >"$WORK/daemonize.out" 2>&1
RC=$?
DPID=""
for i in $(seq 100); do
    [ -s "$WORK/daemon.pid" ] && DPID=$(cat "$WORK/daemon.pid") && break
    sleep 0.1
done
[ -n "$DPID" ] && PIDS+=("$DPID")
[ "$RC" = 0 ] && [ -n "$DPID" ] && wait_dshim_listen "$DPID" "$PORT"
check "redis-server --daemonize yes: the parent exits 0, the daemon (pid ${DPID:-?}) attached and listens" $? \
    "rc=$RC $(cat "$WORK/daemonize.out") $(tail -5 "$WORK/daemon.log" 2>/dev/null)"
cli "$DIP" -x SET big <"$WORK/value.txt" >/dev/null 2>&1
cli 127.0.0.1 --raw GET big >"$WORK/get3.out" 2>&1
(cat "$WORK/value.txt"; echo) | cmp -s - "$WORK/get3.out" && [ "$(cli "$DIP" PING)" = PONG ]
check "the daemon serves: SET via $DIP, GET via 127.0.0.1 byte-exact, PING" $?
bgsave_ok "$DIP" && [ -s "$WORK/daemon.rdb" ] && [ "$(cli "$DIP" PING)" = PONG ]
check "BGSAVE in the daemon: child saves, the daemon keeps serving" $? "$(tail -5 "$WORK/daemon.log")"
cli "$DIP" SHUTDOWN NOSAVE >/dev/null 2>&1
for i in $(seq 150); do
    kill -0 "$DPID" 2>/dev/null || break
    sleep 0.1
done
! kill -0 "$DPID" 2>/dev/null
check "SHUTDOWN: the daemon exits" $?

finish
