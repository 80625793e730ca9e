#!/bin/bash
# Impaired bulk transfers on the real data path (issue 5): 64 MiB each way
# between a program under dshim and a kernel peer through net_tap with
# DSHIM_FAULTS loss=0.10,reorder=0.05,dup=0.01,corrupt=0.001 in both
# directions; 1 GiB each way in the long variant. Byte-exact by sha256;
# prints time, throughput and both senders' retransmissions (dshim's exit
# stats, the kernel's nstat).
#
# The default run sends 64 MiB kernel -> dshim (~30 s here) but only 16 MiB
# dshim -> kernel: dshim's sender needs ~5 min for 64 MiB at 10% loss (mostly
# RTOs, issue 5), beyond a default run's budget. DSHIM_TEST_UP_MIB=64 runs
# the issue's full figure.
#
# usage: faults_bulk.sh BUILD_DIR [long]   (long: 1 GiB each way, only with
#        DSHIM_LONG=1, i.e. scripts/test --long; skipped otherwise)
set -u
source "$(dirname "$0")/lib.sh"
if [ "${2:-}" = long ] && [ -z "${DSHIM_LONG:-}" ]; then
    echo "faults_bulk long: runs only with DSHIM_LONG=1 (scripts/test --long); skipped"
    exit 77
fi
lib_init faults_bulk "${1:-}"
need_tools socat nstat ss /usr/bin/python3
ns_up

DOWN_MIB=64
UP_MIB=16
if [ "${2:-}" = long ]; then
    DOWN_MIB=1024
    UP_MIB=1024
fi
DOWN_MIB=${DSHIM_TEST_DOWN_MIB:-$DOWN_MIB}
UP_MIB=${DSHIM_TEST_UP_MIB:-$UP_MIB}
MIB=$((DOWN_MIB > UP_MIB ? DOWN_MIB : UP_MIB))
FAULTS=${DSHIM_TEST_FAULTS:-loss=0.10,reorder=0.05,dup=0.01,corrupt=0.001,seed=11}
# Generous per-direction limits (dshim sends ~0.2 MiB/s at 10% loss);
# the meson timeout is the real bound.
make_file "$WORK/data.bin" "$MIB"
head -c $((DOWN_MIB * 1048576)) "$WORK/data.bin" >"$WORK/down_src.bin"
head -c $((UP_MIB * 1048576)) "$WORK/data.bin" >"$WORK/up_src.bin"
rm -f "$WORK/data.bin"

report() {   # report DIR MIB ERRFILE START END
    local secs
    secs=$(awk -v a="$4" -v b="$5" 'BEGIN{printf "%.2f", b-a}')
    echo "#   $1: $2 MiB in $secs s ($(awk -v s="$secs" -v m="$2" 'BEGIN{printf "%.2f", m/s}') MiB/s)"
    echo "#   dshim: $(grep -E '^  tcp_[a-z_]+ +[0-9]+$' "$3" | tr -s ' ' | tr '\n' ' ')"
    # Deltas since the `nstat -n` before the transfer.
    echo "#   kernel: $(in_ns nstat -z TcpRetransSegs TcpInSegs TcpOutSegs TcpExtTCPTimeouts 2>/dev/null | awk '/^Tcp/ {printf "%s %s ", $1, $2}')"
    grep -A2 '^faults' "$3" | sed 's/^/#   /'
}

# --- 1. kernel -> dshim: kernel socat sends, socat under dshim receives
ip netns exec "$NS" socat -u "OPEN:$WORK/down_src.bin" "TCP-LISTEN:9100,bind=$KIP,reuseaddr" \
    >"$WORK/ksend.log" 2>&1 &
KSEND=$!
PIDS+=("$KSEND")
wait_kernel_listen 9100 "$KSEND"
check "kernel socat listens on $KIP:9100" $? "$(cat "$WORK/ksend.log")"
in_ns nstat -n >/dev/null 2>&1
START=$(date +%s.%N)
timeout $((60 + DOWN_MIB)) env DSHIM_FAULTS="$FAULTS" DSHIM_EXIT_STATS=1 ip netns exec "$NS" "$DSHIM" $(dshim_args) -- \
    socat -u "TCP:$KIP:9100" "CREATE:$WORK/down.bin" >"$WORK/down.out" 2>"$WORK/down.err"
RC=$?
END=$(date +%s.%N)
wait_exit "$KSEND" 10
[ "$RC" = 0 ] && cmp -s "$WORK/down.bin" "$WORK/down_src.bin"
check "kernel -> dshim: $DOWN_MIB MiB under DSHIM_FAULTS=$FAULTS, byte-exact" $? \
    "rc=$RC size=$(stat -c %s "$WORK/down.bin" 2>/dev/null) $(tail -3 "$WORK/down.err")"
report "kernel -> dshim" "$DOWN_MIB" "$WORK/down.err" "$START" "$END"
rm -f "$WORK/down.bin"

# --- 2. dshim -> kernel: socat under dshim sends, kernel socat receives
ip netns exec "$NS" socat -u "TCP-LISTEN:9101,bind=$KIP,reuseaddr" "CREATE:$WORK/up.bin" \
    >"$WORK/krecv.log" 2>&1 &
KRECV=$!
PIDS+=("$KRECV")
wait_kernel_listen 9101 "$KRECV"
check "kernel socat listens on $KIP:9101" $? "$(cat "$WORK/krecv.log")"
in_ns nstat -n >/dev/null 2>&1
START=$(date +%s.%N)
timeout $((60 + UP_MIB * 8)) env DSHIM_FAULTS="$FAULTS" DSHIM_EXIT_STATS=1 ip netns exec "$NS" "$DSHIM" $(dshim_args) -- \
    socat -u "OPEN:$WORK/up_src.bin" "TCP:$KIP:9101" >"$WORK/up.out" 2>"$WORK/up.err"
RC=$?
END=$(date +%s.%N)
wait_exit "$KRECV" 20
KRC=$?
[ "$RC" = 0 ] && [ "$KRC" = 0 ] && cmp -s "$WORK/up.bin" "$WORK/up_src.bin"
check "dshim -> kernel: $UP_MIB MiB under DSHIM_FAULTS=$FAULTS, byte-exact" $? \
    "rc=$RC kernel rc=$KRC size=$(stat -c %s "$WORK/up.bin" 2>/dev/null) $(tail -3 "$WORK/up.err")"
report "dshim -> kernel" "$UP_MIB" "$WORK/up.err" "$START" "$END"
RETR=$(awk '$1 == "tcp_retrans_segs" {print $2}' "$WORK/up.err")
[ "${RETR:-0}" -gt 0 ]
check "dshim's sender retransmitted (tcp_retrans_segs ${RETR:-0})" $?

finish
