SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go

# Local ClickHouse (scripts/clickhouse.sh); override on the command line or in the environment.
WEIR_CLICKHOUSE_TCP_PORT ?= 19000
WEIR_CLICKHOUSE_HTTP_PORT ?= 18123
WEIR_CLICKHOUSE_ENDPOINT ?= tcp://127.0.0.1:$(WEIR_CLICKHOUSE_TCP_PORT)
WEIR_CLICKHOUSE_HTTP_ENDPOINT ?= http://127.0.0.1:$(WEIR_CLICKHOUSE_HTTP_PORT)
WEIR_CLICKHOUSE_DATABASE ?= weir
# Tests use the server that the clickhouse target starts.
WEIR_TEST_CLICKHOUSE_ADDR = 127.0.0.1:$(WEIR_CLICKHOUSE_TCP_PORT)
WEIR_TEST_CLICKHOUSE_HTTP_ADDR = 127.0.0.1:$(WEIR_CLICKHOUSE_HTTP_PORT)
export WEIR_CLICKHOUSE_TCP_PORT WEIR_CLICKHOUSE_HTTP_PORT WEIR_CLICKHOUSE_ENDPOINT WEIR_CLICKHOUSE_HTTP_ENDPOINT \
	WEIR_CLICKHOUSE_DATABASE WEIR_TEST_CLICKHOUSE_ADDR WEIR_TEST_CLICKHOUSE_HTTP_ADDR

.PHONY: all chromium clickhouse clickhouse-stop clickhouse-cluster clickhouse-cluster-stop build run test test-short tidy-check bench fuzz fmt clean

all: build

# Start (or reuse) the project-local ClickHouse; installs it via apt-get when root.
clickhouse:
	scripts/clickhouse.sh start

clickhouse-stop:
	scripts/clickhouse.sh stop

# Start (or reuse) the project-local cluster: ZooKeeper and 2 shards x 2 replicas on loopback
# (scripts/clickhouse-cluster.sh; installs zookeeper via apt-get when root). The cluster
# tests use it; they start it themselves too.
clickhouse-cluster:
	scripts/clickhouse-cluster.sh start

clickhouse-cluster-stop:
	scripts/clickhouse-cluster.sh stop

build:
	$(GO) build -o bin/weir ./cmd/weir

# Run the collector in the foreground against the local ClickHouse.
# ClickHouse, then weir, the demo shop's two weeks, the weekly report and its top hotspots;
# weir keeps running for real traffic until Ctrl-C (scripts/run.sh).
run: clickhouse build
	scripts/run.sh

# Headless Chromium renders the weekly report in its test.
chromium:
	scripts/chromium.sh

test: clickhouse clickhouse-cluster chromium tidy-check
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 14m ./...

# The quick lane: every test that needs no server (no ClickHouse, no browser); under a minute.
test-short:
	$(GO) vet ./...
	$(GO) test -short -count=1 ./...

# go.mod and go.sum list exactly what the code imports (main module and the bench module).
tidy-check:
	$(GO) mod tidy -diff
	cd bench && $(GO) mod tidy -diff

# Go benchmarks (ratios against proto unmarshal in the same run), then the end-to-end run
# (weirload -> weir -> ClickHouse, see BENCHMARKS.md); BENCH_RESULTS names its markdown file.
bench: clickhouse clickhouse-cluster
	$(GO) test -run '^$$' -bench . -benchmem ./...
	scripts/bench-e2e.sh $(BENCH_RESULTS)

# Every fuzz target (parsers of untrusted input) for FUZZTIME each; `make test` runs their
# seed corpora (testdata/fuzz). FUZZPKGS narrows it: make fuzz FUZZPKGS=./internal/otlpwire
FUZZTIME ?= 30s
FUZZPKGS ?= ./...
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh $(FUZZPKGS)

fmt:
	$(GO) fmt ./...

dashboards:: ; $(GO) generate ./dashboards

clean:
	rm -rf bin/
