# icwmp-rs: the commands a developer and CI use. `make help` lists them.

CARGO ?= cargo
SPEC ?= ../shared/spec
# make static/size: every target unless TARGET names one; make ipk: mipsel unless TARGET says.
TARGET ?=

FUZZ_SECONDS ?= 60
SOAK_SECONDS ?= 180
FUZZ_TARGETS = $(patsubst fuzz/fuzz_targets/%.rs,%,$(wildcard fuzz/fuzz_targets/*.rs))

.PHONY: help build release demo test bench static size ipk openwrt-package datamodel lint cross-aarch64 fuzz soak clean

help:
	@echo "make demo       build, run a BOOTSTRAP session against the loopback test ACS, query the data model"
	@echo "make test       the whole test suite"
	@echo "make bench      benchmark figures, one per line"
	@echo "make static     static binaries for mipsel, mips, armv7, aarch64, x86_64 (TARGET=<triple> for one), each run under qemu, with its idle RSS"
	@echo "make size       the size of each static binary against its budget (default and minimal feature set), and the largest crates and functions"
	@echo "                (FEATURES=a,b and NO_DEFAULT_FEATURES=1 choose the feature set of make static and make size)"
	@echo "make ipk        the OpenWrt package icwmp-rs as opkg installs it (TARGET=<triple>, default mipsel)"
	@echo "make openwrt-package  the OpenWrt package folder with its source, to copy to package/icwmp-rs"
	@echo "make lint       cargo fmt --check and clippy -D warnings"
	@echo "make datamodel  regenerate the data model tables from $(SPEC)"
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

static:
	sh tools/static.sh $(TARGET)

size:
	sh tools/size.sh $(TARGET)

ipk:
	sh tools/ipk.sh --target $(or $(TARGET),mipsel-unknown-linux-musl)

openwrt-package:
	sh tools/openwrt-package.sh

datamodel:
	python3 tools/gen_datamodel.py $(SPEC) src/datamodel/generated

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

cross-aarch64:
	sh tools/static.sh aarch64-unknown-linux-musl

fuzz:
	sh tools/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

soak:
	SOAK_SECONDS=$(SOAK_SECONDS) $(CARGO) test --release --test soak -- --ignored --exact soak --nocapture

clean:
	$(CARGO) clean
