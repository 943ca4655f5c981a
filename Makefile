# corral — build, test, run.
#   make run    builds and starts a demo fleet (and, once it exists, the server)
#   make test   runs every test (race detector on)
GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
STATICCHECK_VERSION := v0.8.2
DATA      ?= data
DEMO_COUNT ?= 12
DEMO_MIX  ?= online=5,slow=1,stale=1,incomplete=1,error=1,waiting=1,paused=1

.PHONY: all build ui test test-go test-ui test-short lint fmt run bench bench-ui bench-10k fuzz faults clean

all: build

# The web UI (ui/): npm ci + vite build only when its sources or lock file changed
# since the last build (ui/.stamp), then embedded in corral with -tags embedui.
UI_SOURCES := $(shell find ui/src ui/public -type f 2>/dev/null) ui/index.html ui/package.json ui/package-lock.json ui/tsconfig.json ui/vite.config.ts

ui: ui/.stamp
ui/.stamp: $(UI_SOURCES)
	cd ui && npm ci --no-audit --no-fund && npm run build
	@touch $@

build: ui
	@mkdir -p $(BIN)
	$(GO) build -tags embedui -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

test: test-go test-ui

test-go:
	$(GO) test -race -count=1 -timeout 30m ./...

# vitest, then the Playwright suite (playwright-core driving /usr/bin/chromium)
# against the real corral and a simulated fleet built by make build.
test-ui: build
	cd ui && npx vitest run
	cd ui && CORRAL_BIN=$(CURDIR)/$(BIN) npm run e2e

test-short:
	$(GO) test -count=1 -short ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	@# go mod tidy -diff of Go 1.26.8 orders go.sum by semver while go mod tidy itself
	@# writes it sorted as text (testify v1.12.1 vs v1.3.0): compare what tidy writes.
	@cp go.mod /tmp/corral-lint-go.mod; cp go.sum /tmp/corral-lint-go.sum; $(GO) mod tidy; \
	  if ! cmp -s go.mod /tmp/corral-lint-go.mod || ! cmp -s go.sum /tmp/corral-lint-go.sum; then \
	    echo "go mod tidy changes go.mod or go.sum:"; diff /tmp/corral-lint-go.mod go.mod; diff /tmp/corral-lint-go.sum go.sum; \
	    cp /tmp/corral-lint-go.mod go.mod; cp /tmp/corral-lint-go.sum go.sum; exit 1; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

# The server on its embedded store, scraping a demo fleet of simulated agents with
# distinct behaviours. The agents trust the server's control key (made in the store
# on first start, printed by corral keys show) and the demo key of corralctl control.
# Ctrl-C stops both.
run: build
	@mkdir -p -m 700 $(DATA) && mkdir -p $(DATA)/demo $(DATA)/sd
	@[ -f $(DATA)/demo/control.key ] || $(BIN)/corralctl keys generate --out $(DATA)/demo/control
	@[ -f $(DATA)/demo/admin.password ] || (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > $(DATA)/demo/admin.password)
	@# configs/demo.yml names data/; the copy in $(DATA)/demo names $(DATA) (paths are relative to the file).
	@sed 's#\.\./data/#../#g' configs/demo.yml > $(DATA)/demo/corral.yml
	@$(BIN)/corral keys show --config.file $(DATA)/demo/corral.yml > $(DATA)/demo/server.pub 2>/dev/null
	@$(BIN)/corral-agent simulate --count $(DEMO_COUNT) --mix '$(DEMO_MIX)' --log.level error \
		--sd-file $(DATA)/sd/demo.yml --trusted-key-file $(DATA)/demo/server.pub --trusted-key-file $(DATA)/demo/control.pub --print-urls & \
	sim=$$!; trap 'kill $$sim 2>/dev/null' EXIT INT TERM; \
	echo "Web UI: http://localhost:9480/  (log in as admin with the password in $(DATA)/demo/admin.password)"; \
	echo "corral: http://localhost:9480/metrics  (fleet status: curl -s localhost:9480/metrics | grep 'corral_collector_status.*} 1')"; \
	echo "API: log in as admin with the password in $(DATA)/demo/admin.password:"; \
	echo "  curl -s -c /tmp/corral.cookies -H 'Content-Type: application/json' -d '{\"username\":\"admin\",\"password\":\"'\$$(cat $(DATA)/demo/admin.password)'\"}' localhost:9480/api/v1/login"; \
	echo "  curl -s -b /tmp/corral.cookies 'localhost:9480/api/v1/collectors?sort=status'"; \
	echo "Steer: bin/corralctl login --server http://localhost:9480 --username admin --password-stdin < $(DATA)/demo/admin.password"; \
	echo "  bin/corralctl stop sim-0001 --reason demo --wait confirmed; bin/corralctl resume sim-0001; bin/corralctl audit"; \
	CORRAL_ADMIN_PASSWORD="$$(cat $(DATA)/demo/admin.password)" $(BIN)/corral --config.file $(DATA)/demo/corral.yml

# Micro-benchmarks, the command round trip through the real server to a real
# agent, then the fleet benchmark without and with gzip (FLEET agents, loopback
# only): corral, vmagent (built once from the module proxy at the version
# pinned in tools/vmagent) and the GET-and-discard floor on the same fleet,
# interleaved over ROUNDS rounds, ~10 minutes each.
FLEET ?= 1000
ROUNDS ?= 2
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./scrape/... ./health/... ./publish/... ./store/... ./api/... ./control/...
	$(GO) test -run '^$$' -bench CommandRoundTrip -benchtime 1000x ./server
	$(GO) test -run '^$$' -bench StopConfirmed -benchtime 50x ./server
	$(BIN)/corral-fleetbench --bin $(BIN) -n $(FLEET) --rounds $(ROUNDS) --no-gzip
	$(BIN)/corral-fleetbench --bin $(BIN) -n $(FLEET) --rounds $(ROUNDS)
	$(MAKE) bench-ui

# The fleet page at 10,000 collectors in Chromium (playwright-core, /usr/bin/chromium):
# first load, status change to row update, long tasks while scrolling and while
# 2,000 events/s arrive. Prints one JSON line per run (BENCH_UI_RUNS of them,
# also appended to $(BIN)/bench-ui.jsonl); ~3 minutes a run on loopback.
BENCH_UI_RUNS ?= 1
bench-ui: build
	cd ui && for i in $$(seq $(BENCH_UI_RUNS)); do CORRAL_BIN=$(CURDIR)/$(BIN) BENCH_OUT=$(CURDIR)/$(BIN)/bench-ui.jsonl node e2e/bench10k.mjs || exit 1; done

# The same at 10,000 agents: two simulate processes of 5,000 (each holds two
# files per agent; the limit here is 20,000), ports 12000-21999, below the
# ephemeral range (32768-60999), then /federate of the whole fleet, the
# collectors API p99, the WebSocket fan-out to 20 clients and the offline
# time after corral's first window. ~25 minutes for both gzip settings.
# INTERVAL_10K=15s for a machine whose other work leaves the 10,000
# simulated agents too little CPU to answer 2,000 scrapes a second.
INTERVAL_10K ?= 5s
bench-10k: build
	@[ $$(ulimit -n) -ge 12000 ] || { echo "bench-10k needs ulimit -n ≥ 12000 (have $$(ulimit -n))"; exit 1; }
	$(BIN)/corral-fleetbench --bin $(BIN) -n 10000 --base-port 12000 --per-process 5000 --interval $(INTERVAL_10K) --warmup 30s --window 30s --rounds $(ROUNDS) --extras --no-gzip
	$(BIN)/corral-fleetbench --bin $(BIN) -n 10000 --base-port 12000 --per-process 5000 --interval $(INTERVAL_10K) --warmup 30s --window 30s --rounds $(ROUNDS)

# The fault suite at the sizes docs/reliability.md reports: the real binaries on
# loopback, each fault's row printed in a table at the end (also written to
# $(BIN)/faults.md). make test runs the same suite at smaller sizes.
faults: build
	$(GO) test -count=1 -timeout 60m -v ./faults -args -faults.full -faults.bin $(CURDIR)/$(BIN) -faults.table $(CURDIR)/$(BIN)/faults.md

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseRequest -fuzztime 30s ./exporter/control
	$(GO) test -run '^$$' -fuzz FuzzVerify -fuzztime 30s ./exporter/control
	$(GO) test -run '^$$' -fuzz FuzzParseConfig -fuzztime 30s ./exporter/agent
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./configs
	$(GO) test -run '^$$' -fuzz FuzzParseFile -fuzztime 30s ./targets/filesd
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./targets/selector
	$(GO) test -run '^$$' -fuzz FuzzDecodeLogPage -fuzztime 30s ./logpull
	$(GO) test -run '^$$' -fuzz FuzzActionParams -fuzztime 30s ./control
	$(GO) test -run '^$$' -fuzz '^FuzzCollectorsQuery$$' -fuzztime 30s ./api
	$(GO) test -run '^$$' -fuzz '^FuzzWriteBodies$$' -fuzztime 30s ./api
	$(GO) test -run '^$$' -fuzz '^FuzzBodies$$' -fuzztime 30s ./api/auth
	$(GO) test -run '^$$' -fuzz FuzzValid -fuzztime 30s ./api/jsontext
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./api/when
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 30s -fuzzminimizetime 5s ./scrape/expo
	$(GO) test -run '^$$' -fuzz '^FuzzAgainstExpfmt$$' -fuzztime 60s -fuzzminimizetime 5s ./scrape/expo

clean:
	rm -rf $(BIN)
