#!/bin/sh
# Runs each fuzz target for a bounded time: tools/fuzz.sh SECONDS TARGET...
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Prints one line per target with its executions and the crashes found;
# a crash's input is kept under fuzz/artifacts/<target>/ and must become a
# regression test beside the parser it crashed.
set -eu
seconds=$1
shift
cd "$(dirname "$0")/../fuzz"
if ! cargo +nightly fuzz --help >/dev/null 2>&1; then
	echo "fuzz: needs the nightly toolchain and cargo-fuzz (cargo install cargo-fuzz)" >&2
	exit 1
fi
status=0
for target in "$@"; do
	mkdir -p "corpus/$target"
	log="target/fuzz-$target.log"
	mkdir -p target
	if cargo +nightly fuzz run "$target" "corpus/$target" -- \
		-max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
		result=ok
	elif [ -n "$(ls "artifacts/$target" 2>/dev/null)" ]; then
		result="CRASH (artifacts/$target)"
		status=1
	else
		result="did not run (fuzz/$log)"
		status=1
	fi
	runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
	echo "fuzz $target: ${runs:-0} executions in ${seconds}s: $result"
done
exit $status
