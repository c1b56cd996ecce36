#!/bin/sh
# make ipk: the OpenWrt package icwmp-rs as opkg installs it, assembled the
# way OpenWrt's ipkg-build does (a gzipped tar of ./debian-binary,
# ./data.tar.gz and ./control.tar.gz, owned by root). The layout, modes,
# conffiles and control fields are read from openwrt/Makefile, so the .ipk
# holds what the buildroot's package would.
# Usage: tools/ipk.sh <icwmpd binary> <opkg architecture> <output .ipk>
#        tools/ipk.sh --target <triple>   (make ipk: the static build of
#        tools/static.sh, into target/ipk/)
set -eu
if [ "${1:-}" = --target ]; then
	cd "$(dirname "$0")/.."
	. tools/static-env.sh
	target_info "$2"
	sh tools/static.sh --build-only "$2" >&2
	version=$(sed -n 's/^PKG_VERSION:=//p' openwrt/Makefile)-$(sed -n 's/^PKG_RELEASE:=//p' openwrt/Makefile)
	set -- "$STATIC_DIR/bin/$2/icwmpd" "$ipk_arch" "target/ipk/icwmp-rs_${version}_$ipk_arch.ipk"
fi
bin=$(realpath "$1")
arch=$2
out=$3
root=$(cd "$(dirname "$0")/.." && pwd)
mk="$root/openwrt/Makefile"
[ -x "$bin" ] || { echo "ipk: no binary at $1" >&2; exit 1; }

field() { sed -n "s/^ *$1:=//p" "$mk" | head -n 1; }
block() { sed -n "/^define $1\$/,/^endef\$/p" "$mk" | sed '1d;$d'; }

version="$(field PKG_VERSION)-$(field PKG_RELEASE)"
# Package DEPENDS: the +name entries (RUST_ARCH_DEPENDS only limits the build).
depends=$(field DEPENDS | tr ' ' '\n' | sed -n 's/^+//p' | paste -sd, - | sed 's/,/, /g')

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
data="$work/data"
ctrl="$work/control"
mkdir -p "$data" "$ctrl"

# Package/icwmp-rs/install, step by step, with $(1) the package root.
block 'Package\/icwmp-rs\/install' |
	sed -e "s#\$(1)#$data#g" -e "s#\$(PKG_INSTALL_DIR)/bin/icwmpd#$bin#g" \
		-e "s#\$(ICWMP_RS_SRC)#$root#g" |
	while read -r cmd args; do
		case "$cmd" in
		'$(INSTALL_DIR)')
			# shellcheck disable=SC2086
			install -d -m 0755 $args ;;
		'$(INSTALL_BIN)')
			# shellcheck disable=SC2086
			install -m 0755 $args ;;
		'$(INSTALL_CONF)')
			# shellcheck disable=SC2086
			install -m 0600 $args ;;
		'$(INSTALL_DATA)')
			# shellcheck disable=SC2086
			install -m 0644 $args ;;
		*)
			echo "ipk: openwrt/Makefile install step not understood: $cmd $args" >&2
			exit 1 ;;
		esac
	done

size=$(du -sk --apparent-size "$data" | cut -f1)
{
	echo "Package: $(field PKG_NAME)"
	echo "Version: $version"
	echo "Depends: $depends"
	echo "Provides: $(field PROVIDES)"
	echo "Conflicts: $(field CONFLICTS)"
	echo "Source: package/$(field PKG_NAME)"
	echo "License: $(field PKG_LICENSE)"
	echo "Section: $(field SECTION)"
	echo "Maintainer: $(field PKG_MAINTAINER)"
	echo "Architecture: $arch"
	echo "Installed-Size: $((size * 1024))"
	echo "Description: $(field TITLE)"
	block 'Package\/icwmp-rs\/description' | sed 's/^ */ /'
} > "$ctrl/control"
block 'Package\/icwmp-rs\/conffiles' > "$ctrl/conffiles"

# As OpenWrt's default_postinst/default_prerm for a package with an init
# script: enable it (rc.d links, also when installing into an image root
# $IPKG_INSTROOT) and start it on a running system; stop and disable it
# before removal.
cat > "$ctrl/postinst" <<'EOF'
#!/bin/sh
[ "${IPKG_NO_SCRIPT:-0}" = 1 ] && exit 0
[ -f "${IPKG_INSTROOT:-}/etc/rc.common" ] || exit 0
IPKG_INSTROOT="${IPKG_INSTROOT:-}" sh "${IPKG_INSTROOT:-}/etc/rc.common" "${IPKG_INSTROOT:-}/etc/init.d/icwmpd" enable
[ -n "${IPKG_INSTROOT:-}" ] || /etc/init.d/icwmpd restart
exit 0
EOF
cat > "$ctrl/prerm" <<'EOF'
#!/bin/sh
[ -f "${IPKG_INSTROOT:-}/etc/rc.common" ] || exit 0
[ -n "${IPKG_INSTROOT:-}" ] || /etc/init.d/icwmpd stop
IPKG_INSTROOT="${IPKG_INSTROOT:-}" sh "${IPKG_INSTROOT:-}/etc/rc.common" "${IPKG_INSTROOT:-}/etc/init.d/icwmpd" disable
exit 0
EOF
chmod 0755 "$ctrl/postinst" "$ctrl/prerm"
chmod 0644 "$ctrl/control" "$ctrl/conffiles"
echo "2.0" > "$work/debian-binary"

epoch="${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)}"
tarz() {
	dir=$1
	shift
	tar -C "$dir" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -cf - "$@" | gzip -n
}
tarz "$data" . > "$work/data.tar.gz"
tarz "$ctrl" . > "$work/control.tar.gz"
mkdir -p "$(dirname "$out")"
tarz "$work" ./debian-binary ./data.tar.gz ./control.tar.gz > "$out.tmp"
mv "$out.tmp" "$out"
echo "ipk: $out ($(stat -c %s "$out") bytes; $(field PKG_NAME) $version $arch)"
