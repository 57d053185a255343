#!/usr/bin/env bash
# kinesis-cat -L against kinesis-local with each remote credential source as the only
# one: web identity (STS), container endpoint, EC2 IMDSv2. The three are played by
# tests/lib/fake_creds_server.py on 127.0.0.1, which also fronts Kinesis: a request
# must carry an X-Amz-Security-Token that the fake issued, unexpired, and signed. In
# front of it tests/peers/sigcheck_proxy.py checks the SigV4 signature with botocore:
#   kinesis-cat -> sigcheck_proxy -> fake (token check) -> kinesis-local
# HOME is an empty directory and no AWS_ACCESS_KEY_ID is set, so nothing else can answer.
set -euo pipefail

if [[ -z "${KN_TEST_KINESIS_ENDPOINT:-}" ]]; then
    echo "peers not running (eval \"\$(tests/peers/peers.sh start)\"): skipped" >&2
    exit 77
fi
KCAT="$KN_BUILD_DIR/bin/kinesis-cat"
PY=${KN_TEST_PYTHON:-/usr/bin/python3} # Debian's python, where python3-botocore is installed
AKID=AKIDFAKEREMOTE SECRET=fake-remote-secret # what the fake issues
ROLE=arn:aws:iam::000000000000:role/kinesis-cat-test

work=$(mktemp -d)
pids=()
cleanup() {
    # `|| true`: wait reports the killed server's status, which must not end the cleanup early
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# start NAME PORTFILE CMD...: runs a helper server in the background, waits for its port.
start() {
    local name=$1 portfile=$2
    shift 2
    "$@" >"$work/$name.log" 2>&1 & # never ctest's pipe, even if left behind
    pids+=($!)
    for _ in $(seq 100); do [[ -s "$portfile" ]] && return; sleep 0.1; done
    echo "FAIL: $name did not start"
    cat "$work/$name.log"
    exit 1
}
start fake "$work/fake.port" "$PY" "$KN_SOURCE_DIR/tests/lib/fake_creds_server.py" \
    "$work/fake.port" "$KN_TEST_KINESIS_ENDPOINT"
FAKE="http://127.0.0.1:$(<"$work/fake.port")"
start sigcheck "$work/sig.port" "$PY" "$KN_SOURCE_DIR/tests/peers/sigcheck_proxy.py" \
    "$FAKE" "$AKID" "$SECRET" "$work/sig.port"

# Only what each case sets: no keys, no profile, an empty HOME, IMDS off unless asked.
for v in $(env | grep -o '^AWS_[A-Z_]*' || true); do unset "$v"; done
mkdir -p "$work/home"
export HOME="$work/home"
export AWS_ENDPOINT_URL_KINESIS="http://127.0.0.1:$(<"$work/sig.port")"

passed=0 failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }

# control JSON: changes the fake's settings.
control() { "$PY" -c 'import sys,urllib.request as u; u.urlopen(u.Request(sys.argv[1]+"/_control", sys.argv[2].encode(), method="POST")).read()' "$FAKE" "$1"; }
# fake_count KIND [STATUS]: requests of that kind (and status) the fake has seen.
fake_count() {
    "$PY" - "$FAKE" "$1" "${2:-}" <<'PYEOF'
import json, sys, urllib.request
log = json.load(urllib.request.urlopen(sys.argv[1] + "/_log"))
print(sum(1 for e in log if e["kind"] == sys.argv[2] and (not sys.argv[3] or e["status"] == int(sys.argv[3]))))
PYEOF
}
# last_kinesis_token: the session token of the last request the Kinesis front let through.
last_kinesis_token() {
    "$PY" - "$FAKE" <<'PYEOF'
import json, sys, urllib.request
log = json.load(urllib.request.urlopen(sys.argv[1] + "/_log"))
print([e for e in log if e["kind"] == "kinesis" and e["status"] == 200][-1]["token"])
PYEOF
}

# as SOURCE WANT_EXIT NAME ARGS...: runs kinesis-cat with one credential source configured.
as() {
    local source=$1 want=$2 name=$3 rc=0
    shift 3
    (
        export AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1
        case $source in
        web-identity)
            export AWS_WEB_IDENTITY_TOKEN_FILE="$work/web-identity-token" AWS_ROLE_ARN=$ROLE
            export AWS_ENDPOINT_URL_STS="$FAKE"
            ;;
        container)
            export AWS_CONTAINER_CREDENTIALS_FULL_URI="$FAKE/container/v1/credentials"
            export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$work/pod-token"
            ;;
        imds)
            # and the region from IMDS too: nothing else sets one
            unset AWS_EC2_METADATA_DISABLED AWS_REGION
            export AWS_EC2_METADATA_SERVICE_ENDPOINT="$FAKE"
            ;;
        none) ;;
        esac
        exec "$KCAT" "$@"
    ) >"$work/out" 2>"$work/err" || rc=$?
    out=$(<"$work/out") err=$(<"$work/err")
    if [[ $rc -eq $want ]]; then ok "$source: $name (exit $rc)"; else
        bad "$source: $name: exit $rc, wanted $want; stderr: $err"; fi
}

echo -n "eyJ.web-identity-token-1" >"$work/web-identity-token"
echo "pod-token-1" >"$work/pod-token"
control '{"container_auth": "pod-token-1", "imds_region": "us-east-1"}'

stream="kcat-creds-$$"
as web-identity 0 "create a 2-shard stream" --create "$stream" --shards 2
for source in web-identity container imds; do
    before=$(fake_count kinesis 200)
    as "$source" 0 "list shards" -L -s "$stream"
    lines=$(grep -c '"ShardId":"shardId-' <<<"$out" || true)
    [[ $lines -eq 2 ]] && ok "$source: -L printed 2 shard lines" || bad "$source: -L printed: $out"
    [[ $(fake_count kinesis 200) -gt $before ]] && ok "$source: the front saw its session token" ||
        bad "$source: no request reached the Kinesis front"
    token=$(last_kinesis_token)
    prefix=${source/web-identity/sts}
    [[ $token == "$prefix-token-"* ]] && ok "$source: signed with its token ($token)" ||
        bad "$source: signed with token '$token'"
done
[[ $(fake_count kinesis 400) -eq 0 ]] && ok "no request was refused by the token check" ||
    bad "the token check refused $(fake_count kinesis 400) request(s)"
[[ $(fake_count imds_token) -ge 1 && $(fake_count imds 200) -ge 3 ]] &&
    ok "IMDS: a session token, then role, credentials and region" || bad "IMDS requests"

# The token files are read at every fetch: rotated, the next run sends the new ones.
echo -n "eyJ.web-identity-token-2" >"$work/web-identity-token"
echo "pod-token-2" >"$work/pod-token"
control '{"container_auth": "pod-token-2", "sts_reject": ["eyJ.web-identity-token-1"]}'
as web-identity 0 "list after the token file rotated" -L -s "$stream"
as container 0 "list after the authorization token file rotated" -L -s "$stream"

# Failures are one clear line, and exit 1.
control '{"sts_reject": ["eyJ.web-identity-token-2"]}'
as web-identity 1 "STS refuses the token" -L -s "$stream"
[[ $(wc -l <<<"$err") -eq 1 && $err == *InvalidIdentityToken* ]] &&
    ok "refused token reported in one line: $err" || bad "refused token stderr: $err"
control '{"container_auth": "something-else"}'
as container 1 "the agent refuses the authorization token" -L -s "$stream"
[[ $(wc -l <<<"$err") -eq 1 && $err == *"HTTP 401"* ]] &&
    ok "refused authorization reported in one line: $err" || bad "refused authorization: $err"
[[ $err != *pod-token* ]] && ok "the authorization token is not echoed" || bad "token leaked: $err"
AWS_CONTAINER_CREDENTIALS_FULL_URI=http://10.0.0.1/creds as none 1 "plain http to a remote host" \
    -L -s "$stream"
[[ $err == *"plain http is only allowed"* ]] && ok "non-loopback http refused: $err" ||
    bad "non-loopback http: $err"
as none 1 "no source at all" -L -s "$stream"
[[ $(wc -l <<<"$err") -eq 1 && $err == *KN_ERR_NO_CREDENTIALS* && $err == *"web-identity: "* &&
    $err == *"container: "* && $err == *"imds: disabled"* ]] &&
    ok "every source listed: $err" || bad "no source: $err"

control '{"sts_reject": []}'
as web-identity 0 "delete the stream" --delete "$stream"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
