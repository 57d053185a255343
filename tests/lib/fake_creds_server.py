#!/usr/bin/env python3
"""A fake of the three remote credential sources, for tests, on 127.0.0.1 only.

    fake_creds_server.py PORT_FILE [KINESIS_UPSTREAM_URL]

Plays, on one free loopback port (written to PORT_FILE once listening):
- STS AssumeRoleWithWebIdentity: POST / with a form body (Query protocol),
  answered in XML like STS, errors as <ErrorResponse>.
- A container credentials endpoint: GET /container/... answered in JSON; when
  an authorization token is configured, a request without it gets 401.
- EC2 IMDSv2: PUT /latest/api/token (the TTL header is required), then GETs
  that carry X-aws-ec2-metadata-token (without a valid one: 401) for the role
  name, the role's credentials and the region.
- With KINESIS_UPSTREAM_URL, a front for Kinesis: a POST with X-Amz-Target must
  carry an X-Amz-Security-Token this server issued, unexpired, and signed (named
  in SignedHeaders); it is then relayed upstream. Without an upstream it
  answers {}.

Every credential it issues has the same key id and secret (so a signature
checker can be given them) and a new session token, "<source>-token-<n>".

Test control (JSON): POST /_control merges settings (see DEFAULTS), GET /_log
returns every request seen, POST /_clear_log empties it.
"""
import http.client
import http.server
import json
import os
import re
import sys
import threading
import time
import urllib.parse

PORT_FILE = sys.argv[1]
UPSTREAM = urllib.parse.urlsplit(sys.argv[2]) if len(sys.argv) > 2 else None

DEFAULTS = {
    "access_key_id": "AKIDFAKEREMOTE",
    "secret": "fake-remote-secret",
    "lifetime_s": 3600,
    "fail": {},               # source -> list of HTTP statuses to answer next, one per request
    "container_auth": None,   # the Authorization value the container endpoint requires
    "sts_reject": [],         # web identity tokens STS refuses (InvalidIdentityToken)
    "imds_role": "fake-role",
    "imds_no_role": False,
    "imds_region": "us-east-1",
    "imds_revoke": False,     # once: forget every IMDS session token issued so far
    "imds_always_401": False, # every GET is refused, as with a broken token
    "kinesis_delay_s": 0,     # the Kinesis front answers this much later
}

lock = threading.Lock()
state = dict(DEFAULTS)
log = []
issued = {}      # session token -> expiry (epoch s)
imds_tokens = set()
counter = {"n": 0}

SIGNED_RE = re.compile(r"SignedHeaders=([^,]+)")


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def issue(source):
    """New credentials: (key id, secret, token, expiry epoch s)."""
    with lock:
        counter["n"] += 1
        token = "%s-token-%d" % (source, counter["n"])
        expiry = int(time.time() + state["lifetime_s"])
        issued[token] = expiry
        return state["access_key_id"], state["secret"], token, expiry


def next_failure(source):
    with lock:
        pending = state["fail"].get(source) or []
        if pending:
            return pending.pop(0)
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self, kind, status, **extra):
        entry = {"kind": kind, "method": self.command, "path": self.path, "status": status,
                 "headers": {k.lower(): v for k, v in self.headers.items()}}
        entry.update(extra)
        with lock:
            log.append(entry)

    def reply(self, status, body, ctype="text/plain"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", "fake-req-%d" % counter["n"])
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    # ---------------------------------------------------------------- routing
    def do_PUT(self):
        data = self.body()
        if self.path == "/latest/api/token":
            return self.imds_token(data)
        self.record("unknown", 404)
        self.reply(404, "not found")

    def do_GET(self):
        self.body()
        if self.path == "/_log":
            with lock:
                text = json.dumps(log)
            return self.reply(200, text, "application/json")
        if self.path.startswith("/container"):
            return self.container()
        if self.path.startswith("/latest/meta-data/"):
            return self.imds_get()
        self.record("unknown", 404)
        self.reply(404, "not found")

    def do_POST(self):
        data = self.body()
        if self.path == "/_control":
            with lock:
                for k, v in json.loads(data or b"{}").items():
                    state[k] = v
            return self.reply(200, "{}", "application/json")
        if self.path == "/_clear_log":
            with lock:
                log.clear()
            return self.reply(200, "{}", "application/json")
        if self.headers.get("X-Amz-Target"):
            return self.kinesis(data)
        return self.sts(data)

    # -------------------------------------------------------------------- STS
    def sts(self, data):
        form = {k: v[0] for k, v in urllib.parse.parse_qs(data.decode(), keep_blank_values=True).items()}
        status = next_failure("sts")
        if status:
            self.record("sts", status, form=form)
            return self.reply(status, "<html>fake outage</html>", "text/html")
        missing = [k for k in ("Action", "Version", "RoleArn", "RoleSessionName", "WebIdentityToken")
                   if not form.get(k)]
        code = None
        if missing or form.get("Action") != "AssumeRoleWithWebIdentity" or \
                form.get("Version") != "2011-06-15":
            code, status, msg = "ValidationError", 400, "missing or wrong: %s" % ",".join(missing or ["Action/Version"])
        elif form["WebIdentityToken"] in state["sts_reject"]:
            code, status, msg = "InvalidIdentityToken", 400, "Couldn't retrieve verification key from your identity provider &amp; friends"
        if code:
            self.record("sts", status, form=form)
            return self.reply(status, (
                '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                "<Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error>"
                "<RequestId>fake-sts-error</RequestId></ErrorResponse>") % (code, msg), "text/xml")
        akid, secret, token, expiry = issue("sts")
        self.record("sts", 200, form=form, token=token)
        self.reply(200, (
            '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n'
            "  <AssumeRoleWithWebIdentityResult>\n"
            "    <SubjectFromWebIdentityToken>system:serviceaccount:x:y</SubjectFromWebIdentityToken>\n"
            "    <Audience>sts.amazonaws.com</Audience>\n"
            "    <AssumedRoleUser><Arn>%s/%s</Arn><AssumedRoleId>AROAFAKE:%s</AssumedRoleId></AssumedRoleUser>\n"
            "    <Credentials>\n"
            "      <SessionToken>%s</SessionToken>\n"
            "      <SecretAccessKey>%s</SecretAccessKey>\n"
            "      <Expiration>%s</Expiration>\n"
            "      <AccessKeyId>%s</AccessKeyId>\n"
            "    </Credentials>\n"
            "    <Provider>oidc.fake</Provider>\n"
            "  </AssumeRoleWithWebIdentityResult>\n"
            "  <ResponseMetadata><RequestId>fake-sts-ok</RequestId></ResponseMetadata>\n"
            "</AssumeRoleWithWebIdentityResponse>\n") % (
                form["RoleArn"], form["RoleSessionName"], form["RoleSessionName"], token, secret,
                iso(expiry), akid), "text/xml")

    # -------------------------------------------------------------- container
    def container(self):
        want = state["container_auth"]
        if want is not None and self.headers.get("Authorization") != want:
            self.record("container", 401)
            return self.reply(401, json.dumps({"code": "AccessDenied",
                                               "message": "Unable to authorize the request"}),
                              "application/json")
        status = next_failure("container")
        if status:
            self.record("container", status)
            return self.reply(status, json.dumps({"code": "InternalError",
                                                  "message": "fake agent outage"}),
                              "application/json")
        akid, secret, token, expiry = issue("container")
        self.record("container", 200, token=token)
        self.reply(200, json.dumps({"AccessKeyId": akid, "SecretAccessKey": secret, "Token": token,
                                    "Expiration": iso(expiry),
                                    "RoleArn": "arn:aws:iam::000000000000:role/fake"}),
                   "application/json")

    # ------------------------------------------------------------------- IMDS
    def imds_token(self, data):
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        if not ttl or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            self.record("imds_token", 400)
            return self.reply(400, "missing or invalid TTL header")
        status = next_failure("imds_token")
        if status:
            self.record("imds_token", status)
            return self.reply(status, "fake outage")
        with lock:
            counter["n"] += 1
            token = "imds-session-%d" % counter["n"]
            imds_tokens.add(token)
        self.record("imds_token", 200, token=token)
        self.reply(200, token)

    def imds_get(self):
        with lock:
            if state["imds_revoke"]:
                imds_tokens.clear()
                state["imds_revoke"] = False
            ok = self.headers.get("X-aws-ec2-metadata-token") in imds_tokens and \
                not state["imds_always_401"]
        if not ok:
            self.record("imds", 401)
            return self.reply(401, "")
        base = "/latest/meta-data/iam/security-credentials/"
        if self.path == "/latest/meta-data/placement/region":
            self.record("imds", 200)
            return self.reply(200, state["imds_region"])
        if self.path == base:
            status = 404 if state["imds_no_role"] else 200
            self.record("imds", status)
            return self.reply(status, state["imds_role"] + "\n" if status == 200 else "")
        if self.path == base + state["imds_role"]:
            status = next_failure("imds")
            if status:
                self.record("imds", status)
                return self.reply(status, "fake outage")
            akid, secret, token, expiry = issue("imds")
            self.record("imds", 200, token=token)
            return self.reply(200, json.dumps({
                "Code": "Success", "LastUpdated": iso(time.time()), "Type": "AWS-HMAC",
                "AccessKeyId": akid, "SecretAccessKey": secret, "Token": token,
                "Expiration": iso(expiry)}, indent=2), "text/plain")
        self.record("imds", 404)
        self.reply(404, "")

    # ---------------------------------------------------------- Kinesis front
    def kinesis(self, data):
        token = self.headers.get("X-Amz-Security-Token")
        m = SIGNED_RE.search(self.headers.get("Authorization", ""))
        signed = m.group(1).split(";") if m else []
        with lock:
            expiry = issued.get(token)
        why = None
        if not token:
            why = ("MissingAuthenticationTokenException", "no X-Amz-Security-Token")
        elif "x-amz-security-token" not in signed:
            why = ("IncompleteSignatureException", "X-Amz-Security-Token is not signed")
        elif expiry is None:
            why = ("UnrecognizedClientException", "The security token included in the request is invalid.")
        elif expiry <= time.time():
            why = ("ExpiredTokenException", "The security token included in the request is expired")
        if why:
            self.record("kinesis", 400, token=token, reason=why[1])
            return self.reply(400, json.dumps({"__type": why[0], "message": why[1]}),
                              "application/x-amz-json-1.1")
        self.record("kinesis", 200, token=token)
        time.sleep(state["kinesis_delay_s"])
        if not UPSTREAM:
            return self.reply(200, "{}", "application/x-amz-json-1.1")
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
        conn.request("POST", self.path, data, {k: v for k, v in self.headers.items()
                                               if k.lower() != "connection"})
        resp = conn.getresponse()
        body = resp.read()
        self.reply(resp.status, body, resp.getheader("Content-Type", "application/json"))
        conn.close()


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORT_FILE + ".tmp", PORT_FILE)  # a reader never sees a partial file
server.serve_forever()
