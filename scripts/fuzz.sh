#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo fuzz / libFuzzer) of the payload parsers and the request path.
#
#   scripts/fuzz.sh [TARGET...]    (make fuzz)   TARGET: parse | pipeline   (default: both)
#
#   FUZZ_SECONDS=60     how long each target runs (default 60)
#   FUZZ_SANITIZER=address|none   (default address; falls back to none when ASan cannot build)
#   FUZZ_JOBS=1         libFuzzer -jobs (one: the machine's cores are shared)
#
# cargo-fuzz is installed on first use into the git-ignored .tools/cargo (cargo install --locked,
# a few minutes once). It needs nightly-only flags, so it runs on the stable toolchain with
# RUSTC_BOOTSTRAP=1. The corpus (fuzz/corpus/<target>, git-ignored, kept between runs) is seeded
# every run from events/reply, events/variants and events/bad. A crash stops the run with the
# input in fuzz/artifacts/<target>/; turn it into a regression test (docs/reliability.md).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
SANITIZER="${FUZZ_SANITIZER:-address}"
JOBS="${FUZZ_JOBS:-1}"
CARGO_FUZZ_VERSION=0.13.2
TOOLS="$ROOT/.tools/cargo"
export PATH="$TOOLS/bin:$PATH"
export RUSTC_BOOTSTRAP=1

say() { printf '\033[1m==> fuzz:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31merror (fuzz):\033[0m %s\n' "$*" >&2; exit 1; }

[[ $SECONDS_PER_TARGET =~ ^[0-9]+$ && $SECONDS_PER_TARGET -ge 1 && $SECONDS_PER_TARGET -le 86400 ]] ||
    die "FUZZ_SECONDS must be a whole number of seconds between 1 and 86400, got '$SECONDS_PER_TARGET'"
[[ $SANITIZER == address || $SANITIZER == none ]] || die "FUZZ_SANITIZER must be address or none"

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(parse pipeline)
for t in "${targets[@]}"; do
    [[ $t == parse || $t == pipeline ]] || die "unknown target '$t' (parse, pipeline)"
done

if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    say "installing cargo-fuzz $CARGO_FUZZ_VERSION into .tools/cargo (first use: a few minutes)"
    cargo install --locked "cargo-fuzz@$CARGO_FUZZ_VERSION" --root "$TOOLS" ||
        die "cargo install cargo-fuzz failed (see above); it needs crates.io"
fi

# Seeds: every body under events/ (files over 64 KiB, e.g. the 413 samples, are left out:
# they would only slow libFuzzer down). The pipeline target's first byte is the request shape
# (fuzz/fuzz_targets/pipeline.rs): 0x00 = a valid POST to the email function, 0x20 = the same
# with SQS down, 0x41 = no token to the linkedin function.
seed() {
    local target=$1 dir="fuzz/seeds/$1" f n=0
    rm -rf "$dir"
    mkdir -p "$dir" "fuzz/corpus/$target"
    while IFS= read -r -d '' f; do
        [[ $(stat -c %s "$f") -le 65536 ]] || continue
        [[ $(basename "$f") == manifest.json ]] && continue
        n=$((n + 1))
        if [[ $target == parse ]]; then
            cp "$f" "$dir/$n"
        else
            { printf '\x00'; cat "$f"; } >"$dir/$n-post"
            { printf '\x20'; cat "$f"; } >"$dir/$n-sqs-down"
            { printf '\x41'; cat "$f"; } >"$dir/$n-no-token"
        fi
    done < <(find events/reply events/variants events/bad -type f -print0 | sort -z)
    say "$target: seeded with $n files from events/"
}

run() {
    local target=$1 sanitizer=$2 log="fuzz/$1.log" jobs=()
    # One job runs in-process (final stats in the log); more run as libFuzzer workers.
    [[ $JOBS -le 1 ]] || jobs=(-jobs="$JOBS" -workers="$JOBS")
    (
        cd fuzz
        cargo fuzz run --sanitizer "$sanitizer" -O "$target" "corpus/$target" "seeds/$target" -- \
            -max_total_time="$SECONDS_PER_TARGET" "${jobs[@]}" \
            -max_len=12288 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    ) 2>&1 | tee "$log" | grep -E '^(#[0-9]+ +(INITED|DONE)|==[0-9]+==|thread .* panicked|SUMMARY|Done [0-9]+ runs|stat::(number_of_executed_units|peak_rss_mb)|artifact_prefix|Test unit written|error)' >&2
    return "${PIPESTATUS[0]}"
}

failed=0
for target in "${targets[@]}"; do
    seed "$target"
    say "$target: ${SECONDS_PER_TARGET} s, sanitizer $SANITIZER, $JOBS job(s) (full log: fuzz/$target.log)"
    start=$SECONDS
    rc=0
    run "$target" "$SANITIZER" || rc=$?
    if [[ $rc -ne 0 && $SANITIZER == address ]] && ! ls "fuzz/artifacts/$target"/crash-* >/dev/null 2>&1 &&
        grep -qiE 'error: could not compile|sanitizer.*(not supported|unsupported)|linking with .* failed' "fuzz/$target.log"; then
        say "$target: the AddressSanitizer build failed on this toolchain; retrying with --sanitizer none"
        rc=0
        run "$target" none || rc=$?
    fi
    execs=$(grep -hoE 'stat::number_of_executed_units: *[0-9]+' "fuzz/$target.log" | grep -oE '[0-9]+$' | paste -sd+ | bc 2>/dev/null || echo "?")
    corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
    if [[ $rc -eq 0 ]]; then
        say "$target: no crash in $((SECONDS - start)) s; $execs executions; corpus $corpus inputs"
    else
        failed=1
        say "$target: FAILED (exit $rc) after $((SECONDS - start)) s; crash inputs:"
        ls -l "fuzz/artifacts/$target/" >&2 2>/dev/null || true
        say "reproduce: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run $target artifacts/$target/<file>)"
    fi
done
exit "$failed"
