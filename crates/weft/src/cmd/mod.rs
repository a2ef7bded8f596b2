//! One module per command group.

pub(crate) mod keys;
pub(crate) mod lab;
