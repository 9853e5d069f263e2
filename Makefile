# aileron-store build and test entry points.
GO ?= go
BIN := bin
PLUGINS := $(notdir $(wildcard plugins/*))

.PHONY: build demo test test-deps generate fuzz clean

## build: the host and every plugin binary into bin/
build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/aileron-store-host ./cmd/aileron-store-host/aileron-store-bench
	@for p in $(PLUGINS); do \
	  if [ -d plugins/$$p/cmd/aileron-store-$$p ]; then \
	    $(GO) build -o $(BIN)/ ./plugins/$$p/cmd/aileron-store-$$p || exit 1; \
	  fi; \
	done

## demo: the main job on the default filesystem backend, end to end
demo:
	bash scripts/demo.sh

## test: every test, every backend provisioned (what CI runs)
test:
	bash scripts/test.sh

## test-deps: install the servers and tools the tests need
test-deps:
	bash scripts/test-deps.sh

## generate: regenerate the checked-in protobuf code
generate:
	bash scripts/install-protoc-gen.sh
	$(GO) generate ./...

## fuzz: every fuzz target for FUZZTIME (default 10000x executions)
fuzz:
	bash scripts/fuzz.sh $(or $(FUZZTIME),10000x)

clean:
	rm -rf $(BIN) .cache
