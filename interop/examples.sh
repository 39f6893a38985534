#!/usr/bin/env bash
# The examples of examples/ (cargo run --example NAME), each driven as a
# user would, by peers we did not write:
# - chat: two headless Chromium pages chat through the embedded page
#   (history, rooms, nicknames), python websockets checks the limits and a
#   client that stops reading, and SIGTERM drains with 1001 close frames;
# - proxy: curl through the forward proxy as HTTP CONNECT and as SOCKS5
#   (auth, allow-list) and through the reverse proxy (balancing, health,
#   least outstanding while a download is in flight);
# - echo: nc over TCP, UDP and Unix, openssl s_client over TLS;
# - http-server / http-client / ws-client: curl, and our clients against
#   python's http.server and websockets.
source "$(dirname "$0")/lib/common.sh"

apt_install chromium chromium
apt_install curl curl
apt_install netcat-openbsd nc
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import websockets' 2>/dev/null \
    || timeout 300 "$PYTHON" -m pip install -q 'websockets>=12'
(cd "$ROOT" && timeout 900 cargo build -q -p tetsuo-examples --examples) || {
    echo "$NAME: cannot build the examples" >&2
    exit 1
}
EX="$ROOT/target/debug/examples"
cd "$WORK" || exit 1
# The examples' self-signed certificates go here, and away with it.
export TMPDIR="$WORK"
export PYTHONPATH="$ROOT/interop/lib"

# field JSON PATH: a value out of a JSON document (PATH as python indexing).
field() { "$PYTHON" -c "import json,sys; d=json.loads(sys.argv[1]); print(d$2)" "$1" 2>/dev/null; }

# stopped PID: waits up to 10 s for PID to exit; prints yes once it has.
stopped() {
    local i
    for i in $(seq 100); do
        kill -0 "$1" 2>/dev/null || { echo yes; return; }
        sleep 0.1
    done
    echo no
}

## chat ####################################################################
start chat.log "$EX/chat" --listen 127.0.0.1:0 --max-per-ip 4
CHAT_PID=${STARTED_PIDS[-1]}
CHAT=$(wait_for_line chat.log 'http://' | sed 's|.*http://||')
# A chatter that stops reading: the room goes on without waiting for it,
# drops it once it is 64 messages behind, and its session gives up on it
# after 10 s of a send that cannot go. It and three talkers come from
# 127.0.0.2 (a per-IP allowance of their own). A small receive window and
# MSS keep the kernel from buffering much for it.
cat >chat_slow.py <<'EOF'
import asyncio, base64, json, os, socket, sys, time
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

addr = sys.argv[1]
host, port = addr.rsplit(":", 1)
out = {}

def stalled():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    s.bind(("127.0.0.2", 0))
    s.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET /ws?room=slow&nick=sloth HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
               % (addr, key)).encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):  # a byte at a time: nothing past the head
        b = s.recv(1)
        if not b:
            break
        head += b
    return s, head.split(b"\r\n")[0].decode()

def drain(s, limit):
    """Reads until the server closes (True) or `limit` seconds pass in all; counts frames."""
    data, eof, end = b"", False, time.monotonic() + limit
    try:
        while True:
            s.settimeout(max(end - time.monotonic(), 0.01))
            b = s.recv(65536)
            if not b:
                eof = True
                break
            data += b
    except socket.timeout:
        pass
    frames, i = 0, 0
    while i + 2 <= len(data):
        n, i = data[i + 1] & 0x7F, i + 2
        if n == 126:
            n, i = int.from_bytes(data[i:i + 2], "big"), i + 2
        elif n == 127:
            n, i = int.from_bytes(data[i:i + 8], "big"), i + 8
        frames, i = frames + 1, i + n
    return eof, frames

async def main():
    sloth, out["sloth_status"] = await asyncio.to_thread(stalled)
    url = "ws://%s/ws?room=slow&nick=" % addr
    talkers = [await connect(url + "t%d" % i, local_addr=("127.0.0.2", 0)) for i in range(3)]
    got = [0, 0, 0]
    who = asyncio.Queue()
    async def listen(i, ws):
        async for m in ws:
            ev = json.loads(m)
            if ev["kind"] == "message":
                got[i] += 1
            elif ev["kind"] == "who":
                who.put_nowait(ev["nicks"])
            elif ev["kind"] == "error":
                out["error"] = ev["text"]
    tasks = [asyncio.create_task(listen(i, ws)) for i, ws in enumerate(talkers)]
    await talkers[0].send("/who")
    out["sloth_joined"] = "sloth" in await asyncio.wait_for(who.get(), 5)
    text = "x" * 3900
    sent, dropped, deadline = 0, False, time.monotonic() + 60
    # Four a second each (the limit is five), and /who every other second.
    while not dropped and time.monotonic() < deadline:
        for ws in talkers:
            await ws.send(text)
            sent += 1
        if sent % 24 == 0:
            await talkers[0].send("/who")
            dropped = "sloth" not in await asyncio.wait_for(who.get(), 5)
        await asyncio.sleep(0.25)
    out["dropped"] = dropped
    out["sent"] = sent
    await asyncio.sleep(1)
    out["others_got_all"] = got == [sent] * 3 or got
    # Its session gave up on it 10 s after its first stuck send (before the
    # drop) and closed the connection: what the kernel held for it, then
    # the end, come at once (a session still sending would now go on with
    # its queue and a close handshake of up to 10 s).
    await asyncio.sleep(11)
    eof, frames = await asyncio.to_thread(drain, sloth, 3)
    out["sloth_closed"] = eof
    out["sloth_missed_some"] = frames < sent
    # Its place is free again: a fourth connection from 127.0.0.2 is let in.
    try:
        async with connect(url + "late", local_addr=("127.0.0.2", 0)) as late:
            out["late_welcome"] = json.loads(await asyncio.wait_for(late.recv(), 5))["kind"]
    except InvalidStatus as e:
        out["late_welcome"] = e.response.status_code
    for ws in talkers:
        await ws.close()
    for t in tasks:
        t.cancel()
    print(json.dumps(out))

asyncio.run(main())
EOF
out=$(timeout 90 "$PYTHON" chat_slow.py "$CHAT" 2>&1)
echo "$out" | tail -3
check "chat: a client that stops reading joined its room" "HTTP/1.1 101 Switching Protocols True" \
    "$(field "$out" "['sloth_status']") $(field "$out" "['sloth_joined']")"
check "chat: ... and is dropped from it" True "$(field "$out" "['dropped']")"
check "chat: the room's others got every message meanwhile" True "$(field "$out" "['others_got_all']")"
check "chat: the server had closed the stalled connection" True "$(field "$out" "['sloth_closed']")"
check "chat: ... and it never got what it fell behind on" True "$(field "$out" "['sloth_missed_some']")"
check "chat: its per-IP place is given back" welcome "$(field "$out" "['late_welcome']")"

DEVTOOLS=$(free_port)
start chromium.log chromium --headless=new --no-sandbox --disable-gpu --no-first-run \
    --user-data-dir="$WORK/profile" --remote-debugging-address=127.0.0.1 \
    --remote-debugging-port="$DEVTOOLS" --window-size=900,600 about:blank
for _ in $(seq 100); do
    curl -s "http://127.0.0.1:$DEVTOOLS/json/version" >/dev/null && break
    sleep 0.1
done

cat >chat_drive.py <<'EOF'
import asyncio, json, os, signal, sys
from cdp import Browser
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

devtools, base, pid = sys.argv[1], "http://" + sys.argv[2], int(sys.argv[3])
LOG = "JSON.stringify([...document.querySelectorAll('#log li')].map(li => [li.className, li.textContent]))"
out = {}

async def say(page, text):
    await page.eval("document.getElementById('text').value = %s; document.getElementById('send').click()" % json.dumps(text))

async def log(page):
    return json.loads(await page.eval(LOG))

async def main():
    browser = Browser(devtools)
    alice = await browser.open(base + "/?nick=alice&room=lobby")
    out["alice_status"] = await alice.wait_for("document.getElementById('status').textContent.startsWith('connected') && document.getElementById('status').textContent")
    await say(alice, "hello from alice")
    await alice.wait_for("document.querySelectorAll('#log li.message').length >= 1")

    # Bob arrives later: the room's history shows him alice's message.
    bob = await browser.open(base + "/?nick=bob&room=lobby")
    out["bob_status"] = await bob.wait_for("document.getElementById('status').textContent.startsWith('connected') && document.getElementById('status').textContent")
    await bob.wait_for("document.querySelectorAll('#log li.history').length >= 1")
    out["bob_history"] = [t for c, t in await log(bob) if "history" in c]
    await say(bob, "hi alice")
    await alice.wait_for("[...document.querySelectorAll('#log li.message')].some(li => li.textContent == 'bob:hi alice')")
    out["alice_saw"] = [t for c, t in await log(alice) if c == "message"]
    out["alice_system"] = [t for c, t in await log(alice) if c == "system"]

    # Another room hears nothing of the lobby; a taken nickname gets a variant.
    async with connect("ws://%s/ws?room=side&nick=alice" % sys.argv[2]) as carol:
        welcome = json.loads(await carol.recv())
        out["taken_nick"] = welcome["nick"]
        await carol.recv()  # history
        await carol.recv()  # "alice2 joined"
        await say(alice, "lobby only")
        await bob.wait_for("[...document.querySelectorAll('#log li.message')].some(li => li.textContent == 'alice:lobby only')")
        await carol.send("/who")
        out["side_next"] = json.loads(await asyncio.wait_for(carol.recv(), 5))
        # 5 messages a second, bursts of 10: the 15th in a row is refused.
        for i in range(15):
            await carol.send("flood %d" % i)
        out["rate_limited"] = False
        for _ in range(40):
            ev = json.loads(await asyncio.wait_for(carol.recv(), 5))
            if ev["kind"] == "error" and ev["text"] == "slow down":
                out["rate_limited"] = True
                break
        # Two pages and carol hold 3 of the 4 chat connections of 127.0.0.1.
        refused = None
        async with connect("ws://%s/ws?room=side&nick=dave" % sys.argv[2]):
            try:
                async with connect("ws://%s/ws?room=side&nick=erin" % sys.argv[2]):
                    refused = "accepted"
            except InvalidStatus as e:
                refused = e.response.status_code
        out["fifth_connection"] = refused
        # A message over 4 KiB closes that connection with 1009.
        async with connect("ws://%s/ws?room=side&nick=frank" % sys.argv[2]) as frank:
            await frank.send("x" * 5000)
            try:
                while True:
                    await asyncio.wait_for(frank.recv(), 5)
            except Exception:
                pass
            out["too_big_close"] = frank.close_code

        await alice.screenshot(os.environ.get("CHAT_SCREENSHOT", "chat.png"))
        # Drain: SIGTERM, both pages see the 1001 close, the process exits.
        os.kill(pid, signal.SIGTERM)
        try:
            while True:  # "dave joined" and such come first
                await asyncio.wait_for(carol.recv(), 5)
        except Exception:
            pass
        out["carol_close"] = carol.close_code
    for name, page in (("alice", alice), ("bob", bob)):
        out[name + "_closed"] = await page.wait_for("document.getElementById('status').textContent.startsWith('closed') && document.getElementById('status').textContent")
    print(json.dumps(out))

asyncio.run(main())
EOF
out=$(timeout 90 "$PYTHON" chat_drive.py "$DEVTOOLS" "$CHAT" "$CHAT_PID" 2>&1)
echo "  $out"
check "chat: alice's page connected" "connected as alice in lobby" "$(field "$out" "['alice_status']")"
check "chat: bob's page shows the room's history" "['alice:hello from alice']" "$(field "$out" "['bob_history']")"
check "chat: alice's page got bob's message" "['alice:hello from alice', 'bob:hi alice']" \
    "$(field "$out" "['alice_saw']")"
check "chat: joins are announced" "yes" \
    "$(field "$out" "['alice_system']" | grep 'bob joined' >/dev/null && echo yes)"
check "chat: a taken nickname gets a variant" alice2 "$(field "$out" "['taken_nick']")"
check "chat: another room hears nothing of the lobby" "who" "$(field "$out" "['side_next']['kind']")"
check "chat: a flood of messages is told to slow down" True "$(field "$out" "['rate_limited']")"
check "chat: the 5th connection from one IP is refused" 429 "$(field "$out" "['fifth_connection']")"
check "chat: a message over 4 KiB closes with 1009" 1009 "$(field "$out" "['too_big_close']")"
check "chat: drain closes WebSockets with 1001" 1001 "$(field "$out" "['carol_close']")"
check "chat: both pages saw the server go" "closed: 1001 server shutting down|closed: 1001 server shutting down" \
    "$(field "$out" "['alice_closed']")|$(field "$out" "['bob_closed']")"
check "chat: the server exited after the drain" yes "$(stopped "$CHAT_PID")"
check "chat: nobody was left connected" yes \
    "$(grep -q '0 chatters still connected' chat.log && echo yes)"

## proxy ###################################################################
# An origin server (python's http.server) and a TLS one (openssl s_server).
mkdir -p origin/sub && echo origin >origin/hello
start origin.log "$PYTHON" -u -m http.server --bind 127.0.0.1 --directory origin 0
ORIGIN=$(port_in origin.log 'Serving HTTP')
make_certs examples-ca
TLS_ORIGIN=$(free_port)
start s_server.log openssl s_server -accept "127.0.0.1:$TLS_ORIGIN" -cert srv.pem -key srv.key -www -quiet
start forward.log "$EX/proxy" forward --listen 127.0.0.1:0 --user alice --password secret \
    --client 127.0.0.1/32 --deny 127.0.0.2/32
FWD=$(wait_for_line forward.log 'listening on' | awk '{print $3}')
for _ in $(seq 50); do nc -z 127.0.0.1 "$TLS_ORIGIN" && break; sleep 0.1; done
C="timeout 20 curl -s --max-time 10"
check "proxy: curl through HTTP CONNECT (curl -p) with credentials" origin \
    "$($C -p -x "http://alice:secret@$FWD" "http://127.0.0.1:$ORIGIN/hello")"
check "proxy: HTTPS through CONNECT to openssl s_server" yes \
    "$($C --cacert ca.pem -x "http://alice:secret@$FWD" "https://localhost:$TLS_ORIGIN/" | grep 's_server' >/dev/null && echo yes)"
check "proxy: plain HTTP forwarded (absolute form)" origin \
    "$($C -x "http://alice:secret@$FWD" "http://127.0.0.1:$ORIGIN/hello")"
check "proxy: curl through SOCKS5 (socks5h) with credentials" origin \
    "$($C -x "socks5h://alice:secret@$FWD" "http://localhost:$ORIGIN/hello")"
check "proxy: CONNECT without credentials gets 407" 407 \
    "$($C -o /dev/null -w '%{http_connect}' -p -x "http://$FWD" "http://127.0.0.1:$ORIGIN/hello")"
check "proxy: SOCKS5 with a wrong password is refused (curl exit 97)" 97 \
    "$($C -x "socks5h://alice:wrong@$FWD" "http://127.0.0.1:$ORIGIN/hello" >/dev/null; echo $?)"
check "proxy: a denied destination gets 403 over CONNECT" 403 \
    "$($C -o /dev/null -w '%{http_connect}' -p -x "http://alice:secret@$FWD" "http://127.0.0.2:$ORIGIN/hello")"
check "proxy: a denied destination is refused over SOCKS5 (curl exit 97)" 97 \
    "$($C -x "socks5://alice:secret@$FWD" "http://127.0.0.2:$ORIGIN/hello" >/dev/null; echo $?)"
check "proxy: a denied destination gets 403 over plain HTTP" 403 \
    "$($C -o /dev/null -w '%{http_code}' -x "http://alice:secret@$FWD" "http://127.0.0.2:$ORIGIN/hello")"
check "proxy: 0.0.0.0 (this host) is never a destination" 403 \
    "$($C -o /dev/null -w '%{http_connect}' -p -x "http://alice:secret@$FWD" "http://0.0.0.0:$ORIGIN/hello" ; true)"
check "proxy: a redirect goes back to the client" "301 /sub/" \
    "$($C -o /dev/null -w '%{http_code} %{redirect_url}' -x "http://alice:secret@$FWD" "http://127.0.0.1:$ORIGIN/sub" | sed 's|http://[^/]*||')"
# curl: 52 (empty reply) or 56 (reset): the proxy closed without a word.
check "proxy: a client address off the allow-list is turned away" closed \
    "$($C --interface 127.0.0.3 -o /dev/null -x "http://alice:secret@$FWD" "http://127.0.0.1:$ORIGIN/hello"; rc=$?; case $rc in 52|56) echo closed;; *) echo "exit $rc";; esac)"
# A second forward proxy that denies loopback: "localhost" resolves only to
# denied addresses, which its resolver (shared with the HTTP client) refuses.
start forward2.log "$EX/proxy" forward --listen 127.0.0.1:0 --deny 127.0.0.0/8 --deny ::1/128
FWD2=$(wait_for_line forward2.log 'listening on' | awk '{print $3}')
check "proxy: a name with only denied addresses gets 403 over plain HTTP" 403 \
    "$($C -o /dev/null -w '%{http_code}' -x "http://$FWD2" "http://localhost:$ORIGIN/hello")"
check "proxy: and over CONNECT" 403 \
    "$($C -o /dev/null -w '%{http_connect}' -p -x "http://$FWD2" "http://localhost:$ORIGIN/hello"; true)"

# Reverse: two python backends behind the balancer, one stopped and started.
# Each binds a port of its own choosing; backend 2 comes back on the port
# it had.
backend() {  # backend N PORT: serves /hello = "backend N" and /healthz
    mkdir -p "b$1" && echo "backend $1" >"b$1/hello" && echo ok >"b$1/healthz"
    start "b$1.log" "$PYTHON" -u -m http.server --bind 127.0.0.1 --directory "b$1" "$2"
}
backend 1 0
B1=$(port_in b1.log 'Serving HTTP')
backend 2 0
B2_PID=${STARTED_PIDS[-1]}
B2=$(port_in b2.log 'Serving HTTP')
start reverse.log "$EX/proxy" reverse --listen 127.0.0.1:0 --backend "127.0.0.1:$B1" \
    --backend "127.0.0.1:$B2" --health /healthz
REV=$(wait_for_line reverse.log 'listening on' | sed 's|.*http://||')
spread() { for _ in $(seq 20); do $C "http://$REV/hello"; done | sort | uniq -c | awk '{printf "%s:%s ", $3, $1}'; }
check "proxy: round-robin over two backends" "1:10 2:10 " "$(spread)"
kill "$B2_PID"
check "proxy: backend 2 stopped: every request still answered, by backend 1" "1:20 " "$(spread)"
for _ in $(seq 50); do grep -q 'healthy: false' reverse.log && break; sleep 0.1; done
check "proxy: the health check took backend 2 out" yes "$(grep -q "127.0.0.1:$B2.*healthy: false" reverse.log && echo yes)"
ups=$(grep -c "127.0.0.1:$B2.*healthy: true" reverse.log)
backend 2 "$B2"
for _ in $(seq 100); do
    [ "$(grep -c "127.0.0.1:$B2.*healthy: true" reverse.log)" -gt "$ups" ] && break
    sleep 0.1
done
# The checks that see it come back also close its circuit breaker (which
# the failed requests opened, for 5 s): it takes its share again at once.
check "proxy: and brought it back when it returned, at once" "1:10 2:10 " "$(spread)"

# Least outstanding requests: a download in flight on one backend keeps the
# next requests on the other, for as long as its body is being passed on
# (not just until its head arrives).
cat >slow_backend.py <<'EOF'
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/slow":
            chunks = [b".."] * 10  # 3 s in all
        else:
            chunks = [("backend %s\n" % sys.argv[1]).encode()]
        self.send_response(200)
        self.send_header("Content-Length", str(sum(map(len, chunks))))
        self.end_headers()
        for i, chunk in enumerate(chunks):
            if i:
                time.sleep(0.3)
            self.wfile.write(chunk)
            self.wfile.flush()

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("port", server.server_address[1], flush=True)
server.serve_forever()
EOF
start lor3.log "$PYTHON" slow_backend.py 3
start lor4.log "$PYTHON" slow_backend.py 4
L3=$(port_in lor3.log '^port')
L4=$(port_in lor4.log '^port')
start lor.log "$EX/proxy" reverse --listen 127.0.0.1:0 --policy lor \
    --backend "127.0.0.1:$L3" --backend "127.0.0.1:$L4" --health /hello
LOR=$(wait_for_line lor.log 'listening on' | sed 's|.*http://||')
timeout 20 curl -s -o slow.out -w '%{http_code}' "http://$LOR/slow" >slow.code &
SLOW=$!
sleep 0.6  # its head is through, its body has over 2 s to go
spread_lor() { for _ in $(seq 10); do $C "http://$LOR/hello"; done | sort | uniq -c | awk '{printf "%s:%s ", $3, $1}'; }
during=$(spread_lor)
wait "$SLOW"
check "proxy (lor): while a download is in flight, every request goes to the other backend" \
    "200 one backend" "$(cat slow.code) $([[ $during =~ ^[34]:10\ $ ]] && echo one backend || echo "$during")"
check "proxy (lor): once it is done, both share again" "3:5 4:5 " "$(spread_lor)"

## rpc #####################################################################
RPC_PORT=$(free_port)
start rpc1.log "$EX/rpc" server --listen "127.0.0.1:$RPC_PORT"
RPC1_PID=${STARTED_PIDS[-1]}
wait_for_line rpc1.log 'listening on' >/dev/null
check "rpc: add" 5.0 "$(timeout 10 "$EX/rpc" call --server "127.0.0.1:$RPC_PORT" add '{"a": 2, "b": 3}')"
check "rpc: a method's failure comes back typed" "Failed: division by zero" \
    "$(timeout 10 "$EX/rpc" call --server "127.0.0.1:$RPC_PORT" div '{"a": 1, "b": 0}' | sed 's/.*: F/F/')"
check "rpc: a deadline ends a long call" "DeadlineExceeded" \
    "$(timeout 10 "$EX/rpc" call --server "127.0.0.1:$RPC_PORT" sleep '{"ms": 10000}' --deadline-ms 300 | grep -o DeadlineExceeded)"
# The server is killed (SIGKILL) mid-benchmark and started again on the
# same port 1 s later: the benchmark's idempotent calls are retried, none fails.
timeout 60 "$EX/rpc" bench --server "127.0.0.1:$RPC_PORT" --duration 6 --concurrency 32 >bench.out 2>bench.err &
BENCH=$!
sleep 2
kill -9 "$RPC1_PID"
wait "$RPC1_PID" 2>/dev/null
sleep 1
start rpc1b.log "$EX/rpc" server --listen "127.0.0.1:$RPC_PORT"
wait "$BENCH"
echo "  $(cat bench.out)"
check "rpc: a server restart mid-stream fails no call" "0 failed" "$(grep -o '[0-9]* failed' bench.out)"
check "rpc: the restarted server took calls" yes \
    "$([ "$(timeout 10 "$EX/rpc" call --server "127.0.0.1:$RPC_PORT" add '{"a": 1, "b": 1}')" = 2.0 ] && echo yes)"
# Two servers, TLS, one of them stopped for good: calls go to the other.
start rpc2.log "$EX/rpc" server --listen 127.0.0.1:0 --tls
start rpc3.log "$EX/rpc" server --listen 127.0.0.1:0 --tls
RPC3_PID=${STARTED_PIDS[-1]}
R2=$(wait_for_line rpc2.log 'listening on' | awk '{print $3}')
R3=$(wait_for_line rpc3.log 'listening on' | awk '{print $3}')
# Both self-signed: one CA file holding both certificates.
cat "$(awk '/self-signed/ {print $NF}' rpc2.log)" "$(awk '/self-signed/ {print $NF}' rpc3.log)" >rpc-ca.pem
timeout 60 "$EX/rpc" bench --server "$R2,$R3" --cacert rpc-ca.pem --duration 4 --concurrency 16 >bench2.out 2>&1 &
BENCH=$!
sleep 1.5
kill -9 "$RPC3_PID"
wait "$RPC3_PID" 2>/dev/null
wait "$BENCH"
echo "  $(head -1 bench2.out)"
check "rpc: over TLS, one of two servers killed: no call fails" "0 failed" "$(grep -o '[0-9]* failed' bench2.out)"

## echo ####################################################################
start echo-tcp.log "$EX/echo" tcp 127.0.0.1:0
start echo-udp.log "$EX/echo" udp 127.0.0.1:0
start echo-unix.log "$EX/echo" unix "$WORK/echo.sock"
start echo-tls.log "$EX/echo" tls 127.0.0.1:0
T=$(wait_for_line echo-tcp.log 'listening' | sed 's|.*tcp://||')
U=$(wait_for_line echo-udp.log 'listening' | sed 's|.*udp://||')
wait_for_line echo-unix.log 'listening' >/dev/null
S=$(wait_for_line echo-tls.log 'listening' | sed 's|.*tls://||')
check "echo: TCP with nc" "hello tcp" "$(echo 'hello tcp' | timeout 5 nc -N "${T%:*}" "${T##*:}")"
check "echo: UDP with nc" "hello udp" "$(echo 'hello udp' | timeout 2 nc -u -w1 "${U%:*}" "${U##*:}")"
check "echo: Unix with nc" "hello unix" "$(echo 'hello unix' | timeout 5 nc -N -U "$WORK/echo.sock")"
check "echo: TLS with openssl s_client, certificate verified" "hello tls" \
    "$(echo 'hello tls' | timeout 5 openssl s_client -quiet -verify_return_error -verify_hostname localhost \
        -CAfile "$(awk '/self-signed/ {print $NF}' echo-tls.log)" -connect "$S" 2>/dev/null)"

## http-server, http-client, ws-client ######################################
mkdir -p www && echo 'a file' >www/a.txt
start http-server.log "$EX/http-server" --listen 127.0.0.1:0 --tls-listen 127.0.0.1:0 --root www
HS_PID=${STARTED_PIDS[-1]}
H=$(wait_for_line http-server.log 'http://' | sed 's|.*http://||')
HS=$(wait_for_line http-server.log 'https://' | sed 's|.*https://||')
HS_CA=$(awk '/self-signed/ {print $NF}' http-server.log)
check "http-server: /hello" "Hello, World!" "$($C "http://$H/hello")"
check "http-server: /echo streams the body back" "some data" "$($C -d 'some data' "http://$H/echo")"
check "http-server: /count streams lines" "1 2 3" "$($C "http://$H/count?n=3" | xargs)"
check "http-server: a file" "a file" "$($C "http://$H/files/a.txt")"
check "http-server: no escaping the root" 400 "$($C --path-as-is -o /dev/null -w '%{http_code}' "http://$H/files/../http-server.log")"
check "http-server: HTTP/2 over TLS (ALPN)" "2 Hello, World!" \
    "$($C --http2 --cacert "$HS_CA" -w '%{http_version} ' -o hello.out "https://localhost:${HS##*:}/hello"; cat hello.out)"
check "http-client: one request" "HTTP/1.1 200 OK" "$(timeout 20 "$EX/http-client" "http://$H/hello" | sed -n 1p)"
check "http-client: 100 requests over 4 pooled connections" "statuses {200: 100}, 0 errors, 4 on new connections, 96 on reused ones" \
    "$(timeout 20 "$EX/http-client" "http://$H/hello" -n 100 -c 4 | grep -o 'statuses.*')"
check "http-client: HTTPS with --cacert" "HTTP/2.0 200 OK" \
    "$(timeout 20 "$EX/http-client" "https://localhost:${HS##*:}/hello" --cacert "$HS_CA" | sed -n 1p)"
check "http-client: through the forward proxy example (SOCKS5)" "Hello, World!" \
    "$(timeout 20 "$EX/http-client" "http://$H/hello" --proxy "socks5h://alice:secret@$FWD" | tail -1)"
# A server that comes up 0.5 s late: the client's retries find it.
LATE=$(free_port)
(sleep 0.5; exec "$PYTHON" -m http.server --bind 127.0.0.1 --directory origin "$LATE") >late.log 2>&1 &
STARTED_PIDS+=($!)
check "http-client: retries until a late server answers" origin \
    "$(timeout 20 "$EX/http-client" "http://127.0.0.1:$LATE/hello" --retries 5 2>/dev/null | tail -1)"
# ws-client against python websockets' echo server.
WS_PORT=$(free_port)
start ws-server.log "$PYTHON" -c "
import asyncio
from websockets.asyncio.server import serve
async def echo(ws):
    async for m in ws:
        await ws.send(m)
async def main():
    async with serve(echo, '127.0.0.1', $WS_PORT):
        await asyncio.Future()
asyncio.run(main())"
for _ in $(seq 50); do nc -z 127.0.0.1 "$WS_PORT" && break; sleep 0.1; done
check "ws-client: lines echoed by python websockets" "one two" \
    "$({ echo one; echo two; sleep 1; } | timeout 10 "$EX/ws-client" "ws://127.0.0.1:$WS_PORT/" 2>/dev/null | xargs)"
kill -TERM "$HS_PID"
check "http-server: SIGTERM drains and exits" yes "$(stopped "$HS_PID")"
check "http-server: the drain was reported" yes "$(grep -q '^drained in' http-server.log && echo yes)"

finish
