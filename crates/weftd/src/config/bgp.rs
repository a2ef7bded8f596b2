//! The `[bgp]` section: this site announces the mesh's prefixes it can
//! reach to routers over BGP, through a BIRD 2 daemon `weftd` runs beside
//! itself with a configuration it writes and reloads.
//!
//! ```toml
//! [bgp]
//! local_as = 65001
//! router_id = "198.18.1.2"            # default: the first uplink's address
//! communities = ["65001:100"]         # added to every announcement
//! med = 50                            # MED of every announcement (optional)
//! announce_local = false              # also announce this site's own prefixes
//! dir = "bird"                        # default STATE_DIR/bird: bird.conf, bird.ctl, bird.log
//! learn = ["10.60.0.0/16"]            # on-prem ranges accepted from the routers (at most 8; default: none)
//! learn_preference = 100              # other sites prefer the edge with the highest for a prefix several learnt (default 100)
//!
//! [[bgp.neighbor]]
//! name = "dc1"                        # BIRD protocol name: a-z 0-9 _
//! address = "198.18.3.2"
//! remote_as = 65000
//! multihop = 2                        # eBGP over routed hops (default: directly connected)
//! import = true                       # learn from this router (default: true when `learn` is set)
//! ```

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;
use weft_types::IpPrefix;

use super::validate::Checker;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBgp {
    local_as: Spanned<u32>,
    router_id: Option<Spanned<String>>,
    #[serde(default)]
    communities: Vec<Spanned<String>>,
    med: Option<Spanned<u32>>,
    announce_local: Option<bool>,
    dir: Option<Spanned<String>>,
    #[serde(default)]
    learn: Vec<Spanned<String>>,
    learn_preference: Option<Spanned<u32>>,
    #[serde(default)]
    neighbor: Vec<RawNeighbor>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNeighbor {
    name: Spanned<String>,
    address: Spanned<String>,
    remote_as: Spanned<u32>,
    multihop: Option<Spanned<u8>>,
    import: Option<Spanned<bool>>,
}

/// A validated `[bgp]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpConfig {
    /// This site's AS.
    pub local_as: u32,
    /// BIRD's router id (none: the first uplink's address).
    pub router_id: Option<std::net::Ipv4Addr>,
    /// Standard communities `(asn, value)` added to every announcement.
    pub communities: Vec<(u16, u16)>,
    /// MED of every announcement.
    pub med: Option<u32>,
    /// Whether this site's own prefixes are announced too.
    pub announce_local: bool,
    /// Where BIRD's configuration, control socket and log live.
    pub dir: PathBuf,
    /// The on-prem ranges this site accepts from its routers (IPv4; a
    /// route is learnt when one of them covers it). Empty: nothing is
    /// imported.
    pub learn: Vec<IpPrefix>,
    /// Advertised with the learnt prefixes: when other sites (edges of
    /// the same data centre) learn the same prefix, every site routes it to
    /// the reachable edge with the highest preference (ties: the lowest
    /// site id). Default [`weft_mesh::node::DEFAULT_LEARN_PREFERENCE`].
    pub learn_preference: u32,
    /// The routers.
    pub neighbors: Vec<NeighborConfig>,
}

/// One `[[bgp.neighbor]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborConfig {
    /// Its BIRD protocol name.
    pub name: String,
    /// Its address.
    pub address: IpAddr,
    /// Its AS.
    pub remote_as: u32,
    /// Hops to it, when not directly connected.
    pub multihop: Option<u8>,
    /// Whether routes are learnt from it (within [`BgpConfig::learn`]).
    pub import: bool,
}

fn community(s: &str) -> Result<(u16, u16), String> {
    let bad = || format!("{s:?} is not a community ASN:VALUE (each 0..=65535)");
    let (a, v) = s.split_once(':').ok_or_else(bad)?;
    Ok((a.parse().map_err(|_| bad())?, v.parse().map_err(|_| bad())?))
}

/// One `learn` range: an IPv4 prefix without host bits, not `/0` (that
/// would take a default route from the routers into the mesh).
fn learn_range(s: &str) -> Result<IpPrefix, String> {
    let p = IpPrefix::parse_strict(s).map_err(|e| format!("learn: {e}"))?;
    if !p.addr().is_ipv4() {
        return Err(format!("learn: {s:?} is not IPv4 (BIRD's IPv6 channel is not configured)"));
    }
    if p.is_default() {
        return Err(format!("learn: {s:?} would learn every route; name the on-prem ranges"));
    }
    Ok(p)
}

/// Checks `[bgp]`; a relative `dir` is under `state_dir`.
pub(super) fn bgp(
    c: &mut Checker<'_>,
    raw: Option<&RawBgp>,
    state_dir: &Path,
) -> Option<BgpConfig> {
    let raw = raw?;
    let local_as = *raw.local_as.get_ref();
    if local_as == 0 {
        c.err(&raw.local_as, "local_as must be 1..=4294967295");
    }
    let router_id = raw.router_id.as_ref().and_then(|r| {
        c.parse(r, |s| {
            s.parse::<std::net::Ipv4Addr>().map_err(|_| format!("{s:?} is not an IPv4 address"))
        })
    });
    let communities = raw.communities.iter().filter_map(|s| c.parse(s, community)).collect();
    let learn: Vec<IpPrefix> = raw.learn.iter().filter_map(|s| c.parse(s, learn_range)).collect();
    if let Some(extra) = raw.learn.get(weft_mesh::identity::LearnRanges::MAX) {
        c.err(
            extra,
            format!(
                "at most {} learn ranges (a site certificate carries them); merge some",
                weft_mesh::identity::LearnRanges::MAX
            ),
        );
    }
    let mut neighbors: Vec<NeighborConfig> = Vec::new();
    for n in &raw.neighbor {
        let name = n.name.get_ref();
        let ok = !name.is_empty()
            && name.len() <= 32
            && name.starts_with(|ch: char| ch.is_ascii_lowercase())
            && name.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
        if !ok {
            c.err(&n.name, "a neighbor name is 1 to 32 of a-z 0-9 _, starting with a letter");
        } else if neighbors.iter().any(|m| m.name == *name) || name.starts_with("weft") {
            c.err(
                &n.name,
                format!("neighbor name {name:?} is taken (names are unique; weft* is Weft's)"),
            );
        }
        if let Some(m) = &n.multihop
            && *m.get_ref() == 0
        {
            c.err(m, "multihop is 1..=255 hops");
        }
        if let Some(i) = &n.import
            && *i.get_ref()
            && raw.learn.is_empty()
        {
            c.err(i, "import = true needs [bgp] learn: the ranges accepted from the routers");
        }
        if *n.remote_as.get_ref() == 0 {
            c.err(&n.remote_as, "remote_as must be 1..=4294967295");
        }
        if let Some(address) = c.parse(&n.address, |s| {
            s.parse::<IpAddr>().map_err(|_| format!("{s:?} is not an IP address"))
        }) {
            neighbors.push(NeighborConfig {
                name: name.clone(),
                address,
                remote_as: *n.remote_as.get_ref(),
                multihop: n.multihop.as_ref().map(|m| *m.get_ref()),
                import: n.import.as_ref().map_or(!raw.learn.is_empty(), |i| *i.get_ref()),
            });
        }
    }
    if raw.neighbor.is_empty() {
        c.err(&raw.local_as, "[bgp] needs at least one [[bgp.neighbor]]");
    }
    if let Some(p) = &raw.learn_preference
        && raw.learn.is_empty()
    {
        c.err(p, "learn_preference needs [bgp] learn: it goes with the learnt prefixes");
    }
    Some(BgpConfig {
        local_as,
        router_id,
        communities,
        med: raw.med.as_ref().map(|m| *m.get_ref()),
        announce_local: raw.announce_local.unwrap_or(false),
        dir: raw
            .dir
            .as_ref()
            .map_or_else(|| state_dir.join("bird"), |d| state_dir.join(d.get_ref())),
        learn,
        learn_preference: raw
            .learn_preference
            .as_ref()
            .map_or(weft_mesh::node::DEFAULT_LEARN_PREFERENCE, |p| *p.get_ref()),
        neighbors,
    })
}
