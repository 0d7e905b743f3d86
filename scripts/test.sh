#!/usr/bin/env bash
# `make test`: everything CI checks, from a clean clone (Rust and Python 3 only).
#
#   1. tools      moto's server and cargo-lambda into .tools/venv (first use only)
#   2. template   scripts/template.sh lint (cfn-lint, sam validate), when that script exists
#   3. build      cargo build --workspace --all-targets
#   4. stack      moto on 127.0.0.1, the table and queues, the three functions under
#                 cargo lambda watch (scripts/stack.sh, as `make local` does, on free ports)
#   5. tests      cargo test --workspace --all-targets, with AWS_ENDPOINT_URL/AWS_REGION/dummy
#                 credentials pointing at moto, RW_MOTO=1, and RW_STACK_DIR for the e2e test
#
# Everything started is stopped at the end, also on failure or Ctrl-C. Extra arguments go to
# cargo test (e.g. scripts/test.sh -- --nocapture, or scripts/test.sh -- every_sample to filter by name).
set -euo pipefail

# shellcheck source=scripts/stack.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/stack.sh"
cd "$RW_ROOT"

STEPS=()
step_start=0
current=""

begin() {
    current=$1
    step_start=$SECONDS
    rw_say "[$current] $2"
}

done_step() {
    STEPS+=("$(printf '%-9s %-6s %4d s  %s' "$current" "${1:-ok}" "$((SECONDS - step_start))" "${2:-}")")
    current=""
}

# "N passed, M ignored" over every test binary of the last run.
test_counts() {
    [[ -f ${TEST_LOG:-} ]] || return 0
    sed 's/\x1b\[[0-9;]*m//g' "$TEST_LOG" | awk '/^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i) ~ /^passed/) p += $(i - 1)
            if ($(i) ~ /^failed/) f += $(i - 1)
            if ($(i) ~ /^ignored/) g += $(i - 1)
        }
    } END { printf "%d passed, %d failed, %d ignored", p, f, g }'
}

summary() {
    local rc=$1
    if [[ -n $current ]]; then
        local extra=""
        [[ $current != tests ]] || extra=$(test_counts)
        STEPS+=("$(printf '%-9s %-6s %4d s  %s' "$current" FAILED "$((SECONDS - step_start))" "$extra")")
    fi
    echo
    echo "──────── make test summary ────────"
    local s
    for s in "${STEPS[@]}"; do echo "  $s"; done
    if [[ $rc -eq 0 ]]; then
        echo "  PASSED in $((SECONDS - TEST_START)) s"
    else
        echo "  FAILED (exit $rc) after $((SECONDS - TEST_START)) s"
    fi
}

cleanup() {
    local rc=$?
    # A pending or second Ctrl-C must not abort the cleanup half-way (it is bounded).
    trap '' INT TERM
    trap - EXIT
    if [[ -n ${STACK_DIR:-} ]]; then
        if [[ $rc -ne 0 && -f $STACK_DIR/watch.log ]]; then
            rw_note "tail of the functions' log ($(stack_rel "$STACK_DIR")/watch.log):"
            grep -vE '^\s+(Compiling|Blocking|Finished|Running|Fresh)' "$STACK_DIR/watch.log" | tail -n 15 >&2 || true
        fi
        stack_stop "$STACK_DIR"
    fi
    summary "$rc"
    exit "$rc"
}

TEST_START=$SECONDS
STACK_DIR=""
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

begin tools "installing the pinned tools (first use only)"
"$RW_ROOT/scripts/tools.sh" moto lambda
done_step ok "moto[server], cargo-lambda, zig in .tools/venv"

if [[ -x "$RW_ROOT/scripts/template.sh" ]]; then
    begin template "scripts/template.sh lint"
    "$RW_ROOT/scripts/template.sh" lint
    done_step ok "template.yaml"
else
    STEPS+=("$(printf '%-9s %-6s' template skipped) (no scripts/template.sh)")
fi

begin build "cargo build --workspace --all-targets"
cargo build --workspace --all-targets
done_step ok

begin stack "starting the local stack (moto + cargo lambda watch) on free ports"
STACK_DIR="$RW_ROOT/.stack/run-$$"
stack_start "$STACK_DIR" private
done_step ok "moto :$(cat "$STACK_DIR/moto.port"), watch :$(cat "$STACK_DIR/watch.port")"

begin tests "cargo test --workspace --all-targets $*"
moto_env "$STACK_DIR"
export RW_STACK_DIR="$STACK_DIR"
TEST_LOG="$RW_ROOT/.stack/test-output.log"
cargo test --workspace --all-targets --no-fail-fast --color "${CARGO_TERM_COLOR:-auto}" "$@" 2>&1 | tee "$TEST_LOG"
done_step ok "$(test_counts) (unit, integration on moto, end-to-end through cargo lambda watch)"
