//! The registry: sites (with labels, cordoned, drained) and services, kept
//! by the controllers in the store. Changes are requests taken by the
//! leader like policy requests.

use serde::{Deserialize, Serialize};
use weft_control::CallError;
use weft_etcd::Kv;

use super::records::{Planned, PolicyRequest};

/// A change of the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub(crate) enum RegistryAsk {}

impl RegistryAsk {
    pub(crate) fn kind(&self) -> &'static str {
        match *self {}
    }
}

/// The writes of a registry request; `None` when the store could not be read.
pub(crate) fn plan(
    _id: &str,
    _req: &PolicyRequest,
    ask: &RegistryAsk,
    _epoch: u64,
    _read: &mut dyn FnMut(&str) -> Result<Option<Kv>, CallError>,
) -> Option<Planned> {
    match *ask {}
}
