#!/usr/bin/env bash
# Installs the project's pinned local tools into the git-ignored .tools/venv, on first use only.
#
#   scripts/tools.sh [GROUP...]      GROUP: moto | lambda | template | all   (default: moto lambda)
#
#   moto      moto's server (local DynamoDB + SQS)                  moto[server]==5.2.5    ~40 s
#   lambda    cargo-lambda and zig (cargo lambda watch/invoke/build) cargo-lambda, ziglang  seconds
#   template  cfn-lint and the SAM CLI (template lint, sam build)   cfn-lint, aws-sam-cli  ~1-2 min, ~340 MB
#
# A group is installed once: a stamp file per group records the pinned versions, so a second call
# is a no-op (a few milliseconds) until a pin changes. Nothing is installed system-wide; PyPI is
# the only registry used. Put .tools/venv/bin on PATH to use the tools (the Makefile does).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="$TOOLS/venv"
STAMPS="$TOOLS/stamps"

# Pinned versions: change them here only.
MOTO_PINS=("moto[server]==5.2.5")
LAMBDA_PINS=("cargo-lambda==1.9.2" "ziglang==0.17.1")
TEMPLATE_PINS=("cfn-lint==1.58.0" "aws-sam-cli==1.170.0")

say() { printf '\033[1m==> tools:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31merror (tools):\033[0m %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

pins_of() {
    case "$1" in
        moto) printf '%s\n' "${MOTO_PINS[@]}" ;;
        lambda) printf '%s\n' "${LAMBDA_PINS[@]}" ;;
        template) printf '%s\n' "${TEMPLATE_PINS[@]}" ;;
        *) return 1 ;;
    esac
}

# The command a group must provide (a cheap check that the venv still holds it).
probe_of() {
    case "$1" in
        moto) echo moto_server ;;
        lambda) echo cargo-lambda ;;
        template) echo sam ;;
    esac
}

hint_of() {
    case "$1" in
        moto) echo "about 40 s, ~320 MB" ;;
        lambda) echo "a few seconds" ;;
        template) echo "1-2 min, ~340 MB" ;;
    esac
}

is_installed() {
    local group=$1
    [[ -x "$VENV/bin/python" && -x "$VENV/bin/$(probe_of "$group")" && -f "$STAMPS/$group" ]] &&
        [[ "$(cat "$STAMPS/$group")" == "$(pins_of "$group")" ]]
}

find_python() {
    local py=${PYTHON:-}
    if [[ -z $py ]]; then
        py=$(command -v python3 || true)
    fi
    [[ -n $py ]] || die "python3 not found. Install Python >= 3.9 (with venv and pip), or set PYTHON=/path/to/python3."
    "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' ||
        die "$py is $("$py" -V 2>&1); the tools need Python >= 3.9."
    echo "$py"
}

ensure_venv() {
    if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'import pip' 2>/dev/null; then
        return
    fi
    local py
    py=$(find_python)
    "$py" -c 'import venv, ensurepip' 2>/dev/null ||
        die "$py cannot create virtual environments (module venv/ensurepip missing). On Debian/Ubuntu: apt-get install python3-venv"
    say "creating $VENV with $("$py" -V 2>&1)"
    mkdir -p "$TOOLS"
    "$py" -m venv "$VENV" || die "'$py -m venv $VENV' failed (see above). Remove .tools/ and retry; on Debian/Ubuntu install python3-venv."
}

install_group() {
    local group=$1 pins start
    mapfile -t pins < <(pins_of "$group")
    say "installing '$group' (${pins[*]}) into .tools/venv: first use, $(hint_of "$group")"
    start=$SECONDS
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install --progress-bar off "${pins[@]}" >&2 ||
        die "pip could not install ${pins[*]} (see above). Check access to PyPI (pypi.org) and retry: scripts/tools.sh $group"
    [[ -x "$VENV/bin/$(probe_of "$group")" ]] ||
        die "after installing ${pins[*]}, $VENV/bin/$(probe_of "$group") is missing. Remove .tools/ and retry."
    mkdir -p "$STAMPS"
    pins_of "$group" >"$STAMPS/$group"
    say "'$group' ready in $((SECONDS - start)) s"
}

main() {
    local groups=() g
    for g in "$@"; do
        case "$g" in
            -h | --help) usage; exit 0 ;;
            all) groups+=(moto lambda template) ;;
            moto | lambda | template) groups+=("$g") ;;
            *) usage >&2; die "unknown tool group '$g' (expected: moto, lambda, template, all)" ;;
        esac
    done
    [[ ${#groups[@]} -gt 0 ]] || groups=(moto lambda)

    # Fast path: everything already there, no lock, no Python start-up.
    local missing=()
    for g in "${groups[@]}"; do
        is_installed "$g" || missing+=("$g")
    done
    [[ ${#missing[@]} -gt 0 ]] || return 0

    # One installer at a time (two make targets started together share the venv).
    mkdir -p "$TOOLS"
    exec 9>"$TOOLS/.lock"
    if ! flock -n 9; then
        say "another install into .tools/ is running; waiting for it (up to 15 min)"
        flock -w 900 9 || die "timed out waiting for the lock $TOOLS/.lock"
    fi
    ensure_venv
    for g in "${missing[@]}"; do
        is_installed "$g" || install_group "$g"
    done
}

main "$@"
