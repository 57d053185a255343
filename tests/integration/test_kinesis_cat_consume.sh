#!/usr/bin/env bash
# kinesis-cat -C against kinesis-local + dynalite: FORMAT, --exit-idle, resuming a
# group from its checkpoints, graceful shutdown on SIGTERM (checkpointed, leases
# released), --from latest, usage errors. Records are written with Debian's boto3.
set -euo pipefail

# shellcheck source=../lib/kcat_test.sh
. "$KN_SOURCE_DIR/tests/lib/kcat_test.sh"

work=$(mktemp -d)
stream="kcat-consume-$$"
bg_pid=
cleanup() {
    local rc=$?
    [[ -n "$bg_pid" ]] && kill -9 "$bg_pid" 2>/dev/null || true
    "$KCAT" --delete "$stream" >/dev/null 2>&1 || true
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT

put() { kcat_put "$stream" "$1" "$2"; }

"$KCAT" --create "$stream" --shards 2 >/dev/null
put 0 100

# 1. everything, through FORMAT, then an idle exit
rc=0
timeout 120 "$KCAT" -C -s "$stream" -G "$stream-g" --exit-idle 3 \
    -f 'p=%p\tS=%S u=%u k=%k %%%s\n' >"$work/out1" 2>"$work/err1" || rc=$?
[[ $rc -eq 0 ]] && ok "-C --exit-idle exits 0" || bad "-C exit $rc: $(<"$work/err1")"
n=$(grep -c . "$work/out1" || true)
[[ $n -eq 100 ]] && ok "100 records printed" || bad "$n records printed"
distinct=$(sed 's/.*%//' "$work/out1" | sort -u | grep -c '^line-' || true)
[[ $distinct -eq 100 ]] && ok "each record once" || bad "$distinct distinct records"
if grep -qP '^p=shardId-\d{12}\tS=\d+ u=0 k=key-\d+ %line-\d+$' "$work/out1" &&
    ! grep -vqP '^p=shardId-\d{12}\tS=\d+ u=0 k=key-\d+ %line-\d+$' "$work/out1"; then
    ok "FORMAT fields and escapes"
else
    bad "FORMAT: $(head -2 "$work/out1")"
fi
key_ok=1
while IFS= read -r line; do
    k=${line#*k=key-}; k=${k%% *}; d=${line##*%line-}
    [[ "$k" == "$d" ]] || key_ok=0
done <"$work/out1"
[[ $key_ok -eq 1 ]] && ok "%k matches each record's key" || bad "%k mismatch"

# 2. the group resumes from its checkpoints: only new records
put 100 130
rc=0
timeout 120 "$KCAT" -C -s "$stream" -G "$stream-g" --exit-idle 3 >"$work/out2" 2>"$work/err2" || rc=$?
n=$(grep -c . "$work/out2" || true)
first=$(sort -t- -k2 -n "$work/out2" | head -1)
[[ $rc -eq 0 && $n -eq 30 && $first == "line-100" ]] && ok "second run prints only the 30 new records" ||
    bad "second run: exit $rc, $n records, first $first"

# 3. SIGTERM: graceful, checkpointed, leases released at once
put 130 150
"$KCAT" -C -s "$stream" -G "$stream-g" --worker-id kcat-w >"$work/out3" 2>"$work/err3" &
bg_pid=$!
for _ in $(seq 300); do [[ $(grep -c . "$work/out3" || true) -ge 20 ]] && break; sleep 0.1; done
kill -TERM "$bg_pid"
rc=0
wait "$bg_pid" || rc=$?
bg_pid=
[[ $rc -eq 0 ]] && ok "SIGTERM: exit 0" || bad "SIGTERM: exit $rc: $(<"$work/err3")"
n=$(grep -c . "$work/out3" || true)
[[ $n -eq 20 ]] && ok "SIGTERM run printed the 20 new records" || bad "SIGTERM run printed $n"
if [[ $(kcat_owners "$stream-g" | sort -u) == "-" ]]; then ok "leases released on SIGTERM"; else
    bad "owners after SIGTERM: $(kcat_owners "$stream-g" | tr '\n' ' ')"; fi
rc=0
timeout 120 "$KCAT" -C -s "$stream" -G "$stream-g" --exit-idle 2 >"$work/out4" 2>&1 || rc=$?
[[ $rc -eq 0 && ! -s "$work/out4" ]] && ok "nothing printed again after the graceful stop" ||
    bad "after SIGTERM: exit $rc, $(head -3 "$work/out4")"

# 4. --from latest in a new group: nothing old
rc=0
timeout 120 "$KCAT" -C -s "$stream" -G "$stream-latest" --from latest --exit-idle 2 \
    >"$work/out5" 2>"$work/err5" || rc=$?
[[ $rc -eq 0 && ! -s "$work/out5" ]] && ok "--from latest skips existing records" ||
    bad "--from latest: exit $rc, $(head -3 "$work/out5")"

# 5. usage and runtime errors
rc=0
"$KCAT" -C -s "$stream" >/dev/null 2>"$work/err6" || rc=$?
[[ $rc -eq 2 ]] && grep -q -- "-G APP" "$work/err6" && ok "-C without -G: usage error" ||
    bad "-C without -G: exit $rc: $(<"$work/err6")"
rc=0
"$KCAT" -C -s "$stream" -G x-group --from yesterday >/dev/null 2>"$work/err7" || rc=$?
[[ $rc -eq 2 ]] && ok "--from yesterday: usage error" || bad "--from yesterday: exit $rc"
rc=0
timeout 60 "$KCAT" -C -s "no-such-stream-$$" -G "$stream-g2" >/dev/null 2>"$work/err8" || rc=$?
[[ $rc -eq 1 ]] && grep -q "ResourceNotFoundException" "$work/err8" &&
    [[ $(grep -c . "$work/err8") -eq 1 ]] && ok "unknown stream: one clear line, exit 1" ||
    bad "unknown stream: exit $rc: $(<"$work/err8")"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
