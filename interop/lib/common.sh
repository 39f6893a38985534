# Shared helpers for interop scripts: sourced, not run.
#
# Every script: installs its peers idempotently, starts processes only on
# loopback, records their PIDs and stops exactly those on exit, bounds every
# step with `timeout`, prints PASS/FAIL per check and one summary line, and
# exits non-zero if any check failed.

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NAME=${NAME:-$(basename "$0" .sh)}
WORK=$(mktemp -d "/tmp/tetsuo-interop-$NAME.XXXXXX")
PASSED=0
FAILED=0
STARTED_PIDS=()

cleanup() {
    # KEEP=1 leaves the processes and the work directory for debugging.
    [ -n "${KEEP:-}" ] && return
    for pid in "${STARTED_PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${STARTED_PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# apt_install PACKAGE COMMAND: install PACKAGE unless COMMAND already exists.
apt_install() {
    command -v "$2" >/dev/null 2>&1 && return 0
    if [ -z "${APT_UPDATED:-}" ]; then
        timeout 300 apt-get update -qq >/dev/null && APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq "$1" >/dev/null
}

# The tetsuo binary, built once (debug profile, shared with `cargo test`).
tetsuo_bin() {
    if [ -z "${TETSUO:-}" ]; then
        (cd "$ROOT" && timeout 900 cargo build -q -p tetsuo-cli) || {
            echo "$NAME: cannot build tetsuo" >&2
            exit 1
        }
        TETSUO="$ROOT/target/debug/tetsuo"
    fi
    echo "$TETSUO"
}

# make_certs CA_NAME [SAN...]: a throw-away CA (ca.pem, ca.key) and a
# certificate for localhost (srv.pem, srv.key) it signed, valid for
# DNS:localhost, IP:127.0.0.1 and any extra SAN given (e.g. DNS:a.test), in
# the current directory.
make_certs() {
    local ca=$1 san="DNS:localhost,IP:127.0.0.1" extra
    shift
    for extra in "$@"; do san="$san,$extra"; done
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
        -out ca.pem -days 2 -subj "/CN=$ca" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
        >/dev/null 2>&1
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key \
        -out srv.csr -subj "/CN=localhost" >/dev/null 2>&1
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" >srv.ext
    openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -out srv.pem -extfile srv.ext >/dev/null 2>&1
}

# free_ports N: N loopback ports (TCP and UDP) free now, for peers that
# cannot listen on port 0 and say which port they got. They come from below
# the kernel's ephemeral range, so no connection's source port can take one
# before the peer binds it (as it can a port from bind(0), which is inside
# that range); each is checked by binding it, and none is handed out twice
# in one script (two picks made before either peer binds could otherwise
# agree).
free_ports() {
    "${PYTHON:-python3}" - "$1" "$WORK/.ports" <<'PY'
import os, random, socket, sys
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
first = 10000 if low > 12000 else 1024
given = sys.argv[2]
taken = set(open(given).read().split()) if os.path.exists(given) else set()
got = []
while len(got) < int(sys.argv[1]):
    port = random.randrange(first, low)
    if port in got or str(port) in taken:
        continue
    try:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            with socket.socket(socket.AF_INET, kind) as s:
                s.bind(("127.0.0.1", port))
    except OSError:
        continue
    got.append(port)
with open(given, "a") as f:
    f.write(" ".join(map(str, got)) + "\n")
print(*got)
PY
}
free_port() { free_ports 1; }

# port_in LOG PATTERN: the port on the first line of LOG matching PATTERN
# (the last ":PORT" or "port PORT" on it), for a server started on port 0
# that says where it listens.
port_in() { wait_for_line "$1" "$2" | sed -E 's/.*(:|port )([0-9]+).*/\2/'; }

# start LOG CMD...: run CMD in the background, its stdout and stderr to LOG.
start() {
    local log=$1
    shift
    "$@" >"$log" 2>&1 </dev/null &
    STARTED_PIDS+=($!)
}

# wait_for_line LOG PATTERN: wait (up to 10 s) for PATTERN in LOG; print the line.
wait_for_line() {
    local i
    for i in $(seq 100); do
        if grep -m1 -- "$2" "$1" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "$NAME: timed out waiting for '$2' in $1" >&2
    return 1
}

# check DESCRIPTION EXPECTED ACTUAL
check() {
    if [ "$2" == "$3" ]; then
        PASSED=$((PASSED + 1))
        echo "PASS $1"
    else
        FAILED=$((FAILED + 1))
        echo "FAIL $1: expected [$2], got [$3]"
    fi
}

# finish: the one-line summary and the exit code.
finish() {
    echo "$NAME: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}
