//! The configuration file as written: TOML, deserialised with spans so that
//! every later check can point at the offending value.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub(crate) site: RawSite,
    #[serde(default)]
    pub(crate) uplink: Vec<RawUplink>,
    #[serde(default)]
    pub(crate) peer: Vec<RawPeer>,
    #[serde(default)]
    pub(crate) class: Vec<RawClassRule>,
    #[serde(default)]
    pub(crate) probe: Option<RawProbe>,
    #[serde(default)]
    pub(crate) api: Option<RawApi>,
    #[serde(default)]
    pub(crate) policy: Option<RawPolicy>,
    #[serde(default)]
    pub(crate) mesh: Option<RawMesh>,
    #[serde(default)]
    pub(crate) controller: Option<RawController>,
    #[serde(default)]
    pub(crate) zerotrust: Option<super::zerotrust::RawZeroTrust>,
    pub(crate) dns: Option<RawDns>,
    pub(crate) bgp: Option<super::bgp::RawBgp>,
    pub(crate) retention: Option<super::retention::RawRetention>,
    pub(crate) log: Option<super::log::RawLog>,
    #[serde(default)]
    pub(crate) flood: Option<super::flood::RawFlood>,
    pub(crate) qos: Option<super::qos::RawQos>,
    pub(crate) profiles: Option<super::profiles::RawProfiles>,
    #[serde(default)]
    pub(crate) ipsec: Vec<super::ipsec::RawIpsec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSite {
    pub(crate) name: Spanned<String>,
    pub(crate) private_key_file: Spanned<PathBuf>,
    /// Overlay address with its prefix length, e.g. `10.10.1.1/24`.
    pub(crate) address: Spanned<String>,
    #[serde(default)]
    pub(crate) prefixes: Vec<Spanned<String>>,
    pub(crate) interface: Option<Spanned<String>>,
    pub(crate) mtu: Option<Spanned<u16>>,
    /// Kernel offloads of the data plane (TUN TSO/USO, UDP GSO/GRO); default on.
    pub(crate) offload: Option<bool>,
    pub(crate) role: Option<String>,
    pub(crate) region: Option<String>,
    /// Where policy versions, the audit log and the API token live.
    pub(crate) state_dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUplink {
    pub(crate) name: Spanned<String>,
    pub(crate) bind: Spanned<String>,
    pub(crate) device: Option<Spanned<String>>,
    pub(crate) cost_per_gb: Option<Spanned<f64>>,
    #[serde(default)]
    pub(crate) metered: bool,
    pub(crate) priority: Option<u8>,
    pub(crate) capacity: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPeer {
    pub(crate) name: Spanned<String>,
    pub(crate) public_key: Spanned<String>,
    #[serde(default)]
    pub(crate) prefixes: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) endpoints: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) stock: bool,
    pub(crate) keepalive: Option<Spanned<String>>,
    pub(crate) role: Option<String>,
    pub(crate) region: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClassRule {
    pub(crate) protocol: Spanned<String>,
    pub(crate) ports: Option<Spanned<String>>,
    pub(crate) class: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProbe {
    /// `adaptive` (default), `fast`, or a fixed duration such as `50ms`.
    pub(crate) interval: Option<Spanned<String>>,
    pub(crate) detect_multiplier: Option<Spanned<u8>>,
    pub(crate) hold_down: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApi {
    pub(crate) listen: Option<Spanned<String>>,
    /// PEM certificate chain: with `tls_key`, the TCP listener speaks HTTPS only.
    pub(crate) tls_cert: Option<Spanned<PathBuf>>,
    /// PEM private key of `tls_cert`.
    pub(crate) tls_key: Option<Spanned<PathBuf>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    /// The policy applied when the state directory holds none yet.
    pub(crate) file: Option<Spanned<PathBuf>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMesh {
    pub(crate) listen: Option<Spanned<String>>,
    pub(crate) topology: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) critical: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) seeds: Vec<Spanned<String>>,
    pub(crate) grace: Option<Spanned<String>>,
    pub(crate) profile: Option<Spanned<String>>,
    pub(crate) relay_hold_down: Option<Spanned<String>>,
    pub(crate) cluster: Option<Spanned<String>>,
    pub(crate) interval: Option<Spanned<String>>,
    pub(crate) fanout: Option<Spanned<u32>>,
    pub(crate) suspicion_multiplier: Option<Spanned<u32>>,
    pub(crate) retransmit_limit: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawController {
    pub(crate) store: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) endpoints: Vec<Spanned<String>>,
    pub(crate) id: Option<Spanned<String>>,
    pub(crate) lease_ttl: Option<Spanned<String>>,
    pub(crate) shards: Option<Spanned<u32>>,
    pub(crate) rebalance: Option<Spanned<String>>,
    pub(crate) weight: Option<Spanned<u32>>,
    pub(crate) shard_grace: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDns {
    pub(crate) listen: Option<Spanned<String>>,
    pub(crate) zone: Spanned<String>,
    #[serde(default)]
    pub(crate) nameservers: Vec<Spanned<String>>,
    pub(crate) ns_address: Option<Spanned<String>>,
    pub(crate) ttl: Option<Spanned<String>>,
    pub(crate) negative_ttl: Option<Spanned<String>>,
    pub(crate) answers: Option<Spanned<u32>>,
    pub(crate) workers: Option<Spanned<u32>>,
    pub(crate) default_region: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) region: Vec<RawRegion>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRegion {
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    pub(crate) prefixes: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) sites: Vec<Spanned<String>>,
}
