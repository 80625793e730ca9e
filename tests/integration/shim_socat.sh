#!/bin/bash
# socat under dshim on net_tap exchanging 64 MiB each way with a kernel socat
# (issue 4). In both directions the sender exits right after its last write
# (`socat -u FILE TCP:...`): close() is asynchronous and dshim must still
# deliver every queued byte and the FIN (architecture.md §4), also at process
# exit. Byte-exact by sha256.
#
# usage: shim_socat.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh"
lib_init socat "${1:-}"
need_tools socat ss
ns_up

MIB=64
make_file "$WORK/up.bin" "$MIB"
make_file "$WORK/down.bin" "$MIB"
chmod 644 "$WORK/up.bin" "$WORK/down.bin"

# --- dshim sends, kernel receives.
ip netns exec "$NS" socat -u TCP-LISTEN:9001,bind=$KIP,reuseaddr CREATE:"$WORK/k_got.bin" \
    >"$WORK/k_recv.log" 2>&1 &
KRECV=$!
PIDS+=("$KRECV")
wait_kernel_listen 9001 "$KRECV"
check "kernel socat listens on $KIP:9001" $? "$(cat "$WORK/k_recv.log")"
T0=$(date +%s.%N)
timeout 60 env DSHIM_EXIT_STATS=1 ip netns exec "$NS" "$DSHIM" $(dshim_args) -- \
    socat -u FILE:"$WORK/up.bin" TCP:$KIP:9001 >"$WORK/d_send.log" 2>&1
RC_SEND=$?
wait_exit "$KRECV" 30
RC_RECV=$?
T1=$(date +%s.%N)
[ "$RC_SEND" = 0 ] && [ "$RC_RECV" = 0 ] && [ "$(sha "$WORK/k_got.bin")" = "$(sha "$WORK/up.bin")" ]
check "socat under dshim sends $MIB MiB and exits; kernel socat receives all of it, sha256 equal" $? \
    "send rc=$RC_SEND recv rc=$RC_RECV got $(stat -c %s "$WORK/k_got.bin" 2>/dev/null) bytes; $(grep -v '^  ' "$WORK/d_send.log" | tail -5)"
echo "#   dshim -> kernel: $MIB MiB in $(awk -v a="$T0" -v b="$T1" 'BEGIN{printf "%.2f s (%.1f MiB/s)", b-a, '"$MIB"'/(b-a)}') incl. start-up;" \
    "$(grep -E 'tcp_retrans_segs|tcp_out_segs' "$WORK/d_send.log" | tr -s ' ' | tr '\n' ' ')"
grep -q 'tcp_active_opens *1$' "$WORK/d_send.log"
check "the sender's connection went through dshim (tcp_active_opens 1)" $?

# --- kernel sends, dshim receives.
ip netns exec "$NS" env DSHIM_EXIT_STATS=1 "$DSHIM" $(dshim_args) -- \
    socat -u TCP-LISTEN:9002,reuseaddr CREATE:"$WORK/d_got.bin" >"$WORK/d_recv.log" 2>&1 &
DRECV=$!
PIDS+=("$DRECV")
wait_dshim_listen "$DRECV" 9002
check "socat under dshim listens on :9002" $? "$(tail -5 "$WORK/d_recv.log")"
T0=$(date +%s.%N)
timeout 60 ip netns exec "$NS" socat -u FILE:"$WORK/down.bin" TCP:$DIP:9002 >"$WORK/k_send.log" 2>&1
RC_SEND=$?
wait_exit "$DRECV" 30
RC_RECV=$?
T1=$(date +%s.%N)
[ "$RC_SEND" = 0 ] && [ "$RC_RECV" = 0 ] && [ "$(sha "$WORK/d_got.bin")" = "$(sha "$WORK/down.bin")" ]
check "kernel socat sends $MIB MiB and exits; socat under dshim receives all of it, sha256 equal" $? \
    "send rc=$RC_SEND recv rc=$RC_RECV got $(stat -c %s "$WORK/d_got.bin" 2>/dev/null) bytes; $(cat "$WORK/k_send.log"; grep -v '^  ' "$WORK/d_recv.log" | tail -5)"
echo "#   kernel -> dshim: $MIB MiB in $(awk -v a="$T0" -v b="$T1" 'BEGIN{printf "%.2f s (%.1f MiB/s)", b-a, '"$MIB"'/(b-a)}');" \
    "$(grep -E 'tcp_in_segs|tcp_dup_segs|tcp_ofo' "$WORK/d_recv.log" | tr -s ' ' | tr '\n' ' ')"

# --- dshim listens and sends: the server writes 64 MiB to the first client
# and exits at once; the kernel client reads to EOF.
ip netns exec "$NS" "$DSHIM" $(dshim_args) -- \
    socat -u FILE:"$WORK/up.bin" TCP-LISTEN:9003,reuseaddr >"$WORK/d_serve.log" 2>&1 &
DSERVE=$!
PIDS+=("$DSERVE")
wait_dshim_listen "$DSERVE" 9003
timeout 60 ip netns exec "$NS" socat -u TCP:$DIP:9003 CREATE:"$WORK/k_got2.bin" >"$WORK/k_get.log" 2>&1
RC_GET=$?
wait_exit "$DSERVE" 30
RC_SERVE=$?
[ "$RC_GET" = 0 ] && [ "$RC_SERVE" = 0 ] && [ "$(sha "$WORK/k_got2.bin")" = "$(sha "$WORK/up.bin")" ]
check "socat under dshim serves $MIB MiB to a kernel client and exits; sha256 equal" $? \
    "get rc=$RC_GET serve rc=$RC_SERVE got $(stat -c %s "$WORK/k_got2.bin" 2>/dev/null) bytes; $(cat "$WORK/k_get.log" "$WORK/d_serve.log" | tail -5)"

finish
