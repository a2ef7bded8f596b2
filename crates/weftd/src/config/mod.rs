//! The site configuration file (`site.toml`).
//!
//! ```toml
//! [site]
//! name = "paris"
//! private_key_file = "paris.key"   # relative to this file
//! address = "10.10.1.1/24"         # overlay address on the TUN device
//! prefixes = ["10.10.1.0/24"]      # prefixes this site serves
//!
//! [[uplink]]
//! name = "fiber"
//! bind = "198.18.1.2:51820"
//! priority = 1
//! capacity = "1gbit"
//!
//! [[peer]]
//! name = "berlin"
//! public_key = "…base64…"
//! prefixes = ["10.10.2.0/24"]
//! endpoints = ["198.18.2.2:51820", "198.18.2.6:51820"]
//!
//! [[class]]                        # used when no policy is applied
//! protocol = "udp"
//! ports = "5060-5061"
//! class = "realtime"
//!
//! [policy]
//! file = "policy.toml"             # the first policy, until one is applied
//! ```
//!
//! `[site]` also takes `role`, `region` (what `role:` and `region:` in a
//! policy match; peers take them too) and `state_dir` (default
//! `/var/lib/weft`: policy versions, the audit log, the API token).
//!
//! [`load`] reads, parses and validates it. Every error — TOML syntax, a wrong
//! type, an unknown key, or a semantic problem such as a duplicate uplink name
//! or overlapping peer prefixes — is a [`Diagnostic`] naming file, line and
//! column. A failed reload keeps the running configuration (the caller simply
//! does not swap it in).

mod bgp;
mod classes;
mod controller;
mod dns;
mod flood;
mod ipsec;
mod ipsec_auth;
mod log;
mod mesh;
mod profiles;
mod qos;
mod raw;
mod retention;
mod validate;
mod zerotrust;

pub use log::LogConfig;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use weft_path::EngineConfig;
use weft_types::{Bandwidth, IpPrefix, PublicKey, SiteId};

pub use bgp::{BgpConfig, NeighborConfig};
pub use classes::{ClassMap, ClassRule};
pub use controller::{ControlStoreKind, ControllerConfig};
pub use dns::{DnsConfig, RegionConfig};
pub use flood::FloodConfig;
pub use ipsec::{IpsecConfig, Prefer};
pub use ipsec_auth::{CertAuth, IpsecAuth};
pub use mesh::{DEFAULT_MESH_PORT, GossipProfile, MeshConfig, Topology};
pub use profiles::{DEFAULT_POOL, ProfilesConfig};
pub use qos::QosConfig;
pub use weft_layout::{DEFAULT_API, DEFAULT_STATE_DIR};
pub use weft_types::Diagnostic;
pub use zerotrust::{GatewayConfig, Issuer, SidecarConfig, ZeroTrustConfig};

/// Default name of the overlay TUN device.
pub const DEFAULT_INTERFACE: &str = "weft0";
/// Default MTU of the overlay TUN device (fits WireGuard overhead in 1500).
pub const DEFAULT_MTU: u16 = 1420;

/// A validated site configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteConfig {
    /// Site name.
    pub name: SiteId,
    /// Path of the WireGuard private key file (base64, as `weft genkey` writes it).
    pub private_key_file: PathBuf,
    /// Overlay address of this site.
    pub address: IpAddr,
    /// The overlay prefix the address sits in (the TUN device's on-link prefix).
    pub address_prefix: IpPrefix,
    /// Prefixes this site serves.
    pub prefixes: Vec<IpPrefix>,
    /// TUN device name.
    pub interface: String,
    /// TUN MTU.
    pub mtu: u16,
    /// `[site] offload`: use the kernel's offloads where it has them (TUN
    /// TSO/USO with GRO on write, UDP GSO/GRO); `false` keeps the plain
    /// batched path. Default `true`.
    pub offload: bool,
    /// Uplinks, in file order (index = `UplinkId`).
    pub uplinks: Vec<UplinkConfig>,
    /// Static peers.
    pub peers: Vec<PeerConfig>,
    /// Flow → class mapping.
    pub classes: ClassMap,
    /// Path engine timers and thresholds.
    pub engine: EngineConfig,
    /// Local API listen address.
    pub api_listen: SocketAddr,
    /// `[api] tls_cert` and `tls_key`: when set, the TCP listener serves HTTPS only.
    pub api_tls: Option<(PathBuf, PathBuf)>,
    /// This site's role (`branch`, `hub`, `dc`), for `role:` in policies.
    pub role: Option<String>,
    /// This site's region, for `region:` in policies.
    pub region: Option<String>,
    /// Policy versions, the audit log and the API token live here.
    pub state_dir: PathBuf,
    /// The policy applied when the state directory holds none yet (else the
    /// built-in one made from `[[class]]` rules, allowing everything).
    pub policy_file: Option<PathBuf>,
    /// `[mesh]`: gossip, enrolment, topology (defaults when absent).
    pub mesh: MeshConfig,
    /// `[controller]`: this site is a controller (absent: it is not).
    pub controller: Option<ControllerConfig>,
    /// `[zerotrust]`: this site's zero-trust proxies (absent: none).
    pub zerotrust: Option<ZeroTrustConfig>,
    /// `[dns]`: this site answers DNS for the global services (absent: it does not).
    pub dns: Option<DnsConfig>,
    /// `[bgp]`: this site announces the mesh's prefixes to routers (absent: it does not).
    pub bgp: Option<BgpConfig>,
    /// `[retention]`: how much of the audit log is kept (defaults without the section).
    pub audit_retention: crate::store::AuditRetention,
    /// `[log]`: the log's format and starting level (flags win).
    pub log: LogConfig,
    /// `[flood]`: handshake limits, flood detection and mitigation (defaults when absent).
    pub flood: FloodConfig,
    /// `[qos]`: shaping and reservations (defaults when absent).
    pub qos: QosConfig,
    /// `[profiles]`: stock WireGuard clients' address pool and endpoints (defaults when absent).
    pub profiles: ProfilesConfig,
    /// `[[ipsec]]`: IPsec gateways served as paths (none when absent).
    pub ipsec: Vec<IpsecConfig>,
}

/// One uplink.
#[derive(Debug, Clone, PartialEq)]
pub struct UplinkConfig {
    /// Name (`fiber`, `lte`).
    pub name: String,
    /// Local address and UDP port to bind.
    pub bind: SocketAddr,
    /// Interface to bind to (`SO_BINDTODEVICE`), if any.
    pub device: Option<String>,
    /// Money per GB sent.
    pub cost_per_gb: f64,
    /// Metered (e.g. LTE with a cap).
    pub metered: bool,
    /// Active-backup priority, lower first.
    pub priority: u8,
    /// Capacity (100 Mbit/s when not written).
    pub capacity: Bandwidth,
    /// Whether `capacity` was written (only those uplinks are shaped).
    pub capacity_given: bool,
}

/// One static peer.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerConfig {
    /// Peer site name.
    pub name: SiteId,
    /// Its WireGuard public key.
    pub public_key: PublicKey,
    /// Overlay prefixes it serves (its allowed IPs).
    pub prefixes: Vec<IpPrefix>,
    /// Its underlay endpoints (one per uplink of the peer).
    pub endpoints: Vec<SocketAddr>,
    /// A plain WireGuard peer that does not answer Weft probes: liveness falls
    /// back to WireGuard handshakes and keepalives.
    pub stock: bool,
    /// Persistent keepalive interval, if any (defaults to 1 s for stock peers).
    pub keepalive: Option<Duration>,
    /// Its role, for `role:` in policies.
    pub role: Option<String>,
    /// Its region, for `region:` in policies.
    pub region: Option<String>,
}

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// One or more problems, each at a place in the file.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
}

/// Reads and validates a site configuration file.
pub fn load(path: &Path) -> Result<SiteConfig, ConfigError> {
    let source = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    parse(path, &source)
}

/// Parses and validates configuration text; `path` names it in diagnostics and
/// anchors relative paths.
pub fn parse(path: &Path, source: &str) -> Result<SiteConfig, ConfigError> {
    let raw: raw::RawConfig = toml::from_str(source).map_err(|e| {
        ConfigError::Invalid(vec![Diagnostic::at(path, source, e.span(), e.message().trim_end())])
    })?;
    validate::validate(path, source, &raw).map_err(ConfigError::Invalid)
}

#[cfg(test)]
mod tests;
