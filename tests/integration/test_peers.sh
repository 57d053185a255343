#!/usr/bin/env bash
# The peers started by tests/peers/peers.sh are up, on loopback, and speak what the
# integration tests rely on: kinesis-local over HTTP/1.1, h2c and TLS+h2 with a
# certificate that verifies against KN_TEST_CA_FILE; Kinesis and DynamoDB JSON calls.
set -euo pipefail

if [[ -z "${KN_TEST_KINESIS_ENDPOINT:-}" ]]; then
    echo "peers not running (eval \"\$(tests/peers/peers.sh start)\"): skipped" >&2
    exit 77
fi

CURL_MAX_S=20
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

for var in KN_TEST_KINESIS_ENDPOINT KN_TEST_KINESIS_TLS_ENDPOINT KN_TEST_DYNAMODB_ENDPOINT \
    KN_TEST_KINESALITE_ENDPOINT; do
    if [[ "${!var}" =~ ^https?://127\.0\.0\.1:[0-9]+$ ]]; then
        pass "$var is a loopback endpoint"
    else
        fail "$var='${!var}' is not http(s)://127.0.0.1:PORT"
    fi
done
[[ -r "${KN_TEST_CA_FILE:-}" ]] || fail "KN_TEST_CA_FILE '${KN_TEST_CA_FILE:-}' is not readable"

# expect_http WHAT WANT CURL-ARGS...: curl must print WANT for -w.
expect_http() {
    local what=$1 want=$2 got
    shift 2
    got=$(curl -sS -m "$CURL_MAX_S" -o /dev/null "$@") || got="curl exit $?"
    if [[ "$got" == "$want" ]]; then pass "$what"; else fail "$what: got '$got', want '$want'"; fi
}

kl=$KN_TEST_KINESIS_ENDPOINT
tls=$KN_TEST_KINESIS_TLS_ENDPOINT
expect_http "kinesis-local healthcheck, HTTP/1.1" "200 1.1" -w '%{http_code} %{http_version}' "$kl/healthcheck"
expect_http "kinesis-local healthcheck, h2c prior knowledge" "200 2" \
    -w '%{http_code} %{http_version}' --http2-prior-knowledge "$kl/healthcheck"
expect_http "kinesis-local TLS verifies with the test CA and negotiates h2" "200 2 0" \
    -w '%{http_code} %{http_version} %{ssl_verify_result}' --http2 --cacert "$KN_TEST_CA_FILE" "$tls/healthcheck"
expect_http "kinesis-local TLS verifies for DNS name localhost too" "200" \
    -w '%{http_code}' --cacert "$KN_TEST_CA_FILE" --resolve "localhost:${tls##*:}:127.0.0.1" \
    "https://localhost:${tls##*:}/healthcheck"

# Without the test CA the certificate must not verify (curl exit 60), so a passing
# TLS check above really depends on KN_TEST_CA_FILE.
rc=0
curl -sS -m "$CURL_MAX_S" -o /dev/null "$tls/healthcheck" 2>/dev/null || rc=$?
if ((rc == 60)); then pass "TLS without the test CA is rejected"; else fail "TLS without the CA: curl exit $rc, want 60"; fi

# api ENDPOINT SERVICE TARGET JSON-VERSION BODY [CURL-ARGS...]: a JSON call with an Authorization header of
# the right shape (the peers check its presence, not the signature). Prints the body.
api() {
    local date
    date=$(date -u +%Y%m%dT%H%M%SZ)
    curl -sS -m "$CURL_MAX_S" --fail-with-body "$1/" \
        -H "Content-Type: application/x-amz-json-$4" -H "X-Amz-Target: $3" -H "X-Amz-Date: $date" \
        -H "Authorization: AWS4-HMAC-SHA256 Credential=$AWS_ACCESS_KEY_ID/${date:0:8}/$AWS_REGION/$2/aws4_request, SignedHeaders=host;x-amz-date, Signature=00" \
        -d "$5" "${@:6}"
}

# expect_json WHAT KEY BODY-COMMAND...: the JSON answer must contain "KEY":[
expect_json() {
    local what=$1 key=$2 out
    shift 2
    if out=$("$@" 2>&1) && [[ "$out" == *"\"$key\":["* ]]; then
        pass "$what"
    else
        fail "$what: got '${out:0:300}'"
    fi
}

: "${AWS_ACCESS_KEY_ID:=AKIDTESTTESTTEST}" "${AWS_REGION:=us-east-1}"
expect_json "kinesis-local ListStreams" StreamNames \
    api "$kl" kinesis Kinesis_20131202.ListStreams 1.1 '{}'
expect_json "kinesis-local ListStreams over TLS" StreamNames \
    api "$tls" kinesis Kinesis_20131202.ListStreams 1.1 '{}' --cacert "$KN_TEST_CA_FILE"
expect_json "kinesalite ListStreams" StreamNames \
    api "$KN_TEST_KINESALITE_ENDPOINT" kinesis Kinesis_20131202.ListStreams 1.1 '{}'
expect_json "dynalite ListTables" TableNames \
    api "$KN_TEST_DYNAMODB_ENDPOINT" dynamodb DynamoDB_20120810.ListTables 1.0 '{}'

if ((failures)); then
    echo "$failures peer check(s) failed (logs in ${KN_TEST_PEERS_DIR:-the peers run dir})" >&2
    exit 1
fi
echo "all peer checks passed"
