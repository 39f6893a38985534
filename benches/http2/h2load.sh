#!/usr/bin/env bash
# HTTP/2 plaintext /hello with h2load (-c CONNS -m 10 streams each, one
# client thread): `tetsuo serve` and tetsuo's bare server
# (benches/examples/tetsuo_hello.rs) with prior knowledge (h2c), side by
# side with a hyper 1.x h2c server (benches/examples/hyper_h2c.rs) and
# nghttpd, nghttp2's server (the C reference, one worker), serving the same
# 13-byte body; alternated A B C D E so that drift hits all. `tetsuo-1core`
# is `tetsuo serve --thread-per-core --threads 1`: one thread, as nghttpd
# runs, leaving the other core to h2load.
#
#   bash benches/http2/h2load.sh [ROUNDS] [REQUESTS] [CONNS]
#
# Needs h2load and nghttpd (apt-get install nghttp2-client nghttp2-server).
# Loopback only; stops exactly the servers it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
REQUESTS=${2:-500000}
CONNS=${3:-64}
for tool in h2load nghttpd; do
    command -v "$tool" >/dev/null || { echo "$tool is needed (nghttp2-client, nghttp2-server)" >&2; exit 1; }
done
cargo build -q --release -p tetsuo-cli --bin tetsuo
cargo build -q --release -p tetsuo-benches --example hyper_h2c --example tetsuo_hello
root=$(mktemp -d)
printf 'Hello, World!' >"$root/hello"

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$root"
}
trap cleanup EXIT
target/release/examples/hyper_h2c 127.0.0.1:18811 2>/dev/null & pids+=($!)
target/release/tetsuo serve --listen 127.0.0.1:18812 --max-conns-per-ip 0 2>/dev/null & pids+=($!)
target/release/examples/tetsuo_hello 127.0.0.1:18813 2>/dev/null & pids+=($!)
nghttpd --no-tls -d "$root" 18814 >/dev/null 2>&1 & pids+=($!)
target/release/tetsuo serve --listen 127.0.0.1:18815 --max-conns-per-ip 0 --thread-per-core --threads 1 \
    2>/dev/null & pids+=($!)
sleep 1

# cpu_ticks PID: the process's user + system time, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

declare -A runs
names=(hyper tetsuo tetsuo-bare nghttpd tetsuo-1core)
ports=(18811 18812 18813 18814 18815)
for round in $(seq "$ROUNDS"); do
    for i in 0 1 2 3 4; do
        before=$(cpu_ticks "${pids[$i]}")
        out=$(h2load -n "$REQUESTS" -c "$CONNS" -m 10 -t 1 "http://127.0.0.1:${ports[$i]}/hello" 2>&1)
        after=$(cpu_ticks "${pids[$i]}")
        rps=$(echo "$out" | sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' | cut -d. -f1)
        ok=$(echo "$out" | sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p')
        runs[${names[$i]}]+="$rps "
        # The server's CPU time (user + system) per request.
        cpu=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$REQUESTS" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
        echo "round $round ${names[$i]}: $rps req/s ($ok of $REQUESTS succeeded), server CPU $cpu us/request"
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
h=$(echo "${runs[hyper]}" | median)
n=$(echo "${runs[nghttpd]}" | median)
echo
echo "h2load -n $REQUESTS -c $CONNS -m 10 -t 1 /hello, median of $ROUNDS (ratios: to hyper, to nghttpd):"
for name in hyper tetsuo tetsuo-bare nghttpd tetsuo-1core; do
    m=$(echo "${runs[$name]}" | median)
    printf '  %-12s %8d req/s  %.2f  %.2f\n' "$name" "$m" "$(echo "$m / $h" | bc -l)" "$(echo "$m / $n" | bc -l)"
done
