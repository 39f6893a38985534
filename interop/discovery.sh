#!/usr/bin/env bash
# `tetsuo proxy` in front of three `tetsuo serve` backends: weights seen in
# the backends' own request counts, a backend killed under load (no failed
# request: idempotent requests go to another), marked down and back up when
# restarted. Then discovery: a real etcd (Debian's etcd-server) on loopback
# with endpoints added and removed under a prefix, a watched file, and DNS
# SRV records from dnsmasq; the proxy follows each change.
source "$(dirname "$0")/lib/common.sh"

apt_install curl curl
apt_install etcd-server etcd
apt_install dnsmasq-base dnsmasq
PYTHON=${PYTHON:-python3}
T=$(tetsuo_bin)
cd "$WORK" || exit 1

read -r B1 B2 B3 PROXY ADMIN PROXY2 ADMIN2 PROXY3 ADMIN3 ETCD ETCD_PEER PROXY4 ADMIN4 DNS \
    < <(free_ports 14)

start b1.log "$T" serve --listen "127.0.0.1:$B1"
start b2.log "$T" serve --listen "127.0.0.1:$B2"
B2_PID=${STARTED_PIDS[-1]}
start b3.log "$T" serve --listen "127.0.0.1:$B3"
for log in b1.log b2.log b3.log; do wait_for_line "$log" 'http://' >/dev/null; done

# served COUNT_BEFORE PORT: 2xx requests a backend served (its own metrics).
served() {
    timeout 5 curl -s "http://127.0.0.1:$1/metrics" \
        | awk -F' ' '/^tetsuo_http_requests_total\{class="2xx"\}/ {print $2+0}'
}

# --- weights, health, a backend killed under load ----------------------------
start proxy.log "$T" proxy --listen "127.0.0.1:$PROXY" --admin "127.0.0.1:$ADMIN" \
    --upstream "http://127.0.0.1:$B1;weight=3" --upstream "http://127.0.0.1:$B2" \
    --upstream "http://127.0.0.1:$B3" --policy weighted --health-path /healthz \
    --health-interval 2
wait_for_line proxy.log 'listening on' >/dev/null
before=("$(served "$B1")" "$(served "$B2")" "$(served "$B3")")
for _ in $(seq 50); do timeout 5 curl -s -o /dev/null "http://127.0.0.1:$PROXY/hello"; done
after=("$(served "$B1")" "$(served "$B2")" "$(served "$B3")")
# Each backend also answered the same health checks meanwhile (give or
# take one): 30+h, 10+h, 10+h.
d1=$((after[0] - before[0])) d2=$((after[1] - before[1])) d3=$((after[2] - before[2]))
check "weights 3:1:1 seen in the backends' counts (30/10/10 + health checks)" yes \
    "$([ $((d1 - d2)) -ge 18 ] && [ $((d1 - d2)) -le 22 ] && [ $((d2 - d3)) -ge -2 ] \
        && [ $((d2 - d3)) -le 2 ] && echo yes || echo "$d1/$d2/$d3")"

# Load while backend 2 is killed.
(for _ in $(seq 300); do
    timeout 5 curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$PROXY/hello"
done >codes.txt) &
LOAD=$!
sleep 0.3
kill "$B2_PID"
wait "$LOAD"
check "a backend killed under load: 300 of 300 requests answered 200" 300 \
    "$(grep -c '^200$' codes.txt)"
check "  ... requests that met the dead backend were sent to another (retries > 0)" yes \
    "$(timeout 5 curl -s "http://127.0.0.1:$ADMIN/metrics" \
        | awk -v b="127.0.0.1:$B2" '/^tetsuo_proxy_requests_total/ && index($0, "backend=\"" b "\"") && /class="error"/ && $2 > 0 {print "yes"}' | head -1)"
check "  ... it is marked down" yes \
    "$(wait_for_line proxy.log "backend 127.0.0.1:$B2 is down" >/dev/null && echo yes)"
start b2-again.log "$T" serve --listen "127.0.0.1:$B2"
check "  ... and back up when restarted" yes \
    "$(wait_for_line proxy.log "backend 127.0.0.1:$B2 is up" >/dev/null && echo yes)"

# --- etcd ---------------------------------------------------------------------
start etcd.log etcd --data-dir "$WORK/etcd" --name tetsuo-interop \
    --listen-client-urls "http://127.0.0.1:$ETCD" --advertise-client-urls "http://127.0.0.1:$ETCD" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
    --initial-cluster "tetsuo-interop=http://127.0.0.1:$ETCD_PEER"
for _ in $(seq 100); do
    timeout 2 curl -s "http://127.0.0.1:$ETCD/health" | grep true >/dev/null && break
    sleep 0.1
done
b64() { printf %s "$1" | base64 -w0; }
etcd_put() {
    timeout 5 curl -s -X POST "http://127.0.0.1:$ETCD/v3/kv/put" \
        -d "{\"key\":\"$(b64 "$1")\",\"value\":\"$(b64 "$2")\"}" >/dev/null
}
etcd_del() {
    timeout 5 curl -s -X POST "http://127.0.0.1:$ETCD/v3/kv/deleterange" \
        -d "{\"key\":\"$(b64 "$1")\"}" >/dev/null
}
# backends ADMIN: the proxy's backend list, sorted, on one line.
backends() { timeout 5 curl -s "http://127.0.0.1:$1/backends" | awk '{print $1}' | sort | paste -sd' '; }
# follows ADMIN WANT [TENTHS]: the list becomes WANT within a second (or
# TENTHS tenths of one).
follows() {
    local i got want
    want=$(printf '%s\n' $2 | sort | paste -sd' ')
    for i in $(seq "${3:-10}"); do
        got=$(backends "$1")
        [ "$got" == "$want" ] && { echo "$2"; return; }
        sleep 0.1
    done
    echo "$got"
}
etcd_put /services/web/one "127.0.0.1:$B1"
start proxy2.log "$T" proxy --listen "127.0.0.1:$PROXY2" --admin "127.0.0.1:$ADMIN2" \
    --discover "etcd:http://127.0.0.1:$ETCD/services/web/"
wait_for_line proxy2.log 'listening on' >/dev/null
check "etcd: the proxy starts with the endpoint under the prefix" "127.0.0.1:$B1" \
    "$(follows "$ADMIN2" "127.0.0.1:$B1")"
etcd_put /services/web/two "127.0.0.1:$B3 2"
etcd_put /services/other/x "127.0.0.1:1"
check "etcd: an endpoint added under the prefix joins within a second" \
    "127.0.0.1:$B1 127.0.0.1:$B3" "$(follows "$ADMIN2" "127.0.0.1:$B1 127.0.0.1:$B3")"
etcd_del /services/web/one
check "etcd: an endpoint removed leaves within a second" "127.0.0.1:$B3" \
    "$(follows "$ADMIN2" "127.0.0.1:$B3")"
check "etcd: requests go to what etcd lists" "Hello, World!" \
    "$(timeout 5 curl -s "http://127.0.0.1:$PROXY2/hello")"

# --- a watched file -------------------------------------------------------------
# Written whole, then renamed into place (what the docs ask).
printf '127.0.0.1:%s\n' "$B1" >endpoints.tmp && mv endpoints.tmp endpoints.txt
start proxy3.log "$T" proxy --listen "127.0.0.1:$PROXY3" --admin "127.0.0.1:$ADMIN3" \
    --discover "file:$WORK/endpoints.txt"
wait_for_line proxy3.log 'listening on' >/dev/null
printf '127.0.0.1:%s\n# a comment\n127.0.0.1:%s 3\n' "$B1" "$B3" >endpoints.tmp
mv endpoints.tmp endpoints.txt
check "file: an endpoint added to the file joins within a second" \
    "127.0.0.1:$B1 127.0.0.1:$B3" "$(follows "$ADMIN3" "127.0.0.1:$B1 127.0.0.1:$B3")"

# --- DNS SRV (dnsmasq) -----------------------------------------------------------
# dnsmasq serves SRV records for _web._tcp.tetsuo.test (TTL 0: each lookup
# asks); restarted with other records, the proxy follows at its next lookup.
dnsmasq_with() {
    start "dnsmasq-$1.log" dnsmasq --no-daemon --port="$DNS" --listen-address=127.0.0.1 \
        --bind-interfaces --no-resolv --no-hosts --conf-file=/dev/null "${@:2}"
    DNSMASQ_PID=${STARTED_PIDS[-1]}
    wait_for_line "dnsmasq-$1.log" 'started' >/dev/null
}
dnsmasq_with first --srv-host="_web._tcp.tetsuo.test,localhost,$B1,0,1" \
    --srv-host="_web._tcp.tetsuo.test,localhost,$B3,0,3"
start proxy4.log "$T" proxy --listen "127.0.0.1:$PROXY4" --admin "127.0.0.1:$ADMIN4" \
    --discover srv:_web._tcp.tetsuo.test --dns-server "127.0.0.1:$DNS" --policy weighted
wait_for_line proxy4.log 'listening on' >/dev/null
check "SRV: both records of the best priority" "localhost:$B1 localhost:$B3" \
    "$(follows "$ADMIN4" "localhost:$B1 localhost:$B3" 20)"
timeout 5 curl -s "http://127.0.0.1:$ADMIN4/backends" >backends.txt
check "  ... with their weights" "weight=1 weight=3" \
    "$(for b in "$B1" "$B3"; do awk -v e="localhost:$b" '$1 == e {print $2}' backends.txt; done \
        | paste -sd' ')"
check "  ... and requests go through" "Hello, World!" \
    "$(timeout 5 curl -s "http://127.0.0.1:$PROXY4/hello")"
kill "$DNSMASQ_PID"
wait "$DNSMASQ_PID" 2>/dev/null
dnsmasq_with second --srv-host="_web._tcp.tetsuo.test,localhost,$B1,10,1" \
    --srv-host="_web._tcp.tetsuo.test,localhost,$B2,0,1"
check "SRV: new records (a better priority) are followed" "localhost:$B2" \
    "$(follows "$ADMIN4" "localhost:$B2" 30)"

echo "$NAME: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
