//! The published [`Status`] as API resources.

use weft_api as api;
use weft_api::SiteState;

use crate::agent::gate::Direction;
use crate::agent::status::{FlowStatus, PathStatus, Status, site_states};

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Per peer: what its paths add up to (one pass over the paths).
#[derive(Debug, Clone, Copy, Default)]
struct PeerPaths {
    alive: u32,
    total: u32,
    best_rtt_ms: Option<f64>,
}

impl PeerPaths {
    fn add(&mut self, x: &PathStatus) {
        self.total += 1;
        if x.metrics.state.is_alive() {
            self.alive += 1;
            if let Some(r) = x.metrics.rtt {
                self.best_rtt_ms = Some(self.best_rtt_ms.map_or(ms(r), |b| b.min(ms(r))));
            }
        }
    }
}

fn peer_paths(s: &Status) -> Vec<PeerPaths> {
    let mut out = vec![PeerPaths::default(); s.peers.len()];
    for x in &s.paths {
        if let Some(a) = out.get_mut(x.peer) {
            a.add(x);
        }
    }
    out
}

fn local_site(s: &Status) -> api::Site {
    api::Site {
        id: s.site.clone(),
        role: s.role.clone(),
        region: s.region.clone(),
        state: SiteState::Local,
        endpoints: Vec::new(),
        prefixes: s.prefixes.clone(),
        paths_up: 0,
        paths_total: 0,
        best_rtt_ms: None,
    }
}

fn peer_site(p: &crate::agent::status::PeerStatus, a: PeerPaths, state: SiteState) -> api::Site {
    api::Site {
        id: p.name.clone(),
        role: p.role.clone(),
        region: p.region.clone(),
        state,
        endpoints: p.endpoints.iter().map(ToString::to_string).collect(),
        prefixes: p.prefixes.clone(),
        paths_up: a.alive,
        paths_total: a.total,
        best_rtt_ms: a.best_rtt_ms,
    }
}

/// Every site: the local one first, then the peers.
pub(crate) fn sites(s: &Status) -> Vec<api::Site> {
    let agg = peer_paths(s);
    let mut out = Vec::with_capacity(s.peers.len() + 1);
    out.push(local_site(s));
    let states = site_states(s);
    out.extend(
        s.peers
            .iter()
            .zip(agg)
            .zip(states)
            .filter(|((p, _), _)| !p.gone)
            .map(|((p, a), st)| peer_site(p, a, st)),
    );
    out
}

/// The site `id`.
pub(crate) fn site(s: &Status, id: &str) -> Option<api::Site> {
    if id == s.site {
        return Some(local_site(s));
    }
    let i = s.peers.iter().position(|p| p.name == id && !p.gone)?;
    let mut a = PeerPaths::default();
    s.paths.iter().filter(|x| x.peer == i).for_each(|x| a.add(x));
    Some(peer_site(&s.peers[i], a, site_states(s)[i]))
}

/// Every WireGuard peer.
pub(crate) fn peers(s: &Status) -> Vec<api::Peer> {
    s.peers
        .iter()
        .filter(|p| !p.gone && !p.relay_only)
        .map(|p| api::Peer {
            site: p.name.clone(),
            public_key: p.public_key.clone(),
            endpoints: p.endpoints.iter().map(ToString::to_string).collect(),
            allowed_prefixes: p.prefixes.clone(),
            last_handshake_s: p.since_handshake.map(|d| d.as_secs_f64()),
            handshakes: p.handshakes,
            keepalive_s: p.keepalive,
            stock: p.stock,
            tx_bytes: p.tx_bytes,
            rx_bytes: p.rx_bytes,
        })
        .collect()
}

/// One path.
pub(crate) fn path(s: &Status, p: &PathStatus) -> api::Path {
    let m = &p.metrics;
    let o = |d: Option<std::time::Duration>| d.map(ms);
    api::Path {
        id: p.id,
        site: s.peers[p.peer].name.clone(),
        uplink: p.uplink.clone(),
        remote: p.remote.to_string(),
        state: m.state.to_string(),
        state_for_ms: ms(m.state_for),
        active_for: p.active_for.clone(),
        rtt_ms: o(m.rtt),
        rtt_min_ms: o(m.rtt_min),
        rtt_p50_ms: o(m.rtt_p50),
        rtt_p95_ms: o(m.rtt_p95),
        rtt_p99_ms: o(m.rtt_p99),
        jitter_ms: ms(m.jitter),
        loss_pct: m.loss * 100.0,
        loss_long_pct: m.loss_long * 100.0,
        probes_sent: m.probes_sent,
        probes_lost: m.probes_lost,
        probe_interval_ms: ms(m.probe_interval),
        tx_bytes: p.tx_bytes,
        rx_bytes: p.rx_bytes,
        flows: p.flows,
    }
}

/// The id of a flow: direction, protocol and the 5-tuple.
pub(crate) fn flow_id(f: &FlowStatus) -> String {
    let dir = match f.direction {
        Direction::Out => "out",
        Direction::In => "in",
    };
    let ip = |a: std::net::IpAddr| match a {
        std::net::IpAddr::V4(v) => v.to_string(),
        std::net::IpAddr::V6(v) => format!("[{v}]"),
    };
    format!(
        "{dir}:{}:{}:{}:{}:{}",
        f.key.protocol,
        ip(f.key.src),
        f.key.src_port,
        ip(f.key.dst),
        f.key.dst_port
    )
}

/// One flow.
pub(crate) fn flow(s: &Status, f: &FlowStatus) -> api::Flow {
    let class = s.profile_classes.get(f.profile).cloned().unwrap_or_default();
    let site = f.peer.and_then(|p| s.peers.get(p)).map(|p| p.name.clone());
    let reason = if !f.allowed {
        format!("denied by ACL {}", f.rule)
    } else if site.is_none() {
        "no site serves the destination".to_owned()
    } else if let Some(path) = f.path.and_then(|id| s.path(id)) {
        format!(
            "route {} gives class {class}; its current path to {} is {} via {}",
            f.route_rule,
            site.as_deref().unwrap_or("?"),
            path.remote,
            path.uplink
        )
    } else {
        format!("route {} gives class {class}, which has no eligible path now", f.route_rule)
    };
    api::Flow {
        id: flow_id(f),
        protocol: f.key.protocol.to_string(),
        src: f.key.src.to_string(),
        src_port: f.key.src_port,
        dst: f.key.dst.to_string(),
        dst_port: f.key.dst_port,
        direction: match f.direction {
            Direction::Out => "out",
            Direction::In => "in",
        }
        .to_owned(),
        site,
        verdict: if f.allowed { "allow" } else { "deny" }.to_owned(),
        rule: f.rule.clone(),
        class,
        path: if f.allowed { f.path } else { None },
        reason,
        packets: f.packets,
        bytes: f.bytes,
        idle_ms: f.idle.as_millis() as u64,
    }
}

/// Where every peer prefix goes.
pub(crate) fn routes(s: &Status) -> Vec<api::Route> {
    let mut out = Vec::new();
    for p in s.peers.iter().filter(|p| !p.gone) {
        let choices: Vec<api::RouteChoice> = p
            .choices
            .iter()
            .enumerate()
            .map(|(c, path)| api::RouteChoice {
                class: s.profile_classes.get(c).cloned().unwrap_or_default(),
                path: *path,
                uplink: path.and_then(|id| s.path(id)).map(|x| x.uplink.clone()),
            })
            .collect();
        for prefix in &p.prefixes {
            out.push(api::Route {
                prefix: prefix.clone(),
                site: p.name.clone(),
                via: p.via.clone().unwrap_or_else(|| p.name.clone()),
                choices: choices.clone(),
            });
        }
    }
    out
}

/// The graph of sites and measured paths.
pub(crate) fn topology(s: &Status) -> api::Topology {
    let mut nodes = vec![api::TopologyNode {
        id: s.site.clone(),
        local: true,
        role: s.role.clone(),
        region: s.region.clone(),
    }];
    nodes.extend(s.peers.iter().filter(|p| !p.gone).map(|p| api::TopologyNode {
        id: p.name.clone(),
        local: false,
        role: p.role.clone(),
        region: p.region.clone(),
    }));
    let edges = s
        .paths
        .iter()
        .map(|p| api::TopologyEdge {
            from: s.site.clone(),
            to: s.peers[p.peer].name.clone(),
            path: p.id,
            uplink: p.uplink.clone(),
            state: p.metrics.state.to_string(),
            rtt_ms: p.metrics.rtt.map(ms),
            jitter_ms: ms(p.metrics.jitter),
            loss_pct: p.metrics.loss * 100.0,
        })
        .collect();
    api::Topology { nodes, edges }
}

fn counters(v: &[(String, u64)]) -> Vec<api::Counter> {
    v.iter().map(|(n, c)| api::Counter { name: n.clone(), count: *c }).collect()
}

/// The summary of `GET /api/v1/status`.
pub(crate) fn status(s: &Status, last_event_id: u64) -> api::Status {
    let sites_up = site_states(s)
        .into_iter()
        .filter(|st| matches!(st, SiteState::Up | SiteState::Degraded))
        .count();
    api::Status {
        site: s.site.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_s: s.uptime.as_secs_f64(),
        sites: s.peers.len() as u32,
        sites_up: sites_up as u32,
        paths: s.paths.len() as u32,
        paths_up: s.paths.iter().filter(|p| p.metrics.state.is_alive()).count() as u32,
        flows: s.flows.len() as u32,
        policy_name: s.policy.name.clone(),
        policy_version: s.policy.version,
        failovers: s.failovers.iter().map(|(_, n)| n).sum(),
        last_event_id,
        failovers_by_reason: counters(&s.failovers),
        drops: counters(&s.drops),
        policy_denied: counters(&s.policy.denied),
        offloads: s
            .offloads
            .iter()
            .map(|(kind, enabled)| api::Offload { kind: kind.clone(), enabled: *enabled })
            .collect(),
    }
}
