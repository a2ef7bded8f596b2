//! One module per command group.

pub(crate) mod agents;
pub(crate) mod http;
pub(crate) mod keys;
pub(crate) mod lab;
pub(crate) mod policy;
