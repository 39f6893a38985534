#!/usr/bin/env bash
# wrk plaintext /hello: `tetsuo serve` (default runtime and --thread-per-core)
# side by side with a hyper 1.x hello server (benches/examples/hyper_hello.rs)
# and tetsuo's server with nothing around it (benches/examples/tetsuo_hello.rs),
# alternated A B C D A B C D so that drift on a shared machine hits all.
#
#   bash benches/http/hello.sh [ROUNDS] [SECONDS] [CONNECTIONS]
#
# Prints each run with the CPU time per request of the server (user and
# system) and of wrk, then the medians and the ratios tetsuo / hyper. Needs wrk
# (apt-get install wrk). Loopback only; stops exactly the servers it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
SECS=${2:-5}
CONNS=${3:-64}
THREADS=$(nproc)

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build -q --release -p tetsuo-cli --bin tetsuo
cargo build -q --release -p tetsuo-benches --example hyper_hello --example tetsuo_hello

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

target/release/examples/hyper_hello 127.0.0.1:18181 2>/dev/null & pids+=($!)
target/release/tetsuo serve --listen 127.0.0.1:18182 --max-conns-per-ip 0 2>/dev/null & pids+=($!)
target/release/tetsuo serve --listen 127.0.0.1:18183 --max-conns-per-ip 0 --thread-per-core 2>/dev/null & pids+=($!)
target/release/examples/tetsuo_hello 127.0.0.1:18184 2>/dev/null & pids+=($!)
for port in 18181 18182 18183 18184; do
    for _ in $(seq 50); do
        curl -sf "http://127.0.0.1:$port/hello" >/dev/null && break
        sleep 0.1
    done
done

# cpu_ticks PID: the process's user and system time, in clock ticks.
cpu_ticks() { awk '{ print $14, $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
TIMEFORMAT='wrk-cpu %U %S'

declare -A runs
names=(hyper tetsuo tetsuo-tpc tetsuo-bare)
ports=(18181 18182 18183 18184)
for round in $(seq "$ROUNDS"); do
    for i in 0 1 2 3; do
        before=$(cpu_ticks "${pids[$i]}")
        out=$( { time wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" "http://127.0.0.1:${ports[$i]}/hello"; } 2>&1)
        after=$(cpu_ticks "${pids[$i]}")
        rps=$(echo "$out" | awk '/Requests\/sec/ {printf "%d", $2}')
        runs[${names[$i]}]+="$rps "
        # CPU per request: the server's user and system time, and wrk's.
        cpu=$(echo "$before $after $(echo "$out" | awk '/^wrk-cpu/ {print $2 + $3}')" \
            | awk -v hz="$HZ" -v n="$((rps * SECS))" '{
                printf "server %.1f us user + %.1f us system, wrk %.1f us",
                    ($3 - $1) / hz * 1e6 / n, ($4 - $2) / hz * 1e6 / n, $5 * 1e6 / n }')
        echo "round $round ${names[$i]}: $rps req/s; per request: $cpu"
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
h=$(echo "${runs[hyper]}" | median)
t=$(echo "${runs[tetsuo]}" | median)
p=$(echo "${runs[tetsuo-tpc]}" | median)
b=$(echo "${runs[tetsuo-bare]}" | median)
echo
echo "wrk -t$THREADS -c$CONNS -d${SECS}s /hello, median of $ROUNDS:"
printf '  hyper 1.x (multi-thread)      %8d req/s\n' "$h"
printf '  tetsuo serve (multi-thread)   %8d req/s  ratio %.2f\n' "$t" "$(echo "$t / $h" | bc -l)"
printf '  tetsuo serve --thread-per-core %7d req/s  ratio %.2f\n' "$p" "$(echo "$p / $h" | bc -l)"
printf '  tetsuo_hello (bare server)    %8d req/s  ratio %.2f\n' "$b" "$(echo "$b / $h" | bc -l)"
