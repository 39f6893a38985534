#!/usr/bin/env bash
# What `tetsuo serve` pushes to observability back ends, checked by peers we
# did not write: Etsy's StatsD daemon (npm `statsd`, which reads DogStatsD
# tags) takes --statsd pushes, and a collector decodes --otlp-endpoint
# exports with the OpenTelemetry project's python protobuf classes
# (`opentelemetry-proto`): protobuf as is, OTLP/JSON through protobuf's
# strict JSON parser.
source "$(dirname "$0")/lib/common.sh"

apt_install curl curl
apt_install netcat-openbsd nc
apt_install nodejs node
apt_install npm npm
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import opentelemetry.proto.collector.trace.v1.trace_service_pb2' 2>/dev/null \
    || timeout 300 "$PYTHON" -m pip install -q 'opentelemetry-proto>=1.27'
STATSD_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/tetsuo-interop/statsd
if [ ! -f "$STATSD_DIR/node_modules/statsd/stats.js" ]; then
    mkdir -p "$STATSD_DIR"
    timeout 300 npm install -s --no-save --ignore-scripts --prefix "$STATSD_DIR" statsd@0.9.0 \
        >"$STATSD_DIR/install.log" 2>&1
    [ -f "$STATSD_DIR/node_modules/statsd/stats.js" ] || {
        echo "$NAME: cannot install statsd from npm:" >&2
        tail -5 "$STATSD_DIR/install.log" >&2
        exit 1
    }
fi
T=$(tetsuo_bin)
cd "$WORK" || exit 1

TRACE=4bf92f3577b34da6a3ce929d0e0e4736
PARENT=00f067aa0ba902b7

# --- the peers ------------------------------------------------------------------
read -r SD_PORT SD_MGMT < <(free_ports 2)
cat >statsd.js <<JSEOF
{ port: $SD_PORT, address: "127.0.0.1", mgmt_address: "127.0.0.1", mgmt_port: $SD_MGMT,
  backends: ["./backends/console"], flushInterval: 3600000 }
JSEOF
start statsd.log node "$STATSD_DIR/node_modules/statsd/stats.js" "$WORK/statsd.js"
wait_for_line statsd.log 'server is up' >/dev/null

cat >collector.py <<'PYEOF'
# An OTLP/HTTP trace collector: decodes each export and writes one JSON line
# per span (service, name, ids, status attribute) to spans.jsonl.
import base64, json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

def from_json(body):
    # OTLP/JSON writes ids in hex where protobuf's JSON mapping has base64;
    # everything else must match the schema exactly (unknown fields fail).
    doc = json.loads(body)
    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return json_format.ParseDict(doc, ExportTraceServiceRequest())

class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        kind = self.headers["Content-Type"]
        try:
            if self.path != "/v1/traces":
                raise ValueError("path " + self.path)
            if kind == "application/x-protobuf":
                export = ExportTraceServiceRequest.FromString(body)
            elif kind == "application/json":
                export = from_json(body)
            else:
                raise ValueError("content type %s" % kind)
        except Exception as e:
            with open("collector.err", "a") as f:
                f.write("%s\n" % e)
            self.send_response(400)
            self.end_headers()
            return
        with open("spans.jsonl", "a") as out:
            for rs in export.resource_spans:
                service = [a.value.string_value for a in rs.resource.attributes
                           if a.key == "service.name"]
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        status = [a.value.int_value for a in s.attributes
                                  if a.key == "http.response.status_code"]
                        out.write(json.dumps({
                            "encoding": kind, "service": service[0] if service else "",
                            "name": s.name, "trace": s.trace_id.hex(),
                            "parent": s.parent_span_id.hex(),
                            "status": status[0] if status else 0}) + "\n")
        answer = b"{}" if kind == "application/json" else b""
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("collector on %d" % server.server_address[1], flush=True)
server.serve_forever()
PYEOF
start collector.log "$PYTHON" collector.py
OTLP=$(wait_for_line collector.log 'collector on' | sed 's/collector on //')

# --- tetsuo serve, twice ---------------------------------------------------------
start serve-pb.log env OTEL_BSP_SCHEDULE_DELAY=200 "$T" serve --listen 127.0.0.1:0 \
    --statsd "127.0.0.1:$SD_PORT" --statsd-interval 0.3 \
    --otlp-endpoint "http://127.0.0.1:$OTLP" --otlp-protocol protobuf
SERVE_PB_PID=${STARTED_PIDS[-1]}
PB=$(wait_for_line serve-pb.log 'http://' | sed 's|.*http://||')
start serve-json.log env OTEL_BSP_SCHEDULE_DELAY=200 "$T" serve --listen 127.0.0.1:0 \
    --otlp-endpoint "http://127.0.0.1:$OTLP/v1/traces" --otlp-protocol json
JSON=$(wait_for_line serve-json.log 'http://' | sed 's|.*http://||')

for _ in $(seq 5); do
    timeout 5 curl -s -o /dev/null -H "traceparent: 00-$TRACE-$PARENT-01" "http://$PB/hello"
done
timeout 5 curl -s -o /dev/null -H "traceparent: 00-$TRACE-$PARENT-01" "http://$JSON/hello"
sleep 1.5

# --- StatsD ------------------------------------------------------------------------
mgmt() { (echo "$1"; sleep 0.5) | timeout 5 nc -q1 127.0.0.1 "$SD_MGMT"; }
# sum KEY-PREFIX [MUST-CONTAIN]: the sum of the daemon's counters whose
# name starts with KEY-PREFIX (and contains MUST-CONTAIN).
sum() {
    mgmt counters | "$PYTHON" -c '
import re, sys
prefix, part = sys.argv[1], sys.argv[2]
total = 0
for key, value in re.findall(r"^\s*'"'"'?([^'"'"':]+)'"'"'?: ([0-9.]+),?$", sys.stdin.read(), re.M):
    if key.startswith(prefix) and part in key:
        total += float(value)
print("%g" % total)' "$1" "${2:-}"
}
check "StatsD daemon: no line of ours was bad" 0 "$(sum statsd.bad_lines_seen)"
check "StatsD: tetsuo_http_requests_total (2xx, tags) adds up to the 5 requests" 5 \
    "$(sum 'tetsuo_http_requests_total;' 'class=2xx')"
check "StatsD: the latency histogram's _count" 5 "$(sum tetsuo_http_request_duration_seconds_count)"
check "StatsD: gauge tetsuo_server_connections_open" yes \
    "$(mgmt gauges | grep 'tetsuo_server_connections_open' >/dev/null && echo yes || echo no)"
timeout 5 curl -s -o /dev/null "http://$PB/missing"
kill -TERM "$SERVE_PB_PID"
for _ in $(seq 100); do kill -0 "$SERVE_PB_PID" 2>/dev/null || break; sleep 0.1; done
check "StatsD: the 404 made just before SIGTERM is in the last push" 1 \
    "$(sum 'tetsuo_http_requests_total;' 'class=4xx')"

# --- OTLP --------------------------------------------------------------------------
spans() {
    "$PYTHON" -c '
import json, sys
want = sys.argv[1]
n = 0
for line in open("spans.jsonl"):
    s = json.loads(line)
    if (s["encoding"] == want and s["service"] == "tetsuo-serve" and s["name"] == "http.request"
            and s["trace"] == sys.argv[2] and s["parent"] == sys.argv[3] and s["status"] == 200):
        n += 1
print(n)' "$1" "$TRACE" "$PARENT" 2>/dev/null || echo 0
}
check "collector: no export failed to decode" "" "$(cat collector.err 2>/dev/null)"
check "OTLP protobuf: 5 spans in the caller's trace, its child, status 200" 5 \
    "$(spans application/x-protobuf)"
check "OTLP/JSON: the span in the caller's trace, its child, status 200" 1 \
    "$(spans application/json)"

finish
