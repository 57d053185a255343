#!/usr/bin/env bash
# The one command that runs every test, on a fresh Debian 12 machine too:
#   1. installs the missing Debian packages (apt-get, as root) and the npm test peers
#   2. builds into build/ with -Werror and runs the unit tests
#   3. builds an address+undefined sanitizer variant into build/asan, runs the unit tests
#   4. starts the local peers (tests/peers/peers.sh), runs the integration tests, stops them
# It keeps going after a failure where it can, prints a summary, ends with the line
# 'N passed, N failed, N skipped' over all test runs (a failed build or peer start counts
# as one failure) and exits non-zero if anything failed.
#
# Usage: tests/run.sh [--unit] [--no-asan]
#   --unit     unit tests only: no peers, no integration tests
#   --no-asan  skip the sanitizer build
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build"
ASAN_BUILD="$BUILD/asan"
JOBS=$(nproc 2>/dev/null || echo 2)
INTEGRATION_JOBS=2 # the peers are shared; more parallel clients only slow kinesis-local down

unit_only=0
asan=1
for arg in "$@"; do
    case $arg in
    --unit) unit_only=1 ;;
    --no-asan) asan=0 ;;
    -h | --help)
        sed -n '2,14s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *)
        echo "run.sh: unknown option '$arg' (try --help)" >&2
        exit 2
        ;;
    esac
done

cd "$ROOT"
# shellcheck source=lib/deps.sh
. "$ROOT/tests/lib/deps.sh"

SUMMARY=()
PASSED=0
FAILED=0
SKIPPED=0

banner() { printf '\n==== %s ====\n' "$*"; }
# note STEP TEXT: one summary line.
note() { SUMMARY+=("$(printf '%-16s %s' "$1" "$2")"); }
# step_failed STEP WHY: a failure that is not a test result counts as one failed test.
step_failed() {
    note "$1" "FAILED: $2"
    FAILED=$((FAILED + 1))
}
# Runs "$@"; records STEP as ok or failed. Returns the command's status.
step() {
    local name=$1 start=$SECONDS rc=0
    shift
    banner "$name"
    "$@" || rc=$?
    if ((rc == 0)); then
        note "$name" "ok ($((SECONDS - start)) s)"
    else
        step_failed "$name" "exit $rc"
    fi
    return "$rc"
}

# junit_count FILE PATTERN: how many lines of ctest's JUnit file match.
junit_count() { grep -c -- "$2" "$1" || true; }

# run_ctest STEP BUILD-DIR LABEL JOBS: runs the tests with that label and adds their counts.
run_ctest() {
    local name=$1 dir=$2 label=$3 jobs=$4 start=$SECONDS rc=0
    local junit="$dir/ctest-$label.xml"
    banner "$name"
    rm -f "$junit"
    ctest --test-dir "$dir" -L "^$label\$" --output-on-failure --no-tests=error -j "$jobs" \
        --output-junit "$junit" || rc=$?
    if [[ ! -s "$junit" ]]; then
        step_failed "$name" "ctest exit $rc, no results"
        return
    fi
    # ctest marks exit-77 skips, missing executables and disabled tests alike as not
    # passed; only the first and last are skips, anything else that did not pass failed.
    local total passed skipped failed
    total=$(junit_count "$junit" '<testcase ')
    passed=$(junit_count "$junit" '<testcase .*status="run"')
    skipped=$(($(junit_count "$junit" '<skipped message="SKIP_RETURN_CODE=') +
        $(junit_count "$junit" '<testcase .*status="disabled"')))
    failed=$((total - passed - skipped))
    PASSED=$((PASSED + passed))
    FAILED=$((FAILED + failed))
    SKIPPED=$((SKIPPED + skipped))
    if ((rc != 0 && failed == 0)); then
        step_failed "$name" "ctest exit $rc"
    else
        note "$name" "$passed passed, $failed failed, $skipped skipped ($((SECONDS - start)) s)"
    fi
}

# build BUILD-DIR CMAKE-ARGS...: configure and build. With Makefiles the build keeps
# going past a failed target, so the tests that did build still run and report.
build() {
    local dir=$1 keep_going=()
    shift
    cmake -S "$ROOT" -B "$dir" -DKN_WERROR=ON "$@" || return
    [[ -f "$dir/Makefile" ]] && keep_going=(-- -k)
    cmake --build "$dir" -j "$JOBS" "${keep_going[@]}"
}
# True once BUILD-DIR is configured, so ctest can run whatever did build.
configured() { [[ -f "$1/CTestTestfile.cmake" ]]; }

# -------------------------------------------------------------------- dependencies
kn_need_build_deps
((unit_only)) || kn_need_peer_deps
if ! step deps kn_install_missing; then
    printf '%s\n' "${SUMMARY[@]}"
    echo "0 passed, 1 failed"
    exit 1
fi
# Tests that need Debian's botocore/boto3 use this interpreter, whatever python3 is on PATH.
if [[ -x /usr/bin/python3 ]]; then
    export KN_TEST_PYTHON=/usr/bin/python3
fi
export AWS_EC2_METADATA_DISABLED=true

peers_ok=0
if ((!unit_only)); then
    step "peers install" bash "$ROOT/tests/peers/peers.sh" install && peers_ok=1
fi

# -------------------------------------------------------------------- build + unit
step build build "$BUILD" || true
if configured "$BUILD"; then
    run_ctest unit "$BUILD" unit "$JOBS"
fi

if ((asan)); then
    step "asan build" build "$ASAN_BUILD" -DKN_SANITIZE=address || true
    if configured "$ASAN_BUILD"; then
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            run_ctest "asan unit" "$ASAN_BUILD" unit "$JOBS"
    fi
fi

# -------------------------------------------------------------------- integration
PEERS_DIR=""
failed_before_integration=-1
stop_peers() {
    if [[ -n "$PEERS_DIR" ]]; then
        bash "$ROOT/tests/peers/peers.sh" stop "$PEERS_DIR" || true
    fi
}
if ((!unit_only)); then
    if configured "$BUILD" && ((peers_ok)); then
        PEERS_DIR="$ROOT/tests/peers/run/run-$(date +%Y%m%d-%H%M%S)-$$"
        trap stop_peers EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        if step peers bash "$ROOT/tests/peers/peers.sh" start "$PEERS_DIR"; then
            # shellcheck source=/dev/null
            . "$PEERS_DIR/env"
            failed_before_integration=$FAILED
            run_ctest integration "$BUILD" integration "$INTEGRATION_JOBS"
        fi
        # Stopped here, not only by the trap, so the summary is the last thing printed.
        stop_peers
        trap - EXIT
        if ((FAILED == failed_before_integration)); then
            rm -rf "$PEERS_DIR" # all passed: the logs tell nothing new
            PEERS_DIR=""
        fi
    else
        step_failed integration "not run: needs the build and the peers"
    fi
fi

# -------------------------------------------------------------------- summary
banner "summary"
printf '%s\n' "${SUMMARY[@]}"
echo "total time: $((SECONDS / 60)) min $((SECONDS % 60)) s"
if [[ -n "$PEERS_DIR" ]]; then
    echo "peer logs: $PEERS_DIR"
fi
if ((FAILED)); then
    echo "RESULT: FAILED"
else
    echo "RESULT: OK"
fi
echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
((FAILED == 0))
