#!/usr/bin/env bash
# Is `tetsuo bench` fast enough not to be the bottleneck? It and the load
# generator a user would otherwise pick (wrk for HTTP/1.1, h2load for
# HTTP/2) take turns (A B A B) against the same `tetsuo serve` on one
# server thread pinned to CPU 0, each generator on one thread pinned to CPU
# 1; prints each round and the
# medians of requests/s and mean latency, with the ratio.
#
#   bash benches/loadgen.sh [ROUNDS] [SECS]      (default 5 rounds of 5 s)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
SECS=${2:-5}
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)" >&2; exit 1; }
command -v h2load >/dev/null || { echo "install h2load (apt-get install nghttp2-client)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "install GNU time (apt-get install time)" >&2; exit 1; }
cargo build -q --release -p tetsuo-cli
T=target/release/tetsuo
WORK=$(mktemp -d)
# The server on CPU 0, each load generator on CPU 1.
taskset -c 0 "$T" serve --listen 127.0.0.1:0 --thread-per-core --threads 1 2>"$WORK/serve.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do grep -q 'http://' "$WORK/serve.log" && break; sleep 0.1; done
URL="http://$(grep -m1 -o 'http://[0-9.:]*' "$WORK/serve.log" | sed 's|http://||')/hello"

# Each line: round tool protocol req/s mean p50 p99 cpu (latencies in µs;
# h2load reports no percentiles; cpu: the generator's own user + system
# time per request, in µs).
cpu() {  # cpu REQUESTS: from the last /usr/bin/time output
    awk -v n="$1" '{ printf "%.2f", ($1 + $2) * 1000000 / n }' "$WORK/time"
}
for round in $(seq "$ROUNDS"); do
    line=$(/usr/bin/time -f "%U %S" -o "$WORK/time" taskset -c 1 wrk -t1 -c50 -d"${SECS}s" --latency "$URL" | awk -v r="$round" '
        function us(v,   u) { u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
            return (u == "ms") ? v * 1000 : (u == "s") ? v * 1000000 : v }
        /Latency/ && !lat { lat = us($2) }
        $1 == "50%" { p50 = us($2) }
        $1 == "99%" { p99 = us($2) }
        /Requests\/sec/ { rps = $2 }
        / requests in / { n = $1 }
        END { printf "%s wrk http1 %s %s %s %s %s\n", r, rps, lat, p50, p99, n }')
    echo "${line% *} $(cpu "${line##* }")"
    line=$(/usr/bin/time -f "%U %S" -o "$WORK/time" taskset -c 1 "$T" bench --json -t1 -c50 -d"$SECS" "$URL" | python3 -c '
import json, sys
r = json.load(sys.stdin)
l = r["latency_us"]
print(sys.argv[1], "tetsuo-bench http1", r["requests_per_sec"], l["mean"], l["p50"], l["p99"], r["requests"])' "$round")
    echo "${line% *} $(cpu "${line##* }")"
    line=$(/usr/bin/time -f "%U %S" -o "$WORK/time" taskset -c 1 h2load -t1 -c50 -m10 -D"$SECS" "$URL" | awk -v r="$round" '
        /finished in/ { rps = $4 }
        /time for request/ { v = $6; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
            lat = (u == "ms") ? v * 1000 : (u == "s") ? v * 1000000 : v }
        /^requests:/ { n = $8 }
        END { printf "%s h2load http2 %s %s - - %s\n", r, rps, lat, n }')
    echo "${line% *} $(cpu "${line##* }")"
    line=$(/usr/bin/time -f "%U %S" -o "$WORK/time" taskset -c 1 "$T" bench --json --http2 -t1 -c50 -m10 -d"$SECS" "$URL" | python3 -c '
import json, sys
r = json.load(sys.stdin)
l = r["latency_us"]
print(sys.argv[1], "tetsuo-bench http2", r["requests_per_sec"], l["mean"], l["p50"], l["p99"], r["requests"])' "$round")
    echo "${line% *} $(cpu "${line##* }")"
done | tee "$WORK/rounds" | awk '{ printf "round %s  %-13s %-6s %10.0f req/s  mean %6.0f  p50 %6s  p99 %6s us  cpu %s us/req\n", $1, $2, $3, $4, $5, $6, $7, $8 }'

python3 - "$WORK/rounds" <<'PYEOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
def med(tool, proto, col):
    values = [float(r[col]) for r in rows if r[1] == tool and r[2] == proto and r[col] != "-"]
    return statistics.median(values) if values else None
def us(v):
    return "–" if v is None else f"{v:,.0f} µs"
print()
print("| protocol | peer | peer req/s | tetsuo bench req/s | ratio | mean latency (peer / bench) | p50 (peer / bench) | p99 (peer / bench) | generator CPU per request (peer / bench) |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for proto, peer in (("http1", "wrk"), ("http2", "h2load")):
    p, t = med(peer, proto, 3), med("tetsuo-bench", proto, 3)
    cells = [f"{us(med(peer, proto, c))} / {us(med('tetsuo-bench', proto, c))}" for c in (4, 5, 6)]
    cells.append(f"{med(peer, proto, 7):.2f} µs / {med('tetsuo-bench', proto, 7):.2f} µs")
    print(f"| {proto} | {peer} | {p:,.0f} | {t:,.0f} | {t / p:.2f} | " + " | ".join(cells) + " |")
PYEOF
