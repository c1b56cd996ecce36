# icwmp-rs: the commands a developer and CI use. `make help` lists them.

CARGO ?= cargo
SPEC ?= ../shared/spec
MUSL_TARGET := x86_64-unknown-linux-musl
AARCH64_TARGET := aarch64-unknown-linux-musl

FUZZ_SECONDS ?= 60
SOAK_SECONDS ?= 180
FUZZ_TARGETS = $(patsubst fuzz/fuzz_targets/%.rs,%,$(wildcard fuzz/fuzz_targets/*.rs))

.PHONY: help build release demo test bench size datamodel lint cross-aarch64 fuzz soak clean

help:
	@echo "make demo       build, run a BOOTSTRAP session against the loopback test ACS, query the data model"
	@echo "make test       the whole test suite"
	@echo "make bench      benchmark figures, one per line"
	@echo "make size       static x86_64 musl release binary and its size"
	@echo "make lint       cargo fmt --check and clippy -D warnings"
	@echo "make datamodel  regenerate the data model tables from $(SPEC)"
	@echo "make cross-aarch64  static aarch64 binary (needs gcc-aarch64-linux-gnu)"
	@echo "make fuzz       each fuzz target for FUZZ_SECONDS (nightly + cargo-fuzz)"
	@echo "make soak       SIGKILL and restart icwmpd at random for SOAK_SECONDS; prints the counts (SOAK_SEED replays)"

build:
	$(CARGO) build

release:
	$(CARGO) build --release --bins --examples

demo: release
	sh tools/demo.sh

test:
	$(CARGO) test

bench:
	sh tools/bench.sh

size:
	sh tools/size.sh $(MUSL_TARGET)

datamodel:
	python3 tools/gen_datamodel.py $(SPEC) src/datamodel/generated

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

cross-aarch64:
	sh tools/size.sh $(AARCH64_TARGET)

fuzz:
	sh tools/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

soak:
	SOAK_SECONDS=$(SOAK_SECONDS) $(CARGO) test --release --test soak -- --ignored --exact soak --nocapture

clean:
	$(CARGO) clean
