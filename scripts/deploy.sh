#!/usr/bin/env bash
# Deploys template.yaml to your AWS account with SAM, or deletes the stack (issue 5).
# Needs AWS credentials (the usual AWS_PROFILE / environment / SSO); see docs/deploy.md.
#
#   scripts/deploy.sh deploy    sam build, then sam deploy: --guided the first time (when
#                               samconfig.toml has no deploy settings yet; it saves them there),
#                               plain sam deploy afterwards
#   scripts/deploy.sh delete    sam delete (asks first; the DynamoDB table is retained)
#
#   ARCH=x86_64 scripts/deploy.sh deploy    build and deploy for x86_64 (default arm64)
#   SAM_CONFIG_ENV=prod scripts/deploy.sh deploy    use another samconfig.toml environment
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.tools/venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0

ARCH="${ARCH:-arm64}"
CONFIG_FILE=samconfig.toml
CONFIG_ENV="${SAM_CONFIG_ENV:-default}"

say() { printf '\033[1m==> deploy:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31merror (deploy):\033[0m %s\n' "$*" >&2; exit 1; }

# Whether a previous guided deploy saved this environment's deploy settings.
has_deploy_config() {
    [[ -f $CONFIG_FILE ]] && grep -q "^\[$CONFIG_ENV\.deploy\.parameters\]" "$CONFIG_FILE"
}

deploy() {
    [[ $ARCH == arm64 || $ARCH == x86_64 ]] || die "ARCH must be arm64 or x86_64, got '$ARCH'"
    # Builds for $ARCH exactly (adds the aarch64 std through rustup, or stops saying why).
    ARCH="$ARCH" scripts/template.sh build

    # The template defaults to arm64; an x86_64 build must be deployed as x86_64. (On the
    # command line --parameter-overrides replaces the saved list; parameters it leaves out keep
    # their previous values on an existing stack.)
    local args=(--config-env "$CONFIG_ENV" --no-fail-on-empty-changeset)
    [[ $ARCH == x86_64 ]] && args+=(--parameter-overrides Architecture=x86_64)

    if has_deploy_config; then
        say "sam deploy (settings from $CONFIG_FILE [$CONFIG_ENV])"
        sam deploy "${args[@]}"
    else
        say "first deploy: sam deploy --guided (answers are saved to $CONFIG_FILE [$CONFIG_ENV])"
        say "WebhookTokens: one or more comma-separated tokens of >= 16 characters (openssl rand -hex 32)"
        sam deploy --guided "${args[@]}"
    fi
    say "done: the webhook URLs are in the stack outputs above; subscribe them in Reply (docs/deploy.md)"
}

delete() {
    has_deploy_config ||
        die "no [$CONFIG_ENV.deploy.parameters] in $CONFIG_FILE: nothing deployed from here (or pass --stack-name to sam delete yourself)"
    say "sam delete: the functions, API, queues (with their messages) and log groups go;"
    say "the idempotency table is retained (DeletionPolicy: Retain) - delete it by hand if unwanted"
    sam delete --config-env "$CONFIG_ENV"
}

case "${1:-}" in
    deploy) deploy ;;
    delete) delete ;;
    *)
        sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
