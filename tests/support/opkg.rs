//! A stand-in for opkg in ChangeDUState tests: a package manager over a text file.

/// A package manager over a text file `installed` of `name - version` lines
/// beside the script: `install <url of name_version_arch.ipk>`, `remove
/// <name>`, `list`. Each run writes through a temporary file of its own and
/// renames it, so a run killed midway leaves the list whole.
pub const FAKE_OPKG: &str = r#"#!/bin/sh
db="$(dirname "$0")/installed"
touch "$db"
case "$1" in
install)
    file="${2##*/}"; stem="${file%.ipk}"; name="${stem%%_*}"; rest="${stem#*_}"; version="${rest%%_*}"
    grep -v "^$name - " "$db" > "$db.new.$$"; echo "$name - $version" >> "$db.new.$$"; mv "$db.new.$$" "$db" ;;
remove)
    grep -q "^$2 - " "$db" || { echo "Package $2 is not installed" >&2; exit 255; }
    grep -v "^$2 - " "$db" > "$db.new.$$"; mv "$db.new.$$" "$db" ;;
list)
    cat "$db" ;;
esac
"#;
