#!/usr/bin/env bash
# Headless Chromium loads `tetsuo serve`'s dashboard, which its script keeps
# live over a WebSocket (/ws/stats): the figures must update as requests
# arrive. Chromium is driven through the DevTools protocol (python
# websockets); a screenshot is saved (DASHBOARD_SCREENSHOT=FILE keeps it).
# Then over TLS, where Chromium speaks HTTP/2 and opens the WebSocket as an
# extended CONNECT stream (RFC 8441), which /metrics must show.
source "$(dirname "$0")/lib/common.sh"

apt_install chromium chromium
apt_install curl curl
apt_install wrk wrk
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import websockets' 2>/dev/null \
    || timeout 300 "$PYTHON" -m pip install -q 'websockets>=12'
T=$(tetsuo_bin)
cd "$WORK" || exit 1

start serve.log "$T" serve --listen 127.0.0.1:0 --tls-listen 127.0.0.1:0
HTTP=$(wait_for_line serve.log 'http://' | sed 's|.*http://||')
HTTPS=$(wait_for_line serve.log 'https://' | sed 's|.*https://||')

DEVTOOLS=$(free_port)
start chromium.log chromium --headless=new --no-sandbox --disable-gpu --no-first-run \
    --user-data-dir="$WORK/profile" --remote-debugging-address=127.0.0.1 \
    --remote-debugging-port="$DEVTOOLS" --window-size=1000,700 --ignore-certificate-errors \
    about:blank
for _ in $(seq 100); do
    curl -s "http://127.0.0.1:$DEVTOOLS/json/version" >/dev/null && break
    sleep 0.1
done

cat >drive.py <<'EOF'
import asyncio, base64, json, ssl, subprocess, sys, urllib.request
from websockets.asyncio.client import connect

devtools, page_url, shot = sys.argv[1], sys.argv[2], sys.argv[3]
base = "/".join(page_url.split("/")[:3])

def hit(n):
    for _ in range(n):
        urllib.request.urlopen(base + "/hello", context=ssl._create_unverified_context()).read()

async def main():
    targets = json.load(urllib.request.urlopen("http://127.0.0.1:%s/json/list" % devtools))
    page = next(t for t in targets if t["type"] == "page")
    async with connect(page["webSocketDebuggerUrl"], max_size=None) as cdp:
        ids = iter(range(1, 10**6))
        async def call(method, **params):
            i = next(ids)
            await cdp.send(json.dumps({"id": i, "method": method, "params": params}))
            while True:
                reply = json.loads(await cdp.recv())
                if reply.get("id") == i:
                    return reply.get("result", {})
        async def figures():
            r = await call("Runtime.evaluate", returnByValue=True, expression=
                "JSON.stringify(['live','updates','requests','connections'].map(function(k){return document.getElementById(k).textContent})"
                ".concat(['chart_rps','chart_latency'].map(function(k){var e=document.getElementById(k);"
                "return [Number(e.getAttribute('data-points')), Number(e.getAttribute('data-max'))]})))")
            return json.loads(r["result"]["value"])
        await call("Page.enable")
        await call("Page.navigate", url=page_url)
        await asyncio.sleep(2.5)
        first = await figures()
        # wrk loads the server while the page watches (3 s).
        wrk = subprocess.Popen(["timeout", "20", "wrk", "-t1", "-c4", "-d3s", base + "/hello"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await asyncio.get_running_loop().run_in_executor(None, hit, 25)
        await asyncio.sleep(3.5)
        second = await figures()
        wrk.wait()
        png = await call("Page.captureScreenshot", format="png")
        open(shot, "wb").write(base64.b64decode(png["data"]))
        print(json.dumps({"first": first, "second": second}))

asyncio.run(main())
EOF
SHOT=${DASHBOARD_SCREENSHOT:-$WORK/dashboard.png}
out=$(timeout 60 "$PYTHON" drive.py "$DEVTOOLS" "http://$HTTP/" "$SHOT" 2>&1)
echo "  $out"
field() { "$PYTHON" -c "import json,sys; d=json.loads(sys.argv[1]); print(d$1)" "$out" 2>/dev/null; }
check "the page went live over the WebSocket" live "$(field "['second'][0]")"
check "figures keep updating (at least 3 pushes)" yes \
    "$([ "$(field "['second'][1]")" -ge 3 ] 2>/dev/null && echo yes)"
check "requests made meanwhile show up" yes \
    "$([ "$(field "['second'][2]")" -ge "$(( $(field "['first'][2]") + 25 ))" ] 2>/dev/null && echo yes)"
check "a screenshot was saved" yes "$([ -s "$SHOT" ] && file "$SHOT" | grep PNG >/dev/null && echo yes)"
check "the requests/s chart moved under wrk (points, and a maximum over 1000/s)" yes \
    "$("$PYTHON" -c "import json,sys; d=json.loads(sys.argv[1]); p,m=d['second'][4]; print('yes' if p>=4 and m>1000 else d)" "$out" 2>&1)"
check "the latency chart shows percentiles above 0" yes \
    "$("$PYTHON" -c "import json,sys; d=json.loads(sys.argv[1]); p,m=d['second'][5]; print('yes' if p>=4 and m>0 else d)" "$out" 2>&1)"

# Over TLS Chromium speaks HTTP/2 and opens the page's WebSocket as an
# extended CONNECT stream on that connection (RFC 8441).
out=$(timeout 60 "$PYTHON" drive.py "$DEVTOOLS" "https://$HTTPS/" "$WORK/dashboard-h2.png" 2>&1)
echo "  $out"
check "over https the page went live too" live "$(field "['second'][0]")"
check "its WebSocket came over HTTP/2 (tetsuo_ws_upgrades_total{http=\"2\"})" yes \
    "$(curl -s "http://$HTTP/metrics" | awk '/^tetsuo_ws_upgrades_total\{http="2"\}/ && $2 >= 1 {print "yes"}')"

echo "$NAME: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
