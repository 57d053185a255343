#!/usr/bin/env bash
# Local protocol peers for the integration tests, on free ports, reached on 127.0.0.1:
#   kinesis-local  Kinesis with HTTP/2 and SubscribeToShard, a plain and a TLS port (the TLS
#                  certificate comes from a CA made for this run; it has no host option and
#                  binds all interfaces, the others bind 127.0.0.1 only)
#   dynalite       DynamoDB, in memory
#   kinesalite     a fast Kinesis for batching, throughput and request-validation tests
#
# Usage: peers.sh install        install the pinned npm packages (npm ci) if needed
#        peers.sh start [DIR]    start the peers, write DIR/env and print it
#        peers.sh stop [DIR]     stop the peers recorded in DIR (idempotent)
#        peers.sh env [DIR]      print DIR/env
# DIR defaults to a new tests/peers/run/<time>-<pid> for start; for stop and env to
# $KN_TEST_PEERS_DIR, else the last default DIR started (tests/peers/run/latest).
# Typical use:   eval "$(tests/peers/peers.sh start)"; ...; tests/peers/peers.sh stop
set -euo pipefail

PEERS_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN_ROOT="$PEERS_SRC/run"
PEERS=(kinesis-local dynalite kinesalite)
READY_TIMEOUT_S=60          # kinesis-local needs ~2 s; a slow CI machine gets plenty more
STOP_GRACE_S=5              # SIGTERM grace before SIGKILL
START_ATTEMPTS=3            # a picked port can be taken between its release and the bind
STATE_CHANGE_MS=50          # CREATING/DELETING/UPDATING time for dynalite and kinesalite
KINESALITE_SHARD_LIMIT=200  # kinesalite counts shards across all streams (default 10)
KINESIS_LOCAL_SHARD_LIMIT=500 # so does kinesis-local (default 50); consumer tests use 12-shard streams
LOG_TAIL_LINES=25

# shellcheck source=../lib/deps.sh
. "$PEERS_SRC/../lib/deps.sh"

log() { echo "peers: $*" >&2; }
die() { log "$*"; exit 1; }

# ---------------------------------------------------------------------------- install

# npm ci when node_modules is missing or was installed from another lockfile. A lock
# serialises concurrent runs from the same checkout, since npm ci rewrites node_modules.
install_peers() {
    kn_need_peer_deps
    kn_install_missing
    local stamp="$PEERS_SRC/node_modules/.kn-lock-sha256" want
    want=$(cat "$PEERS_SRC/package.json" "$PEERS_SRC/package-lock.json" | sha256sum | cut -d' ' -f1)
    mkdir -p "$RUN_ROOT"
    (
        flock 9
        if [[ -f "$stamp" && "$(<"$stamp")" == "$want" ]]; then
            exit 0
        fi
        log "installing npm packages (npm ci) in $PEERS_SRC"
        cd "$PEERS_SRC"
        npm ci --no-audit --no-fund --loglevel=error >&2 || die "npm ci failed in $PEERS_SRC"
        echo "$want" >"$stamp"
    ) 9>"$RUN_ROOT/.install.lock"
}

# ---------------------------------------------------------------------------- processes

# True while $1 is a live (not zombie) process.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ "${stat:0:1}" != Z ]]
}

# The command-line fragment that identifies each peer, so stop never signals a
# process that merely reused a recorded pid.
peer_marker() {
    case $1 in
    kinesis-local) echo "kinesis-local/main.js" ;;
    dynalite) echo "dynalite/cli.js" ;;
    kinesalite) echo "kinesalite-loopback.js" ;;
    esac
}

# True when pid $2 is alive and is peer $1.
is_peer() {
    alive "$2" || return 1
    tr '\0' ' ' <"/proc/$2/cmdline" 2>/dev/null | grep -qF "$(peer_marker "$1")"
}

# Waits up to $2 seconds for pid $1 to exit.
wait_gone() {
    local deadline=$((SECONDS + $2))
    while alive "$1" && ((SECONDS < deadline)); do sleep 0.1; done
    ! alive "$1"
}

# Stops peer $2 recorded in dir $1 and removes its pid file.
stop_peer() {
    local pidfile="$1/$2.pid" pid
    [[ -f "$pidfile" ]] || return 0
    pid=$(<"$pidfile")
    if [[ "$pid" =~ ^[0-9]+$ ]] && is_peer "$2" "$pid"; then
        # kinesis-local (Scala.js) ignores SIGTERM and SIGINT.
        if [[ "$2" != kinesis-local ]]; then
            kill -TERM "$pid" 2>/dev/null || true
            wait_gone "$pid" "$STOP_GRACE_S" || true
        fi
        if alive "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" "$STOP_GRACE_S" || log "$2 (pid $pid) did not exit after SIGKILL"
        fi
        log "stopped $2 (pid $pid)"
    fi
    rm -f "$pidfile"
}

stop_all() {
    local p
    for p in "${PEERS[@]}"; do stop_peer "$1" "$p"; done
}

# ---------------------------------------------------------------------------- start

make_certs() {
    local d=$1 ol="$1/openssl.log"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=kinesis-c test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$d/ca.key" -out "$d/ca.pem" 2>>"$ol" || die "CA generation failed: see $ol"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$d/server.key" -out "$d/server.csr" 2>>"$ol" || die "server key generation failed: see $ol"
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >"$d/server.ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -days 30 \
        -set_serial "0x$(openssl rand -hex 8)" -extfile "$d/server.ext" -out "$d/server.pem" 2>>"$ol" ||
        die "server certificate signing failed: see $ol"
    # kinesis-local reads {"server":{"key":PEM,"cert":PEM}} from KINESIS_MOCK_CERT_PATH.
    node "$PEERS_SRC/util.js" server-json "$d/server.key" "$d/server.pem" >"$d/server.json"
}

# Starts peer $2 in the background on ports $3.. with its log in dir $1; writes its pid file.
# Each is a simple command, so $! is node's own pid.
launch() {
    local d=$1 name=$2 logf="$1/$2.log"
    shift 2
    case $name in
    kinesis-local)
        KINESIS_MOCK_CERT_PATH="$d/server.json" KINESIS_MOCK_PLAIN_PORT=$1 KINESIS_MOCK_TLS_PORT=$2 \
            SHOULD_PERSIST_DATA=false LOG_LEVEL=INFO SHARD_LIMIT=$KINESIS_LOCAL_SHARD_LIMIT \
            node "$PEERS_SRC/node_modules/kinesis-local/main.js" >"$logf" 2>&1 </dev/null &
        ;;
    dynalite)
        node "$PEERS_SRC/node_modules/dynalite/cli.js" --host 127.0.0.1 --port "$1" \
            --createTableMs "$STATE_CHANGE_MS" --deleteTableMs "$STATE_CHANGE_MS" \
            --updateTableMs "$STATE_CHANGE_MS" >"$logf" 2>&1 </dev/null &
        ;;
    kinesalite)
        node "$PEERS_SRC/kinesalite-loopback.js" --port "$1" --shardLimit "$KINESALITE_SHARD_LIMIT" \
            --createStreamMs "$STATE_CHANGE_MS" --deleteStreamMs "$STATE_CHANGE_MS" \
            --updateStreamMs "$STATE_CHANGE_MS" >"$logf" 2>&1 </dev/null &
        ;;
    esac
    echo $! >"$d/$name.pid"
    disown $! # its exit or our SIGKILL is not news for this shell's job reports
}

# The URLs that must answer before peer $1 on ports $2.. counts as up.
ready_urls() {
    case $1 in
    kinesis-local) echo "http://127.0.0.1:$2/healthcheck https://127.0.0.1:$3/healthcheck" ;;
    *) echo "http://127.0.0.1:$2/" ;;
    esac
}

# Waits until every URL answers (0), pid $2 dies (2) or the deadline passes (1).
wait_ready() {
    local d=$1 pid=$2 deadline=$((SECONDS + READY_TIMEOUT_S)) url
    shift 2
    for url in "$@"; do
        until node "$PEERS_SRC/util.js" probe "$url" "$d/ca.pem"; do
            alive "$pid" || return 2
            ((SECONDS < deadline)) || return 1
            sleep 0.2
        done
    done
}

# Starts peer $2 on fresh ports and waits for it; sets PORTS to its ports.
bring_up() {
    local d=$1 name=$2 nports=1 attempt pid rc urls
    [[ "$name" == kinesis-local ]] && nports=2
    for ((attempt = 1; attempt <= START_ATTEMPTS; attempt++)); do
        read -r -a PORTS < <(node "$PEERS_SRC/util.js" ports "$nports")
        ((${#PORTS[@]} == nports)) || die "could not pick free ports"
        launch "$d" "$name" "${PORTS[@]}"
        pid=$(<"$d/$name.pid")
        read -r -a urls <<<"$(ready_urls "$name" "${PORTS[@]}")"
        rc=0
        wait_ready "$d" "$pid" "${urls[@]}" || rc=$?
        ((rc == 0)) && { log "$name up (pid $pid, port ${PORTS[*]})"; return 0; }
        stop_peer "$d" "$name"
        if ((rc == 2)) && grep -q EADDRINUSE "$d/$name.log" && ((attempt < START_ATTEMPTS)); then
            log "$name: port ${PORTS[*]} was taken meanwhile; retrying on other ports"
            continue
        fi
        break
    done
    local why="exited"
    ((rc == 1)) && why="did not answer within ${READY_TIMEOUT_S}s"
    log "$name $why (ports ${PORTS[*]}); last lines of $d/$name.log:"
    tail -n "$LOG_TAIL_LINES" "$d/$name.log" >&2 || true
    stop_all "$d"
    exit 1
}

write_env() {
    local d=$1 kl=$2 kl_tls=$3 dyn=$4 kite=$5
    {
        printf 'export %s=%q\n' \
            KN_TEST_PEERS_DIR "$d" \
            KN_TEST_KINESIS_ENDPOINT "http://127.0.0.1:$kl" \
            KN_TEST_KINESIS_TLS_ENDPOINT "https://127.0.0.1:$kl_tls" \
            KN_TEST_CA_FILE "$d/ca.pem" \
            KN_TEST_DYNAMODB_ENDPOINT "http://127.0.0.1:$dyn" \
            KN_TEST_KINESALITE_ENDPOINT "http://127.0.0.1:$kite" \
            AWS_ENDPOINT_URL_KINESIS "http://127.0.0.1:$kl" \
            AWS_ENDPOINT_URL_DYNAMODB "http://127.0.0.1:$dyn" \
            AWS_EC2_METADATA_DISABLED true \
            AWS_REGION us-east-1 \
            AWS_DEFAULT_REGION us-east-1 \
            AWS_ACCESS_KEY_ID AKIDTESTTESTTEST \
            AWS_SECRET_ACCESS_KEY testsecretkeytestsecretkeytestsecretkey0
    } >"$d/env"
}

start() {
    local d=${1:-} p default=0
    if [[ -z "$d" ]]; then
        d="$RUN_ROOT/$(date +%Y%m%d-%H%M%S)-$$"
        default=1
    fi
    install_peers
    mkdir -p "$d"
    d=$(cd "$d" && pwd)
    for p in "${PEERS[@]}"; do
        if [[ -f "$d/$p.pid" ]] && is_peer "$p" "$(<"$d/$p.pid")"; then
            die "$p is already running from $d: run 'peers.sh stop $d' first"
        fi
    done
    ((default)) && ln -sfn "$(basename "$d")" "$RUN_ROOT/latest"
    make_certs "$d"
    local -a kl dyn kite
    bring_up "$d" kinesis-local
    kl=("${PORTS[@]}")
    bring_up "$d" dynalite
    dyn=("${PORTS[@]}")
    bring_up "$d" kinesalite
    kite=("${PORTS[@]}")
    write_env "$d" "${kl[0]}" "${kl[1]}" "${dyn[0]}" "${kite[0]}"
    cat "$d/env"
}

# DIR for stop/env: the argument, else $KN_TEST_PEERS_DIR, else the last default start.
resolve_dir() {
    local d=${1:-${KN_TEST_PEERS_DIR:-}}
    if [[ -z "$d" && -L "$RUN_ROOT/latest" ]]; then
        d="$RUN_ROOT/$(readlink "$RUN_ROOT/latest")"
    fi
    echo "$d"
}

main() {
    local cmd=${1:-} d
    shift || true
    case $cmd in
    install) install_peers ;;
    start) start "${1:-}" ;;
    stop)
        d=$(resolve_dir "${1:-}")
        [[ -n "$d" && -d "$d" ]] || { log "no peers directory to stop"; return 0; }
        stop_all "$d"
        ;;
    env)
        d=$(resolve_dir "${1:-}")
        [[ -n "$d" && -f "$d/env" ]] || die "no env file (run 'peers.sh start' first)"
        cat "$d/env"
        ;;
    *)
        sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
        exit 2
        ;;
    esac
}

main "$@"
