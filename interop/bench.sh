#!/usr/bin/env bash
# `tetsuo bench` against servers we did not write: nghttpd (HTTP/2, h2c and
# TLS by ALPN), python's http.server (HTTP/1.0, a connection per request),
# `openssl s_server -www` (HTTPS, closes after each answer), python
# `websockets` (echo) and an asyncio TCP echo; each run makes exactly the
# requests asked for with no error. Then wrk and tetsuo bench load the
# same `tetsuo serve`, and the server counts what they report.
source "$(dirname "$0")/lib/common.sh"

apt_install nghttp2-server nghttpd
apt_install openssl openssl
apt_install wrk wrk
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import websockets.asyncio.server' 2>/dev/null \
    || timeout 300 "$PYTHON" -m pip install -q 'websockets>=13'
T=$(tetsuo_bin)
cd "$WORK" || exit 1

mkdir -p root
printf 'Hello from a peer' >root/hello
make_certs "bench interop CA"
read -r TLS_PORT H2C_PORT PY_PORT SSL_PORT WS_PORT TCP_PORT < <(free_ports 6)
start nghttpd-tls.log nghttpd -a 127.0.0.1 -d root "$TLS_PORT" srv.key srv.pem
start nghttpd-h2c.log nghttpd -a 127.0.0.1 --no-tls -d root "$H2C_PORT"
start python-http.log "$PYTHON" -m http.server --bind 127.0.0.1 --directory root "$PY_PORT"
start s_server.log openssl s_server -accept "127.0.0.1:$SSL_PORT" -cert srv.pem -key srv.key -www -quiet
cat >echo.py <<'PYEOF'
import asyncio, sys
from websockets.asyncio.server import serve

async def ws_echo(ws):
    async for message in ws:
        await ws.send(message)

async def tcp_echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()

async def main():
    async with serve(ws_echo, "127.0.0.1", int(sys.argv[1]), compression=None):
        server = await asyncio.start_server(tcp_echo, "127.0.0.1", int(sys.argv[2]))
        async with server:
            await asyncio.Future()

asyncio.run(main())
PYEOF
start echo.log "$PYTHON" echo.py "$WS_PORT" "$TCP_PORT"
for port in "$TLS_PORT" "$H2C_PORT" "$PY_PORT" "$SSL_PORT" "$WS_PORT" "$TCP_PORT"; do
    for _ in $(seq 50); do
        (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
done

# run NAME EXPECTED ARGS...: tetsuo bench --json; "requests errors non-2xx".
run() {
    local name=$1 expected=$2
    shift 2
    check "$name" "$expected" "$(timeout 60 "$T" bench --json "$@" 2>bench.err | "$PYTHON" -c '
import json, sys
try:
    r = json.load(sys.stdin)
    print(r["requests"], sum(r["errors"].values()), r["non_2xx_3xx"])
except Exception as e:
    print("no result:", e, open("bench.err").read().strip())')"
}

run "tetsuo bench --http2 -> nghttpd h2c (8 connections x 10 streams)" "4000 0 0" \
    --http2 -c 8 -m 10 -n 4000 "http://127.0.0.1:$H2C_PORT/hello"
run "tetsuo bench --http2 -> nghttpd over TLS (ALPN h2)" "2000 0 0" \
    --http2 -c 4 -m 10 -n 2000 --cacert ca.pem "https://localhost:$TLS_PORT/hello"
run "tetsuo bench -> python http.server (HTTP/1.0: a connection each)" "300 0 0" \
    -c 4 -n 300 "http://127.0.0.1:$PY_PORT/hello"
run "tetsuo bench -> openssl s_server -www (HTTPS, closes each time)" "100 0 0" \
    -c 2 -n 100 --cacert ca.pem "https://localhost:$SSL_PORT/"
run "tetsuo bench -> python websockets echo" "1000 0 0" \
    -c 4 -n 1000 --size 2000 "ws://127.0.0.1:$WS_PORT/"
run "tetsuo bench -> python asyncio TCP echo" "2000 0 0" \
    -c 4 -n 2000 --size 100 "tcp://127.0.0.1:$TCP_PORT"

# The same server, three load generators: every request counted by the
# server is one the generator reported.
start serve.log "$T" serve --listen 127.0.0.1:0
HTTP=$(wait_for_line serve.log 'http://' | sed 's|.*http://||')
served() {
    timeout 5 curl -s "http://$HTTP/metrics" | awk '/^tetsuo_http_requests_total\{/ && /2xx/ {n += $2} END {print n + 0}'
}
before=$(served)
wrk_n=$(timeout 30 wrk -t1 -c8 -d1s "http://$HTTP/hello" | awk '/requests in/ {print $1}')
bench_n=$(timeout 30 "$T" bench --json -t1 -c8 -d1 "http://$HTTP/hello" \
    | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["requests"])')
after=$(served)
# wrk may leave requests unanswered at its deadline; each /metrics read is one more.
check "the server counts what wrk and tetsuo bench report" yes \
    "$("$PYTHON" -c "
d = $after - $before - 1
ok = $bench_n + $wrk_n <= d <= $bench_n + $wrk_n + 16
print('yes' if ok else 'server %d, wrk $wrk_n + bench $bench_n' % d)")"

finish
