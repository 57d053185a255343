#!/usr/bin/env bash
# The consumer's polling correctness set (test_consumer_single, test_consumer_group,
# test_consumer_reshard: one worker, several worker processes with SIGKILL and SIGTERM
# handover, aggregated input, restart inside an aggregate, split and merge) run again
# with retrieval.mode=fanout through KCT_CONF (see tests/lib/kn_consumer_test.h).
# Usage: fanout_consumer_set.sh h2c|tls   (called by test_fanout_consumer_*.sh)
set -euo pipefail

if [[ -z "${KN_TEST_KINESIS_ENDPOINT:-}" || -z "${KN_TEST_DYNAMODB_ENDPOINT:-}" ]]; then
    echo "peers not running (eval \"\$(tests/peers/peers.sh start)\"): skipped" >&2
    exit 77
fi
case ${1:-} in
h2c) conf="retrieval.mode=fanout" ;;
tls)
    [[ -n "${KN_TEST_KINESIS_TLS_ENDPOINT:-}" && -n "${KN_TEST_CA_FILE:-}" ]] || {
        echo "no TLS peer: skipped" >&2
        exit 77
    }
    # the workers' Kinesis traffic over https, checked against the test CA
    conf="retrieval.mode=fanout;kinesis.endpoint.url=$KN_TEST_KINESIS_TLS_ENDPOINT"
    conf+=";tls.ca.file=$KN_TEST_CA_FILE"
    ;;
*)
    echo "usage: $0 h2c|tls" >&2
    exit 2
    ;;
esac

export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-300} # not Check's 4 s default
failed=0
for t in test_consumer_single test_consumer_group test_consumer_reshard; do
    echo "==== $t in fan-out mode ($1)"
    if KCT_CONF="$conf" "$KN_BUILD_DIR/bin/$t"; then
        echo "ok: $t ($1)"
    else
        echo "FAIL: $t ($1)"
        failed=$((failed + 1))
    fi
done
[[ $failed -eq 0 ]]
