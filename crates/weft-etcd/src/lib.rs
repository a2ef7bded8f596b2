//! Weft's control plane on etcd (HA), or on SQLite for a single controller.
//!
//! - [`http`]: HTTP/1.1 `POST`s of JSON to etcd's v3 gateway (`/v3/...`, the
//!   real etcd API in its JSON form), with a deadline on connect, write and
//!   read, so a dead connection never holds up a step-down.
//! - [`store`]: [`EtcdStore`], which carries out a `weft-control`
//!   [`Request`](weft_control::Request) (lease grant, keep-alive, campaign
//!   transaction, revoke) and fenced writes (a transaction that compares the
//!   leader key's create revision with the writer's epoch), trying the next
//!   endpoint of the cluster when one fails.
//! - [`sqlite`]: [`SqliteStore`], the same [`ControlStore`] in one SQLite
//!   file (the embedded default for a single controller): leases on an
//!   injectable clock, the leader key going with its lease, one revision
//!   per write transaction, fenced transactions.
//! - [`driver`]: [`Controller`], the loop that drives an
//!   [`Election`](weft_control::Election) against a [`ControlStore`].
//!
//! The binary `weft-controller` runs one controller: the HA lab and
//! `bench/leader-failover.sh` start three of them against three etcd
//! members and kill the leader.

pub mod api;
pub mod driver;
pub mod http;
pub mod sqlite;
pub mod store;

pub use api::{Compare, ControlStore, Kv, Txn, TxnOutcome};
pub use driver::Controller;
pub use sqlite::{OpenError, SqliteStore};
pub use store::{EtcdStore, FencedOutcome};
