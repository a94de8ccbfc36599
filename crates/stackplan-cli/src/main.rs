//! The `stackplan` binary.
fn main() {}
