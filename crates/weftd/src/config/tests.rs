use std::path::Path;
use std::time::Duration;

use super::*;

const KEY_A: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const KEY_B: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

fn good() -> String {
    format!(
        r#"[site]
name = "paris"
private_key_file = "paris.key"
address = "10.10.1.1/24"
prefixes = ["10.10.1.0/24"]

[[uplink]]
name = "fiber"
bind = "198.18.1.2:51820"
priority = 1
capacity = "1gbit"

[[uplink]]
name = "lte"
bind = "198.18.1.6:51820"
metered = true
cost_per_gb = 0.5

[[peer]]
name = "berlin"
public_key = "{KEY_A}"
prefixes = ["10.10.2.0/24"]
endpoints = ["198.18.2.2:51820", "198.18.2.6:51820"]

[[peer]]
name = "stock"
public_key = "{KEY_B}"
prefixes = ["10.10.3.0/24"]
endpoints = ["198.18.3.2:51820"]
stock = true

[[class]]
protocol = "udp"
ports = "5060-5061"
class = "realtime"

[probe]
interval = "fast"
"#
    )
}

fn parse_str(s: &str) -> Result<SiteConfig, ConfigError> {
    parse(Path::new("/etc/weft/site.toml"), s)
}

fn diagnostics(s: &str) -> Vec<String> {
    match parse_str(s) {
        Err(ConfigError::Invalid(d)) => d.iter().map(ToString::to_string).collect(),
        other => panic!("expected diagnostics, got {other:?}"),
    }
}

#[test]
fn a_complete_config_parses_with_defaults_filled_in() {
    let c = parse_str(&good()).unwrap();
    assert_eq!(c.name.as_str(), "paris");
    assert_eq!(c.private_key_file, Path::new("/etc/weft/paris.key"));
    assert_eq!(c.address.to_string(), "10.10.1.1");
    assert_eq!(c.address_prefix.to_string(), "10.10.1.0/24");
    assert_eq!((c.interface.as_str(), c.mtu), ("weft0", 1420));
    assert!(c.offload, "offloads are on unless switched off");
    assert_eq!(c.uplinks.len(), 2);
    assert!(c.uplinks[1].metered);
    assert_eq!(c.uplinks[1].priority, 100);
    assert_eq!(c.peers[0].endpoints.len(), 2);
    assert_eq!(
        c.peers[1].keepalive,
        Some(Duration::from_secs(1)),
        "stock peers get a 1 s keepalive"
    );
    assert_eq!(c.classes.rules[0].ports, 5060..=5061);
    assert_eq!(c.engine, weft_path::EngineConfig::fast());
    assert_eq!(c.api_listen.to_string(), "127.0.0.1:7420");
}

#[test]
fn toml_syntax_errors_name_file_line_and_column() {
    let bad = good().replace("name = \"fiber\"", "name = fiber");
    let d = diagnostics(&bad);
    assert_eq!(d.len(), 1);
    assert!(d[0].starts_with("/etc/weft/site.toml:8:8: "), "{d:?}");
}

#[test]
fn unknown_keys_are_refused_where_they_stand() {
    let bad = good().replace("metered = true", "meterd = true");
    let d = diagnostics(&bad);
    assert!(d[0].starts_with("/etc/weft/site.toml:16:1: ") && d[0].contains("meterd"), "{d:?}");
}

#[test]
fn semantic_errors_are_all_reported_with_positions() {
    let bad = good()
        .replace("name = \"lte\"", "name = \"fiber\"")
        .replace("\"10.10.3.0/24\"", "\"10.10.2.128/25\"")
        .replace("class = \"realtime\"", "class = \"gold\"")
        .replace("ports = \"5060-5061\"", "ports = \"6000-5000\"")
        .replace("bind = \"198.18.1.6:51820\"", "bind = \"198.18.1.6\"");
    let d = diagnostics(&bad);
    let has = |line: usize, text: &str| {
        d.iter().any(|m| m.contains(&format!("site.toml:{line}:")) && m.contains(text))
    };
    assert!(has(14, "used twice"), "{d:?}");
    assert!(has(15, "not ADDRESS:PORT"), "{d:?}");
    assert!(has(28, "overlaps 10.10.2.0/24"), "{d:?}");
    assert!(has(34, "not a port"), "{d:?}");
    assert!(has(35, "unknown class"), "{d:?}");
    assert_eq!(d.len(), 5, "{d:?}");
}

#[test]
fn bad_values_name_what_was_expected() {
    let bad = good()
        .replace(KEY_A, "not-a-key")
        .replace("\"1gbit\"", "\"fast\"")
        .replace("10.10.1.1/24", "10.10.1.1")
        .replace("interval = \"fast\"", "interval = \"-5ms\"");
    let d = diagnostics(&bad).join("\n");
    assert!(d.contains("site.toml:4:11: address needs a prefix length"), "{d}");
    assert!(d.contains("site.toml:11:12:") && d.contains("bandwidth"), "{d}");
    assert!(d.contains("site.toml:21:14:") && d.contains("base64"), "{d}");
    assert!(d.contains("site.toml:38:12:") && d.contains("duration"), "{d}");
}

#[test]
fn a_site_without_uplinks_or_a_peer_without_endpoints_is_refused() {
    let src = format!(
        "[site]\nname = \"x\"\nprivate_key_file = \"k\"\naddress = \"10.0.0.1/24\"\n\n[[peer]]\nname = \"y\"\npublic_key = \"{KEY_A}\"\n"
    );
    let d = diagnostics(&src).join("\n");
    assert!(d.contains("at least one [[uplink]]"), "{d}");
    assert!(d.contains("site.toml:7:8: peer \"y\" needs at least one endpoint"), "{d}");
}

#[test]
fn an_unreadable_file_is_a_clear_error() {
    let e = load(Path::new("/nonexistent/site.toml")).unwrap_err();
    assert!(e.to_string().starts_with("/nonexistent/site.toml: "), "{e}");
}

#[test]
fn policy_file_state_dir_role_and_region_are_read_and_paths_anchor_at_the_config() {
    let text = good()
        .replace(
            "prefixes = [\"10.10.1.0/24\"]\n\n[[uplink]]",
            "prefixes = [\"10.10.1.0/24\"]\nrole = \"branch\"\nregion = \"eu-west\"\nstate_dir = \"state\"\n\n[[uplink]]",
        )
        .replace("stock = true\n", "stock = true\nrole = \"dc\"\n")
        + "\n[policy]\nfile = \"policy.toml\"\n";
    let cfg = parse_str(&text).unwrap();
    assert_eq!(cfg.role.as_deref(), Some("branch"));
    assert_eq!(cfg.region.as_deref(), Some("eu-west"));
    assert_eq!(cfg.state_dir, Path::new("/etc/weft/state"));
    assert_eq!(cfg.policy_file.as_deref(), Some(Path::new("/etc/weft/policy.toml")));
    assert_eq!(cfg.peers[1].role.as_deref(), Some("dc"));
    let defaults = parse_str(&good()).unwrap();
    assert_eq!(defaults.state_dir, Path::new(DEFAULT_STATE_DIR));
    assert_eq!(defaults.policy_file, None);
    let d = diagnostics(&(good() + "\n[policy]\nfil = \"x\"\n"));
    assert!(d[0].contains("unknown field `fil`"), "{d:?}");
}

#[test]
fn api_tls_takes_a_certificate_and_its_key_anchored_at_the_config() {
    let cfg = parse_str(&format!(
        "{}\n[api]\ntls_cert = \"api.crt\"\ntls_key = \"/k/api.key\"\n",
        good()
    ))
    .expect("parses");
    assert_eq!(
        cfg.api_tls,
        Some((Path::new("/etc/weft/api.crt").to_owned(), Path::new("/k/api.key").to_owned()))
    );
    let d = diagnostics(&format!("{}\n[api]\ntls_cert = \"api.crt\"\n", good()));
    assert!(d.iter().any(|m| m.contains("tls_cert needs tls_key")), "{d:?}");
    assert_eq!(parse_str(&good()).unwrap().api_tls, None, "plain HTTP by default");
}

#[test]
fn without_a_mesh_section_the_mesh_defaults_to_the_first_uplink_and_full_mesh() {
    let cfg = parse_str(&good()).unwrap();
    assert!(!cfg.mesh.configured);
    assert_eq!(cfg.mesh.listen, "198.18.1.2:7946".parse().unwrap());
    assert_eq!(cfg.mesh.topology, Topology::FullMesh);
    assert_eq!(cfg.mesh.grace, Duration::from_secs(5));
    assert_eq!(cfg.mesh.relay_hold_down, Duration::from_secs(3));
}

#[test]
fn a_mesh_section_is_read_and_its_mistakes_are_placed() {
    let text = format!(
        "{}\n[mesh]\nlisten = \"198.18.1.2:8000\"\ntopology = \"hybrid\"\ncritical = [\"paris\"]\nseeds = [\"198.18.9.9:7946\"]\ngrace = \"10s\"\nprofile = \"wan\"\ninterval = \"500ms\"\nfanout = 3\n",
        good()
    );
    let cfg = parse_str(&text).unwrap();
    assert!(cfg.mesh.configured);
    assert_eq!(cfg.mesh.listen.port(), 8000);
    assert_eq!(cfg.mesh.topology, Topology::Hybrid);
    assert_eq!(cfg.mesh.critical.len(), 1);
    assert_eq!(cfg.mesh.seeds, vec!["198.18.9.9:7946".parse().unwrap()]);
    assert_eq!(cfg.mesh.grace, Duration::from_secs(10));
    assert_eq!(cfg.mesh.profile, GossipProfile::Wan);
    assert_eq!(cfg.mesh.interval, Some(Duration::from_millis(500)));
    assert_eq!(cfg.mesh.fanout, Some(3));

    let bad = format!("{}\n[mesh]\ntopology = \"ring\"\ncritical = [\"x\"]\nfanout = 0\n", good());
    let d = diagnostics(&bad);
    let lines = good().lines().count();
    assert!(
        d.iter().any(|m| m.contains(&format!(":{}:12", lines + 3))
            && m.contains("unknown topology \"ring\"")),
        "{d:?}"
    );
    assert!(d.iter().any(|m| m.contains("critical sites only mean something")), "{d:?}");
    assert!(d.iter().any(|m| m.contains("fanout must be 1..=64")), "{d:?}");
}

#[test]
fn offloads_can_be_switched_off_in_the_site_section() {
    let text = good().replacen("[site]\n", "[site]\noffload = false\n", 1);
    assert!(text.contains("offload = false"), "the test config has no [site] line");
    assert!(!parse_str(&text).unwrap().offload);
}

#[test]
fn a_controller_section_gives_the_store_the_id_and_the_lease() {
    let cfg = parse_str(&format!(
        "{}\n[controller]\nstore = \"etcd\"\nendpoints = [\"198.18.1.2:2379\", \"198.18.2.2:2379\"]\nlease_ttl = \"3s\"\n",
        good()
    ))
    .unwrap();
    let c = cfg.controller.expect("a controller");
    assert_eq!(c.id, "paris", "the id defaults to the site name");
    assert_eq!(c.lease_ttl, Duration::from_secs(3));
    assert_eq!(
        c.store,
        ControlStoreKind::Etcd(vec![
            "198.18.1.2:2379".parse().unwrap(),
            "198.18.2.2:2379".parse().unwrap()
        ])
    );
    let sqlite = parse_str(&format!("{}\n[controller]\n", good())).unwrap();
    assert_eq!(sqlite.controller.map(|c| c.store), Some(ControlStoreKind::Sqlite));
    assert!(parse_str(&good()).unwrap().controller.is_none());
}

#[test]
fn controller_mistakes_name_their_line_and_column() {
    let base = good();
    let line = base.lines().count() + 3;
    let d = diagnostics(&format!("{base}\n[controller]\nstore = \"zookeeper\"\n"));
    assert!(
        d.iter().any(|m| m.contains(&format!("site.toml:{line}:9")) && m.contains("unknown store")),
        "{d:?}"
    );
    let d = diagnostics(&format!("{base}\n[controller]\nstore = \"etcd\"\n"));
    assert!(d.iter().any(|m| m.contains("needs endpoints")), "{d:?}");
    let d = diagnostics(&format!(
        "{base}\n[controller]\nstore = \"etcd\"\nendpoints = [\"etcd-1\"]\nlease_ttl = \"500ms\"\n"
    ));
    assert!(d.iter().any(|m| m.contains("\"etcd-1\" is not ADDRESS:PORT")), "{d:?}");
    assert!(d.iter().any(|m| m.contains("lease_ttl must be 1s..=60s")), "{d:?}");
    let d = diagnostics(&format!("{base}\n[controller]\nendpoints = [\"198.18.1.2:2379\"]\n"));
    assert!(d.iter().any(|m| m.contains("endpoints are for store = \"etcd\"")), "{d:?}");
}

#[test]
fn a_zerotrust_section_gives_its_proxies_and_mistakes_name_their_place() {
    let cfg = parse_str(&format!(
        "{}\n[zerotrust]\ntrust_domain = \"mesh.test\"\nsvid_ttl = \"20s\"\n[[zerotrust.sidecar]]\nservice = \"api\"\nport = 8443\nlisten = \"10.10.1.1:18443\"\nforward = \"127.0.0.1:8080\"\n[[zerotrust.gateway]]\nname = \"edge\"\nlisten = \"0.0.0.0:443\"\n[[zerotrust.gateway.route]]\nhost = \"api.example\"\nservice = \"api\"\nport = 8443\nbackends = [\"10.10.2.1:18443\"]\n",
        good()
    ))
    .unwrap();
    let z = cfg.zerotrust.expect("a zerotrust section");
    assert_eq!(z.trust_domain.as_str(), "mesh.test");
    assert_eq!(z.svid_ttl, Duration::from_secs(20));
    assert_eq!(z.dir, cfg.state_dir.join("zt"));
    assert_eq!(z.sidecars[0].forward, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(z.gateways[0].routes[0].backends, ["10.10.2.1:18443".parse().unwrap()]);
    assert!(z.workloads.is_empty());
    assert_eq!(z.workload_socket, cfg.state_dir.join("workload.sock"));
    let w = parse_str(&format!(
        "{}\n[zerotrust]\ntrust_domain = \"mesh.test\"\n[[zerotrust.workload]]\nid = \"spiffe://mesh.test/svc/web\"\nuid = 1000\npath = \"/usr/bin/web\"\n",
        good()
    ))
    .unwrap();
    let rule = &w.zerotrust.unwrap().workloads[0];
    assert_eq!((rule.uid, rule.gid), (Some(1000), None));
    let d = diagnostics(&format!(
        "{}\n[zerotrust]\ntrust_domain = \"mesh.test\"\n[[zerotrust.workload]]\nid = \"spiffe://other.test/web\"\n",
        good()
    ));
    assert!(d.iter().any(|m| m.contains("not in the trust domain")), "{d:?}");
    assert!(d.iter().any(|m| m.contains("at least one selector")), "{d:?}");
    // A route without backends takes the registry's; an empty list is a mistake.
    let gw = |backends: &str| {
        format!(
            "{}\n[zerotrust]\ntrust_domain = \"mesh.test\"\n[[zerotrust.gateway]]\nname = \"edge\"\nlisten = \"0.0.0.0:443\"\n[[zerotrust.gateway.route]]\nhost = \"api.example\"\nservice = \"api\"\nport = 8443\n{backends}",
            good()
        )
    };
    let z = parse_str(&gw("")).unwrap().zerotrust.unwrap();
    assert!(z.gateways[0].routes[0].backends.is_empty());
    let d = diagnostics(&gw("backends = []\n"));
    assert!(d.iter().any(|m| m.contains("leave it out")), "{d:?}");

    let base = good();
    let line = base.lines().count() + 3;
    let d = diagnostics(&format!(
        "{base}\n[zerotrust]\ntrust_domain = \"Mesh\"\nsvid_ttl = \"1s\"\n[[zerotrust.sidecar]]\nservice = \"a b\"\nport = 1\nlisten = \"nowhere\"\nforward = \"127.0.0.1:1\"\n"
    ));
    for (at, what) in [
        (format!("site.toml:{line}:16"), "lowercase"),
        (format!("site.toml:{}:12", line + 1), "10s..=30d"),
        (format!("site.toml:{}:11", line + 3), "service name"),
        (format!("site.toml:{}:10", line + 5), "ADDRESS:PORT"),
    ] {
        assert!(d.iter().any(|m| m.contains(&at) && m.contains(what)), "{at} {what}: {d:?}");
    }
}

#[test]
fn a_bgp_section_gives_its_neighbors_and_mistakes_name_their_place() {
    let cfg = parse_str(&format!(
        "{}\n[bgp]\nlocal_as = 65001\ncommunities = [\"65001:100\"]\nmed = 5\n[[bgp.neighbor]]\nname = \"dc1\"\naddress = \"198.18.3.2\"\nremote_as = 65000\nmultihop = 2\n",
        good()
    ))
    .unwrap();
    let b = cfg.bgp.expect("a bgp section");
    assert_eq!(
        (b.local_as, b.communities.clone(), b.med, b.announce_local),
        (65001, vec![(65001, 100)], Some(5), false)
    );
    assert_eq!(b.neighbors[0].address, "198.18.3.2".parse::<std::net::IpAddr>().unwrap());
    assert_eq!(b.neighbors[0].multihop, Some(2));
    assert_eq!(b.dir, cfg.state_dir.join("bird"));
    let base = good();
    let line = base.lines().count() + 3;
    let d = diagnostics(&format!(
        "{base}\n[bgp]\nlocal_as = 65001\ncommunities = [\"65001\"]\n[[bgp.neighbor]]\nname = \"Dc-1\"\naddress = \"dc1\"\nremote_as = 0\n"
    ));
    for (at, what) in [
        (format!("site.toml:{}:16", line + 1), "not a community"),
        (format!("site.toml:{}:8", line + 3), "neighbor name"),
        (format!("site.toml:{}:11", line + 4), "not an IP address"),
        (format!("site.toml:{}:13", line + 5), "remote_as"),
    ] {
        assert!(d.iter().any(|m| m.contains(&at) && m.contains(what)), "{at} {what}: {d:?}");
    }
    let d = diagnostics(&format!("{base}\n[bgp]\nlocal_as = 65001\n"));
    assert!(d.iter().any(|m| m.contains("at least one")), "{d:?}");
}

#[test]
fn bgp_learn_ranges_turn_import_on_and_mistakes_name_their_place() {
    let cfg = parse_str(&format!(
        "{}\n[bgp]\nlocal_as = 65001\nlearn = [\"10.60.0.0/16\"]\n[[bgp.neighbor]]\nname = \"dc1\"\naddress = \"198.18.3.2\"\nremote_as = 65000\n[[bgp.neighbor]]\nname = \"dc2\"\naddress = \"198.18.3.3\"\nremote_as = 65000\nimport = false\n",
        good()
    ))
    .unwrap();
    let b = cfg.bgp.expect("a bgp section");
    assert_eq!(b.learn, vec![weft_types::IpPrefix::parse("10.60.0.0/16").unwrap()]);
    assert!(b.neighbors[0].import, "learn turns import on");
    assert!(!b.neighbors[1].import, "unless the neighbor says otherwise");
    let without = parse_str(&format!(
        "{}\n[bgp]\nlocal_as = 65001\n[[bgp.neighbor]]\nname = \"dc1\"\naddress = \"198.18.3.2\"\nremote_as = 65000\n",
        good()
    ))
    .unwrap();
    assert!(!without.bgp.unwrap().neighbors[0].import, "no learn: nothing is imported");
    let base = good();
    let line = base.lines().count() + 3;
    let d = diagnostics(&format!(
        "{base}\n[bgp]\nlocal_as = 65001\nlearn = [\"10.60.0.0/16\", \"10.61.0.1/16\", \"0.0.0.0/0\"]\n[[bgp.neighbor]]\nname = \"dc1\"\naddress = \"198.18.3.2\"\nremote_as = 65000\n"
    ));
    for (at, what) in [
        (format!("site.toml:{}:26", line + 1), "host bits"),
        (format!("site.toml:{}:42", line + 1), "every route"),
    ] {
        assert!(d.iter().any(|m| m.contains(&at) && m.contains(what)), "{at} {what}: {d:?}");
    }
    let d = diagnostics(&format!(
        "{base}\n[bgp]\nlocal_as = 65001\n[[bgp.neighbor]]\nname = \"dc1\"\naddress = \"198.18.3.2\"\nremote_as = 65000\nimport = true\n"
    ));
    let at = format!("site.toml:{}:10", line + 5);
    assert!(d.iter().any(|m| m.contains(&at) && m.contains("needs [bgp] learn")), "{at}: {d:?}");
}

#[test]
fn a_learn_preference_goes_with_learn_ranges_and_defaults_to_100() {
    let section = "[bgp]\nlocal_as = 65001\nlearn = [\"10.60.0.0/16\"]\nlearn_preference = 200\n[[bgp.neighbor]]\nname = \"dc1\"\naddress = \"198.18.3.2\"\nremote_as = 65000\n";
    let cfg = parse_str(&format!("{}\n{section}", good())).unwrap();
    assert_eq!(cfg.bgp.expect("a bgp section").learn_preference, 200);
    let plain = section.replace("learn_preference = 200\n", "");
    let cfg = parse_str(&format!("{}\n{plain}", good())).unwrap();
    assert_eq!(cfg.bgp.expect("a bgp section").learn_preference, 100);
    let base = good();
    let line = base.lines().count() + 3;
    let d = diagnostics(&format!(
        "{base}\n[bgp]\nlocal_as = 65001\nlearn_preference = 200\n[[bgp.neighbor]]\nname = \"dc1\"\naddress = \"198.18.3.2\"\nremote_as = 65000\n"
    ));
    let at = format!("site.toml:{}:20", line + 1);
    assert!(d.iter().any(|m| m.contains(&at) && m.contains("needs [bgp] learn")), "{at}: {d:?}");
}

#[test]
fn more_learn_ranges_than_a_certificate_carries_are_refused_at_the_ninth() {
    let base = good();
    let line = base.lines().count() + 3;
    let ranges: Vec<String> = (0..9).map(|i| format!("\"10.{}.0.0/16\"", 60 + i)).collect();
    let d = diagnostics(&format!(
        "{base}\n[bgp]\nlocal_as = 65001\nlearn = [{}]\n[[bgp.neighbor]]\nname = \"dc1\"\naddress = \"198.18.3.2\"\nremote_as = 65000\n",
        ranges.join(",")
    ));
    let col = 10 + ranges[..8].iter().map(|r| r.len() + 1).sum::<usize>();
    let at = format!("site.toml:{}:{col}", line + 1);
    assert!(
        d.iter().any(|m| m.contains(&at) && m.contains("at most 8 learn ranges")),
        "{at}: {d:?}"
    );
}

#[test]
fn retention_defaults_bound_the_audit_log_and_mistakes_name_their_place() {
    let cfg = parse_str(&good()).unwrap();
    assert_eq!(cfg.audit_retention.max_records, Some(1_000_000));
    assert_eq!(cfg.audit_retention.max_age_ms, Some(400 * 86_400_000));
    assert_eq!(cfg.audit_retention.export, None);
    let cfg = parse_str(&format!(
        "{}\n[retention]\naudit_days = 30\naudit_max_records = 5000\naudit_export = \"audit.jsonl\"\n",
        good()
    ))
    .unwrap();
    let r = &cfg.audit_retention;
    assert_eq!((r.max_age_ms, r.max_records), (Some(30 * 86_400_000), Some(5000)));
    assert_eq!(r.export, Some(cfg.state_dir.join("audit.jsonl")));
    let base = good();
    let line = base.lines().count() + 3;
    let d = diagnostics(&format!("{base}\n[retention]\naudit_days = 0\naudit_max_records = 10\n"));
    for (at, what) in [
        (format!("site.toml:{line}:14"), "audit_days"),
        (format!("site.toml:{}:21", line + 1), "at least 1000"),
    ] {
        assert!(d.iter().any(|m| m.contains(&at) && m.contains(what)), "{at} {what}: {d:?}");
    }
}

#[test]
fn flood_defaults_hold_without_a_section_and_a_section_is_read() {
    let c = parse_str(&good()).unwrap();
    assert_eq!(c.flood, FloodConfig::default());
    assert!(!c.flood.mitigate, "the nftables hook is off unless asked for");
    let with = format!(
        "{}\n[flood]\nhandshakes = 500\nmitigate = true\nnft_table = \"weft_lab\"\nblock = \"30s\"\ntop_sources = 64\n",
        good()
    );
    let c = parse_str(&with).unwrap();
    assert_eq!(c.flood.handshakes, 500);
    assert!(c.flood.mitigate);
    assert_eq!(c.flood.nft_table, "weft_lab");
    assert_eq!(c.flood.block, Duration::from_secs(30));
    assert_eq!(c.flood.top_sources, 64);
    assert_eq!(c.flood.prefix_min_pps, 10_000, "the per-prefix floor's default");
    assert_eq!(c.flood.handshakes_per_source, 20, "unset keys keep their defaults");
}

#[test]
fn bad_flood_values_name_file_line_and_column() {
    let lines = good().lines().count();
    let bad = format!(
        "{}\n[flood]\nhandshakes = 0\nnft_table = \"weft; flush ruleset\"\nblock = \"2ms\"\ndetect_factor = 0.5\nprefix_min_pps = 0\n",
        good()
    );
    let d = diagnostics(&bad).join("\n");
    let at = |n: usize, col: usize| format!("site.toml:{}:{col}:", lines + n);
    assert!(d.contains(&at(3, 14)) && d.contains("handshakes must be 1..="), "{d}");
    assert!(d.contains(&at(4, 13)) && d.contains("nft_table must be"), "{d}");
    assert!(d.contains(&at(5, 9)) && d.contains("block is whole seconds"), "{d}");
    assert!(d.contains(&at(6, 17)) && d.contains("detect_factor"), "{d}");
    assert!(d.contains(&at(7, 18)) && d.contains("prefix_min_pps must be 1..="), "{d}");
    let unknown = format!("{}\n[flood]\nhandshake = 3\n", good());
    let d = diagnostics(&unknown).join("\n");
    assert!(d.contains(&at(3, 1)) && d.contains("handshake"), "{d}");
}

#[test]
fn qos_shapes_only_uplinks_with_a_written_capacity_and_checks_its_section() {
    let c = parse_str(&good()).unwrap();
    assert!(c.qos.enabled, "on by default");
    let given: Vec<(&str, bool)> =
        c.uplinks.iter().map(|u| (u.name.as_str(), u.capacity_given)).collect();
    assert_eq!(given, [("fiber", true), ("lte", false)], "only fiber has a capacity written");
    let with = good().replace("metered = true", "metered = true\ncapacity = \"50mbit\"");
    let c = parse_str(&with).unwrap();
    assert!(c.uplinks[1].capacity_given);
    assert_eq!(c.uplinks[1].capacity.bps(), 50_000_000);
    let off =
        format!("{}\n[qos]\nenabled = false\nheadroom = \"90%\"\nqueue_time = \"20ms\"\n", good());
    let c = parse_str(&off).unwrap();
    assert!(!c.qos.enabled);
    assert!((c.qos.headroom - 0.9).abs() < 1e-9);
    assert_eq!(c.qos.queue_time, std::time::Duration::from_millis(20));
    let bad = format!("{}\n[qos]\nheadroom = \"20%\"\nqueue_time = \"5s\"\n", good());
    let d = diagnostics(&bad);
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(d[0].contains("headroom must be 50%..=100%"), "{d:?}");
    assert!(d[1].contains("queue_time must be 1ms..=1s"), "{d:?}");
    let lines = good().lines().count();
    assert!(d[0].starts_with(&format!("/etc/weft/site.toml:{}:12: ", lines + 3)), "{d:?}");
}

#[test]
fn the_log_section_sets_format_and_level_and_a_wrong_value_names_its_place() {
    assert_eq!(parse_str(&good()).unwrap().log, crate::config::LogConfig::default());
    let c =
        parse_str(&format!("{}\n[log]\nformat = \"json\"\nlevel = \"debug\"\n", good())).unwrap();
    assert_eq!(c.log.format, Some(crate::log::Format::Json));
    assert_eq!(c.log.level, Some(crate::log::Level::Debug));
    let base = good();
    let line = base.lines().count() + 3;
    let d = diagnostics(&format!("{base}\n[log]\nformat = \"xml\"\nlevel = \"loud\"\n"));
    for (at, what) in [
        (format!("site.toml:{line}:10"), "not a log format (human, json)"),
        (format!("site.toml:{}:9", line + 1), "not a log level"),
    ] {
        assert!(d.iter().any(|m| m.contains(&at) && m.contains(what)), "{at} {what}: {d:?}");
    }
    let d = diagnostics(&format!("{base}\n[log]\nfmt = \"json\"\n"));
    let at = format!("site.toml:{line}:1");
    assert!(d.iter().any(|m| m.contains(&at) && m.contains("unknown field")), "{d:?}");
}

#[test]
fn the_client_pool_defaults_and_a_pool_over_a_site_prefix_is_refused_where_it_is_written() {
    let cfg = parse_str(&good()).unwrap();
    assert_eq!(cfg.profiles.pool.to_string(), DEFAULT_POOL);
    assert!(cfg.profiles.endpoints.is_empty());
    let cfg = parse_str(&format!(
        "{}\n[profiles]\npool = \"100.64.8.0/24\"\nendpoints = [\"vpn.example.net:51820\"]\n",
        good()
    ))
    .unwrap();
    assert_eq!(cfg.profiles.pool.to_string(), "100.64.8.0/24");
    assert_eq!(cfg.profiles.endpoints, ["vpn.example.net:51820"]);
    let base = good();
    let line = base.lines().count() + 3;
    let d = diagnostics(&format!(
        "{base}\n[profiles]\npool = \"10.10.2.0/23\"\nendpoints = [\"no-port\"]\n"
    ));
    for (at, what) in [
        (format!("site.toml:{line}:8"), "overlaps 10.10.2.0/24"),
        (format!("site.toml:{}:14", line + 1), "not HOST:PORT"),
    ] {
        assert!(d.iter().any(|m| m.contains(&at) && m.contains(what)), "{at} {what}: {d:?}");
    }
    let d = diagnostics(&format!("{base}\n[profiles]\npool = \"fd00::/64\"\n"));
    assert!(d.iter().any(|m| m.contains("IPv4 prefix of length 8 to 30")), "{d:?}");
    // Without the section, a site whose prefixes cover the default pool is told to set one.
    let clash = base.replace("prefixes = [\"10.10.1.0/24\"]", "prefixes = [\"100.96.0.0/12\"]");
    let d = diagnostics(&clash);
    assert!(d.iter().any(|m| m.contains("set [profiles] pool")), "{d:?}");
}
