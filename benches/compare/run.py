#!/usr/bin/env python3
"""Side-by-side benchmarks: tetsuo's servers and the ones a user would pick
instead, on loopback, each driven by the same load tool.

    python3 benches/compare/run.py [--rounds N] [--secs S] [--conns N]
                                   [--idle N] [--no-write]

Builds everything (release), starts every server pinned to CPU 0 with one
worker thread (the load generator runs on CPU 1), and for each scenario
takes turns A B C A B C for --rounds rounds of --secs seconds:

- HTTP/1.1 `GET /hello`, wrk: tetsuo's server alone
  (benches/examples/tetsuo_hello.rs, the same job as hyper's example),
  `tetsuo serve` (routing, metrics, dashboard around it), hyper 1.x,
  nginx (Debian);
- HTTP/2 h2c `GET /hello`, h2load -m 10: the same two tetsuo servers,
  hyper 1.x h2c, nghttpd;
- TCP echo of 64 bytes, `tetsuo bench tcp://`: tetsuo echo, tokio's echo
  example, and C servers on libuv, libevent and raw epoll
  (benches/compare/c/, built here against Debian's libuv1-dev and
  libevent-dev);
- WebSocket echo of 64-byte binary messages, `tetsuo bench ws://`:
  tetsuo serve's /ws and tokio-tungstenite.

Each run records requests/s, latency (p50, p99 where the tool reports
them) and the server's CPU time per request (its process tree's user +
system time from /proc). Then each server gets --idle idle connections
(HTTP: after one request each; WebSocket: after the handshake; echo: after
one round trip) and the growth of its resident memory per connection is
measured. Then the criterion benchmarks of the protocol cores
(benches/cores.rs, benches/h1_parse.rs) and benches/loadgen.sh (`tetsuo
bench` against wrk and h2load) run. Medians and ratios go into
docs/benchmarks.md (between the `compare`, `cores` and `loadgen` markers)
and SVG charts into docs/img/ (drawn with plotters by
benches/examples/compare_charts.rs); the raw figures go to
target/compare/results.json. Loopback only; stops exactly
the processes it started.
"""
import argparse
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVER_CPU = "0"
LOAD_CPU = "1"
HZ = os.sysconf("SC_CLK_TCK")


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def need(tool, package):
    if shutil.which(tool) is None:
        sys.exit(f"{tool} is needed: apt-get install {package}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid):
    """pid and every descendant."""
    tree, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                tree.append(int(entry))
                frontier.append(int(entry))
    return tree


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / HZ


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class ServerProcess:
    """A server process pinned to the server CPU."""

    def __init__(self, name, cmd, port, kind, path="/hello", env=None, cwd=None):
        self.name, self.port, self.kind, self.path = name, port, kind, path
        full_env = dict(os.environ, TOKIO_WORKER_THREADS="1", **(env or {}))
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU] + cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=full_env,
            cwd=cwd,
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"{name} did not start")
        self.pids = children(self.proc.pid)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def parse_us(text):
    m = re.match(r"([0-9.]+)(us|ms|s)$", text)
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 1, "ms": 1000, "s": 1_000_000}[unit]


def load(tool, url, secs, conns):
    """Runs the load tool on the load CPU: (requests, req/s, p50 µs, p99 µs)."""
    pin = ["taskset", "-c", LOAD_CPU]
    if tool == "wrk":
        out = sh(*pin, "wrk", "-t1", f"-c{conns}", f"-d{secs}s", "--latency", url,
                 capture_output=True, text=True).stdout
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
        p50 = parse_us(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
        p99 = parse_us(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
        return requests, rps, p50, p99
    if tool == "h2load":
        out = sh(*pin, "h2load", "-t1", f"-c{conns}", "-m10", f"-D{secs}", url,
                 capture_output=True, text=True).stdout
        requests = int(re.search(r"requests: .* (\d+) succeeded", out).group(1))
        rps = float(re.search(r"finished in [0-9.]+s, ([0-9.]+) req/s", out).group(1))
        return requests, rps, None, None
    if tool == "tetsuo-bench":
        out = sh(*pin, os.path.join(ROOT, "target/release/tetsuo"), "bench", "--json", "-t1",
                 f"-c{conns}", f"-d{secs}", url, capture_output=True, text=True).stdout
        r = json.loads(out)
        return r["requests"], r["requests_per_sec"], r["latency_us"]["p50"], r["latency_us"]["p99"]
    raise ValueError(tool)


def idle_rss(server, n):
    """Bytes of server RSS per idle connection, at n connections."""
    time.sleep(0.5)
    pids = children(server.proc.pid)
    before = rss_kib(pids)
    if server.kind == "http":
        request = f"GET {server.path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
        expect = b"Hello, World!"
    elif server.kind == "ws":
        request = (f"GET {server.path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n").encode()
        expect = b"\r\n\r\n"
    else:
        request = expect = b"x"
    conns = []
    try:
        for i in range(n):
            s = socket.socket()
            # Spread over 127.0.0.0/8 sources: per-IP limits do not apply.
            s.bind((f"127.0.{1 + i // 250 % 250}.{1 + i % 250}", 0))
            s.connect(("127.0.0.1", server.port))
            s.sendall(request)
            conns.append(s)
        for s in conns:
            s.settimeout(10)
            data = b""
            while expect not in data:
                chunk = s.recv(4096)
                if not chunk:
                    raise RuntimeError(f"{server.name} closed a connection")
                data += chunk
        time.sleep(2)
        after = rss_kib(children(server.proc.pid))
    finally:
        for s in conns:
            s.close()
    return (after - before) * 1024 / n


def build(work):
    print("== build", flush=True)
    sh("cargo", "build", "-q", "--release", "-p", "tetsuo-cli", cwd=ROOT)
    sh("cargo", "build", "-q", "--release", "-p", "tetsuo-benches", "--example", "hyper_hello",
       "--example", "hyper_h2c", "--example", "tetsuo_hello", "--example", "tokio_echo",
       "--example", "ws_echo",
       "--example", "compare_charts", cwd=ROOT)
    bins = {}
    for name, lib in (("epoll", []), ("libuv", ["-luv"]), ("libevent", ["-levent"])):
        out = os.path.join(work, f"echo_{name}")
        sh("cc", "-O2", "-o", out, os.path.join(ROOT, "benches/compare/c", f"echo_{name}.c"), *lib)
        bins[name] = out
    return bins


NGINX_CONF = """worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 20000; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path {work}/nginx-body;
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location /hello {{ default_type text/plain; return 200 "Hello, World!"; }}
    }}
}}
"""


def versions():
    def first_line(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    def deb(package):
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                             capture_output=True, text=True)
        return out.stdout.strip() or "?"

    lock = open(os.path.join(ROOT, "Cargo.lock")).read()

    def crate(name):
        m = re.search(r'name = "%s"\nversion = "([^"]+)"' % re.escape(name), lock)
        return m.group(1) if m else "?"

    return {
        "rustc": first_line(["rustc", "--version"]),
        "hyper": crate("hyper"),
        "tokio": crate("tokio"),
        "tokio-tungstenite": crate("tokio-tungstenite"),
        "nginx": first_line(["nginx", "-v"]),
        "nghttpd": first_line(["nghttpd", "--version"]),
        "wrk": first_line(["wrk", "-v"]),
        "h2load": first_line(["h2load", "--version"]),
        "libuv": deb("libuv1-dev"),
        "libevent": deb("libevent-dev"),
        "cpu": first_line(["sh", "-c", "lscpu | grep 'Model name' | sed 's/.*: *//'"]),
        "kernel": first_line(["uname", "-r"]),
        "date": time.strftime("%Y-%m-%d"),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--secs", type=int, default=5)
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/ alone")
    args = ap.parse_args()
    for tool, package in (("wrk", "wrk"), ("h2load", "nghttp2-client"), ("nghttpd", "nghttp2-server"),
                          ("nginx", "nginx-light"), ("taskset", "util-linux"), ("cc", "gcc")):
        need(tool, package)
    for header, package in (("/usr/include/uv.h", "libuv1-dev"),
                            ("/usr/include/event2/event.h", "libevent-dev")):
        if not os.path.exists(header):
            sys.exit(f"{header} is needed: apt-get install {package}")
    if os.cpu_count() < 2:
        sys.exit("two CPUs are needed (server on one, load on the other)")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    started = time.time()
    work = tempfile.mkdtemp(prefix="tetsuo-compare-")
    bins = build(work)
    rel = lambda p: os.path.join(ROOT, "target/release", p)
    os.makedirs(os.path.join(work, "root"), exist_ok=True)
    with open(os.path.join(work, "root", "hello"), "w") as f:
        f.write("Hello, World!")

    def servers_for(scenario):
        """Starts a scenario's servers; stops those started if one fails."""
        started = []

        def Server(*a, **kw):  # noqa: N802 (wraps the class)
            s = ServerProcess(*a, **kw)
            started.append(s)
            return s

        try:
            return start_servers(scenario, Server)
        except Exception:
            for s in started:
                s.stop()
            raise

    def start_servers(scenario, Server):  # noqa: N803
        p = free_port
        if scenario == "http1":
            port_n = p()
            with open(os.path.join(work, "nginx.conf"), "w") as f:
                f.write(NGINX_CONF.format(work=work, port=port_n))
            ports = (p(), p(), p())
            return [
                Server("tetsuo", [rel("examples/tetsuo_hello"), f"127.0.0.1:{ports[2]}"], ports[2], "http"),
                Server("tetsuo serve", [rel("tetsuo"), "serve", "--listen", f"127.0.0.1:{ports[0]}",
                                        "--threads", "1", "--max-conns", "0", "--max-conns-per-ip", "0"],
                       ports[0], "http"),
                Server("hyper", [rel("examples/hyper_hello"), f"127.0.0.1:{ports[1]}"], ports[1], "http"),
                Server("nginx", ["nginx", "-c", os.path.join(work, "nginx.conf"), "-p", work],
                       port_n, "http"),
            ]
        if scenario == "http2":
            ports = (p(), p(), p(), p())
            return [
                Server("tetsuo", [rel("examples/tetsuo_hello"), f"127.0.0.1:{ports[3]}"], ports[3], "h2"),
                Server("tetsuo serve", [rel("tetsuo"), "serve", "--listen", f"127.0.0.1:{ports[0]}",
                                        "--threads", "1", "--max-conns", "0", "--max-conns-per-ip", "0"],
                       ports[0], "http"),
                Server("hyper", [rel("examples/hyper_h2c"), f"127.0.0.1:{ports[1]}"], ports[1], "h2"),
                Server("nghttpd", ["nghttpd", "-a", "127.0.0.1", "--no-tls", "-d",
                                   os.path.join(work, "root"), str(ports[2])], ports[2], "h2"),
            ]
        if scenario == "tcp":
            ports = [p() for _ in range(5)]
            return [
                Server("tetsuo echo", [rel("tetsuo"), "echo", "--listen", f"127.0.0.1:{ports[0]}"],
                       ports[0], "echo"),
                Server("tokio", [rel("examples/tokio_echo"), f"127.0.0.1:{ports[1]}"], ports[1], "echo"),
                Server("libuv", [bins["libuv"], str(ports[2])], ports[2], "echo"),
                Server("libevent", [bins["libevent"], str(ports[3])], ports[3], "echo"),
                Server("epoll", [bins["epoll"], str(ports[4])], ports[4], "echo"),
            ]
        if scenario == "ws":
            ports = (p(), p())
            return [
                Server("tetsuo serve", [rel("tetsuo"), "serve", "--listen", f"127.0.0.1:{ports[0]}",
                                        "--threads", "1", "--max-conns", "0", "--max-conns-per-ip", "0"],
                       ports[0], "ws", path="/ws"),
                Server("tokio-tungstenite", [rel("examples/ws_echo"), "tungstenite",
                                             f"127.0.0.1:{ports[1]}"], ports[1], "ws", path="/"),
            ]
        raise ValueError(scenario)

    scenarios = [
        ("http1", "HTTP/1.1 GET /hello", "wrk", lambda s: f"http://127.0.0.1:{s.port}/hello"),
        ("http2", "HTTP/2 (h2c) GET /hello, 10 streams per connection", "h2load",
         lambda s: f"http://127.0.0.1:{s.port}/hello"),
        ("tcp", "TCP echo, 64-byte round trips", "tetsuo-bench", lambda s: f"tcp://127.0.0.1:{s.port}"),
        ("ws", "WebSocket echo, 64-byte binary round trips", "tetsuo-bench",
         lambda s: f"ws://127.0.0.1:{s.port}{s.path}"),
    ]
    results = {"versions": versions(), "args": vars(args), "scenarios": []}
    for key, title, tool, url in scenarios:
        print(f"== {title} ({tool})", flush=True)
        servers = servers_for(key)
        runs = {s.name: [] for s in servers}
        idle = {}
        try:
            for s in servers:  # warm-up
                load(tool, url(s), 1, args.conns)
            for r in range(args.rounds):
                for s in servers:
                    cpu0 = cpu_seconds(s.pids)
                    requests, rps, p50, p99 = load(tool, url(s), args.secs, args.conns)
                    cpu = (cpu_seconds(s.pids) - cpu0) * 1e6 / max(requests, 1)
                    runs[s.name].append({"rps": rps, "p50": p50, "p99": p99, "cpu_us": cpu})
                    print(f"  round {r + 1}  {s.name:18} {rps:>12,.0f} req/s"
                          f"  p50 {p50 or 0:>7.0f} us  p99 {p99 or 0:>7.0f} us"
                          f"  server CPU {cpu:6.2f} us/req", flush=True)
            if args.idle > 0 and key != "http2":
                for s in servers:
                    idle[s.name] = idle_rss(s, args.idle)
                    print(f"  {s.name:18} {idle[s.name]:>8.0f} bytes per idle connection "
                          f"({args.idle})", flush=True)
        finally:
            for s in servers:
                s.stop()

        def med(name, field):
            values = [r[field] for r in runs[name] if r[field] is not None]
            return statistics.median(values) if values else None

        rows = [{"server": name, "rps": med(name, "rps"), "p50": med(name, "p50"),
                 "p99": med(name, "p99"), "cpu_us": med(name, "cpu_us"),
                 "idle_bytes": idle.get(name), "runs": runs[name]} for name in runs]
        results["scenarios"].append({"key": key, "title": title, "tool": tool, "rows": rows})
    results["cores"] = cores()
    # Three rounds: the generators' CPU per request, the figure that
    # matters there, is steady.
    results["loadgen"] = loadgen(3, args.secs)
    results["minutes"] = (time.time() - started) / 60
    out_dir = os.path.join(ROOT, "target", "compare")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    table = markdown(results)
    print(table)
    if not args.no_write:
        write_docs(results, table)
    shutil.rmtree(work, ignore_errors=True)
    print(f"== done in {results['minutes']:.1f} min", flush=True)


# The criterion benchmarks of benches/cores.rs that go into the table:
# (what, tetsuo-proto's id, peer, peer's id).
CORES = [
    ("HPACK encode, 13 request fields, fresh connection", "hpack_encode/tetsuo-proto/fresh",
     "`hpack` 0.3", "hpack_encode/hpack-crate/fresh"),
    ("HPACK encode, the same again (dynamic table warm)", "hpack_encode/tetsuo-proto/warm",
     "`hpack` 0.3", "hpack_encode/hpack-crate/warm"),
    ("HPACK decode, that first block (Huffman-coded)", "hpack_decode/tetsuo-proto/fresh",
     "`hpack` 0.3", "hpack_decode/hpack-crate/fresh"),
    ("HPACK decode, the second block (all indexed but `:path`)", "hpack_decode/tetsuo-proto/warm",
     "`hpack` 0.3", "hpack_decode/hpack-crate/warm"),
    ("WebSocket frame header parse (masked, 1000 B payload)", "ws_frame_header/parse/tetsuo-proto",
     "tungstenite `FrameHeader::parse`", "ws_frame_header/parse/tungstenite"),
    ("WebSocket frame header encode", "ws_frame_header/encode/tetsuo-proto",
     "tungstenite `FrameHeader::format`", "ws_frame_header/encode/tungstenite"),
    ("unmask 64 B", "ws_mask/tetsuo-proto/64", "byte-by-byte loop", "ws_mask/bytewise/64"),
    ("unmask 1 KiB", "ws_mask/tetsuo-proto/1024", "byte-by-byte loop", "ws_mask/bytewise/1024"),
    ("unmask 64 KiB", "ws_mask/tetsuo-proto/65536", "byte-by-byte loop", "ws_mask/bytewise/65536"),
    ("UTF-8 validation, 64 KiB of mixed text, one piece", "utf8/tetsuo-proto/whole",
     "`std::str::from_utf8`", "utf8/std::str::from_utf8"),
    ("UTF-8 validation, the same in 1 KiB pieces", "utf8/tetsuo-proto/1KiB-pieces",
     "`std::str::from_utf8` (whole)", "utf8/std::str::from_utf8"),
    ("permessage-deflate compress, 16 KiB JSON, level 1", "deflate/compress/tetsuo-proto",
     "flate2 (zlib-rs) directly", "deflate/compress/flate2"),
    ("permessage-deflate decompress, the same", "deflate/decompress/tetsuo-proto",
     "flate2 (zlib-rs) directly", "deflate/decompress/flate2"),
    ("HTTP/1.1 request head, parsed with the framing facts (browser GET)",
     "h1_request_framing/tetsuo/browser_get", "httparse + extraction",
     "h1_request_framing/httparse/browser_get"),
]


def cores():
    """Runs benches/cores.rs and h1_parse.rs; median ns by benchmark id."""
    print("== criterion: protocol cores", flush=True)
    # Only this run's figures: no stale estimates of a benchmark that did
    # not run.
    shutil.rmtree(os.path.join(ROOT, "target", "criterion"), ignore_errors=True)
    for bench in ("cores", "h1_parse"):
        sh("taskset", "-c", LOAD_CPU, "cargo", "bench", "-q", "-p", "tetsuo-benches", "--bench",
           bench, "--", "--warm-up-time", "1", "--measurement-time", "2",
           cwd=ROOT, stdout=subprocess.DEVNULL)
    medians = {}
    base = os.path.join(ROOT, "target", "criterion")
    for dirpath, _, files in os.walk(base):
        if os.path.basename(dirpath) == "new" and "benchmark.json" in files:
            with open(os.path.join(dirpath, "benchmark.json")) as f:
                full_id = json.load(f)["full_id"]
            with open(os.path.join(dirpath, "estimates.json")) as f:
                medians[full_id] = json.load(f)["median"]["point_estimate"]
    return medians


def ns(x):
    if x >= 1e6:
        return f"{x / 1e6:,.2f} ms"
    if x >= 1e3:
        return f"{x / 1e3:,.2f} µs"
    return f"{x:,.1f} ns"


def cores_table(medians):
    lines = ["| benchmark | tetsuo-proto | peer | peer | ratio |",
             "| --- | ---: | --- | ---: | ---: |"]
    for what, ours, peer, theirs in CORES:
        if ours not in medians or theirs not in medians:
            lines.append(f"| {what} | – | {peer} | – | – |")
            continue
        a, b = medians[ours], medians[theirs]
        lines.append(f"| {what} | {ns(a)} | {peer} | {ns(b)} | {b / a:.2f} |")
    return "\n".join(lines)


def loadgen(rounds, secs):
    """benches/loadgen.sh: tetsuo bench against wrk and h2load; its table."""
    print("== tetsuo bench against wrk and h2load", flush=True)
    out = sh("bash", os.path.join(ROOT, "benches", "loadgen.sh"), str(rounds), str(secs),
             cwd=ROOT, capture_output=True, text=True).stdout
    print(out, flush=True)
    return "\n".join(l for l in out.splitlines() if l.startswith("|"))


def markdown(results):
    v = results["versions"]
    a = results["args"]
    lines = [
        f"Taken {v['date']} with `python3 benches/compare/run.py` ({a['rounds']} rounds of "
        f"{a['secs']} s, {a['conns']} connections, {a['idle']:,} idle connections; "
        f"{results['minutes']:.1f} min in all, builds included). Machine: {v['cpu']}, 2 vCPUs "
        f"(server pinned to one, load generator to the other), Linux {v['kernel']}, {v['rustc']}. "
        f"Peers: hyper {v['hyper']} and tokio {v['tokio']} (benches/examples), "
        f"tokio-tungstenite {v['tokio-tungstenite']}, {v['nginx']}, {v['nghttpd']}, "
        f"libuv {v['libuv']}, libevent {v['libevent']}; load: {v['wrk']}, {v['h2load']}, "
        "`tetsuo bench`.",
        "",
    ]
    for sc in results["scenarios"]:
        rows = sc["rows"]
        base = rows[0]
        lines.append(f"**{sc['title']}** — driven by {sc['tool']}; medians; ratio = "
                     f"{base['server']} / peer (above 1: {base['server']} ahead)")
        lines.append("")
        lines.append("| server | requests/s | ratio | p50 | p99 | server CPU per request | "
                     "RSS per idle connection |")
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")

        def us(x):
            return "–" if x is None else f"{x:,.0f} µs"

        for r in rows:
            ratio = "" if r is base else f"{base['rps'] / r['rps']:.2f}"
            idle = "–" if r["idle_bytes"] is None else f"{r['idle_bytes'] / 1024:,.1f} KiB"
            lines.append(f"| {r['server']} | {r['rps']:,.0f} | {ratio} | {us(r['p50'])} | "
                         f"{us(r['p99'])} | {r['cpu_us']:.2f} µs | {idle} |")
        lines.append("")
        lines.append(f"![{sc['title']}](img/compare-{sc['key']}.svg)")
        lines.append("")
    return "\n".join(lines)


def replace_between(text, name, body):
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{body}\n{end}"
    if begin in text:
        return re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    return text + "\n" + block + "\n"


def write_docs(results, table):
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    text = open(path).read()
    text = replace_between(text, "compare", table)
    v = results["versions"]
    text = replace_between(text, "cores", f"Medians from criterion (1 s warm-up, 2 s measurement), {v['date']}.\n\n"
                           + cores_table(results["cores"]))
    text = replace_between(text, "loadgen", "Medians of 3 rounds of "
                           f"{results['args']['secs']} s, {v['date']}:\n\n" + results["loadgen"])
    with open(path, "w") as f:
        f.write(text)
    sh(os.path.join(ROOT, "target/release/examples/compare_charts"),
       os.path.join(ROOT, "target", "compare", "results.json"), os.path.join(ROOT, "docs", "img"))


if __name__ == "__main__":
    main()
