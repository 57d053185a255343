#!/usr/bin/env bash
# kinesis-cat -C --fanout workers sharing a stream on kinesis-local + dynalite, over h2c
# and over TLS (test CA, verification on): three workers of one group split the shards
# and register the stream consumer once; records keep flowing while one worker is
# SIGKILLed (its shards are taken over: nothing lost, only what it printed after its
# last checkpoint is printed again) and another gets SIGTERM (graceful: exit 0,
# nothing it printed is printed again); the last one releases everything on SIGTERM;
# the stream consumer is still registered afterwards (never deregistered).
# The first records are put only once the workers have finished balancing the leases:
# a steal during that balancing legitimately prints a batch twice (the victim printed
# it, then found the lease gone when checkpointing; the KCL does the same), and such a
# duplicate would otherwise look like one of the handovers this test checks.
set -euo pipefail

# shellcheck source=../lib/kcat_test.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/kcat_test.sh"
SHARDS=6
DEADLINE_S=120 # only catches a hang
FAILOVER_S=3

work=$(mktemp -d)
pids=()
streams=()
cleanup() {
    local rc=$? p s
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    for s in "${streams[@]}"; do "$KCAT" --delete "$s" >/dev/null 2>&1 || true; done
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT

# consumers STREAM: "name status" of each registered stream consumer.
consumers() {
    "$PY" - "$1" <<'PYEOF'
import os, sys, boto3
k = boto3.client("kinesis", endpoint_url=os.environ["AWS_ENDPOINT_URL_KINESIS"])
arn = k.describe_stream_summary(StreamName=sys.argv[1])["StreamDescriptionSummary"]["StreamARN"]
for c in k.list_stream_consumers(StreamARN=arn, MaxResults=100)["Consumers"]:
    print(c["ConsumerName"], c["ConsumerStatus"])
PYEOF
}

# distinct DIR: how many different records the workers' outputs hold.
distinct() { cat "$1"/out.* 2>/dev/null | awk '{print $3}' | sort -u | grep -c '^line-' || true; }

# wait_for CMD...: runs CMD every 0.2 s until it succeeds or DEADLINE_S passes.
wait_for() {
    local end=$((SECONDS + DEADLINE_S))
    until "$@"; do
        ((SECONDS < end)) || return 1
        sleep 0.2
    done
}

has_all() { [[ $(distinct "$1") -ge $2 ]]; }
owned_only_by() {
    local o
    o=$(kcat_owners "$1" | sort -u | tr '\n' ' ')
    [[ "$o" == "$2 " ]]
}
# assignment APP: "leaseKey owner" of every lease of lease table APP, sorted.
assignment() {
    "$PY" - "$1" <<'PYEOF'
import os, sys, boto3
d = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
items = d.scan(TableName=sys.argv[1], ConsistentRead=True)["Items"]
for it in sorted(items, key=lambda i: i["leaseKey"]["S"]):
    print(it["leaseKey"]["S"], it.get("leaseOwner", {}).get("S", "-"))
PYEOF
}
# balanced_for APP WORKERS: every lease held, each of WORKERS workers holding the same
# share, and nobody taking or stealing for a whole failover time. A worker stops
# delivering a shard at most failover.time.ms after its last successful lease write, so
# by then the victim of the last steal can no longer print records put afterwards.
balanced_for() {
    local before after
    before=$(assignment "$1")
    [[ -n "$before" ]] && ! grep -q ' -$' <<<"$before" || return 1
    [[ $(awk '{print $2}' <<<"$before" | sort | uniq -c | awk '{print $1}' | sort -u |
        tr '\n' ' ') == "$((SHARDS / $2)) " ]] || return 1
    [[ $(awk '{print $2}' <<<"$before" | sort -u | grep -c .) -eq $2 ]] || return 1
    sleep "$FAILOVER_S"
    after=$(assignment "$1")
    [[ "$before" == "$after" ]]
}
# dup_shards DIR WORKER: "shard:count" of the records printed twice but not by WORKER.
dup_shards() {
    cat "$1"/out.* | sort -k3,3 | awk '{print $3, $1}' | uniq -d |
        grep -vFf <(awk '{print $3 " "}' "$1/out.$2") | awk '{print $2}' | sort | uniq -c |
        awk '{printf "%s:%s ", $2, $1}'
}

# scenario h2c|tls
scenario() {
    local mode=$1 stream="kcat-fo-$1-$$" d="$work/$1" args=()
    local app="$stream-g" name="fo-$1-$$"
    mkdir -p "$d"
    streams+=("$stream")
    if [[ $mode == tls ]]; then
        args=(--endpoint-url "$KN_TEST_KINESIS_TLS_ENDPOINT" -X "tls.ca.file=$KN_TEST_CA_FILE")
    fi
    "$KCAT" --create "$stream" --shards "$SHARDS" >/dev/null

    local w wp=()
    for w in 0 1 2; do
        "$KCAT" -C -s "$stream" -G "$app" --fanout --consumer-name "$name" --worker-id "w$w" \
            -f '%p %S %s\n' -X "failover.time.ms=$((FAILOVER_S * 1000))" "${args[@]}" \
            >"$d/out.$w" 2>"$d/err.$w" &
        wp[w]=$!
        pids+=("$!")
    done
    wait_for balanced_for "$app" 3 && ok "$mode: the 3 workers share the $SHARDS leases evenly" ||
        bad "$mode: owners $(kcat_owners "$app" | sort | uniq -c | tr '\n' ' ')"
    kcat_put "$stream" 0 200
    wait_for has_all "$d" 200 && ok "$mode: 3 workers printed all 200 records" ||
        bad "$mode: $(distinct "$d") of 200 records printed"

    # records keep coming while w2 is killed and w1 stopped
    (for i in $(seq 200 10 590); do kcat_put "$stream" "$i" $((i + 10)); sleep 0.2; done) &
    local putter=$!
    sleep 2
    kill -9 "${wp[2]}"
    wait "${wp[2]}" 2>/dev/null || true
    wait_for owned_only_by "$app" "w0 w1" && ok "$mode: SIGKILLed w2's shards taken over" ||
        bad "$mode: owners after SIGKILL: $(kcat_owners "$app" | tr '\n' ' ')"
    local t_term=$SECONDS
    kill -TERM "${wp[1]}"
    local rc=0
    wait "${wp[1]}" || rc=$?
    [[ $rc -eq 0 ]] && ok "$mode: SIGTERM: w1 exits 0" || bad "$mode: w1 exit $rc: $(<"$d/err.1")"
    wait_for owned_only_by "$app" "w0" && ok "$mode: w1's leases released and taken by w0 " \
        "($((SECONDS - t_term)) s after SIGTERM)" ||
        bad "$mode: owners after SIGTERM: $(kcat_owners "$app" | tr '\n' ' ')"
    wait "$putter"
    wait_for has_all "$d" 600 && ok "$mode: all 600 records printed across the handovers" ||
        bad "$mode: $(distinct "$d") of 600 records printed"
    kill -TERM "${wp[0]}"
    rc=0
    wait "${wp[0]}" || rc=$?
    [[ $rc -eq 0 && $(kcat_owners "$app" | sort -u) == "-" ]] && ok "$mode: w0 released everything" ||
        bad "$mode: w0 exit $rc, owners $(kcat_owners "$app" | tr '\n' ' ')"

    # printed twice: only what the killed w2 printed after its last checkpoint
    local dups bad_dups graceful_dups
    dups=$(cat "$d"/out.* | awk '{print $3}' | sort | uniq -d | grep -c . || true)
    bad_dups=$(cat "$d"/out.* | awk '{print $3}' | sort | uniq -d |
        grep -vxFf <(awk '{print $3}' "$d/out.2") | grep -c . || true)
    graceful_dups=$(awk '{print $3}' "$d/out.1" | sort -u | grep -xFf - <(awk '{print $3}' "$d/out.0") |
        grep -c . || true)
    [[ $bad_dups -eq 0 && $graceful_dups -eq 0 ]] &&
        ok "$mode: $dups records printed twice, all of them first by the killed worker" ||
        bad "$mode: $bad_dups duplicates not from w2 (on $(dup_shards "$d" 2)), $graceful_dups" \
            "printed by w1 and again by w0"
    # within a shard, each worker printed in sequence order
    local w_ord=1
    for w in 0 1 2; do
        # sequence numbers compared as strings of digits (awk numbers are doubles)
        awk '{print $1, $2}' "$d/out.$w" | sort -s -k1,1 | awk '
            {q = sprintf("%060s", $2)}
            $1 == s && q "" <= p "" {bad=1}
            {s=$1; p=q} END {exit bad}' || w_ord=0
    done
    [[ $w_ord -eq 1 ]] && ok "$mode: each worker printed every shard in sequence order" ||
        bad "$mode: out-of-order output"
    if grep -l "ERR\|error" "$d"/err.* >/dev/null 2>&1; then
        echo "note ($mode): worker stderr: $(grep -h "ERR\|error" "$d"/err.* | sort | uniq -c | head -5)"
    fi
    [[ $(consumers "$stream") == "$name ACTIVE" ]] &&
        ok "$mode: stream consumer $name registered once, still ACTIVE after the workers left" ||
        bad "$mode: consumers: $(consumers "$stream" | tr '\n' ' ')"
}

scenario h2c
if [[ -n "${KN_TEST_KINESIS_TLS_ENDPOINT:-}" && -n "${KN_TEST_CA_FILE:-}" ]]; then
    scenario tls
else
    bad "no TLS peer in the environment"
fi

# usage: --consumer-name needs --fanout
rc=0
"$KCAT" -C -s x -G y --consumer-name z >/dev/null 2>"$work/err.usage" || rc=$?
[[ $rc -eq 2 ]] && grep -q -- "--fanout" "$work/err.usage" && ok "--consumer-name without --fanout: usage error" ||
    bad "--consumer-name without --fanout: exit $rc: $(<"$work/err.usage")"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
