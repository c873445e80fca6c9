//! CQL test server.
fn main() {}
