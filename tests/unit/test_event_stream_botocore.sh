#!/usr/bin/env bash
# Differential test: event-stream messages written by our encoder (event_stream_gen)
# must decode with botocore's EventStreamBuffer to the same headers and payloads.
# The seed is printed; rerun one with KN_ES_SEED=<seed>.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${KN_BUILD_DIR:-$here/../../build}

# Debian's python3-botocore is the oracle (the python3 on PATH may be another install).
PY=${KN_TEST_PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import botocore.eventstream' 2>/dev/null; then
    echo "botocore is not importable (apt-get install python3-botocore): skipped"
    exit 77
fi
gen=$build/bin/event_stream_gen
[[ -x $gen ]] || { echo "event_stream_gen not built at $gen" >&2; exit 1; }
seed=${KN_ES_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "seed $seed"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$gen" "$seed" 300 "$dir/messages" >"$dir/expected"
"$PY" - "$dir/messages" "$dir/expected" <<'PY'
import json, sys
from botocore.eventstream import EventStreamBuffer

data = open(sys.argv[1], "rb").read()
expected = [json.loads(line) for line in open(sys.argv[2])]
buf = EventStreamBuffer()
# uneven chunks exercise botocore's own buffering as well
got, pos, step = [], 0, 1
while pos < len(data):
    buf.add_data(data[pos:pos + step])
    got.extend(buf)
    pos += step
    step = step * 7 % 9973 + 1
assert len(got) == len(expected), f"{len(got)} messages decoded, {len(expected)} written"
for i, (msg, want) in enumerate(zip(got, expected)):
    assert msg.payload == bytes.fromhex(want["payload"]), f"message {i}: payload differs"
    assert len(msg.headers) == len(want["headers"]), f"message {i}: header count differs"
    for name, typ, value in want["headers"]:
        v = msg.headers[name]
        if typ in (0, 1):
            ok = v is (typ == 0)
        elif typ == 7:
            ok = v == bytes.fromhex(value).decode()
        elif typ in (6, 9):
            ok = v == bytes.fromhex(value)
        else:
            ok = v == value
        assert ok, f"message {i}: header {name} type {typ}: botocore {v!r}, ours {value!r}"
print(f"{len(got)} messages agree")
PY
