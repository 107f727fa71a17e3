#!/usr/bin/env python3
"""Writes the starting corpus of every fuzz target (fuzz/corpus/<target>/):
small valid inputs of each format, so the fuzzer starts inside the decoder
rather than at its first check. Run once; libFuzzer grows the corpus."""
import gzip, json, os, struct, shutil, pathlib

root = pathlib.Path(__file__).resolve().parent
repo = root.parent

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)

def field(no, wire, payload):
    key = varint((no << 3) | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload

def s(no, text):
    return field(no, 2, text.encode())

def write(target, name, data):
    d = root / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())

# remote-write 1.0: WriteRequest{timeseries{labels, samples}}
label = lambda n, v: field(1, 2, s(1, n) + s(2, v))
sample = lambda v, t: field(2, 2, field(1, 1, struct.pack("<d", v)) + field(2, 0, varint(t)))
series = field(1, 2, label("__name__", "http_server_request_duration_seconds_count")
               + label("job", "payments") + label("http_route", "/charges")
               + sample(12.0, 1796119200000) + sample(13.0, 1796119205000))
write("remote_write", "v1-one-series", series)
write("remote_write", "v1-two-series", series + field(1, 2, label("__name__", "up") + label("job", "cart") + sample(1.0, 1796119200000)))
# remote-write 2.0: Request{symbols(4), timeseries(5){labels_refs(1), samples(2)}}
symbols = b"".join(s(4, x) for x in ["", "__name__", "up", "job", "cart"])
ts2 = field(5, 2, field(1, 2, b"".join(varint(i) for i in [1, 2, 3, 4])) + field(2, 2, field(1, 1, struct.pack("<d", 1.0)) + field(2, 0, varint(1796119200000))))
write("remote_write", "v2-one-series", symbols + ts2)

# Loki push protobuf: PushRequest{streams{labels, entries{timestamp{seconds,nanos}, line}}}
entry = lambda sec, line: field(2, 2, field(1, 2, field(1, 0, varint(sec)) + field(2, 0, varint(5))) + s(2, line))
stream = field(1, 2, s(1, '{service="payments", level="error"}') + entry(1796119200, '{"level":"error","message":"charge failed","fields":{"order":"o1"}}') + entry(1796119201, "plain line 42"))
write("loki_push", "protobuf-one-stream", stream)

loki_json = {"streams": [{"stream": {"service": "cart", "level": "info"},
                          "values": [["1796119200000000000", "cart updated session=abc items=3"],
                                     ["1796119200000000001", "{\"msg\":\"x\"}", {"trace_id": "4bf92f3577b34da6"}]]}]}
write("loki_json", "two-lines", json.dumps(loki_json))
write("loki_json", "empty", '{"streams":[]}')
write("loki_push", "json", json.dumps(loki_json))

am = {"version": "4", "groupKey": "{}:{alertname=\"ShopServiceDown\"}", "status": "firing", "receiver": "aiops",
      "groupLabels": {"alertname": "ShopServiceDown"}, "commonLabels": {"alertname": "ShopServiceDown", "service": "cart"},
      "commonAnnotations": {"summary": "cart is down"}, "externalURL": "http://am:9093", "truncatedAlerts": 0,
      "alerts": [{"status": "firing", "labels": {"alertname": "ShopServiceDown", "service": "cart", "severity": "critical"},
                  "annotations": {"summary": "cart is down"}, "startsAt": "2026-12-01T10:00:00.5Z",
                  "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/graph", "fingerprint": "c2a3f4d5e6b7a8c9"}]}
write("alertmanager", "firing", json.dumps(am))
am["status"] = "resolved"; am["alerts"][0]["status"] = "resolved"; am["alerts"][0]["endsAt"] = "2026-12-01T10:05:00Z"
write("alertmanager", "resolved", json.dumps(am))

write("exposition", "prometheus-text", """# HELP http_server_request_duration_seconds Duration of HTTP server requests.
# TYPE http_server_request_duration_seconds histogram
http_server_request_duration_seconds_bucket{http_route="/carts/{session}",http_request_method="GET",http_response_status_code="200",le="0.005"} 10
http_server_request_duration_seconds_bucket{http_route="/carts/{session}",http_request_method="GET",http_response_status_code="200",le="+Inf"} 12
http_server_request_duration_seconds_sum{http_route="/carts/{session}",http_request_method="GET",http_response_status_code="200"} 0.04
http_server_request_duration_seconds_count{http_route="/carts/{session}",http_request_method="GET",http_response_status_code="200"} 12
process_resident_memory_bytes 1.2e+07 1796119200000
shop_build_info{version="1.0.0",label="a \\"quoted\\" \\\\ value\\n"} 1
""")
write("exposition", "openmetrics", """# TYPE shop_orders counter
# HELP shop_orders Orders placed.
shop_orders_total{service="orders"} 17 1796119200.5 # {trace_id="abc"} 1.0 1796119200.1
shop_orders_created{service="orders"} 1796119000
# TYPE up gauge
up 1
# EOF
""")

for name, text in {
    "simple": '{job="cart"}',
    "operators": 'http_server_request_duration_seconds_bucket{job=~"pay.*",le!="+Inf",http_route!~"/healthz|/metrics"}',
    "escapes": '{service="a\\"b\\\\c\\n", level="error"}',
    "bare": "up",
}.items():
    write("selector", name, text)

(root / "corpus" / "detector_rules").mkdir(parents=True, exist_ok=True)
shutil.copy(repo / "rules" / "detectors.yaml", root / "corpus" / "detector_rules" / "shipped.yaml")
(root / "corpus" / "chaos_scenario").mkdir(parents=True, exist_ok=True)
for p in sorted((repo / "rules" / "chaos").glob("*.yaml"))[:6]:
    shutil.copy(p, root / "corpus" / "chaos_scenario" / p.name)
