#!/usr/bin/env bash
# The examples of examples/ (cargo run --example NAME), each driven as a
# user would, by peers we did not write:
# - chat: two headless Chromium pages chat through the embedded page
#   (history, rooms, nicknames), python websockets checks the limits, and
#   SIGTERM drains with 1001 close frames;
# - proxy: curl through the forward proxy as HTTP CONNECT and as SOCKS5
#   (auth, allow-list) and through the reverse proxy (balancing, health);
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
DEVTOOLS=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
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
    "$(field "$out" "['alice_system']" | grep -q 'bob joined' && echo yes)"
check "chat: a taken nickname gets a variant" alice2 "$(field "$out" "['taken_nick']")"
check "chat: another room hears nothing of the lobby" "who" "$(field "$out" "['side_next']['kind']")"
check "chat: the 5th connection from one IP is refused" 429 "$(field "$out" "['fifth_connection']")"
check "chat: a message over 4 KiB closes with 1009" 1009 "$(field "$out" "['too_big_close']")"
check "chat: drain closes WebSockets with 1001" 1001 "$(field "$out" "['carol_close']")"
check "chat: both pages saw the server go" "closed: 1001 server shutting down|closed: 1001 server shutting down" \
    "$(field "$out" "['alice_closed']")|$(field "$out" "['bob_closed']")"
check "chat: the server exited after the drain" yes "$(stopped "$CHAT_PID")"
check "chat: nobody was left connected" yes \
    "$(grep -q '0 chatters still connected' chat.log && echo yes)"

finish
