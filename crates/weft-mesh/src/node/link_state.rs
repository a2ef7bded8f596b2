//! Link-state advertisements: each site's measured paths to its neighbours,
//! signed by the site's key and sent to every admitted member.
//!
//! A site's links are split into **pages** of at most [`MAX_LINK_ENTRIES`]
//! entries (one UDP datagram each); a page is a [`LinkStateAd`]. Every page
//! of one origination carries the same `version` and the same page count,
//! and each is signed on its own. Wire form of a page (all integers
//! big-endian):
//!
//! ```text
//! "WFTP" ‖ u8 len ‖ origin site ‖ u64 version ‖ u8 page ‖ u8 pages ‖ u8 count ‖ entries ‖ [learnt [preference]] ‖ Ed25519 signature (64)
//! entry: u8 len ‖ neighbour site ‖ u32 rtt_us ‖ u32 jitter_us ‖ u32 loss_ppm ‖ u32 capacity_kbps ‖ u8 state ‖ u8 len ‖ via site
//! learnt: u8 count ‖ count × (u8 family 4|6 ‖ address (4|16) ‖ u8 prefix length)
//! preference: u32 (the origin's learn preference; absent when it is the default)
//! ```
//!
//! `pages` is 1 to [`MAX_LINK_PAGES`] and `page` below it; `count` is at
//! most [`MAX_LINK_ENTRIES`]. A site with no links sends one empty page.
//! `state` is 0 (down), 1 (up) or 2 (relayed only: the origin has no direct
//! path to the neighbour by topology, and reaches it through `via`, which
//! must then be present). A `via` of length 0 is none.
//!
//! `learnt` is on page 0 only, and only when the origin has learnt prefixes
//! to advertise: the on-prem prefixes it learnt from its routers over BGP
//! and accepted (1 to [`MAX_LEARNT_PREFIXES`], no host bits). A page without
//! it has the bytes it had before the field existed. A newer version
//! without a prefix withdraws it; receivers take one only inside the
//! origin's certified learn ranges (see `learnt`).
//!
//! `preference` follows `learnt` (so only on page 0, only with learnt
//! prefixes), and only when it is not [`DEFAULT_LEARN_PREFERENCE`]: when
//! several sites advertise the same learnt prefix, receivers route it to the
//! reachable one with the highest preference (see `edge_choice`). A page
//! with the default preference has the bytes it had before the field
//! existed; the default written out is refused (one encoding per page).
//!
//! The signature covers every byte before it, the page index and count
//! included, so a page cannot be passed off as another page or as part of a
//! set of another size. How receivers put pages together is in
//! `link_store`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use weft_types::{IpPrefix, SiteId, WireReader};

use super::frame::FrameError;
use crate::identity::{SiteKey, SitePublicKey};

/// Most entries in one page (one datagram).
pub const MAX_LINK_ENTRIES: usize = 64;

/// Most pages in one site's advertisement: at most
/// `MAX_LINK_PAGES × MAX_LINK_ENTRIES` (2 048) links per site.
pub const MAX_LINK_PAGES: usize = 32;

/// Most links one site advertises, over all its pages.
pub const MAX_LINKS: usize = MAX_LINK_PAGES * MAX_LINK_ENTRIES;

/// Most learnt prefixes one origin advertises (on its page 0).
pub const MAX_LEARNT_PREFIXES: usize = 64;

/// The learn preference of an origin that advertises none (BGP's default
/// local preference): higher is preferred.
pub const DEFAULT_LEARN_PREFERENCE: u32 = 100;

const MAGIC: [u8; 4] = *b"WFTP";
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

/// One signed page of an origin's advertisement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkStateAd {
    /// The site that measured these links and signed the advertisement.
    pub origin: SiteId,
    /// Strictly increasing per origin, across restarts; the same on every
    /// page of one origination.
    pub version: u64,
    /// This page's index, below `pages`.
    pub page: u8,
    /// How many pages this version has (1 to [`MAX_LINK_PAGES`]).
    pub pages: u8,
    /// This page's links (at most [`MAX_LINK_ENTRIES`]).
    pub entries: Vec<LinkEntry>,
    /// Page 0 only: the on-prem prefixes the origin learnt over BGP and
    /// advertises into the mesh (at most [`MAX_LEARNT_PREFIXES`]).
    pub learnt: Vec<IpPrefix>,
    /// Page 0 with learnt prefixes only (else [`DEFAULT_LEARN_PREFERENCE`]):
    /// how much the origin asks to be preferred for them over other sites
    /// advertising the same prefix (higher wins).
    pub learn_preference: u32,
    /// The origin's site-key signature over everything above.
    pub signature: [u8; 64],
}

fn put_site(out: &mut Vec<u8>, s: &SiteId) {
    out.push(s.as_str().len() as u8);
    out.extend_from_slice(s.as_str().as_bytes());
}

/// Where a page sits in its version: (page, pages).
type PageOf = (u8, u8);

fn signed_part(
    origin: &SiteId,
    version: u64,
    (page, pages): PageOf,
    entries: &[LinkEntry],
    (learnt, preference): (&[IpPrefix], u32),
) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + entries.len() * 32);
    out.extend_from_slice(&MAGIC);
    put_site(&mut out, origin);
    out.extend_from_slice(&version.to_be_bytes());
    out.push(page);
    out.push(pages);
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
    if !learnt.is_empty() {
        out.push(learnt.len() as u8);
        for p in learnt {
            match p.addr() {
                IpAddr::V4(a) => {
                    out.push(4);
                    out.extend_from_slice(&a.octets());
                }
                IpAddr::V6(a) => {
                    out.push(6);
                    out.extend_from_slice(&a.octets());
                }
            }
            out.push(p.prefix_len());
        }
        if preference != DEFAULT_LEARN_PREFERENCE {
            out.extend_from_slice(&preference.to_be_bytes());
        }
    }
    out
}

fn read_prefix(r: &mut WireReader<'_>) -> Result<IpPrefix, FrameError> {
    let addr = match r.u8().map_err(trunc)? {
        4 => IpAddr::V4(Ipv4Addr::from(r.array::<4>().map_err(trunc)?)),
        6 => IpAddr::V6(Ipv6Addr::from(r.array::<16>().map_err(trunc)?)),
        f => return Err(learnt_invalid(format!("address family {f}, not 4 or 6"))),
    };
    let len = r.u8().map_err(trunc)?;
    let p = IpPrefix::new(addr, len).map_err(|e| learnt_invalid(e.to_string()))?;
    if p.addr() != addr {
        return Err(learnt_invalid(format!("{addr}/{len} has host bits set")));
    }
    Ok(p)
}

fn learnt_invalid(reason: String) -> FrameError {
    FrameError::Invalid { what: "link-state learnt prefix", reason }
}

/// Refuses a learnt list off page 0 or longer than [`MAX_LEARNT_PREFIXES`].
fn check_learnt(page: u8, len: usize) -> Result<(), FrameError> {
    if len > MAX_LEARNT_PREFIXES {
        return Err(FrameError::TooLong {
            what: "link-state learnt prefixes",
            len,
            max: MAX_LEARNT_PREFIXES,
        });
    }
    if page != 0 && len != 0 {
        return Err(learnt_invalid(format!(
            "learnt prefixes on page {page}; only page 0 has them"
        )));
    }
    Ok(())
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

fn check_page((page, pages): PageOf) -> Result<(), FrameError> {
    if pages == 0 || usize::from(pages) > MAX_LINK_PAGES {
        return Err(FrameError::Invalid {
            what: "link-state page count",
            reason: format!("{pages} pages; 1 to {MAX_LINK_PAGES} allowed"),
        });
    }
    if page >= pages {
        return Err(FrameError::Invalid {
            what: "link-state page",
            reason: format!("page {page} of {pages}"),
        });
    }
    Ok(())
}

impl LinkStateAd {
    /// Builds and signs a one-page advertisement with `key` (at most
    /// [`MAX_LINK_ENTRIES`] entries; [`Self::sign_pages`] for more).
    pub fn sign(
        key: &SiteKey,
        origin: SiteId,
        version: u64,
        entries: Vec<LinkEntry>,
    ) -> Result<Self, FrameError> {
        Self::sign_page(key, origin, version, (0, 1), entries)
    }

    /// Builds and signs page `page` of `pages` with `key`, without learnt
    /// prefixes.
    pub fn sign_page(
        key: &SiteKey,
        origin: SiteId,
        version: u64,
        (page, pages): (u8, u8),
        entries: Vec<LinkEntry>,
    ) -> Result<Self, FrameError> {
        let learnt = (Vec::new(), DEFAULT_LEARN_PREFERENCE);
        Self::sign_page_learnt(key, origin, version, (page, pages), entries, learnt)
    }

    /// Builds and signs page `page` of `pages` with `key`, carrying
    /// `learnt` (page 0 only, at most [`MAX_LEARNT_PREFIXES`]) and the
    /// learn preference (kept only with learnt prefixes).
    pub fn sign_page_learnt(
        key: &SiteKey,
        origin: SiteId,
        version: u64,
        (page, pages): (u8, u8),
        entries: Vec<LinkEntry>,
        (learnt, preference): (Vec<IpPrefix>, u32),
    ) -> Result<Self, FrameError> {
        check_page((page, pages))?;
        check_learnt(page, learnt.len())?;
        if entries.len() > MAX_LINK_ENTRIES {
            return Err(FrameError::TooLong {
                what: "link-state entries",
                len: entries.len(),
                max: MAX_LINK_ENTRIES,
            });
        }
        let learn_preference =
            if learnt.is_empty() { DEFAULT_LEARN_PREFERENCE } else { preference };
        let signed =
            signed_part(&origin, version, (page, pages), &entries, (&learnt, learn_preference));
        let signature = key.sign(&signed);
        Ok(Self { origin, version, page, pages, entries, learnt, learn_preference, signature })
    }

    /// Splits `entries` into pages of at most [`MAX_LINK_ENTRIES`], in order,
    /// and signs each with `key` under one `version` (one empty page if
    /// there are none). More than [`MAX_LINKS`] entries is an error.
    pub fn sign_pages(
        key: &SiteKey,
        origin: &SiteId,
        version: u64,
        entries: &[LinkEntry],
    ) -> Result<Vec<Self>, FrameError> {
        Self::sign_pages_learnt(key, origin, version, entries, (&[], DEFAULT_LEARN_PREFERENCE))
    }

    /// Like [`Self::sign_pages`], with `learnt` on page 0 (at most
    /// [`MAX_LEARNT_PREFIXES`]) and the learn preference beside them.
    pub fn sign_pages_learnt(
        key: &SiteKey,
        origin: &SiteId,
        version: u64,
        entries: &[LinkEntry],
        (learnt, preference): (&[IpPrefix], u32),
    ) -> Result<Vec<Self>, FrameError> {
        if entries.len() > MAX_LINKS {
            return Err(FrameError::TooLong {
                what: "link-state entries",
                len: entries.len(),
                max: MAX_LINKS,
            });
        }
        let pages = entries.len().div_ceil(MAX_LINK_ENTRIES).max(1);
        let pages = u8::try_from(pages).unwrap_or(u8::MAX);
        (0..pages)
            .map(|page| {
                let from = usize::from(page) * MAX_LINK_ENTRIES;
                let chunk = &entries[from..(from + MAX_LINK_ENTRIES).min(entries.len())];
                let mine = if page == 0 { learnt.to_vec() } else { Vec::new() };
                Self::sign_page_learnt(
                    key,
                    origin.clone(),
                    version,
                    (page, pages),
                    chunk.to_vec(),
                    (mine, preference),
                )
            })
            .collect()
    }

    /// Whether the signature was made by `key` (and the page is well formed).
    pub fn verify(&self, key: &SitePublicKey) -> bool {
        self.entries.len() <= MAX_LINK_ENTRIES
            && check_page((self.page, self.pages)).is_ok()
            && check_learnt(self.page, self.learnt.len()).is_ok()
            && (!self.learnt.is_empty() || self.learn_preference == DEFAULT_LEARN_PREFERENCE)
            && key.verifies(&self.signed_part(), &self.signature)
    }

    fn signed_part(&self) -> Vec<u8> {
        signed_part(
            &self.origin,
            self.version,
            (self.page, self.pages),
            &self.entries,
            (&self.learnt, self.learn_preference),
        )
    }

    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.signed_part();
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
        let page = r.u8().map_err(trunc)?;
        let pages = r.u8().map_err(trunc)?;
        check_page((page, pages))?;
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
        let mut learnt = Vec::new();
        if r.remaining() > SIG_LEN {
            let n = usize::from(r.u8().map_err(trunc)?);
            if n == 0 {
                return Err(learnt_invalid("an empty list is written by leaving it out".into()));
            }
            check_learnt(page, n)?;
            for _ in 0..n {
                learnt.push(read_prefix(&mut r)?);
            }
        }
        let mut learn_preference = DEFAULT_LEARN_PREFERENCE;
        if !learnt.is_empty() && r.remaining() > SIG_LEN {
            learn_preference = r.u32().map_err(trunc)?;
            if learn_preference == DEFAULT_LEARN_PREFERENCE {
                return Err(FrameError::Invalid {
                    what: "link-state learn preference",
                    reason: "the default is written by leaving it out".into(),
                });
            }
        }
        let signature: [u8; SIG_LEN] = r.array().map_err(trunc)?;
        if r.remaining() != 0 {
            return Err(FrameError::Invalid {
                what: "link-state advertisement",
                reason: format!("{} trailing bytes", r.remaining()),
            });
        }
        Ok(Self { origin, version, page, pages, entries, learnt, learn_preference, signature })
    }
}
