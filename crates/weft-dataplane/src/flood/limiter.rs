//! Per-source and global limits on handshake initiations, checked before
//! any cryptography.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use super::TokenBucket;

/// Limits of a [`HandshakeLimiter`]. Rates are per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterConfig {
    /// Initiations one source address may send per second (a peer sends one
    /// every 5 s while it retries, and one per 2 minutes to rekey).
    pub per_source_rate: u32,
    /// Burst allowed to one source.
    pub per_source_burst: u32,
    /// Initiations per second, all sources together, that go to the crypto
    /// without a cookie; above it the site is *under load* and asks for
    /// WireGuard's cookie (MAC2).
    pub global_rate: u32,
    /// Burst of the global limit.
    pub global_burst: u32,
    /// Cookie replies sent per second at most (the rest of the initiations
    /// without a valid cookie are dropped silently).
    pub cookie_reply_rate: u32,
    /// Source addresses remembered at most (two generations of half each;
    /// a source not seen for a generation starts afresh).
    pub max_sources: usize,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        Self {
            per_source_rate: 20,
            per_source_burst: 40,
            global_rate: 200,
            global_burst: 400,
            cookie_reply_rate: 2000,
            max_sources: 65_536,
        }
    }
}

/// What to do with one handshake initiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitVerdict {
    /// Under every limit: check it (MAC1, then the handshake itself).
    Accept,
    /// Its source is over its own limit: drop it, no crypto, no reply.
    DropSource,
    /// The site is over its global limit: accept it only with a valid
    /// cookie (MAC2); without one, answer with a cookie reply if `may_reply`,
    /// else drop it silently.
    UnderLoad {
        /// A cookie reply token was available.
        may_reply: bool,
    },
}

#[derive(Debug, Clone)]
struct Source {
    bucket: TokenBucket,
    /// Datagrams seen from it since the last [`HandshakeLimiter::take_top`].
    hits: u32,
}

/// Rate limits on handshake initiations by source address and for the whole
/// site, plus per-source counts of unauthenticated datagrams for the flood
/// detector. Sans-IO: time comes in as `now`; the caller does the I/O and
/// the cryptography.
///
/// Drive it with [`handle_initiation`](Self::handle_initiation) for each
/// initiation (before MAC1 or X25519), [`note_junk`](Self::note_junk) for
/// other unauthenticated datagrams, and read the heaviest sources with
/// [`take_top`](Self::take_top) (which starts a new counting window).
#[derive(Debug)]
pub struct HandshakeLimiter {
    config: LimiterConfig,
    global: TokenBucket,
    cookies: TokenBucket,
    current: HashMap<IpAddr, Source>,
    previous: HashMap<IpAddr, Source>,
    /// Whether the last initiation found the site over its global limit.
    under_load: bool,
}

impl HandshakeLimiter {
    /// A limiter with full buckets as of `now`.
    pub fn new(now: Instant, config: LimiterConfig) -> Self {
        Self {
            config,
            global: TokenBucket::new(now, config.global_rate, config.global_burst),
            cookies: TokenBucket::new(now, config.cookie_reply_rate, config.cookie_reply_rate),
            current: HashMap::new(),
            previous: HashMap::new(),
            under_load: false,
        }
    }

    /// The limits in force.
    pub fn config(&self) -> LimiterConfig {
        self.config
    }

    /// Decides on one initiation from `src`, spending its tokens. A `known`
    /// source (the address of a peer's path) passes on its own bucket alone:
    /// a flood from other addresses never makes a peer's rekey wait for a
    /// cookie, and a flood spoofing a peer's address gets that one source's
    /// rate.
    pub fn handle_initiation(&mut self, now: Instant, src: IpAddr, known: bool) -> InitVerdict {
        let source = self.source(now, src);
        source.hits = source.hits.saturating_add(1);
        if !source.bucket.take(now) {
            return InitVerdict::DropSource;
        }
        if known {
            return InitVerdict::Accept;
        }
        if self.global.take(now) {
            self.under_load = false;
            return InitVerdict::Accept;
        }
        self.under_load = true;
        InitVerdict::UnderLoad { may_reply: self.cookies.take(now) }
    }

    /// Counts an unauthenticated datagram that is not an initiation (junk,
    /// unknown receiver index) against `src` for [`take_top`](Self::take_top).
    pub fn note_junk(&mut self, now: Instant, src: IpAddr) {
        let source = self.source(now, src);
        source.hits = source.hits.saturating_add(1);
    }

    /// Whether the last initiation found the site over its global limit.
    pub fn under_load(&self) -> bool {
        self.under_load
    }

    /// Source addresses remembered now.
    pub fn sources(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    /// The `n` sources with the most datagrams (at least `min_hits`) since
    /// the last call, heaviest first (ties by address), and starts a new
    /// window.
    pub fn take_top(&mut self, n: usize, min_hits: u32) -> Vec<(IpAddr, u32)> {
        let mut top: Vec<(IpAddr, u32)> = self
            .current
            .iter_mut()
            .chain(self.previous.iter_mut())
            .filter_map(|(ip, s)| {
                let hits = std::mem::take(&mut s.hits);
                (hits >= min_hits.max(1)).then_some((*ip, hits))
            })
            .collect();
        top.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        top.truncate(n);
        top
    }

    fn source(&mut self, now: Instant, src: IpAddr) -> &mut Source {
        let config = self.config;
        if !self.current.contains_key(&src) {
            if self.current.len() >= (config.max_sources / 2).max(1) {
                self.previous = std::mem::take(&mut self.current);
            }
            if let Some(known) = self.previous.remove(&src) {
                self.current.insert(src, known);
            }
        }
        self.current.entry(src).or_insert_with(|| Source {
            bucket: TokenBucket::new(now, config.per_source_rate, config.per_source_burst),
            hits: 0,
        })
    }
}

#[cfg(test)]
#[path = "limiter_tests.rs"]
mod tests;
