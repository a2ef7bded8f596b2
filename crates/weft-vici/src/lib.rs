//! A client for strongSwan's VICI protocol: how a program drives the IKE
//! daemon charon (load connections and secrets, initiate, list SAs, watch
//! events) through the unix socket charon's `vici` plugin opens.
//!
//! Written from the protocol description of strongSwan's `vici` plugin
//! (its README); no strongSwan code, no dependency beyond `thiserror`.
//!
//! # Layout
//!
//! - [`wire`]: messages, the tree of sections, key/values and lists a
//!   command takes and returns; [`Message::encode`] / [`Message::decode`].
//!   Pure, no I/O.
//! - [`packet`]: the packet types (command request/response, event
//!   register/confirm, events) and the transport framing (a big-endian
//!   `u32` length before every packet). Pure, no I/O.
//! - [`client`]: [`Client`], blocking, over a `UnixStream`, with a timeout:
//!   [`Client::call`] for a command, [`Client::call_streaming`] for the
//!   commands that answer with a stream of events (`list-sas`, `list-conns`),
//!   [`check_success`] for the `success`/`errmsg` answers.
//! - [`conn`]: [`SiteToSite`], one IPsec gateway (IKEv2, PSK or
//!   certificates, one tunnel child), as the `load-conn`, `load-shared`,
//!   `load-key`, `initiate` and `unload-conn` messages. Pure.
//! - [`sa`]: [`IkeSa`] / [`ChildSa`] read from `list-sa` events: state and
//!   counters, what says whether a gateway's path carries traffic. Pure.
//!
//! # Driving charon
//!
//! ```no_run
//! use weft_vici::{Client, Message, check_success};
//! let mut c = Client::connect("/run/charon.vici")?;
//! let v = c.call("version", &Message::new())?;
//! println!("charon {}", v.value_str("version").unwrap_or("?"));
//! let conn = Message::new().with_section(
//!     "gw",
//!     Message::new()
//!         .with_list("remote_addrs", ["192.0.2.1"])
//!         .with_section("local", Message::new().with_value("auth", "psk"))
//!         .with_section("remote", Message::new().with_value("auth", "psk")),
//! );
//! check_success(&c.call("load-conn", &conn)?)?;
//! let (sas, _) = c.call_streaming("list-sas", "list-sa", &Message::new())?;
//! println!("{} IKE_SAs", sas.len());
//! # Ok::<(), weft_vici::Error>(())
//! ```
//!
//! Malformed input from the socket is an error ([`WireError`]), never a
//! panic; sizes are bounded ([`packet::MAX_PACKET`], [`wire::MAX_DEPTH`]).

pub mod client;
pub mod conn;
pub mod packet;
pub mod sa;
pub mod wire;

pub use client::{Client, Error, check_success};
pub use conn::{Auth, SiteToSite, load_key};
pub use packet::Packet;
pub use sa::{ChildSa, IkeSa, parse_list_sa};
pub use wire::{Element, Message, WireError};
