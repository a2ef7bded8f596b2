//! The data plane's side of a peer: what the node decided (`weft_node`'s
//! [`Program::PeerUp`](weft_node::Program::PeerUp)) becomes a WireGuard
//! session and per-path counters here.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex};

use weft_dataplane::wg::WgSession;
use weft_node::{NewPath, PeerSpec};
use weft_types::PrivateKey;

use super::shared::{NO_PATH, PathRt, PeerRt};
use super::uapi_set::Psk;
use crate::config::PeerConfig;

/// The node's view of a configured peer.
pub(crate) fn spec_from_config(p: &PeerConfig) -> PeerSpec {
    PeerSpec {
        name: p.name.clone(),
        public_key: p.public_key,
        prefixes: p.prefixes.clone(),
        endpoints: p.endpoints.clone(),
        stock: p.stock,
        keepalive: p.keepalive,
        role: p.role.clone(),
        region: p.region.clone(),
        dynamic: false,
    }
}

/// Peer slot `slot`'s run-time state: its WireGuard session (session index
/// `slot + 1`, with the preshared key `psk`, which only stock peers added
/// through the UAPI have; `keep` is the slot's current session, kept when a
/// client roamed) and its paths' dense indices.
pub(crate) fn peer_rt(
    private_key: &PrivateKey,
    slot: usize,
    spec: &PeerSpec,
    paths: &[NewPath],
    psk: Option<Psk>,
    keep: Option<Arc<Mutex<WgSession>>>,
) -> PeerRt {
    let keepalive = spec.keepalive.map(|d| u16::try_from(d.as_secs().max(1)).unwrap_or(u16::MAX));
    let local_index = u32::try_from(slot + 1).unwrap_or(u32::MAX);
    let session = keep.unwrap_or_else(|| {
        let s =
            WgSession::new(private_key, &spec.public_key, psk.map(|k| k.0), keepalive, local_index);
        Arc::new(Mutex::new(s))
    });
    PeerRt {
        name: spec.name.clone(),
        public_key: spec.public_key,
        prefixes: spec.prefixes.clone(),
        keepalive,
        session,
        roam_reported: Mutex::new(None),
        paths: paths.iter().map(|p| p.dense).collect(),
        last_path: AtomicU32::new(NO_PATH),
        endpoints: spec.endpoints.clone(),
        stock: spec.stock,
        role: spec.role.clone(),
        region: spec.region.clone(),
        removed: AtomicBool::new(false),
        dynamic: spec.dynamic,
        gone: AtomicBool::new(false),
    }
}

/// A new path's counters.
pub(crate) fn path_rt(slot: usize, p: &NewPath) -> PathRt {
    PathRt {
        peer: slot,
        uplink: p.uplink,
        remote: p.remote,
        engine_id: p.engine_id,
        tx_bytes: AtomicU64::new(0),
        rx_bytes: AtomicU64::new(0),
        rx_packets: AtomicU64::new(0),
        tx_packets: AtomicU64::new(0),
    }
}
