//! The zero-touch mesh in a namespace lab: sites that start with no static
//! peers, one holding the mesh CA, the others joining with tokens.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use weft_mesh::identity::{Label, TokenBody, TokenId};
use weftd::mesh::files::{MeshFiles, init_ca};

use crate::support::{Harness, wait_for};

/// The seed's mesh address (its first uplink, port 7946).
pub(crate) fn seed_addr(h: &Harness) -> String {
    format!("{}:7946", h.lab.sites()[0].uplinks[0].addr)
}

/// Mints a join token on the CA holder (site 0) through its API.
pub(crate) fn token(h: &Harness, uses: u32) -> String {
    let t = h.post(0, "/api/v1/mesh/tokens", &json!({"uses": uses, "ttl_s": 600}));
    let t = t.expect("POST /api/v1/mesh/tokens on the CA holder");
    t["token"].as_str().expect("token text").to_owned()
}

/// The names of the sites the agent of site `i` lists (other than itself), sorted.
fn peers_of(h: &Harness, i: usize) -> Option<Vec<String>> {
    let page = h.get(i, "/api/v1/sites?limit=100")?;
    let me = h.name(i);
    let mut names: Vec<String> = page["items"]
        .as_array()?
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .filter(|n| *n != me)
        .collect();
    names.sort();
    Some(names)
}

/// Whether site `i` lists exactly `want` and every path to them is up.
fn mesh_is(h: &Harness, i: usize, want: &[String]) -> bool {
    let Some(names) = peers_of(h, i) else { return false };
    if names != want {
        return false;
    }
    let Some(page) = h.get(i, "/api/v1/paths?limit=1000") else { return false };
    let paths = page["items"].as_array().cloned().unwrap_or_default();
    // 2 local uplinks × 2 remote endpoints per peer.
    paths.len() == 4 * want.len() && paths.iter().all(|p| p["state"] == "up")
}

pub(crate) fn names(h: &Harness, sites: &[usize]) -> Vec<String> {
    let mut v: Vec<String> = sites.iter().map(|i| h.name(*i)).collect();
    v.sort();
    v
}

/// Makes site 0 the CA holder and starts its agent; returns its mesh address.
fn start_ca_holder(h: &mut Harness) -> String {
    init_ca(&h.sites[0].state_dir).expect("weft ca init on site a");
    h.start_agent(0);
    wait_for("the CA holder's API", Duration::from_secs(20), || h.get(0, "/api/v1/mesh"));
    seed_addr(h)
}

/// Site 0 holds the CA; every other site joins with one token (no static
/// peers). With `full`, waits until every site peers with every other over
/// all its paths.
fn mesh_of(h: &mut Harness, full: bool) -> String {
    let seed = start_ca_holder(h);
    let n = h.sites.len();
    let t = token(h, u32::try_from(n - 1).unwrap());
    for i in 1..n {
        h.start_agent_args(i, &["--join", &t, "--seed", &seed]);
    }
    if full {
        for i in 0..n {
            let want = names(h, &(0..n).filter(|j| *j != i).collect::<Vec<_>>());
            wait_for(&format!("site {i} in a full mesh of {n}"), Duration::from_secs(30), || {
                mesh_is(h, i, &want).then_some(())
            });
        }
    }
    seed
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn sites_join_with_tokens_peer_automatically_and_leave_when_dead_or_revoked() {
    let mut h = Harness::with_options("mesh", 6, 2, "adaptive", true);
    let seed = start_ca_holder(&mut h);

    // Five sites from one seed, no static peers.
    let four = token(&h, 4);
    let mut pids = [0u32; 6];
    for (i, pid) in pids.iter_mut().enumerate().take(5).skip(1) {
        *pid = h.start_agent_args(i, &["--join", &four, "--seed", &seed]);
    }
    for i in 0..5 {
        let want = names(&h, &(0..5).filter(|j| *j != i).collect::<Vec<_>>());
        wait_for(&format!("site {i} in a full mesh of 5"), Duration::from_secs(30), || {
            mesh_is(&h, i, &want).then_some(())
        });
    }
    h.wait_ping(1, h.overlay(4), Duration::from_secs(10));
    assert_eq!(h.ping(1, h.overlay(4), 3), 3, "b reaches e, both learnt from the seed alone");

    // An expired token is refused; so is the first token again (its four uses are gone).
    let expired = {
        let files = MeshFiles::open(&h.sites[0].state_dir).unwrap();
        let ca = files.load_ca().unwrap().expect("ca.key");
        ca.issue_token(TokenBody {
            id: TokenId([7; 16]),
            expires_at: unix_now() - 5,
            max_uses: 1,
            role: Label::new("site").unwrap(),
            region: Label::new("").unwrap(),
            allowed_prefixes: None,
            allowed_learn: weft_mesh::identity::LearnRanges::default(),
        })
        .to_text()
    };
    let (code, err) = h.run_agent(5, &["--join", &expired, "--seed", &seed]);
    eprintln!("expired token: {code:?} {err}");
    assert_eq!(code, Some(1), "an expired token must stop the start: {err}");
    assert!(err.contains("token expired"), "clear refusal: {err}");
    // Right after, from the same address: the refusal names its request, so
    // a late answer to the last attempt is not read as this one's.
    let (code, err) = h.run_agent(5, &["--join", &four, "--seed", &seed]);
    eprintln!("used-up token: {code:?} {err}");
    assert_eq!(code, Some(1), "a used-up token must stop the start: {err}");
    assert!(err.contains("already used 4 of 4 times"), "clear refusal: {err}");

    // The sixth site joins with a fresh token and is reachable from all.
    let one = token(&h, 1);
    let t0 = Instant::now();
    pids[5] = h.start_agent_args(5, &["--join", &one, "--seed", &seed]);
    let f = h.overlay(5);
    std::thread::scope(|s| {
        let h = &h;
        let waits: Vec<_> = (0..5)
            .map(|i| {
                s.spawn(move || {
                    wait_for(&format!("site {i} reaching f"), Duration::from_secs(20), || {
                        (h.ping(i, f, 1) == 1).then(|| t0.elapsed())
                    })
                })
            })
            .collect();
        let times: Vec<Duration> = waits.into_iter().map(|w| w.join().unwrap()).collect();
        let last = times.iter().max().unwrap();
        eprintln!("site f reachable from every site {last:?} after its agent started ({times:?})");
    });

    // Revoked: every other agent drops it at once; restarted, it stays out.
    let r = h.post(0, "/api/v1/mesh/revocations", &json!({"site": h.name(4)})).expect("revoke e");
    assert_eq!(r["site"], h.name(4));
    let t_revoke = Instant::now();
    let rest = names(&h, &[0, 1, 2, 3, 5]);
    for i in [0, 1, 2, 3, 5] {
        let want: Vec<String> = rest.iter().filter(|n| **n != h.name(i)).cloned().collect();
        wait_for(&format!("site {i} dropping revoked e"), Duration::from_secs(5), || {
            (peers_of(&h, i)? == want).then_some(())
        });
    }
    eprintln!("revoked e dropped by every site within {:?}", t_revoke.elapsed());
    assert_eq!(h.ping(0, h.overlay(4), 2), 0, "a revoked site is cut off");
    h.lab.kill(pids[4]);
    pids[4] = h.start_agent(4);
    // Restarted with its revoked certificate: it hears of its revocation and stays out.
    wait_for("restarted e learning it is revoked", Duration::from_secs(20), || {
        h.last_log(4).contains("certificate was revoked").then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(!peers_of(&h, 0).unwrap_or_default().contains(&h.name(4)), "revoked e rejoined");
    assert_eq!(h.ping(4, h.overlay(0), 2), 0, "revoked e still reaches a");

    // Killed: marked dead and removed; restarted: back with the same identity.
    h.lab.kill(pids[3]);
    let t_kill = Instant::now();
    let without_d = names(&h, &[1, 2, 5]);
    wait_for("a dropping dead d", Duration::from_secs(30), || {
        (peers_of(&h, 0)? == without_d).then_some(())
    });
    eprintln!("dead d removed by a {:?} after the kill", t_kill.elapsed());
    pids[3] = h.start_agent(3);
    let with_d = names(&h, &[1, 2, 3, 5]);
    wait_for("a peering with restarted d", Duration::from_secs(30), || {
        mesh_is(&h, 0, &with_d).then_some(())
    });
    h.wait_ping(3, h.overlay(1), Duration::from_secs(10));

    // A site whose certificate comes from another CA never becomes a member:
    // e again, with a fresh identity under a CA of its own.
    h.lab.kill(pids[4]);
    let outsider_dir = h.sites[4].state_dir.clone();
    std::fs::remove_dir_all(&outsider_dir).unwrap();
    init_ca(&outsider_dir).expect("another CA in site e");
    let config = h.sites[4].config.clone();
    let text = std::fs::read_to_string(&config).unwrap();
    let with_seed = text.replace("[mesh]\n", &format!("[mesh]\nseeds = [\"{seed}\"]\n"));
    std::fs::write(&config, with_seed).unwrap();
    let refused = counter(&mesh_status(&h, 0), "certs_refused");
    h.start_agent(4);
    wait_for("the outsider's datagrams refused by the seed", Duration::from_secs(20), || {
        (counter(&mesh_status(&h, 0), "certs_refused") > refused).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !peers_of(&h, 0).unwrap_or_default().contains(&h.name(4)),
        "a site with another CA's certificate must not be peered"
    );
}

fn mesh_status(h: &Harness, i: usize) -> Value {
    h.get(i, "/api/v1/mesh").unwrap_or(Value::Null)
}

fn counter(status: &Value, name: &str) -> u64 {
    status["counters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == name)
        .and_then(|c| c["count"].as_u64())
        .unwrap_or(0)
}

#[test]
fn traffic_goes_through_a_relay_when_every_direct_path_is_down_and_back_after_hold_down() {
    let mut h = Harness::with_options("relay", 3, 2, "adaptive", true);
    mesh_of(&mut h, true);
    let c = h.overlay(2);
    let c_name = h.name(2);
    let via = |h: &Harness| -> Option<String> {
        let routes = h.get(0, "/api/v1/routes")?;
        let items = routes.as_array().cloned().or_else(|| routes["items"].as_array().cloned())?;
        items
            .iter()
            .find(|r| r["site"] == c_name)
            .and_then(|r| r["via"].as_str().map(str::to_owned))
    };
    assert_eq!(via(&h).as_deref(), Some(c_name.as_str()), "direct to start with");

    // Cut every a–c path (WireGuard port only, both ways, in a's namespace).
    let c_addrs: Vec<String> =
        h.lab.sites()[2].uplinks.iter().map(|u| u.addr.to_string()).collect();
    let set = c_addrs.join(", ");
    let rules = format!(
        "table inet weftcut {{ chain cutout {{ type filter hook output priority 0; ip daddr {{ {set} }} udp dport 51820 drop; }}; chain cutin {{ type filter hook input priority 0; ip saddr {{ {set} }} udp sport 51820 drop; }}; }}"
    );
    let out = h.lab.exec(0, &["nft", &rules]).expect("nft");
    assert!(out.status.success(), "nft: {}", String::from_utf8_lossy(&out.stderr));
    let b_name = h.name(1);
    wait_for("a relaying to c through b", Duration::from_secs(15), || {
        (via(&h)? == b_name).then_some(())
    });
    wait_for("a reaching c through b", Duration::from_secs(10), || {
        (h.ping(0, c, 1) == 1).then_some(())
    });
    assert_eq!(h.ping(0, c, 5), 5, "relayed traffic flows");
    // Bulk TCP both ways through the relay (batched, GRO in and GSO out at b), intact.
    for (from, to) in [(0, 2), (2, 0)] {
        let mbps = super::offload::tcp_transfer(&h, from, to, h.overlay(to).into(), 4 << 20);
        eprintln!("TCP {from} -> {to} through the relay: {mbps:.0} Mbit/s");
    }
    let b_status = h.get(1, "/api/v1/status").unwrap_or(Value::Null);
    eprintln!("b's counters: {}", b_status["drops"]);

    // Restore: direct again, but only after the hold-down (3 s by default).
    let out = h.lab.exec(0, &["nft", "delete table inet weftcut"]).expect("nft");
    assert!(out.status.success());
    let restored = Instant::now();
    wait_for("a back on direct paths to c", Duration::from_secs(20), || {
        (via(&h)? == c_name).then_some(())
    });
    let back = restored.elapsed();
    eprintln!("direct again {back:?} after the paths were restored");
    assert!(back >= Duration::from_secs(3), "returned before the hold-down: {back:?}");
    assert_eq!(h.ping(0, c, 3), 3, "direct traffic flows");
}

#[test]
fn in_hub_and_spoke_spokes_peer_only_with_the_hub_and_reach_each_other_through_it() {
    let mut h = Harness::with_options("spokes", 3, 2, "adaptive", true);
    for g in &h.sites {
        let text = std::fs::read_to_string(&g.config).unwrap();
        let text = text.replace("[mesh]\n", "[mesh]\ntopology = \"hub-and-spoke\"\n");
        std::fs::write(&g.config, text).unwrap();
    }
    // a holds the CA; its own certificate says role `hub` (no [site] role set).
    mesh_of(&mut h, false);
    let (hub, spoke_c) = (h.name(0), h.name(2));
    let wg_peers = |i: usize| -> Option<Vec<String>> {
        let page = h.get(i, "/api/v1/peers?limit=100")?;
        let mut v: Vec<String> = page["items"]
            .as_array()?
            .iter()
            .filter_map(|p| p["site"].as_str().map(str::to_owned))
            .collect();
        v.sort();
        Some(v)
    };
    wait_for("the hub peering with both spokes", Duration::from_secs(30), || {
        mesh_is(&h, 0, &names(&h, &[1, 2])).then_some(())
    });
    for i in [1, 2] {
        wait_for(&format!("spoke {i}'s only tunnel to the hub"), Duration::from_secs(30), || {
            (wg_peers(i)? == vec![hub.clone()]).then_some(())
        });
    }
    wait_for("b reaching c through the hub", Duration::from_secs(20), || {
        (h.ping(1, h.overlay(2), 1) == 1).then_some(())
    });
    assert_eq!(h.ping(1, h.overlay(2), 3), 3, "spoke to spoke, through the hub");
    let routes = h.get(1, "/api/v1/routes").expect("routes");
    let items = routes.as_array().cloned().or_else(|| routes["items"].as_array().cloned()).unwrap();
    let to_c = items.iter().find(|r| r["site"] == spoke_c).expect("a route to c");
    assert_eq!(to_c["via"], hub, "b reaches c through the hub: {to_c}");
    assert_eq!(wg_peers(1).unwrap(), vec![hub.clone()], "b never peered with c");
}

#[test]
fn a_class_whose_sla_no_direct_path_meets_is_relayed_while_the_rest_stays_direct() {
    let mut h = Harness::with_options("slarelay", 3, 2, "adaptive", true);
    mesh_of(&mut h, true);
    // 10 % loss on everything a sends to c (both uplinks): realtime (loss ≤ 1 %)
    // has no direct path left; a–b and b–c are clean.
    let set: Vec<String> = h.lab.sites()[2].uplinks.iter().map(|u| u.addr.to_string()).collect();
    let rules = format!(
        "table inet weftloss {{ chain o {{ type filter hook output priority 0; ip daddr {{ {} }} udp dport 51820 numgen random mod 100 < 10 drop; }}; }}",
        set.join(", ")
    );
    let out = h.lab.exec(0, &["nft", &rules]).expect("nft");
    assert!(out.status.success(), "nft: {}", String::from_utf8_lossy(&out.stderr));
    let c_name = h.name(2);
    let site_of = |h: &Harness, path: u64| -> Option<String> {
        h.get(0, &format!("/api/v1/paths/{path}"))?["site"].as_str().map(str::to_owned)
    };
    let class_site = |h: &Harness, class: &str| -> Option<String> {
        let routes = h.get(0, "/api/v1/routes")?;
        let items = routes.as_array().cloned().or_else(|| routes["items"].as_array().cloned())?;
        let r = items.iter().find(|r| r["site"] == c_name)?;
        let choice = r["choices"].as_array()?.iter().find(|x| x["class"] == class)?.clone();
        site_of(h, choice["path"].as_u64()?)
    };
    let b_name = h.name(1);
    // A call in progress (a trickle of voice datagrams): the class is in use,
    // so its paths are probed at the class's rate. An idle peer is probed
    // once a second, and its loss takes that much longer to measure.
    let rx = h.udp_in(2, std::net::SocketAddr::from((h.overlay(2), 5060)));
    rx.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let tx = h.udp_in(0, std::net::SocketAddr::from((h.overlay(0), 0)));
    wait_for("realtime to c relayed through b", Duration::from_mins(1), || {
        tx.send_to(b"trickle", (h.overlay(2), 5060)).ok()?;
        (class_site(&h, "realtime")? == b_name).then_some(())
    });
    let mut drain = [0u8; 64];
    while rx.recv_from(&mut drain).is_ok() {}
    assert_eq!(
        class_site(&h, "best-effort").as_deref(),
        Some(c_name.as_str()),
        "best effort stays direct"
    );

    // Voice to c arrives whole through b; the direct paths would lose a tenth of it.
    for i in 0u32..200 {
        tx.send_to(&i.to_be_bytes(), (h.overlay(2), 5060)).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut got = 0;
    let mut buf = [0u8; 64];
    // Only the numbered datagrams count (a late trickle one is 7 bytes).
    while let Ok((n, _)) = rx.recv_from(&mut buf) {
        got += usize::from(n == 4);
    }
    eprintln!("voice through the relay: {got}/200 delivered");
    assert!(got >= 196, "realtime through b should not see a's 10 % loss to c: {got}/200");
}

/// A policy naming a site learnt from the mesh (`site:c`) only passes its own
/// test when the agent resolves that name to c's certified prefixes.
const NAMES_A_MESH_SITE: &str = r#"
[policy]
name = "mesh-names"
default = "allow"

[[acl]]
name = "close-c-9000"
action = "deny"
to = "site:c"
protocol = "udp"
ports = 9000

[[test]]
name = "c's port 9000 is closed"
to = "site:c"
protocol = "udp"
ports = 9000
expect = "deny"
"#;

#[test]
fn policies_can_name_sites_learnt_from_the_mesh() {
    let mut h = Harness::with_options("meshpolicy", 3, 1, "adaptive", true);
    mesh_of(&mut h, false);
    let c = h.overlay(2);
    h.wait_ping(0, c, Duration::from_secs(30));
    let body = h.dir.join("names-a-mesh-site.toml");
    std::fs::write(&body, NAMES_A_MESH_SITE).unwrap();
    let out = std::process::Command::new("curl")
        .args(["-s", "--max-time", "10", "-w", "\n%{http_code}", "--data-binary"])
        .arg(format!("@{}", body.display()))
        .arg("--unix-socket")
        .arg(h.socket(0))
        .arg("http://weft/api/v1/policy")
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.trim_end().ends_with("200"), "the policy naming site c is applied: {text}");
    let rx = h.udp_in(2, std::net::SocketAddr::from((c, 9000)));
    rx.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let tx = h.udp_in(0, std::net::SocketAddr::from((h.overlay(0), 0)));
    wait_for("a's datagrams to c:9000 denied by the rule", Duration::from_secs(10), || {
        tx.send_to(b"x", (c, 9000)).unwrap();
        let status = h.get(0, "/api/v1/status")?;
        let denied = status["policy_denied"]
            .as_array()?
            .iter()
            .find(|d| d["name"] == "close-c-9000")
            .and_then(|d| d["count"].as_u64())
            .unwrap_or(0);
        (denied > 0).then_some(())
    });
    let mut buf = [0u8; 16];
    assert!(rx.recv_from(&mut buf).is_err(), "nothing reached c:9000");
    assert_eq!(h.ping(0, c, 2), 2, "the rest of c stays reachable");
}
