#!/usr/bin/env python3
"""A fault-injecting HTTP/1.1 proxy in front of a Kinesis emulator, for producer tests.

    kinesis_fault_proxy.py UPSTREAM_URL [--drop N] [--fail500 N] [--throttle N]
                           [--entry-throttle N] [--entry-internal N] [--stats FILE]

Listens on a free 127.0.0.1 port and prints "http://127.0.0.1:PORT" on stdout. Every
Nth PutRecords request is closed without an answer (--drop), answered HTTP 500
InternalFailure (--fail500) or answered HTTP 400 ProvisionedThroughputExceededException
(--throttle), and is not forwarded. In the other PutRecords requests every Nth entry
(counted over the run) is taken out before forwarding and answered as failed with
ProvisionedThroughputExceededException (--entry-throttle) or InternalFailure
(--entry-internal): a partial failure. Nothing that is reported failed reaches the
emulator, so a correct producer writes every record exactly once. Other calls pass
through. On SIGTERM the counts are written as JSON to --stats.
The emulators do not check signatures, so re-encoded bodies need no re-signing.
"""
import argparse
import http.client
import json
import signal
import socket
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = None
lock = threading.Lock()
counts = {"requests": 0, "dropped": 0, "http500": 0, "throttled": 0, "entries": 0,
          "entry_throttled": 0, "entry_internal": 0, "forwarded_entries": 0}
local = threading.local()


def upstream():
    if getattr(local, "conn", None) is None:
        u = urllib.parse.urlparse(args.upstream)
        local.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    return local.conn


def forward(method, path, headers, body):
    for attempt in range(2):  # a kept-alive upstream connection may have been closed
        try:
            c = upstream()
            h = {k: v for k, v in headers.items()
                 if k.lower() not in ("host", "content-length", "connection", "expect")}
            h["Content-Length"] = str(len(body))
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, r.reason, r.getheaders(), r.read()
        except (http.client.HTTPException, OSError):
            local.conn = None
            if attempt:
                raise


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def reply(self, status, reason, body, headers=()):
        self.send_response(status, reason)
        for k, v in headers:
            if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        target = self.headers.get("X-Amz-Target", "")
        if not target.endswith(".PutRecords"):
            status, reason, hdrs, data = forward("POST", self.path, self.headers, body)
            self.reply(status, reason, data, hdrs)
            return
        with lock:
            counts["requests"] += 1
            n = counts["requests"]
        if args.drop and n % args.drop == 0:
            with lock:
                counts["dropped"] += 1
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        err = json.dumps
        if args.fail500 and n % args.fail500 == 0:
            with lock:
                counts["http500"] += 1
            self.reply(500, "Internal Server Error",
                       err({"__type": "InternalFailure", "message": "injected"}).encode(),
                       [("Content-Type", "application/x-amz-json-1.1")])
            return
        if args.throttle and n % args.throttle == 0:
            with lock:
                counts["throttled"] += 1
            self.reply(400, "Bad Request",
                       err({"__type": "ProvisionedThroughputExceededException",
                            "message": "injected"}).encode(),
                       [("Content-Type", "application/x-amz-json-1.1")])
            return
        req = json.loads(body)
        results = [None] * len(req["Records"])
        keep = []
        with lock:
            for i in range(len(req["Records"])):
                counts["entries"] += 1
                e = counts["entries"]
                if args.entry_throttle and e % args.entry_throttle == 0:
                    counts["entry_throttled"] += 1
                    results[i] = {"ErrorCode": "ProvisionedThroughputExceededException",
                                  "ErrorMessage": "injected"}
                elif args.entry_internal and e % args.entry_internal == 0:
                    counts["entry_internal"] += 1
                    results[i] = {"ErrorCode": "InternalFailure", "ErrorMessage": "injected"}
                else:
                    keep.append(i)
            counts["forwarded_entries"] += len(keep)
        hdrs = [("Content-Type", "application/x-amz-json-1.1")]
        if keep:
            sub = dict(req)
            sub["Records"] = [req["Records"][i] for i in keep]
            status, reason, hdrs, data = forward("POST", self.path, self.headers,
                                                 json.dumps(sub).encode())
            if status != 200:
                self.reply(status, reason, data, hdrs)
                return
            up = json.loads(data)["Records"]
            for i, r in zip(keep, up):
                results[i] = r
        out = {"FailedRecordCount": sum(1 for r in results if "ErrorCode" in r),
               "Records": results}
        self.reply(200, "OK", json.dumps(out).encode(), hdrs)


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("upstream")
    for f in ("drop", "fail500", "throttle", "entry_throttle", "entry_internal"):
        p.add_argument("--" + f.replace("_", "-"), type=int, default=0)
    p.add_argument("--stats")
    args = p.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True

    def stop(*_):
        if args.stats:
            with lock, open(args.stats, "w") as f:
                json.dump(counts, f)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print("http://127.0.0.1:%d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
