//! The control plane in a namespace lab: controllers (`[controller]`) that
//! publish mesh-wide policies to every site, on the embedded SQLite store
//! and on a real 3-member etcd cluster running in the controllers' sites,
//! with a leader killed (SIGKILL) and a leader cut off from etcd.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use weft_mesh::identity::{BundleBody, BundleKind};
use weft_types::SiteId;
use weftd::mesh::files::{MeshFiles, init_ca};

use crate::mesh::{names, seed_addr, token};
use crate::support::{Harness, wait_for};

/// Version `n` of a small policy that passes its own test.
fn policy(n: u64) -> String {
    format!(
        r#"
[policy]
name = "mesh-v{n}"
default = "allow"

[[acl]]
name = "close-{port}"
action = "deny"
to = "10.99.0.0/16"
protocol = "udp"
ports = {port}

[[test]]
name = "port {port} is closed"
to = "10.99.1.1"
protocol = "udp"
ports = {port}
expect = "deny"
"#,
        port = 9000 + n
    )
}

/// A policy whose own test fails: every controller must refuse it.
const FAILS_ITS_TEST: &str = r#"
[policy]
name = "broken"
default = "allow"

[[acl]]
name = "close-9999"
action = "deny"
to = "10.99.0.0/16"
protocol = "udp"
ports = 9999

[[test]]
name = "9999 is open (it is not)"
to = "10.99.1.1"
protocol = "udp"
ports = 9999
expect = "allow"
"#;

fn unix_ms() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// `POST path` with a TOML body on site `i`: (status, body).
fn post(h: &Harness, i: usize, path: &str, body: &str, key: Option<&str>) -> (u16, Value) {
    let file = h.dir.join(format!("body-{}.toml", std::process::id()));
    std::fs::write(&file, body).unwrap();
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-s", "--max-time", "20", "-w", "\n%{http_code}", "--data-binary"])
        .arg(format!("@{}", file.display()));
    if let Some(k) = key {
        cmd.args(["-H", &format!("Idempotency-Key: {k}")]);
    }
    let out = cmd
        .arg("--unix-socket")
        .arg(h.socket(i))
        .arg(format!("http://weft{path}"))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (json, code) = text.trim_end().rsplit_once('\n').unwrap_or(("", text.trim()));
    (code.parse().unwrap_or(0), serde_json::from_str(json).unwrap_or(Value::Null))
}

fn control(h: &Harness, i: usize) -> Option<Value> {
    h.get(i, "/api/v1/control")
}

/// The mesh-wide policy version site `i` runs.
fn mesh_version(h: &Harness, i: usize) -> Option<u64> {
    control(h, i)?["policy"]["version"].as_u64()
}

/// Waits until every site of `sites` runs mesh version `v`; the latest
/// install time among them.
fn all_run(h: &Harness, sites: &[usize], v: u64, within: Duration) -> i64 {
    wait_for(&format!("sites {sites:?} on mesh version {v}"), within, || {
        let mut latest = 0;
        for i in sites {
            let c = control(h, *i)?;
            if c["policy"]["version"].as_u64() != Some(v) {
                return None;
            }
            latest = latest.max(c["policy"]["since_unix_ms"].as_i64()?);
        }
        Some(latest)
    })
}

/// The controller of `sites` that leads (with its epoch), once one does.
pub(crate) fn leader(h: &Harness, sites: &[usize], within: Duration) -> (usize, u64) {
    wait_for("a leader", within, || {
        sites.iter().find_map(|i| {
            let c = control(h, *i)?;
            (c["role"] == "leader").then(|| (*i, c["epoch"].as_u64().unwrap_or(0)))
        })
    })
}

pub(crate) fn add_controller(h: &Harness, i: usize, section: &str) {
    let path = &h.sites[i].config;
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, format!("{text}\n[controller]\n{section}\n")).unwrap();
}

/// Sends a BUNDLE frame signed with the mesh CA of site 0's state directory
/// (what a deposed leader would publish) to site `to`'s mesh socket.
fn forge_bundle(h: &Harness, to: usize, epoch: u64, seq: u64, version: u64) {
    let ca = MeshFiles::open(&h.sites[0].state_dir).unwrap().load_ca().unwrap().unwrap();
    let body = BundleBody {
        kind: BundleKind::Policy,
        epoch,
        seq,
        version,
        issued_at: u64::try_from(unix_ms() / 1000).unwrap(),
        sites: Vec::<SiteId>::new(),
        payload: policy(version).into_bytes(),
    };
    let mut frame = vec![0x09];
    frame.extend(ca.sign_bundle(body).unwrap().encode());
    let dest: SocketAddr = format!("{}:7946", h.lab.sites()[to].uplinks[0].addr).parse().unwrap();
    h.lab
        .in_site(0, || {
            let s = UdpSocket::bind("0.0.0.0:0").unwrap();
            s.send_to(&frame, dest).unwrap();
        })
        .unwrap();
}

fn stale_refused(h: &Harness, i: usize) -> u64 {
    control(h, i).and_then(|c| c["bundles"]["stale_refused"].as_u64()).unwrap_or(0)
}

/// p50 and p99 (nearest rank) of `v`, ms.
fn percentiles(v: &mut [i64]) -> (i64, i64) {
    v.sort_unstable();
    let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    (rank(0.5), rank(0.99))
}

/// Applies `applies` versions starting at `first` on controller `via`; the
/// rollout time of each (apply sent → the last of `sites` installed it), ms.
fn rollouts(h: &Harness, via: usize, sites: &[usize], first: u64, applies: u64) -> Vec<i64> {
    (first..first + applies)
        .map(|n| {
            let sent = unix_ms();
            let (code, body) = post(h, via, "/api/v1/policy", &policy(n), None);
            assert_eq!(code, 200, "apply of version {n} through site {via}: {body}");
            let v = body["version"].as_u64().expect("version");
            all_run(h, sites, v, Duration::from_secs(10)) - sent
        })
        .collect()
}

/// Three sites: a is the only controller (SQLite store, the mesh CA) and
/// leads; b and c joined through it.
pub(crate) fn single_controller_lab(name: &str) -> Harness {
    single_controller_lab_with(name, |_| {})
}

/// [`single_controller_lab`], with `configure` run on the harness before
/// any agent starts (to add to the sites' configurations).
pub(crate) fn single_controller_lab_with(name: &str, configure: impl FnOnce(&Harness)) -> Harness {
    let mut h = Harness::with_options(name, 3, 1, "adaptive", true);
    add_controller(&h, 0, "");
    configure(&h);
    init_ca(&h.sites[0].state_dir).expect("weft ca init on site a");
    h.start_agent(0);
    let (leading, _) = leader(&h, &[0], Duration::from_secs(20));
    assert_eq!(leading, 0);
    let seed = seed_addr(&h);
    let joins = token(&h, 2);
    for i in 1..3 {
        h.start_agent_args(i, &["--join", &joins, "--seed", &seed]);
    }
    wait_for("a mesh of 3", Duration::from_secs(30), || {
        let m = h.get(0, "/api/v1/mesh")?;
        (m["members"].as_array()?.len() == 2).then_some(())
    });
    h
}

#[test]
fn a_single_controller_on_sqlite_rolls_policies_out_to_every_site_with_canaries_and_rollbacks() {
    let h = single_controller_lab("ctlsqlite");
    assert_eq!(control(&h, 0).unwrap()["store"], "sqlite");
    let all = [0, 1, 2];

    let (code, body) = post(&h, 0, "/api/v1/policy", &policy(1), None);
    assert_eq!(code, 200, "{body}");
    assert_eq!((body["version"].as_u64(), body["kind"].as_str()), (Some(1), Some("apply")));
    all_run(&h, &all, 1, Duration::from_secs(10));
    let running = h.get(2, "/api/v1/policy").unwrap();
    assert_eq!(running["name"], "mesh-v1", "site c runs the published policy itself");

    // A site that follows the control plane refuses local changes.
    let (code, body) = post(&h, 2, "/api/v1/policy", &policy(7), None);
    assert_eq!((code, body["code"].as_str()), (409, Some("mesh_managed")), "{body}");

    // A policy that fails its own test reaches no site.
    let (code, body) = post(&h, 0, "/api/v1/policy", FAILS_ITS_TEST, None);
    assert_eq!(code, 422, "{body}");
    std::thread::sleep(Duration::from_millis(1500));
    for i in all {
        assert_eq!(mesh_version(&h, i), Some(1), "site {i} still runs version 1");
    }
    assert_eq!(h.get(0, "/api/v1/policy/mesh").unwrap()["latest"], 1, "nothing stored");

    // Canary on b, then promote.
    let canary = h.name(1);
    let (code, body) = post(&h, 0, &format!("/api/v1/policy?canary={canary}"), &policy(2), None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["canary"]["version"], 2, "{body}");
    all_run(&h, &[1], 2, Duration::from_secs(10));
    all_run(&h, &[0, 2], 1, Duration::from_secs(10));
    let status = h.get(0, "/api/v1/policy/mesh").unwrap();
    assert_eq!(status["canary"]["sites"][0], Value::String(canary.clone()), "{status}");
    let (code, body) = post(&h, 0, "/api/v1/policy/promote", "", None);
    assert_eq!(code, 200, "{body}");
    all_run(&h, &all, 2, Duration::from_secs(10));
    let (code, body) = post(&h, 0, "/api/v1/policy/promote", "", None);
    assert_eq!((code, body["code"].as_str()), (409, Some("no_canary")), "{body}");

    // Mesh-wide rollback: every site back to version 1.
    let (code, body) = post(&h, 0, "/api/v1/policy/rollback", "", None);
    assert_eq!((code, body["version"].as_u64()), (200, Some(1)), "{body}");
    all_run(&h, &all, 1, Duration::from_secs(10));

    // The same request twice is applied once.
    let (c1, first) = post(&h, 0, "/api/v1/policy", &policy(3), Some("same-key-1"));
    let (c2, again) = post(&h, 0, "/api/v1/policy", &policy(3), Some("same-key-1"));
    assert_eq!((c1, c2), (200, 200), "{first} {again}");
    assert_eq!(first["version"], again["version"]);
    assert_eq!(first["seq"], again["seq"]);
    let status = h.get(0, "/api/v1/policy/mesh").unwrap();
    assert_eq!(status["latest"], 3, "version 3 stored once: {status}");
    all_run(&h, &all, 3, Duration::from_secs(10));
    let sites = status["sites"].as_array().unwrap();
    assert_eq!(sites.len(), 3, "every site acknowledged: {status}");

    // A replayed older publication (signed by the real CA) is refused.
    let c = control(&h, 2).unwrap();
    let (epoch, seq) =
        (c["policy"]["epoch"].as_u64().unwrap(), c["policy"]["seq"].as_u64().unwrap());
    let before = stale_refused(&h, 2);
    forge_bundle(&h, 2, epoch, seq - 1, 9);
    wait_for("c refuses the replay", Duration::from_secs(5), || {
        (stale_refused(&h, 2) > before).then_some(())
    });
    assert_eq!(mesh_version(&h, 2), Some(3), "the replay changed nothing");

    // The shard map of a single controller: every shard its own; approving
    // a plan that does not exist is a 404.
    let shards = wait_for("the shard map", Duration::from_secs(10), || {
        let s = h.get(0, "/api/v1/shards")?;
        (s["version"].as_u64()? >= 1).then_some(s)
    });
    assert_eq!(shards["owners"].as_object().map(serde_json::Map::len), Some(64), "{shards}");
    assert!(shards["owners"].as_object().unwrap().values().all(|o| *o == h.name(0)), "{shards}");
    let (code, body) = post(&h, 0, "/api/v1/shards/plans/12345/approve", "", None);
    assert_eq!((code, body["code"].as_str()), (404, Some("not_found")), "{body}");
    let (code, body) = post(&h, 2, "/api/v1/shards/simulate", "{}", None);
    assert_eq!((code, body["code"].as_str()), (409, Some("not_a_controller")), "{body}");

    // A revocation on the controller goes through the store's ledger (so no
    // controller can enrol or renew the site again) and floods the mesh.
    let c = h.name(2);
    let r =
        h.post(0, "/api/v1/mesh/revocations", &serde_json::json!({ "site": c })).expect("revoke c");
    assert_eq!(r["revoked_sites"], serde_json::json!([c.clone()]), "{r}");
    wait_for("b drops c", Duration::from_secs(10), || {
        let m = h.get(1, "/api/v1/mesh")?;
        m["members"].as_array()?.iter().all(|x| x["site"] != c.as_str()).then_some(())
    });
    let db = rusqlite::Connection::open(h.sites[0].state_dir.join("control.db")).unwrap();
    let ledger: String = db
        .query_row("SELECT value FROM kv WHERE key = '/weft/enroller'", [], |r| r.get(0))
        .expect("the ledger is in the control store");
    let ledger: Value = serde_json::from_str(&ledger).unwrap();
    assert_eq!(ledger["revocations"]["sites"], serde_json::json!([c]), "{ledger}");
    assert_eq!(ledger["token_uses"].as_object().unwrap().values().next(), Some(&Value::from(2)));
}

/// The enrolment ledger in etcd, read from site `i` (an etcd client there).
fn enrolment_ledger(h: &Harness, i: usize, endpoint: &str) -> Value {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = format!("{{\"key\":\"{}\"}}", b64.encode("/weft/enroller"));
    let out = h
        .lab
        .exec_ok(
            i,
            &[
                "curl",
                "-sf",
                "--max-time",
                "2",
                "-X",
                "POST",
                "-d",
                &body,
                &format!("http://{endpoint}/v3/kv/range"),
            ],
        )
        .expect("etcd range");
    let v: Value = serde_json::from_str(&out).expect("etcd JSON");
    let raw = b64.decode(v["kvs"][0]["value"].as_str().expect("the ledger is in etcd")).unwrap();
    serde_json::from_slice(&raw).expect("ledger JSON")
}

/// Starts etcd members in `sites` (client port 2379, peer port 2380 on
/// each site's first uplink); their client endpoints.
fn etcd_in(h: &mut Harness, sites: &[usize]) -> Vec<String> {
    let addrs: Vec<_> = h.lab.sites().iter().map(|s| s.uplinks[0].addr).collect();
    let addr = |i: usize| addrs[i];
    let cluster: Vec<String> =
        sites.iter().map(|i| format!("m{i}=http://{}:2380", addr(*i))).collect();
    for i in sites {
        let a = addr(*i);
        let log = h.dir.join(format!("etcd-{i}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = h.lab.command(*i, "etcd").unwrap();
        cmd.args(["--name", &format!("m{i}")])
            .arg("--data-dir")
            .arg(h.dir.join(format!("etcd-{i}")))
            .args(["--listen-client-urls", &format!("http://{a}:2379")])
            .args(["--advertise-client-urls", &format!("http://{a}:2379")])
            .args(["--listen-peer-urls", &format!("http://{a}:2380")])
            .args(["--initial-advertise-peer-urls", &format!("http://{a}:2380")])
            .args(["--initial-cluster", &cluster.join(",")])
            .args(["--initial-cluster-state", "new", "--initial-cluster-token", "weft-ha-lab"])
            .args(["--logger", "zap", "--log-outputs", "stderr"])
            .stdout(std::process::Stdio::null())
            .stderr(file);
        h.lab.spawn_command(cmd).expect("etcd (make deps installs etcd-server)");
        h.add_log(&format!("etcd in site {i}"), log);
    }
    let endpoints: Vec<String> = sites.iter().map(|i| format!("{}:2379", addr(*i))).collect();
    let first = endpoints[0].clone();
    wait_for("etcd healthy", Duration::from_secs(30), || {
        let out = h
            .lab
            .exec(sites[0], &["curl", "-sf", "--max-time", "1", &format!("http://{first}/health")]);
        out.ok()
            .filter(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("true"))
    });
    endpoints
}

#[test]
fn three_controllers_on_etcd_keep_publishing_through_a_leader_kill_and_fence_a_cut_off_leader() {
    let applies: u64 =
        std::env::var("WEFT_ROLLOUT_APPLIES").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let mut h = Harness::with_options("ctletcd", 7, 1, "adaptive", true);
    let controllers = [0usize, 1, 2];
    let endpoints = etcd_in(&mut h, &controllers);
    let list = endpoints.iter().map(|e| format!("\"{e}\"")).collect::<Vec<_>>().join(", ");
    init_ca(&h.sites[0].state_dir).expect("weft ca init on site a");
    let ca_key = MeshFiles::open(&h.sites[0].state_dir).unwrap().dir().join("ca.key");
    let seed = seed_addr(&h);
    for i in controllers {
        add_controller(
            &h,
            i,
            &format!(
                "store = \"etcd\"\nendpoints = [{list}]\nrebalance = \"automatic\"\nshard_grace = \"2s\""
            ),
        );
        if i > 0 {
            // Every controller holds the mesh CA (it signs publications) and
            // joins through site a.
            let dir = MeshFiles::open(&h.sites[i].state_dir).unwrap().dir().to_path_buf();
            std::fs::copy(&ca_key, dir.join("ca.key")).unwrap();
            let config = std::fs::read_to_string(&h.sites[i].config).unwrap();
            let config = config.replacen("[mesh]\n", &format!("[mesh]\nseeds = [\"{seed}\"]\n"), 1);
            std::fs::write(&h.sites[i].config, config).unwrap();
        }
    }
    let mut pids = [0u32; 6];
    for i in controllers {
        pids[i] = h.start_agent(i);
    }
    let (first_leader, first_epoch) = leader(&h, &controllers, Duration::from_secs(20));
    // Sites d, e and f join now (enrolled by the leader, through site a); g
    // joins while the leader is dead.
    let joins = token(&h, 4);
    for (i, pid) in pids.iter_mut().enumerate().skip(3).take(3) {
        *pid = h.start_agent_args(i, &["--join", &joins, "--seed", &seed]);
    }
    let all: Vec<usize> = (0..6).collect();
    for i in &all {
        let want = names(&h, &all.iter().copied().filter(|j| j != i).collect::<Vec<_>>());
        wait_for(&format!("site {i} sees the 5 others"), Duration::from_secs(40), || {
            let m = h.get(*i, "/api/v1/mesh")?;
            let mut got: Vec<String> = m["members"]
                .as_array()?
                .iter()
                .filter_map(|x| x["site"].as_str().map(str::to_owned))
                .collect();
            got.sort();
            (got == want).then_some(())
        });
    }

    // The shard map: 64 shards over the three controllers, within the load
    // bound; a simulated fourth controller would take a quarter of them.
    let follower_ctl = *controllers.iter().find(|c| **c != first_leader).unwrap();
    let shards = wait_for("the shard map", Duration::from_secs(15), || {
        let s = h.get(follower_ctl, "/api/v1/shards")?;
        let cs = s["controllers"].as_array()?;
        (s["version"].as_u64()? >= 1 && cs.len() == 3 && cs.iter().all(|c| c["shards"] != 0))
            .then_some(s)
    });
    assert_eq!(shards["owners"].as_object().map(serde_json::Map::len), Some(64), "{shards}");
    for c in shards["controllers"].as_array().unwrap() {
        let n = c["shards"].as_u64().unwrap();
        assert!((16..=27).contains(&n), "within ceil(1.25 × 64 / 3): {c}");
    }
    let sim = h
        .post(follower_ctl, "/api/v1/shards/simulate", &serde_json::json!({ "add": ["x"] }))
        .expect("simulate");
    let moves = sim["moves"].as_array().unwrap();
    assert_eq!(moves.len(), 16, "exactly 64/4 shards move to the newcomer: {sim}");
    assert!(moves.iter().all(|m| m["to"] == "x"), "{sim}");
    let after = h.get(follower_ctl, "/api/v1/shards").unwrap();
    assert_eq!(after["version"], shards["version"], "a simulation changes nothing");

    // Applied through a controller that does not lead: queued in etcd,
    // taken by the leader, published to all six sites.
    let follower = *controllers.iter().find(|c| **c != first_leader).unwrap();
    let mut times = rollouts(&h, follower, &all, 1, applies);
    let (p50, p99) = percentiles(&mut times);
    eprintln!("policy_rollout p50_ms={p50} p99_ms={p99} sites=6 applies={applies}");
    let mut version = applies;

    // A bad policy reaches no site.
    let (code, body) = post(&h, follower, "/api/v1/policy", FAILS_ITS_TEST, None);
    assert_eq!(code, 422, "{body}");

    // SIGKILL the leader while an apply is in flight at a surviving
    // controller and site g enrols through another one.
    let survivors: Vec<usize> = (0..7).filter(|i| *i != first_leader).collect();
    let via = *controllers.iter().find(|c| **c != first_leader).unwrap();
    std::process::Command::new("kill")
        .args(["-9", &pids[first_leader].to_string()])
        .status()
        .unwrap();
    let killed = Instant::now();
    let via_seed = format!("{}:7946", h.lab.sites()[via].uplinks[0].addr);
    h.start_agent_args(6, &["--join", &joins, "--seed", &via_seed]);
    let (code, change) = loop {
        let (code, body) =
            post(&h, via, "/api/v1/policy", &policy(version + 1), Some("during-kill"));
        if code == 200 || killed.elapsed() > Duration::from_secs(20) {
            break (code, body);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(code, 200, "the apply made during the failover lands: {change}");
    let (second_leader, second_epoch) = leader(&h, &controllers, Duration::from_secs(10));
    let gap = killed.elapsed();
    eprintln!("leader killed: {second_leader} leads with epoch {second_epoch} after {gap:?}");
    assert!(second_epoch > first_epoch && second_leader != first_leader);
    version += 1;
    assert_eq!(change["version"].as_u64(), Some(version), "{change}");
    all_run(&h, &survivors, version, Duration::from_secs(20));
    assert_eq!(
        h.get(6, "/api/v1/mesh").unwrap()["site"],
        h.name(6),
        "g enrolled during the failover"
    );
    let ledger = enrolment_ledger(&h, via, &endpoints[via]);
    assert_eq!(
        ledger["token_uses"].as_object().map(|m| m.values().cloned().collect::<Vec<_>>()),
        Some(vec![Value::from(4)]),
        "four sites enrolled with the token, each counted once: {ledger}"
    );
    for i in 3..7 {
        assert!(ledger["sites"].get(h.name(i)).is_some(), "{} in the ledger: {ledger}", h.name(i));
    }
    let (code, again) = post(&h, via, "/api/v1/policy", &policy(version), Some("during-kill"));
    assert_eq!((code, &again["version"]), (200, &change["version"]), "{again}");
    let status = h.get(via, "/api/v1/policy/mesh").unwrap();
    assert_eq!(status["latest"].as_u64(), Some(version), "applied exactly once: {status}");

    // The dead controller's shards move (automatic mode, 2 s grace).
    let dead = h.name(first_leader);
    let moved = wait_for("the dead controller's shards move", Duration::from_secs(20), || {
        let s = h.get(via, "/api/v1/shards")?;
        let owners = s["owners"].as_object()?;
        (owners.len() == 64 && owners.values().all(|o| o.as_str() != Some(dead.as_str())))
            .then_some(s)
    });
    assert!(moved["version"].as_u64() > shards["version"].as_u64(), "{moved}");

    // Cut the leader off from etcd (it still reaches every site).
    let cut = second_leader;
    h.lab
        .exec_ok(cut, &["nft", "add table inet weftcut { chain o { type filter hook output priority 0; tcp dport 2379 drop; }; }"])
        .expect("nft");
    let cut_at = unix_ms();
    let (code, body) = post(&h, cut, "/api/v1/policy", &policy(version + 1), Some("at-cut-off"));
    assert_ne!(code, 200, "a leader cut off from etcd cannot apply: {body}");
    let remaining: Vec<usize> =
        controllers.iter().copied().filter(|c| *c != first_leader && *c != cut).collect();
    let (third_leader, third_epoch) = leader(&h, &remaining, Duration::from_secs(10));
    assert!(third_epoch > second_epoch);
    eprintln!("cut-off leader {cut} replaced by {third_leader} (epoch {third_epoch})");
    let live: Vec<usize> = survivors.clone();
    wait_for(
        "every live site accepts the new leader's publication",
        Duration::from_secs(10),
        || {
            live.iter()
                .all(|i| {
                    control(&h, *i)
                        .is_some_and(|c| c["policy"]["epoch"].as_u64() == Some(third_epoch))
                })
                .then_some(())
        },
    );
    // It steps down by itself once its lease can have expired (it has by
    // now: another controller leads), at its next turn.
    let cut_view = wait_for("the cut-off controller to step down", Duration::from_secs(5), || {
        control(&h, cut).filter(|c| c["role"] != "leader")
    });
    let last_write = cut_view["last_fenced_write_unix_ms"].as_i64().unwrap_or(0);
    assert!(last_write < cut_at, "no write of the cut-off leader landed after the cut: {cut_view}");
    let status = h.get(third_leader, "/api/v1/policy/mesh").unwrap();
    assert_eq!(
        status["latest"].as_u64(),
        Some(version),
        "nothing the cut-off leader was asked landed"
    );

    // The deposed leader's epoch publishing a newer version: refused everywhere.
    for i in &live {
        let before = stale_refused(&h, *i);
        forge_bundle(&h, *i, second_epoch, u64::MAX / 2, version + 5);
        wait_for(
            &format!("site {i} refuses the stale publication"),
            Duration::from_secs(5),
            || (stale_refused(&h, *i) > before).then_some(()),
        );
        assert_eq!(mesh_version(&h, *i), Some(version), "site {i} kept version {version}");
    }

    // Healed: the old leader follows the new one.
    h.lab.exec_ok(cut, &["nft", "delete table inet weftcut"]).expect("nft");
    wait_for("the healed controller follows", Duration::from_secs(10), || {
        let c = control(&h, cut)?;
        (c["role"] == "follower" && c["epoch"].as_u64() == Some(third_epoch)).then_some(())
    });
}

/// The registry's relay limits site `i` received: (cordoned, drained).
fn relay_limits(h: &Harness, i: usize) -> Option<(Vec<String>, Vec<String>)> {
    let c = control(h, i)?;
    let names = |v: &Value| -> Option<Vec<String>> {
        v.as_array()?.iter().map(|s| s.as_str().map(str::to_owned)).collect()
    };
    Some((names(&c["relay_limits"]["cordoned"])?, names(&c["relay_limits"]["drained"])?))
}

/// The site ids of a registry list answer.
fn listed(page: &Value) -> Vec<String> {
    page["items"].as_array().map_or_else(Vec::new, |a| {
        a.iter()
            .filter_map(|s| s["site"].as_str().or(s["name"].as_str()).map(str::to_owned))
            .collect()
    })
}

#[test]
fn the_registry_labels_cordons_and_drains_sites_and_every_site_applies_the_relay_limits() {
    use crate::api::client::{encode, local, tcp};
    let h = single_controller_lab("ctlreg");
    let (b, c) = (h.name(1), h.name(2));
    let call = |m: &str, p: &str, body: Option<&str>, hdrs: &[(&str, &str)]| {
        local(&h, 0, m, p, body, hdrs)
    };
    let sites_where = |q: &str| {
        let r = call("GET", &format!("/api/v1/registry/sites?{q}"), None, &[]);
        assert_eq!(r.code, 200, "{q}: {}", r.text);
        listed(&r.json())
    };

    // Every site, alive; labels and selectors.
    assert_eq!(sites_where(""), vec![h.name(0), b.clone(), c.clone()]);
    assert_eq!(sites_where("state=alive").len(), 3);
    let r = call(
        "POST",
        &format!("/api/v1/sites/{b}/label"),
        Some(r#"{"set":{"env":"prod","tier":"edge"}}"#),
        &[],
    );
    assert_eq!(r.code, 200, "{}", r.text);
    assert_eq!(r.json()["site"]["labels"]["env"], "prod", "{}", r.text);
    let r =
        call("POST", &format!("/api/v1/sites/{c}/label"), Some(r#"{"set":{"env":"dev"}}"#), &[]);
    assert_eq!(r.code, 200, "{}", r.text);
    assert_eq!(sites_where(&format!("selector={}", encode("env=prod"))), vec![b.clone()]);
    assert_eq!(
        sites_where(&format!("selector={}", encode("env in (prod,dev),!tier"))),
        vec![c.clone()]
    );
    let bad =
        call("GET", &format!("/api/v1/registry/sites?selector={}", encode("env=prod,")), None, &[]);
    assert_eq!(bad.code, 400, "{}", bad.text);
    assert!(bad.text.contains("column 10"), "{}", bad.text);
    let bad =
        call("POST", &format!("/api/v1/sites/{b}/label"), Some(r#"{"set":{"Bad Key":"x"}}"#), &[]);
    assert_eq!(bad.code, 400, "{}", bad.text);

    // Pages of 2; an unchanged list answers 304 to its ETag.
    let first = call("GET", "/api/v1/registry/sites?limit=2", None, &[]);
    let cursor = first.json()["next_cursor"].as_str().expect("3 sites, pages of 2").to_owned();
    let next = call("GET", &format!("/api/v1/registry/sites?limit=2&cursor={cursor}"), None, &[]);
    assert_eq!(listed(&next.json()), vec![c.clone()], "{}", next.text);
    let whole = call("GET", "/api/v1/registry/sites", None, &[]);
    let etag = whole.header("etag").expect("an ETag");
    let again = call("GET", "/api/v1/registry/sites", None, &[("If-None-Match", &etag)]);
    assert_eq!(again.code, 304, "{}", again.text);

    // Cordon c, idempotently: the flag in the list and on every site.
    let path = format!("/api/v1/sites/{c}/cordon");
    let one = call("POST", &path, None, &[("Idempotency-Key", "cordon-c-1")]);
    let two = call("POST", &path, None, &[("Idempotency-Key", "cordon-c-1")]);
    assert_eq!((one.code, two.code), (200, 200), "{} {}", one.text, two.text);
    assert_eq!(one.json()["revision"], two.json()["revision"], "one change for one key");
    assert_eq!(sites_where("cordoned=true"), vec![c.clone()]);
    let changed = call("GET", "/api/v1/registry/sites", None, &[("If-None-Match", &etag)]);
    assert_eq!(changed.code, 200, "a change, a new tag");
    for i in 0..3 {
        wait_for(&format!("site {i} has c cordoned"), Duration::from_secs(10), || {
            (relay_limits(&h, i)? == (vec![c.clone()], vec![])).then_some(())
        });
    }

    // A service on c; draining c makes it unavailable everywhere it is listed.
    let svc = format!(
        r#"{{"name":"web","site":"{c}","protocol":"tcp","port":443,"labels":{{"app":"web"}},
            "health_check":{{"kind":"http","path":"/healthz","interval_ms":5000}}}}"#
    );
    let r = call("POST", "/api/v1/registry/services", Some(&svc), &[]);
    assert_eq!(r.code, 200, "{}", r.text);
    assert_eq!(r.json()["service"]["available"], true, "{}", r.text);
    let r = call("POST", &format!("/api/v1/sites/{c}/drain"), None, &[]);
    assert_eq!(r.code, 200, "{}", r.text);
    let services =
        call("GET", &format!("/api/v1/registry/services?site={c}&protocol=tcp"), None, &[]);
    assert_eq!(services.json()["items"][0]["available"], false, "{}", services.text);
    assert_eq!(sites_where("drained=true"), vec![c.clone()]);
    for i in 0..3 {
        wait_for(&format!("site {i} has c drained"), Duration::from_secs(10), || {
            (relay_limits(&h, i)? == (vec![c.clone()], vec![c.clone()])).then_some(())
        });
    }

    // The watch stream starts with every record.
    let out = std::process::Command::new("curl")
        .args(["-sN", "--max-time", "2", "--unix-socket"])
        .arg(h.socket(0))
        .arg("http://weft/api/v1/registry/watch")
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("event: service") && text.contains("event: site"), "{text}");

    // Scopes: a read token lists but may not cordon.
    let r =
        local(&h, 0, "POST", "/api/v1/tokens", Some(r#"{"name":"viewer","scope":"read"}"#), &[]);
    assert_eq!(r.code, 201, "{}", r.text);
    let read = r.json()["secret"].as_str().expect("secret").to_owned();
    assert_eq!(tcp(&h, 0, "GET", "/api/v1/registry/sites", None, Some(&read)).code, 200);
    let denied = tcp(&h, 0, "POST", &format!("/api/v1/sites/{b}/cordon"), None, Some(&read));
    assert_eq!(denied.code, 403, "{}", denied.text);

    // Uncordon ends the drain everywhere; the service goes; elsewhere: not a controller.
    assert_eq!(call("POST", &format!("/api/v1/sites/{c}/uncordon"), None, &[]).code, 200);
    for i in 0..3 {
        wait_for(&format!("site {i} has no relay limits"), Duration::from_secs(10), || {
            (relay_limits(&h, i)? == (vec![], vec![])).then_some(())
        });
    }
    assert_eq!(call("DELETE", "/api/v1/registry/services/web", None, &[]).code, 200);
    let gone = call("DELETE", "/api/v1/registry/services/web", None, &[]);
    assert_eq!(gone.code, 404, "{}", gone.text);
    let r = local(&h, 1, "GET", "/api/v1/registry/sites", None, &[]);
    assert_eq!((r.code, r.json()["code"].as_str()), (409, Some("not_a_controller")), "{}", r.text);
}
