#!/bin/bash
# Two dshim processes over net_memif (issue 4): socat under dshim on both
# sides exchanging 64 MiB each way, byte-exact by sha256; the sender exits
# right after its last write. One process is the memif server (role=server,
# it creates the socket), the other the client, on a socket in the test's
# temporary directory. Both run inside a namespace of the test's own, so
# nothing they might hand to the kernel leaves it.
#
# usage: shim_memif.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh"
lib_init memif "${1:-}"
need_tools socat
ip netns add "$NS" || { check "create namespace $NS" 1; finish; }
NAMESPACES+=("$NS")
ip -n "$NS" link set lo up

MIB=64
make_file "$WORK/a.bin" "$MIB"
make_file "$WORK/b.bin" "$MIB"
chmod 644 "$WORK/a.bin" "$WORK/b.bin"
# The receiver closes last, after the sender's process has exited from
# FIN_WAIT_2 and can no longer acknowledge the receiver's FIN: the receiver
# would linger the default 10 s at exit. Its data is complete by then.
RECV_ENV=DSHIM_EXIT_LINGER_S=2
SRV_IP=198.18.1.2
CLI_IP=198.18.1.3

# memif_cmd ROLE SOCKET IP: sets MEMIF_CMD to the command prefix that runs a
# program under dshim on one memif end, in the namespace (ip and the launcher
# exec, so a background job's $! is the program itself).
# EXTRA_ENV: more VAR=VALUE for env.
memif_cmd() {
    MEMIF_CMD=(ip netns exec "$NS" env DSHIM_EXIT_STATS=1 ${EXTRA_ENV:-} "$DSHIM" run --build "$BUILD"
        --port "net_memif0,role=$1,socket=$2" --mac "02:d5:00:00:01:0${3##*.}" --ip "$3/24" --)
}

# transfer NAME SOCKET LISTEN_ROLE FILE: socat under dshim on the memif end
# LISTEN_ROLE listens and receives; socat under dshim on the other end sends
# FILE and exits at once. The memif server process starts first: a memif
# client cannot attach before the server's socket exists.
transfer() {
    local name=$1 sock=$2 lrole=$3 file=$4 srole lip sip t0 t1 rc_send rc_recv recv send rc_early="" listened
    if [ "$lrole" = server ]; then
        srole=client lip=$SRV_IP sip=$CLI_IP
    else
        srole=server lip=$CLI_IP sip=$SRV_IP
    fi
    t0=$(date +%s.%N)
    if [ "$lrole" = server ]; then
        EXTRA_ENV=$RECV_ENV memif_cmd server "$sock" "$lip"
        "${MEMIF_CMD[@]}" socat -u TCP-LISTEN:9000,reuseaddr CREATE:"$WORK/$name.got" >"$WORK/$name.recv.log" 2>&1 &
        recv=$!
        PIDS+=("$recv")
        wait_dshim_listen "$recv" 9000
        check "$name: socat under dshim (memif server, $lip) listens" $? "$(tail -5 "$WORK/$name.recv.log")"
        memif_cmd client "$sock" "$sip"
        timeout 60 "${MEMIF_CMD[@]}" socat -u FILE:"$file" TCP:$lip:9000 >"$WORK/$name.send.log" 2>&1
        rc_send=$?
    else
        # The sender (memif server) retries its connect until the listener
        # (memif client, started once the socket exists) is up.
        memif_cmd server "$sock" "$sip"
        "${MEMIF_CMD[@]}" socat -u FILE:"$file" TCP:$lip:9000,retry=40,interval=0.25 >"$WORK/$name.send.log" 2>&1 &
        send=$!
        PIDS+=("$send")
        # (The memif socket is abstract by default: wait until the sender
        # attached, which its stat socket shows.)
        for _ in $(seq 100); do
            "$DSHIM" stat "$send" >/dev/null 2>&1 && break
            kill -0 "$send" 2>/dev/null || break
            sleep 0.1
        done
        EXTRA_ENV=$RECV_ENV memif_cmd client "$sock" "$lip"
        "${MEMIF_CMD[@]}" socat -u TCP-LISTEN:9000,reuseaddr CREATE:"$WORK/$name.got" >"$WORK/$name.recv.log" 2>&1 &
        recv=$!
        PIDS+=("$recv")
        # The waiting sender connects within 0.25 s of the listen and the
        # transfer can be over before a `dshim stat` poll sees LISTEN: a
        # receiver that already finished with status 0 listened too.
        rc_early=""
        if wait_dshim_listen "$recv" 9000; then
            listened=0
        elif ! kill -0 "$recv" 2>/dev/null; then
            wait "$recv"
            rc_early=$?
            listened=$rc_early
        else
            listened=1
        fi
        check "$name: socat under dshim (memif client, $lip) listens" "$listened" "$(tail -5 "$WORK/$name.recv.log")"
        wait_exit "$send" 60
        rc_send=$?
    fi
    t1=$(date +%s.%N)
    if [ -n "${rc_early:-}" ]; then
        rc_recv=$rc_early
    else
        wait_exit "$recv" 30
        rc_recv=$?
    fi
    if grep -q 'connections still open' "$WORK/$name.recv.log"; then
        echo "# note: the receiver's FIN was never acknowledged (its peer process had exited from FIN_WAIT_2):" \
            "it lingered DSHIM_EXIT_LINGER_S at exit"
    fi
    [ "$rc_send" = 0 ] && [ "$rc_recv" = 0 ] && [ "$(sha "$WORK/$name.got")" = "$(sha "$file")" ]
    check "$name: $MIB MiB from the memif $srole process to the memif $lrole process, sha256 equal" $? \
        "send rc=$rc_send recv rc=$rc_recv got $(stat -c %s "$WORK/$name.got" 2>/dev/null) bytes;
        sender: $(grep -v '^  ' "$WORK/$name.send.log" | tail -4)
        receiver: $(grep -v '^  ' "$WORK/$name.recv.log" | tail -4)"
    echo "#   $name: $MIB MiB in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f s", b-a}') incl. both start-ups;" \
        "sender: $(grep -E 'tcp_retrans_segs|tcp_out_segs' "$WORK/$name.send.log" | tr -s ' ' | tr '\n' ' ')"
}

transfer client-to-server "$WORK/m1.sock" server "$WORK/a.bin"
transfer server-to-client "$WORK/m2.sock" client "$WORK/b.bin"

finish
