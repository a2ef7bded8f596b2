//! Placeholder until the classifier benches land.
#![allow(missing_docs)]
fn main() {}
