#!/usr/bin/env bash
# Builds the three functions as Lambda zips (bootstrap inside) with cargo lambda, and prints
# their sizes (issue 5). zig comes from PyPI's ziglang, in .tools/venv with cargo-lambda.
#
#   scripts/package.sh                 arm64 (the template's default architecture)
#   ARCH=x86_64 scripts/package.sh     x86_64 (needs only what the package registries give)
#
# Output: target/lambda/<binary>/bootstrap.zip for email-webhook, linkedin-webhook and
# account-webhook. arm64 needs the aarch64-unknown-linux-gnu standard library, which comes
# through rustup (not a package registry): it is added when missing, and the script stops with
# an explanation when rustup cannot reach its server.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.tools/venv/bin:$PATH"

BINARIES=(email-webhook linkedin-webhook account-webhook)
ARCH="${ARCH:-arm64}"
AARCH64_TARGET=aarch64-unknown-linux-gnu

say() { printf '\033[1m==> package:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31merror (package):\033[0m %s\n' "$*" >&2; exit 1; }

tools_lambda() {
    if [[ -x scripts/tools.sh ]]; then
        scripts/tools.sh lambda
    else
        # Fallback while scripts/tools.sh does not exist; same pins.
        [[ -x .tools/venv/bin/python ]] || python3 -m venv .tools/venv
        .tools/venv/bin/python -m pip install -q --disable-pip-version-check \
            cargo-lambda==1.9.2 ziglang==0.17.1
    fi
    command -v cargo-lambda >/dev/null || die "cargo-lambda is not on PATH after installing it"
}

# The aarch64 std: present, or added through rustup, or a clear stop.
ensure_aarch64_std() {
    if rustup target list --installed | grep -qx "$AARCH64_TARGET"; then
        return
    fi
    say "the $AARCH64_TARGET standard library is missing; adding it with rustup"
    if ! rustup target add "$AARCH64_TARGET"; then
        die "cannot build arm64: 'rustup target add $AARCH64_TARGET' failed (see above).
       The aarch64 standard library is distributed by rustup from static.rust-lang.org, not by a
       package registry, so it cannot be installed from here. Either run that command on a
       machine that can reach static.rust-lang.org, or build for x86_64 instead:
           ARCH=x86_64 make package
       and deploy with the template parameter Architecture=x86_64."
    fi
}

case "$ARCH" in
    arm64) arch_flag=--arm64 ;;
    x86_64) arch_flag=--x86-64 ;;
    *) die "ARCH must be arm64 or x86_64, got '$ARCH'" ;;
esac

tools_lambda
[[ $ARCH == arm64 ]] && ensure_aarch64_std

bin_args=()
for bin in "${BINARIES[@]}"; do
    bin_args+=(--bin "$bin")
done

say "cargo lambda build --release $arch_flag --output-format zip (${BINARIES[*]}): a release build, minutes"
start=$SECONDS
cargo lambda build --release "$arch_flag" --output-format zip "${bin_args[@]}" ||
    die "cargo lambda build failed (see above)"
elapsed=$((SECONDS - start))

say "Lambda zips ($ARCH, built in $((elapsed / 60))m$((elapsed % 60))s):"
for bin in "${BINARIES[@]}"; do
    zip="target/lambda/$bin/bootstrap.zip"
    [[ -f $zip ]] || die "$zip was not produced"
    bytes=$(stat -c %s "$zip")
    printf '  %-46s %9d bytes  (%s)\n' "$zip" "$bytes" "$(numfmt --to=iec-i --suffix=B "$bytes")"
done
