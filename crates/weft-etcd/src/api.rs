//! [`ControlStore`]: what a controller needs from its store, whichever it
//! is. [`EtcdStore`](crate::EtcdStore) carries it out against an etcd
//! cluster (HA); [`SqliteStore`](crate::SqliteStore) in one SQLite file (the
//! embedded default for a single controller). Keys and values are UTF-8
//! strings; revisions are the store's global, only-growing write counter.

use std::time::Duration;

use weft_control::{CallError, Fence, Request, Response};

/// One key with its value and revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kv {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// The revision that created the key.
    pub create_revision: u64,
    /// The revision of its last change.
    pub mod_revision: u64,
}

/// A condition of a [`Txn`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compare {
    /// The key does not exist.
    Missing(String),
    /// The key's last change is at this revision (0: it does not exist).
    ModRevision(String, u64),
}

/// A transaction: if every comparison holds (and, when fenced, the leader
/// key still has the fence's epoch as its create revision), all the puts
/// and deletes apply at one new revision; otherwise none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn {
    /// Conditions beyond the fence.
    pub compares: Vec<Compare>,
    /// Keys to write.
    pub puts: Vec<(String, String)>,
    /// Keys to delete.
    pub deletes: Vec<String>,
}

/// What a transaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOutcome {
    /// Applied at this revision.
    Applied(u64),
    /// Not applied: the leader key no longer has the fence's epoch.
    Fenced,
    /// Not applied: a comparison of [`Txn::compares`] failed.
    CompareFailed,
}

/// A controller's store. Every call has a deadline: `timeout` from the call.
pub trait ControlStore: Send {
    /// Carries out an election request.
    fn call(&mut self, request: &Request, timeout: Duration) -> Result<Response, CallError>;

    /// Runs `txn`, fenced by `fence` when given (a leader's write) or not
    /// (a request any controller may queue).
    fn txn(
        &mut self,
        fence: Option<&Fence>,
        txn: &Txn,
        timeout: Duration,
    ) -> Result<TxnOutcome, CallError>;

    /// The key, if it exists.
    fn get(&mut self, key: &str, timeout: Duration) -> Result<Option<Kv>, CallError>;

    /// Every key that starts with `prefix`, in key order, at most `limit`.
    fn range(
        &mut self,
        prefix: &str,
        limit: usize,
        timeout: Duration,
    ) -> Result<Vec<Kv>, CallError>;

    /// A short name for status output: `etcd` or `sqlite`.
    fn kind(&self) -> &'static str;
}
