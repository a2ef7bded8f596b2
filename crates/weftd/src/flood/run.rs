//! The `weft-flood` thread: once a second, per-uplink and per-prefix rates
//! against their baselines, an event per anomaly, and, with `[flood]
//! mitigate`, the heaviest sources into the nftables sets (audited): the
//! unauthenticated outer sources of an uplink's anomaly, the inner sources
//! of a prefix's.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::Sender;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use weft_api::{
    Counter, DdosBlocked, DdosDestination, DdosDetection, DdosMitigation, DdosStatus, Event,
    EventKind,
};
use weft_dataplane::flood::BaselineConfig;

use super::FloodShield;
use super::detector::Detector;
use super::nft::NftSet;
use crate::store::{NewAudit, Store};

/// Suffix of the unauthenticated series' names.
const UNAUTH: &str = "/unauth";

/// Detections kept for the API.
const KEEP_DETECTIONS: usize = 20;

/// What the flood thread saw last (the API and metrics read it).
#[derive(Debug, Default, Clone)]
pub(crate) struct FloodView {
    pub(crate) destinations: Vec<DdosDestination>,
    pub(crate) detections: Vec<DdosDetection>,
    /// Detections per destination since start.
    pub(crate) detection_counts: Vec<(String, u64)>,
    pub(crate) mitigation: Option<DdosMitigation>,
}

impl FloodShield {
    /// `GET /api/v1/ddos`.
    pub(crate) fn status(&self) -> DdosStatus {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner).clone();
        DdosStatus {
            under_load: self.under_load(),
            handshake_inits: self.inits.load(Relaxed),
            cookie_replies: self.cookie_replies.load(Relaxed),
            dropped: self
                .dropped()
                .into_iter()
                .map(|(name, count)| Counter { name: name.to_owned(), count })
                .collect(),
            handshakes_per_source: self.config.handshakes_per_source,
            handshakes: self.config.handshakes,
            destinations: view.destinations,
            detections: view.detections,
            mitigation: view.mitigation,
        }
    }
}

/// What the flood thread needs besides the shield.
pub(crate) struct FloodIo {
    /// Events to the recorder.
    pub(crate) events: Sender<Event>,
    /// The audit log.
    pub(crate) store: Store,
    /// Addresses never blocked (the peers' configured endpoints).
    pub(crate) protected: Box<dyn Fn() -> BTreeSet<IpAddr> + Send>,
}

/// Installs the nftables table if mitigation is on (`ports`: the uplinks';
/// `overlay`: the TUN interface); `Err` if that fails.
pub(crate) fn prepare(
    shield: &FloodShield,
    ports: &[u16],
    overlay: &str,
) -> anyhow::Result<Option<NftSet>> {
    if !shield.config.mitigate {
        return Ok(None);
    }
    let set = NftSet::new(&shield.config.nft_table);
    set.install(ports, overlay)?;
    let mitigation = DdosMitigation {
        table: set.table().to_owned(),
        block_s: shield.config.block.as_secs(),
        ..DdosMitigation::default()
    };
    shield.view.write().unwrap_or_else(PoisonError::into_inner).mitigation = Some(mitigation);
    Ok(Some(set))
}

/// Runs forever, once a second.
pub(crate) fn run(shield: &Arc<FloodShield>, nft: Option<&NftSet>, io: &FloodIo) {
    let c = &shield.config;
    let baseline = BaselineConfig {
        factor: c.detect_factor,
        min_pps: f64::from(c.detect_min_pps),
        ..BaselineConfig::default()
    };
    let mut detector = Detector::new(&shield.dest_names, baseline);
    let prefix_baseline = BaselineConfig { min_pps: f64::from(c.prefix_min_pps), ..baseline };
    let mut prefix_detector = Detector::new(&shield.prefix_names, prefix_baseline);
    let mut last = Instant::now();
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(last);
        last = now;
        let totals = shield.totals();
        let mut rates = detector.tick(elapsed, &totals);
        // Sources recorded toward the prefixes over the last second (while
        // tracking), then tracking on for as long as a prefix is flooded.
        let prefix_top = shield.prefixes.take_top(1);
        let prefix_rates = prefix_detector.tick(elapsed, &shield.prefixes.totals());
        shield.prefixes.set_tracking(nft.is_some() && prefix_detector.anomaly_in(""));
        let inner_top = inner_candidates(shield, &prefix_rates, &prefix_top, elapsed);
        rates.extend(prefix_rates);
        let min_hits = (f64::from(c.min_source_pps) * elapsed.as_secs_f64()) as u32;
        let protected = (io.protected)();
        shield.known.write().unwrap_or_else(PoisonError::into_inner).clone_from(&protected);
        // Only unauthenticated sources are candidates, so only an anomaly of
        // unauthenticated traffic calls for them (a burst of tunnel traffic
        // raises an event on `uplink:NAME`, and blocks nothing).
        let top = if detector.anomaly_in(UNAUTH) && nft.is_some() {
            let mut top = shield.take_top(c.top_sources as usize + protected.len(), min_hits);
            top.retain(|(ip, _)| !protected.contains(ip));
            top.truncate(c.top_sources as usize);
            top
        } else {
            let _ = shield.take_top(0, u32::MAX);
            Vec::new()
        };
        let now_ms = crate::api::unix_ms();
        let mut view = shield.view.read().unwrap_or_else(PoisonError::into_inner).clone();
        view.destinations = rates
            .iter()
            .map(|r| DdosDestination {
                dest: r.dest.clone(),
                pps: r.sample.pps,
                bps: r.sample.bps,
                baseline_pps: r.sample.baseline_pps,
                baseline_bps: r.sample.baseline_bps,
                anomalous: r.sample.anomalous,
            })
            .collect();
        for r in &rates {
            let s = &r.sample;
            if s.started {
                let line = format!(
                    "flood toward {}: {:.0} datagrams/s against a baseline of {:.0}",
                    r.dest, s.pps, s.baseline_pps
                );
                crate::log_info!(Flood, "{line}");
                let _ = io.events.send(Event::new(EventKind::FloodDetected, line));
                view.detections.push(DdosDetection {
                    at_unix_ms: now_ms,
                    ended_unix_ms: None,
                    dest: r.dest.clone(),
                    peak_pps: s.pps,
                    baseline_pps: s.baseline_pps,
                    sources_blocked: 0,
                });
                match view.detection_counts.iter_mut().find(|(d, _)| *d == r.dest) {
                    Some((_, n)) => *n += 1,
                    None => view.detection_counts.push((r.dest.clone(), 1)),
                }
            }
            let open = view.detections.iter_mut().rev().find(|d| d.dest == r.dest);
            if let Some(d) = open.filter(|d| d.ended_unix_ms.is_none()) {
                d.peak_pps = d.peak_pps.max(s.pps);
                if s.ended {
                    d.ended_unix_ms = Some(now_ms);
                    let line = format!(
                        "flood toward {} ended after a peak of {:.0}/s",
                        r.dest, d.peak_pps
                    );
                    let _ = io.events.send(Event::new(EventKind::FloodDetected, line));
                }
            }
        }
        if view.detections.len() > KEEP_DETECTIONS {
            let extra = view.detections.len() - KEEP_DETECTIONS;
            view.detections.drain(..extra);
        }
        if let Some(set) = nft {
            let mut error = None;
            if !top.is_empty() {
                let ips: Vec<IpAddr> = top.iter().map(|(ip, _)| *ip).collect();
                match set.add(&ips, c.block) {
                    Ok(()) => {
                        audit_block(&io.store, set, &top, c.block, now_ms);
                        let open = view
                            .detections
                            .iter_mut()
                            .filter(|d| d.ended_unix_ms.is_none() && d.dest.ends_with(UNAUTH));
                        for d in open {
                            d.sources_blocked += ips.len() as u64;
                        }
                    }
                    Err(e) => error = Some(format!("{e:#}")),
                }
            }
            if !inner_top.is_empty() {
                let ips: Vec<IpAddr> = inner_top.iter().map(|(ip, _, _)| *ip).collect();
                match set.add_inner(&ips, c.block) {
                    Ok(()) => {
                        audit_inner_block(&io.store, set, &inner_top, c.block, now_ms);
                        for d in view.detections.iter_mut().filter(|d| d.ended_unix_ms.is_none()) {
                            let n = inner_top.iter().filter(|(_, dest, _)| *dest == d.dest).count();
                            d.sources_blocked += n as u64;
                        }
                    }
                    Err(e) => error = Some(format!("{e:#}")),
                }
            }
            let blocked = set.elements();
            let dropped = set.dropped();
            if let Some(m) = view.mitigation.as_mut() {
                match (blocked, dropped) {
                    (Ok(b), Ok(d)) => {
                        m.blocked = b
                            .into_iter()
                            .map(|b| DdosBlocked { addr: b.addr, expires_s: b.expires_s })
                            .collect();
                        m.dropped_packets = d;
                    }
                    (Err(e), _) | (_, Err(e)) => error = error.or(Some(format!("{e:#}"))),
                }
                m.error = error;
            }
        }
        *shield.view.write().unwrap_or_else(PoisonError::into_inner) = view;
    }
}

/// The inner sources to block: for each prefix in an anomaly this second,
/// its heaviest recorded sources (at least `min_source_pps`, at most
/// `top_sources` per prefix), never an address of the site's own prefixes.
/// (source, `prefix:CIDR`, packets)
fn inner_candidates(
    shield: &FloodShield,
    prefix_rates: &[super::detector::DestRate],
    top: &[(usize, std::net::Ipv4Addr, u32)],
    elapsed: Duration,
) -> Vec<(IpAddr, String, u32)> {
    let c = &shield.config;
    let min_hits = (f64::from(c.min_source_pps) * elapsed.as_secs_f64()) as u32;
    let own = shield.prefixes.prefixes();
    let mut out: Vec<(IpAddr, String, u32)> = Vec::new();
    for (i, rate) in prefix_rates.iter().enumerate() {
        if !rate.sample.anomalous {
            continue;
        }
        let heaviest = top
            .iter()
            .filter(|(p, src, n)| {
                *p == i && *n >= min_hits && !own.iter().any(|o| o.contains(IpAddr::V4(*src)))
            })
            .take(c.top_sources as usize);
        out.extend(heaviest.map(|(_, src, n)| (IpAddr::V4(*src), rate.dest.clone(), *n)));
    }
    out
}

/// One audit record per batch of inner sources added to the set.
fn audit_inner_block(
    store: &Store,
    set: &NftSet,
    top: &[(IpAddr, String, u32)],
    block: Duration,
    now_ms: i64,
) {
    let heaviest: Vec<String> =
        top.iter().take(5).map(|(ip, dest, n)| format!("{ip} -> {dest} ({n}/s)")).collect();
    let rec = NewAudit {
        who: "flood-detector".to_owned(),
        action: "flood.block".to_owned(),
        target: format!("nft inet {} inner_v4", set.table()),
        before: None,
        after: Some(format!("{} inner sources for {} s", top.len(), block.as_secs())),
        detail: format!("heaviest: {}", heaviest.join(", ")),
    };
    if let Err(e) = store.audit(&rec, now_ms) {
        crate::log_warn!(Flood, "auditing a flood block: {e:#}");
    }
}

/// One audit record per batch of sources added to the set.
fn audit_block(store: &Store, set: &NftSet, top: &[(IpAddr, u32)], block: Duration, now_ms: i64) {
    let heaviest: Vec<String> = top.iter().take(5).map(|(ip, n)| format!("{ip} ({n}/s)")).collect();
    let rec = NewAudit {
        who: "flood-detector".to_owned(),
        action: "flood.block".to_owned(),
        target: format!("nft inet {}", set.table()),
        before: None,
        after: Some(format!("{} sources for {} s", top.len(), block.as_secs())),
        detail: format!("heaviest: {}", heaviest.join(", ")),
    };
    if let Err(e) = store.audit(&rec, now_ms) {
        crate::log_warn!(Flood, "auditing a flood block: {e:#}");
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use weft_dataplane::flood::RateSample;
    use weft_types::{IpPrefix, PrivateKey};

    use super::super::detector::DestRate;
    use super::*;
    use crate::config::FloodConfig;

    fn rate(dest: &str, anomalous: bool) -> DestRate {
        let sample = RateSample {
            pps: 5000.0,
            bps: 1e6,
            baseline_pps: 10.0,
            baseline_bps: 1e4,
            anomalous,
            started: anomalous,
            ended: false,
        };
        DestRate { dest: dest.to_owned(), sample }
    }

    #[test]
    fn only_a_flooded_prefixs_heavy_foreign_sources_are_blocked_at_most_top_sources_each() {
        let config = FloodConfig { min_source_pps: 50, top_sources: 2, ..FloodConfig::default() };
        let prefixes =
            [IpPrefix::parse("10.77.1.0/24").unwrap(), IpPrefix::parse("10.77.5.0/24").unwrap()];
        let shield = FloodShield::new(Instant::now(), config, &PrivateKey([7; 32]), &["u0".into()])
            .with_prefixes(&prefixes);
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let top = [
            (0, ip("10.77.2.7"), 900),
            (0, ip("10.77.1.9"), 800), // the site's own address: never
            (0, ip("10.77.2.8"), 700),
            (0, ip("10.77.2.9"), 600),  // past top_sources
            (1, ip("10.77.2.10"), 500), // toward a prefix in no anomaly
            (0, ip("10.77.2.11"), 10),  // under min_source_pps
        ];
        let rates = [rate("prefix:10.77.1.0/24", true), rate("prefix:10.77.5.0/24", false)];
        let got = inner_candidates(&shield, &rates, &top, Duration::from_secs(1));
        let want: Vec<(IpAddr, String, u32)> = vec![
            (IpAddr::V4(ip("10.77.2.7")), "prefix:10.77.1.0/24".into(), 900),
            (IpAddr::V4(ip("10.77.2.8")), "prefix:10.77.1.0/24".into(), 700),
        ];
        assert_eq!(got, want);
        let calm = [rate("prefix:10.77.1.0/24", false), rate("prefix:10.77.5.0/24", false)];
        assert!(inner_candidates(&shield, &calm, &top, Duration::from_secs(1)).is_empty());
    }
}
