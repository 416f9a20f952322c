# appmanage — `make help` lists the targets.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/appmanage
ARGS  ?=
export CGO_ENABLED := 1

.DEFAULT_GOAL := help

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

web-assets: ## Fetch the pinned GraphiQL and React files from the npm registry (skipped when present)
	@bash web/graphiql/fetch-assets.sh

js-clients: ## Install the pinned npm GraphQL clients the JS client tests run (skipped when installed and the lockfile unchanged)
	@bash httpapi/jsclients/install.sh

web-console: ## Build the web console (npm ci when the lockfile changed, codegen from graph/schema, typecheck, vite build) into web/console/dist/app, which the binary embeds
	@bash web/console/build.sh

generate: ## Regenerate the gqlgen code and the CLI's genqlient client from graph/schema/*.graphqls
	$(GO) tool gqlgen generate
	$(GO) tool genqlient cli/gql/genqlient.yaml

build: web-assets web-console ## Build bin/appmanage (with the web console)
	$(GO) build -o $(BIN) .

run: build ## Start the server; with no backend configured it runs in sandbox mode (ARGS="--listen ..." to pass flags)
	./$(BIN) serve $(ARGS)

test: web-assets js-clients web-console ## Run every test with the race detector (the JS client tests and the console need Node.js 20+)
	$(GO) test -race -count=1 -timeout 30m ./...

test-real: web-assets ## Run the datasource and workflow suites against real servers (APPMANAGE_TEST_* variables; skips when unset)
	@bash scripts/test-real.sh

lint: ## go vet and staticcheck
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

bench: web-assets web-console ## Run the benchmarks (performance goals are checked here, not in tests)
	# -p 1: one package at a time, so no benchmark shares the CPU with another's.
	$(GO) test -p 1 -run '^$$' -bench . -benchmem -timeout 30m ./...

FUZZTIME ?= 1m
fuzz: ## Run every fuzz target in turn for FUZZTIME each (FUZZTIME=10m; FUZZ=Name runs the targets whose name contains it)
	FUZZTIME=$(FUZZTIME) GO=$(GO) bash scripts/fuzz.sh

check-generated: ## Fail when the committed gqlgen or genqlient code does not match the schema
	@bash scripts/check-generated.sh

clean: ## Remove build output
	rm -rf bin

.PHONY: help web-assets js-clients web-console generate build run test test-real lint bench fuzz check-generated clean
