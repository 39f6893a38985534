#!/usr/bin/env bash
# The metrics of docs/metrics.md as Prometheus scrapes them: traffic that
# exercises each family (requests, a slow client, a refused connection, a
# broken TLS handshake, an HTTP/2 flood, a WebSocket, requests through
# `tetsuo proxy`), then `/metrics` of `tetsuo serve` and of the proxy's admin
# listener, parsed with Python's prometheus_client parser.
source "$(dirname "$0")/lib/common.sh"

apt_install curl curl
apt_install openssl openssl
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import prometheus_client' 2>/dev/null \
    || timeout 300 "$PYTHON" -m pip install -q 'prometheus_client>=0.20'
"$PYTHON" -c 'import websockets' 2>/dev/null \
    || timeout 300 "$PYTHON" -m pip install -q 'websockets>=12'
T=$(tetsuo_bin)
cd "$WORK" || exit 1

start serve.log "$T" serve --listen 127.0.0.1:0 --tls-listen 127.0.0.1:0 \
    --max-conns 3 --header-timeout 0.5
HTTP=$(wait_for_line serve.log 'http://' | sed 's|.*http://||')
HTTPS=$(wait_for_line serve.log 'https://' | sed 's|.*https://||')
# Every listener binds port 0 and says which port it got.
start proxy.log "$T" proxy --listen 127.0.0.1:0 --admin 127.0.0.1:0 \
    --upstream "http://$HTTP" --health-path /healthz --health-interval 0.2
ADMIN=$(port_in proxy.log 'admin on')
PROXY=$(port_in proxy.log 'listening on')

# A second proxy in front of an HTTPS backend reached through `tetsuo socks`,
# one connection at a time: TLS, proxy, pool wait and eviction families.
make_certs "metrics test CA"
start tls-serve.log "$T" serve --listen 127.0.0.1:0 --tls --tls-listen 127.0.0.1:0 \
    --cert srv.pem --key srv.key --alpn http/1.1 --idle-timeout 0.5
TLS_BACKEND=$(wait_for_line tls-serve.log 'https://' | sed 's|.*https://||')
start socks.log "$T" socks --listen 127.0.0.1:0
SOCKS=$(port_in socks.log 'listening')
start proxy2.log "$T" proxy --listen 127.0.0.1:0 --admin 127.0.0.1:0 \
    --upstream "https://$TLS_BACKEND" --backend-cacert ca.pem \
    --backend-proxy "socks5://127.0.0.1:$SOCKS" --max-conns-per-backend 1
ADMIN2=$(port_in proxy2.log 'admin on')
PROXY2=$(port_in proxy2.log 'listening on')

# --- traffic -------------------------------------------------------------------
for _ in $(seq 20); do timeout 5 curl -s -o /dev/null "http://127.0.0.1:$PROXY/hello"; done
timeout 5 curl -s -o /dev/null "http://$HTTP/missing"
# Six at once through one connection: five wait for it. Then the backend
# closes it when idle, and the pool finds it dead on the next checkout.
curls=()
for _ in $(seq 6); do
    timeout 10 curl -s -o /dev/null "http://127.0.0.1:$PROXY2/hello" &
    curls+=($!)
done
wait "${curls[@]}"
sleep 1
code=$(timeout 10 curl -s -o answer.txt -w '%{http_code}' "http://127.0.0.1:$PROXY2/hello")
check "tetsuo proxy -> https backend through tetsuo socks" 200 "$code"
if [ "$code" != 200 ]; then
    # What went wrong, for the CI log: the proxy's answer and the logs.
    for log in answer.txt proxy2.log socks.log tls-serve.log; do echo "--- $log"; tail -20 "$log"; done
fi
cat >traffic.py <<'PYEOF'
import asyncio, socket, struct, sys, time
from websockets.asyncio.client import connect

http, https = sys.argv[1], sys.argv[2]
def addr(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)

# A TLS port spoken to in plain text: a failed handshake.
bad = socket.create_connection(addr(https))
bad.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
bad.settimeout(5)
try:
    bad.recv(100)
except OSError:
    pass
# A slow client: half a head, then nothing past the header timeout.
slow = socket.create_connection(addr(http))
slow.sendall(b"GET / HTTP/1.1\r\n")
# Connections past --max-conns 3 are refused (each sent a byte, so the
# server accepts them).
held = []
for _ in range(4):
    s = socket.create_connection(addr(http))
    s.sendall(b"G")
    held.append(s)
time.sleep(1.0)
for s in held + [slow, bad]:
    s.close()
time.sleep(0.2)

# An HTTP/2 PING flood: GOAWAY ENHANCE_YOUR_CALM.
frame = lambda kind, flags, stream, payload: struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload
f = socket.create_connection(addr(http))
f.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b"") + frame(6, 0, 0, b"8 bytes!") * 2000)
f.settimeout(5)
try:
    while f.recv(65536):
        pass
except OSError:
    pass
f.close()

async def ws():
    async with connect("ws://%s/ws" % http) as w:
        await w.send("hi")
        await w.recv()
asyncio.run(ws())
PYEOF
timeout 60 "$PYTHON" traffic.py "$HTTP" "$HTTPS" 2>&1 | tail -3
sleep 0.5

# --- scrape and parse -------------------------------------------------------------
timeout 5 curl -s "http://$HTTP/metrics" >serve.prom
timeout 5 curl -s "http://127.0.0.1:$ADMIN/metrics" >proxy.prom
timeout 5 curl -s "http://127.0.0.1:$ADMIN2/metrics" >proxy2.prom
cat >families.py <<'PYEOF'
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
names = set()
for family in text_string_to_metric_families(text):
    for sample in family.samples:
        names.add(sample.name)
print("\n".join(sorted(names)))
PYEOF
check "the server's /metrics parses" ok \
    "$(timeout 30 "$PYTHON" families.py serve.prom >serve.names 2>parse.err && echo ok || cat parse.err)"
check "the proxy's /metrics parses" ok \
    "$(timeout 30 "$PYTHON" families.py proxy.prom >proxy.names 2>parse.err && echo ok || cat parse.err)"
check "the TLS proxy's /metrics parses" ok \
    "$(timeout 30 "$PYTHON" families.py proxy2.prom >proxy2.names 2>parse.err && echo ok || cat parse.err)"
# has FILE NAME: the family NAME has a sample (counters end in _total,
# histograms show _count).
has() { grep -qx -e "$2" -e "$2_total" -e "$2_count" "$1" && echo yes || echo no; }
for name in tetsuo_server_connections_accepted_total tetsuo_server_connections_refused_total \
    tetsuo_server_connections_open tetsuo_server_timeouts_total \
    tetsuo_server_tls_handshake_failures_total tetsuo_server_bytes_received_total \
    tetsuo_server_bytes_sent_total tetsuo_http_requests_total \
    tetsuo_http_request_duration_seconds tetsuo_http2_connection_errors_total \
    tetsuo_ws_upgrades_total; do
    check "tetsuo serve: $name" yes "$(has serve.names "$name")"
done
for name in tetsuo_connect_total tetsuo_connect_seconds tetsuo_connect_dns_seconds \
    tetsuo_connect_tcp_seconds tetsuo_connect_happy_eyeballs_total tetsuo_pool_connections \
    tetsuo_pool_waiting tetsuo_pool_created_total tetsuo_pool_reused_total \
    tetsuo_health_checks_total tetsuo_endpoint_healthy tetsuo_proxy_requests_total \
    tetsuo_http_requests_total; do
    check "tetsuo proxy: $name" yes "$(has proxy.names "$name")"
done

for name in tetsuo_connect_proxy_seconds tetsuo_connect_tls_seconds tetsuo_tls_sessions_total \
    tetsuo_pool_wait_seconds tetsuo_pool_evicted_total; do
    check "tetsuo proxy (https backend via SOCKS): $name" yes "$(has proxy2.names "$name")"
done

# Every family docs/metrics.md documents was seen in one of the scrapes.
missing=""
for name in $(grep -o '^| `tetsuo_[a-z0-9_]*`\(, `tetsuo_[a-z0-9_]*`\)*' "$ROOT/docs/metrics.md" \
    | grep -o 'tetsuo_[a-z0-9_]*' | sort -u); do
    base=${name%_total}
    found=no
    for f in serve.names proxy.names proxy2.names; do
        [ "$(has "$f" "$base")" = yes ] && found=yes
    done
    [ "$found" = yes ] || missing="$missing $name"
done
check "every documented family is in a scrape" "" "$missing"

finish
