//! `icwmpd`: the CWMP daemon and its data model CLI.

fn main() {
    println!("icwmpd {}", env!("CARGO_PKG_VERSION"));
}
