#!/bin/bash
# DSHIM_FAULTS on the real data path (issue 5): a bad spec is refused with a
# message naming the key; curl under dshim downloads 16 MiB from a kernel
# python http.server, and socat under dshim uploads 4 MiB to a kernel socat,
# both through net_tap with loss, reordering, duplication and corruption
# injected in both directions. Byte-exact by sha256; the exit stats show
# the injected faults and dshim's retransmissions, the kernel's counters
# its own.
#
# usage: faults.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh"
lib_init faults "${1:-}"
need_tools curl socat nstat ss /usr/bin/python3
ns_up

MIB=16
FAULTS=${DSHIM_TEST_FAULTS:-loss=0.05,reorder=0.02,dup=0.01,corrupt=0.001,seed=7}
mkdir -p "$WORK/www"
UP_MIB=4   # dshim's sender recovers slowly at 5% loss without SACK (issue 5)
make_file "$WORK/www/big.bin" "$MIB"
head -c $((UP_MIB * 1024 * 1024)) "$WORK/www/big.bin" >"$WORK/up.bin"
WANT=$(sha "$WORK/www/big.bin")
WANT_UP=$(sha "$WORK/up.bin")

# --- a bad spec: one message naming the key, exit 1, before any attach
refuse_bad_values DSHIM_FAULTS "loss=1.5" "dir=sideways" "jitter=3" "delay_us=-1"

# --- 1. download: curl under dshim <- kernel http.server
start_kernel_http

in_ns nstat -n >/dev/null 2>&1   # reset the namespace's history: later reads are deltas
timeout 120 env DSHIM_FAULTS="$FAULTS" DSHIM_EXIT_STATS=1 ip netns exec "$NS" "$DSHIM" $(dshim_args) -- \
    curl -sS -o "$WORK/got1.bin" -w '%{http_code} %{size_download} %{time_total} %{speed_download}\n' \
    "http://$KIP:8080/big.bin" >"$WORK/curl1.out" 2>"$WORK/curl1.err"
RC=$?
read -r CODE SIZE SECS SPEED <"$WORK/curl1.out"
[ "$RC" = 0 ] && [ "${CODE:-}" = 200 ] && [ "$(sha "$WORK/got1.bin")" = "$WANT" ]
check "curl under dshim with DSHIM_FAULTS=$FAULTS fetches $MIB MiB, sha256 equal" $? \
    "rc=$RC $(cat "$WORK/curl1.out") $(tail -5 "$WORK/curl1.err")"
echo "#   download under faults: ${SIZE:-?} bytes in ${SECS:-?} s ($(awk -v s="${SPEED:-0}" 'BEGIN{printf "%.1f", s/1048576}') MiB/s)"
KRETRANS=$(in_ns nstat -az TcpRetransSegs 2>/dev/null | awk '/TcpRetransSegs/ {print $2}')
echo "#   kernel sender retransmitted ${KRETRANS:-?} segments"
grep -A2 '^faults' "$WORK/curl1.err" | sed 's/^/#   /'
# Every fault kind happened in both directions (16 MiB is ~11k frames in,
# ~6k out: at these rates each count is far from zero).
FLINES=$(grep -A2 '^faults' "$WORK/curl1.err" | tail -2)
awk '{ if ($3 > 0 && $5 > 0 && $7 > 0) ok++ } END { exit ok == 2 ? 0 : 1 }' <<<"$FLINES"
check "exit stats count injected loss, dup and reordering in both directions" $? "$FLINES"
grep -Eq '^  rx .*corrupted [1-9]' <<<"$FLINES" || grep -Eq '^  tx .*corrupted [1-9]' <<<"$FLINES" ||
    grep -Eq 'tcp_in_errs|csum' "$WORK/curl1.err"
check "exit stats show corrupted frames (or the drops they caused)" $? "$FLINES"
[ "${KRETRANS:-0}" -gt 0 ]
check "the kernel sender retransmitted (TcpRetransSegs ${KRETRANS:-?})" $?
grep -Eq 'tcp_(ofo_queued|dup_segs) +[1-9]' "$WORK/curl1.err"
check "dshim's receiver saw out-of-order or duplicate segments (exit stats)" $? \
    "$(grep -A30 '^counters' "$WORK/curl1.err" | head -30)"

# --- delay: every frame held 2 ms each way; a 1 MiB download still byte-exact
head -c $((1024 * 1024)) "$WORK/www/big.bin" >"$WORK/www/one.bin"
timeout 60 env DSHIM_FAULTS=delay_us=2000 DSHIM_EXIT_STATS=1 ip netns exec "$NS" "$DSHIM" $(dshim_args) -- \
    curl -sS -o "$WORK/got3.bin" -w '%{time_connect}\n' "http://$KIP:8080/one.bin" >"$WORK/curl3.out" 2>"$WORK/curl3.err"
RC=$?
TCONN=$(cat "$WORK/curl3.out")
DELAYED=$(grep -A2 '^faults' "$WORK/curl3.err" | awk '{n += $11} END {print n + 0}')
[ "$RC" = 0 ] && cmp -s "$WORK/got3.bin" "$WORK/www/one.bin" && [ "$DELAYED" -gt 0 ] &&
    awk -v t="${TCONN:-0}" 'BEGIN { exit t >= 0.004 ? 0 : 1 }'
check "DSHIM_FAULTS=delay_us=2000: 1 MiB byte-exact, handshake RTT >= 4 ms (${TCONN:-?} s), $DELAYED frames delayed" $? \
    "rc=$RC $(tail -5 "$WORK/curl3.err")"

kill "$KSERVER" 2>/dev/null
wait "$KSERVER" 2>/dev/null

# --- 2. upload: socat under dshim -> kernel socat
start_kernel_sink 9000 "$WORK/got2.bin"
START=$(date +%s.%N)
timeout 120 env DSHIM_FAULTS="$FAULTS" DSHIM_EXIT_STATS=1 ip netns exec "$NS" "$DSHIM" $(dshim_args) -- \
    socat -u "OPEN:$WORK/up.bin" "TCP:$KIP:9000" >"$WORK/socat.out" 2>"$WORK/socat.err"
RC=$?
END=$(date +%s.%N)
wait_exit "$KSOCAT" 20
KRC=$?
[ "$RC" = 0 ] && [ "$KRC" = 0 ] && [ "$(sha "$WORK/got2.bin")" = "$WANT_UP" ]
check "socat under dshim with DSHIM_FAULTS uploads $UP_MIB MiB to a kernel socat, sha256 equal" $? \
    "rc=$RC kernel rc=$KRC $(tail -5 "$WORK/socat.err")"
echo "#   upload under faults: $(awk -v a="$START" -v b="$END" -v m="$UP_MIB" 'BEGIN{printf "%.2f s (%.1f MiB/s)", b-a, m/(b-a)}')"
RETR=$(awk '$1 == "tcp_retrans_segs" {print $2}' "$WORK/socat.err")
echo "#   dshim sender: tcp_retrans_segs ${RETR:-0}, $(grep -E '^  tcp_(fast_retrans|timeouts|loss_probes) ' "$WORK/socat.err" | tr -s ' ' | tr '\n' ' ')"
[ "${RETR:-0}" -gt 0 ]
check "dshim's exit stats show retransmissions (tcp_retrans_segs ${RETR:-0})" $? \
    "$(grep -A30 '^counters' "$WORK/socat.err" | head -30)"

finish
