//! Project chores, run as `cargo run -p xtask -- <command>`.
fn main() {}
