#!/bin/sh
# Installs what the static builds need, from Debian's packages only, and
# builds each target's musl: Debian's source package of musl, configured
# for the target (soft-float on MIPS, as Rust's mips*-musl targets and
# OpenWrt are; Debian's own mipsel musl is hard-float). Idempotent: what is
# there is not installed or built again.
# Usage: tools/static-deps.sh <target triple>...
# Exit 3: no Rust toolchain with its library source could be had.
set -eu
cd "$(dirname "$0")/.."
. tools/static-env.sh

export DEBIAN_FRONTEND=noninteractive

have_pkg() {
	dpkg-query -W -f '${Status}\n' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# `apt-get update` may exit 100 while an index is being synced on the
# mirror; try again, and let the install that follows tell if it matters.
apt_update() {
	for try in 1 2 3; do
		apt-get update -qq && return 0
		echo "static-deps: apt-get update failed (try $try of 3)" >&2
		sleep $((try * 10))
	done
	return 0
}

apt_install() {
	missing=
	for p in "$@"; do
		have_pkg "$p" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	if ! command -v apt-get >/dev/null; then
		echo "static-deps: install$missing (no apt-get here)" >&2
		return 1
	fi
	if [ -z "${apt_updated:-}" ]; then
		apt_update
		apt_updated=1
	fi
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# deb-src entries beside the configured deb ones, for `apt-get source musl`.
enable_deb_src() {
	if apt-get source --print-uris -qq musl 2>/dev/null | grep -q musl; then
		return 0
	fi
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -e "$f" ] || continue
		case "$f" in */icwmp-rs-deb-src.sources) continue ;; esac
		sed -n '/^Types:/ s/.*/Types: deb-src/; p' "$f"
		echo
	done > /etc/apt/sources.list.d/icwmp-rs-deb-src.sources
	if [ -f /etc/apt/sources.list ]; then
		sed -n 's/^deb \(.*\)/deb-src \1/p' /etc/apt/sources.list > /etc/apt/sources.list.d/icwmp-rs-deb-src.list
	fi
	apt_update
	apt_updated=1
}

musl_source() {
	src="$STATIC_DIR/musl/src"
	[ -x "$src/configure" ] && return 0
	enable_deb_src
	rm -rf "$STATIC_DIR/musl/dl"
	mkdir -p "$STATIC_DIR/musl/dl"
	(cd "$STATIC_DIR/musl/dl" && apt-get source -qq --download-only musl >/dev/null 2>&1 &&
		dpkg-source -x --no-check ./musl_*.dsc "$src" >/dev/null)
}

# build_musl TRIPLE: a static musl for the target under $musl_prefix, a gcc
# specs file that makes the cross gcc link against it, and an empty
# libunwind.a (nothing unwinds with panic=immediate-abort).
build_musl() {
	[ -f "$musl_prefix/lib/musl-gcc.specs" ] && return 0
	musl_source
	build="$STATIC_DIR/musl/build-$1"
	musl_target="${cross%-}"
	[ -n "$musl_target" ] || musl_target=x86_64-linux-gnu
	rm -rf "$build" "$musl_prefix"
	mkdir -p "$build"
	(cd "$build" && "$src/configure" --target="$musl_target" --prefix="$musl_prefix" \
		--disable-shared CC="${cross}gcc" CROSS_COMPILE="$cross" \
		CFLAGS="$cflags -Os -fno-unwind-tables -fno-asynchronous-unwind-tables" >configure.log 2>&1 &&
		make -j"$(nproc)" >make.log 2>&1 && make install >install.log 2>&1) || {
		echo "static-deps: building musl for $1 failed, see $build/*.log" >&2
		return 1
	}
	"${cross}ar" rcs "$musl_prefix/lib/libunwind.a"
	sh "$src/tools/musl-gcc.specs.sh" "$musl_prefix/include" "$musl_prefix/lib" /lib/ld-musl.so.1 \
		> "$musl_prefix/lib/musl-gcc.specs.tmp"
	mv "$musl_prefix/lib/musl-gcc.specs.tmp" "$musl_prefix/lib/musl-gcc.specs"
}

targets="${*:-$STATIC_TARGETS}"
pkgs="qemu-user-static dpkg-dev xz-utils make"
[ "$STATIC_TOOLCHAIN" = debian ] && pkgs="$pkgs rustc-web cargo-web rust-web-src"
for t in $targets; do
	target_info "$t"
	pkgs="$pkgs $gcc_pkg"
done
# shellcheck disable=SC2086
if ! apt_install $pkgs; then
	echo "static-deps: could not install:$missing" >&2
	case "$missing" in *rust*) exit 3 ;; esac
	exit 1
fi
select_toolchain || exit 3
for t in $targets; do
	target_info "$t"
	build_musl "$t"
done
