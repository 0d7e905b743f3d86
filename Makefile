# reply-webhooks: every chore is one target, and each runs one `cargo xtask <command>` (the
# same command works without make; `cargo xtask help` lists them). `make help` lists the targets.
# Tools (moto's server, cargo-lambda, zig, cfn-lint, SAM, cargo-fuzz) are installed on first use
# into the git-ignored .tools/ folder by scripts/tools.sh; nothing is installed system-wide.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

export SAM_CLI_TELEMETRY := 0

EVENT ?= email_replied

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.PHONY: demo
demo: ## Run every sample event through the real functions on a local stack, print the outcomes
	cargo xtask demo

.PHONY: test
test: ## Everything CI checks: unit, integration (moto), end-to-end and template tests
	cargo xtask test

.PHONY: build
build: ## Build the workspace (debug)
	cargo build --workspace --all-targets

.PHONY: lint
lint: ## rustfmt check and clippy with warnings denied
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

.PHONY: fmt
fmt: ## Format the code
	cargo fmt --all

.PHONY: tools
tools: ## Install the pinned local tools into .tools/ (first use only)
	scripts/tools.sh

.PHONY: events
events: ## Regenerate events/apigw/ and events/sources/ from events/reply/
	cargo xtask events

.PHONY: local
local: ## Start the local stack (moto + cargo lambda watch) and keep it running
	cargo xtask local

.PHONY: stop
stop: ## Stop the local stack
	cargo xtask stop

.PHONY: invoke
invoke: ## Invoke a function on the running local stack: make invoke EVENT=email_replied
	cargo xtask invoke $(EVENT)

.PHONY: template
template: ## Lint template.yaml (cfn-lint, sam validate --lint)
	cargo xtask template

.PHONY: sam-build
sam-build: ## sam build the three functions
	cargo xtask sam-build

.PHONY: package
package: ## Build the three functions as arm64 Lambda zips and print their sizes
	cargo xtask package

.PHONY: deploy
deploy: ## sam build + sam deploy (guided the first time)
	cargo xtask deploy

.PHONY: delete
delete: ## Delete the deployed stack
	cargo xtask delete

.PHONY: subscribe
subscribe: ## Make Reply's subscriptions match a deployment: make subscribe ARGS='--stack NAME --token ...'
	@echo "==> reply-webhooks subscribe (cargo run --bin reply-webhooks; the first run builds it)" >&2
	@cargo run -q --bin reply-webhooks -- subscribe $(ARGS)

.PHONY: replay
replay: ## Feed quarantined deliveries back through the pipeline: make replay [ARGS='--stack NAME --dry-run']
	cargo xtask replay $(ARGS)

.PHONY: load
load: ## Load test through the real binaries: N=5000 deliveries at C=32, 20 % duplicates
	cargo xtask load

.PHONY: fuzz
fuzz: ## Coverage-guided fuzzing of the parser and the core (FUZZ_SECONDS per target)
	cargo xtask fuzz

.PHONY: bench
bench: ## Criterion, cold start, CPU and memory against a hello-world, package sizes
	cargo xtask bench
