//! What a UAPI `set` (`wg set`, `wg addconf`) may change, decided without
//! I/O: [`plan`] turns the request's `key=value` lines and the peers the
//! agent has into the peer changes to make, or one [`Refusal`] with the
//! errno `wg` prints (`Unable to modify interface: Operation not permitted`).
//!
//! Stock WireGuard peers added here are the operator's: their endpoint,
//! allowed IPs, persistent keepalive and preshared key can be set, and they
//! can be removed. Everything else is Weft's and refused with `EPERM`: the
//! site's private key, listen port and firewall mark (a request that
//! repeats the values in force is accepted: `wg syncconf` sends them), and
//! the peers of the configuration and of the mesh. A request is checked
//! whole before anything changes: all of it applies, or none.
//!
//! Errnos follow wireguard-go where it has one (`EINVAL` for a bad key or
//! value); `EPERM` (Weft owns it), `EADDRINUSE` (an allowed IP another site
//! or this one holds), `EEXIST` (a name clash) and `EDESTADDRREQ` (a new
//! peer without an endpoint) say what wireguard-go cannot.

use std::net::SocketAddr;
use std::time::Duration;

use weft_node::PeerSpec;
use weft_node::node::Claim;
use weft_types::{IpPrefix, PrivateKey, PublicKey, SiteId};

/// `EPERM`: the setting is Weft's.
pub(crate) const EPERM: i32 = 1;
/// `EIO`: the change did not take effect in time.
pub(crate) const EIO: i32 = 5;
/// `EEXIST`: another peer has the name this one would get.
pub(crate) const EEXIST: i32 = 17;
/// `EINVAL`: an unknown key or a malformed value (as wireguard-go).
pub(crate) const EINVAL: i32 = 22;
/// `EDESTADDRREQ`: a new stock peer needs an endpoint.
pub(crate) const EDESTADDRREQ: i32 = 89;
/// `EADDRINUSE`: an allowed IP overlaps this site's or another peer's prefixes.
pub(crate) const EADDRINUSE: i32 = 98;

/// Why a request was refused: the errno for `wg`, the reason for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// What the reply's `errno=` says.
    pub(crate) errno: i32,
    /// What the log says.
    pub(crate) why: String,
}

fn refuse<T>(errno: i32, why: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal { errno, why: why.into() })
}

/// A preshared key; its `Debug` output never shows the key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Psk(pub(crate) [u8; 32]);

impl std::fmt::Debug for Psk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Psk(..)")
    }
}

/// Who a peer belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// The site configuration (`[[peer]]`).
    Config,
    /// The mesh (an enrolled member).
    Mesh,
    /// The UAPI: a stock peer an operator added with `wg set`.
    Uapi,
}

impl Owner {
    /// Who owns a peer of these flags (stock mesh members do not exist:
    /// dynamic stock peers come only from the UAPI).
    pub(crate) fn of(dynamic: bool, stock: bool) -> Self {
        match (dynamic, stock) {
            (false, _) => Self::Config,
            (true, false) => Self::Mesh,
            (true, true) => Self::Uapi,
        }
    }
}

/// A live peer as the planner sees it.
#[derive(Debug, Clone)]
pub(crate) struct PeerView {
    /// Its site name.
    pub(crate) name: SiteId,
    /// Its WireGuard key.
    pub(crate) key: PublicKey,
    /// Its allowed IPs.
    pub(crate) prefixes: Vec<IpPrefix>,
    /// Its endpoints.
    pub(crate) endpoints: Vec<SocketAddr>,
    /// Persistent keepalive, seconds.
    pub(crate) keepalive: Option<u16>,
    /// Its preshared key (UAPI peers only).
    pub(crate) psk: Option<Psk>,
    /// Whose it is.
    pub(crate) owner: Owner,
}

/// The device as the planner sees it.
#[derive(Debug, Clone)]
pub(crate) struct DeviceView<'a> {
    /// The site's private key.
    pub(crate) private_key: &'a PrivateKey,
    /// Its public key.
    pub(crate) public_key: PublicKey,
    /// The port `get` reports.
    pub(crate) listen_port: u16,
    /// This site's own prefixes.
    pub(crate) local_prefixes: &'a [IpPrefix],
    /// Every live peer.
    pub(crate) peers: &'a [PeerView],
}

/// One change to make.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    /// Add the stock peer, or replace it with this spec.
    Up {
        /// The peer (`stock`, `dynamic`).
        spec: PeerSpec,
        /// Its preshared key.
        psk: Option<Psk>,
        /// Its session must be made anew (keepalive or key changed on an
        /// existing peer): the node keeps a peer whose key, prefixes and
        /// endpoints are unchanged, so it is retired first.
        renew: bool,
    },
    /// Remove the stock peer.
    Remove {
        /// Its site name.
        site: SiteId,
        /// Its key.
        key: PublicKey,
    },
}

/// One `public_key=` section of the request.
#[derive(Debug, Default)]
struct PeerSet {
    key: Option<PublicKey>,
    remove: bool,
    update_only: bool,
    psk: Option<Psk>,
    endpoint: Option<SocketAddr>,
    keepalive: Option<u16>,
    replace_allowed_ips: bool,
    allowed_ips: Vec<IpPrefix>,
}

impl PeerSet {
    fn changes_anything(&self) -> bool {
        self.remove
            || self.psk.is_some()
            || self.endpoint.is_some()
            || self.keepalive.is_some()
            || self.replace_allowed_ips
            || !self.allowed_ips.is_empty()
    }
}

fn flag(key: &str, value: &str) -> Result<bool, Refusal> {
    match value {
        "true" => Ok(true),
        _ => refuse(EINVAL, format!("{key}={value:?}: only \"true\" is valid")),
    }
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, Refusal> {
    value.parse().or_else(|_| refuse(EINVAL, format!("{key}={value:?} is not a valid number")))
}

fn hex32(key: &str, value: &str) -> Result<[u8; 32], Refusal> {
    PublicKey::from_hex(value)
        .map(|k| k.0)
        .or_else(|_| refuse(EINVAL, format!("{key}: not 64 hex digits")))
}

/// Reads the lines into the device settings (checked against `dev` here)
/// and the peer sections.
fn sections(lines: &[(String, String)], dev: &DeviceView<'_>) -> Result<Vec<PeerSet>, Refusal> {
    let mut peers: Vec<PeerSet> = Vec::new();
    for (k, v) in lines {
        let (k, v) = (k.as_str(), v.as_str());
        if k == "public_key" {
            peers.push(PeerSet { key: Some(PublicKey(hex32(k, v)?)), ..PeerSet::default() });
            continue;
        }
        let Some(p) = peers.last_mut() else {
            match k {
                "private_key" => {
                    if hex32(k, v)? != dev.private_key.0 {
                        return refuse(
                            EPERM,
                            "the private key is the site's (its key file); it is not changed at run time",
                        );
                    }
                }
                "listen_port" => {
                    let port: u16 = number(k, v)?;
                    if port != dev.listen_port {
                        return refuse(
                            EPERM,
                            format!(
                                "the listen port is the site's uplinks' ({}; [[uplink]] bind); not {port}",
                                dev.listen_port
                            ),
                        );
                    }
                }
                "fwmark" => {
                    if number::<u32>(k, v)? != 0 {
                        return refuse(EPERM, "weftd sets no firewall mark; fwmark must stay 0");
                    }
                }
                "replace_peers" => {
                    flag(k, v)?;
                    return refuse(
                        EPERM,
                        "replace_peers would remove the configuration's and the mesh's peers; \
                         add and remove stock peers one by one (wg set)",
                    );
                }
                _ => return refuse(EINVAL, format!("unknown device key {k:?}")),
            }
            continue;
        };
        match k {
            "remove" => p.remove = flag(k, v)?,
            "update_only" => p.update_only = flag(k, v)?,
            "preshared_key" => p.psk = Some(Psk(hex32(k, v)?)),
            "endpoint" => {
                p.endpoint =
                    Some(v.parse().or_else(|_| {
                        refuse(EINVAL, format!("endpoint {v:?} is not ADDRESS:PORT"))
                    })?);
            }
            "persistent_keepalive_interval" => p.keepalive = Some(number(k, v)?),
            "replace_allowed_ips" => p.replace_allowed_ips = flag(k, v)?,
            "allowed_ip" => p.allowed_ips.push(
                IpPrefix::parse(v).or_else(|e| refuse(EINVAL, format!("allowed_ip {v:?}: {e}")))?,
            ),
            "protocol_version" if v == "1" => {}
            "protocol_version" => {
                return refuse(EINVAL, format!("protocol_version {v:?}: only 1 exists"));
            }
            _ => return refuse(EINVAL, format!("unknown peer key {k:?}")),
        }
    }
    Ok(peers)
}

/// The name a stock peer added through the UAPI gets: `wg-` and the first
/// eight hex digits of its key.
pub(crate) fn stock_name(key: &PublicKey) -> SiteId {
    let hex = key.to_hex();
    SiteId::new(&format!("wg-{}", &hex[..8])).unwrap_or_else(|_| unreachable_name())
}

fn unreachable_name() -> SiteId {
    // `wg-` and hex digits always make a valid site name.
    SiteId::new("wg-peer").unwrap_or_else(|_| panic!("a constant site name"))
}

/// The changes `lines` (a `set=1` request's) ask for, or why they are refused.
pub(crate) fn plan(
    lines: &[(String, String)],
    dev: &DeviceView<'_>,
) -> Result<Vec<Change>, Refusal> {
    let sets = sections(lines, dev)?;
    let mut changes: Vec<Change> = Vec::new();
    // The peers as they will be: earlier sections of this request count.
    let mut peers: Vec<PeerView> = dev.peers.to_vec();
    for set in sets {
        let Some(key) = set.key else { continue };
        let hex = key.to_hex();
        if key == dev.public_key {
            return refuse(EINVAL, format!("peer {hex} is this site's own key"));
        }
        let existing = peers.iter().position(|p| p.key == key);
        if let Some(i) = existing
            && peers[i].owner != Owner::Uapi
        {
            if !set.changes_anything() {
                continue;
            }
            let whose = if peers[i].owner == Owner::Config { "configuration" } else { "mesh" };
            return refuse(
                EPERM,
                format!(
                    "peer {hex} is site {} of the {whose}: its key, endpoints and allowed IPs are Weft's",
                    peers[i].name
                ),
            );
        }
        if set.remove {
            if let Some(i) = existing {
                let p = peers.remove(i);
                changes.push(Change::Remove { site: p.name, key });
            }
            continue;
        }
        if existing.is_none() && set.update_only {
            continue;
        }
        let old = existing.map(|i| peers[i].clone());
        let mut prefixes = match (&old, set.replace_allowed_ips) {
            (Some(o), false) => o.prefixes.clone(),
            _ => Vec::new(),
        };
        for a in set.allowed_ips {
            if !prefixes.contains(&a) {
                prefixes.push(a);
            }
        }
        let endpoints = match (set.endpoint, &old) {
            (Some(e), _) => vec![e],
            (None, Some(o)) => o.endpoints.clone(),
            (None, None) => Vec::new(),
        };
        if endpoints.is_empty() {
            return refuse(
                EDESTADDRREQ,
                format!("new peer {hex} has no endpoint: weftd sends to a stock peer's endpoint"),
            );
        }
        let keepalive = match set.keepalive {
            Some(0) => None,
            Some(s) => Some(s),
            None => old.as_ref().and_then(|o| o.keepalive),
        };
        let psk = match set.psk {
            Some(Psk(k)) if k == [0; 32] => None,
            Some(k) => Some(k),
            None => old.as_ref().and_then(|o| o.psk),
        };
        let name = old.as_ref().map_or_else(|| stock_name(&key), |o| o.name.clone());
        if old.is_none()
            && let Some(clash) = peers.iter().find(|p| p.name == name)
        {
            return refuse(
                EEXIST,
                format!(
                    "new peer {hex} would be named {name}, which peer {} is",
                    clash.key.to_hex()
                ),
            );
        }
        let spec = PeerSpec {
            name: name.clone(),
            public_key: key,
            prefixes: prefixes.clone(),
            endpoints: endpoints.clone(),
            stock: true,
            keepalive: keepalive.map(|s| Duration::from_secs(u64::from(s))),
            role: None,
            region: None,
            dynamic: true,
        };
        let others = peers.iter().filter(|p| p.key != key).map(|p| Claim {
            name: &p.name,
            key: &p.key,
            prefixes: &p.prefixes,
        });
        if let Err(why) = weft_node::node::claim_conflict(dev.local_prefixes, others, &spec) {
            return refuse(EADDRINUSE, format!("peer {hex}: {why}"));
        }
        let renew = old.as_ref().is_some_and(|o| o.keepalive != keepalive || o.psk != psk);
        let unchanged = old
            .as_ref()
            .is_some_and(|o| o.prefixes == prefixes && o.endpoints == endpoints && !renew);
        let view = PeerView { name, key, prefixes, endpoints, keepalive, psk, owner: Owner::Uapi };
        match existing {
            Some(i) => peers[i] = view,
            None => peers.push(view),
        }
        if !unchanged {
            changes.push(Change::Up { spec, psk, renew });
        }
    }
    Ok(changes)
}

/// [`plan`] against a fixed device (a configured peer, a mesh member and a
/// stock peer), with its promises checked: a refusal carries one of the
/// errnos above; an accepted plan only adds stock peers with an endpoint
/// whose allowed IPs stay clear of the site's own, and only removes the
/// stock peer. For the fuzz target (`weftd::fuzzing::uapi_set`).
pub(crate) fn fuzz_plan(lines: &[(String, String)]) -> Result<usize, i32> {
    let prefix = |s: &str| IpPrefix::parse(s).unwrap_or_else(|_| panic!("a constant prefix"));
    let view = |key: u8, name: &str, p: &str, owner: Owner| PeerView {
        name: SiteId::new(name).unwrap_or_else(|_| unreachable_name()),
        key: PublicKey([key; 32]),
        prefixes: vec![prefix(p)],
        endpoints: vec![SocketAddr::from(([198, 18, 0, key], 51820))],
        keepalive: None,
        psk: None,
        owner,
    };
    let peers = [
        view(2, "b", "10.77.2.0/24", Owner::Config),
        view(3, "c", "10.77.3.0/24", Owner::Mesh),
        view(4, "wg-04040404", "10.99.0.0/24", Owner::Uapi),
    ];
    let local = [prefix("10.77.1.0/24")];
    let private_key = PrivateKey([1; 32]);
    let dev = DeviceView {
        private_key: &private_key,
        public_key: PublicKey([9; 32]),
        listen_port: 51820,
        local_prefixes: &local,
        peers: &peers,
    };
    match plan(lines, &dev) {
        Ok(changes) => {
            for c in &changes {
                match c {
                    Change::Up { spec, .. } => {
                        assert!(spec.stock && spec.dynamic && !spec.endpoints.is_empty());
                        assert!(spec.prefixes.iter().all(|p| !local[0].overlaps(p)));
                        // Never this site's key, the configured peer's or the mesh member's.
                        assert!([2, 3, 9].iter().all(|k| spec.public_key != PublicKey([*k; 32])));
                    }
                    Change::Remove { key, .. } => assert_eq!(*key, PublicKey([4; 32])),
                }
            }
            Ok(changes.len())
        }
        Err(r) => {
            assert!([EPERM, EEXIST, EINVAL, EDESTADDRREQ, EADDRINUSE].contains(&r.errno), "{r:?}");
            Err(r.errno)
        }
    }
}

#[cfg(test)]
#[path = "uapi_set_tests.rs"]
mod tests;
