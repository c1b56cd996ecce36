#!/bin/sh
# Builds the static release icwmpd for a musl target and prints its size.
# Usage: tools/size.sh <target triple>
set -eu
target="${1:-x86_64-unknown-linux-musl}"
rustup target list --installed 2>/dev/null | grep -qx "$target" || rustup target add "$target" >&2
case "$target" in
	x86_64-unknown-linux-musl)
		command -v musl-gcc >/dev/null || { echo "size: install musl-tools (apt-get install musl-tools)" >&2; exit 1; }
		export CC_x86_64_unknown_linux_musl=musl-gcc ;;
	aarch64-unknown-linux-musl)
		command -v aarch64-linux-gnu-gcc >/dev/null || { echo "size: install gcc-aarch64-linux-gnu" >&2; exit 1; }
		export CC_aarch64_unknown_linux_musl=aarch64-linux-gnu-gcc
		export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld ;;
esac
cargo build --release --quiet --target "$target" --bin icwmpd >&2
bin="target/$target/release/icwmpd"
bytes=$(stat -c %s "$bin")
# The release profile strips symbols, so this is the size that ships.
goal=$((1536 * 1024))
awk -v b="$bytes" -v t="$target" -v g="$goal" 'BEGIN {
	verdict = b <= g ? sprintf("goal %.1f MiB met, %.1f KiB to spare", g / 1048576, (g - b) / 1024) \
		: sprintf("goal %.1f MiB missed by %.1f KiB", g / 1048576, (b - g) / 1024)
	printf "binary size %s static release: %d bytes (%.2f MiB; %s)\n", t, b, b / 1048576, verdict
}'
