#!/usr/bin/env bash
# Checks and builds template.yaml (issue 5). Offline: needs only the tools from PyPI.
#
#   scripts/template.sh lint    cfn-lint template.yaml, then sam validate (SAM transform) and
#                               sam validate --lint; any error or warning fails
#   scripts/template.sh build   a real `sam build` of the three functions (rust-cargolambda),
#                               timed; arm64 when the aarch64 std is installed, else x86_64
#
#   ARCH=arm64|x86_64 scripts/template.sh build    force an architecture
#
# The tools (cfn-lint, SAM CLI, cargo-lambda, zig) come from scripts/tools.sh into .tools/venv.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export PATH="$ROOT/.tools/venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0
# sam validate needs a region, never credentials.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"

TEMPLATE=template.yaml
AARCH64_TARGET=aarch64-unknown-linux-gnu

say() { printf '\033[1m==> template:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31merror (template):\033[0m %s\n' "$*" >&2; exit 1; }

# Installs the tool groups on first use (scripts/tools.sh owns the pinned versions).
tools() {
    if [[ -x scripts/tools.sh ]]; then
        scripts/tools.sh "$@"
    else
        # Fallback while scripts/tools.sh does not exist; same pins.
        local pins=() group
        for group in "$@"; do
            case "$group" in
                template) pins+=(cfn-lint==1.58.0 aws-sam-cli==1.170.0) ;;
                lambda) pins+=(cargo-lambda==1.9.2 ziglang==0.17.1) ;;
            esac
        done
        [[ -x .tools/venv/bin/python ]] || python3 -m venv .tools/venv
        .tools/venv/bin/python -m pip install -q --disable-pip-version-check "${pins[@]}"
    fi
}

lint() {
    tools template
    say "cfn-lint $TEMPLATE ($(cfn-lint --version))"
    # Exit code is non-zero for any error or warning.
    cfn-lint --non-zero-exit-code warning -- "$TEMPLATE" ||
        die "cfn-lint found errors or warnings in $TEMPLATE (listed above)"
    say "sam validate (the SAM transform) and sam validate --lint"
    sam validate --template-file "$TEMPLATE" ||
        die "sam validate rejected $TEMPLATE"
    sam validate --lint --template-file "$TEMPLATE" ||
        die "sam validate --lint found problems in $TEMPLATE"
    say "$TEMPLATE: no errors, no warnings"
}

# arm64 when the aarch64 standard library is installed (it comes through rustup, not a package
# registry, so CI machines may only have x86_64), unless ARCH says otherwise.
choose_arch() {
    if [[ -n ${ARCH:-} ]]; then
        [[ $ARCH == arm64 || $ARCH == x86_64 ]] || die "ARCH must be arm64 or x86_64, got '$ARCH'"
        echo "$ARCH"
    elif rustup target list --installed 2>/dev/null | grep -qx "$AARCH64_TARGET"; then
        echo arm64
    else
        echo x86_64
    fi
}

# An explicit ARCH=arm64 (make deploy) needs the aarch64 std: add it through rustup or stop.
ensure_aarch64_std() {
    rustup target list --installed 2>/dev/null | grep -qx "$AARCH64_TARGET" && return
    say "the $AARCH64_TARGET standard library is missing; adding it with rustup"
    rustup target add "$AARCH64_TARGET" ||
        die "cannot build arm64: 'rustup target add $AARCH64_TARGET' failed (the aarch64 std comes
       from static.rust-lang.org through rustup, not from a package registry). Run it where that
       server is reachable, or build and deploy for x86_64: ARCH=x86_64 make deploy"
}

build() {
    tools template lambda
    command -v cargo-lambda >/dev/null || die "cargo-lambda is not on PATH after scripts/tools.sh lambda"
    local arch start elapsed
    arch=$(choose_arch)
    [[ $arch == arm64 ]] && ensure_aarch64_std
    if [[ $arch == x86_64 && -z ${ARCH:-} ]]; then
        say "NOTE: the $AARCH64_TARGET standard library is not installed (it comes through"
        say "      rustup: rustup target add $AARCH64_TARGET), so this builds for x86_64 with"
        say "      --parameter-overrides Architecture=x86_64. The template's default is arm64."
    fi
    say "sam build of the three functions for $arch (release build of the workspace: minutes)"
    start=$SECONDS
    sam build --template-file "$TEMPLATE" --parameter-overrides "Architecture=$arch" ||
        die "sam build failed (see above)"
    elapsed=$((SECONDS - start))
    local fn
    for fn in .aws-sam/build/*Function; do
        [[ -f $fn/bootstrap ]] || die "sam build left no bootstrap in $fn"
        printf '  %-40s %s\n' "$fn/bootstrap" "$(file -b "$fn/bootstrap" 2>/dev/null | cut -d, -f1-2 || true)"
    done
    say "sam build ($arch) took $((elapsed / 60))m$((elapsed % 60))s"
}

case "${1:-}" in
    lint) lint ;;
    build) build ;;
    *)
        sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
