#!/usr/bin/env bash
# The local stack: moto's server (DynamoDB + SQS) and the three functions under
# `cargo lambda watch`, all on 127.0.0.1.
#
#   scripts/stack.sh start          start it and keep it running (make local)
#   scripts/stack.sh stop           stop it (make stop)
#   scripts/stack.sh status         is it running? print its URLs
#   scripts/stack.sh demo           a fresh private stack: `xtask demo`, `subscribe-demo`, stop (make demo)
#   scripts/stack.sh invoke TYPE    cargo lambda invoke the running stack with events/apigw/TYPE.json
#
# Ports: MOTO_PORT (default: a free port) and WATCH_PORT (default: 9000 for `start` when free,
# else a free port). A port you set that is taken is an error, never a hang.
# State (pids, ports, env, logs) lives in .stack/local (make local) or .stack/run-<pid> (demo,
# test); every process runs in its own process group and is stopped with its group.
#
# As a library (`source scripts/stack.sh`, as scripts/test.sh does): stack_start DIR MODE,
# stack_stop DIR.

# shellcheck source=scripts/moto.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/moto.sh"

STACK_LOCAL="$RW_ROOT/.stack/local"
STACK_TOKEN="reply-local-test-token-0001"
STACK_FUNCTIONS=(email-webhook linkedin-webhook account-webhook)
STACK_CATEGORIES=(email linkedin account)

# The function (binary) serving an event type: SPEC §2. Unknown types go to the email function,
# which accepts them.
stack_binary_for() {
    case "$1" in
        email_account_* | linkedin_account_* | autopilot_*) echo account-webhook ;;
        linkedin_*) echo linkedin-webhook ;;
        *) echo email-webhook ;;
    esac
}

stack_rel() { echo "${1#"$RW_ROOT"/}"; }

# Builds what the stack runs, with visible progress. `cargo lambda watch` runs
# `cargo run --bin <function>` at the workspace root, so features resolve over the whole
# workspace: build with the same selection (not `-p`), or its first request would rebuild.
stack_build() {
    rw_say "building the functions and xtask (cargo build --bin ...; first run: a few minutes)"
    (cd "$RW_ROOT" && cargo build --bin email-webhook --bin linkedin-webhook --bin account-webhook --bin xtask)
}

# stack_start DIR MODE: MODE is `local` (WATCH_PORT prefers 9000) or `private` (free ports).
# Leaves DIR/{moto,watch}.{pid,port}, DIR/env (the functions' environment) and logs.
stack_start() {
    local dir=$1 mode=$2 watch_port moto_port
    mkdir -p "$dir"
    "$RW_ROOT/scripts/tools.sh" moto lambda
    command -v cargo >/dev/null 2>&1 || rw_die "cargo not found: install Rust (https://rustup.rs)."
    command -v cargo-lambda >/dev/null 2>&1 ||
        rw_die "cargo-lambda not found in .tools/venv/bin after installing it: remove .tools/ and retry (scripts/tools.sh lambda)."

    # Ports first, so a taken port fails in a second, not after the build.
    if [[ $mode == local ]]; then
        watch_port=$(rw_pick_port WATCH_PORT 9000)
    else
        watch_port=$(rw_pick_port WATCH_PORT)
    fi
    [[ -z ${MOTO_PORT:-} ]] || rw_pick_port MOTO_PORT >/dev/null

    stack_build

    moto_start "$dir"
    moto_port=$(cat "$dir/moto.port")

    rw_say "creating the table and queues (cargo run --bin xtask -- provision)"
    (
        cd "$RW_ROOT"
        moto_env "$dir"
        cargo run -q --bin xtask -- provision
    ) >"$dir/env.tmp" || rw_die "provisioning the local table and queues failed (see above)."
    # Only NAME=value lines: cargo lambda watch reads them with --env-file.
    grep -E '^[A-Z][A-Z0-9_]*=' "$dir/env.tmp" >"$dir/env"
    rm -f "$dir/env.tmp"

    # A port can be taken while we built: check again right before binding.
    if ! rw_port_available "$watch_port"; then
        rw_die "port $watch_port on 127.0.0.1 became busy$(rw_port_owner "$watch_port"); set WATCH_PORT to a free port."
    fi
    rw_say "starting cargo lambda watch on 127.0.0.1:$watch_port (log: $(stack_rel "$dir")/watch.log)"
    (
        cd "$RW_ROOT"
        # The functions get exactly the provisioned environment (--env-file); the watcher
        # itself must not inherit endpoint or credential overrides meant for tests.
        rw_spawn "$dir" watch "$dir/watch.log" \
            cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$watch_port" \
            --env-file "$dir/env"
    )
    echo "$watch_port" >"$dir/watch.port"
    stack_wait_ready "$dir"
}

# Waits until the watcher answers, then sends one GET to each function (405, no side effects)
# so each is running before the first real delivery; fails with the log when one does not.
stack_wait_ready() {
    local dir=$1 port pid i answer fn
    port=$(cat "$dir/watch.port")
    pid=$(rw_pid "$dir" watch)
    for ((i = 0; i < 600; i++)); do # up to ~60 s
        if ! rw_group_alive "$pid"; then
            tail -n 30 "$dir/watch.log" >&2 || true
            rw_die "cargo lambda watch exited during start-up (log above: $(stack_rel "$dir")/watch.log)."
        fi
        answer=$(RW_HTTP_TIMEOUT=2 rw_http GET "http://127.0.0.1:$port/")
        [[ $answer == 000* ]] || break
        sleep 0.1
    done
    [[ $answer != 000* ]] || rw_die "cargo lambda watch did not answer on 127.0.0.1:$port within 60 s (log: $(stack_rel "$dir")/watch.log)."

    for fn in "${STACK_FUNCTIONS[@]}"; do
        rw_note "starting $fn"
        answer=$(RW_HTTP_TIMEOUT=600 rw_http GET "http://127.0.0.1:$port/lambda-url/$fn/webhooks/warm-up?token=$STACK_TOKEN")
        if [[ $answer != 405* ]]; then
            tail -n 30 "$dir/watch.log" >&2 || true
            rw_die "$fn did not start: GET answered '${answer:0:300}' (expected 405 method_not_allowed). Log above: $(stack_rel "$dir")/watch.log"
        fi
    done
}

stack_stop() {
    local dir=$1
    [[ -d $dir ]] || return 0
    # SIGINT makes cargo lambda watch stop the functions it started (TOOLING.md); the group
    # kill after the grace period catches anything left.
    rw_stop "$dir" watch INT 15
    moto_stop "$dir"
    rm -rf "$dir"
}

stack_running() {
    local dir=$1 pid
    pid=$(rw_pid "$dir" watch 2>/dev/null) || return 1
    rw_group_alive "$pid" || return 1
    pid=$(rw_pid "$dir" moto 2>/dev/null) || return 1
    rw_group_alive "$pid"
}

stack_print() {
    local dir=$1 port moto_port i
    port=$(cat "$dir/watch.port")
    moto_port=$(cat "$dir/moto.port")
    echo
    echo "Local stack running (state and logs: $(stack_rel "$dir")/):"
    for i in 0 1 2; do
        printf '  %-9s http://127.0.0.1:%s/lambda-url/%s/webhooks/%s?token=%s\n' \
            "${STACK_CATEGORIES[$i]}" "$port" "${STACK_FUNCTIONS[$i]}" "${STACK_CATEGORIES[$i]}" "$STACK_TOKEN"
    done
    echo "  moto      http://127.0.0.1:$moto_port  (DynamoDB + SQS; table and queue URLs in $(stack_rel "$dir")/env)"
    echo
    echo "Try:"
    echo "  curl -sS -X POST 'http://127.0.0.1:$port/lambda-url/email-webhook/webhooks/email?token=$STACK_TOKEN' \\"
    echo "       -H 'content-type: application/json' --data-binary @events/reply/email_replied.json"
    echo "  make invoke EVENT=linkedin_message_replied"
    echo "  tail -f $(stack_rel "$dir")/watch.log      # the functions' logs"
    echo "  make stop"
}

cmd_start() {
    if stack_running "$STACK_LOCAL"; then
        rw_say "the local stack is already running"
        stack_print "$STACK_LOCAL"
        return 0
    fi
    stack_stop "$STACK_LOCAL" # leftovers of a stack that died
    # Cleanup ignores further Ctrl-C: a pending INT must not abort it half-way.
    trap 'trap "" INT TERM; stack_stop "$STACK_LOCAL"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    stack_start "$STACK_LOCAL" local
    trap - EXIT INT TERM
    stack_print "$STACK_LOCAL"
}

cmd_stop() {
    if [[ ! -d $STACK_LOCAL ]]; then
        rw_say "the local stack is not running"
        return 0
    fi
    rw_say "stopping the local stack"
    stack_stop "$STACK_LOCAL"
}

cmd_status() {
    if stack_running "$STACK_LOCAL"; then
        stack_print "$STACK_LOCAL"
    else
        echo "The local stack is not running (start it with: make local)."
        return 1
    fi
}

cmd_demo() {
    STACK_DIR="$RW_ROOT/.stack/run-$$"
    trap 'trap "" INT TERM; stack_stop "$STACK_DIR"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    local start=$SECONDS
    stack_start "$STACK_DIR" private
    rw_say "stack ready in $((SECONDS - start)) s; running the demo (cargo run --bin xtask -- demo)"
    local rc=0
    (
        cd "$RW_ROOT"
        set -a
        # shellcheck disable=SC1091
        source "$STACK_DIR/env"
        set +a
        RW_WATCH_URL="http://127.0.0.1:$(cat "$STACK_DIR/watch.port")" cargo run -q --bin xtask -- demo &&
            rw_say "wiring a fake Reply to the stack with reply-webhooks subscribe (cargo run --bin subscribe-demo; the first run builds it)" &&
            RW_STACK_DIR="$STACK_DIR" cargo run -q --features fake --bin subscribe-demo
    ) || rc=$?
    if [[ $rc -ne 0 ]]; then
        echo >&2
        rw_note "the functions' log: tail of $(stack_rel "$STACK_DIR")/watch.log"
        grep -vE '^\s+(Compiling|Blocking|Finished|Running)' "$STACK_DIR/watch.log" | tail -n 20 >&2 || true
    fi
    rw_say "stopping the demo stack"
    return "$rc"
}

cmd_invoke() {
    local type=${1:-}
    [[ -n $type ]] || rw_die "usage: scripts/stack.sh invoke TYPE   (make invoke EVENT=TYPE), TYPE one of: $(cd "$RW_ROOT/events/apigw" && ls ./*.json | sed 's|^\./||; s|\.json$||' | tr '\n' ' ')"
    local file="$RW_ROOT/events/apigw/$type.json"
    [[ -f $file ]] || rw_die "no event file events/apigw/$type.json. Types: $(cd "$RW_ROOT/events/apigw" && ls ./*.json | sed 's|^\./||; s|\.json$||' | tr '\n' ' ')"
    stack_running "$STACK_LOCAL" || rw_die "the local stack is not running: start it with 'make local' (then: make invoke EVENT=$type)."
    local port binary
    port=$(cat "$STACK_LOCAL/watch.port")
    binary=$(stack_binary_for "$type")
    rw_say "cargo lambda invoke $binary --data-file events/apigw/$type.json (stack on 127.0.0.1:$port)"
    local out
    out=$(cd "$RW_ROOT" && cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port "$port" \
        "$binary" --data-file "events/apigw/$type.json") || {
        printf '%s\n' "$out"
        rw_die "cargo lambda invoke failed (functions' log: $(stack_rel "$STACK_LOCAL")/watch.log)."
    }
    # The function's answer is an API Gateway response; show its body decoded.
    printf '%s\n' "$out" | rw_python -c 'import json, sys
raw = sys.stdin.read()
try:
    r = json.loads(raw)
    body = r.get("body")
    try:
        r["body"] = json.loads(body)
    except Exception:
        pass
    print(json.dumps(r, indent=2, ensure_ascii=False))
except Exception:
    print(raw)'
}

stack_main() {
    set -euo pipefail
    local cmd=${1:-}
    [[ $# -eq 0 ]] || shift
    case "$cmd" in
        start) cmd_start ;;
        stop) cmd_stop ;;
        status) cmd_status ;;
        demo) cmd_demo ;;
        invoke) cmd_invoke "$@" ;;
        *)
            sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
            exit 2
            ;;
    esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    stack_main "$@"
fi
