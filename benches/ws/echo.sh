#!/usr/bin/env bash
# WebSocket echo throughput: tetsuo's server against tokio-tungstenite's,
# both loaded by the same tokio-tungstenite client (64 connections, one
# message in flight each), with 64-byte and 16 KiB binary messages.
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
PORT=19101
for size in 64 16384; do
    for round in $(seq "$ROUNDS"); do
        for server in tetsuo tungstenite; do
            "$BIN/ws_echo" "$server" "127.0.0.1:$PORT" 2>/dev/null &
            pid=$!
            sleep 0.5
            printf '%-12s round %s: ' "$server" "$round"
            "$BIN/ws_load" "ws://127.0.0.1:$PORT/" "$CONNS" "$size" "$SECS"
            kill "$pid"
            wait "$pid" 2>/dev/null || true
        done
    done
done
