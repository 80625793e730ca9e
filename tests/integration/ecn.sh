#!/bin/bash
# ECN (RFC 3168) against kernel peers, net.ipv4.tcp_ecn=1 set inside the
# test's own namespace only. A bad DSHIM_TCP_ECN is refused naming the key.
# 1. curl under dshim (DSHIM_TCP_ECN=1) downloads from a kernel
#    http.server while DSHIM_FAULTS=ce= re-marks the kernel's ECT(0) data CE
#    on dshim's rx side, like an AQM: byte-exact, dshim counts CE and echoes
#    ECE, and the kernel sender sees it (nstat TcpExtTCPDeliveredCE).
# 2. socat under dshim uploads to a kernel socat with ce= on dshim's tx side:
#    the kernel receiver echoes ECE, dshim reduces cwnd (tcp_ecn_cwr) and
#    sends CWR; `ss -tie` on the kernel side shows "ecn" and "ecnseen".
# 3. A kernel client connects to a dshim listener with the default
#    tcp_ecn=2: dshim's SYN-ACK carries ECE, the kernel's data ECT(0).
# Negotiation is read from dshim's pcapng capture with tshark.
#
# usage: ecn.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh"
lib_init ecn "${1:-}"
need_tools curl socat nstat ss tshark /usr/bin/python3
ns_up
in_ns sysctl -qw net.ipv4.tcp_ecn=1
check "net.ipv4.tcp_ecn=1 inside $NS" $? "$(in_ns sysctl net.ipv4.tcp_ecn 2>&1)"

MIB=8
UP_MIB=4
mkdir -p "$WORK/www"
make_file "$WORK/www/big.bin" "$MIB"
head -c $((UP_MIB * 1024 * 1024)) "$WORK/www/big.bin" >"$WORK/up.bin"
WANT=$(sha "$WORK/www/big.bin")
WANT_UP=$(sha "$WORK/up.bin")

counter() { awk -v k="$1" '$1 == k {print $2}' "$2" | tail -1; }
# tshark_count PCAP FILTER: frames matching a display filter.
tshark_count() { tshark -r "$1" -Y "$2" 2>/dev/null | wc -l; }

# --- a bad value: one message naming the key, exit 1, before any attach
refuse_bad_values DSHIM_TCP_ECN 3 x -1

# --- 1. download, CE marked on dshim's rx side
start_kernel_http
in_ns nstat -n >/dev/null 2>&1   # reset the namespace's history: later reads are deltas
timeout 120 env DSHIM_TCP_ECN=1 DSHIM_FAULTS=ce=0.01,dir=rx,seed=5 DSHIM_EXIT_STATS=1 DSHIM_PCAP="$WORK/down.pcapng" \
    ip netns exec "$NS" "$DSHIM" $(dshim_args) -- \
    curl -sS -o "$WORK/got1.bin" -w '%{http_code} %{time_total}\n' "http://$KIP:8080/big.bin" \
    >"$WORK/curl1.out" 2>"$WORK/curl1.err"
RC=$?
[ "$RC" = 0 ] && [ "$(sha "$WORK/got1.bin")" = "$WANT" ]
check "curl under dshim (DSHIM_TCP_ECN=1, DSHIM_FAULTS=ce=0.01,dir=rx) fetches $MIB MiB, sha256 equal" $? \
    "rc=$RC $(cat "$WORK/curl1.out") $(tail -5 "$WORK/curl1.err")"
MARKED=$(grep -A1 '^faults' "$WORK/curl1.err" | grep -Eo 'ce-marked [0-9]+' | head -1 | cut -d' ' -f2)
CE_RX=$(counter tcp_ecn_ce_rx "$WORK/curl1.err")
DELIVERED_CE=$(in_ns nstat -az TcpExtTCPDeliveredCE 2>/dev/null | awk '/TcpExtTCPDeliveredCE/ {print $2}')
echo "#   rx frames re-marked CE: ${MARKED:-?}; dshim tcp_ecn_ce_rx ${CE_RX:-0}; kernel TcpExtTCPDeliveredCE ${DELIVERED_CE:-?}"
[ "${MARKED:-0}" -gt 0 ]
check "exit stats count rx frames re-marked CE (${MARKED:-0})" $? "$(grep -A2 '^faults' "$WORK/curl1.err")"
[ "${CE_RX:-0}" -gt 0 ]
check "dshim's receiver counted CE on an ECN connection (tcp_ecn_ce_rx ${CE_RX:-0})" $? \
    "$(grep -A40 '^counters' "$WORK/curl1.err" | head -40)"
[ "${DELIVERED_CE:-0}" -gt 0 ]
check "the kernel sender got dshim's ECE (TcpExtTCPDeliveredCE ${DELIVERED_CE:-0})" $?
N_SYN=$(tshark_count "$WORK/down.pcapng" "ip.src==$DIP && tcp.flags.syn==1 && tcp.flags.ack==0 && tcp.flags.ece==1 && tcp.flags.cwr==1 && ip.dsfield.ecn==0")
N_SYNACK=$(tshark_count "$WORK/down.pcapng" "ip.src==$KIP && tcp.flags.syn==1 && tcp.flags.ack==1 && tcp.flags.ece==1 && tcp.flags.cwr==0")
N_KECT=$(tshark_count "$WORK/down.pcapng" "ip.src==$KIP && tcp.len>0 && ip.dsfield.ecn!=0")
N_ECE=$(tshark_count "$WORK/down.pcapng" "ip.src==$DIP && tcp.flags.syn==0 && tcp.flags.ece==1 && ip.dsfield.ecn==0")
echo "#   capture: dshim ECN SYN $N_SYN, kernel ECE SYN-ACK $N_SYNACK, kernel ECT data $N_KECT, dshim Not-ECT ACKs with ECE $N_ECE"
[ "$N_SYN" -ge 1 ] && [ "$N_SYNACK" -ge 1 ] && [ "$N_KECT" -gt 0 ]
check "negotiated: dshim's Not-ECT SYN has ECE|CWR, the kernel's SYN-ACK ECE, its data is ECT" $?
[ "$N_ECE" -gt 0 ]
check "dshim's ACKs echo ECE and are Not-ECT ($N_ECE)" $?
kill "$KSERVER" 2>/dev/null
wait "$KSERVER" 2>/dev/null

# --- 2. upload, CE marked on dshim's tx side; the kernel echoes ECE
start_kernel_sink 9000 "$WORK/got2.bin"
# The pipe keeps the connection open 3 s after the data, for ss to look at.
(cat "$WORK/up.bin"; sleep 3) | timeout 120 env DSHIM_TCP_ECN=1 DSHIM_FAULTS=ce=0.02,dir=tx,seed=9 \
    DSHIM_EXIT_STATS=1 DSHIM_PCAP="$WORK/up.pcapng" ip netns exec "$NS" "$DSHIM" $(dshim_args) -- \
    socat -u STDIN "TCP:$KIP:9000" >"$WORK/socat.out" 2>"$WORK/socat.err" &
UPLOADER=$!
SS=""
for i in $(seq 60); do
    SS=$(in_ns ss -Htie state established "( sport = :9000 )" 2>/dev/null)
    grep -q ecnseen <<<"$SS" && [ -s "$WORK/got2.bin" ] && break
    sleep 0.1
done
echo "#   kernel ss: $(grep -Eo '\becn(seen)?\b' <<<"$SS" | tr '\n' ' ')"
grep -qw ecn <<<"$SS" && grep -qw ecnseen <<<"$SS"
check "ss -tie on the kernel receiver shows ecn and ecnseen" $? "$SS"
wait "$UPLOADER"
RC=$?
wait_exit "$KSOCAT" 20
KRC=$?
[ "$RC" = 0 ] && [ "$KRC" = 0 ] && [ "$(sha "$WORK/got2.bin")" = "$WANT_UP" ]
check "socat under dshim (ce=0.02,dir=tx) uploads $UP_MIB MiB to a kernel socat, sha256 equal" $? \
    "rc=$RC kernel rc=$KRC $(tail -5 "$WORK/socat.err")"
TX_MARKED=$(grep -A2 '^faults' "$WORK/socat.err" | grep '^  tx' | grep -Eo 'ce-marked [0-9]+' | cut -d' ' -f2)
CWR=$(counter tcp_ecn_cwr "$WORK/socat.err")
N_CWR=$(tshark_count "$WORK/up.pcapng" "ip.src==$DIP && tcp.flags.syn==0 && tcp.flags.cwr==1 && tcp.len>0")
N_KECE=$(tshark_count "$WORK/up.pcapng" "ip.src==$KIP && tcp.flags.syn==0 && tcp.flags.ece==1")
echo "#   tx frames re-marked CE: ${TX_MARKED:-?}; kernel ACKs with ECE $N_KECE; dshim tcp_ecn_cwr ${CWR:-0}, data with CWR $N_CWR"
[ "${TX_MARKED:-0}" -gt 0 ] && [ "$N_KECE" -gt 0 ]
check "tx frames were re-marked CE and the kernel echoed ECE" $? "$(grep -A2 '^faults' "$WORK/socat.err")"
[ "${CWR:-0}" -gt 0 ] && [ "$N_CWR" -gt 0 ]
check "dshim reduced cwnd for ECE (tcp_ecn_cwr ${CWR:-0}) and sent CWR on data ($N_CWR)" $? \
    "$(grep -A40 '^counters' "$WORK/socat.err" | head -40)"
[ "${CWR:-0}" -le "$N_KECE" ]
check "at most one reduction per ECE-bearing window (tcp_ecn_cwr ${CWR:-0} <= ECE ACKs $N_KECE)" $?

# --- 3. passive: kernel client, dshim listener with the default tcp_ecn=2
env DSHIM_PCAP="$WORK/pass.pcapng" ip netns exec "$NS" "$DSHIM" $(dshim_args) -- \
    socat -u "TCP-LISTEN:9100,reuseaddr" "CREATE:$WORK/got3.bin" >"$WORK/dsocat.out" 2>"$WORK/dsocat.err" &
DSOCAT=$!
PIDS+=("$DSOCAT")
wait_dshim_listen "$DSOCAT" 9100
check "socat under dshim listens on :9100" $? "$(cat "$WORK/dsocat.err")"
timeout 60 ip netns exec "$NS" socat -u "OPEN:$WORK/up.bin" "TCP:$DIP:9100" >"$WORK/ksend.out" 2>&1
RC=$?
wait_exit "$DSOCAT" 20
DRC=$?
[ "$RC" = 0 ] && [ "$DRC" = 0 ] && [ "$(sha "$WORK/got3.bin")" = "$WANT_UP" ]
check "a kernel socat (tcp_ecn=1) uploads $UP_MIB MiB to socat under dshim, sha256 equal" $? \
    "rc=$RC dshim rc=$DRC $(tail -3 "$WORK/ksend.out") $(tail -3 "$WORK/dsocat.err")"
N_SYNACK=$(tshark_count "$WORK/pass.pcapng" "ip.src==$DIP && tcp.flags.syn==1 && tcp.flags.ack==1 && tcp.flags.ece==1 && tcp.flags.cwr==0 && ip.dsfield.ecn==0")
N_KECT=$(tshark_count "$WORK/pass.pcapng" "ip.src==$KIP && tcp.len>0 && ip.dsfield.ecn==2")
[ "$N_SYNACK" -ge 1 ] && [ "$N_KECT" -gt 0 ]
check "dshim's SYN-ACK (tcp_ecn=2) has ECE without CWR, the kernel's data is ECT(0) ($N_SYNACK, $N_KECT)" $?

finish
