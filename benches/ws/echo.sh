#!/usr/bin/env bash
# WebSocket echo throughput: tetsuo's server against tokio-tungstenite's,
# both loaded by the same tokio-tungstenite client (64 connections, one
# message in flight each), with 64-byte and 16 KiB binary messages; prints
# messages per second and the server's CPU time per message.
#
#   bash benches/ws/echo.sh [ROUNDS] [SECS] [CONNS]
#
# Loopback only; stops exactly the servers it starts.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
SECS=${2:-5}
CONNS=${3:-64}
cargo build -q --release -p tetsuo-benches --example ws_echo --example ws_load
BIN=target/release/examples
HZ=$(getconf CLK_TCK)

# cpu_ticks PID: the process's user and system time, in clock ticks.
cpu_ticks() {
    awk '{ print $14, $15 }' "/proc/$1/stat"
}
PORT=19101
for size in 64 16384; do
    for round in $(seq "$ROUNDS"); do
        for server in tetsuo tungstenite; do
            "$BIN/ws_echo" "$server" "127.0.0.1:$PORT" 2>/dev/null &
            pid=$!
            sleep 0.5
            printf '%-12s round %s: ' "$server" "$round"
            before=$(cpu_ticks "$pid")
            line=$("$BIN/ws_load" "ws://127.0.0.1:$PORT/" "$CONNS" "$size" "$SECS")
            after=$(cpu_ticks "$pid")
            rate=$(echo "$line" | sed -n 's/.*: \([0-9]*\) msgs\/s.*/\1/p')
            # The server's CPU time per message echoed, user + system.
            echo "$line; server CPU/msg $(echo "$before $after" | awk -v hz="$HZ" -v n="$((rate * SECS))" \
                '{ u = ($3 - $1) / hz * 1e6 / n; k = ($4 - $2) / hz * 1e6 / n;
                   printf "%.1f us user + %.1f us system", u, k }')"
            kill "$pid"
            wait "$pid" 2>/dev/null || true
        done
    done
done
