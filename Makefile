# MyTelevision API v2 — operations entry points. `make` (or `make help`) lists them.
# Every public target is one line of help (`## …`) and calls one script: scripts/<name>.ts.
# Common variables: ENV=dev|staging|prod  DRY_RUN=1  YES=1  JSON=1  VERBOSE=1  ARGS="extra flags"

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory
.DELETE_ON_ERROR:

ENV ?= dev
ARGS ?=
truthy = $(filter 1 true yes on,$(1))
FLAGS = --env=$(ENV) $(if $(call truthy,$(DRY_RUN)),--dry-run) $(if $(call truthy,$(YES)),--yes) \
        $(if $(call truthy,$(JSON)),--json) $(if $(call truthy,$(VERBOSE)),--verbose) $(ARGS)
# The one way to run TypeScript here (swc emits decorator metadata; tsx/esbuild do not).
TS := node --enable-source-maps --import @swc-node/register/esm-register
SCRIPT = $(TS) scripts/$(1).ts $(FLAGS)

# npm ci only when the manifests changed since the last install: a second `make setup` is fast.
NPM_STAMP := node_modules/.mytv-npm-ci
$(NPM_STAMP): package.json package-lock.json app/package.json
	npm ci --no-audit --no-fund
	@touch $@

##@ Getting started
.PHONY: help
help: ## List the targets (this text)
	@awk 'BEGIN {FS = ":.*## "} \
	  /^##@/ {printf "\n%s\n", substr($$0, 5); next} \
	  /^[a-zA-Z0-9_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@printf '\nVariables: ENV=dev|staging|prod  DRY_RUN=1  YES=1  JSON=1  VERBOSE=1  ARGS="--flag …"\n'

.PHONY: setup
setup: $(NPM_STAMP) ## Install what the repository needs (npm ci, Debian packages, helm, kubectl); idempotent
	@$(call SCRIPT,setup)

.PHONY: env-check
env-check: $(NPM_STAMP) ## Validate an environment description (ENV=…, ARGS=--all for every one)
	@$(call SCRIPT,env-check)

##@ Local stack
.PHONY: up
up: setup ## Start the whole stack locally (Docker compose, or native processes without Docker)
	@$(call SCRIPT,up)

##@ Quality
.PHONY: lint
lint: $(NPM_STAMP) ## ESLint (type-aware) + Prettier check + yamllint on configs + shellcheck (FIX=1 to fix)
	@$(call SCRIPT,lint) $(if $(call truthy,$(FIX)),--fix)

.PHONY: typecheck
typecheck: $(NPM_STAMP) ## TypeScript type check of scripts, tests and the app
	@$(call SCRIPT,typecheck)

.PHONY: test
test: setup lint typecheck ## Lint, type check, then every test with coverage (real services, loopback only)
	@$(call SCRIPT,test)

.PHONY: test-only
test-only: $(NPM_STAMP) ## Only the tests, no lint (SPEC=test/scripts GREP=text to narrow)
	@$(call SCRIPT,test) $(if $(SPEC),--spec=$(SPEC)) $(if $(GREP),--grep="$(GREP)")

.PHONY: clean
clean: ## Remove build output and coverage (keeps node_modules, .tools and the local stack's data)
	rm -rf app/dist coverage
