#!/usr/bin/env bash
# tetsuo echo / tetsuo connect against peers we did not write: OpenBSD netcat
# and Python's socket module, over TCP (IPv4, IPv6), UDP and Unix sockets.
source "$(dirname "$0")/lib/common.sh"

apt_install netcat-openbsd nc
T=$(tetsuo_bin)
PY=${PYTHON:-python3}

# --- tetsuo echo, answered to third-party clients ---------------------------
start "$WORK/tcp.log" "$T" echo --listen 127.0.0.1:0 --listen '[::1]:0'
V4=$(wait_for_line "$WORK/tcp.log" 'tcp://127' | sed 's|.*tcp://||')
V6=$(wait_for_line "$WORK/tcp.log" 'tcp://\[' | sed 's|.*tcp://\[::1\]:||')
V4PORT=${V4##*:}

check "nc -> tetsuo echo (tcp, IPv4)" "hello" \
    "$(printf hello | timeout 10 nc -N 127.0.0.1 "$V4PORT")"
check "nc -> tetsuo echo (tcp, IPv6)" "hello6" \
    "$(printf hello6 | timeout 10 nc -6 -N ::1 "$V6")"
check "python3 -> tetsuo echo (tcp, 1 MiB)" "1048576 ok" "$(timeout 20 "$PY" - "$V4PORT" <<'PYEOF'
import socket, sys, threading
data = bytes(i % 251 for i in range(1 << 20))
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
threading.Thread(target=send).start()
got = bytearray()
while chunk := s.recv(65536):
    got += chunk
print(len(got), "ok" if got == data else "mismatch")
PYEOF
)"

start "$WORK/udp.log" "$T" echo --udp --listen 127.0.0.1:0
UDP=$(wait_for_line "$WORK/udp.log" 'udp://' | sed 's|.*udp://127.0.0.1:||')
check "python3 -> tetsuo echo (udp)" "datagram" "$(timeout 10 "$PY" - "$UDP" <<'PYEOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(b"datagram", ("127.0.0.1", int(sys.argv[1])))
print(s.recvfrom(100)[0].decode())
PYEOF
)"
check "nc -u -> tetsuo echo (udp)" "dgram2" \
    "$(printf dgram2 | timeout 10 nc -u -w1 127.0.0.1 "$UDP")"

SOCK="$WORK/echo.sock"
start "$WORK/unix.log" "$T" echo --unix "$SOCK"
wait_for_line "$WORK/unix.log" 'unix:' >/dev/null
check "nc -U -> tetsuo echo (unix)" "local" "$(printf local | timeout 10 nc -N -U "$SOCK")"

# --- tetsuo connect, against third-party servers ----------------------------
cat >"$WORK/pyecho.py" <<'PYEOF'
import socket, sys, threading
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
srv = socket.socket(family, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], 0))
srv.listen(16)
print("listening on", srv.getsockname()[1], file=sys.stderr, flush=True)
def serve(c):
    while data := c.recv(65536):
        c.sendall(data)
    c.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PYEOF
start "$WORK/py4.log" "$PY" "$WORK/pyecho.py" 127.0.0.1
PY4=$(wait_for_line "$WORK/py4.log" 'listening on' | awk '{print $3}')
start "$WORK/py6.log" "$PY" "$WORK/pyecho.py" ::1
PY6=$(wait_for_line "$WORK/py6.log" 'listening on' | awk '{print $3}')

check "tetsuo connect -> python3 echo (IPv4)" "abc" \
    "$(printf abc | timeout 10 "$T" connect "127.0.0.1:$PY4")"
check "tetsuo connect -> python3 echo (IPv6)" "abc6" \
    "$(printf abc6 | timeout 10 "$T" connect "[::1]:$PY6")"
check "tetsuo connect -> tetsuo echo" "round trip" \
    "$(printf 'round trip' | timeout 10 "$T" connect "$V4")"

# nc as a one-shot server: it sends its greeting, reads ours, then closes.
NCPORT=$(free_port)
printf greeting | timeout 10 nc -l -N 127.0.0.1 "$NCPORT" >"$WORK/nc-got" &
NCPID=$!
STARTED_PIDS+=($NCPID)
for _ in $(seq 50); do
    out=$(printf 'from tetsuo' | timeout 10 "$T" connect "127.0.0.1:$NCPORT" 2>/dev/null) && break
    sleep 0.1
done
wait "$NCPID" 2>/dev/null
check "tetsuo connect <-> nc -l (both directions)" "greeting|from tetsuo" "$out|$(cat "$WORK/nc-got")"

# --- errors: one line, curl's exit codes ------------------------------------
FREE=$(free_port)
err=$(timeout 10 "$T" connect "127.0.0.1:$FREE" </dev/null 2>&1 >/dev/null)
rc=$?
check "refused: exit 7, one line" "7|tetsuo: connect to 127.0.0.1:$FREE: connection refused" "$rc|$err"

# A listener whose accept queue is full drops SYNs: the connect must time out.
cat >"$WORK/full.py" <<'PYEOF'
import socket, sys, time
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(0)
port = srv.getsockname()[1]
held = []
for _ in range(16):
    c = socket.socket()
    c.settimeout(0.2)
    try:
        c.connect(("127.0.0.1", port))
        held.append(c)
    except socket.timeout:
        break
print("listening on", port, file=sys.stderr, flush=True)
time.sleep(60)
PYEOF
start "$WORK/full.log" "$PY" "$WORK/full.py"
FULL=$(wait_for_line "$WORK/full.log" 'listening on' | awk '{print $3}')
err=$(timeout 10 "$T" connect --connect-timeout 0.5 "127.0.0.1:$FULL" </dev/null 2>&1 >/dev/null)
rc=$?
check "timeout: exit 28, one line" "28|tetsuo: connect to 127.0.0.1:$FULL: not connected within 500ms: 127.0.0.1:$FULL (no answer)" "$rc|$err"

finish
