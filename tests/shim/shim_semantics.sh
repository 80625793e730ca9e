#!/bin/bash
# Errno fidelity and event-loop semantics under dshim (issue 6), with the
# kernel as the oracle, in a test-made namespace with a tap (lib.sh):
#  1. errno_table runs on the kernel (self = the kernel's tap address) and
#     under dshim on net_tap (self = dshim's address); the peer is the kernel
#     in both runs. Every line (call, return value, errno) must be equal.
#  2. semantics (epoll in full, threads, EINTR/SA_RESTART) must pass all its
#     checks on the kernel first (the program is right), then under dshim,
#     and again under dshim with a long spin (DSHIM_SPIN_US=150000, so the
#     signals arrive while spinning, not sleeping).
# usage: shim_semantics.sh BUILD_DIR ERRNO_TABLE SEMANTICS
set -u
source "$(dirname "$0")/../integration/lib.sh"
lib_init semantics "${1:-}"
ERRNO_TABLE=${2:?errno_table executable}
SEMANTICS=${3:?semantics executable}
need_tools ss /usr/bin/python3
ns_up
# A host that never answers, for connects that stay in progress: dshim's ARP
# for it goes unanswered; on the kernel's side (its tap has no carrier while
# no dshim process holds it) a permanent neighbour entry keeps the kernel
# from failing the connect with EHOSTUNREACH.
NOHOST=198.18.0.77
ip -n "$NS" neigh replace "$NOHOST" lladdr 02:d5:00:00:00:77 dev "$TAP" nud permanent

# Kernel peer: 7100 echo, 7101 accepts and never reads, 7102 accepts and
# closes at once.
cat >"$WORK/peer.py" <<'PY'
import socket, sys, threading
host = sys.argv[1]
def echo(c):
    with c:
        while True:
            try:
                b = c.recv(65536)
            except OSError:
                return
            if not b:
                return
            c.sendall(b)
def serve(port, mode):
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    l.bind((host, port))
    l.listen(64)
    held = []
    while True:
        c, _ = l.accept()
        if mode == "echo":
            threading.Thread(target=echo, args=(c,), daemon=True).start()
        elif mode == "silent":
            held.append(c)
        else:
            c.close()
threading.Thread(target=serve, args=(7100, "echo"), daemon=True).start()
threading.Thread(target=serve, args=(7101, "silent"), daemon=True).start()
serve(7102, "close")
PY
ip netns exec "$NS" /usr/bin/python3 "$WORK/peer.py" "$KIP" >"$WORK/peer.log" 2>&1 &
PIDS+=("$!")
wait_kernel_listen 7100 "$!" && wait_kernel_listen 7101 && wait_kernel_listen 7102
check "kernel peer listens on $KIP:7100-7102" $? "$(cat "$WORK/peer.log")"

# --- 1. the errno table
in_ns timeout 60 "$ERRNO_TABLE" "$KIP" "$KIP" >"$WORK/errno.kernel" 2>&1
KRC=$?
grep -q '^# end' "$WORK/errno.kernel"
check "errno table runs to the end on the kernel ($(grep -vc '^#' "$WORK/errno.kernel") steps)" $? "rc=$KRC"
# --- 2. semantics on the kernel, before any dshim run (net_tap leaves the
# tap link down when it detaches). dshim runs come after the errno table.
run_semantics() {   # run_semantics LABEL OUT [ENV...]
    local label=$1 out=$2 rc
    shift 2
    if [ "$label" = kernel ]; then
        in_ns timeout 120 "$SEMANTICS" "$KIP" "$KIP" "" "$NOHOST" >"$out" 2>&1
    else
        timeout 150 env "$@" ip netns exec "$NS" "$DSHIM" $(dshim_args) -- \
            "$SEMANTICS" "$KIP" "$DIP" "" "$NOHOST" >"$out" 2>&1
    fi
    rc=$?
    local line
    while IFS= read -r line; do
        case "$line" in
        "ok - "*) check "$label: ${line#ok - }" 0 ;;
        "FAIL - "*) line=${line#FAIL - }; check "$label: ${line%%: *}" 1 "${line#*: }" ;;
        esac
    done <"$out"
    grep -q '^semantics: .* 0 failed' "$out"
    check "$label: the semantics program ran to the end (rc=$rc)" $? "$(tail -3 "$out")"
}
ip -n "$NS" link set "$TAP" up
run_semantics kernel "$WORK/sem.kernel"

# --- 1b. the errno table under dshim
timeout 90 env DSHIM_EXIT_STATS=1 ip netns exec "$NS" "$DSHIM" $(dshim_args) -- \
    "$ERRNO_TABLE" "$KIP" "$DIP" >"$WORK/errno.dshim" 2>"$WORK/errno.err"
DRC=$?
grep -q '^# end' "$WORK/errno.dshim"
check "errno table runs to the end under dshim" $? "rc=$DRC $(tail -3 "$WORK/errno.err")"
grep -Eq 'tcp_passive_opens *[1-9]' "$WORK/errno.err" && grep -Eq 'tcp_active_opens *[1-9]' "$WORK/errno.err"
check "the errno table's sockets went through dshim (active and passive opens)" $? \
    "$(grep -A6 '^counters' "$WORK/errno.err" | tr '\n' ' ')"
# One check per line of the table.
section="?"
while IFS= read -r kline && IFS= read -r dline <&3; do
    case "$kline" in
    "# "*) section=${kline#\# }; [ "$kline" = "$dline" ] || check "table in step (section $section)" 1 "dshim: $dline"; continue ;;
    esac
    [ "$kline" = "$dline" ]
    check "$section: $(sed 's/  */ /g' <<<"$kline")" $? "dshim: $(sed 's/  */ /g' <<<"$dline")"
done <"$WORK/errno.kernel" 3<"$WORK/errno.dshim"
[ "$(wc -l <"$WORK/errno.kernel")" = "$(wc -l <"$WORK/errno.dshim")" ]
check "errno table: as many lines under dshim as on the kernel" $? \
    "$(wc -l <"$WORK/errno.kernel") vs $(wc -l <"$WORK/errno.dshim")"

run_semantics dshim "$WORK/sem.dshim" DSHIM_LOG=1 DSHIM_EXIT_LINGER_S=2
run_semantics "dshim spin 150ms" "$WORK/sem.spin" DSHIM_SPIN_US=150000 DSHIM_EXIT_LINGER_S=2

finish
