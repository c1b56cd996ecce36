#!/bin/sh
# Prints the project's benchmark figures, one per line: every [[bench]] program
# of Cargo.toml, the idle daemon's memory and wake-ups, and the static binary size.
set -eu
cd "$(dirname "$0")/.."

for bench in $(sed -n '/^\[\[bench\]\]/,/^$/ s/^name *= *"\(.*\)"/\1/p' Cargo.toml); do
	cargo bench --quiet --bench "$bench" 2>/dev/null | grep -v '^$'
done

# The shipped form is the static musl binary (make static): size it, and measure it idle.
. tools/static-env.sh
bin=./target/release/icwmpd
if line=$(sh tools/size.sh x86_64-unknown-linux-musl 2>/dev/null | head -n 1) && [ -n "$line" ]; then
	echo "binary $line"
	bin="$STATIC_DIR/bin/x86_64-unknown-linux-musl/icwmpd"
else
	echo "binary size: skipped (make static TARGET=x86_64-unknown-linux-musl did not build)"
	cargo build --release --quiet --bin icwmpd
fi

# Idle daemon: resident memory and how often it wakes up with nothing to do.
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
cat > "$dir/cwmp" <<CONF
config cwmp 'acs'
	option url ''
	option periodic_inform_enable '0'
config cwmp 'cpe'
	option port '0'
	option ubus_socket '$dir/no-ubus.sock'
	option log_to_file '0'
CONF
"$bin" --config "$dir" &
pid=$!
sleep 1
switches() { awk '/^(non)?voluntary_ctxt_switches/ { n += $2 } END { print n }' "/proc/$pid/status"; }
before=$(switches)
sleep 3
after=$(switches)
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
echo "idle daemon RSS ($bin): $rss KiB (goal 2048 KiB)"
echo "idle daemon wake-ups in 3 s, ubusd absent (reconnect back-off): $((after - before)) (goal 0)"
kill "$pid"
wait "$pid" 2>/dev/null || true

# The data model CLI on this host's real providers (process start included).
start=$(date +%s%N)
count=$("$bin" --config "$dir" -m 1 get_value Device. | wc -l)
end=$(date +%s%N)
echo "CLI get_value Device. on this host: $count parameters in $(( (end - start) / 1000000 )) ms (whole process)"

