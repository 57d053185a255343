"""Re-signs the requests printed by sigv4_gen with botocore's SigV4Auth and
compares canonical request, string to sign, signature and Authorization byte
for byte. Reads JSON lines on stdin; prints "N passed, M failed"; exit 1 on any
mismatch, 77 when botocore is not importable."""
import json
import sys

try:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except ImportError:
    print("botocore is not importable: skipped")
    sys.exit(77)

MAX_REPORTED = 5


def botocore_sign(c):
    creds = Credentials(c["akid"], c["secret"], c["token"])
    # Decoded query pairs go in as params: botocore encodes them itself, so the
    # comparison also checks our decoding of the randomly encoded wire query.
    req = AWSRequest(method=c["method"], url="https://" + c["host"] + c["path"],
                     data=bytes.fromhex(c["body"]), params=[tuple(p) for p in c["params"]])
    for name, value in c["headers"]:
        req.headers[name] = value  # appends: duplicates kept in order
    req.headers["X-Amz-Date"] = c["amz_date"]
    if c["token"]:
        req.headers["X-Amz-Security-Token"] = c["token"]
    req.context["timestamp"] = c["amz_date"]
    auth = SigV4Auth(creds, c["service"], c["region"])
    creq = auth.canonical_request(req)
    sts = auth.string_to_sign(req, creq)
    sig = auth.signature(sts, req)
    authz = "AWS4-HMAC-SHA256 Credential=%s, SignedHeaders=%s, Signature=%s" % (
        auth.scope(req), auth.signed_headers(auth.headers_to_sign(req)), sig)
    return {"creq": creq, "sts": sts, "sig": sig, "auth": authz}


def main():
    sys.stdin.reconfigure(errors="surrogateescape")  # wire queries may split a UTF-8 sequence
    passed = failed = 0
    for line in sys.stdin:
        c = json.loads(line)
        want = botocore_sign(c)
        bad = [k for k in ("creq", "sts", "sig", "auth") if c[k].encode() != want[k].encode()]
        if not bad:
            passed += 1
            continue
        failed += 1
        if failed <= MAX_REPORTED:
            print("request %d differs in %s" % (c["i"], ", ".join(bad)))
            print("  path %r, wire query %r" % (c["path"], c["wire_query"]))
            for k in bad:
                print("  ours     %s: %r" % (k, c[k]))
                print("  botocore %s: %r" % (k, want[k]))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
