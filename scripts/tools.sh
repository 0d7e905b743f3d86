#!/usr/bin/env bash
# Installs the project's pinned local tools into the git-ignored .tools/, on first use only.
# The one place the tool versions live; `cargo xtask` calls it before using a tool.
#
#   scripts/tools.sh [GROUP...]      GROUP: moto | lambda | template | fuzz | all (default: moto lambda)
#
#   moto      moto's server (local DynamoDB + SQS), PyPI            seconds, ~320 MB
#   lambda    cargo-lambda and zig (watch, invoke, build), PyPI     seconds
#   template  cfn-lint and the SAM CLI, PyPI                        seconds, ~340 MB
#   fuzz      cargo-fuzz, crates.io (cargo install)                 a few minutes
#
# A stamp per group records its pins, so a second call is a no-op until a pin changes. PyPI
# tools go into .tools/venv/bin through uv (installed there first with pip: it downloads in
# parallel and leaves bytecode to the first import: 16 s for moto, lambda and template here,
# where pip took 111 s), cargo-fuzz into .tools/cargo/bin; nothing is system-wide.
set -euo pipefail

TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools"
VENV="$TOOLS/venv"

# One pin per line (the stamp files hold exactly this).
pins_of() {
    case "$1" in
        moto) printf '%s\n' "moto[server]==5.2.5" ;;
        lambda) printf '%s\n' "cargo-lambda==1.9.2" "ziglang==0.17.1" ;;
        installer) printf '%s\n' "uv==0.13.9" ;;
        template) printf '%s\n' "cfn-lint==1.58.0" "aws-sam-cli==1.170.0" ;;
        fuzz) printf '%s\n' "cargo-fuzz@0.13.2" ;;
    esac
}

# The program whose presence tells the group is installed.
probe_of() {
    case "$1" in
        moto) echo "$VENV/bin/moto_server" ;;
        lambda) echo "$VENV/bin/cargo-lambda" ;;
        template) echo "$VENV/bin/sam" ;;
        fuzz) echo "$TOOLS/cargo/bin/cargo-fuzz" ;;
    esac
}

say() { printf '\033[1m==> tools:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31merror (tools):\033[0m %s\n' "$*" >&2; exit 1; }

installed() { [[ -x $(probe_of "$1") && "$(cat "$TOOLS/stamps/$1" 2>/dev/null)" == "$(pins_of "$1")" ]]; }

# uv, the installer of the PyPI groups, into the venv with its own pip. A PyPI mirror set for
# pip (PIP_INDEX_URL) is one for uv too, unless uv has its own (UV_DEFAULT_INDEX, UV_INDEX_URL).
ensure_uv() {
    if [[ -n ${PIP_INDEX_URL:-} && -z ${UV_DEFAULT_INDEX:-}${UV_INDEX_URL:-} ]]; then
        export UV_DEFAULT_INDEX=$PIP_INDEX_URL
    fi
    local version
    version=$("$VENV/bin/uv" --version 2>/dev/null | cut -d' ' -f2) || true
    [[ "uv==$version" == "$(pins_of installer)" ]] && return
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install --progress-bar off "$(pins_of installer)" >&2 ||
        die "pip could not install $(pins_of installer), the installer of the other tools (see above). Check access to PyPI and retry."
}

ensure_venv() {
    [[ -x $VENV/bin/python ]] && "$VENV/bin/python" -c 'import pip' 2>/dev/null && return
    local py=${PYTHON:-$(command -v python3 || true)}
    [[ -n $py ]] || die "python3 not found. Install Python >= 3.9 (with venv and pip), or set PYTHON=/path/to/python3."
    "$py" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 9))' 2>/dev/null ||
        die "$py is not Python >= 3.9 with venv and ensurepip. On Debian/Ubuntu: apt-get install python3-venv"
    say "creating $VENV with $("$py" -V 2>&1)"
    "$py" -m venv "$VENV" || die "'$py -m venv $VENV' failed (see above). Remove .tools/ and retry."
}

install() {
    local group=$1 start=$SECONDS
    say "installing '$group' ($(pins_of "$group" | paste -sd' ')) into .tools/: first use"
    if [[ $group == fuzz ]]; then
        cargo install --locked "$(pins_of fuzz)" --root "$TOOLS/cargo" ||
            die "cargo install $(pins_of fuzz) failed (see above); it needs crates.io"
    else
        ensure_venv
        ensure_uv
        # shellcheck disable=SC2046 # the pins are words
        "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" $(pins_of "$group") >&2 ||
            die "uv could not install $(pins_of "$group") (see above). Check access to PyPI and retry: scripts/tools.sh $group"
    fi
    [[ -x $(probe_of "$group") ]] || die "after installing '$group', $(probe_of "$group") is missing. Remove .tools/ and retry."
    mkdir -p "$TOOLS/stamps"
    pins_of "$group" >"$TOOLS/stamps/$group"
    say "'$group' ready in $((SECONDS - start)) s"
}

groups=()
[[ $# -gt 0 ]] || set -- moto lambda
for g in "$@"; do
    case "$g" in
        all) groups+=(moto lambda template fuzz) ;;
        moto | lambda | template | fuzz) groups+=("$g") ;;
        -h | --help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown tool group '$g' (moto, lambda, template, fuzz, all)" ;;
    esac
done

missing=()
for g in "${groups[@]}"; do installed "$g" || missing+=("$g"); done
[[ ${#missing[@]} -gt 0 ]] || exit 0 # the usual case: milliseconds, no lock

# One installer at a time (two commands started together share .tools/).
mkdir -p "$TOOLS"
exec 9>"$TOOLS/.lock"
if ! flock -n 9; then
    say "another install into .tools/ is running; waiting for it (up to 15 min)"
    flock -w 900 9 || die "timed out waiting for the lock $TOOLS/.lock"
fi
for g in "${missing[@]}"; do installed "$g" || install "$g"; done
