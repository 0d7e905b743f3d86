#!/usr/bin/env bash
# `make bench`: the figures of docs/benchmarks.md (issue 7), then a summary against the targets.
#
#   1. criterion   payload parse per event type; the core pipeline on in-memory ports;
#                  message / record / response serialisation  (cargo bench, bounded run times)
#   2. release     cargo build --release -p email-webhook (a no-op when up to date; ~3 min cold)
#   3. coldstart   the release binary under a local Lambda Runtime API emulator against moto:
#                  ready time, first and warm event latency over RUNS cold starts; LOAD events
#                  through one process for CPU per invocation and peak RSS  (xtask coldstart)
#   4. requests    AWS requests per event, counted on the wire (tests/request_counts.rs)
#   5. package     sizes of target/lambda/*/bootstrap.zip (from `make package`, which this script
#                  runs only with PACKAGE=1: a cross release build takes minutes)
#
# Settings: RUNS (cold starts, default 15), LOAD (events, default 1000), HELLO (path of another
# runtime binary to compare, e.g. a lambda_runtime hello-world), SKIP_CRITERION=1, PACKAGE=1.
# Output is kept in target/bench/ (criterion's own data in target/criterion/).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.tools/venv/bin:$PATH"
OUT=target/bench
mkdir -p "$OUT"
RUNS=${RUNS:-15}
LOAD=${LOAD:-1000}

say() { printf '\033[1m==> bench:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31merror (bench):\033[0m %s\n' "$*" >&2; exit 1; }

machine() {
    echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "machine:  $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "rustc:    $(rustc -V)"
    echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at start; rustc processes: $(pgrep -c rustc || true)"
}

machine | tee "$OUT/machine.txt" >&2
if pgrep -x rustc >/dev/null; then
    say "note: other compilations are running; figures will be noisier than on an idle machine"
fi

if [[ ${SKIP_CRITERION:-0} != 1 ]]; then
    say "[1/5] criterion: payload parse (38 benchmarks, ~1.5 s each)"
    cargo bench -q -p reply-payload --bench parse 2>&1 | tee "$OUT/parse.txt" >&2
    say "[1/5] criterion: core pipeline and serialisation (warm-up 1 s, 3 s of samples each)"
    cargo bench -q -p webhook-core --bench pipeline -- --warm-up-time 1 --measurement-time 3 \
        2>&1 | tee "$OUT/pipeline.txt" >&2
fi

say "[2/5] release build of email-webhook (no-op when up to date)"
cargo build --release -q -p email-webhook
BIN=target/release/email-webhook
[[ -x $BIN ]] || die "$BIN was not built"

say "[3/5] cold start and load against moto ($RUNS cold starts, $LOAD events)"
cargo build -q -p xtask
hello_args=()
[[ -n ${HELLO:-} ]] && hello_args=(--hello "$HELLO")
say "[4/5] AWS requests per event (tests/request_counts.rs), in the same moto"
# One moto for both; the test binary is built before moto starts.
cargo test -q -p reply-webhooks-tests --test request_counts --no-run 2>/dev/null
scripts/moto.sh run -- bash -c '
    set -euo pipefail
    target/debug/xtask coldstart --bin "$0" --runs "$1" --load "$2" --out "$3/coldstart.json" "${@:4}" \
        | tee "$3/coldstart.txt"
    cargo test -q -p reply-webhooks-tests --test request_counts 2>&1 | grep -E "^test |test result" \
        | tee "$3/request_counts.txt"
' "$BIN" "$RUNS" "$LOAD" "$OUT" "${hello_args[@]}" >&2

if [[ ${PACKAGE:-0} == 1 ]]; then
    say "[5/5] make package (cargo lambda, arm64 unless ARCH=x86_64)"
    scripts/package.sh >&2
else
    say "[5/5] package sizes (existing zips; PACKAGE=1 rebuilds them)"
fi
{
    for zip in target/lambda/*/bootstrap.zip; do
        [[ -f $zip ]] || continue
        # ELF e_machine (bytes 18-19): b7 00 = aarch64, 3e 00 = x86_64.
        arch=$( (unzip -p "$zip" bootstrap 2>/dev/null || true) | head -c 20 | od -An -tx1 -j18 -N2 | tr -d ' ' || true)
        case $arch in b700) arch=arm64 ;; 3e00) arch=x86_64 ;; *) arch="?" ;; esac
        printf '%s %s %s %s\n' "$zip" "$(stat -c %s "$zip")" "$arch" "$(stat -c %y "$zip" | cut -d. -f1)"
    done
} >"$OUT/package.txt"
printf '%s %s\n' "$BIN" "$(stat -c %s "$BIN")" >"$OUT/binary.txt"

python3 - "$OUT" <<'PY'
import json, os, sys, glob
out = sys.argv[1]
rows = []
def target(name, value, unit, limit, fmt="{:.2f}"):
    ok = value is not None and value <= limit
    shown = "n/a" if value is None else fmt.format(value) + " " + unit
    rows.append((name, shown, f"<= {limit} {unit}", "met" if ok else ("MISSED" if value is not None else "not measured")))

def median_ns(group, bench):
    path = f"target/criterion/{group}/{bench}/new/estimates.json"
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"]
    except OSError:
        return None

print()
print(open(f"{out}/machine.txt").read().rstrip())
print()
print("criterion medians (target/criterion/*/*/new/estimates.json)")
for group in ("delivery_parse", "reply_event_parse", "parse_parts", "pipeline", "serialise"):
    benches = sorted(os.path.basename(os.path.dirname(os.path.dirname(p)))
                     for p in glob.glob(f"target/criterion/{group}/*/new/estimates.json"))
    for bench in benches:
        ns = median_ns(group, bench)
        print(f"  {group + '/' + bench:<60} {ns / 1000:>9.3f} µs")
core = median_ns("pipeline", "new_actionable_email_replied")
target("core: new actionable 2 KB delivery (median)", core and core / 1000, "µs", 10)

try:
    cs = json.load(open(f"{out}/coldstart.json"))
except OSError:
    cs = {}
cold = cs.get("cold", {})
load = cs.get("load", {})
target("cold start: spawn -> ready (median)", cold.get("ready_ms", {}).get("median"), "ms", 10, "{:.2f}")
if load:
    target("peak RSS under load (VmHWM)", load["peak_rss_kib"] / 1024, "MiB", 16, "{:.1f}")
print()
if cold:
    for key, label in (("ready_ms", "ready"), ("first_event_ms", "first event"), ("warm_event_ms", "warm event")):
        v = cold[key]
        print(f"  {label:<12} median {v['median']:8.3f} ms   p90 {v['p90']:8.3f} ms   ({cold['runs']} cold starts)")
if load:
    v = load["latency_ms"]
    print(f"  load         {load['events']} events: median {v['median']:.3f} ms, p90 {v['p90']:.3f} ms; "
          f"CPU {load['cpu_per_event_us']:.0f} µs/invocation; peak RSS {load['peak_rss_kib']/1024:.1f} MiB")
if "hello" in cs:
    h = cs["hello"]
    print(f"  hello-world  ready median {h['ready_ms']['median']:.3f} ms, first {h['first_event_ms']['median']:.3f} ms")

size = {}
for line in open(f"{out}/package.txt"):
    zip_, bytes_, arch, when = line.split(" ", 3)
    size[zip_] = int(bytes_)
    target(f"zip {zip_.split('/')[2]} ({arch}, {when.strip()})", int(bytes_) / 1e6, "MB", 4, "{:.2f}")
if not size:
    rows.append(("package zips", "none in target/lambda/", "<= 4 MB", "not measured (make package)"))
binary = open(f"{out}/binary.txt").read().split()
print(f"  release binary {binary[0]}: {int(binary[1]) / 1e6:.2f} MB (x86_64, stripped)")
try:
    counts = open(f"{out}/request_counts.txt").read()
    rows.append(("AWS requests: duplicate 1, non-actionable 1, actionable 3", "tests/request_counts.rs",
                 "exact", "met" if "test result: ok" in counts else "FAILED"))
except OSError:
    pass
print()
print("targets (issue 7)")
for name, value, limit, verdict in rows:
    print(f"  {name:<58} {value:>16}  {limit:<10} {verdict}")
PY
