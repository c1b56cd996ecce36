#!/bin/sh
# make size: builds the static release icwmpd of each target (tools/static.sh)
# and prints one line per target: bytes, MiB, its budget and whether it is
# met; then, for the first target, the largest crates and functions (from the
# symbol table of the unstripped build), so a regression shows what grew;
# then the same line for the minimal feature set (--no-default-features:
# CWMP with HTTP connection requests) of each target.
# FEATURES= and NO_DEFAULT_FEATURES=1 choose the first set (default: every
# service), as for tools/static.sh.
# Usage: tools/size.sh [target triple]...
set -eu
cd "$(dirname "$0")/.."
. tools/static-env.sh
targets="${*:-$STATIC_TARGETS}"

# size_lines: one line per target for the feature set of the last build.
size_lines() {
	feature_set
	for t in $targets; do
		target_info "$t"
		bytes=$(stat -c %s "$(static_bin "$t")")
		awk -v b="$bytes" -v t="$t" -v g="$budget" -v set="$feature_label" 'BEGIN {
			verdict = b <= g ? sprintf("met, %.1f KiB to spare", (g - b) / 1024) \
				: sprintf("MISSED by %.1f KiB", (b - g) / 1024)
			printf "size %-32s %-8s %8d bytes  %.2f MiB  budget %.2f MiB %s\n", t, set, b, b / 1048576, g / 1048576, verdict
		}'
	done
}

# shellcheck disable=SC2086
sh tools/static.sh --build-only $targets >&2
size_lines

set -- $targets
t=$1
target_info "$t"
unstripped="$STATIC_DIR/$t/$t/release/icwmpd"
echo
echo "sections of $t:"
"${cross}size" -A "$unstripped" | awk '$1 ~ /^\.(text|rodata|data|data\.rel\.ro|eh_frame|bss)$/ { printf "  %-14s %8d\n", $1, $2 }'
# Function and data symbols with their sizes, by crate: the first path
# segment of the demangled name; C code by its origin.
"${cross}nm" --print-size --size-sort --radix=d --demangle "$unstripped" |
	awk 'NF >= 4 && $3 ~ /^[tTrRdD]$/ {
		size = $2 + 0
		name = $4; for (i = 5; i <= NF; i++) name = name " " $i
		crate = name
		sub(/^[<&*]+/, "", crate)
		sub(/^(dyn |impl |mut )/, "", crate)
		if (crate ~ /^ring_core_/) crate = "ring (C)"
		else if (index(crate, "::") == 0) crate = "C: musl, libgcc"
		else sub(/::.*/, "", crate)
		kind = ($3 ~ /[tT]/) ? "code" : "data"
		by_crate[crate] += size
		print size "\t" kind "\t" name > "/dev/stderr"
	}
	END { for (c in by_crate) print by_crate[c] "\t" c }' 2> "$STATIC_DIR/symbols-$t.txt" |
	sort -rn | head -n 12 | awk -F '\t' -v t="$t" 'BEGIN { print "\nlargest crates of " t " (symbol bytes):" } { printf "  %8d  %s\n", $1, $2 }'
echo
echo "largest functions and tables of $t:"
sort -rn "$STATIC_DIR/symbols-$t.txt" | head -n 20 | awk -F '\t' '{ printf "  %8d  %s  %.100s\n", $1, $2, $3 }'

# The minimal set, unless it was the first.
feature_set
if [ "$feature_label" != minimal ]; then
	echo
	echo "minimal feature set (--no-default-features: CWMP with HTTP connection requests):"
	# shellcheck disable=SC2086
	NO_DEFAULT_FEATURES=1 FEATURES= sh tools/static.sh --build-only $targets >&2
	NO_DEFAULT_FEATURES=1 FEATURES=
	size_lines
fi
