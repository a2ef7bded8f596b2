//! Tests of the metrics module: values, escaping, monotonic counters, vanished
//! series, the RTT histogram, and `promtool check metrics`.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{CONTENT_TYPE, FORGET_AFTER, Metrics, MetricsSnapshot, PathLabels, PathSnapshot};

/// Labels of a test path.
fn labels(peer: &str, uplink: &str, remote: &str) -> PathLabels {
    PathLabels { peer: peer.to_owned(), uplink: uplink.to_owned(), remote: remote.to_owned() }
}

/// A peer name needing every escape: quotes, a backslash and a newline.
const AWKWARD: &str = "we\"st\\1\nb";
/// [`AWKWARD`] as the exposition writes it.
const AWKWARD_ENCODED: &str = r#"we\"st\\1\nb"#;

/// Two paths (one with an awkward peer name and no RTT yet), failovers, drops,
/// denied rules, handshakes, members and API requests.
fn snapshot() -> MetricsSnapshot {
    MetricsSnapshot {
        paths: vec![
            PathSnapshot {
                labels: labels("east", "wan0", "192.0.2.1:51820"),
                rtt: Some(Duration::from_micros(12_500)),
                jitter: Duration::from_micros(800),
                loss: 0.25,
                state: 3,
                probes_sent: 400,
                probes_lost: 100,
                tx_bytes: 1_000_000,
                rx_bytes: 2_000_000,
                tx_packets: 1_000,
                rx_packets: 2_000,
                flows: 7,
            },
            PathSnapshot {
                labels: labels(AWKWARD, "lte", "[2001:db8::1]:51820"),
                rtt: None,
                state: 1,
                probes_sent: 3,
                probes_lost: 3,
                ..PathSnapshot::default()
            },
        ],
        failovers: vec![("path_down".to_owned(), 2), ("sla_loss".to_owned(), 1)],
        drops: vec![("probe_bad_mac".to_owned(), 5), ("with \"quote\"".to_owned(), 1)],
        offloads: vec![("tun_tso".to_owned(), 1), ("udp_gro".to_owned(), 0)],
        mesh: vec![("datagrams_in".to_owned(), 12), ("relayed_packets".to_owned(), 3)],
        policy_denied: vec![("block-guest".to_owned(), 9), ("default".to_owned(), 4)],
        policy_version: 3,
        policy_name: "office".to_owned(),
        handshakes: vec![("east".to_owned(), 2)],
        members: ["up", "degraded", "down", "removed"]
            .iter()
            .zip([2, 1, 0, 0])
            .map(|(s, n)| ((*s).to_owned(), n))
            .collect(),
        api_requests: vec![
            ("GET".to_owned(), "/api/v1/paths".to_owned(), 200, 10),
            ("POST".to_owned(), "/api/v1/policy".to_owned(), 401, 1),
        ],
    }
}

/// Metrics after one update with [`snapshot`].
fn updated() -> Metrics {
    let m = Metrics::new();
    m.update(snapshot().clone());
    m
}

/// Panics unless `text` has exactly the line `line`.
#[track_caller]
fn has(text: &str, line: &str) {
    assert!(text.lines().any(|l| l == line), "missing line {line:?} in:\n{text}");
}

/// Panics if any line of `text` contains `part`.
#[track_caller]
fn lacks(text: &str, part: &str) {
    assert!(!text.contains(part), "unexpected {part:?} in:\n{text}");
}

/// The `{peer,uplink,remote}` label text of the first test path.
const EAST: &str = r#"{peer="east",uplink="wan0",remote="192.0.2.1:51820"}"#;

#[test]
fn encoding_a_snapshot_gives_every_family_with_its_values_and_escaped_labels() {
    let text = updated().encode();
    let awkward =
        format!(r#"{{peer="{AWKWARD_ENCODED}",uplink="lte",remote="[2001:db8::1]:51820"}}"#);
    assert!(text.ends_with("# EOF\n"));
    assert!(CONTENT_TYPE.starts_with("application/openmetrics-text; version=1.0.0"));

    has(&text, "# TYPE weft_path_srtt_seconds gauge");
    has(&text, "# UNIT weft_path_srtt_seconds seconds");
    has(&text, &format!("weft_path_srtt_seconds{EAST} 0.0125"));
    // No RTT yet: no sample, and never NaN.
    lacks(&text, &format!("weft_path_srtt_seconds{awkward}"));
    lacks(&text, "NaN");
    has(&text, &format!("weft_path_jitter_seconds{EAST} 0.0008"));
    has(&text, &format!("weft_path_jitter_seconds{awkward} 0.0"));
    has(&text, &format!("weft_path_loss_ratio{EAST} 0.25"));
    has(&text, "# HELP weft_path_state Path state: 0 down, 1 init, 2 up, 3 degraded.");
    has(&text, &format!("weft_path_state{EAST} 3"));
    has(&text, &format!("weft_path_state{awkward} 1"));
    has(&text, &format!("weft_path_up{EAST} 1"));
    has(&text, &format!("weft_path_up{awkward} 0"));
    has(&text, "# TYPE weft_path_probes_sent counter");
    has(&text, &format!("weft_path_probes_sent_total{EAST} 400"));
    has(&text, &format!("weft_path_probes_lost_total{EAST} 100"));
    has(&text, &format!("weft_path_probes_lost_total{awkward} 3"));
    has(&text, "# TYPE weft_path_tx_bytes counter");
    has(&text, "# UNIT weft_path_tx_bytes bytes");
    has(&text, &format!("weft_path_tx_bytes_total{EAST} 1000000"));
    has(&text, &format!("weft_path_rx_bytes_total{EAST} 2000000"));
    has(&text, &format!("weft_path_tx_packets_total{EAST} 1000"));
    has(&text, &format!("weft_path_rx_packets_total{EAST} 2000"));
    has(&text, &format!("weft_path_flows{EAST} 7"));
    has(&text, r#"weft_failovers_total{reason="path_down"} 2"#);
    has(&text, r#"weft_failovers_total{reason="sla_loss"} 1"#);
    has(&text, r#"weft_dropped_packets_total{reason="probe_bad_mac"} 5"#);
    has(&text, r#"weft_dropped_packets_total{reason="with \"quote\""} 1"#);
    has(&text, r#"weft_dataplane_offload{kind="tun_tso"} 1"#);
    has(&text, r#"weft_dataplane_offload{kind="udp_gro"} 0"#);
    has(&text, r#"weft_mesh_events_total{event="datagrams_in"} 12"#);
    has(&text, r#"weft_mesh_events_total{event="relayed_packets"} 3"#);
    has(&text, r#"weft_policy_denied_packets_total{rule="block-guest"} 9"#);
    has(&text, r#"weft_policy_denied_packets_total{rule="default"} 4"#);
    has(&text, r#"weft_policy_version{name="office"} 3"#);
    has(&text, r#"weft_tunnel_handshakes_total{peer="east"} 2"#);
    has(&text, r#"weft_members{state="up"} 2"#);
    has(&text, r#"weft_members{state="removed"} 0"#);
    has(&text, r#"weft_api_requests_total{method="GET",route="/api/v1/paths",code="200"} 10"#);
    has(&text, r#"weft_api_requests_total{method="POST",route="/api/v1/policy",code="401"} 1"#);
    // Nothing was observed: no histogram family at all.
    lacks(&text, "weft_path_rtt_seconds");
    // Every sample line is one line: the newline in a label value is escaped.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(line.starts_with("weft_"), "stray line {line:?} in:\n{text}");
    }
}

#[test]
fn counters_never_decrease_and_vanished_labels_disappear() {
    let m = updated();
    let east = labels("east", "wan0", "192.0.2.1:51820");
    m.observe_rtt(&east, Duration::from_millis(10));

    // The east path goes, a drop reason goes, another one is reset to a lower total.
    let mut snap = snapshot();
    snap.paths.retain(|p| p.labels != east);
    snap.drops = vec![("probe_bad_mac".to_owned(), 2)];
    snap.members.truncate(1);
    m.update(snap.clone());
    let text = m.encode();
    lacks(&text, EAST);
    lacks(&text, "weft_path_rtt_seconds");
    lacks(&text, "with \\\"quote\\\"");
    lacks(&text, r#"state="removed""#);
    has(&text, r#"weft_dropped_packets_total{reason="probe_bad_mac"} 7"#);

    // The path is re-created with fresh, lower totals: its counters go on from
    // where they were, and its histogram keeps its samples.
    let mut snap = snapshot();
    snap.paths[0].tx_bytes = 10;
    snap.paths[0].probes_sent = 400;
    snap.drops = vec![("probe_bad_mac".to_owned(), 3)];
    m.update(snap.clone());
    let text = m.encode();
    has(&text, &format!("weft_path_tx_bytes_total{EAST} 1000010"));
    has(&text, &format!("weft_path_probes_sent_total{EAST} 400"));
    has(&text, &format!("weft_path_rtt_seconds_count{EAST} 1"));
    has(&text, r#"weft_dropped_packets_total{reason="probe_bad_mac"} 8"#);
    // A gauge is just the latest value.
    has(&text, &format!("weft_path_flows{EAST} 7"));

    // Gone for longer than FORGET_AFTER updates: forgotten, back as a new series.
    let mut snap = snapshot();
    snap.paths.retain(|p| p.labels != east);
    for _ in 0..=FORGET_AFTER {
        m.update(snap.clone());
    }
    let mut snap = snapshot();
    snap.paths[0].tx_bytes = 10;
    m.update(snap.clone());
    let text = m.encode();
    has(&text, &format!("weft_path_tx_bytes_total{EAST} 10"));
    lacks(&text, "weft_path_rtt_seconds");
}

#[test]
fn duplicate_label_sets_in_one_snapshot_are_summed_or_kept_once() {
    let m = Metrics::new();
    let mut snap = snapshot();
    snap.drops.push(("probe_bad_mac".to_owned(), 1));
    let mut twin = snap.paths[0].clone();
    twin.tx_bytes = 1;
    snap.paths.push(twin);
    m.update(snap.clone());
    let text = m.encode();
    has(&text, r#"weft_dropped_packets_total{reason="probe_bad_mac"} 6"#);
    has(&text, &format!("weft_path_tx_bytes_total{EAST} 1000000"));
    assert_eq!(text.matches(&format!("weft_path_tx_bytes_total{EAST}")).count(), 1);
}

#[test]
fn an_observed_rtt_shows_up_in_bucket_sum_and_count() {
    let m = updated();
    let east = labels("east", "wan0", "192.0.2.1:51820");
    m.observe_rtt(&east, Duration::from_micros(1_500));
    m.observe_rtt(&east, Duration::from_millis(30));
    m.observe_rtt(&east, Duration::from_secs(3));
    let text = m.encode();
    let l = EAST.trim_start_matches('{');
    has(&text, "# TYPE weft_path_rtt_seconds histogram");
    has(&text, "# UNIT weft_path_rtt_seconds seconds");
    has(&text, &format!("weft_path_rtt_seconds_count{EAST} 3"));
    has(&text, &format!("weft_path_rtt_seconds_sum{EAST} 3.0315"));
    has(&text, &format!(r#"weft_path_rtt_seconds_bucket{{le="0.0005",{l} 0"#));
    has(&text, &format!(r#"weft_path_rtt_seconds_bucket{{le="0.002",{l} 1"#));
    has(&text, &format!(r#"weft_path_rtt_seconds_bucket{{le="0.032",{l} 2"#));
    has(&text, &format!(r#"weft_path_rtt_seconds_bucket{{le="2.048",{l} 2"#));
    has(&text, &format!(r#"weft_path_rtt_seconds_bucket{{le="+Inf",{l} 3"#));
    // A path only seen in an echo so far shows until the next update drops it.
    let new = labels("north", "wan0", "198.51.100.7:51820");
    m.observe_rtt(&new, Duration::from_millis(5));
    assert!(m.encode().contains(r#"weft_path_rtt_seconds_count{peer="north""#));
    m.update(snapshot().clone());
    assert!(!m.encode().contains(r#"peer="north""#));
}

#[test]
fn metrics_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Metrics>();
}

/// A control plane with a leading controller and a mesh policy in force.
fn plane() -> std::sync::Arc<crate::controlplane::PlaneState> {
    let plane = std::sync::Arc::new(crate::controlplane::PlaneState::default());
    *plane.controller.write().unwrap() = Some(crate::controlplane::ControllerView {
        id: "paris".into(),
        store: "etcd".into(),
        role: "leader".into(),
        leader: Some("paris".into()),
        epoch: Some(41),
        lease_age_ms: Some(250),
        last_fenced_write: Some((77, 1_700_000_000_000)),
        fenced_refused: 2,
    });
    *plane.in_force.write().unwrap() = Some(weft_api::MeshPolicyInForce {
        version: 7,
        epoch: 41,
        seq: 77,
        since_unix_ms: 1_700_000_000_000,
    });
    plane.bundles.write().unwrap().stale_refused = 3;
    plane
}

#[test]
fn the_control_plane_metrics_show_role_epoch_lease_and_publications() {
    let m = Metrics::new().with_plane(plane());
    let text = m.encode();
    has(&text, r#"weft_control_leader{id="paris"} 1"#);
    has(&text, "weft_control_epoch 41");
    has(&text, "weft_control_lease_age_seconds 0.25");
    has(&text, "weft_control_last_fenced_write_revision 77");
    has(&text, "weft_control_fenced_refused_total 2");
    has(&text, r#"weft_control_svids_total{outcome="refused"} 0"#);
    has(&text, "weft_mesh_policy_version 7");
    has(&text, r#"weft_mesh_policy_publications_total{outcome="stale_refused"} 3"#);
    // A site that is no controller shows only its mesh policy.
    let follower = Metrics::new().with_plane(std::sync::Arc::default());
    let text = follower.encode();
    lacks(&text, "weft_control_");
    lacks(&text, "weft_mesh_policy_version");
    has(&text, r#"weft_mesh_policy_publications_total{outcome="installed"} 0"#);
}

#[test]
fn promtool_check_metrics_accepts_the_output() {
    let m = Metrics::new().with_plane(plane());
    m.update(snapshot());
    let east = labels("east", "wan0", "192.0.2.1:51820");
    m.observe_rtt(&east, Duration::from_millis(12));
    m.observe_rtt(&labels(AWKWARD, "lte", "[2001:db8::1]:51820"), Duration::from_millis(80));
    let text = m.encode_text();
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "promtool is not on PATH (scripts/install-deps.sh installs it)"
            );
            eprintln!("note: promtool is not on PATH; skipping (scripts/install-deps.sh)");
            return;
        }
        Err(e) => panic!("running promtool: {e}"),
    };
    child.stdin.take().expect("piped stdin").write_all(text.as_bytes()).expect("writing stdin");
    let out = child.wait_with_output().expect("waiting for promtool");
    let said =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool failed ({}): {said}\non:\n{text}", out.status);
    assert!(said.trim().is_empty(), "promtool complained: {said}\non:\n{text}");
}

/// Every name in `deploy/metrics.txt` (what dashboards and alert rules may
/// use, checked by scripts/check-dashboards.py) is in the exporter's real
/// output, with every collector registered.
#[test]
fn every_name_in_deploy_metrics_txt_is_exported() {
    let links = std::sync::Arc::new(crate::agent::shared::LinkBoard::default());
    links.cert_not_after.store(1_900_000_000, std::sync::atomic::Ordering::Relaxed);
    let flood = crate::config::FloodConfig { mitigate: true, ..Default::default() };
    let key = weft_types::PrivateKey([7; 32]);
    let shield = crate::flood::FloodShield::new(
        std::time::Instant::now(),
        flood,
        &key,
        &["wan0".to_owned()],
    );
    {
        let mut view = shield.view.write().unwrap();
        view.destinations.push(weft_api::DdosDestination {
            dest: "uplink:wan0".into(),
            pps: 10.0,
            bps: 8000.0,
            baseline_pps: 9.0,
            baseline_bps: 7000.0,
            anomalous: false,
        });
        view.mitigation = Some(weft_api::DdosMitigation::default());
    }
    let qos = std::sync::Arc::new(crate::agent::qos::QosBoard::default());
    qos.set_reservation_states(crate::agent::qos::count_states(["waiting"].into_iter()));
    qos.set_stats(vec![crate::agent::qos::UplinkQos {
        uplink: "wan0".into(),
        capacity_bps: 50_000_000,
        shaped_bps: 47_500_000,
        lanes: vec![weft_qos::LaneStats {
            name: "bulk".into(),
            class: "bulk".into(),
            dropped_packets: 3,
            ..Default::default()
        }],
    }]);
    qos.publish(crate::agent::qos::QosSetup {
        capacity_bps: vec![Some(50_000_000)],
        uplink_names: vec!["wan0".into()],
        config: None,
        reservations: vec![crate::agent::qos::ReservedRoute {
            id: "r1".into(),
            to: "east".into(),
            class: "bulk".into(),
            app: None,
            uplink: 0,
            rate_bps: 20_000_000,
        }],
    });
    let m = Metrics::new()
        .with_plane(plane())
        .with_flood(std::sync::Arc::new(shield))
        .with_links(links)
        .with_qos(qos)
        .with_bgp(Some(bgp_board()))
        .with_ipsec(Some(std::sync::Arc::new(crate::ipsec::Shared::with_gateways(vec![
            weft_api::IpsecGateway {
                name: "cloud".into(),
                installed: true,
                alive: true,
                route: "ipsec".into(),
                classes: vec![weft_api::IpsecClassRoute {
                    profile: "realtime".into(),
                    class: "realtime".into(),
                    route: "wireguard".into(),
                }],
                rtt_ms: Some(1.5),
                bytes_in: 100,
                ..Default::default()
            },
        ]))));
    m.update(snapshot());
    m.observe_rtt(&labels("east", "wan0", "192.0.2.1:51820"), Duration::from_millis(12));
    let mut text = m.encode_text();
    text.push_str(&crate::zt::metrics::render(&[]));
    let mut exported = std::collections::BTreeSet::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let mut words = line.split_whitespace();
        let (Some(name), Some(kind)) = (words.next(), words.next()) else { continue };
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                exported.insert(format!("{name}{suffix}"));
            }
        } else if kind == "counter" && !name.ends_with("_total") {
            exported.insert(format!("{name}_total"));
        } else {
            exported.insert(name.to_owned());
        }
    }
    let listed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/metrics.txt"))
            .expect("reading deploy/metrics.txt");
    let missing: Vec<&str> = listed
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| !exported.contains(*l))
        .collect();
    assert!(missing.is_empty(), "listed but not exported: {missing:?}\nexported: {exported:?}");
}

fn bgp_board() -> std::sync::Arc<crate::bgp::BgpBoard> {
    let board = std::sync::Arc::new(crate::bgp::BgpBoard::default());
    let learnt = |prefix: &str, refused: Option<&str>| weft_api::LearntPrefix {
        prefix: prefix.into(),
        neighbor: "dc1".into(),
        accepted: refused.is_none(),
        refused: refused.map(Into::into),
    };
    board.set(weft_api::BgpStatus {
        enabled: true,
        local_as: 65001,
        learn: vec!["10.60.0.0/16".into()],
        announced: vec!["10.77.2.0/24".into(), "10.77.3.0/24".into()],
        neighbors: vec![
            weft_api::BgpNeighbor {
                name: "dc1".into(),
                session: "up: Established".into(),
                ..Default::default()
            },
            weft_api::BgpNeighbor {
                name: "dc2".into(),
                session: "start: Active".into(),
                ..Default::default()
            },
        ],
        learnt: vec![learnt("10.60.1.0/24", None), learnt("10.77.2.0/25", Some("overlaps"))],
        shared: Vec::new(),
    });
    board
}

#[test]
fn the_bgp_speaker_exports_its_sessions_and_prefix_counts() {
    let text = Metrics::new().with_bgp(Some(bgp_board())).encode_text();
    for line in [
        "weft_bgp_session_up{neighbor=\"dc1\"} 1",
        "weft_bgp_session_up{neighbor=\"dc2\"} 0",
        "weft_bgp_announced_prefixes 2",
        "weft_bgp_learnt_prefixes{state=\"accepted\"} 1",
        "weft_bgp_learnt_prefixes{state=\"refused\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} not in:\n{text}");
    }
    assert!(!Metrics::new().with_bgp(None).encode_text().contains("weft_bgp"), "no [bgp]: none");
}
