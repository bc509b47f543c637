//! The load tool. Placeholder until the benchmark issue lands.

fn main() {}
