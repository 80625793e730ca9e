#!/bin/bash
# Wire probes on the real data path (issue 5): a python server under dshim
# on net_tap; from the kernel side, scapy as a host the kernel does not own
# (198.18.0.3, its ARP answered by the probe itself, so the kernel never RSTs
# the probe's connection) checks RFC 5961 (RST out of window / in window /
# exact, SYN in window, out-of-window data) and that malformed TCP/IP headers
# are dropped, counted by reason (`dshim stat`) and leave the connection
# alone; then >= 100k SYNs from 198.18.0.0/15 hit the echo listener while a
# 32 MiB stream from dshim runs, which must arrive byte-exact, and new
# connections during and after the flood must succeed.
#
# usage: wire_probes.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh"
lib_init wire_probes "${1:-}"
need_tools ss /usr/bin/python3
/usr/bin/python3 -c 'import scapy' 2>/dev/null ||
    { check "python3-scapy is installed" 1 "apt-get install python3-scapy"; finish; }
ns_up
PY=$LIB_DIR/wire_probes.py
SYNS=${DSHIM_TEST_SYNS:-100000}

# count_checks FILE: adds the helper's ok/FAIL lines to ours.
count_checks() {
    local p f
    p=$(grep -c '^ok - ' "$1")
    f=$(grep -c '^FAIL - ' "$1")
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
    grep -E '^(ok|FAIL) - ' "$1"
}

ip netns exec "$NS" "$DSHIM" $(dshim_args) -- /usr/bin/python3 "$PY" server >"$WORK/server.log" 2>&1 &
SERVER=$!
PIDS+=("$SERVER")
wait_dshim_listen "$SERVER" 7000
check "python server under dshim listens on $DIP:7000" $? "$(tail -5 "$WORK/server.log")"

# --- 1 + 2: RFC 5961 and malformed headers
timeout 90 ip netns exec "$NS" /usr/bin/python3 "$PY" probe "$TAP" "$MAC" "$DSHIM" "$SERVER" \
    >"$WORK/probe.out" 2>"$WORK/probe.err"
RC=$?
count_checks "$WORK/probe.out"
[ "$RC" = 0 ] || [ "$(grep -c '^FAIL - ' "$WORK/probe.out")" != 0 ]
check "probe helper ran to the end" $? "rc=$RC $(tail -5 "$WORK/probe.err")"
kill -0 "$SERVER" 2>/dev/null
check "server under dshim still runs after the probes" $?

# --- 3: SYN flood during an established transfer
rm -f "$WORK/mark"
WIRE_MARK=$WORK/mark timeout 120 ip netns exec "$NS" /usr/bin/python3 "$PY" bulk 6 \
    >"$WORK/bulk.out" 2>"$WORK/bulk.err" &
BULK=$!
PIDS+=("$BULK")
for _ in $(seq 100); do
    [ -e "$WORK/mark" ] && break
    sleep 0.1
done
[ -e "$WORK/mark" ]
check "the 32 MiB stream from dshim started before the flood" $? "$(tail -3 "$WORK/bulk.err")"
timeout 60 ip netns exec "$NS" /usr/bin/python3 "$PY" flood "$TAP" "$MAC" "$SYNS" \
    >"$WORK/flood.out" 2>"$WORK/flood.err" &
FLOOD=$!
PIDS+=("$FLOOD")
sleep 0.2
timeout 60 ip netns exec "$NS" /usr/bin/python3 "$PY" legit 5 "during the flood" >"$WORK/legit0.out" 2>&1
wait_exit "$FLOOD" 60
check "flood helper exits 0" $? "$(tail -3 "$WORK/flood.err")"
count_checks "$WORK/flood.out"
count_checks "$WORK/legit0.out"
timeout 60 ip netns exec "$NS" /usr/bin/python3 "$PY" legit 5 "right after the flood" >"$WORK/legit1.out" 2>&1
count_checks "$WORK/legit1.out"
wait_exit "$BULK" 100
check "stream receiver exits 0" $? "$(tail -3 "$WORK/bulk.err")"
count_checks "$WORK/bulk.out"
sleep 1
timeout 60 ip netns exec "$NS" /usr/bin/python3 "$PY" legit 5 "after the flood" >"$WORK/legit2.out" 2>&1
count_checks "$WORK/legit2.out"
"$DSHIM" stat "$SERVER" >"$WORK/stat.out" 2>&1
grep -E '^  (tcp_listen_overflow|tcp_syncookies|tcp_req|neigh|no_route|tcp_passive|tcp_active)' "$WORK/stat.out" |
    tr -s ' ' | sed 's/^/#  /'
kill -0 "$SERVER" 2>/dev/null
check "server under dshim still runs after the flood" $?

finish
