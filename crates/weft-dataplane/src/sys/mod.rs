//! The platform edge: everything that talks to the Linux kernel.
//!
//! What it does: batched UDP sockets with forced 7 MiB buffers
//! ([`UplinkSocket`], `recvmmsg`/`sendmmsg` over preallocated
//! [`RecvBatch`]/[`SendBatch`]), the TUN device ([`TunDevice`]), and interface
//! configuration over rtnetlink ([`netlink`]: up, MTU, addresses, routes).
//! Everything acts in the calling thread's network namespace.
//!
//! What it does not do: no WireGuard, no probing, no policy, no threads of its
//! own. Callers decide what to send where; this module only moves bytes and
//! reports the kernel's answers as `io::Error`s (or [`NetlinkError`]s) that say
//! what failed.
//!
//! How to drive it: open one [`UplinkSocket`] per uplink and one
//! [`TunDevice`] (with [`TunConfig::offload`] for TSO/USO); configure the
//! device with [`netlink::Rtnl`]; then loop `recv_batch` → decrypt into a
//! [`TunWriteBatch`] → [`TunDevice::write_coalesced`], and `read_batch` →
//! encrypt into a [`SendBatch`] ([`SendBatch::try_push_with`]) →
//! `send_batch`. Batches are reused across calls, so the hot path does not
//! allocate.
//!
//! Offloads: TUN `IFF_VNET_HDR` + `TUNSETOFFLOAD` live in `tun`/`tun_gro`,
//! UDP GSO/GRO control messages in `mmsg`, behind the same batch calls:
//! callers read datagrams through batch iterators, never raw slots, and see
//! plain MTU-sized packets and datagrams whether offloads are on or not.
//! What the kernel refused is reported ([`TunDevice::offloads`],
//! [`UplinkSocket::gso`], [`UplinkSocket::gro`]), and so are the drops it
//! counts for us ([`UplinkSocket::overflows`], [`netlink::Rtnl::tx_dropped`],
//! [`TunDevice::malformed`]).
//!
//! # Layout
//! - `batch`: [`PacketBatch`], [`RecvBatch`], [`SendBatch`] (pure).
//! - `udp`: [`UplinkConfig`], [`UplinkSocket`].
//! - `buffers`: forced buffer sizing, [`BufferSizes`].
//! - `gso` (private, pure): which datagrams one `UDP_SEGMENT` send carries,
//!   how a `UDP_GRO` buffer splits.
//! - `mmsg`, `sockaddr` (private): the `recvmmsg`/`sendmmsg` calls and C
//!   socket addresses; the only `unsafe` code.
//! - `tun`: [`TunConfig`], [`TunDevice`], [`TunOffloads`]: the device, its
//!   offload negotiation, super-packet split on read.
//! - `tun_gro`: [`TunWriteBatch`], packets to coalesce into large TUN writes.
//! - [`netlink`]: [`netlink::Rtnl`], interface configuration.
//! - `offload_tests` (tests only): the split/coalesce/checksum arithmetic.
#![allow(unsafe_code)]

mod batch;
mod buffers;
mod child;
mod gso;
mod mmsg;
pub mod netlink;
#[cfg(test)]
mod offload_tests;
mod sockaddr;
mod tun;
mod tun_gro;
mod udp;

pub use batch::{
    DEFAULT_SLOT, GRO_SLOT, MAX_BATCH, MAX_PACKETS, PacketBatch, PushError, RecvBatch, SendBatch,
};
pub use buffers::{BufferSizes, BufferWarning, DEFAULT_BUFFER, Direction};
pub use child::die_with_parent;
pub use netlink::{IfAddr, NetlinkError, Rtnl};
pub use tun::{DEFAULT_MTU, TunConfig, TunDevice, TunOffloads};
pub use tun_gro::TunWriteBatch;
pub use udp::{UplinkConfig, UplinkSocket};
