#!/bin/bash
# iperf3 under dshim on net_tap against a kernel iperf3 server (issue 4), both
# directions (client sends; -R: server sends), a few seconds each: the test
# completes and reports nonzero throughput. Figures are printed, not judged,
# except the paced run (--fq-rate, SO_MAX_PACING_RATE), which must hold its rate.
#
# usage: shim_iperf.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh"
lib_init iperf "${1:-}"
need_tools iperf3 ss /usr/bin/python3
ns_up

SECS=3
ip netns exec "$NS" iperf3 -s -B "$KIP" -p 5201 >"$WORK/server.log" 2>&1 &
SERVER=$!
PIDS+=("$SERVER")
wait_kernel_listen 5201 "$SERVER"
check "kernel iperf3 server listens on $KIP:5201" $? "$(cat "$WORK/server.log")"

# run_iperf NAME [-R]: one iperf3 client run under dshim, JSON output.
run_iperf() {
    local name=$1 out=$WORK/$1.json rc fig
    shift
    timeout $((SECS + 30)) env DSHIM_EXIT_STATS=1 ip netns exec "$NS" "$DSHIM" $(dshim_args) -- \
        iperf3 -c "$KIP" -p 5201 -t "$SECS" -J "$@" >"$out" 2>"$WORK/$name.err"
    rc=$?
    # "sent_bps received_bps retransmits" of the run's summary.
    fig=$(/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
if "error" in d:
    print("error:", d["error"]); sys.exit(1)
e = d["end"]
print("%.0f %.0f %s" % (e["sum_sent"]["bits_per_second"], e["sum_received"]["bits_per_second"],
                        e["sum_sent"].get("retransmits", "-")))
' "$out" 2>&1)
    local prc=$?
    read -r SENT_BPS RECV_BPS RETR <<<"$fig"
    [ "$rc" = 0 ] && [ "$prc" = 0 ] && awk -v s="$SENT_BPS" -v r="$RECV_BPS" 'BEGIN { exit !(s > 0 && r > 0) }'
    check "iperf3 under dshim ($name${1:+ $1}) completes with nonzero throughput" $? \
        "rc=$rc $fig $(tail -3 "$WORK/$name.err")"
    echo "#   $name: sender $(awk -v b="${SENT_BPS:-0}" 'BEGIN{printf "%.0f", b/1e6}') Mbit/s," \
        "receiver $(awk -v b="${RECV_BPS:-0}" 'BEGIN{printf "%.0f", b/1e6}') Mbit/s, retransmits ${RETR:-?};" \
        "dshim: $(grep -E 'tcp_retrans_segs|tcp_active_opens' "$WORK/$name.err" | tr -s ' ' | tr '\n' ' ')"
    grep -q 'tcp_active_opens *2$' "$WORK/$name.err"
    check "iperf3 $name: control and data connections both went through dshim" $? \
        "$(grep -A6 '^counters' "$WORK/$name.err")"
}

run_iperf send
run_iperf receive -R
# Pacing: iperf3 --fq-rate sets SO_MAX_PACING_RATE on its data socket, and
# dshim paces the stream itself (the kernel needs the fq qdisc or its own
# internal pacing for the same); unpaced, the send above runs far faster.
run_iperf paced --fq-rate 200M
awk -v r="${RECV_BPS:-0}" 'BEGIN { exit !(r > 170e6 && r < 210e6) }'
check "iperf3 --fq-rate 200M under dshim: the receiver sees 170-210 Mbit/s" $? "received ${RECV_BPS:-?} bit/s"

finish
