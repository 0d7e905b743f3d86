#!/usr/bin/env bash
# moto's server (local DynamoDB + SQS) and the process/port helpers the stack scripts share.
#
# As a command:
#   scripts/moto.sh run [--] CMD...   start moto on 127.0.0.1 (MOTO_PORT, or a free port), run CMD
#                                     with AWS_ENDPOINT_URL/AWS_REGION/dummy credentials and
#                                     RW_MOTO=1 exported, stop moto afterwards (also on failure
#                                     or Ctrl-C); exits with CMD's status.
# As a library (`source scripts/moto.sh`): rw_* helpers, moto_start DIR / moto_stop DIR.
#
# Every server binds 127.0.0.1 only. Background processes run in their own session/process group
# (setsid), their pid (= group id) is kept in DIR/<name>.pid, and stopping kills the whole group,
# so nothing is left behind.

RW_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RW_VENV="$RW_ROOT/.tools/venv"
case ":$PATH:" in
    *":$RW_VENV/bin:"*) ;;
    *) export PATH="$RW_VENV/bin:$PATH" ;;
esac

rw_say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
rw_note() { printf '    %s\n' "$*" >&2; }
rw_die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# The Python used for small helpers (port checks, HTTP polls): the venv's once installed.
rw_python() {
    if [[ -x "$RW_VENV/bin/python" ]]; then
        "$RW_VENV/bin/python" "$@"
    else
        python3 "$@"
    fi
}

# A port the kernel says is free on 127.0.0.1.
rw_free_port() {
    rw_python -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# Succeeds when something can listen on 127.0.0.1:PORT (SO_REUSEADDR, as servers do, so a
# TIME_WAIT leftover does not count as "in use").
rw_port_available() {
    rw_python -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1"
}

# Who listens on a port (best effort, for error messages).
rw_port_owner() {
    local port=$1 owner=""
    if command -v ss >/dev/null 2>&1; then
        owner=$(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'users:(([^)]*' | head -n1 | sed 's/users:((//')
    fi
    [[ -n $owner ]] && printf ' (in use by %s)' "$owner"
    return 0
}

# rw_pick_port VAR [PREFERRED]: prints the port to use for the setting VAR (e.g. MOTO_PORT).
# VAR set in the environment: that port, or a clear error when it is taken. Otherwise PREFERRED
# when free, else any free port.
rw_pick_port() {
    local var=$1 preferred=${2:-} port
    port=${!var:-}
    if [[ -n $port ]]; then
        [[ $port =~ ^[0-9]+$ && $port -ge 1 && $port -le 65535 ]] || rw_die "$var=$port is not a port number."
        rw_port_available "$port" ||
            rw_die "$var=$port: port $port on 127.0.0.1 is already in use$(rw_port_owner "$port"). Stop that process, or choose another port, e.g. $var=$(rw_free_port)."
        echo "$port"
        return
    fi
    if [[ -n $preferred ]] && rw_port_available "$preferred"; then
        echo "$preferred"
        return
    fi
    if [[ -n $preferred ]]; then
        rw_note "port $preferred is in use$(rw_port_owner "$preferred"); using a free port instead (set $var to choose)"
    fi
    rw_free_port
}

# rw_http METHOD URL [BODY_FILE]: prints "<status> <body>" (status 000 when nothing answered).
rw_http() {
    rw_python - "$@" <<'PY'
import sys, urllib.request, urllib.error
method, url = sys.argv[1], sys.argv[2]
data = open(sys.argv[3], "rb").read() if len(sys.argv) > 3 else None
req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
try:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    with opener.open(req, timeout=float(__import__("os").environ.get("RW_HTTP_TIMEOUT", "5"))) as r:
        print(r.status, r.read().decode("utf-8", "replace"))
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode("utf-8", "replace"))
except Exception as e:
    print("000", e)
PY
}

# rw_spawn DIR NAME LOG CMD...: runs CMD in the background in a new session (its own process
# group, out of reach of the terminal's Ctrl-C, which our traps handle), output to LOG, and
# records its pid in DIR/NAME.pid.
rw_spawn() {
    local dir=$1 name=$2 log=$3
    shift 3
    mkdir -p "$dir"
    setsid "$@" >"$log" 2>&1 </dev/null &
    local pid=$! i pgid
    echo "$pid" >"$dir/$name.pid"
    # Until setsid has run, the child is still in our process group: wait (bounded) until it
    # leads its own, so group checks and group kills that follow see it.
    for ((i = 0; i < 50; i++)); do
        pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ') || true
        [[ -n $pgid && $pgid != "$pid" ]] || break
        sleep 0.02
    done
}

rw_pid() { [[ -f "$1/$2.pid" ]] && cat "$1/$2.pid"; }

rw_group_alive() { kill -0 -- "-$1" 2>/dev/null; }

# Every descendant of PID (children may start their own process groups, as cargo lambda watch
# does for the functions, so a group kill alone would miss them).
rw_descendants() {
    ps -eo pid=,ppid= | awk -v root="$1" '
        { parent[$1] = $2 }
        END {
            changed = 1; keep[root] = 1
            while (changed) {
                changed = 0
                for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; changed = 1 }
            }
            for (p in keep) if (p != root) print p
        }'
}

rw_any_alive() {
    local p
    for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done
    return 1
}

# rw_stop DIR NAME [FIRST_SIGNAL [GRACE_SECONDS]]: sends FIRST_SIGNAL (default TERM) to the
# process NAME, waits up to GRACE seconds for its whole process group to exit, then TERM and
# finally KILL the group. Bounded; never fails.
rw_stop() {
    local dir=$1 name=$2 sig=${3:-TERM} grace=${4:-10} pid i
    pid=$(rw_pid "$dir" "$name") || return 0
    [[ $pid =~ ^[0-9]+$ ]] || { rm -f "$dir/$name.pid"; return 0; }
    local tree=()
    mapfile -t tree < <(rw_descendants "$pid")
    if rw_group_alive "$pid"; then
        kill "-$sig" "$pid" 2>/dev/null || kill "-$sig" -- "-$pid" 2>/dev/null || true
        for ((i = 0; i < grace * 10; i++)); do
            rw_group_alive "$pid" || break
            sleep 0.1
        done
        if rw_group_alive "$pid"; then
            kill -TERM -- "-$pid" 2>/dev/null || true
            for ((i = 0; i < 30; i++)); do
                rw_group_alive "$pid" || break
                sleep 0.1
            done
        fi
        if rw_group_alive "$pid"; then
            rw_note "$name (process group $pid) did not stop; killing it"
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
    fi
    # Descendants in other process groups: give them the same grace, then TERM, then KILL.
    if [[ ${#tree[@]} -gt 0 ]]; then
        for ((i = 0; i < 50; i++)); do
            rw_any_alive "${tree[@]}" || break
            sleep 0.1
        done
        if rw_any_alive "${tree[@]}"; then
            kill -TERM "${tree[@]}" 2>/dev/null || true
            for ((i = 0; i < 30; i++)); do
                rw_any_alive "${tree[@]}" || break
                sleep 0.1
            done
            kill -KILL "${tree[@]}" 2>/dev/null || true
        fi
    fi
    # Reap it when it is our child (no zombie, no "Terminated" noise later).
    wait "$pid" 2>/dev/null || true
    rm -f "$dir/$name.pid"
}

# moto_start DIR: starts moto's server, waits until it answers; writes DIR/moto.port and prints
# nothing on stdout. MOTO_PORT chooses the port.
moto_start() {
    local dir=$1 port i
    command -v moto_server >/dev/null 2>&1 || "$RW_ROOT/scripts/tools.sh" moto
    port=$(rw_pick_port MOTO_PORT)
    rw_say "starting moto's server on 127.0.0.1:$port (log: ${dir#"$RW_ROOT"/}/moto.log)"
    rw_spawn "$dir" moto "$dir/moto.log" moto_server -H 127.0.0.1 -p "$port"
    echo "$port" >"$dir/moto.port"
    local pid
    pid=$(rw_pid "$dir" moto)
    for ((i = 0; i < 300; i++)); do # up to ~30 s
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$dir/moto.log" >&2 || true
            rw_die "moto's server exited during start-up (log above: $dir/moto.log)."
        fi
        if [[ $(rw_http GET "http://127.0.0.1:$port/moto-api/data.json") != 000* ]]; then
            return 0
        fi
        sleep 0.1
    done
    tail -n 20 "$dir/moto.log" >&2 || true
    rw_die "moto's server did not answer on 127.0.0.1:$port within 30 s (log: $dir/moto.log)."
}

moto_stop() {
    rw_stop "$1" moto TERM 5
    rm -f "$1/moto.port"
}

# The AWS environment pointing the SDK at moto (dummy credentials; never real AWS).
moto_env() {
    local port
    port=$(cat "$1/moto.port")
    export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
    export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
    export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
    unset AWS_SESSION_TOKEN AWS_PROFILE
    export RW_MOTO=1
}

moto_main() {
    set -euo pipefail
    local cmd=${1:-}
    [[ $cmd == run ]] || rw_die "usage: scripts/moto.sh run [--] CMD..."
    shift
    [[ ${1:-} != -- ]] || shift
    [[ $# -gt 0 ]] || rw_die "usage: scripts/moto.sh run [--] CMD..."
    "$RW_ROOT/scripts/tools.sh" moto
    MOTO_DIR="$RW_ROOT/.stack/moto-$$"
    trap 'trap "" INT TERM; moto_stop "$MOTO_DIR"; rm -rf "$MOTO_DIR"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    moto_start "$MOTO_DIR"
    moto_env "$MOTO_DIR"
    rw_note "AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL"
    local rc=0
    "$@" || rc=$?
    return "$rc"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    moto_main "$@"
fi
