#!/usr/bin/env bash
# tetsuo's HTTP/2 server against the clients people use: curl with prior
# knowledge (h2c) and over TLS (ALPN), nghttp (nghttp2's client, both ways,
# 50 concurrent streams), python's `h2` library (a client written on the
# sans-I/O core python users pick), and short bounded h2load runs, against
# `tetsuo serve`; HTTP/1.1 still answered on the same listeners. And tetsuo's
# client (`tetsuo get`) against nghttpd, over TLS (ALPN) and h2c.
source "$(dirname "$0")/lib/common.sh"

PYTHON=${PYTHON:-python3}
apt_install curl curl
apt_install nghttp2-client nghttp
"$PYTHON" -c 'import h2' 2>/dev/null || timeout 300 "$PYTHON" -m pip install -q 'h2>=4'
T=$(tetsuo_bin)
cd "$WORK" || exit 1

head -c 3000000 /dev/urandom >up.bin
start serve.log "$T" serve --listen 127.0.0.1:0 --tls-listen 127.0.0.1:0 --max-conns-per-ip 0
HTTP=$(wait_for_line serve.log 'http://' | sed 's|.*http://||')
HTTPS=$(wait_for_line serve.log 'https://' | sed 's|.*https://||')

# --- curl ----------------------------------------------------------------------
check "curl --http2-prior-knowledge /hello" "2 200 Hello, World!" \
    "$(timeout 20 curl -s --http2-prior-knowledge "http://$HTTP/hello" -w ' %{http_version} %{http_code}' \
        | awk '{print $(NF-1), $NF, $1, $2}')"
check "curl --http2 over TLS (ALPN h2) /hello" "2 200" \
    "$(timeout 20 curl -sk --http2 "https://$HTTPS/hello" -o /dev/null -w '%{http_version} %{http_code}')"
check "curl h2c: 3 MB echoed under flow control" same \
    "$(timeout 60 curl -s --http2-prior-knowledge --data-binary @up.bin "http://$HTTP/echo" | cmp -s - up.bin && echo same)"
check "curl h2 over TLS: 3 MB echoed" same \
    "$(timeout 60 curl -sk --http2 --data-binary @up.bin "https://$HTTPS/echo" | cmp -s - up.bin && echo same)"
check "curl --http1.1 on the same listener" "1.1 200" \
    "$(timeout 20 curl -s --http1.1 "http://$HTTP/hello" -o /dev/null -w '%{http_version} %{http_code}')"

# --- nghttp --------------------------------------------------------------------
check "nghttp h2c: SETTINGS exchanged, 200 and the body" "yes yes yes" \
    "$(timeout 20 nghttp -v "http://$HTTP/hello" 2>&1 | awk '
        /recv SETTINGS frame/ {s="yes"} /:status: 200/ {st="yes"} /Hello, World!/ {b="yes"}
        END {print s, st, b}')"
check "nghttp over TLS: 200" "200" \
    "$(timeout 20 nghttp -ns "https://$HTTPS/hello" 2>&1 | awk '$1 ~ /^[0-9]+$/ && $5 == 200 {print $5; exit}')"
check "nghttp: 50 concurrent streams, all 200" 50 \
    "$(timeout 30 nghttp -ns -m 50 "http://$HTTP/hello" 2>&1 | awk '$5 == 200' | wc -l)"

# --- python h2 -----------------------------------------------------------------
cat >h2client.py <<'PYEOF'
import socket, sys
import h2.config, h2.connection, h2.events

host, port = sys.argv[1].rsplit(":", 1)
sock = socket.create_connection((host, int(port)), timeout=10)
conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
conn.initiate_connection()
body = b"x" * 200000
get = conn.get_next_available_stream_id()
conn.send_headers(get, [(":method", "GET"), (":scheme", "http"), (":authority", sys.argv[1]), (":path", "/hello")], end_stream=True)
post = conn.get_next_available_stream_id()
conn.send_headers(post, [(":method", "POST"), (":scheme", "http"), (":authority", sys.argv[1]), (":path", "/echo")])
sock.sendall(conn.data_to_send())
sent, got, ended, status = 0, {get: b"", post: b""}, set(), {}
while len(ended) < 2:
    # Send what flow control allows, then read.
    while sent < len(body):
        n = min(conn.local_flow_control_window(post), conn.max_outbound_frame_size, len(body) - sent)
        if n <= 0:
            break
        conn.send_data(post, body[sent:sent + n], end_stream=sent + n == len(body))
        sent += n
    sock.sendall(conn.data_to_send())
    data = sock.recv(65536)
    if not data:
        break
    for event in conn.receive_data(data):
        if isinstance(event, h2.events.ResponseReceived):
            status[event.stream_id] = dict(event.headers)[b":status"].decode()
        elif isinstance(event, h2.events.DataReceived):
            got[event.stream_id] += event.data
            conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            ended.add(event.stream_id)
    sock.sendall(conn.data_to_send())
print(status.get(get), got[get].decode(), status.get(post), got[post] == body)
PYEOF
check "python h2 client: GET and a 200 KB echo on one connection" "200 Hello, World! 200 True" \
    "$(timeout 30 "$PYTHON" h2client.py "$HTTP" 2>&1)"

# --- h2load --------------------------------------------------------------------
for url in "http://$HTTP/hello" "https://$HTTPS/hello"; do
    out=$(timeout 60 h2load -n 20000 -c 16 -m 10 "$url" 2>&1)
    echo "$out" | grep -E '^finished in' | sed 's/^/  /'
    check "h2load -n 20000 -c 16 -m 10 ${url%%:*}: every request succeeded" \
        "20000 succeeded, 0 failed" \
        "$(echo "$out" | sed -n 's/^requests: .* \([0-9]* succeeded\), \([0-9]* failed\).*/\1, \2/p')"
done

# --- tetsuo get against nghttpd (nghttp2's server) and tetsuo serve -------------
apt_install nghttp2-server nghttpd
mkdir -p root
printf 'Hello from nghttpd' >root/hello
make_certs "HTTP2 Interop CA"
# nghttpd takes a port number: two free ones.
read -r TLS_PORT H2C_PORT < <(free_ports 2)
start nghttpd-tls.log nghttpd -a 127.0.0.1 -d root "$TLS_PORT" srv.key srv.pem
start nghttpd-h2c.log nghttpd -a 127.0.0.1 --no-tls -d root "$H2C_PORT"
for port in "$TLS_PORT" "$H2C_PORT"; do
    for _ in $(seq 50); do
        (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
done
check "tetsuo get --http2 https:// (ALPN) -> nghttpd" "HTTP/2 200|Hello from nghttpd" \
    "$(timeout 20 "$T" get --http2 --cacert ca.pem -i "https://localhost:$TLS_PORT/hello" \
        | tr -d '\r' | awk 'NR == 1 || /Hello/' | paste -sd'|')"
check "tetsuo get --http2-prior-knowledge -> nghttpd (h2c)" "HTTP/2 200|Hello from nghttpd" \
    "$(timeout 20 "$T" get --http2-prior-knowledge -i "http://127.0.0.1:$H2C_PORT/hello" \
        | tr -d '\r' | awk 'NR == 1 || /Hello/' | paste -sd'|')"
check "tetsuo get https:// (h2 offered by default) -> nghttpd" "HTTP/2 200" \
    "$(timeout 20 "$T" get --cacert ca.pem -i "https://localhost:$TLS_PORT/hello" | head -1 | tr -d '\r')"
check "tetsuo get --http2-prior-knowledge -> tetsuo serve: 3 MB echoed" same \
    "$(timeout 60 "$T" get --http2-prior-knowledge --data-file up.bin "http://$HTTP/echo" | cmp -s - up.bin && echo same)"

# --- a flood, answered and counted ----------------------------------------------
# 2000 PINGs in one burst, their answers never read: GOAWAY ENHANCE_YOUR_CALM,
# the counter in /metrics, and the next client is served.
cat >flood.py <<'PYEOF'
import socket, struct, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=10)
frame = lambda kind, flags, stream, payload: struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b"") + frame(6, 0, 0, b"8 bytes!") * 2000)
data = b""
while True:
    try:
        chunk = s.recv(65536)
    except OSError:
        break
    if not chunk:
        break
    data += chunk
# Walk the frames for a GOAWAY; its code is the last 4 bytes but debug data.
i = 0
while i + 9 <= len(data):
    length = int.from_bytes(data[i:i+3], "big")
    if data[i+3] == 7:
        print("GOAWAY", int.from_bytes(data[i+13:i+17], "big"))
        break
    i += 9 + length
else:
    print("no GOAWAY")
PYEOF
check "a PING flood gets GOAWAY ENHANCE_YOUR_CALM (11)" "GOAWAY 11" \
    "$(timeout 20 "$PYTHON" flood.py "$HTTP")"
check "/metrics counts it" yes \
    "$(timeout 20 curl -s "http://$HTTP/metrics" \
        | grep '^tetsuo_http2_connection_errors_total{code="ENHANCE_YOUR_CALM"' >/dev/null && echo yes)"
check "the next client is served" "2 200" \
    "$(timeout 20 curl -s --http2-prior-knowledge "http://$HTTP/hello" -o /dev/null -w '%{http_version} %{http_code}')"

echo "$NAME: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
