#!/bin/bash
# Unmodified HTTP programs under dshim on net_tap against the kernel
# (issue 4): curl under dshim downloads 32 MiB from a kernel python
# http.server; kernel curl downloads 32 MiB from python http.server under
# dshim; the kernel pings dshim's address while that server runs (also with
# 8000/30000/65507-byte payloads, fragmented both ways, and DF); a second
# process attaching the busy port is refused; the DSHIM_PCAP capture parses
# with tshark and holds the handshake. Byte-exact by sha256.
#
# usage: shim_http.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh"
lib_init http "${1:-}"
need_tools curl ping tshark ss /usr/bin/python3
ns_up

MIB=32
mkdir -p "$WORK/www"
make_file "$WORK/www/big.bin" "$MIB"
echo "small file for the capture" >"$WORK/www/small.txt"
WANT=$(sha "$WORK/www/big.bin")

# --- 1. curl under dshim <- kernel http.server
start_kernel_http

timeout 60 env DSHIM_LOG=2 DSHIM_EXIT_STATS=1 ip netns exec "$NS" "$DSHIM" $(dshim_args) -- \
    curl -sS -o "$WORK/got1.bin" -w '%{http_code} %{size_download} %{time_total} %{speed_download}\n' \
    "http://$KIP:8080/big.bin" >"$WORK/curl1.out" 2>"$WORK/curl1.err"
RC=$?
read -r CODE SIZE SECS SPEED <"$WORK/curl1.out"
[ "$RC" = 0 ] && [ "${CODE:-}" = 200 ] && [ "$(sha "$WORK/got1.bin")" = "$WANT" ]
check "curl under dshim fetches $MIB MiB from a kernel http.server, sha256 equal" $? \
    "rc=$RC $(cat "$WORK/curl1.out") $(tail -5 "$WORK/curl1.err")"
echo "#   curl under dshim: ${SIZE:-?} bytes in ${SECS:-?} s ($(awk -v s="${SPEED:-0}" 'BEGIN{printf "%.1f", s/1048576}') MiB/s)"
grep -q 'tcp_active_opens *1$' "$WORK/curl1.err"
check "curl's connection went through dshim (exit stats: tcp_active_opens 1)" $? \
    "$(grep -A3 '^counters' "$WORK/curl1.err")"

# --- 10. the capture written by DSHIM_PCAP (small transfer, fresh process)
PCAP=$WORK/cap.pcapng
timeout 30 ip netns exec "$NS" "$DSHIM" $(dshim_args) --pcap "$PCAP" -- \
    curl -sS -o "$WORK/small.txt" "http://$KIP:8080/small.txt" >"$WORK/curl2.out" 2>&1
RC=$?
cmp -s "$WORK/small.txt" "$WORK/www/small.txt"
check "curl under dshim with DSHIM_PCAP fetches the small file" $(( RC != 0 || $? != 0 )) \
    "rc=$RC $(cat "$WORK/curl2.out")"
tshark -r "$PCAP" >"$WORK/tshark.out" 2>&1
check "the DSHIM_PCAP file parses with tshark" $? "$(head -5 "$WORK/tshark.out")"
NSYN=$(tshark -r "$PCAP" -Y "tcp.flags.syn == 1 && tcp.flags.ack == 0 && ip.src == $DIP && tcp.dstport == 8080" 2>/dev/null | wc -l)
NSYNACK=$(tshark -r "$PCAP" -Y "tcp.flags.syn == 1 && tcp.flags.ack == 1 && ip.src == $KIP && tcp.srcport == 8080" 2>/dev/null | wc -l)
NHTTP=$(tshark -r "$PCAP" -Y 'http.request.method == "GET"' 2>/dev/null | wc -l)
[ "$NSYN" -ge 1 ] && [ "$NSYNACK" -ge 1 ] && [ "$NHTTP" = 1 ]
check "the capture holds the handshake (SYN, SYN-ACK) and the GET" $? \
    "SYN=$NSYN SYN-ACK=$NSYNACK GET=$NHTTP frames=$(wc -l <"$WORK/tshark.out")"
echo "#   capture: $(wc -l <"$WORK/tshark.out") frames, SYN=$NSYN SYN-ACK=$NSYNACK"

kill "$KSERVER" 2>/dev/null
wait "$KSERVER" 2>/dev/null

# --- 2. kernel curl <- http.server under dshim (bound to INADDR_ANY)
# "python3 -m http.server", with SIGINT handled again: bash starts background
# commands with SIGINT ignored, and python then leaves it ignored.
HTTP_SERVER='import runpy, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.argv[0] = "http.server"
runpy.run_module("http.server", run_name="__main__", alter_sys=True)'
ip netns exec "$NS" env DSHIM_EXIT_STATS=1 "$DSHIM" $(dshim_args) -- \
    /usr/bin/python3 -c "$HTTP_SERVER" 8081 --bind 0.0.0.0 --directory "$WORK/www" \
    >"$WORK/dserver.log" 2>&1 &
DSERVER=$!
PIDS+=("$DSERVER")
wait_dshim_listen "$DSERVER" 8081
check "http.server under dshim listens on :8081 (dshim stat shows LISTEN)" $? "$(tail -5 "$WORK/dserver.log")"

timeout 60 ip netns exec "$NS" curl -sS -o "$WORK/got2.bin" \
    -w '%{http_code} %{size_download} %{time_total} %{speed_download}\n' \
    "http://$DIP:8081/big.bin" >"$WORK/curl3.out" 2>&1
RC=$?
read -r CODE SIZE SECS SPEED <"$WORK/curl3.out"
[ "$RC" = 0 ] && [ "${CODE:-}" = 200 ] && [ "$(sha "$WORK/got2.bin")" = "$WANT" ]
check "kernel curl fetches $MIB MiB from http.server under dshim, sha256 equal" $? \
    "rc=$RC $(cat "$WORK/curl3.out")"
echo "#   http.server under dshim: ${SIZE:-?} bytes in ${SECS:-?} s ($(awk -v s="${SPEED:-0}" 'BEGIN{printf "%.1f", s/1048576}') MiB/s)"

# --- 4. ping from the kernel to dshim's address while the server runs
in_ns ping -c 3 -i 0.2 -W 2 "$DIP" >"$WORK/ping.out" 2>&1
check "kernel ping -c 3 $DIP (dshim) gets 3 replies" $? "$(tail -2 "$WORK/ping.out")"
echo "#   $(grep rtt "$WORK/ping.out")"

# --- 4b. large pings: dshim reassembles the request (64 KiB buffers) and
# fragments its reply, so the kernel sees what a Linux host would answer.
for SZ in 8000 30000 65507; do
    in_ns ping -c 3 -i 0.2 -W 2 -s "$SZ" "$DIP" >"$WORK/ping$SZ.out" 2>&1
    RC=$?
    [ "$RC" = 0 ] && grep -q ' 0% packet loss' "$WORK/ping$SZ.out"
    check "kernel ping -c 3 -s $SZ $DIP: 0% loss (fragments both ways)" $? "rc=$RC $(tail -2 "$WORK/ping$SZ.out")"
    echo "#   -s $SZ: $(grep rtt "$WORK/ping$SZ.out")"
done
# DF (-M do): the kernel will not fragment a 3028-byte request for a 1500
# MTU and says so locally, as with any Linux peer; 1472 bytes (one full
# frame) pass with DF.
in_ns ping -c 1 -W 2 -M do -s 3000 "$DIP" >"$WORK/pingdf.out" 2>&1
RC=$?
[ "$RC" != 0 ] && grep -q 'message too long' "$WORK/pingdf.out"
check "ping -M do -s 3000: refused by the kernel (message too long, mtu=1500)" $? "rc=$RC $(tail -2 "$WORK/pingdf.out")"
in_ns ping -c 2 -i 0.2 -W 2 -M do -s 1472 "$DIP" >"$WORK/pingdf2.out" 2>&1
check "ping -M do -s 1472 (a full 1500-byte frame, DF) gets its replies" $? "$(tail -2 "$WORK/pingdf2.out")"
"$DSHIM" stat "$DSERVER" >"$WORK/statfrag.out" 2>&1
REASM=$(awk '$1 == "ip_reasm_oks" {print $2}' "$WORK/statfrag.out")
FRAGS=$(awk '$1 == "ip_frag_oks" {print $2}' "$WORK/statfrag.out")
[ "${REASM:-0}" -ge 9 ] && [ "${FRAGS:-0}" -ge 9 ]
check "dshim stat counts the reassembled requests and fragmented replies (>= 9 each)" $? \
    "ip_reasm_oks=${REASM:-?} ip_frag_oks=${FRAGS:-?}"

# --- 9. a second process attaching the busy port is refused
timeout 30 env DSHIM_LOG=1 ip netns exec "$NS" "$DSHIM" run --build "$BUILD" \
    --port "net_tap0,iface=$TAP" --mac 02:d5:00:00:00:03 --ip 198.18.0.3/24 -- \
    /usr/bin/python3 -c '
import socket, sys
s = socket.socket()
s.settimeout(5)
try:
    s.connect(("198.18.0.1", 8080))
except OSError as e:
    print("connect:", e.errno, e.strerror)
    sys.exit(3)
print("connect: succeeded")
' >"$WORK/busy.out" 2>&1
RC=$?
echo "#   second attach: rc=$RC: $(tr '\n' ' ' <"$WORK/busy.out")"
[ "$RC" = 3 ] && grep -q "iface=$TAP" "$WORK/busy.out" && grep -qi 'in use' "$WORK/busy.out"
check "a second process on the busy port fails: connect error, message names the port" $? \
    "rc=$RC $(cat "$WORK/busy.out")"
in_ns ping -c 1 -W 2 "$DIP" >/dev/null 2>&1
check "the first process still answers after the refused attach" $?

"$DSHIM" stat "$DSERVER" >"$WORK/stat.out" 2>&1
grep -q '^counters:' "$WORK/stat.out" && grep -q 'LISTEN' "$WORK/stat.out"
check "dshim stat shows the live server's sockets and counters" $? "$(head -5 "$WORK/stat.out")"

kill -INT "$DSERVER" 2>/dev/null
wait_exit "$DSERVER" 10
RC=$?
# python's http.server exits on SIGINT with status 0 after KeyboardInterrupt.
grep -q 'tcp_passive_opens' "$WORK/dserver.log"
check "the server under dshim stops on SIGINT (rc=$RC) and prints its exit stats" $(( RC == 124 || $? != 0 )) \
    "$(tail -5 "$WORK/dserver.log")"

finish
