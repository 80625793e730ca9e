#!/bin/bash
# nginx (unmodified Debian binary, master_process off, daemon off) under dshim
# on net_tap (issue 6), serving static files with sendfile on and tcp_nopush
# (TCP_CORK): kernel curl downloads 16 MiB byte-exact (sha256), also over
# 127.0.0.1 (the INADDR_ANY listener's kernel side); ab from the kernel side,
# 2000 requests with 20 concurrent, with and without keep-alive: no failed
# request, every body of the expected length.
#
# usage: servers_nginx.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh"
lib_init nginx "${1:-}"
need_tools nginx curl ab ss
ns_up

PORT=8088
MIB=16
mkdir -p "$WORK/www" "$WORK/logs" "$WORK/tmp"
make_file "$WORK/www/big.bin" "$MIB"
head -c 16384 /dev/urandom >"$WORK/www/16k.bin"
WANT=$(sha "$WORK/www/big.bin")
cat >"$WORK/nginx.conf" <<CONF
master_process off;
daemon off;
worker_processes 1;
error_log $WORK/logs/error.log info;
pid $WORK/nginx.pid;
events { worker_connections 512; }
http {
    access_log $WORK/logs/access.log;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 5;
    client_body_temp_path $WORK/tmp/body;
    proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi;
    uwsgi_temp_path $WORK/tmp/uwsgi;
    scgi_temp_path $WORK/tmp/scgi;
    types { application/octet-stream bin; }
    server {
        listen $PORT;
        root $WORK/www;
    }
}
CONF

ip netns exec "$NS" env DSHIM_EXIT_STATS=1 "$DSHIM" $(dshim_args) -- \
    nginx -p "$WORK" -c "$WORK/nginx.conf" -e "$WORK/logs/error.log" >"$WORK/nginx.out" 2>&1 &
NGINX=$!
PIDS+=("$NGINX")
wait_dshim_listen "$NGINX" "$PORT"
check "nginx under dshim listens on :$PORT (dshim stat shows LISTEN)" $? \
    "$(tail -5 "$WORK/nginx.out") $(tail -5 "$WORK/logs/error.log")"

timeout 60 ip netns exec "$NS" curl -sS -o "$WORK/got.bin" \
    -w '%{http_code} %{size_download} %{time_total} %{speed_download}\n' \
    "http://$DIP:$PORT/big.bin" >"$WORK/curl.out" 2>&1
RC=$?
read -r CODE SIZE SECS SPEED <"$WORK/curl.out"
[ "$RC" = 0 ] && [ "${CODE:-}" = 200 ] && [ "$(sha "$WORK/got.bin")" = "$WANT" ]
check "kernel curl fetches $MIB MiB from nginx (sendfile) via dshim, sha256 equal" $? "rc=$RC $(cat "$WORK/curl.out")"
echo "#   nginx sendfile via dshim: ${SIZE:-?} bytes in ${SECS:-?} s ($(awk -v s="${SPEED:-0}" 'BEGIN{printf "%.1f", s/1048576}') MiB/s)"

timeout 60 ip netns exec "$NS" curl -sS -o "$WORK/got_lo.bin" -w '%{http_code}\n' \
    "http://127.0.0.1:$PORT/big.bin" >"$WORK/curl_lo.out" 2>&1
RC=$?
[ "$RC" = 0 ] && [ "$(cat "$WORK/curl_lo.out")" = 200 ] && [ "$(sha "$WORK/got_lo.bin")" = "$WANT" ]
check "the same file via 127.0.0.1 (kernel side of the 0.0.0.0 listener), sha256 equal" $? \
    "rc=$RC $(cat "$WORK/curl_lo.out")"

# ab_run NAME ARGS...: 2000 requests of the 16 KiB file, 20 concurrent.
ab_run() {
    local name=$1
    shift
    in_ns timeout 90 ab -q -n 2000 -c 20 "$@" "http://$DIP:$PORT/16k.bin" >"$WORK/ab_$name.out" 2>&1
    local rc=$?
    local done failed non2xx len rps
    done=$(awk '/^Complete requests:/ { print $3 }' "$WORK/ab_$name.out")
    failed=$(awk '/^Failed requests:/ { print $3 }' "$WORK/ab_$name.out")
    non2xx=$(awk '/^Non-2xx responses:/ { print $3 }' "$WORK/ab_$name.out")
    len=$(awk '/^Document Length:/ { print $3 }' "$WORK/ab_$name.out")
    rps=$(awk '/^Requests per second:/ { print $4 }' "$WORK/ab_$name.out")
    [ "$rc" = 0 ] && [ "${done:-}" = 2000 ] && [ "${failed:-}" = 0 ] && [ -z "${non2xx:-}" ] && [ "${len:-}" = 16384 ]
    check "ab -n 2000 -c 20 $* from the kernel side: 2000 complete, 0 failed, 16384-byte bodies" $? \
        "rc=$rc complete=${done:-?} failed=${failed:-?} non2xx=${non2xx:-0} len=${len:-?} $(tail -3 "$WORK/ab_$name.out")"
    echo "#   ab $*: ${rps:-?} requests/s"
}
ab_run close
ab_run keepalive -k

N200=$(grep -c '" 200 ' "$WORK/logs/access.log")
[ "$N200" -ge 4002 ]
check "nginx's access log shows every request answered 200 ($N200)" $?

kill -TERM "$NGINX" 2>/dev/null
wait_exit "$NGINX" 15
RC=$?
# nginx points its stderr at the error log: the exit stats land there.
cat "$WORK/nginx.out" "$WORK/logs/error.log" >"$WORK/exit.out" 2>/dev/null
grep -q 'tcp_passive_opens' "$WORK/exit.out"
check "nginx exits on SIGTERM (rc=$RC) and prints its exit stats" $(( RC == 124 || $? != 0 )) \
    "$(tail -5 "$WORK/exit.out")"
echo "#   $(grep -Eo 'tcp_passive_opens +[0-9]+' "$WORK/exit.out")"
left_behind "$NGINX"
check "nginx's exit left no port lock file, stat socket or EAL runtime directory" $? "$LEFT"

finish
