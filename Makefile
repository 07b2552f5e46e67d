# orderflow: local stack, build and tests. GNU make.
#
#   make run     everything on this machine (see SPEC 12); Ctrl-C stops it
#   make test    go vet + every test, against real PostgreSQL, Redis, kfake and Temporal

GO ?= go

.DEFAULT_GOAL := help
.PHONY: help build services run test lint fmt clean clean-data

help: ## list the targets
	@echo "make targets:"
	@grep -E '^[a-zA-Z/_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([^:]+):.*## (.*)/  \1\t\2/' | expand -t 16

bin/temporal: ## the Temporal CLI v1.5.1 (built once, about 4 minutes; cached in ~/.cache/orderflow)
	GO="$(GO)" bash scripts/temporal-cli.sh

build: ## build bin/orderflow
	$(GO) build -o bin/orderflow ./cmd/orderflow

services: ## make sure PostgreSQL and Redis run (starts or installs them)
	bash scripts/ensure-services.sh

run: services bin/temporal build ## run the whole local stack (ORDERFLOW_DEMO=0: without the simulator)
	bin/orderflow dev

test: bin/temporal ## go vet, then every test (installs chromium and docker-compose for them when missing)
	bash scripts/ensure-services.sh --test-tools
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...

.PHONY: bench
bench: services bin/temporal build ## drain speed, time per activity, worker CPU/RSS, steady latency, shards (~10 min); writes bench/results.json, docs/BENCHMARKS.md
	$(GO) run ./bench -build=false -out bench/results.json -doc docs/BENCHMARKS.md $(BENCH_FLAGS)

lint: ## gofmt must have nothing to say; go vet
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fmt: ## gofmt every Go file
	gofmt -w .

clean: ## remove bin/orderflow (keeps bin/temporal and data/)
	rm -f bin/orderflow

clean-data: ## remove data/ (the local stack's broker, Temporal and simulator state)
	rm -rf data/
