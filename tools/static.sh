#!/bin/sh
# make static: the static release icwmpd for each OpenWrt-class target, built
# with std itself rebuilt for size (-Zbuild-std, panic=immediate-abort, no
# unwind tables, no panic locations, static relocation), then run under
# qemu-user: --version, `-m 1 get_value Device.DeviceInfo.` and one BOOTSTRAP
# session against the loopback test ACS.
# Usage: tools/static.sh [--build-only] [target triple]...
# STATIC_EXTRA_RUSTFLAGS adds rustc flags (for size experiments).
# The stripped binaries land in $STATIC_DIR/bin/<target>/icwmpd.
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
	env RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$STATIC_DIR/$1" \
		CARGO_PROFILE_RELEASE_STRIP=false \
		"CC_$tl=${cross}gcc" "AR_$tl=${cross}ar" \
		"CFLAGS_$tl=$specs $cflags -fno-unwind-tables -fno-asynchronous-unwind-tables" \
		"CARGO_TARGET_${tu}_LINKER=${cross}gcc" \
		"CARGO_TARGET_${tu}_RUSTFLAGS=$rustflags" \
		"$CARGO_BIN" build --release --quiet --locked --bin icwmpd --target "$1" \
		-Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size
	unstripped="$STATIC_DIR/$1/$1/release/icwmpd"
	bin="$STATIC_DIR/bin/$1/icwmpd"
	mkdir -p "$(dirname "$bin")"
	"${cross}strip" -o "$bin.tmp" "$unstripped"
	mv "$bin.tmp" "$bin"
}

# smoke TRIPLE: the three runs under qemu; prints one line, fails on any error.
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

	if [ -n "$session_note" ]; then
		echo "static: $1 under $qemu: --version and get_value passed; BOOTSTRAP session skipped: $session_note"
		return 0
	fi
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
	"$qemu" "$bin" --config "$run" > "$run/daemon.log" 2>&1 &
	daemon=$!
	status=0
	wait "$acs" || status=$?
	kill -TERM "$daemon" 2>/dev/null || true
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		kill -0 "$daemon" 2>/dev/null || break
		sleep 0.5
	done
	kill -KILL "$daemon" 2>/dev/null || true
	wait "$daemon" || true
	if [ "$status" -ne 0 ] || ! grep -q '0 BOOTSTRAP' "$run/acs.log"; then
		echo "static: $1: the BOOTSTRAP session did not complete; $run/acs.log and daemon.log say:" >&2
		tail -5 "$run/acs.log" "$run/daemon.log" >&2
		return 1
	fi
	echo "static: $1 under $qemu: --version, get_value and a BOOTSTRAP session passed"
}

if [ -n "$smoke" ]; then
	cargo build --release --quiet --example test_acs
	acs_bin="${CARGO_TARGET_DIR:-target}/release/examples/test_acs"
fi
for t in $targets; do
	target_info "$t"
	build "$t"
	bytes=$(stat -c %s "$bin")
	echo "static: $t: $bin, $bytes bytes"
	[ -z "$smoke" ] || smoke "$t"
done
