//! The `[dns]` section: this site is an authoritative DNS server for the
//! mesh's global services (GTM).
//!
//! ```toml
//! [dns]
//! listen = "0.0.0.0:53"                 # UDP and TCP (default 0.0.0.0:53)
//! zone = "gtm.example.com"              # the zone answered; services are NAME.ZONE
//! nameservers = ["ns1.gtm.example.com"] # NS records (default: ns1.ZONE)
//! ns_address = "198.18.4.2"             # glue for in-zone nameservers (default: the site address)
//! ttl = "30s"                           # answers' TTL unless a service sets its own
//! negative_ttl = "30s"                  # NXDOMAIN / no-data caching (the SOA minimum)
//! answers = 1                           # A/AAAA records per answer (1..=8)
//! workers = 2                           # threads answering (1..=16)
//! default_region = "local"              # clients no prefix matches; measured from this site
//!
//! [[dns.region]]
//! name = "eu"
//! prefixes = ["10.10.1.0/24", "203.0.113.0/24"]   # clients (ECS subnet, or the resolver's address)
//! sites = ["paris"]                                # where RTT from this region is measured
//! ```

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use weft_types::{IpPrefix, SiteId, parse_duration};

use super::raw::RawDns;
use super::validate::Checker;

/// One region of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionConfig {
    /// Its name.
    pub name: String,
    /// Client prefixes in it.
    pub prefixes: Vec<IpPrefix>,
    /// Sites whose measured RTT stands for the region (none: this site's).
    pub sites: Vec<SiteId>,
}

/// A validated `[dns]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// UDP and TCP listen address.
    pub listen: SocketAddr,
    /// The zone, lower case, without the trailing dot.
    pub zone: String,
    /// NS names, lower case, without trailing dots.
    pub nameservers: Vec<String>,
    /// Glue address for in-zone nameservers (none: the site's address).
    pub ns_address: Option<IpAddr>,
    /// Default answer TTL.
    pub ttl: Duration,
    /// Negative-answer TTL (SOA minimum).
    pub negative_ttl: Duration,
    /// Records per answer.
    pub answers: u32,
    /// Answering threads.
    pub workers: u32,
    /// The region of clients no prefix matches.
    pub default_region: String,
    /// The region table.
    pub regions: Vec<RegionConfig>,
}

/// Whether `name` is a domain name Weft serves: dot-separated labels of
/// `a-z 0-9 -`, at most 253 bytes.
fn domain(name: &str) -> Result<String, String> {
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    let ok = !n.is_empty() && n.len() <= 253 && n.split('.').all(weft_gtm::model::is_label);
    if ok {
        Ok(n)
    } else {
        Err(format!("{name:?} is not a domain name (labels of a-z, 0-9 and -, at most 253 bytes)"))
    }
}

fn ttl(c: &mut Checker<'_>, raw: Option<&toml::Spanned<String>>, default: u64) -> Duration {
    let Some(t) = raw else { return Duration::from_secs(default) };
    match c.parse(t, parse_duration) {
        Some(d) if (1..=86_400).contains(&d.as_secs()) && d.subsec_nanos() == 0 => d,
        Some(_) => {
            c.err(t, "a TTL is whole seconds, 1s..=1d");
            Duration::from_secs(default)
        }
        None => Duration::from_secs(default),
    }
}

/// Checks `[dns]`.
pub(super) fn dns(c: &mut Checker<'_>, raw: Option<&RawDns>, _site: &str) -> Option<DnsConfig> {
    let raw = raw?;
    let listen = raw
        .listen
        .as_ref()
        .map_or_else(
            || SocketAddr::from_str("0.0.0.0:53").ok(),
            |l| c.parse(l, SocketAddr::from_str),
        )
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 53)));
    let zone = c.parse(&raw.zone, domain).unwrap_or_default();
    let mut nameservers: Vec<String> =
        raw.nameservers.iter().filter_map(|n| c.parse(n, domain)).collect();
    if nameservers.is_empty() {
        nameservers.push(format!("ns1.{zone}"));
    }
    let ns_address = raw.ns_address.as_ref().and_then(|a| c.parse(a, IpAddr::from_str));
    let ttl_default = ttl(c, raw.ttl.as_ref(), 30);
    let negative_ttl = ttl(c, raw.negative_ttl.as_ref(), 30);
    let answers = raw.answers.as_ref().map_or(1, |a| {
        if !(1..=8).contains(a.get_ref()) {
            c.err(a, "answers must be 1..=8");
        }
        *a.get_ref()
    });
    let workers = raw.workers.as_ref().map_or(2, |w| {
        if !(1..=16).contains(w.get_ref()) {
            c.err(w, "workers must be 1..=16");
        }
        *w.get_ref()
    });
    let mut names = BTreeSet::new();
    let mut regions = Vec::new();
    for r in &raw.region {
        let name = r.name.get_ref().clone();
        if !weft_gtm::model::is_label(&name) {
            c.err(&r.name, "a region name is a DNS label: 1 to 63 of a-z, 0-9 and -");
        } else if !names.insert(name.clone()) {
            c.err(&r.name, format!("region {name:?} is defined twice"));
        }
        let prefixes =
            r.prefixes.iter().filter_map(|p| c.parse(p, IpPrefix::parse_strict)).collect();
        let sites = r.sites.iter().filter_map(|s| c.parse(s, SiteId::new)).collect();
        regions.push(RegionConfig { name, prefixes, sites });
    }
    let default_region = match &raw.default_region {
        Some(d) if !weft_gtm::model::is_label(d.get_ref()) => {
            c.err(d, "a region name is a DNS label: 1 to 63 of a-z, 0-9 and -");
            "local".to_owned()
        }
        Some(d) => d.get_ref().clone(),
        None => "local".to_owned(),
    };
    Some(DnsConfig {
        listen,
        zone,
        nameservers,
        ns_address,
        ttl: ttl_default,
        negative_ttl,
        answers,
        workers,
        default_region,
        regions,
    })
}
