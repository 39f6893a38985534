#!/usr/bin/env bash
# tetsuo's WebSocket against python `websockets` (which implements
# permessage-deflate, RFC 7692): its client against `tetsuo serve`'s /ws
# echo and its server against `tetsuo ws`, with and without compression,
# checking what was negotiated. Then WebSocket over HTTP/2 (RFC 8441):
# `tetsuo ws --http2` against hypercorn (python's ASGI server) over TLS and
# h2c, and against `tetsuo serve`.
source "$(dirname "$0")/lib/common.sh"

apt_install curl curl

PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import websockets' 2>/dev/null \
    || timeout 300 "$PYTHON" -m pip install -q 'websockets>=12'
T=$(tetsuo_bin)
cd "$WORK" || exit 1

start serve.log "$T" serve --listen 127.0.0.1:0
HTTP=$(wait_for_line serve.log 'http://' | sed 's|.*http://||')

# --- python client -> tetsuo serve /ws -------------------------------------------
cat >client.py <<'EOF'
import asyncio, sys
from websockets.asyncio.client import connect

async def main(url, compression):
    async with connect(url, compression=compression, max_size=None) as ws:
        ext = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        text = "tetsuo " * 20000
        await ws.send(text)
        same_text = (await ws.recv()) == text
        data = bytes(range(256)) * 1000
        await ws.send(data)
        same_data = (await ws.recv()) == data
        print(ext or "-", same_text, same_data)

asyncio.run(main(sys.argv[1], None if sys.argv[2] == "none" else "deflate"))
EOF
check "python websockets (deflate) -> tetsuo serve /ws" "permessage-deflate True True" \
    "$(timeout 30 "$PYTHON" client.py "ws://$HTTP/ws" deflate 2>&1 | sed 's/; client_max_window_bits[^ ]*//')"
check "python websockets (no compression) -> tetsuo serve /ws" "- True True" \
    "$(timeout 30 "$PYTHON" client.py "ws://$HTTP/ws" none 2>&1)"

# --- tetsuo ws -> python server --------------------------------------------------
cat >server.py <<'EOF'
import asyncio, sys
from websockets.asyncio.server import serve

async def handler(ws):
    ext = ws.request.headers.get("Sec-WebSocket-Extensions", "")
    agreed = ws.response.headers.get("Sec-WebSocket-Extensions", "")
    async for message in ws:
        await ws.send(message.upper() if isinstance(message, str) else message)
    print("offered:", ext, "| agreed:", agreed or "-", flush=True)

async def main(compression):
    async with serve(handler, "127.0.0.1", 0, compression=compression) as server:
        print("listening on", server.sockets[0].getsockname()[1], flush=True)
        await asyncio.get_running_loop().create_future()

asyncio.run(main(None if sys.argv[1] == "none" else "deflate"))
EOF
start pyserver.log "$PYTHON" -u server.py deflate
PORT=$(wait_for_line pyserver.log 'listening on' | awk '{print $3}')

# ws_lines LINES ARGS...: `tetsuo ws ARGS` with LINES on stdin, which stays
# open until as many lines came back (up to 10 s). At stdin's end tetsuo
# sends its close frame, after which a server may drop unsent echoes
# (python websockets does), so closing early would race the echo.
ws_lines() {
    local lines=$1 want out="$WORK/ws.out"
    shift
    want=$(printf '%s' "$lines" | wc -l)
    : >"$out"
    {
        printf '%s' "$lines"
        for _ in $(seq 100); do
            [ "$(wc -l <"$out")" -ge "$want" ] && break
            sleep 0.1
        done
    } | timeout 30 "$T" ws "$@" >"$out"
    cat "$out"
}
check "tetsuo ws -> python websockets server (deflate)" "HELLO|WÖRLD" \
    "$(ws_lines $'hello\nwörld\n' "ws://127.0.0.1:$PORT/" | paste -sd'|')"
check "  ... permessage-deflate was agreed" yes \
    "$(wait_for_line pyserver.log 'agreed:' | grep 'agreed: permessage-deflate' >/dev/null && echo yes)"
check "tetsuo ws --no-deflate -> python server: nothing agreed" "HI" \
    "$(ws_lines $'hi\n' --no-deflate "ws://127.0.0.1:$PORT/")"
check "  ... no extension was offered" yes \
    "$(wait_for_line pyserver.log 'offered:  | agreed: -' >/dev/null && echo yes || cat pyserver.log)"

# --- WebSocket over HTTP/2 (RFC 8441): tetsuo ws -> hypercorn, tetsuo serve --
# Hypercorn (python's ASGI server) runs WebSockets as extended CONNECT
# streams; an ASGI echo app that says which HTTP carried it, over TLS (ALPN
# h2) and h2c.
"$PYTHON" -c 'import hypercorn' 2>/dev/null || timeout 300 "$PYTHON" -m pip install -q 'hypercorn>=0.17'
cat >echo_app.py <<'APPEOF'
async def app(scope, receive, send):
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            msg = await receive()
            if msg["type"] != "websocket.receive":
                return
            text = msg.get("text")
            if text is not None:
                text = "%s over HTTP/%s" % (text, scope["http_version"])
            await send({"type": "websocket.send", "text": text, "bytes": msg.get("bytes")})
    elif scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
APPEOF
make_certs "WebSocket Interop CA"
read -r HC_TLS HC_H2C < <(free_ports 2)
start hypercorn.log "$PYTHON" -m hypercorn --bind "127.0.0.1:$HC_TLS" \
    --insecure-bind "127.0.0.1:$HC_H2C" --certfile srv.pem --keyfile srv.key echo_app:app
wait_for_line hypercorn.log "Running on http://" >/dev/null
check "tetsuo ws --http2 -> hypercorn over TLS (extended CONNECT)" \
    "one over HTTP/2|two over HTTP/2" \
    "$(ws_lines $'one\ntwo\n' --http2 --cacert ca.pem "wss://localhost:$HC_TLS/echo" | paste -sd'|')"
check "tetsuo ws --http2-prior-knowledge -> hypercorn h2c" "h2c over HTTP/2" \
    "$(ws_lines $'h2c\n' --http2-prior-knowledge "ws://127.0.0.1:$HC_H2C/echo")"
check "tetsuo ws -> hypercorn over HTTP/1.1 still" "plain over HTTP/1.1" \
    "$(ws_lines $'plain\n' "ws://127.0.0.1:$HC_H2C/echo")"
check "tetsuo ws --http2-prior-knowledge -> tetsuo serve /ws" "a|b" \
    "$(ws_lines $'a\nb\n' --http2-prior-knowledge "ws://$HTTP/ws" | paste -sd'|')"
check "  ... counted as a WebSocket over HTTP/2" yes \
    "$(timeout 10 curl -s "http://$HTTP/metrics" \
        | awk '/^tetsuo_ws_upgrades_total\{http="2"\}/ && $2 >= 1 {print "yes"}')"

echo "$NAME: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
