# shellcheck shell=bash
# Debian package helper shared by tests/run.sh and tests/peers/peers.sh (sourced, not run).
# Collect what is missing with kn_need_pkg / kn_need_cmd, then call kn_install_missing:
# as root it runs `apt-get update` once and installs only the missing packages; otherwise
# it prints the apt-get command and fails, so a fresh machine never half-works silently.

KN_MISSING_PKGS=()

# Queues each Debian package that dpkg does not report as installed.
kn_need_pkg() {
    local pkg
    for pkg in "$@"; do
        if ! command -v dpkg-query >/dev/null 2>&1; then
            return 0 # not Debian: nothing we can check or install; the build names what is missing
        fi
        if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]]; then
            KN_MISSING_PKGS+=("$pkg")
        fi
    done
}

# Queues Debian package $2 when command $1 is not on PATH. Used where a working
# command may come from elsewhere (e.g. Node.js from another apt source, whose
# packages must not be replaced by Debian's).
kn_need_cmd() {
    if ! command -v "$1" >/dev/null 2>&1; then
        KN_MISSING_PKGS+=("$2")
    fi
}

# Installs the queued packages (see the header) and clears the queue.
kn_install_missing() {
    ((${#KN_MISSING_PKGS[@]} == 0)) && return 0
    local pkgs
    pkgs=$(printf '%s\n' "${KN_MISSING_PKGS[@]}" | sort -u | tr '\n' ' ')
    pkgs=${pkgs% }
    if [[ "$(id -u)" != 0 ]]; then
        echo "missing Debian packages; install them as root:" >&2
        echo "  apt-get update && apt-get install -y --no-install-recommends $pkgs" >&2
        return 1
    fi
    echo "installing missing Debian packages: $pkgs" >&2
    # Word splitting of $pkgs is intended: package names contain no spaces.
    # shellcheck disable=SC2086
    if ! DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null >&2 ||
        ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs </dev/null >&2; then
        echo "apt-get install failed for: $pkgs" >&2
        return 1
    fi
    KN_MISSING_PKGS=()
}

# Queues what building kinesis-c and running its unit tests need.
kn_need_build_deps() {
    kn_need_pkg gcc make cmake pkg-config libcurl4-openssl-dev libnghttp2-dev libssl-dev \
        libcjson-dev check python3 python3-botocore python3-boto3
}

# Queues what tests/peers/peers.sh and the integration tests need. Node may come from
# another apt source than Debian's, so it is checked as a command, not as a package.
kn_need_peer_deps() {
    kn_need_cmd node nodejs
    kn_need_cmd npm npm
    kn_need_pkg openssl curl
}
