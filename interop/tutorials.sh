#!/usr/bin/env bash
# The tutorials of docs/, followed from an empty directory as a reader would
# (interop/lib/tutorial.py): every command run, every file written, the
# program built and started, and the outputs the tutorial shows checked
# against what curl, nc and the program printed.
source "$(dirname "$0")/lib/common.sh"

apt_install curl curl
apt_install netcat-openbsd nc
PYTHON=${PYTHON:-python3}
for port in 3000 3443 7000; do
    if nc -z 127.0.0.1 "$port" 2>/dev/null; then
        echo "$NAME: port $port is taken; the tutorial needs it" >&2
        exit 1
    fi
done

# The HTTP server tutorial, and the migration guide's echo server (its
# libevent/libuv section), each in a scratch crate of its own.
for doc in tutorial-http-server migrating; do
    out=$(timeout 700 "$PYTHON" "$ROOT/interop/lib/tutorial.py" "$ROOT/docs/$doc.md" "$ROOT" "$WORK/$doc" 2>&1)
    status=$?
    echo "$out"
    check "docs/$doc.md followed from an empty directory" 0 "$status"
    PASSED=$((PASSED + $(grep -c '^PASS' <<<"$out")))
    FAILED=$((FAILED + $(grep -c '^FAIL' <<<"$out")))
done
finish
