# reply-webhooks: every chore is one target. `make help` lists them.
# Tools (moto's server, cargo-lambda, zig, cfn-lint, SAM) are installed on first use into the
# git-ignored .tools/ folder; nothing is installed system-wide.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

export PATH := $(CURDIR)/.tools/venv/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0

EVENT ?= email_replied

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.PHONY: demo
demo: ## Run every sample event through the real functions on a local stack, print the outcomes
	@scripts/stack.sh demo

.PHONY: test
test: ## Everything CI checks: unit, integration (moto), end-to-end and template tests
	@scripts/test.sh

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
	@scripts/tools.sh

.PHONY: events
events: ## Regenerate events/apigw/ from events/reply/
	cargo run -q -p xtask -- events

.PHONY: local
local: ## Start the local stack (moto + cargo lambda watch) and keep it running
	@scripts/stack.sh start

.PHONY: stop
stop: ## Stop the local stack
	@scripts/stack.sh stop

.PHONY: invoke
invoke: ## Invoke a function on the running local stack: make invoke EVENT=email_replied
	@scripts/stack.sh invoke $(EVENT)

.PHONY: template
template: ## Lint template.yaml (cfn-lint, sam validate --lint)
	@scripts/template.sh lint

.PHONY: sam-build
sam-build: ## sam build the three functions
	@scripts/template.sh build

.PHONY: package
package: ## Build the three functions as arm64 Lambda zips and print their sizes
	@scripts/package.sh

.PHONY: deploy
deploy: ## sam build + sam deploy (guided the first time)
	@scripts/deploy.sh deploy

.PHONY: delete
delete: ## Delete the deployed stack
	@scripts/deploy.sh delete

.PHONY: subscribe
subscribe: ## Make Reply's subscriptions match a deployment: make subscribe ARGS='--stack NAME --token ...'
	@echo "==> reply-webhooks subscribe (cargo run --bin reply-webhooks; the first run builds it)" >&2
	@cargo run -q --bin reply-webhooks -- subscribe $(ARGS)

.PHONY: load
load: ## Load test through the real binaries: N=5000 deliveries at C=32, 20 % duplicates
	@scripts/load.sh

.PHONY: fuzz
fuzz: ## Coverage-guided fuzzing of the parser and the core (FUZZ_SECONDS per target)
	@scripts/fuzz.sh

.PHONY: bench
bench: ## criterion benchmarks, cold start, memory and package figures (docs/benchmarks.md)
	@scripts/bench.sh
