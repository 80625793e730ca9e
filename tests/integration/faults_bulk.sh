#!/bin/bash
# Impaired bulk transfers on the real data path (issue 5): 64 MiB each way
# between a program under dshim and a kernel peer through net_tap with
# DSHIM_FAULTS loss=0.10,reorder=0.05,dup=0.01,corrupt=0.001 in both
# directions; 1 GiB each way in the long variant. Byte-exact (cmp); prints
# time, throughput and both senders' retransmissions (dshim's exit stats,
# the kernel's nstat).
#
# dshim -> kernel runs twice: with BBR (DSHIM_TCP_CONGESTION=bbr) for the
# 64 MiB / 1 GiB figure, and 8 MiB with the default CUBIC, which at 10%
# random loss spends most of its time in RTOs (~50 s here; the kernel's own
# CUBIC needs longer). kernel -> dshim uses the kernel's default congestion
# control, printed with the result.
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
UP_MIB=64
if [ "${2:-}" = long ]; then
    DOWN_MIB=1024
    UP_MIB=1024
fi
DOWN_MIB=${DSHIM_TEST_DOWN_MIB:-$DOWN_MIB}
UP_MIB=${DSHIM_TEST_UP_MIB:-$UP_MIB}
CUBIC_MIB=${DSHIM_TEST_CUBIC_MIB:-8}
MIB=$((DOWN_MIB > UP_MIB ? DOWN_MIB : UP_MIB))
MIB=$((MIB > CUBIC_MIB ? MIB : CUBIC_MIB))
FAULTS=${DSHIM_TEST_FAULTS:-loss=0.10,reorder=0.05,dup=0.01,corrupt=0.001,seed=11}
# Generous per-transfer limits (dshim's CUBIC sends ~0.2 MiB/s at 10%
# loss); the meson timeout is the real bound.
make_file "$WORK/data.bin" "$MIB"
head -c $((DOWN_MIB * 1048576)) "$WORK/data.bin" >"$WORK/down_src.bin"
head -c $((UP_MIB * 1048576)) "$WORK/data.bin" >"$WORK/up_src.bin"
head -c $((CUBIC_MIB * 1048576)) "$WORK/data.bin" >"$WORK/upcubic_src.bin"
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

# transfer NAME LABEL PORT MIB LIMIT_S [CC]: MIB MiB between a kernel socat
# on $KIP:PORT and socat under dshim with DSHIM_FAULTS (and congestion
# control CC, default cubic), from $WORK/NAME_src.bin to $WORK/NAME.bin.
# NAME down: the kernel sends (its socat listens and writes the file);
# otherwise dshim sends, and the kernel receiver's exit status counts too.
# LIMIT_S bounds the dshim side.
transfer() {
    local name=$1 label=$2 port=$3 mib=$4 limit=$5 cc=${6:-cubic} klog kwait kside dside kpid rc krc=0 kdetail="" start end
    if [ "$name" = down ]; then
        klog=ksend kwait=10
        kside=("OPEN:$WORK/${name}_src.bin" "TCP-LISTEN:$port,bind=$KIP,reuseaddr")
        dside=("TCP:$KIP:$port" "CREATE:$WORK/$name.bin")
    else
        klog=krecv kwait=20
        kside=("TCP-LISTEN:$port,bind=$KIP,reuseaddr" "CREATE:$WORK/$name.bin")
        dside=("OPEN:$WORK/${name}_src.bin" "TCP:$KIP:$port")
    fi
    ip netns exec "$NS" socat -u "${kside[@]}" >"$WORK/$klog.log" 2>&1 &
    kpid=$!
    PIDS+=("$kpid")
    wait_kernel_listen "$port" "$kpid"
    check "kernel socat listens on $KIP:$port" $? "$(cat "$WORK/$klog.log")"
    in_ns nstat -n >/dev/null 2>&1
    start=$(date +%s.%N)
    timeout "$limit" env DSHIM_FAULTS="$FAULTS" DSHIM_TCP_CONGESTION="$cc" DSHIM_EXIT_STATS=1 ip netns exec "$NS" "$DSHIM" $(dshim_args) -- \
        socat -u "${dside[@]}" >"$WORK/$name.out" 2>"$WORK/$name.err"
    rc=$?
    end=$(date +%s.%N)
    wait_exit "$kpid" "$kwait"
    if [ "$name" != down ]; then
        krc=$?
        kdetail=" kernel rc=$krc"
    fi
    [ "$rc" = 0 ] && [ "$krc" = 0 ] && cmp -s "$WORK/$name.bin" "$WORK/${name}_src.bin"
    check "$label: $mib MiB under DSHIM_FAULTS=$FAULTS, byte-exact" $? \
        "rc=$rc$kdetail size=$(stat -c %s "$WORK/$name.bin" 2>/dev/null) $(tail -3 "$WORK/$name.err")"
    report "$label" "$mib" "$WORK/$name.err" "$start" "$end"
    rm -f "$WORK/$name.bin"
}

# --- 1. kernel -> dshim: kernel socat sends, socat under dshim receives
KCC=$(in_ns sysctl -n net.ipv4.tcp_congestion_control 2>/dev/null)
transfer down "kernel ($KCC) -> dshim" 9100 "$DOWN_MIB" $((60 + DOWN_MIB))
# --- 2. dshim -> kernel: socat under dshim sends, kernel socat receives
transfer up "dshim (bbr) -> kernel" 9101 "$UP_MIB" $((60 + UP_MIB * 2)) bbr
RETR=$(awk '$1 == "tcp_retrans_segs" {print $2}' "$WORK/up.err")
[ "${RETR:-0}" -gt 0 ]
check "dshim's BBR sender retransmitted (tcp_retrans_segs ${RETR:-0})" $?
transfer upcubic "dshim (cubic) -> kernel" 9102 "$CUBIC_MIB" $((60 + CUBIC_MIB * 8)) cubic

finish
