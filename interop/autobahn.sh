#!/usr/bin/env bash
# Autobahn|Testsuite against tetsuo's WebSocket, both directions:
# `wstest -m fuzzingclient` against `tetsuo serve`'s /ws echo, and
# `wstest -m fuzzingserver` against tetsuo's client (`tetsuo ws --autobahn`).
# Fails on any case whose behaviour is not OK, NON-STRICT or INFORMATIONAL.
#
# AUTOBAHN_CASES picks the cases (a JSON list; default: every case of
# categories 1-10 and the first group of 12 and 13, which fit CI's budget);
# AUTOBAHN_CASES='["*"]' runs all 517. AUTOBAHN_REPORTS=DIR keeps the
# reports (index.json per direction) there.
source "$(dirname "$0")/lib/common.sh"

PY27=${PY27:-/root/.pyenv/versions/2.7.18/bin/python2.7}
AB=${AUTOBAHN_VENV:-/opt/tetsuo-autobahn}
CASES=${AUTOBAHN_CASES:-'["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "8.*", "9.*", "10.*", "12.1.*", "13.1.*"]'}

# --- wstest, installed once (Python 2.7 virtualenv, pinned dependencies) --------
if ! [ -x "$AB/bin/wstest" ]; then
    test -x "$PY27" || { echo "$NAME: python 2.7 missing at $PY27" >&2; exit 1; }
    rm -rf "$AB" "$WORK/boot"
    timeout 300 python3 -m venv "$WORK/boot" \
        && timeout 300 "$WORK/boot/bin/pip" install -q 'virtualenv<20.22' \
        && timeout 300 "$WORK/boot/bin/virtualenv" -q -p "$PY27" "$AB" \
        && timeout 600 "$AB/bin/pip" install -q -r "$(dirname "$0")/autobahn-requirements.txt" \
        && timeout 300 "$AB/bin/pip" install -q --no-deps autobahntestsuite==25.10.1 \
        || { echo "$NAME: installing wstest failed" >&2; rm -rf "$AB"; exit 1; }
    # The fuzzing server listens on every interface and has no option for
    # it: bind it to loopback.
    "$AB/bin/python" - <<'EOF'
import autobahntestsuite, os
path = os.path.join(os.path.dirname(autobahntestsuite.__file__), "fuzzing.py")
src = open(path, "rb").read()
src = src.replace(b"listenWS(factory, sslContext)", b"listenWS(factory, sslContext, interface='127.0.0.1')")
src = src.replace(b"reactor.listenTCP(webport, web)", b"reactor.listenTCP(webport, web, interface='127.0.0.1')")
open(path, "wb").write(src)
EOF
fi

T=$(tetsuo_bin)
cd "$WORK" || exit 1

# verdict DIR AGENT: one PASS/FAIL line per bad case, a summary, and a check.
verdict() {
    python3 - "$1/index.json" "$2" <<'EOF'
import json, sys, collections
index = json.load(open(sys.argv[1]))[sys.argv[2]]
good = {"OK", "NON-STRICT", "INFORMATIONAL"}
counts = collections.Counter()
bad = []
for case, result in sorted(index.items(), key=lambda kv: [int(x) for x in kv[0].split(".")]):
    for key in ("behavior", "behaviorClose"):
        counts[(key, result[key])] += 1
    if result["behavior"] not in good or result["behaviorClose"] not in good:
        bad.append("%s %s/%s" % (case, result["behavior"], result["behaviorClose"]))
print("%d cases; behaviour: %s; close: %s" % (
    len(index),
    ", ".join("%s %d" % (b, n) for (k, b), n in sorted(counts.items()) if k == "behavior"),
    ", ".join("%s %d" % (b, n) for (k, b), n in sorted(counts.items()) if k == "behaviorClose"),
))
for line in bad[:40]:
    print("  bad: " + line)
sys.exit(1 if bad else 0)
EOF
}

# --- fuzzingclient -> tetsuo serve /ws ------------------------------------------
start serve.log "$T" serve --listen 127.0.0.1:0 --max-conns-per-ip 0 --conn-rate-per-ip 0
HTTP=$(wait_for_line serve.log 'http://' | sed 's|.*http://||')
cat >client.json <<EOF
{"outdir": "$WORK/reports/server", "servers": [{"agent": "tetsuo", "url": "ws://$HTTP/ws"}],
 "cases": $CASES, "exclude-cases": [], "exclude-agent-cases": {}}
EOF
timeout 1800 "$AB/bin/wstest" -m fuzzingclient -s client.json >fuzzingclient.log 2>&1
summary=$(verdict reports/server tetsuo)
rc=$?
echo "$summary" | sed 's/^/  /'
check "Autobahn fuzzingclient -> tetsuo serve /ws: no failed case" 0 "$rc"

# --- fuzzingserver <- tetsuo ws --autobahn --------------------------------------
PORT=$(free_port)
cat >server.json <<EOF
{"url": "ws://127.0.0.1:$PORT", "outdir": "$WORK/reports/client",
 "cases": $CASES, "exclude-cases": [], "exclude-agent-cases": {}}
EOF
start fuzzingserver.log "$AB/bin/wstest" -m fuzzingserver -s server.json -u 0
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done
timeout 1800 "$T" ws --autobahn tetsuo "ws://127.0.0.1:$PORT" >client.log 2>&1
summary=$(verdict reports/client tetsuo)
rc=$?
echo "$summary" | sed 's/^/  /'
check "Autobahn fuzzingserver <- tetsuo ws: no failed case" 0 "$rc"

if [ -n "${AUTOBAHN_REPORTS:-}" ]; then
    mkdir -p "$AUTOBAHN_REPORTS"
    cp -r reports/. "$AUTOBAHN_REPORTS/"
fi

echo "$NAME: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
