#!/usr/bin/env bash
# The producer benchmark side by side with boto3 and the JS SDK, on the same local sink,
# then the same workload against kinesalite. Prints each tool's figures and the ratios.
#
#   tests/bench/producer_compare.sh BUILD_DIR [N] [SIZE] [KEYS]
#
# boto3: Debian's python3-boto3. JS: @aws-sdk/client-kinesis and aws-kinesis-agg, pinned in
# tests/bench/package.json and installed here (npm ci) on first use. kinesalite: run with
# the peers' environment (eval "$(tests/peers/peers.sh start)"), else skipped.
# Not a test: nothing here fails on speed.
set -euo pipefail
BUILD=${1:?usage: producer_compare.sh BUILD_DIR [N] [SIZE] [KEYS]}
N=${2:-1000000} SIZE=${3:-100} KEYS=${4:-1000}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN="$BUILD/bin"
export AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1

coproc SINK { exec "$BIN/bench_kinesis_sink" --shards 8; }
sink_pid=$SINK_PID
trap 'kill $sink_pid 2>/dev/null || true' EXIT
read -r url <&"${SINK[0]}"
echo "sink: $url   workload: $N records of $SIZE bytes over $KEYS keys"

rate() { sed -n 's/^user records per CPU-second: \([0-9]*\).*/\1/p'; }

echo; echo "== kinesis-c producer (aggregation, per-record reports, retries)"
c_out=$("$BIN/bench_producer_bench" -n "$N" -s "$SIZE" -k "$KEYS" --endpoint "$url" --stream bench)
echo "$c_out" | grep -v '^stats:'
c_rate=$(echo "$c_out" | rate)

echo; echo "== boto3 put_records (500 per call, no aggregation)"
b_n=$((N / 10)) # boto3 is ~10x slower: a tenth of the records keeps the run short
b_out=$(/usr/bin/python3 "$HERE/boto3_put_records.py" "$url" bench "$b_n" "$SIZE" "$KEYS")
echo "$b_out"
b_rate=$(echo "$b_out" | rate)

if [[ ! -d "$HERE/node_modules/@aws-sdk/client-kinesis" ]]; then
    (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error >&2) ||
        echo "npm ci in $HERE failed: the JS SDK row will be skipped" >&2
fi
export NODE_PATH="$HERE/node_modules" # js_sdk_put_records.mjs resolves its modules from here
j_rate=
if node -e "require('@aws-sdk/client-kinesis'); require('aws-kinesis-agg')" 2>/dev/null; then
    echo; echo "== AWS SDK for JavaScript v3 + aws-kinesis-agg RecordAggregator"
    j_out=$(node --no-warnings "$HERE/js_sdk_put_records.mjs" "$url" bench "$N" "$SIZE" "$KEYS")
    echo "$j_out"
    j_rate=$(echo "$j_out" | rate)
else
    echo; echo "== JS SDK: skipped (NODE_PATH lacks @aws-sdk/client-kinesis / aws-kinesis-agg)"
fi

echo; echo "== ratios (user records per CPU-second)"
awk -v c="$c_rate" -v b="$b_rate" 'BEGIN { printf "kinesis-c / boto3: %.1fx\n", c / b }'
[[ -n "$j_rate" ]] && awk -v c="$c_rate" -v j="$j_rate" 'BEGIN { printf "kinesis-c / JS SDK + aws-kinesis-agg: %.1fx\n", c / j }'

if [[ -n "${KN_TEST_KINESALITE_ENDPOINT:-}" ]]; then
    stream="bench-$$"
    "$BIN/kinesis-cat" --endpoint-url "$KN_TEST_KINESALITE_ENDPOINT" --create "$stream" --shards 8 2>/dev/null
    echo; echo "== kinesis-c producer against kinesalite (8 shards)"
    "$BIN/bench_producer_bench" -n "$N" -s "$SIZE" -k "$KEYS" --endpoint "$KN_TEST_KINESALITE_ENDPOINT" \
        --stream "$stream" | grep -v '^stats:'
    "$BIN/kinesis-cat" --endpoint-url "$KN_TEST_KINESALITE_ENDPOINT" --delete "$stream" 2>/dev/null
else
    echo; echo "== kinesalite: skipped (no KN_TEST_KINESALITE_ENDPOINT)"
fi
