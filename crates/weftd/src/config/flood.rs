//! The `[flood]` section: limits on handshake initiations before any crypto,
//! flood detection, and the nftables mitigation hook (docs/flood.md).
//!
//! ```toml
//! [flood]
//! handshakes_per_source = 20     # initiations/s one source address may send
//! source_burst = 40
//! handshakes = 200               # initiations/s for the site before it asks for cookies
//! burst = 400
//! cookie_replies = 2000          # cookie replies/s at most
//! detect_factor = 4.0            # anomalous above factor x the learnt baseline...
//! detect_min_pps = 20000         # ...and above this many datagrams/s per uplink
//! prefix_min_pps = 10000         # ...or inner packets/s toward one of the site's prefixes
//! mitigate = true                # add the heaviest sources to an nftables set (default false)
//! nft_table = "weftd"            # the inet table weftd owns (created, and replaced, at start)
//! block = "60s"                  # how long a source stays in the set
//! top_sources = 256              # sources added per second of anomaly at most
//! min_source_pps = 50            # a source below this rate is never added
//! ```

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use weft_types::parse_duration;

use super::validate::Checker;

/// `[flood]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFlood {
    pub(crate) handshakes_per_source: Option<Spanned<u32>>,
    pub(crate) source_burst: Option<Spanned<u32>>,
    pub(crate) handshakes: Option<Spanned<u32>>,
    pub(crate) burst: Option<Spanned<u32>>,
    pub(crate) cookie_replies: Option<Spanned<u32>>,
    pub(crate) detect_factor: Option<Spanned<f64>>,
    pub(crate) detect_min_pps: Option<Spanned<u32>>,
    pub(crate) prefix_min_pps: Option<Spanned<u32>>,
    pub(crate) mitigate: Option<bool>,
    pub(crate) nft_table: Option<Spanned<String>>,
    pub(crate) block: Option<Spanned<String>>,
    pub(crate) top_sources: Option<Spanned<u32>>,
    pub(crate) min_source_pps: Option<Spanned<u32>>,
}

/// A validated `[flood]` section (defaults when absent: limits on,
/// detection on, mitigation off).
#[derive(Debug, Clone, PartialEq)]
pub struct FloodConfig {
    /// Handshake initiations per second from one source address.
    pub handshakes_per_source: u32,
    /// Burst of one source.
    pub source_burst: u32,
    /// Handshake initiations per second for the site without a cookie.
    pub handshakes: u32,
    /// Burst of the site.
    pub burst: u32,
    /// Cookie replies per second at most.
    pub cookie_replies: u32,
    /// Anomalous above this factor times the learnt baseline.
    pub detect_factor: f64,
    /// …and above this many datagrams per second on an uplink.
    pub detect_min_pps: u32,
    /// …and above this many inner packets per second toward one prefix.
    pub prefix_min_pps: u32,
    /// Add the heaviest sources of an anomaly to the nftables set.
    pub mitigate: bool,
    /// The nftables `inet` table weftd owns.
    pub nft_table: String,
    /// How long a source stays in the set.
    pub block: Duration,
    /// Sources added per second of anomaly at most.
    pub top_sources: u32,
    /// Sources sending less than this per second are never added.
    pub min_source_pps: u32,
}

impl Default for FloodConfig {
    fn default() -> Self {
        Self {
            handshakes_per_source: 20,
            source_burst: 40,
            handshakes: 200,
            burst: 400,
            cookie_replies: 2000,
            detect_factor: 4.0,
            detect_min_pps: 20_000,
            prefix_min_pps: 10_000,
            mitigate: false,
            nft_table: "weftd".to_owned(),
            block: Duration::from_mins(1),
            top_sources: 256,
            min_source_pps: 50,
        }
    }
}

/// Checks `[flood]`.
pub(super) fn flood(c: &mut Checker<'_>, raw: Option<&RawFlood>) -> FloodConfig {
    let d = FloodConfig::default();
    let Some(raw) = raw else { return d };
    let mut rate = |v: Option<&Spanned<u32>>, default: u32, max: u32, what: &str| match v {
        Some(s) if !(1..=max).contains(s.get_ref()) => {
            c.err(s, format!("{what} must be 1..={max}"));
            default
        }
        Some(s) => *s.get_ref(),
        None => default,
    };
    let handshakes_per_source = rate(
        raw.handshakes_per_source.as_ref(),
        d.handshakes_per_source,
        1_000_000,
        "handshakes_per_source",
    );
    let source_burst = rate(raw.source_burst.as_ref(), d.source_burst, 1_000_000, "source_burst");
    let handshakes = rate(raw.handshakes.as_ref(), d.handshakes, 10_000_000, "handshakes");
    let burst = rate(raw.burst.as_ref(), d.burst, 10_000_000, "burst");
    let cookie_replies =
        rate(raw.cookie_replies.as_ref(), d.cookie_replies, 10_000_000, "cookie_replies");
    let detect_min_pps =
        rate(raw.detect_min_pps.as_ref(), d.detect_min_pps, 100_000_000, "detect_min_pps");
    let prefix_min_pps =
        rate(raw.prefix_min_pps.as_ref(), d.prefix_min_pps, 100_000_000, "prefix_min_pps");
    let top_sources = rate(raw.top_sources.as_ref(), d.top_sources, 65_536, "top_sources");
    let min_source_pps =
        rate(raw.min_source_pps.as_ref(), d.min_source_pps, 100_000_000, "min_source_pps");
    let detect_factor = match &raw.detect_factor {
        Some(f) if !(f.get_ref().is_finite() && *f.get_ref() > 1.0 && *f.get_ref() <= 1000.0) => {
            c.err(f, "detect_factor must be a number above 1 and at most 1000");
            d.detect_factor
        }
        Some(f) => *f.get_ref(),
        None => d.detect_factor,
    };
    let nft_table = match &raw.nft_table {
        Some(t) if !valid_table(t.get_ref()) => {
            c.err(t, "nft_table must be 1 to 32 of a-z, 0-9 and _, starting with a letter");
            d.nft_table.clone()
        }
        Some(t) => t.get_ref().clone(),
        None => d.nft_table.clone(),
    };
    let block = raw.block.as_ref().map_or(d.block, |b| match c.parse(b, parse_duration) {
        Some(v) if (1..=86_400).contains(&v.as_secs()) && v.subsec_nanos() == 0 => v,
        Some(_) => {
            c.err(b, "block is whole seconds, 1s..=1d");
            d.block
        }
        None => d.block,
    });
    FloodConfig {
        handshakes_per_source,
        source_burst,
        handshakes,
        burst,
        cookie_replies,
        detect_factor,
        detect_min_pps,
        prefix_min_pps,
        mitigate: raw.mitigate.unwrap_or(d.mitigate),
        nft_table,
        block,
        top_sources,
        min_source_pps,
    }
}

/// An nftables table name Weft accepts: safe in a command line and a script.
fn valid_table(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name.starts_with(|ch: char| ch.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}
