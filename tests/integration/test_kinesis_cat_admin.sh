#!/usr/bin/env bash
# kinesis-cat -L / --create / --delete against kinesis-local, reached through
# tests/peers/sigcheck_proxy.py, which checks every SigV4 signature with botocore
# the way AWS does: correct credentials get through, a wrong secret is reported in
# one clear line, usage errors exit 2, runtime errors exit 1.
set -euo pipefail

if [[ -z "${KN_TEST_KINESIS_ENDPOINT:-}" ]]; then
    echo "peers not running (eval \"\$(tests/peers/peers.sh start)\"): skipped" >&2
    exit 77
fi
KCAT="$KN_BUILD_DIR/bin/kinesis-cat"
PY=/usr/bin/python3 # Debian's python, where python3-botocore is installed
export AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=AKIDKINESISCATTEST AWS_SECRET_ACCESS_KEY=kinesis-cat-test-secret
unset AWS_SESSION_TOKEN AWS_PROFILE

work=$(mktemp -d)
proxy_pid=
cleanup() {
    local rc=$?
    if [[ -n "$proxy_pid" ]]; then
        kill "$proxy_pid" 2>/dev/null || true
        wait "$proxy_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT

"$PY" "$KN_SOURCE_DIR/tests/peers/sigcheck_proxy.py" "$KN_TEST_KINESIS_ENDPOINT" \
    "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$work/port" 2>"$work/proxy.log" &
proxy_pid=$!
for _ in $(seq 100); do [[ -s "$work/port" ]] && break; sleep 0.1; done
[[ -s "$work/port" ]] || { echo "FAIL: signature proxy did not start"; cat "$work/proxy.log"; exit 1; }
export AWS_ENDPOINT_URL_KINESIS="http://127.0.0.1:$(<"$work/port")"

passed=0 failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }

# run WANT_EXIT NAME ARGS...: runs kinesis-cat, keeps stdout/stderr in $out/$err.
run() {
    local want=$1 name=$2 rc=0
    shift 2
    "$KCAT" "$@" >"$work/out" 2>"$work/err" || rc=$?
    out=$(<"$work/out") err=$(<"$work/err")
    if [[ $rc -eq $want ]]; then ok "$name (exit $rc)"; else
        bad "$name: exit $rc, wanted $want; stderr: $err"; fi
}

stream="kcat-admin-$$"
run 0 "create a 3-shard stream" --create "$stream" --shards 3
run 0 "list its shards" -L -s "$stream"
lines=$(grep -c '"ShardId":"shardId-' <<<"$out" || true)
[[ $lines -eq 3 ]] && ok "-L printed 3 shard lines" || bad "-L printed $lines shard lines: $out"
"$PY" - "$work/out" <<'PYEOF' && ok "-L lines are JSON with the ListShards fields" || bad "-L JSON fields"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
shards = [json.loads(l) for l in lines]
assert len(shards) == 3
lo = 0
for s in sorted(shards, key=lambda s: int(s["HashKeyRange"]["StartingHashKey"])):
    assert set(s) >= {"ShardId", "HashKeyRange", "SequenceNumberRange"}, s
    assert int(s["HashKeyRange"]["StartingHashKey"]) <= int(s["HashKeyRange"]["EndingHashKey"])
    assert "StartingSequenceNumber" in s["SequenceNumberRange"]
    assert "ParentShardId" not in s  # a new stream has no parents
assert max(int(s["HashKeyRange"]["EndingHashKey"]) for s in shards) == 2**128 - 1
PYEOF

run 1 "create the same stream again" --create "$stream" --shards 1
[[ $(wc -l <<<"$err") -eq 1 && $err == *ResourceInUseException* ]] &&
    ok "duplicate create reported in one line: $err" || bad "duplicate create stderr: $err"

AWS_SECRET_ACCESS_KEY=wrong-secret run 1 "list with a wrong secret" -L -s "$stream"
[[ $(wc -l <<<"$err") -eq 1 && $err == *InvalidSignatureException* && $err == *"signature"* ]] &&
    ok "wrong secret reported in one line: $err" || bad "wrong secret stderr: $err"
[[ -z "$out" ]] && ok "nothing on stdout on error" || bad "stdout on error: $out"
[[ $err != *wrong-secret* ]] && ok "the secret is not echoed" || bad "secret leaked: $err"

AWS_ACCESS_KEY_ID=AKIDUNKNOWN run 1 "list with an unknown key id" -L -s "$stream"
[[ $err == *UnrecognizedClientException* ]] && ok "unknown key id: $err" || bad "unknown key: $err"

run 0 "delete the stream" --delete "$stream"
run 1 "list a deleted stream" -L -s "$stream"
[[ $(wc -l <<<"$err") -eq 1 && $err == *ResourceNotFoundException* ]] &&
    ok "missing stream reported in one line: $err" || bad "missing stream stderr: $err"

run 2 "no mode" -s "$stream"
run 2 "unknown option" -L -s "$stream" --bogus
run 2 "-L without a stream" -L
run 2 "--create without --shards" --create "$stream"
run 2 "bad --shards" --create "$stream" --shards zero
run 2 "-X without =" -L -s "$stream" -X log.level
run 2 "-X unknown property" -L -s "$stream" -X no.such=1
[[ $err == *no.such* ]] && ok "unknown property named: $err" || bad "unknown property: $err"
run 2 "-X value out of range" -L -s "$stream" -X request.timeout.ms=1
run 0 "--help" --help
[[ $out == Usage:* ]] && ok "--help prints usage" || bad "--help output: $out"

# An unreachable endpoint fails with a transport error, not a hang.
AWS_ENDPOINT_URL_KINESIS="http://127.0.0.1:1" run 1 "unreachable endpoint" -L -s "$stream" \
    -X retry.max.attempts=2 -X retry.backoff.base.ms=10
[[ $err == *KN_ERR_TRANSPORT* ]] && ok "unreachable endpoint: $err" || bad "unreachable: $err"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
