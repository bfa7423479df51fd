# sigride. `make` builds, `make test` lints and tests, `make bench` measures.
GO       ?= go
BIN      := bin
BINARIES := launcher driver conductor fileserver
# How many inputs each fuzz target runs inside `make test`: a count, so the
# run is the same on any machine. `make fuzz` runs each for a time instead
# (scripts/fuzz says how it tells go1.26's end-of-time race, golang/go#75804,
# from a failure). Override: make fuzz FUZZFOR=5m.
FUZZTIME ?= 20000x
FUZZFOR  ?= 30s
# Every fuzz target, as package:Target.
FUZZ_TARGETS := ./internal/ride:FuzzParseMsg ./internal/ride:FuzzParseLine ./internal/scenario:FuzzParse ./internal/trace:FuzzRead ./internal/wire:FuzzReadRequest ./internal/wire:FuzzReadResponse ./internal/wire:FuzzParseList ./internal/library:FuzzCheckName ./internal/tftp:FuzzParseRequest ./internal/tftp:FuzzParsePacket ./internal/tftp:FuzzNetascii

.PHONY: build test lint unit fuzz-short fuzz bench soak clean

# The binaries are built without cgo: none of them uses C, but net (which
# pflag imports) does when cgo is on, and that alone makes every binary
# dynamically linked. The loader and libc then cost each process about a
# quarter of its start (docs/ride.md, "Start-up: where the time goes").
# proctest.Build, which builds the binaries the tests and benchmarks run,
# does the same.
build:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ $(addprefix ./,$(BINARIES))

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

unit: build
	scripts/test-deps
	# Helper processes are race-built too: skip the race runtime's 1 s sleep at exit.
	GORACE=atexit_sleep_ms=0 $(GO) test -race -count=1 ./...

fuzz-short:
	scripts/fuzz $(FUZZTIME) $(FUZZ_TARGETS)

test: lint unit fuzz-short

fuzz:
	scripts/fuzz $(FUZZFOR) $(FUZZ_TARGETS)

# The long soak: the file server 60 s, 200 clients, a fault every 2 s; then
# 500 rides (make test runs short ones); 20 hostile clients beside the 200
# (GETs never read, silent TFTP peers asking big windows). Overrides: make soak SOAK="--duration 5m".
SOAK ?= --duration 60s --clients 200 --hostile 20 --chaos-every 2s --faults kill,HUP,TTIN,TTOU,USR2
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
