# Sourced by tools/static-deps.sh, tools/static.sh and tools/size.sh: the
# facts about each static target and where the static builds live.
#
# STATIC_DIR      builds, the musl of each target and its source (default target/static)
# STATIC_TOOLCHAIN  `debian` (default: Debian's rustc-web with its rust-web-src,
#                 unstable flags enabled by RUSTC_BOOTSTRAP) or `nightly`
#                 (rustup's nightly with the rust-src component)
# FEATURES        Cargo features to build, comma-separated (README "Features")
# NO_DEFAULT_FEATURES  1: without the default features (every service); alone,
#                 the minimal set: CWMP with HTTP connection requests

STATIC_TARGETS="mipsel-unknown-linux-musl mips-unknown-linux-musl armv7-unknown-linux-musleabihf aarch64-unknown-linux-musl x86_64-unknown-linux-musl"
STATIC_DIR="${STATIC_DIR:-$(pwd)/target/static}"
STATIC_TOOLCHAIN="${STATIC_TOOLCHAIN:-debian}"

# target_info TRIPLE: sets cross (gcc prefix), cflags (float ABI for musl and
# the C code of ring), qemu (the emulator), budget (bytes), ipk_arch (the
# opkg architecture of the most common OpenWrt devices of that kind; IPK_ARCH
# overrides it), gcc_pkg, musl_prefix, target_rustflags (more rustc flags),
# and guest_va: the guest address space qemu-user reserves for the RSS
# measurement (QEMU_RESERVED_VA).
target_info() {
	target_rustflags= guest_va=0x80000000
	case "$1" in
	mipsel-unknown-linux-musl)
		cross=mipsel-linux-gnu- cflags=-msoft-float qemu=qemu-mipsel-static budget=1572864
		ipk_arch=mipsel_24kc ;;
	mips-unknown-linux-musl)
		cross=mips-linux-gnu- cflags=-msoft-float qemu=qemu-mips-static budget=1572864
		ipk_arch=mips_24kc ;;
	armv7-unknown-linux-musleabihf)
		cross=arm-linux-gnueabihf- qemu=qemu-arm-static budget=1310720
		ipk_arch=arm_cortex-a7_neon-vfpv4
		# Thumb-2 code (every ARMv7-A core runs it), as Debian's gcc emits for musl.
		target_rustflags=-Ctarget-feature=+thumb-mode
		# The kernel's helper page at 0xffff0000 lies in the guest space.
		guest_va=0xffffffff
		cflags="-march=armv7-a -mfpu=vfpv3-d16 -mfloat-abi=hard" ;;
	aarch64-unknown-linux-musl)
		cross=aarch64-linux-gnu- cflags= qemu=qemu-aarch64-static budget=1572864
		ipk_arch=aarch64_cortex-a53 ;;
	x86_64-unknown-linux-musl)
		cross= cflags= qemu=qemu-x86_64-static budget=1835008
		ipk_arch=x86_64 ;;
	*)
		echo "static: unknown target $1 (known: $STATIC_TARGETS)" >&2
		return 1 ;;
	esac
	if [ -n "$cross" ]; then
		gcc_pkg="gcc-${cross%-}"
	else
		gcc_pkg=gcc
	fi
	musl_prefix="$STATIC_DIR/musl/$1"
	ipk_arch="${IPK_ARCH:-$ipk_arch}"
}

# feature_set: from FEATURES and NO_DEFAULT_FEATURES, sets feature_args
# (cargo's options), feature_label (`default`, `minimal`, or the set) and
# variant (empty for the default set, else the label: the binaries of
# another set go to bin/<target>-<variant>/).
feature_set() {
	feature_args= feature_label=default variant=
	if [ "${NO_DEFAULT_FEATURES:-}" = 1 ]; then
		feature_args=--no-default-features feature_label=minimal
	fi
	if [ -n "${FEATURES:-}" ]; then
		case "$FEATURES" in *[!a-z,]*)
			echo "static: FEATURES is a comma-separated list of features, not '$FEATURES'" >&2
			return 1 ;;
		esac
		feature_args="$feature_args --features $FEATURES"
		if [ "$feature_label" = minimal ]; then
			feature_label="$FEATURES"
		else
			feature_label="default,$FEATURES"
		fi
	fi
	[ "$feature_label" = default ] || variant=$(echo "$feature_label" | tr , +)
}

# static_bin TRIPLE: the stripped binary of the feature set (after feature_set).
static_bin() {
	echo "$STATIC_DIR/bin/$1${variant:+-$variant}/icwmpd"
}

# select_toolchain: sets RUSTC and CARGO_BIN for the build-std builds, or
# says what is missing and returns 3.
select_toolchain() {
	case "$STATIC_TOOLCHAIN" in
	debian)
		RUSTC=/usr/bin/rustc CARGO_BIN=/usr/bin/cargo ;;
	nightly)
		RUSTC=$(rustup which --toolchain nightly rustc 2>/dev/null) || RUSTC=
		CARGO_BIN=$(rustup which --toolchain nightly cargo 2>/dev/null) || CARGO_BIN= ;;
	*)
		echo "static: STATIC_TOOLCHAIN is debian or nightly, not $STATIC_TOOLCHAIN" >&2
		return 3 ;;
	esac
	if [ -z "$RUSTC" ] || [ ! -x "$RUSTC" ] || [ ! -x "$CARGO_BIN" ]; then
		echo "static: no $STATIC_TOOLCHAIN Rust toolchain (debian: apt-get install rustc-web cargo-web rust-web-src; nightly: rustup toolchain install nightly)" >&2
		return 3
	fi
	if [ ! -d "$("$RUSTC" --print sysroot)/lib/rustlib/src/rust/library" ]; then
		echo "static: the $STATIC_TOOLCHAIN toolchain has no library source for -Zbuild-std (debian: rust-web-src; nightly: rustup component add rust-src --toolchain nightly)" >&2
		return 3
	fi
	export RUSTC
}
