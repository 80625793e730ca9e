#!/bin/bash
# Integration checks of dpdk_port/ (libdshim_dpdk.so) on real DPDK ports,
# driven through dpdk_port/tools/port_probe (which loads the module exactly as
# the shim does): net_tap against the kernel inside a namespace this script
# creates, net_memif between two processes. Everything it creates is removed
# on exit, also on failure (architecture.md §6).
#
# usage: port_tap.sh PORT_PROBE LIBDSHIM_DPDK_SO
# Last line: "dshim-checks: P passed, F failed"; exit status 1 on any failure,
# 77 (skip) when not root.
set -u

PROBE=${1:?usage: port_tap.sh PORT_PROBE LIBDSHIM_DPDK_SO}
LIB=${2:?usage: port_tap.sh PORT_PROBE LIBDSHIM_DPDK_SO}

# The shared helpers (checks, trap, namespace + tap): the module sits in
# BUILD/dpdk_port/, so its build directory is two levels up.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lib_init port_tap "$(dirname "$(dirname "$LIB")")"
MAC=02:00:5e:12:00:02
DEV="net_tap0,iface=$TAP,mac=$MAC"

# Background probes are started with a plain "ip netns exec ... &" so that
# $! is the probe itself (ip execs it).

# Waits until FILE is non-empty or the process PID is gone (max ~10 s).
wait_ready() {
    local i
    for i in $(seq 100); do
        [ -s "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# Sends SIGINT to PID and returns its exit status; 124 when it had to be
# killed after 10 s.
stop_probe() {
    local i
    kill -INT "$1" 2>/dev/null
    for i in $(seq 100); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$1" 2>/dev/null; then
        echo "# pid $1 ignored SIGINT for 10 s; threads:" >&2
        for t in /proc/"$1"/task/*; do echo "#   $(cat "$t/comm") $(cat "$t/wchan")" >&2; done
        kill -KILL "$1" 2>/dev/null
        wait "$1" 2>/dev/null
        return 124
    fi
    wait "$1"
}

for tool in ping tshark; do
    if ! command -v "$tool" >/dev/null; then
        check "tool $tool is installed" 1 "install it (Debian package iputils-ping / tshark)"
        finish
    fi
done

# --- net_tap: a persistent tap made before the PMD attaches (architecture §6).
ns_up
check "persistent tap $TAP set up in $NS" 0

PCAP=$WORK/cap.pcapng
ip netns exec "$NS" "$PROBE" --lib "$LIB" --port "$DEV" --ip 198.18.0.2 --pcap "$PCAP" \
    --ready-file "$WORK/ready1" --seconds 60 >"$WORK/probe1.out" 2>&1 &
P1=$!
PIDS+=("$P1")
wait_ready "$WORK/ready1" "$P1"
check "probe attaches net_tap" $? "$(cat "$WORK/probe1.out")"
read -r PID1 ATTACH_S EAL_S RUNDIR <"$WORK/ready1" 2>/dev/null
echo "# attach: ${ATTACH_S:-?} s (rte_eal_init ${EAL_S:-?} s); $(grep -o 'pool_s=[0-9.]* port_s=[0-9.]*' "$WORK/probe1.out")"

grep -q '^isolation: ok' "$WORK/probe1.out"
check "attach keeps the caller's affinity, signal mask, getopt state; DPDK threads block signals" $? \
    "$(grep '^isolation' "$WORK/probe1.out")"

grep -q '^pool: ok' "$WORK/probe1.out"
check "pbuf pool over mbufs: alloc, clone, free, nothing leaked" $? "$(grep '^pool' "$WORK/probe1.out")"

[ -n "${RUNDIR:-}" ] && [ -d "$RUNDIR" ]
check "EAL runtime directory exists while attached" $? "${RUNDIR:-none}"

in_ns ping -c 3 -i 0.2 -W 2 198.18.0.2 >"$WORK/ping1.out" 2>&1
check "kernel ping -c 3 198.18.0.2 over net_tap" $? "$(tail -2 "$WORK/ping1.out")"

in_ns ping -c 2 -i 0.2 -s 1400 -W 2 198.18.0.2 >"$WORK/ping2.out" 2>&1
check "kernel ping with 1400-byte payload" $? "$(tail -2 "$WORK/ping2.out")"

# UDP echo: the reply's checksums come from the PMD's tx offload when it has
# one; the kernel drops the datagram if they are wrong.
UDP_OUT=$(in_ns /usr/bin/python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(b"dshim-udp-echo", ("198.18.0.2", 7))
print(s.recv(100).decode())' 2>&1)
[ "$UDP_OUT" = "dshim-udp-echo" ]
check "UDP echo through tx checksum offload" $? "$UDP_OUT"

# One process per port: a second attach fails loudly.
in_ns "$PROBE" --lib "$LIB" --port "$DEV" --ip 198.18.0.3 --seconds 1 >"$WORK/probe2.out" 2>&1
RC2=$?
[ "$RC2" = 3 ] && grep -q "already in use by process $PID1" "$WORK/probe2.out"
check "second attach to the busy port is refused with a clear message" $? "rc=$RC2 $(cat "$WORK/probe2.out")"
[ -d "$RUNDIR" ]
check "the refused attach left the first process's runtime directory alone" $?

in_ns ping -c 1 -W 2 198.18.0.2 >/dev/null 2>&1
check "port still answers after the refused attach" $?

stop_probe "$P1"
RC1=$?
check "SIGINT stops the probe cleanly" "$RC1" "rc=$RC1 $(tail -5 "$WORK/probe1.out")"
grep -q '^detached' "$WORK/probe1.out"
check "probe detached the port" $?

if grep -q 'rx_intr=yes' "$WORK/probe1.out"; then
    WAKE=$(grep -o 'intr_wakeups=[0-9]*' "$WORK/probe1.out" | cut -d= -f2)
    [ "${WAKE:-0}" -gt 0 ]
    check "net_tap Rx interrupts woke the idle probe" $? "$(grep '^probe:' "$WORK/probe1.out")"
else
    check "net_tap offers Rx interrupts" 1 "$(grep '^attached' "$WORK/probe1.out")"
fi

[ ! -e "$RUNDIR" ]
check "EAL runtime directory removed at exit" $? "$RUNDIR"
LOCK=$(grep -o 'lock=[^ ]*' "$WORK/probe1.out" | cut -d= -f2)
[ -n "$LOCK" ] && [ ! -e "$LOCK" ]
check "port lock file removed at exit" $? "$LOCK"
ip -n "$NS" link show "$TAP" >/dev/null 2>&1
check "the pre-created tap is left in place" $?

NICMP=$(tshark -r "$PCAP" -Y icmp 2>/dev/null | wc -l)
[ "$NICMP" = 12 ]
check "pcapng capture parses with tshark and holds the 12 ICMP frames" $? "got $NICMP"
NUDP=$(tshark -r "$PCAP" -Y 'udp.port == 7' 2>/dev/null | wc -l)
[ "$NUDP" = 2 ]
check "capture holds the UDP echo exchange" $? "got $NUDP"

# The port can be taken again once released.
ip netns exec "$NS" "$PROBE" --lib "$LIB" --port "$DEV" --ip 198.18.0.2 --ready-file "$WORK/ready3" \
    --seconds 30 >"$WORK/probe3.out" 2>&1 &
P3=$!
PIDS+=("$P3")
wait_ready "$WORK/ready3" "$P3" && in_ns ping -c 1 -W 2 198.18.0.2 >/dev/null 2>&1
check "a new process attaches the released port and answers ping" $? "$(cat "$WORK/probe3.out")"
stop_probe "$P3" >/dev/null

# A device DPDK cannot attach fails loudly and leaves nothing behind.
# (Counted before and after: other processes' runtime directories, e.g.
# left by a killed program elsewhere on the machine, are not ours.)
runtime_dirs() { ls -d /var/run/dpdk/dshim* /tmp/dpdk/dshim* "${XDG_RUNTIME_DIR:-/nonexistent}"/dpdk/dshim* 2>/dev/null | wc -l; }
RD_BEFORE=$(runtime_dirs)
in_ns "$PROBE" --lib "$LIB" --port "net_nosuchdriver0,iface=$TAP" --ip 198.18.0.2 \
    --seconds 1 >"$WORK/probe4.out" 2>&1
RC4=$?
[ "$RC4" = 3 ] && grep -q 'cannot attach DPDK port' "$WORK/probe4.out"
check "an unusable device fails loudly" $? "rc=$RC4 $(cat "$WORK/probe4.out")"
RD4=$(( $(runtime_dirs) - RD_BEFORE ))
ls /run/dshim/*"$TAP"* /tmp/dshim-port-*"$TAP"* >/dev/null 2>&1
LK4=$?
[ "$RD4" = 0 ] && [ "$LK4" != 0 ]
check "the failed attach left no runtime directory or lock file" $? "runtime dirs: $RD4"

# --- net_memif between two processes (server answers, client pings).
MSOCK="/tmp/dshim-memif-$$-$RANDOM.sock"
ip netns exec "$NS" "$PROBE" --lib "$LIB" --port "net_memif0,role=server,socket=$MSOCK,mac=02:00:5e:12:01:02" \
    --ip 198.18.1.2 --ready-file "$WORK/ready5" --seconds 30 >"$WORK/memif_server.out" 2>&1 &
P5=$!
PIDS+=("$P5")
wait_ready "$WORK/ready5" "$P5"
check "memif server attaches" $? "$(cat "$WORK/memif_server.out")"
in_ns "$PROBE" --lib "$LIB" --port "net_memif0,role=client,socket=$MSOCK,mac=02:00:5e:12:01:03" \
    --ip 198.18.1.3 --ping 198.18.1.2 --count 3 --seconds 15 >"$WORK/memif_client.out" 2>&1
RC6=$?
check "memif client pings the memif server process (3 replies)" "$RC6" \
    "rc=$RC6 $(cat "$WORK/memif_client.out")"
grep -q 'rx_intr=Operation not supported\|rx_intr=yes' "$WORK/memif_client.out"
check "memif reports whether it has Rx interrupts" $? "$(grep '^attached' "$WORK/memif_client.out")"
stop_probe "$P5"
RC5=$?
grep -q 'echo_replies=3 ' "$WORK/memif_server.out"
check "memif server answered and stopped cleanly" $(( RC5 != 0 || $? != 0 )) \
    "rc=$RC5 $(grep '^probe:' "$WORK/memif_server.out")"
MLOCKS=$(ls /run/dshim/dshim-port-memif-*"${MSOCK//\//_}"-*.lock /tmp/dshim-port-memif-*"${MSOCK//\//_}"-*.lock \
    2>/dev/null | tr '\n' ' ')
[ -z "$MLOCKS" ]
check "the memif client and server left no port lock file at exit" $? "$MLOCKS"

finish
