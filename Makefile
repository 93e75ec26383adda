# sidecache — see README.md. Every target works on a fresh machine with Go installed.
GO        ?= go
BIN       := bin
PKGS      := ./...
FUZZTIME  ?= 60s
BENCHCOUNT ?= 10
ROUNDS    ?= 3

.PHONY: run build test bench bench-redis fuzz results clean

## run: the server with built-in defaults (RESP on 127.0.0.1:6379, admin on 127.0.0.1:9121)
run:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/sidecache ./cmd/sidecache
	./$(BIN)/sidecache $(ARGS)

## build: the server and the load generator into ./bin
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/sidecache ./cmd/sidecache
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/loadgen ./cmd/loadgen

## test: vet, unit tests (with the invariant checks), then everything under -race
test:
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -tags invariants ./engine/...
	$(GO) test -count=1 -race -timeout 30m $(PKGS)

## bench: micro-benchmarks, $(BENCHCOUNT) runs each, for benchstat (bench.txt)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./protocol/ ./engine/ ./command/ | tee bench.txt

## bench-redis: redis-benchmark against sidecache and redis-server side by side (results/redis-benchmark)
bench-redis:
	results/redis-benchmark/run.sh $(ROUNDS)

## fuzz: each fuzz target for $(FUZZTIME), then the long differential fuzz against redis-server
fuzz:
	@set -e; for pkg in ./protocol ./engine ./glob; do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done
	SIDECACHE_DIFFFUZZ_N=50000 $(GO) test -count=1 -run DiffFuzz ./cmd/sidecache/

## results: the headline latency experiment; writes results/
results: build
	$(GO) run ./cmd/loadgen results --out results

clean:
	rm -rf $(BIN) bench.txt
