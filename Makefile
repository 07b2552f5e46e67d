# orderflow: local stack, build and tests. GNU make.
#
#   make run     everything on this machine (see CONTRACT §12); Ctrl-C stops it
#   make test    make lint (gofmt, vet, workflowcheck, golangci-lint), then every test against real PostgreSQL, Redis, kfake and Temporal

GO ?= go

# Stamped into the binary (internal/buildinfo; `orderflow version`, the
# metric orderflow_build_info). Override: make build VERSION=v1.2.3 COMMIT=abc1234
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
BUILDINFO := github.com/orderflow/orderflow/internal/buildinfo
LDFLAGS := -X $(BUILDINFO).Version=$(VERSION) -X $(BUILDINFO).Commit=$(COMMIT)
# The container engine of `make image` (docker, podman or buildah's `buildah bud`).
CONTAINER ?= docker

.DEFAULT_GOAL := help
.PHONY: help build image services run test lint fmt clean clean-data

help: ## list the targets
	@echo "make targets:"
	@grep -E '^[a-zA-Z/_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([^:]+):.*## (.*)/  \1\t\2/' | expand -t 16

bin/temporal: ## the Temporal CLI v1.5.1 (built once, about 4 minutes; cached in ~/.cache/orderflow)
	GO="$(GO)" bash scripts/temporal-cli.sh

build: ## build bin/orderflow, stamped with VERSION and COMMIT (git describe / rev-parse)
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/orderflow ./cmd/orderflow

image: ## build the image orderflow:$(VERSION) from deploy/Dockerfile (CONTAINER=docker; needs its base images)
	$(CONTAINER) build -f deploy/Dockerfile -t orderflow:$(VERSION) \
		--build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) \
		--build-arg CREATED=$(shell date -u +%Y-%m-%dT%H:%M:%SZ) .

services: ## make sure PostgreSQL and Redis run (starts or installs them)
	bash scripts/ensure-services.sh

run: services bin/temporal build ## run the whole local stack (ORDERFLOW_DEMO=0: without the simulator)
	bin/orderflow dev

test: bin/temporal lint ## make lint, then every test (installs chromium, docker-compose and promtool for them when missing)
	bash scripts/ensure-services.sh --test-tools
	$(GO) test -count=1 -timeout 30m ./...

.PHONY: bench
bench: services bin/temporal build ## drain speed, time per activity, worker CPU/RSS, steady latency, shards (~10 min); writes bench/results.json, docs/BENCHMARKS.md
	$(GO) run ./bench -build=false -out bench/results.json -doc docs/BENCHMARKS.md $(BENCH_FLAGS)

lint: ## gofmt, go vet, workflowcheck (workflow determinism) and golangci-lint (.golangci.yml); the linters are built once into bin/
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || echo .))"; if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags faults ./... # the tests' build (cmd/orderflow/faults_on.go)
	GO="$(GO)" bash scripts/lint-tools.sh
	bin/workflowcheck ./...
	bin/golangci-lint run ./...

fmt: ## gofmt every Go file
	gofmt -w .

clean: ## remove bin/orderflow (keeps bin/temporal and data/)
	rm -f bin/orderflow

clean-data: ## remove data/ (the local stack's broker, Temporal and simulator state)
	rm -rf data/
