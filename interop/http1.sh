#!/usr/bin/env bash
# tetsuo's HTTP/1.1 server against the clients people use: curl (GET, POST
# from a file, a chunked upload, a resumed download with -C -, --http1.1,
# HTTPS with --cacert, conditional GET), python requests (keep-alive session,
# streaming upload), and a short wrk run with keep-alive, against `tetsuo
# serve`; and `tetsuo get` against python's http.server and `openssl s_server
# -www`. Everything runs on loopback.
source "$(dirname "$0")/lib/common.sh"

apt_install curl curl
apt_install wrk wrk
apt_install openssl openssl
"${PYTHON:-python3}" -c 'import requests' 2>/dev/null \
    || timeout 300 "${PYTHON:-python3}" -m pip install -q requests
T=$(tetsuo_bin)
cd "$WORK" || exit 1

# Files to serve and to upload.
mkdir -p root
head -c 3000000 /dev/urandom >root/big.bin
printf 'hello from a file\n' >root/hello.txt
head -c 200000 /dev/urandom >upload.bin

# A certificate for localhost, signed by a throw-away CA.
make_certs "HTTP Interop CA"

start serve.log "$T" serve --listen 127.0.0.1:0 --tls-listen 127.0.0.1:0 \
    --cert srv.pem --key srv.key --root root --max-conns-per-ip 0
HTTP=$(wait_for_line serve.log 'http://' | sed 's|.*http://||')
HTTPS=$(wait_for_line serve.log 'https://' | sed 's|.*https://||')
HTTPS_PORT=${HTTPS##*:}

c() { timeout 30 curl -sS "$@"; }

# --- curl -----------------------------------------------------------------------
check "curl GET /hello" "Hello, World!" "$(c "http://$HTTP/hello")"
check "curl --http1.1 status line" "HTTP/1.1 200 OK" \
    "$(c --http1.1 -i "http://$HTTP/hello" | head -1 | tr -d '\r')"
check "curl POST -d @file to /echo" "$(cat root/hello.txt | tr -d '\n')" \
    "$(c -d @root/hello.txt "http://$HTTP/echo")"
check "curl --data-binary chunked upload echoed byte for byte" "$(sha256sum <upload.bin)" \
    "$(c -H 'Transfer-Encoding: chunked' --data-binary @upload.bin "http://$HTTP/echo" | sha256sum)"
check "curl GET /files/big.bin" "$(sha256sum <root/big.bin)" \
    "$(c "http://$HTTP/files/big.bin" | sha256sum)"

# A download cut short, then resumed with -C - (a Range request).
head -c 1000000 root/big.bin >partial.bin
c -C - -o partial.bin "http://$HTTP/files/big.bin"
check "curl -C - resumes the download" "$(sha256sum <root/big.bin)" "$(sha256sum <partial.bin)"

etag=$(c -I "http://$HTTP/files/hello.txt" | grep -i '^etag:' | cut -d' ' -f2 | tr -d '\r')
check "curl conditional GET answers 304" "304" \
    "$(c -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "http://$HTTP/files/hello.txt")"
check "curl 404 for a missing file" "404" \
    "$(c -o /dev/null -w '%{http_code}' "http://$HTTP/files/missing")"
check "curl HTTPS with --cacert" "Hello, World!" \
    "$(c --cacert ca.pem --resolve "localhost:$HTTPS_PORT:127.0.0.1" "https://localhost:$HTTPS_PORT/hello")"
check "curl HTTPS POST echo" "over tls" \
    "$(c --cacert ca.pem --resolve "localhost:$HTTPS_PORT:127.0.0.1" -d 'over tls' "https://localhost:$HTTPS_PORT/echo")"
check "curl reuses one connection for two URLs" "1" \
    "$(c -v "http://$HTTP/hello" "http://$HTTP/hello" 2>&1 | grep -c 'Re-using existing connection\|Reusing existing')"

# --- python requests ------------------------------------------------------------
out=$(timeout 60 "${PYTHON:-python3}" - "$HTTP" <<'PY' 2>&1
import hashlib, sys, requests
base = "http://" + sys.argv[1]
s = requests.Session()
r = s.get(base + "/hello")
assert r.status_code == 200 and r.text == "Hello, World!", r.text
assert r.headers["content-type"].startswith("text/plain")
r = s.post(base + "/echo", data=b"x" * 100000)
assert r.content == b"x" * 100000
def gen():
    for i in range(100):
        yield b"%d;" % i
r = s.post(base + "/echo", data=gen())  # chunked upload from a generator
assert r.content == b"".join(b"%d;" % i for i in range(100)), r.content[:50]
r = s.get(base + "/healthz")
assert r.text == "ok\n"
r = s.get(base + "/files/big.bin", headers={"Range": "bytes=10-19"})
assert r.status_code == 206 and len(r.content) == 10, (r.status_code, len(r.content))
print("ok")
PY
)
check "python requests session: hello, echo, chunked generator, ranges" "ok" "$out"

# --- wrk ------------------------------------------------------------------------
out=$(timeout 30 wrk -t2 -c16 -d2s "http://$HTTP/hello" 2>&1)
rps=$(echo "$out" | awk '/Requests\/sec/ {printf "%d", $2}')
errors=$(echo "$out" | grep -c 'Socket errors\|Non-2xx')
check "wrk keep-alive run without errors" "0" "$errors"
check "wrk served requests" "yes" "$([ "${rps:-0}" -gt 1000 ] && echo yes || echo "no ($rps req/s)")"

# --- tetsuo get against other servers -----------------------------------------
PY_PORT=$(free_port)
(cd root && start ../pyhttp.log "${PYTHON:-python3}" -m http.server "$PY_PORT" --bind 127.0.0.1)
for _ in $(seq 50); do c -o /dev/null "http://127.0.0.1:$PY_PORT/" 2>/dev/null && break; sleep 0.1; done
check "tetsuo get from python http.server" "$(sha256sum <root/big.bin)" \
    "$(timeout 30 "$T" get "http://127.0.0.1:$PY_PORT/big.bin" | sha256sum)"
check "tetsuo get -i shows python's head" "HTTP/1.1 200 OK" \
    "$(timeout 30 "$T" get -i "http://127.0.0.1:$PY_PORT/hello.txt" | head -1 | tr -d '\r')"
code=$(timeout 30 "$T" get -f "http://127.0.0.1:$PY_PORT/missing" >/dev/null 2>&1; echo $?)
check "tetsuo get -f exits 22 on python's 404" "22" "$code"

SS_PORT=$(free_port)
start s_server.log openssl s_server -accept "127.0.0.1:$SS_PORT" -cert srv.pem -key srv.key -www -quiet
for _ in $(seq 50); do (echo | timeout 2 openssl s_client -connect "127.0.0.1:$SS_PORT" >/dev/null 2>&1) && break; sleep 0.1; done
out=$(timeout 30 "$T" get --cacert ca.pem "https://localhost:$SS_PORT/" 2>&1 | grep -c 'Ciphers supported in s_server')
check "tetsuo get from openssl s_server -www over TLS" "1" "$out"
out=$(timeout 30 "$T" get "https://localhost:$SS_PORT/" 2>&1; echo "exit=$?")
check "tetsuo get refuses s_server's certificate without --cacert (exit 60)" "exit=60" \
    "$(echo "$out" | tail -1)"

check "metrics count the requests" "yes" \
    "$(c "http://$HTTP/metrics" | grep 'tetsuo_http_requests_total{class="2xx"}' >/dev/null && echo yes || echo no)"

finish
