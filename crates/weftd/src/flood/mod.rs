//! Flood defence: the receive path's checks before any crypto, detection of
//! volumetric anomalies per uplink, and the nftables mitigation hook
//! (docs/flood.md).
//!
//! # Layout
//! - [`FloodShield`] (this file): shared by the receive threads, the flood
//!   thread, the API and the metrics. The receive threads call
//!   [`FloodShield::on_datagram`] for every datagram, [`FloodShield::on_junk`]
//!   for what is not WireGuard or a probe, and [`FloodShield::on_initiation`]
//!   for each handshake initiation *before* MAC1 or X25519: per-source and
//!   global token buckets (`weft_dataplane::flood`), then WireGuard's cookie
//!   mechanism when the site is over its global rate. Peers' own addresses
//!   skip the global limit (see [`FloodShield::known`]).
//! - `detector`: sans-IO; per-destination datagram and byte rates against an
//!   EWMA baseline, fed once a second, says when an anomaly starts and ends.
//!   Destinations are the uplinks (outer datagrams) and the site's own
//!   prefixes (inner packets after decryption, `prefix:CIDR`).
//! - `prefix`: the receive path's per-prefix counters
//!   ([`FloodShield::on_inner`]: two atomic adds on a fixed array) and,
//!   during an anomaly, the table of the heaviest inner sources.
//! - `nft`: the nftables table weftd owns (`inet <nft_table>`): timeout sets
//!   of sources (outer ones on the uplinks' ports, inner ones on the overlay
//!   interface) and a raw-priority prerouting chain that drops them with a
//!   named counter.
//! - `run`: the `weft-flood` thread: once a second, detection, events,
//!   mitigation (audited), and the view the API and metrics show. The
//!   `weft_flood_*` metrics are encoded by `agent::metrics`.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Instant;

use weft_dataplane::flood::{HandshakeLimiter, InitVerdict, LimiterConfig};
use weft_dataplane::wg::{CookieCheck, CookieGuard};
use weft_types::{IpPrefix, PrivateKey, PublicKey};

use crate::config::FloodConfig;

pub(crate) mod detector;
pub(crate) mod nft;
pub(crate) mod prefix;
pub(crate) mod run;

/// Drop reasons counted before any crypto, in `weft_flood_dropped_total` order.
pub(crate) const REASONS: [&str; 4] = ["junk", "bad_mac1", "rate_source", "cookie_required"];

/// What the receive thread does with a handshake initiation.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InitOutcome<'a> {
    /// It passed the limits (and the cookie check if under load): hand it to
    /// the session of this peer (`None`: not a peer of ours).
    Proceed(Option<PublicKey>),
    /// Counted and dropped.
    Drop,
    /// Send this cookie reply to the source.
    Reply(&'a [u8]),
}

/// Datagrams and bytes received on one uplink: all of them, and those not
/// (yet) authenticated — handshake initiations, junk, unknown receiver
/// indexes — where a spoofed flood shows even under heavy tunnel traffic.
#[derive(Debug, Default)]
pub(crate) struct DestCounter {
    pub(crate) packets: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) unauth_packets: AtomicU64,
    pub(crate) unauth_bytes: AtomicU64,
}

/// The flood defence shared by the agent's threads.
#[derive(Debug)]
pub(crate) struct FloodShield {
    /// The `[flood]` section.
    pub(crate) config: FloodConfig,
    limiter: Mutex<HandshakeLimiter>,
    cookies: CookieGuard,
    /// Drops by [`REASONS`] index.
    dropped: [AtomicU64; 4],
    /// Handshake initiations seen.
    pub(crate) inits: AtomicU64,
    /// Cookie replies sent.
    pub(crate) cookie_replies: AtomicU64,
    /// Per uplink, in configuration order.
    pub(crate) dest: Vec<DestCounter>,
    /// Destinations: `uplink:NAME` (every datagram) and `uplink:NAME/unauth`
    /// (unauthenticated ones) per uplink, in [`totals`](Self::totals) order.
    pub(crate) dest_names: Vec<String>,
    /// Inner packets per destination prefix of the site.
    pub(crate) prefixes: prefix::PrefixCounters,
    /// `prefix:CIDR` per entry of `prefixes`, in its totals' order.
    pub(crate) prefix_names: Vec<String>,
    /// What the flood thread saw last.
    pub(crate) view: RwLock<run::FloodView>,
    /// Peers' addresses (configured endpoints, paths' remote ends), refreshed
    /// by the flood thread: their initiations skip the site-wide limit and
    /// are never added to the nftables set.
    pub(crate) known: RwLock<BTreeSet<IpAddr>>,
}

impl FloodShield {
    /// The shield of a site with `uplinks` (names), key `local` and `config`.
    pub(crate) fn new(
        now: Instant,
        config: FloodConfig,
        local: &PrivateKey,
        uplinks: &[String],
    ) -> Self {
        let limits = LimiterConfig {
            per_source_rate: config.handshakes_per_source,
            per_source_burst: config.source_burst,
            global_rate: config.handshakes,
            global_burst: config.burst,
            cookie_reply_rate: config.cookie_replies,
            ..LimiterConfig::default()
        };
        Self {
            config,
            limiter: Mutex::new(HandshakeLimiter::new(now, limits)),
            cookies: CookieGuard::new(local),
            dropped: Default::default(),
            inits: AtomicU64::new(0),
            cookie_replies: AtomicU64::new(0),
            dest: uplinks.iter().map(|_| DestCounter::default()).collect(),
            dest_names: uplinks
                .iter()
                .flat_map(|u| [format!("uplink:{u}"), format!("uplink:{u}/unauth")])
                .collect(),
            prefixes: prefix::PrefixCounters::new(&[]),
            prefix_names: Vec::new(),
            view: RwLock::default(),
            known: RwLock::default(),
        }
    }

    /// The same shield, also counting inner packets toward `prefixes` (the
    /// site's own; at most [`prefix::MAX_PREFIXES`]).
    #[must_use]
    pub(crate) fn with_prefixes(mut self, prefixes: &[IpPrefix]) -> Self {
        self.prefixes = prefix::PrefixCounters::new(prefixes);
        self.prefix_names =
            self.prefixes.prefixes().iter().map(|p| format!("prefix:{p}")).collect();
        self
    }

    /// Counts one decrypted packet for this site (receive path, after the
    /// source check): toward the prefix holding `dst`, if any.
    pub(crate) fn on_inner(&self, src: IpAddr, dst: IpAddr, len: usize) {
        self.prefixes.count(src, dst, len);
    }

    /// Every destination's name: the uplinks' series, then the prefixes'.
    pub(crate) fn all_dest_names(&self) -> impl Iterator<Item = &String> {
        self.dest_names.iter().chain(&self.prefix_names)
    }

    /// Counts one datagram of `len` bytes received on `uplink`.
    pub(crate) fn on_datagram(&self, uplink: usize, len: usize) {
        if let Some(d) = self.dest.get(uplink) {
            d.packets.fetch_add(1, Relaxed);
            d.bytes.fetch_add(len as u64, Relaxed);
        }
    }

    /// Counts a datagram that is neither WireGuard nor a probe (bad type or
    /// length) against its source.
    pub(crate) fn on_junk(&self, now: Instant, uplink: usize, src: IpAddr, len: usize) {
        self.drop_for(0);
        self.on_unknown(now, uplink, src, len);
    }

    /// Counts an unauthenticated datagram (junk, a message naming no session
    /// of ours) against its uplink and its source.
    pub(crate) fn on_unknown(&self, now: Instant, uplink: usize, src: IpAddr, len: usize) {
        self.unauth(uplink, len);
        self.limiter().note_junk(now, src);
    }

    /// The running totals of every destination, in `dest_names` order.
    pub(crate) fn totals(&self) -> Vec<(u64, u64)> {
        self.dest
            .iter()
            .flat_map(|d| {
                [
                    (d.packets.load(Relaxed), d.bytes.load(Relaxed)),
                    (d.unauth_packets.load(Relaxed), d.unauth_bytes.load(Relaxed)),
                ]
            })
            .collect()
    }

    fn unauth(&self, uplink: usize, len: usize) {
        if let Some(d) = self.dest.get(uplink) {
            d.unauth_packets.fetch_add(1, Relaxed);
            d.unauth_bytes.fetch_add(len as u64, Relaxed);
        }
    }

    /// Decides on a handshake initiation from `src` before any public-key
    /// work; a cookie reply is written into `out` (at least 64 bytes).
    pub(crate) fn on_initiation<'a>(
        &self,
        now: Instant,
        (uplink, src): (usize, IpAddr),
        datagram: &[u8],
        out: &'a mut [u8],
    ) -> InitOutcome<'a> {
        self.inits.fetch_add(1, Relaxed);
        self.unauth(uplink, datagram.len());
        let known = self.known.read().unwrap_or_else(PoisonError::into_inner).contains(&src);
        let verdict = self.limiter().handle_initiation(now, src, known);
        match verdict {
            InitVerdict::DropSource => self.drop_for(2),
            InitVerdict::Accept if self.cookies.mac1_valid(datagram) => {
                InitOutcome::Proceed(self.cookies.initiator(datagram))
            }
            InitVerdict::Accept => self.drop_for(1),
            InitVerdict::UnderLoad { may_reply } => match self.cookies.check(src, datagram, out) {
                CookieCheck::Valid => InitOutcome::Proceed(self.cookies.initiator(datagram)),
                CookieCheck::BadMac1 => self.drop_for(1),
                CookieCheck::Reply(reply) => {
                    self.dropped[3].fetch_add(1, Relaxed);
                    if may_reply {
                        self.cookie_replies.fetch_add(1, Relaxed);
                        InitOutcome::Reply(reply)
                    } else {
                        InitOutcome::Drop
                    }
                }
            },
        }
    }

    /// Drops by reason, in [`REASONS`] order.
    pub(crate) fn dropped(&self) -> Vec<(&'static str, u64)> {
        REASONS.iter().zip(&self.dropped).map(|(r, n)| (*r, n.load(Relaxed))).collect()
    }

    /// Whether the last initiation found the site over its global rate.
    pub(crate) fn under_load(&self) -> bool {
        self.limiter().under_load()
    }

    /// The heaviest unauthenticated sources since the last call (starts a
    /// new window).
    pub(crate) fn take_top(&self, n: usize, min_hits: u32) -> Vec<(IpAddr, u32)> {
        self.limiter().take_top(n, min_hits)
    }

    fn drop_for<'a>(&self, reason: usize) -> InitOutcome<'a> {
        self.dropped[reason].fetch_add(1, Relaxed);
        InitOutcome::Drop
    }

    fn limiter(&self) -> std::sync::MutexGuard<'_, HandshakeLimiter> {
        self.limiter.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests;
