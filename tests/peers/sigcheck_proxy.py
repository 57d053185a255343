#!/usr/bin/env python3
"""A SigV4-checking front for a local peer.

None of the local peers verify signatures, so this proxy does what AWS does
before it lets a request through: it recomputes the SigV4 signature with
botocore from the secret it was given and answers InvalidSignatureException
(or UnrecognizedClientException for an unknown key id) like AWS, else forwards
the request unchanged to the real peer and relays its reply.

    sigcheck_proxy.py UPSTREAM_URL ACCESS_KEY_ID SECRET_KEY PORT_FILE

Binds 127.0.0.1 on a free port and writes the port to PORT_FILE.
"""
import http.client
import http.server
import json
import os
import re
import sys
import urllib.parse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

UPSTREAM, AKID, SECRET, PORT_FILE = sys.argv[1:5]
UP = urllib.parse.urlsplit(UPSTREAM)
AUTH_RE = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
    r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$")


def expected_signature(method, path, headers, body, signed, region, service, token):
    hdrs = {name: value for name, value in headers.items() if name.lower() in signed}
    req = AWSRequest(method=method, url="http://%s%s" % (headers["Host"], path), data=body,
                     headers=hdrs)
    req.context["timestamp"] = headers["X-Amz-Date"]
    auth = SigV4Auth(Credentials(AKID, SECRET, token), service, region)
    canonical = auth.canonical_request(req)
    return auth.signature(auth.string_to_sign(req, canonical), req)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/x-amz-json-1.1", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", "sigcheck-0000")
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def aws_error(self, etype, message):
        self.reply(400, json.dumps({"__type": etype, "message": message}).encode())

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        m = AUTH_RE.match(self.headers.get("Authorization", ""))
        if not m:
            return self.aws_error("IncompleteSignatureException", "Authorization header malformed")
        akid, _date, region, service, signed, signature = m.groups()
        if akid != AKID:
            return self.aws_error("UnrecognizedClientException",
                                  "The security token included in the request is invalid.")
        want = expected_signature("POST", self.path, self.headers, body, signed.split(";"), region,
                                  service, self.headers.get("X-Amz-Security-Token"))
        if want != signature:
            return self.aws_error(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method.")
        conn = http.client.HTTPConnection(UP.hostname, UP.port, timeout=60)
        conn.request("POST", self.path, body, {k: v for k, v in self.headers.items()
                                               if k.lower() not in ("connection",)})
        resp = conn.getresponse()
        data = resp.read()
        self.reply(resp.status, data, resp.getheader("Content-Type", "application/json"))
        conn.close()


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
# Renamed into place so a reader never sees a partial file.
os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
