# Shared by the kinesis-cat consumer script tests (source it): skip without the peers,
# the test environment, ok/bad counters, and Debian boto3 helpers for records and
# lease owners. Sets KCAT and PY.
if [[ -z "${KN_TEST_KINESIS_ENDPOINT:-}" || -z "${KN_TEST_DYNAMODB_ENDPOINT:-}" ]]; then
    echo "peers not running (eval \"\$(tests/peers/peers.sh start)\"): skipped" >&2
    exit 77
fi
KCAT="$KN_BUILD_DIR/bin/kinesis-cat"
PY=/usr/bin/python3 # Debian's python, where python3-boto3 is installed
export AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=AKIDKINESISCATTEST AWS_SECRET_ACCESS_KEY=kinesis-cat-test-secret
export AWS_ENDPOINT_URL_KINESIS="$KN_TEST_KINESIS_ENDPOINT"
export AWS_ENDPOINT_URL_DYNAMODB="$KN_TEST_DYNAMODB_ENDPOINT"
unset AWS_SESSION_TOKEN AWS_PROFILE

passed=0 failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }

# kcat_put STREAM FROM TO: records "line-FROM".."line-(TO-1)" with partition keys "key-N".
kcat_put() {
    "$PY" - "$@" <<'PYEOF'
import os, sys, boto3
stream, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
k = boto3.client("kinesis", endpoint_url=os.environ["AWS_ENDPOINT_URL_KINESIS"])
recs = [{"Data": b"line-%d" % i, "PartitionKey": "key-%d" % i} for i in range(lo, hi)]
while recs:
    r = k.put_records(StreamName=stream, Records=recs[:100])
    recs = [e for e, res in zip(recs[:100], r["Records"]) if "ErrorCode" in res] + recs[100:]
PYEOF
}

# kcat_owners APP: the leaseOwner of every lease of lease table APP, "-" for none, one per line.
kcat_owners() {
    "$PY" - "$1" <<'PYEOF'
import os, sys, boto3
d = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
for it in d.scan(TableName=sys.argv[1], ConsistentRead=True)["Items"]:
    print(it.get("leaseOwner", {}).get("S", "-"))
PYEOF
}
