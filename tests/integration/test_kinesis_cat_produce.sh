#!/usr/bin/env bash
# kinesis-cat -P: a keyed file into sharded streams, read back independently
# (tests/integration/kinesis_read_all.py, boto3 + its own KPL decoder):
#   1. kinesis-local, --ordering strict: every line exactly once, each key in order,
#      every user record inside its shard's hash range;
#   2. kinesalite behind a fault proxy (dropped connections, HTTP 500, throttled
#      requests, partially failed PutRecords): still every line exactly once;
#   3. bad lines fail alone, with their line numbers, and the exit code says so.
set -euo pipefail

if [[ -z "${KN_TEST_KINESIS_ENDPOINT:-}" || -z "${KN_TEST_KINESALITE_ENDPOINT:-}" ]]; then
    echo "peers not running (eval \"\$(tests/peers/peers.sh start)\"): skipped" >&2
    exit 77
fi
KCAT="$KN_BUILD_DIR/bin/kinesis-cat"
PY=/usr/bin/python3
HERE="$KN_SOURCE_DIR/tests/integration"
export AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=AKIDKINESISCATTEST AWS_SECRET_ACCESS_KEY=kinesis-cat-test-secret
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_KINESIS

work=$(mktemp -d)
proxy_pid=
s1="kcat-produce-$$" s2="kcat-produce-faults-$$"
cleanup() {
    local rc=$?
    [[ -n "$proxy_pid" ]] && kill "$proxy_pid" 2>/dev/null || true
    "$KCAT" --endpoint-url "$KN_TEST_KINESIS_ENDPOINT" --delete "$s1" >/dev/null 2>&1 || true
    "$KCAT" --endpoint-url "$KN_TEST_KINESALITE_ENDPOINT" --delete "$s2" >/dev/null 2>&1 || true
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT

passed=0 failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

# keyed FILE N KEYS: lines "key-(i%KEYS):line-i".
keyed() { awk -v n="$2" -v k="$3" 'BEGIN { for (i = 0; i < n; i++) printf "key-%d:line-%d\n", i % k, i }' >"$1"; }

# Compares the read-back user records (KEY:DATA) with the input lines, as multisets.
same_lines() { cmp -s <(sort "$1") <(cut -d' ' -f5- "$2" | sort); }

# Each key's lines appear in put order (shards are read in sequence order).
keys_in_order() {
    cut -d' ' -f5- "$1" | awk -F: '{ split($2, a, "-"); i = a[2] + 0
        if ($1 in last && last[$1] >= i) { print "out of order: " $0; bad = 1 }
        last[$1] = i } END { exit bad }'
}

# ---- 1. kinesis-local, strict ordering
ep=$KN_TEST_KINESIS_ENDPOINT
"$KCAT" --endpoint-url "$ep" --create "$s1" --shards 4 >/dev/null
keyed "$work/in1" 20000 500
rc=0
"$KCAT" --endpoint-url "$ep" -P -s "$s1" -K : --ordering strict <"$work/in1" 2>"$work/err1" || rc=$?
check "kinesis-local: exit 0" '[[ $rc == 0 ]]'
summary=$(tail -n1 "$work/err1")
check "kinesis-local: summary line last" \
    '[[ "$summary" =~ ^\{\"records\":20000,\"delivered\":20000,\"failed\":0,\"retries\":[0-9]+,\"seconds\":[0-9.]+\}$ ]]'
"$PY" "$HERE/kinesis_read_all.py" "$ep" "$s1" >"$work/out1"
check "kinesis-local: every line exactly once" 'same_lines "$work/in1" "$work/out1"'
check "kinesis-local: each key in put order" 'keys_in_order "$work/out1"'
check "kinesis-local: every user record in its shard's range" '! cut -d" " -f4 "$work/out1" | grep -qv "^1$"'
check "kinesis-local: aggregated" '[[ $(cut -d" " -f2 "$work/out1" | sort -u | wc -l) -lt 2000 ]]'

# ---- 2. kinesalite behind the fault proxy
ep=$KN_TEST_KINESALITE_ENDPOINT
"$KCAT" --endpoint-url "$ep" --create "$s2" --shards 4 >/dev/null
coproc PROXY { exec "$PY" "$HERE/kinesis_fault_proxy.py" "$ep" --drop 7 --fail500 5 --throttle 11 \
    --entry-throttle 13 --entry-internal 17 --stats "$work/proxy.json"; }
proxy_pid=$PROXY_PID
read -r proxy_url <&"${PROXY[0]}"
keyed "$work/in2" 100000 1000
rc=0
"$KCAT" --endpoint-url "$proxy_url" -P -s "$s2" -K : -X record.ttl.ms=600000 \
    -X retry.backoff.max.ms=200 -X aggregation.max.bytes=4096 <"$work/in2" 2>"$work/err2" || rc=$?
kill "$proxy_pid"
wait "$proxy_pid" 2>/dev/null || true
proxy_pid=
check "faults: exit 0" '[[ $rc == 0 ]]'
summary=$(tail -n1 "$work/err2")
check "faults: all delivered, with retries" \
    '[[ "$summary" =~ ^\{\"records\":100000,\"delivered\":100000,\"failed\":0,\"retries\":[1-9][0-9]*, ]]'
stats=$(cat "$work/proxy.json")
echo "proxy: $stats"
for kind in dropped http500 throttled entry_throttled entry_internal; do
    check "faults: some $kind" '[[ "$stats" =~ \"$kind\":\ [1-9] ]]'
done
"$PY" "$HERE/kinesis_read_all.py" "$ep" "$s2" >"$work/out2"
check "faults: every line exactly once" 'same_lines "$work/in2" "$work/out2"'

# ---- 3. bad lines fail alone
printf 'k:good-1\nno delimiter here\nk:good-2\n:empty key\n' >"$work/in3"
rc=0
"$KCAT" --endpoint-url "$ep" -P -s "$s2" -K : <"$work/in3" 2>"$work/err3" || rc=$?
check "bad lines: exit 1" '[[ $rc == 1 ]]'
check "bad lines: line 2 reported" 'grep -q "^{\"failed\":2,\"error\":\"KN_ERR_INVALID_ARG\"" "$work/err3"'
check "bad lines: line 4 reported" 'grep -q "^{\"failed\":4,\"error\":\"KN_ERR_INVALID_ARG\"" "$work/err3"'
check "bad lines: summary" \
    'tail -n1 "$work/err3" | grep -q "^{\"records\":4,\"delivered\":2,\"failed\":2,"'
rc=0
"$KCAT" -P -K : -k x -s "$s2" </dev/null 2>/dev/null || rc=$?
check "usage: -K with -k is exit 2" '[[ $rc == 2 ]]'

echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
