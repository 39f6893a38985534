#!/usr/bin/env python3
"""User-space memory per idle keep-alive connection.

Starts a server command, opens N connections to it, sends one GET on each
(so each is an idle keep-alive connection that has served a request), and
reports the growth of the server's resident memory per connection.

    python3 benches/http/idle_rss.py N PORT [--ws PATH] -- COMMAND...

With --ws PATH each connection is a WebSocket instead (the opening
handshake to PATH, then idle).

Loopback only; stops exactly the server it started.
"""
import resource
import socket
import subprocess
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main():
    n = int(sys.argv[1])
    port = int(sys.argv[2])
    opts = sys.argv[3:sys.argv.index("--")]
    ws_path = opts[opts.index("--ws") + 1] if "--ws" in opts else None
    cmd = sys.argv[sys.argv.index("--") + 1:]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1024), hard))
    server = subprocess.Popen(cmd, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(0.5)
        before = rss_kib(server.pid)
        conns = []
        request = b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n"
        expect = b"Hello, World!"
        if ws_path:
            request = (f"GET {ws_path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n").encode()
            expect = b"\r\n\r\n"
        for i in range(n):
            # Spread over 127.0.0.0/8 sources so per-IP limits do not apply.
            s = socket.socket()
            s.bind((f"127.0.{1 + i // 250 % 250}.{1 + i % 250}", 0))
            s.connect(("127.0.0.1", port))
            s.sendall(request)
            conns.append(s)
        for s in conns:
            s.settimeout(5)
            data = b""
            while expect not in data:
                chunk = s.recv(4096)
                if not chunk:
                    raise RuntimeError("server closed a connection")
                data += chunk
        # Idle connections give their buffers back after a moment.
        time.sleep(2)
        after = rss_kib(server.pid)
        per = (after - before) * 1024 / n
        print(f"{' '.join(cmd)}: {n} idle connections, RSS {before} KiB -> {after} KiB, "
              f"{per:.0f} bytes per connection")
        for s in conns:
            s.close()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
