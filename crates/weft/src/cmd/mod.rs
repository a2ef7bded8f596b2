//! One module per command group.

pub(crate) mod agents;
pub(crate) mod keys;
pub(crate) mod lab;
