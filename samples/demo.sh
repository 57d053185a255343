#!/usr/bin/env bash
# The demo on a fresh Debian 12 machine: installs what is missing, builds into build/,
# starts the local peers (Kinesis and DynamoDB emulators on 127.0.0.1, stopped again on
# exit) and runs the demo steps against them. Arguments are passed to build/bin/demo.
#
# Usage: samples/demo.sh [DEMO-ARGS...]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build"
PEERS="$ROOT/tests/peers/peers.sh"
# The demo steps, in order: each is a function below, run with the peers' environment.
# The producer and consumer demos add their steps here.
DEMO_STEPS=(step_demo)

# shellcheck source=../tests/lib/deps.sh
. "$ROOT/tests/lib/deps.sh"

say() { printf '\n== %s\n' "$*"; }

step_demo() {
    say "build/bin/demo $*"
    "$BUILD/bin/demo" "$@"
}

# Stops the peers; keeps their logs only when something failed.
cleanup() {
    local rc=$?
    bash "$PEERS" stop "$PEERS_DIR" || true
    if ((rc == 0)); then
        rm -rf "$PEERS_DIR"
    else
        echo "peer logs: $PEERS_DIR" >&2
    fi
}

main() {
    if [[ ! -f "$ROOT/samples/demo.c" ]]; then
        echo "The demo program (samples/demo.c) is not written yet: nothing to run." >&2
        echo "tests/run.sh runs the test suite, which is what exists so far." >&2
        exit 1
    fi
    kn_need_build_deps
    kn_need_peer_deps
    kn_install_missing

    say "building into build/"
    cmake -S "$ROOT" -B "$BUILD" >/dev/null # re-globs sources, so a new samples/*.c has a target
    cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)" --target demo

    say "starting the local peers"
    PEERS_DIR="$ROOT/tests/peers/run/demo-$(date +%Y%m%d-%H%M%S)-$$"
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    bash "$PEERS" start "$PEERS_DIR" >/dev/null
    # shellcheck source=/dev/null
    . "$PEERS_DIR/env"
    echo "peers up; endpoints and logs in $PEERS_DIR"

    local s
    for s in "${DEMO_STEPS[@]}"; do
        "$s" "$@"
    done
    say "demo finished"
}

main "$@"
