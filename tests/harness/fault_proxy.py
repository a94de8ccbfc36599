#!/usr/bin/env python3
"""A latency- and fault-injecting HTTP proxy for the emulators.

It sits between the AWS SDK and the moto server: every request is delayed
by `--delay-ms` (plus per-operation overrides), and a share `--fail-rate`
of them is answered with an error the SDK must treat as retryable, in the
shape of the protocol the request used (a throttling error or a 5xx), so
that stackplan's retries are exercised as they would be against AWS.

Faulted requests never reach moto: a retried create must not find a
half-made resource, exactly as when AWS throttles before acting.

`--lose-rate R` injects the other half of real failures, the lost answer:
the request is forwarded and moto acts on it, then for a share R of
requests the answer never reaches the client. Half of those get a retryable
5xx in the protocol's shape instead (the shapes `--fail-rate` uses, never
a throttle: a service that acted does not throttle), the other half see the
connection reset (`SO_LINGER` 0, an RST) before any byte of the answer.
This is how duplicates (an SDK retry of a create that had succeeded) and
conflicts (a retry that finds its own resource, `EntityAlreadyExists`,
HTTP 412) happen against AWS. A request drawn for `--fail-rate` is never
also drawn for `--lose-rate`; both draw from the one seeded generator.

    python3 fault_proxy.py --upstream http://127.0.0.1:5000 --port 0 \
        --delay-ms 50 --fail-rate 0.1 --seed 7 --port-file /tmp/proxy.port

`--route-delay 'POST /clusters=900'` delays REST calls (EKS, Kafka, S3),
whose operation names are masked paths, by their real method and path.

Counts of requests, faults, lost answers (`lost`: `lost_5xx` plus
`lost_reset`) and total injected delay per operation are written as JSON
to `--stats-file` on every request (for benchmarks and tests).
Only loopback upstreams are accepted.
"""

import argparse
import http.client
import http.server
import json
import os
import random
import re
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "te", "trailers", "transfer-encoding", "upgrade",
}


def operation(handler, body):
    """The API operation of a request, as well as it can be told."""
    target = handler.headers.get("X-Amz-Target")
    if target:  # JSON protocols: KMS, Secrets Manager
        return target.split(".")[-1]
    ctype = handler.headers.get("Content-Type", "")
    if "x-www-form-urlencoded" in ctype:  # query protocols: EC2, IAM, STS
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        return form.get("Action", ["?"])[0]
    path = urllib.parse.urlsplit(handler.path).path
    return f"{handler.command} {re.sub(r'/[^/]+', '/*', path)[:60]}"


def signed_service(handler):
    """The service named in the SigV4 credential scope (`ec2`, `iam`, ...)."""
    m = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", handler.headers.get("Authorization", ""))
    return m.group(1) if m else None


def fault_response(handler, op, rng, server_error=False):
    """An error the SDK classifies as retryable, in the request's protocol:
    (status, headers, body). `server_error`: always the 5xx, never a
    throttle (a service that acted and then failed does not throttle)."""
    ctype = handler.headers.get("Content-Type", "")
    throttle = not server_error and rng.random() < 0.5
    if handler.headers.get("X-Amz-Target"):
        kind = "ThrottlingException" if throttle else "InternalFailure"
        body = json.dumps({"__type": kind, "message": f"injected fault for {op}"})
        return (400 if throttle else 500), {"Content-Type": "application/x-amz-json-1.1"}, body
    if "x-www-form-urlencoded" in ctype and signed_service(handler) == "ec2":
        # EC2's query protocol has its own error shape; the SDK reads an
        # <ErrorResponse> from EC2 as an unknown 400 and does not retry it.
        code = "RequestLimitExceeded" if throttle else "InternalError"
        body = (
            f"<Response><Errors><Error><Code>{code}</Code>"
            f"<Message>injected fault for {op}</Message></Error></Errors>"
            "<RequestID>injected</RequestID></Response>"
        )
        return (503 if throttle else 500), {"Content-Type": "text/xml"}, body
    if "x-www-form-urlencoded" in ctype:
        code = "Throttling" if throttle else "InternalFailure"
        side = "Sender" if throttle else "Receiver"
        body = (
            f"<ErrorResponse><Error><Type>{side}</Type>"
            f"<Code>{code}</Code><Message>injected fault for {op}</Message>"
            "</Error><RequestId>injected</RequestId></ErrorResponse>"
        )
        return (400 if throttle else 500), {"Content-Type": "text/xml"}, body
    is_s3 = handler.headers.get("x-amz-content-sha256") is not None and "json" not in ctype
    if is_s3 or not throttle:
        # REST-XML (S3) and plain 5xx: a 503 is retryable everywhere.
        body = "<Error><Code>SlowDown</Code><Message>injected fault</Message></Error>"
        return 503, {"Content-Type": "application/xml"}, body
    # REST-JSON (EKS, Kafka): throttling is named in a header.
    body = json.dumps({"message": f"injected fault for {op}"})
    return 429, {
        "Content-Type": "application/json",
        "x-amzn-ErrorType": "ThrottlingException",
    }, body


class Stats:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.ops = {}

    def record(self, op, delay_ms, faulted, lost=None):
        """`lost`: None, "5xx" or "reset" (the answer dropped after moto acted)."""
        with self.lock:
            s = self.ops.setdefault(op, {
                "requests": 0, "faults": 0, "delay_ms": 0,
                "lost": 0, "lost_5xx": 0, "lost_reset": 0,
            })
            s["requests"] += 1
            s["faults"] += int(faulted)
            s["delay_ms"] += delay_ms
            if lost:
                s["lost"] += 1
                s["lost_" + lost] += 1
            if self.path:
                with open(self.path + ".tmp", "w") as f:
                    json.dump(self.ops, f, sort_keys=True, indent=1)
                os.replace(self.path + ".tmp", self.path)


def make_handler(args, stats, rng, rng_lock):
    upstream = urllib.parse.urlsplit(args.upstream)
    delays = {}
    for spec in args.op_delay or []:
        name, _, ms = spec.partition("=")
        delays[name] = int(ms)
    routes = []
    for spec in args.route_delay or []:
        pattern, _, ms = spec.rpartition("=")
        routes.append((re.compile(pattern), int(ms)))

    def delay_for(handler, op):
        if op in delays:
            return delays[op]
        # REST operations share masked names ("POST /*/*/*"); a route
        # delay tells them apart by the real method and path.
        route = f"{handler.command} {urllib.parse.urlsplit(handler.path).path}"
        for pattern, ms in routes:
            if pattern.fullmatch(route):
                return ms
        return args.delay_ms

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, the body
        # waits for the client's delayed ACK (40 ms on Linux) on every
        # reused connection: latency the proxy would add, not inject.
        disable_nagle_algorithm = True

        def log_message(self, fmt, *a):  # quiet: the stats file tells
            pass

        def _proxy(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            op = operation(self, body)
            delay = delay_for(self, op)
            lost = None
            with rng_lock:
                faulted = rng.random() < args.fail_rate
                fault = fault_response(self, op, rng) if faulted else None
                if not faulted and args.lose_rate and rng.random() < args.lose_rate:
                    if rng.random() < 0.5:
                        lost = "5xx"
                        fault = fault_response(self, op, rng, server_error=True)
                    else:
                        lost = "reset"
            if delay:
                time.sleep(delay / 1000.0)
            if fault and not lost:
                stats.record(op, delay, faulted)
                self._answer(fault)
                return
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            # moto has acted; only now is the answer lost.
            stats.record(op, delay, faulted, lost)
            if lost == "5xx":
                self._answer(fault)
                return
            if lost == "reset":
                self._reset()
                return
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _answer(self, fault):
            status, headers, text = fault
            data = text.encode()
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _reset(self):
            """Closes the connection with an RST and no answer: linger on,
            timeout 0, as a load balancer dropping it does."""
            self.close_connection = True
            try:
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass

        def finish(self):
            try:
                super().finish()
            except (OSError, ValueError):
                pass  # the connection was reset on purpose

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _proxy

    return Handler


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops the SYNs of a burst of
    # parallel reads, and each dropped one costs the client a 1 s
    # retransmit: latency the proxy would add, not inject.
    request_queue_size = 128


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--upstream", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--delay-ms", type=int, default=0)
    p.add_argument("--op-delay", action="append", help="OPERATION=MS, e.g. CreateCluster=900")
    p.add_argument(
        "--route-delay", action="append",
        help="'METHOD PATH-REGEX=MS' for REST calls, e.g. 'POST /clusters=900' (EKS CreateCluster)")
    p.add_argument("--fail-rate", type=float, default=0.0)
    p.add_argument(
        "--lose-rate", type=float, default=0.0,
        help="share of requests forwarded to moto whose answer is then lost "
             "(half a retryable 5xx, half a connection reset)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--port-file")
    p.add_argument("--stats-file")
    args = p.parse_args()
    host = urllib.parse.urlsplit(args.upstream).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("fault_proxy: the upstream must be on loopback")
    rng = random.Random(args.seed)
    server = Server(("127.0.0.1", args.port), make_handler(args, Stats(args.stats_file), rng, threading.Lock()))
    if args.port_file:
        with open(args.port_file, "w") as f:
            f.write(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
