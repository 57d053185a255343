#!/usr/bin/env bash
# Differential test: randomised requests signed by kinesis-c (sigv4_gen) and by
# botocore's SigV4Auth must agree byte for byte. The seed is printed; rerun one
# with KN_SIGV4_SEED=<seed>. KN_SIGV4_COUNT sets the number of requests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${KN_BUILD_DIR:-$here/../../build}
export AWS_EC2_METADATA_DISABLED=true

# Debian's python3-botocore is the oracle (the python3 on PATH may be another install).
PY=${KN_TEST_PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import botocore.auth' 2>/dev/null; then
    echo "botocore is not importable (apt-get install python3-botocore): skipped"
    exit 77
fi
gen=$build/bin/sigv4_gen
if [[ ! -x $gen ]]; then
    echo "sigv4_gen not built at $gen" >&2
    exit 1
fi
seed=${KN_SIGV4_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
count=${KN_SIGV4_COUNT:-2000}
echo "seed $seed, $count requests"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$gen" "$seed" "$count" >"$out"
"$PY" "$here/sigv4_botocore.py" <"$out"
