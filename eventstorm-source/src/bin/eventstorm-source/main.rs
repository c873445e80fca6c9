//! The `eventstorm-source` binary (work in progress).

fn main() {}
