#!/bin/sh
# make openwrt-package: the OpenWrt package folder with the source beside
# its Makefile (src/), to copy to package/icwmp-rs of a buildroot or SDK, or
# into a feed. Usage: tools/openwrt-package.sh [destination folder]
set -eu
cd "$(dirname "$0")/.."
dest="${1:-target/openwrt/icwmp-rs}"
rm -rf "$dest"
mkdir -p "$dest/src"
cp openwrt/Makefile "$dest/Makefile"
cp -R Cargo.toml Cargo.lock src benches files "$dest/src/"
echo "openwrt-package: $dest (copy it to package/icwmp-rs, then make package/icwmp-rs/compile)"
