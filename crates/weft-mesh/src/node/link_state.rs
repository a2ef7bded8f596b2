//! Link-state advertisements: each site's measured paths to its neighbours,
//! signed by the site's key and sent to every admitted member.
//!
//! Wire form of a [`LinkStateAd`] (all integers big-endian):
//!
//! ```text
//! "WFTL" ‖ u8 len ‖ origin site ‖ u64 version ‖ u8 count ‖ entries ‖ Ed25519 signature (64)
//! entry: u8 len ‖ neighbour site ‖ u32 rtt_us ‖ u32 jitter_us ‖ u32 loss_ppm ‖ u32 capacity_kbps ‖ u8 state ‖ u8 len ‖ via site
//! ```
//!
//! `state` is 0 (down), 1 (up) or 2 (relayed only: the origin has no direct
//! path to the neighbour by topology, and reaches it through `via`, which
//! must then be present). A `via` of length 0 is none.
//!
//! The signature covers every byte before it. [`LinkStore`] keeps the
//! newest advertisement per origin and forgets old ones.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use weft_types::{SiteId, WireReader};

use super::frame::FrameError;
use crate::identity::{SiteKey, SitePublicKey};

/// Most entries in one advertisement.
pub const MAX_LINK_ENTRIES: usize = 64;

const MAGIC: [u8; 4] = *b"WFTL";
const SIG_LEN: usize = 64;

/// One measured path from the origin to a neighbour site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkEntry {
    /// The site at the other end.
    pub neighbour: SiteId,
    /// Smoothed round-trip time, microseconds.
    pub rtt_us: u32,
    /// Jitter, microseconds.
    pub jitter_us: u32,
    /// Loss, parts per million.
    pub loss_ppm: u32,
    /// Estimated capacity, kbit/s.
    pub capacity_kbps: u32,
    /// Whether the path is usable now.
    pub up: bool,
    /// The origin has no direct path to `neighbour` at all (a spoke and
    /// another spoke of a hub-and-spoke mesh): `up` is false and `via` names
    /// the relay. Not a cut link: nobody forwards the neighbour's
    /// advertisements to the origin for it.
    pub relayed_only: bool,
    /// The site the origin sends (some of) its traffic for `neighbour`
    /// through, if it relays any: the neighbour accepts the origin's
    /// addresses from that relay on the origin's signed word.
    pub via: Option<SiteId>,
}

/// A signed advertisement of one origin's links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkStateAd {
    /// The site that measured these links and signed the advertisement.
    pub origin: SiteId,
    /// Strictly increasing per origin, across restarts.
    pub version: u64,
    /// The links (at most [`MAX_LINK_ENTRIES`]).
    pub entries: Vec<LinkEntry>,
    /// The origin's site-key signature over everything above.
    pub signature: [u8; 64],
}

fn put_site(out: &mut Vec<u8>, s: &SiteId) {
    out.push(s.as_str().len() as u8);
    out.extend_from_slice(s.as_str().as_bytes());
}

fn signed_part(origin: &SiteId, version: u64, entries: &[LinkEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + entries.len() * 32);
    out.extend_from_slice(&MAGIC);
    put_site(&mut out, origin);
    out.extend_from_slice(&version.to_be_bytes());
    out.push(entries.len() as u8);
    for e in entries {
        put_site(&mut out, &e.neighbour);
        for v in [e.rtt_us, e.jitter_us, e.loss_ppm, e.capacity_kbps] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.push(if e.relayed_only { 2 } else { u8::from(e.up) });
        match &e.via {
            Some(v) => put_site(&mut out, v),
            None => out.push(0),
        }
    }
    out
}

fn trunc(_: weft_types::WireError) -> FrameError {
    FrameError::Truncated { what: "link-state advertisement" }
}

fn read_site(r: &mut WireReader<'_>) -> Result<SiteId, FrameError> {
    let n = usize::from(r.u8().map_err(trunc)?);
    site_of(r.bytes(n).map_err(trunc)?)
}

fn site_of(raw: &[u8]) -> Result<SiteId, FrameError> {
    let s = std::str::from_utf8(raw)
        .map_err(|e| FrameError::Invalid { what: "link-state site id", reason: e.to_string() })?;
    SiteId::new(s)
        .map_err(|e| FrameError::Invalid { what: "link-state site id", reason: e.to_string() })
}

impl LinkStateAd {
    /// Builds and signs an advertisement with `key`.
    pub fn sign(
        key: &SiteKey,
        origin: SiteId,
        version: u64,
        entries: Vec<LinkEntry>,
    ) -> Result<Self, FrameError> {
        if entries.len() > MAX_LINK_ENTRIES {
            return Err(FrameError::TooLong {
                what: "link-state entries",
                len: entries.len(),
                max: MAX_LINK_ENTRIES,
            });
        }
        let signature = key.sign(&signed_part(&origin, version, &entries));
        Ok(Self { origin, version, entries, signature })
    }

    /// Whether the signature was made by `key`.
    pub fn verify(&self, key: &SitePublicKey) -> bool {
        self.entries.len() <= MAX_LINK_ENTRIES
            && key
                .verifies(&signed_part(&self.origin, self.version, &self.entries), &self.signature)
    }

    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = signed_part(&self.origin, self.version, &self.entries);
        out.extend_from_slice(&self.signature);
        out
    }

    /// Parses the wire form; checks the format only (see [`Self::verify`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        let mut r = WireReader::new(bytes);
        if r.array::<4>().map_err(trunc)? != MAGIC {
            return Err(FrameError::Invalid {
                what: "link-state advertisement",
                reason: "bad magic".into(),
            });
        }
        let origin = read_site(&mut r)?;
        let version = r.u64().map_err(trunc)?;
        let count = usize::from(r.u8().map_err(trunc)?);
        if count > MAX_LINK_ENTRIES {
            return Err(FrameError::TooLong {
                what: "link-state entries",
                len: count,
                max: MAX_LINK_ENTRIES,
            });
        }
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            let neighbour = read_site(&mut r)?;
            let mut v = [0u32; 4];
            for x in &mut v {
                *x = r.u32().map_err(trunc)?;
            }
            let (up, relayed_only) = match r.u8().map_err(trunc)? {
                0 => (false, false),
                1 => (true, false),
                2 => (false, true),
                b => {
                    return Err(FrameError::Invalid {
                        what: "link-state entry",
                        reason: format!("state is {b}, not 0 (down), 1 (up) or 2 (relayed only)"),
                    });
                }
            };
            let [rtt_us, jitter_us, loss_ppm, capacity_kbps] = v;
            let n = usize::from(r.u8().map_err(trunc)?);
            let via = if n == 0 { None } else { Some(site_of(r.bytes(n).map_err(trunc)?)?) };
            if relayed_only && via.is_none() {
                return Err(FrameError::Invalid {
                    what: "link-state entry",
                    reason: "relayed only, but names no relay".into(),
                });
            }
            entries.push(LinkEntry {
                neighbour,
                rtt_us,
                jitter_us,
                loss_ppm,
                capacity_kbps,
                up,
                relayed_only,
                via,
            });
        }
        let signature: [u8; SIG_LEN] = r.array().map_err(trunc)?;
        if r.remaining() != 0 {
            return Err(FrameError::Invalid {
                what: "link-state advertisement",
                reason: format!("{} trailing bytes", r.remaining()),
            });
        }
        Ok(Self { origin, version, entries, signature })
    }
}

/// Why an advertisement was not taken (already verified ones only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Newer than the one held: stored.
    Taken,
    /// Not newer than the one held: ignored.
    Stale,
}

#[derive(Clone, Debug)]
struct Held {
    ad: LinkStateAd,
    at: Instant,
}

/// The newest verified advertisement per origin, with when it arrived.
#[derive(Clone, Debug, Default)]
pub(crate) struct LinkStore {
    held: BTreeMap<SiteId, Held>,
}

impl LinkStore {
    /// Stores `ad` (signature already checked) if it is newer.
    pub(crate) fn offer(&mut self, now: Instant, ad: LinkStateAd) -> Offer {
        if self.held.get(&ad.origin).is_some_and(|h| h.ad.version >= ad.version) {
            return Offer::Stale;
        }
        self.held.insert(ad.origin.clone(), Held { ad, at: now });
        Offer::Taken
    }

    /// Whether an advertisement of `origin` at `version` would be stale (a
    /// duplicate or older): checked before its signature, which costs more.
    pub(crate) fn is_stale(&self, origin: &SiteId, version: u64) -> bool {
        self.held.get(origin).is_some_and(|h| h.ad.version >= version)
    }

    /// Forgets `origin`'s advertisement.
    pub(crate) fn remove(&mut self, origin: &SiteId) {
        self.held.remove(origin);
    }

    /// Forgets advertisements older than `max_age`, except `keep`'s (our own).
    pub(crate) fn expire(&mut self, now: Instant, max_age: Duration, keep: &SiteId) {
        self.held.retain(|site, h| site == keep || now.saturating_duration_since(h.at) < max_age);
    }

    /// The advertisements younger than `max_age` at `now` (and `keep`'s).
    pub(crate) fn fresh<'a>(
        &'a self,
        now: Instant,
        max_age: Duration,
        keep: &'a SiteId,
    ) -> impl Iterator<Item = (&'a SiteId, &'a LinkStateAd)> + 'a {
        self.held
            .iter()
            .filter(move |(s, h)| *s == keep || now.saturating_duration_since(h.at) < max_age)
            .map(|(s, h)| (s, &h.ad))
    }
}
