# fleetlens: the two commands a newcomer needs are `make demo` and `make test`.
GO        ?= go
BIN       := bin/fleetlens
# Extra flags for go test (CI passes -count=1 so no cached result stands in for a run).
GOTESTFLAGS ?=
TEST_TIMEOUT ?= 15m
# Fuzz targets run briefly in `make test`: "package:FuzzName" pairs.
FUZZ_TARGETS ?= \
	./collector/enrich:FuzzDecodeEnrichTraces \
	./collector/enrich:FuzzDecodeEnrichLogs \
	./devicefarm/driver/android:FuzzInstrParser \
	./devicefarm/driver/android:FuzzParseAXMLManifest \
	./devicefarm/driver/ios:FuzzParseCrash
FUZZ_TIME ?= 5s
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build demo test test-go test-sdk fuzz bench lint deps clean sdk-aar sdk-xcframework

all: build

build:
	$(GO) build -o $(BIN) ./cmd/fleetlens

## demo: the main job, end to end on this machine (installs missing Debian packages when root, like test)
demo: deps build
	./$(BIN) demo $(DEMO_FLAGS)

## test: every test, PostgreSQL-backed ones included (installs Debian packages when root)
test: deps test-go test-sdk fuzz

deps:
	@scripts/ensure-deps.sh

test-go:
	$(GO) test $(GOTESTFLAGS) -timeout $(TEST_TIMEOUT) ./...

test-sdk:
	cd sdk-hooks && $(GO) test $(GOTESTFLAGS) -timeout $(TEST_TIMEOUT) ./...

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t#*:}; \
		echo "fuzz $$name in $$pkg for $(FUZZ_TIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZ_TIME) $$pkg || exit 1; \
	done

## bench: Go benchmarks and end-to-end load runs, each with a same-run baseline ratio
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...
	cd sdk-hooks && $(GO) test -run '^$$' -bench . -benchmem ./...

## lint: vet + gofmt + staticcheck
lint:
	$(GO) vet ./...
	cd sdk-hooks && $(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) run $(STATICCHECK) ./...

## sdk-aar / sdk-xcframework: the gomobile-bound SDK for Android / iOS apps. Needs the mobile
## toolchains (Android NDK, Xcode) and gomobile: `go install golang.org/x/mobile/cmd/gomobile@latest
## && gomobile init`, and `go get golang.org/x/mobile/bind` in sdk-hooks. Not run in CI.
sdk-aar:
	cd sdk-hooks && gomobile bind -target=android -androidapi 24 -javapkg=io.fleetlens -o ../build/fleetlens-sdk.aar ./mobile

sdk-xcframework:
	cd sdk-hooks && gomobile bind -target=ios,iossimulator -o ../build/FleetlensSDK.xcframework ./mobile

clean:
	rm -rf bin build
