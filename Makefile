# minirun — see README.md. Every target that needs packages installs them
# (Debian/Ubuntu, apt-get) and says so.

GO        ?= go
BIN       := bin/minirun
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo dev)
# urfave_cli_no_docs drops the CLI's man-page generator (a Markdown parser
# whose package init costs 0.3 ms on every start, paid twice per container:
# minirun and its init). test/harness_test.go builds with the same tag.
GOFLAGS   := -trimpath -tags urfave_cli_no_docs
LDFLAGS   := -s -w -X main.version=$(VERSION)
DEMO_DIR  ?= _build/demo
FUZZTIME  ?= 1m
PREFIX    ?= /usr/local

export CGO_ENABLED := 0
# Go's own install location, for shells whose PATH lacks it.
export PATH := $(PATH):/usr/local/go/bin

.PHONY: help build test test-unit test-integration vm-test vagrant-check bench fuzz demo install clean deps

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build the static binary bin/minirun
	$(GO) build $(GOFLAGS) -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/minirun

deps: ## install what the tests and the demo need (busybox-static, runc for the benchmark)
	@./test/deps.sh

test: deps build ## everything CI runs: vet, unit tests, root integration tests, then all again in a cgroup v2 VM
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	@$(MAKE) --no-print-directory vm-test

test-unit: ## unit tests only (no root needed)
	$(GO) test -count=1 $$($(GO) list ./... | grep -v '/test$$')

test-integration: deps build ## integration tests: real containers, needs root
	$(GO) test -count=1 -v ./test/

vm-test: build ## every package's tests as root in a pure cgroup v2 VM (qemu, Debian's cloud kernel; test/vm); -short: no 150 MiB benchmark image under emulation
	MINIRUN_VM_RUNTIME=$(BIN) MINIRUN_VM_TESTFLAGS="$${MINIRUN_VM_TESTFLAGS--test.short}" ./test/vm/run.sh

vagrant-check: ## check the Vagrantfile offline (vagrant validate --ignore-provider)
	@./test/vm/vagrant-validate.sh

bench: deps build ## minirun vs runc and podman (run), and vs skopeo+umoci and podman (pull), interleaved; seccomp's startup and per-call cost
	@./test/deps.sh bench
	$(GO) test -run '^$$' -bench RunTrue -benchtime 200x -count 1 ./test/
	$(GO) test -run '^$$' -bench RunImage -benchtime 50x -count 1 ./test/
	$(GO) test -run '^$$' -bench RunPhases -benchtime 30x -count 1 ./test/
	$(GO) test -run '^$$' -bench Seccomp -benchtime 30x -count 1 ./test/
	$(GO) test -run '^$$' -bench Seccomp -count 1 ./runtime/spec/
	$(GO) test -run '^$$' -bench 'RunNetwork|Attach' -benchtime 30x -count 1 ./test/ ./network/
	$(GO) test -run '^$$' -bench Pull -benchtime 3x -count 1 -timeout 60m ./test/

fuzz: ## run every fuzz target of the module in turn, FUZZTIME each (default 1m; CI: 10s); as root
	FUZZTIME=$(FUZZTIME) GO=$(GO) ./test/fuzz.sh

demo: deps build ## run a busybox container, offline
	@./test/demo.sh $(BIN) $(DEMO_DIR)

install: build ## install bin/minirun into $(PREFIX)/bin
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/minirun

clean: ## remove build outputs
	rm -rf bin _build
