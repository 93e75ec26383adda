# sidecache — see README.md. Every target works on a fresh machine with Go installed.
GO        ?= go
BIN       := bin
PKGS      := ./...
FUZZTIME  ?= 60s
BENCHCOUNT ?= 10
ROUNDS    ?= 3

.PHONY: run build test test-deploy deploy-check deploy-manifests image-test e2e-k8s bench bench-redis stats-overhead memory-results fuzz results clean

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
	$(MAKE) test-deploy

## test-deploy: the deploy/ module (injector, policy, strict decoding of deploy/manifests)
test-deploy:
	cd deploy && $(GO) vet ./... && $(GO) test -count=1 -race ./...

HELM := $(BIN)/helm

## deploy-check: helm lint and template of the chart for every supported Kubernetes version, checked
deploy-check: $(HELM)
	cd deploy && SIDECACHE_HELM=$(abspath $(HELM)) $(GO) test -count=1 ./policy/

## deploy-manifests: re-render deploy/manifests from the chart
deploy-manifests: $(HELM)
	cd deploy && SIDECACHE_HELM=$(abspath $(HELM)) $(GO) test -count=1 ./policy/ -run TestChartManifests -update

# helm is built from source through the Go module proxy (deploy/tools pins its version).
$(HELM): deploy/tools/go.mod deploy/tools/go.sum
	cd deploy/tools && CGO_ENABLED=0 $(GO) build -trimpath -o $(abspath $(HELM)) helm.sh/helm/v3/cmd/helm

## image-test: build deploy/Dockerfile.scratch offline with buildah, run it read-only as uid 65532 under bwrap
image-test:
	bash deploy/scripts/image-test.sh

# kube-apiserver, kubectl and etcd are built from source through the Go module proxy
# (deploy/e2e/controlplane pins them). The version ldflags are what a release build sets;
# without them the API server reports v0.0.0 and helm's --kube-version has nothing to match.
E2E_MOD     := deploy/e2e/controlplane
E2E_BINS    := $(BIN)/kube-apiserver $(BIN)/kubectl $(BIN)/etcd
K8S_VERSION  = $(shell awk '$$1 == "k8s.io/kubernetes" {print $$2}' $(E2E_MOD)/go.mod)
K8S_VERPKG  := k8s.io/component-base/version
K8S_LDFLAGS  = -X $(K8S_VERPKG).gitVersion=$(K8S_VERSION) -X $(K8S_VERPKG).gitTreeState=clean \
	-X $(K8S_VERPKG).gitMajor=$(word 1,$(subst ., ,$(K8S_VERSION:v%=%))) \
	-X $(K8S_VERPKG).gitMinor=$(word 2,$(subst ., ,$(K8S_VERSION:v%=%)))
$(E2E_BINS) &: $(E2E_MOD)/go.mod $(E2E_MOD)/go.sum
	cd $(E2E_MOD) && CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(K8S_LDFLAGS)' -o $(abspath $(BIN))/ \
	  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
	cd $(E2E_MOD) && CGO_ENABLED=0 $(GO) build -trimpath -o $(abspath $(BIN))/etcd go.etcd.io/etcd/server/v3

## e2e-k8s: chart, manifests and injector against etcd + kube-apiserver on loopback (not in make test:
## the first build of the control plane takes a long while)
e2e-k8s: $(HELM) $(E2E_BINS)
	cd deploy && SIDECACHE_E2E_BIN=$(abspath $(BIN)) SIDECACHE_HELM=$(abspath $(HELM)) \
	  $(GO) test -tags e2e -count=1 -timeout 20m -v ./e2e/

## bench: micro-benchmarks, $(BENCHCOUNT) runs each, for benchstat (bench.txt)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./protocol/ ./engine/ ./command/ | tee bench.txt

## bench-redis: redis-benchmark against sidecache and redis-server side by side (results/redis-benchmark)
bench-redis:
	results/redis-benchmark/run.sh $(ROUNDS)

## stats-overhead: what command statistics cost, per command (benchstat) and per request (results/stats-overhead)
stats-overhead:
	results/stats-overhead/run.sh $(ROUNDS)

## memory-results: bytes per key (sidecache vs redis-server) and GC independence (results/memory)
memory-results:
	results/memory/run.sh

DURATION  ?= 10m

## soak: the server with maxmemory under a mixed workload with client kills for $(DURATION);
## fails on a leak or a memory bound crossed, writes results/soak/README.md
.PHONY: soak
soak:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/sidecache ./cmd/sidecache
	$(GO) run ./cmd/soak -bin $(BIN)/sidecache -duration $(DURATION) -out results/soak/README.md \
	  -command 'make soak DURATION=$(DURATION)'

## fuzz: each fuzz target for $(FUZZTIME), then the long differential fuzz against redis-server
fuzz:
	@set -e; for pkg in ./protocol ./engine ./command ./glob ./numtext; do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s $$pkg; \
	  done; done
	SIDECACHE_DIFFFUZZ_N=50000 $(GO) test -count=1 -run DiffFuzz ./cmd/sidecache/

## results: the headline latency experiment; writes results/
results: build
	$(GO) run ./cmd/loadgen results --out results

## results-csc: GETs through rueidis's client-side cache vs over the Unix socket, against one
## sidecache (results/client-side-cache; CSC_DURATION, CSC_CONNS, CSC_READS, CSC_KEYS)
.PHONY: results-csc
results-csc:
	results/client-side-cache/run.sh

## gc-latency: GET latency over the Unix socket with and without a full GC forced every 10 ms
## (results/gc-latency; GCLAT_KEYS, GCLAT_PAIRS, GCLAT_WRITE_PAIRS, GCLAT_DURATION, GCLAT_CONNS)
.PHONY: gc-latency gc-latency-light
gc-latency:
	results/gc-latency/run.sh

## gc-latency-light: the same phases with one connection, so the CPUs are not saturated, and
## 20 forced GCs a second (results/gc-latency/light; GCLAT_CONNS, GCLAT_GC_RATE, ...)
gc-latency-light:
	GCLAT_CONNS=$${GCLAT_CONNS:-1} GCLAT_GC_RATE=$${GCLAT_GC_RATE:-20} \
	  GCLAT_OUT=results/gc-latency/light GCLAT_TARGET='make gc-latency-light' results/gc-latency/run.sh

## thread-priority: background-nice 10 (default) against 0, side by side: saturated, light, light
## with forced GCs (results/thread-priority; ROUNDS, TP_DURATION)
.PHONY: thread-priority
thread-priority:
	results/thread-priority/run.sh $(ROUNDS)

## results-upstream: upstream mode, L1 hits and misses vs the upstream directly, on loopback and
## through the delay proxy; upstream connections per pod (results/upstream; UP_KEYS,
## UP_MISS_KEYS, UP_MISS_REQS, UP_DURATION, UP_CONNS, UP_DELAY, UP_JITTER)
.PHONY: results-upstream
results-upstream:
	results/upstream/run.sh

clean:
	rm -rf $(BIN) bench.txt
