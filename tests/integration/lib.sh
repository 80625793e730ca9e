# shellcheck shell=bash
# Shared helpers of the shim integration scripts (tests/integration/shim_*.sh):
# check counting, a private network namespace with a persistent multi_queue
# tap (architecture.md §6), running programs under dshim with the launcher,
# readiness waits, and a cleanup trap that removes everything the script made
# and kills only the pids it started. Sourced, not run.
#
# A script does:   source lib.sh; lib_init NAME BUILD_DIR; ns_up; ...; finish
# Last line printed: "dshim-checks: P passed, F failed"; exit 1 on any failure,
# 77 (skip) when not root.

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$LIB_DIR/../.." && pwd)
DSHIM=$REPO/scripts/dshim

PASSED=0
FAILED=0
PIDS=()
NAMESPACES=()
NS=""
TAP=""
WORK=""
BUILD=""
# Fixed MAC for dshim's port, so the kernel's ARP cache stays valid.
MAC=02:d5:00:00:00:02
KIP=198.18.0.1
DIP=198.18.0.2

lib_cleanup() {
    local p i
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for i in $(seq 50); do
        local alive=0
        for p in "${PIDS[@]}"; do
            kill -0 "$p" 2>/dev/null && alive=1
        done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for p in "${PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    # Anything still running inside our namespaces was started by this script
    # (a pipeline's other end, a program behind a wrapper): end it too.
    local nsids=()
    for p in "${NAMESPACES[@]}"; do
        for i in $(ip netns pids "$p" 2>/dev/null); do
            kill -KILL "$i" 2>/dev/null
        done
        nsids+=("$(stat -L -c %i "/run/netns/$p" 2>/dev/null)")
        ip netns del "$p" 2>/dev/null
    done
    lib_remove_port_locks "${nsids[@]}"
    if [ -n "${DSHIM_TEST_KEEP:-}" ]; then
        echo "# kept $WORK"
    elif [ -n "$WORK" ]; then
        rm -rf "$WORK"
    fi
}

# lib_remove_port_locks NSID...: a dshim process this script ended with a
# signal ran no exit code, so its port lock file stays (a normal exit, and
# _exit, remove it). Removes only the lock files of this run's ports: our tap
# in one of our namespaces, or a memif socket in our work directory. flock -n
# first, as an attach does: a file that is still locked is in use, and
# unlinking while holding the lock is safe for an opener of the same path
# (it re-checks that the path still names the inode it locked).
lib_remove_port_locks() {
    local f id w=${WORK//[!A-Za-z0-9._-]/_}
    [ -n "$WORK" ] && [ -n "$TAP" ] || return 0
    for f in /run/dshim/dshim-port-*.lock /tmp/dshim-port-*.lock; do
        [ -e "$f" ] || continue
        case ${f##*/} in
        dshim-port-memif-*"$w"_*) ;;
        dshim-port-tap-*-"$TAP".lock)
            id=${f##*/dshim-port-tap-}
            id=${id%%-*}
            [[ " $* " == *" $id "* ]] || continue
            ;;
        *) continue ;;
        esac
        flock -n "$f" rm -f "$f" 2>/dev/null
    done
    return 0
}

# A test killed by SIGKILL (a meson timeout) cannot run its trap. What such a
# run leaves behind is named after its pid: our namespaces dshim-NAME-PID,
# DPDK runtime directories dshimPID and stat sockets stat-PID.sock. Remove
# those whose pid is gone (and, for a namespace, that nothing runs in);
# anything of a live process is left alone.
lib_reap_stale() {
    local n pid d
    for n in $(ip netns list 2>/dev/null | cut -d' ' -f1); do
        [[ $n =~ ^dshim-.+-([0-9]+)$ ]] || continue
        pid=${BASH_REMATCH[1]}
        kill -0 "$pid" 2>/dev/null && continue
        [ -z "$(ip netns pids "$n" 2>/dev/null)" ] && ip netns del "$n" 2>/dev/null
    done
    for d in /var/run/dpdk/dshim[0-9]* /run/dshim/stat-[0-9]*.sock; do
        [ -e "$d" ] || continue
        pid=${d##*/}
        pid=${pid//[!0-9]/}
        [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && rm -rf "$d"
    done
    return 0
}

# lib_init NAME BUILD_DIR: checks root and tools, makes the work directory and
# installs the trap.
lib_init() {
    local name=$1
    BUILD=${2:-}
    if [ -z "$BUILD" ] || [ ! -f "$BUILD/shim/libdshim.so" ]; then
        echo "usage: $name.sh BUILD_DIR (holding shim/libdshim.so)" >&2
        exit 2
    fi
    BUILD=$(cd "$BUILD" && pwd)
    if [ "$(id -u)" != 0 ]; then
        echo "$name: needs root (network namespaces, tap devices); skipped"
        exit 77
    fi
    lib_reap_stale
    WORK=$(mktemp -d "/tmp/dshim-$name.XXXXXX")
    chmod 755 "$WORK"
    trap lib_cleanup EXIT
    trap 'exit 130' INT TERM
    NS="dshim-$name-$$"
    TAP="dt$$"
    TAP=${TAP:0:15}
}

# need_tools TOOL...: a missing tool is a failed check, and the script ends.
need_tools() {
    local t
    for t in "$@"; do
        if ! command -v "$t" >/dev/null; then
            check "tool $t is installed" 1 "install the Debian package that provides $t"
            finish
        fi
    done
}

check() {   # check NAME STATUS [DETAIL]
    if [ "$2" = 0 ]; then
        PASSED=$((PASSED + 1))
        echo "ok - $1"
    else
        FAILED=$((FAILED + 1))
        echo "FAIL - $1${3:+: $3}"
    fi
}

finish() {
    echo "dshim-checks: $PASSED passed, $FAILED failed"
    [ "$FAILED" = 0 ]
    exit $?
}

# ns_up [NS]: a namespace with lo up and, for the default one, the tap made
# and brought up before any PMD attaches (architecture.md §6).
ns_up() {
    ip netns add "$NS" || { check "create namespace $NS" 1; finish; }
    NAMESPACES+=("$NS")
    ip -n "$NS" link set lo up &&
        ip -n "$NS" tuntap add mode tap multi_queue name "$TAP" &&
        ip -n "$NS" addr add "$KIP/24" dev "$TAP" &&
        ip -n "$NS" link set "$TAP" up
    local rc=$?
    [ "$rc" = 0 ] || { check "set up tap $TAP in $NS" "$rc"; finish; }
}

in_ns() { ip netns exec "$NS" "$@"; }

# dshim_args: the launcher arguments for dshim's side of the tap, used as
#   ip netns exec "$NS" "$DSHIM" $(dshim_args) -- PROGRAM ARGS... [&]
# (ip and the launcher exec, so a background job's $! is PROGRAM itself; a
# backgrounded shell function would give the subshell's pid instead).
dshim_args() {
    echo run --build "$BUILD" --port "net_tap0,iface=$TAP" --mac "$MAC" --ip "$DIP/24"
}

# wait_kernel_listen PORT [PID]: until a kernel socket listens on PORT in the
# namespace (max ~10 s), or PID is gone.
wait_kernel_listen() {
    local i
    for i in $(seq 100); do
        [ -n "$(in_ns ss -Hltn "sport = :$1" 2>/dev/null)" ] && return 0
        [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null && return 1
        sleep 0.1
    done
    return 1
}

# start_kernel_http: python's http.server in the namespace on $KIP:8080
# serving $WORK/www; KSERVER is its pid (killed at cleanup, or by the test).
start_kernel_http() {
    ip netns exec "$NS" /usr/bin/python3 -m http.server 8080 --bind "$KIP" --directory "$WORK/www" \
        >"$WORK/kserver.log" 2>&1 &
    KSERVER=$!
    PIDS+=("$KSERVER")
    wait_kernel_listen 8080 "$KSERVER"
    check "kernel http.server listens on $KIP:8080" $? "$(cat "$WORK/kserver.log")"
}

# start_kernel_sink PORT FILE: a kernel socat in the namespace that accepts
# one connection on $KIP:PORT and writes what it receives to FILE; KSOCAT
# is its pid.
start_kernel_sink() {
    ip netns exec "$NS" socat -u "TCP-LISTEN:$1,bind=$KIP,reuseaddr" "CREATE:$2" >"$WORK/ksocat.log" 2>&1 &
    KSOCAT=$!
    PIDS+=("$KSOCAT")
    wait_kernel_listen "$1" "$KSOCAT"
    check "kernel socat listens on $KIP:$1" $? "$(cat "$WORK/ksocat.log")"
}

# refuse_bad_values KEY VALUE...: each value of environment variable KEY
# makes a dshim program exit 1 with one message naming KEY, before attaching.
refuse_bad_values() {
    local key=$1 bad rc
    shift
    for bad in "$@"; do
        env "$key=$bad" "$DSHIM" $(dshim_args) -- /bin/true >"$WORK/bad.out" 2>&1
        rc=$?
        [ "$rc" = 1 ] && grep -q "$key" "$WORK/bad.out" && [ "$(wc -l <"$WORK/bad.out")" = 1 ]
        check "$key=$bad is refused with one message naming the key" $? "rc=$rc $(cat "$WORK/bad.out")"
    done
}

# wait_dshim_listen PID PORT: until the dshim process PID shows a LISTEN
# socket on PORT in `dshim stat` (max ~10 s).
wait_dshim_listen() {
    local i
    for i in $(seq 100); do
        "$DSHIM" stat "$1" 2>/dev/null | grep -Eq "LISTEN +[0-9.]+:$2 " && return 0
        kill -0 "$1" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# wait_exit PID SECONDS: waits for a background child; returns its status,
# 124 when it had to be killed.
wait_exit() {
    local i
    for i in $(seq $(($2 * 10))); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$1" 2>/dev/null; then
        kill -KILL "$1" 2>/dev/null
        wait "$1" 2>/dev/null
        return 124
    fi
    wait "$1"
}

# make_file PATH MIB: random content.
make_file() { head -c "$(($2 * 1024 * 1024))" /dev/urandom >"$1"; }
sha() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }

# left_behind PID: after the dshim process PID (attached to our tap) ended,
# sets LEFT to what it left that an exit must remove: the port lock file, its
# stat socket, its EAL runtime directory. Returns 0 when none is left.
left_behind() {
    LEFT=$(ls -d /run/dshim/dshim-port-tap-*-"$TAP".lock /tmp/dshim-port-tap-*-"$TAP".lock \
        /run/dshim/stat-"$1".sock /tmp/dshim-stat-"$1".sock /var/run/dpdk/dshim"$1" 2>/dev/null | tr '\n' ' ')
    [ -z "$LEFT" ]
}
