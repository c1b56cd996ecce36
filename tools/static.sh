#!/bin/sh
# make static: the static release icwmpd for each OpenWrt-class target, built
# with std itself rebuilt for size (-Zbuild-std, panic=immediate-abort, no
# unwind tables, no panic locations, static relocation, no RELRO: its page
# alignment padded the file to the next 64 KiB), then run under
# qemu-user: --version, `-m 1 get_value Device.DeviceInfo.` and one BOOTSTRAP
# session against the loopback test ACS, after which it prints the idle
# daemon's resident memory (see guest_rss) against the 2 MiB budget.
# Usage: tools/static.sh [--build-only] [target triple]...
# The stripped binaries land in $STATIC_DIR/bin/<target>/icwmpd; those of
# another feature set (FEATURES=, NO_DEFAULT_FEATURES=1, tools/static-env.sh)
# in $STATIC_DIR/bin/<target>-<set>/icwmpd.
# STATIC_EXTRA_RUSTFLAGS adds rustc flags (for size experiments).
# Exit 3: no Rust toolchain with its library source (see tools/static-env.sh).
set -eu
cd "$(dirname "$0")/.."
. tools/static-env.sh

smoke=1
if [ "${1:-}" = --build-only ]; then
	smoke=
	shift
fi
targets="${*:-$STATIC_TARGETS}"
for t in $targets; do target_info "$t"; done
feature_set

# shellcheck disable=SC2086
sh tools/static-deps.sh $targets
select_toolchain

# build TRIPLE: the unstripped binary in $unstripped, the stripped one in $bin.
build() {
	tu=$(echo "$1" | tr 'a-z-' 'A-Z_')
	tl=$(echo "$1" | tr - _)
	specs="-specs=$musl_prefix/lib/musl-gcc.specs"
	rustflags="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none"
	rustflags="$rustflags -Crelocation-model=static -Cforce-unwind-tables=no"
	# No RELRO segment: GNU ld aligns its end to the maximum page size
	# (64 KiB on MIPS and AArch64), which put up to 64 KiB of padding into
	# the file, and a static (non-PIE) musl executable never write-protects
	# it anyway (only musl's dynamic linker does).
	rustflags="$rustflags -Clink-arg=-Wl,-z,norelro"
	rustflags="$rustflags -Clink-self-contained=no -Ctarget-feature=+crt-static -Clink-arg=$specs"
	rustflags="$rustflags $target_rustflags ${STATIC_EXTRA_RUSTFLAGS:-}"
	# feature_args: cargo options, one word each.
	# shellcheck disable=SC2086
	env RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$STATIC_DIR/$1" \
		CARGO_PROFILE_RELEASE_STRIP=false \
		"CC_$tl=${cross}gcc" "AR_$tl=${cross}ar" \
		"CFLAGS_$tl=$specs $cflags -fno-unwind-tables -fno-asynchronous-unwind-tables" \
		"CARGO_TARGET_${tu}_LINKER=${cross}gcc" \
		"CARGO_TARGET_${tu}_RUSTFLAGS=$rustflags" \
		"$CARGO_BIN" build --release --quiet --locked --bin icwmpd --target "$1" $feature_args \
		-Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size
	unstripped="$STATIC_DIR/$1/$1/release/icwmpd"
	bin=$(static_bin "$1")
	mkdir -p "$(dirname "$bin")"
	"${cross}strip" -o "$bin.tmp" "$unstripped"
	mv "$bin.tmp" "$bin"
}

# The guest's address space under qemu-user, placed where the host has
# nothing else, so that its resident memory can be told from qemu's own
# (translator, code cache, heap): $guest_va bytes (tools/static-env.sh) from 16 TiB.
GUEST_BASE=0x100000000000

# guest_rss PID: the resident KiB of the guest run by the qemu-user process
# PID, "total file anonymous": the Rss of its host mappings that lie inside
# the guest's address space [GUEST_BASE, GUEST_BASE + guest_va), those
# backed by a file (the binary's text and data) and the others.
guest_rss() {
	awk -v lo="$(printf x%016x $((GUEST_BASE)))" -v hi="$(printf x%016x $((GUEST_BASE + guest_va)))" '
		function pad(h) { h = sprintf("%16s", h); gsub(/ /, "0", h); return "x" h }
		/^[0-9a-f]+-[0-9a-f]+ / {
			split($1, r, "-"); a = pad(r[1]); inside = (a >= lo && a < hi); file = ($6 ~ /^\//); next
		}
		/^Rss:/ && inside { if (file) f += $2; else n += $2 }
		END { print f + n, f + 0, n + 0 }' "/proc/$1/smaps"
}

# native_rss PID: the same figures of a process the host runs itself.
native_rss() {
	awk '/^RssAnon:/ { n = $2 } /^RssFile:/ { f = $2 } /^RssShmem:/ { n += $2 }
		END { print f + n, f + 0, n + 0 }' "/proc/$1/status"
}

# rss_line TRIPLE "TOTAL FILE ANON": the idle RSS against its budget.
rss_line() {
	# shellcheck disable=SC2086
	set -- "$1" $2
	if [ "$2" -le 2048 ]; then verdict=met; else verdict=missed; fi
	echo "rss $1 $2 KiB budget 2048 KiB $verdict (file-backed $3 KiB, anonymous $4 KiB)"
}

# smoke TRIPLE: --version and get_value under qemu, the session (natively
# for x86_64 on an x86_64 host) and the idle RSS; prints two lines, fails on
# any error.
smoke() {
	command -v "$qemu" >/dev/null || { echo "static: $qemu missing (qemu-user-static)" >&2; return 1; }
	run="$STATIC_DIR/run/$1"
	rm -rf "$run"
	mkdir -p "$run"
	version=$("$qemu" "$bin" --version)
	case "$version" in "icwmpd version "*) ;; *)
		echo "static: $1: --version printed '$version'" >&2; return 1 ;;
	esac
	sed "s#@ACS_PORT@#1#; s#demo-run/ubus.sock#$run/ubus.sock#" files/demo/cwmp > "$run/cwmp"
	"$qemu" "$bin" --config "$run" -m 1 get_value Device.DeviceInfo. > "$run/get_value.out"
	grep -q '"parameter": "Device.DeviceInfo.SoftwareVersion"' "$run/get_value.out" || {
		echo "static: $1: get_value printed no Device.DeviceInfo.SoftwareVersion" >&2; return 1; }

	: > "$run/acs.log"
	"$acs_bin" 0 1 >> "$run/acs.log" 2>&1 &
	acs=$!
	url=
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		url=$(sed -n 's/^ACS: listening on //p' "$run/acs.log") || url=
		[ -n "$url" ] && break
		sleep 0.2
	done
	[ -n "$url" ] || { kill "$acs" 2>/dev/null; echo "static: $1: the test ACS did not start" >&2; return 1; }
	sed "s#http://127.0.0.1:@ACS_PORT@/acs#$url#; s#demo-run/ubus.sock#$run/ubus.sock#" \
		files/demo/cwmp > "$run/cwmp"
	# x86_64 on an x86_64 host runs natively here (qemu-x86_64 cannot
	# reserve the guest space: the vsyscall page lies outside it), so its
	# RSS is the kernel's own figure.
	if [ "$1" = x86_64-unknown-linux-musl ] && [ "$(uname -m)" = x86_64 ]; then
		how=natively
		"$bin" --config "$run" > "$run/daemon.log" 2>&1 &
	else
		how="under $qemu"
		QEMU_GUEST_BASE=$GUEST_BASE QEMU_RESERVED_VA=$guest_va \
			"$qemu" "$bin" --config "$run" > "$run/daemon.log" 2>&1 &
	fi
	daemon=$!
	status=0
	wait "$acs" || status=$?
	# Idle: a second after the session ended.
	rss=
	for _ in $(seq 1 40); do
		if grep -q 'End session' "$run/daemon.log"; then
			sleep 1
			if [ "$how" = natively ]; then
				rss=$(native_rss "$daemon")
			else
				rss=$(guest_rss "$daemon")
			fi
			break
		fi
		sleep 0.25
	done
	kill -TERM "$daemon" 2>/dev/null || true
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		kill -0 "$daemon" 2>/dev/null || break
		sleep 0.5
	done
	kill -KILL "$daemon" 2>/dev/null || true
	wait "$daemon" || true
	if [ "$status" -ne 0 ] || ! grep -q '0 BOOTSTRAP' "$run/acs.log"; then
		echo "static: $1: the BOOTSTRAP session did not complete; $run/acs.log and daemon.log say:" >&2
		tail -n 5 "$run/acs.log" "$run/daemon.log" >&2
		return 1
	fi
	echo "static: $1: --version and get_value under $qemu, a BOOTSTRAP session $how passed"
	if [ -n "$rss" ]; then
		rss_line "$1" "$rss"
	else
		echo "rss $1 not measured: the daemon logged no end of session" >&2
		return 1
	fi
}

if [ -n "$smoke" ]; then
	cargo build --release --quiet --example test_acs
	acs_bin="${CARGO_TARGET_DIR:-target}/release/examples/test_acs"
fi
for t in $targets; do
	target_info "$t"
	build "$t"
	bytes=$(stat -c %s "$bin")
	echo "static: $t ($feature_label features): $bin, $bytes bytes"
	[ -z "$smoke" ] || smoke "$t"
done
