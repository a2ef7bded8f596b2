//! The `[[ipsec]]` sections: IPsec gateways (a cloud provider's VPN
//! gateway, a firewall) that speak only IKEv2/IPsec. `weftd` runs its own
//! strongSwan charon, loads one connection per gateway over VICI, and treats
//! each CHILD_SA as a path: probed with ICMP echo to `probe` through the
//! tunnel, and chosen against (or as the fallback of) a WireGuard site that
//! serves the same prefixes.
//!
//! ```toml
//! [[ipsec]]
//! name = "cloud"                        # a-z 0-9 - _, unique; charon's connection weft-cloud
//! remote = "203.0.113.7"                # the gateway's IKE address
//! local = "198.18.1.2"                  # default: the first uplink's address
//! psk_file = "cloud.psk"                # the pre-shared key (relative to this file),
//!                                       # or auth = "cert" (see `ipsec_auth`)
//! proposals = ["aes256gcm16-prfsha256-x25519"]   # IKE (this is the default)
//! esp_proposals = ["aes256gcm16"]                # ESP (this is the default)
//! remote_prefixes = ["10.77.2.0/24"]    # behind the gateway
//! local_prefixes = ["10.77.1.0/24"]     # default: this site's prefixes
//! probe = "10.77.2.1"                   # answers ICMP echo, behind the gateway
//! prefer = "wireguard"                  # or "ipsec" (the default)
//! via = "b"                             # the Weft site serving the same prefixes
//! ```
//!
//! With `prefer = "wireguard"` the remote prefixes go to site `via` over
//! WireGuard while the path engine has a live path to it, and over IPsec
//! while it has none; with `prefer = "ipsec"` they go over IPsec while its
//! path is alive and to `via` (if given) otherwise.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;
use weft_types::IpPrefix;

use super::ipsec_auth::{IpsecAuth, RawAuth, auth};
use super::validate::Checker;
use super::{PeerConfig, UplinkConfig};

/// IKE proposals when none are written (those of `weft_vici::SiteToSite`).
const DEFAULT_PROPOSALS: &str = "aes256gcm16-prfsha256-x25519";
/// ESP proposals when none are written.
const DEFAULT_ESP_PROPOSALS: &str = "aes256gcm16";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIpsec {
    name: Spanned<String>,
    remote: Spanned<String>,
    local: Option<Spanned<String>>,
    psk_file: Option<Spanned<PathBuf>>,
    auth: Option<Spanned<String>>,
    cert_file: Option<Spanned<PathBuf>>,
    key_file: Option<Spanned<PathBuf>>,
    ca_file: Option<Spanned<PathBuf>>,
    remote_id: Option<Spanned<String>>,
    local_id: Option<Spanned<String>>,
    proposals: Option<Vec<Spanned<String>>>,
    esp_proposals: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    remote_prefixes: Vec<Spanned<String>>,
    local_prefixes: Option<Vec<Spanned<String>>>,
    probe: Spanned<String>,
    prefer: Option<Spanned<String>>,
    via: Option<Spanned<String>>,
}

/// Which path the remote prefixes take while both are alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefer {
    /// The WireGuard site `via` first, IPsec when it is unreachable.
    WireGuard,
    /// IPsec first, the site `via` (if any) when the IPsec path is dead.
    Ipsec,
    /// Whichever scores better under each policy route's preference (the
    /// lowest latency by default), like two uplinks of equal priority.
    Best,
}

/// One validated `[[ipsec]]` gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpsecConfig {
    /// Its name (charon's connection and child are `weft-NAME`).
    pub name: String,
    /// The gateway's IKE address.
    pub remote: IpAddr,
    /// Our IKE address.
    pub local: IpAddr,
    /// How both ends authenticate (a PSK or certificates).
    pub auth: IpsecAuth,
    /// IKE proposals, in order.
    pub proposals: Vec<String>,
    /// ESP proposals, in order.
    pub esp_proposals: Vec<String>,
    /// The gateway's side.
    pub remote_prefixes: Vec<IpPrefix>,
    /// Our side.
    pub local_prefixes: Vec<IpPrefix>,
    /// The address behind the gateway the probes ping.
    pub probe: IpAddr,
    /// Which path goes first.
    pub prefer: Prefer,
    /// The Weft site serving the same prefixes over WireGuard, if any.
    pub via: Option<String>,
}

fn name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 24
        && name.starts_with(|ch: char| ch.is_ascii_lowercase())
        && name
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "-_".contains(ch))
}

fn ip(s: &str) -> Result<IpAddr, String> {
    s.parse().map_err(|_| format!("{s:?} is not an IP address"))
}

/// What the `[[ipsec]]` checks need from the rest of the file.
pub(super) struct Context<'a> {
    /// The site's prefixes (the default local side).
    pub(super) prefixes: &'a [IpPrefix],
    /// The site's overlay address (probes and traffic leave from it).
    pub(super) address: Option<IpAddr>,
    /// The uplinks (the default IKE address).
    pub(super) uplinks: &'a [UplinkConfig],
    /// The static peers (`via`).
    pub(super) peers: &'a [PeerConfig],
    /// Whether `[mesh]` is set (then `via` may name a site learnt from it).
    pub(super) mesh: bool,
    /// Where relative file names start.
    pub(super) base: &'a Path,
}

/// Checks every `[[ipsec]]`.
pub(super) fn ipsec(c: &mut Checker<'_>, raw: &[RawIpsec], cx: &Context<'_>) -> Vec<IpsecConfig> {
    let mut out: Vec<IpsecConfig> = Vec::new();
    for r in raw {
        if let Some(g) = one(c, r, cx) {
            if out.iter().any(|o| o.name == g.name) {
                c.err(&r.name, format!("ipsec name {:?} is used twice", g.name));
                continue;
            }
            out.push(g);
        }
    }
    out
}

fn prefixes(c: &mut Checker<'_>, raw: &[Spanned<String>]) -> Option<Vec<IpPrefix>> {
    let before = raw.len();
    let v: Vec<IpPrefix> = raw.iter().filter_map(|p| c.parse(p, IpPrefix::parse)).collect();
    (v.len() == before).then_some(v)
}

fn proposals(
    c: &mut Checker<'_>,
    raw: Option<&Vec<Spanned<String>>>,
    default: &str,
) -> Vec<String> {
    let Some(raw) = raw else { return vec![default.to_owned()] };
    for p in raw {
        let s = p.get_ref();
        if s.is_empty() || !s.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_".contains(ch)) {
            c.err(p, format!("{s:?} is not a strongSwan proposal (e.g. {default})"));
        }
    }
    raw.iter().map(|p| p.get_ref().clone()).collect()
}

fn one(c: &mut Checker<'_>, r: &RawIpsec, cx: &Context<'_>) -> Option<IpsecConfig> {
    let name = r.name.get_ref().clone();
    if !name_ok(&name) {
        c.err(&r.name, "an ipsec name is 1 to 24 of a-z 0-9 - _, starting with a letter");
    }
    if name.starts_with("client-") {
        // charon's connection weft-client-X is IPsec client X's
        c.err(
            &r.name,
            "an ipsec name may not start with \"client-\" (kept for IPsec clients' connections)",
        );
    }
    let remote = c.parse(&r.remote, ip);
    let local = if let Some(l) = &r.local {
        c.parse(l, ip)
    } else {
        let first = cx.uplinks.first().map(|u| u.bind.ip()).filter(|a| !a.is_unspecified());
        if first.is_none() {
            c.err(&r.name, "local is needed: the first uplink binds no specific address");
        }
        first
    };
    let raw_auth = RawAuth {
        auth: r.auth.as_ref(),
        psk_file: r.psk_file.as_ref(),
        cert_file: r.cert_file.as_ref(),
        key_file: r.key_file.as_ref(),
        ca_file: r.ca_file.as_ref(),
        remote_id: r.remote_id.as_ref(),
        local_id: r.local_id.as_ref(),
    };
    let auth = auth(c, &raw_auth, &r.name, cx.base);
    let props = proposals(c, r.proposals.as_ref(), DEFAULT_PROPOSALS);
    let esp = proposals(c, r.esp_proposals.as_ref(), DEFAULT_ESP_PROPOSALS);
    if r.remote_prefixes.is_empty() {
        c.err(&r.name, "remote_prefixes is needed (the prefixes behind the gateway)");
    }
    let remote_prefixes = prefixes(c, &r.remote_prefixes)?;
    let local_prefixes = match &r.local_prefixes {
        Some(l) => prefixes(c, l)?,
        None => cx.prefixes.to_vec(),
    };
    if local_prefixes.is_empty() {
        c.err(&r.name, "local_prefixes is needed: the site has no prefixes");
    }
    if let Some(addr) = cx.address
        && !local_prefixes.is_empty()
        && !local_prefixes.iter().any(|p| p.contains(addr))
    {
        c.err(
            &r.name,
            format!("the site's address {addr} is in none of local_prefixes (traffic and probes leave from it)"),
        );
    }
    for (p, at) in remote_prefixes.iter().zip(&r.remote_prefixes) {
        if let Some(own) = cx.prefixes.iter().find(|o| o.overlaps(p)) {
            c.err(at, format!("{p} overlaps this site's prefix {own}"));
        }
    }
    let probe = c.parse(&r.probe, ip);
    if let Some(a) = probe
        && !remote_prefixes.is_empty()
        && !remote_prefixes.iter().any(|p| p.contains(a))
    {
        c.err(&r.probe, format!("the probe {a} is in none of remote_prefixes"));
    }
    let prefer = match &r.prefer {
        None => Some(Prefer::Ipsec),
        Some(p) => match p.get_ref().as_str() {
            "wireguard" => Some(Prefer::WireGuard),
            "ipsec" => Some(Prefer::Ipsec),
            "best" => Some(Prefer::Best),
            other => {
                c.err(p, format!("prefer is \"wireguard\", \"ipsec\" or \"best\", not {other:?}"));
                None
            }
        },
    };
    let via = r.via.as_ref().map(|v| {
        check_via(c, v, &remote_prefixes, cx);
        v.get_ref().clone()
    });
    if matches!(prefer, Some(Prefer::WireGuard | Prefer::Best)) && via.is_none() {
        c.err(
            r.prefer.as_ref().unwrap_or(&r.name),
            "prefer = \"wireguard\" or \"best\" needs via (the site serving remote_prefixes)",
        );
    }
    if via.is_some() {
        // with a WireGuard alternative the data plane steers each class,
        // and it hands IPv4 only to charon
        for (p, at) in remote_prefixes.iter().zip(&r.remote_prefixes) {
            if matches!(p.addr(), IpAddr::V6(_)) {
                c.err(at, format!("{p}: with via, remote_prefixes are IPv4 only for now"));
            }
        }
    }
    Some(IpsecConfig {
        name,
        remote: remote?,
        local: local?,
        auth: auth?,
        proposals: props,
        esp_proposals: esp,
        remote_prefixes,
        local_prefixes,
        probe: probe?,
        prefer: prefer?,
        via,
    })
}

/// `via` names a static peer covering every remote prefix, or (with
/// `[mesh]`) a site the mesh may bring.
fn check_via(c: &mut Checker<'_>, v: &Spanned<String>, remote: &[IpPrefix], cx: &Context<'_>) {
    match cx.peers.iter().find(|p| p.name.as_str() == v.get_ref()) {
        Some(peer) => {
            for r in remote {
                if !peer.prefixes.iter().any(|p| p.covers(r)) {
                    c.err(v, format!("peer {:?} does not serve {r} (its prefixes must cover remote_prefixes)", v.get_ref()));
                }
            }
        }
        None if cx.mesh => {}
        None => c.err(v, format!("no [[peer]] is named {:?}", v.get_ref())),
    }
}

#[cfg(test)]
#[path = "ipsec_tests.rs"]
mod tests;
