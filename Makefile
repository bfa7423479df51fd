# sigride. `make` builds, `make test` lints and tests, `make bench` measures.
GO       ?= go
BIN      := bin
BINARIES := launcher driver conductor fileserver
# How many inputs each fuzz target runs inside `make test`; `make fuzz` runs
# more. A count, not a duration: a duration races the fuzz coordinator's own
# deadline in go1.26 and fails with "context deadline exceeded" and no crasher
# (golang/go#75804, fixed in go1.27).
FUZZTIME ?= 20000x
# Every fuzz target, as package:Target.
FUZZ_TARGETS := ./internal/ride:FuzzParseMsg ./internal/ride:FuzzParseLine ./internal/scenario:FuzzParse ./internal/trace:FuzzRead ./internal/wire:FuzzReadRequest ./internal/wire:FuzzReadResponse ./internal/wire:FuzzParseList ./internal/library:FuzzCheckName ./internal/tftp:FuzzParseRequest ./internal/tftp:FuzzParsePacket ./internal/tftp:FuzzNetascii

.PHONY: build test lint unit fuzz-short fuzz bench soak clean

build:
	$(GO) build -o $(BIN)/ $(addprefix ./,$(BINARIES))

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

unit: build
	scripts/test-deps
	# Helper processes are race-built too: skip the race runtime's 1 s sleep at exit.
	GORACE=atexit_sleep_ms=0 $(GO) test -race -count=1 ./...

fuzz-short:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

test: lint unit fuzz-short

fuzz:
	$(MAKE) fuzz-short FUZZTIME=2000000x

# The long soak: the file server 60 s, 200 clients, a fault every 2 s; then
# 500 rides (make test runs short ones). Overrides: make soak SOAK="--duration 5m".
SOAK ?= --duration 60s --clients 200 --chaos-every 2s --faults kill,HUP,TTIN,TTOU,USR2
RIDES ?= 500
soak: build
	scripts/test-deps
	$(GO) test -run '^TestSoak$$' -count=1 -v -timeout 30m ./fileserver -args $(SOAK)
	$(GO) test -run '^TestRideSoak$$' -count=1 -v -timeout 30m ./launcher -args --rides $(RIDES)

bench: build
	scripts/bench-deps
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./launcher ./fileserver

clean:
	rm -rf $(BIN)
