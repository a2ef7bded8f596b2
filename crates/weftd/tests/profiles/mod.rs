//! Connection profiles end to end: site a runs `weftd`; in site b's
//! namespace a stock client (`wg-quick` with `wireguard-go`, no Weft) is
//! brought up from the configuration `weft profile export` wrote. It
//! reaches a's prefix through a; it does again after a's agent restarts
//! (the client is in a's store); after `weft profile revoke` it cannot.
//! In a mesh, one revoke at the CA holder drops a client from every site;
//! one export at a controller registers it at every site it names.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::mesh::{seed_addr, token};
use crate::support::{Harness, wait_for};

/// The `weft` CLI built beside `weftd` (`cargo build --workspace` builds it).
fn weft_cli() -> PathBuf {
    let weftd = Path::new(env!("CARGO_BIN_EXE_weftd"));
    let cli = weftd.with_file_name("weft");
    assert!(cli.exists(), "{} is missing: build the workspace first", cli.display());
    cli
}

/// Runs the CLI against site `i`'s agent (its unix socket); its stdout
/// and stderr.
pub(crate) fn weft(h: &Harness, i: usize, args: &[&str]) -> String {
    let out = Command::new(weft_cli())
        .args(args)
        .arg("--socket")
        .arg(h.socket(i))
        .stdin(Stdio::null())
        .output()
        .expect("run weft");
    assert!(
        out.status.success(),
        "weft {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The stock client: `wg-quick up` in site `site`'s namespace; `wg-quick
/// down` when dropped, passed or not (before the lab deletes the namespace).
struct Client {
    down: Command,
}

impl Client {
    fn up(h: &Harness, site: usize, conf: &Path) -> Self {
        let mut down = h.lab.command(site, "wg-quick").unwrap();
        down.arg("down").arg(conf).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let client = Self { down };
        let up = h
            .lab
            .command(site, "wg-quick")
            .unwrap()
            .arg("up")
            .arg(conf)
            .env("WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run wg-quick");
        assert!(up.status.success(), "wg-quick up: {}", String::from_utf8_lossy(&up.stderr));
        client
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.down.status();
    }
}

#[test]
fn a_wg_quick_client_from_an_exported_profile_reaches_the_site_until_revoked() {
    let mut h = Harness::new("profiles", 2, 1, "adaptive");
    let a = h.start_agent(0);
    wait_for("a's API", Duration::from_secs(15), || h.get(0, "/api/v1/status"));
    // The interface is named after the profile file: unique per run, as
    // wireguard-go's UAPI socket directory is shared by every namespace.
    let name = format!("wq{}", std::process::id() % 100_000);
    let out_dir = h.dir.join("profiles");
    let out = out_dir.to_str().unwrap();
    let site_a = h.name(0);
    let said = weft(&h, 0, &["profile", "export", &name, "--sites", &site_a, "--out", out]);
    assert!(said.contains("registered at site"), "{said}");
    let conf = out_dir.join(format!("{name}.conf"));
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.contains("Address = 100.96."), "an address from the default pool: {text}");
    let a_key = h.sites[0].public_key.to_base64();
    assert!(text.contains(&format!("PublicKey = {a_key}")), "{text}");
    let png = std::fs::read(out_dir.join(format!("{name}.png"))).unwrap();
    assert_eq!(png[..8], [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a], "the QR code's PNG");
    let listed = weft(&h, 0, &["profile", "list", "--json"]);
    assert!(listed.contains(&name), "{listed}");

    let client = Client::up(&h, 1, &conf);
    let a_overlay = h.overlay(0);
    let t = h.wait_ping(1, a_overlay, Duration::from_secs(20));
    eprintln!("the wg-quick client reached {a_overlay} through a after {t:?}");

    // The registration is in a's store: a restarted agent serves it again,
    // and learns where the client is from its next handshake (the client
    // starts one when its packets go unanswered).
    h.lab.kill(a);
    h.start_agent(0);
    wait_for("a's API after the restart", Duration::from_secs(15), || h.get(0, "/api/v1/status"));
    let t = h.wait_ping(1, a_overlay, Duration::from_secs(45));
    eprintln!("after a's restart the client reached a again after {t:?}");

    let said = weft(&h, 0, &["profile", "revoke", &name]);
    assert!(said.contains("revoked client"), "{said}");
    assert_eq!(h.ping(1, a_overlay, 5), 0, "the revoked client still reaches a");
    let listed = weft(&h, 0, &["profile", "list", "--json"]);
    assert!(!listed.contains(&name), "{listed}");
    drop(client);
}

#[test]
fn in_a_mesh_one_revoke_at_the_ca_holder_drops_the_client_at_every_site() {
    let mut h = Harness::with_options("profmesh", 3, 1, "adaptive", true);
    // a holds the CA, b joins; the client lives in c's namespace.
    weftd::mesh::files::init_ca(&h.sites[0].state_dir).expect("weft ca init on a");
    h.start_agent(0);
    wait_for("a's mesh", Duration::from_secs(20), || h.get(0, "/api/v1/mesh"));
    let t = token(&h, 1);
    let seed = seed_addr(&h);
    h.start_agent_args(1, &["--join", &t, "--seed", &seed]);
    h.wait_ping(0, h.overlay(1), Duration::from_secs(30));
    // Exported against a, then b: one configuration with both as peers.
    let name = format!("wm{}", std::process::id() % 100_000);
    let out_dir = h.dir.join("profiles");
    let out = out_dir.to_str().unwrap();
    let sites = format!("{},{}", h.name(0), h.name(1));
    for i in [0, 1] {
        weft(&h, i, &["profile", "export", &name, "--sites", &sites, "--out", out]);
    }
    let conf = out_dir.join(format!("{name}.conf"));
    let text = std::fs::read_to_string(&conf).unwrap();
    assert_eq!(text.matches("[Peer]").count(), 2, "{text}");
    let client = Client::up(&h, 2, &conf);
    let (a, b) = (h.overlay(0), h.overlay(1));
    h.wait_ping(2, a, Duration::from_secs(20));
    h.wait_ping(2, b, Duration::from_secs(20));

    let said = weft(&h, 0, &["profile", "revoke", &name]);
    assert!(said.contains("revoked mesh-wide (revocation list version"), "{said}");
    wait_for("b forgetting the client", Duration::from_secs(10), || {
        let page = h.get(1, "/api/v1/profiles")?;
        (!page.to_string().contains(&name)).then_some(())
    });
    assert_eq!(h.ping(2, a, 3), 0, "the revoked client still reaches a");
    assert_eq!(h.ping(2, b, 3), 0, "the revoked client still reaches b");
    // A revoked name does not come back.
    let again = Command::new(weft_cli())
        .args(["profile", "export", &name, "--sites", &sites, "--out", out, "--socket"])
        .arg(h.socket(1))
        .output()
        .expect("run weft");
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success() && said.contains("revocation list"), "{said}");
    drop(client);
}

#[test]
fn one_export_at_a_controller_registers_the_client_at_every_site_it_names() {
    let mut h = Harness::with_options("profctl", 3, 1, "adaptive", true);
    // a is the controller and holds the CA, b joins; the client lives in
    // c's namespace (no agent there).
    crate::control::add_controller(&h, 0, "");
    weftd::mesh::files::init_ca(&h.sites[0].state_dir).expect("weft ca init on a");
    h.start_agent(0);
    crate::control::leader(&h, &[0], Duration::from_secs(20));
    let t = token(&h, 1);
    let seed = seed_addr(&h);
    h.start_agent_args(1, &["--join", &t, "--seed", &seed]);
    h.wait_ping(0, h.overlay(1), Duration::from_secs(30));
    let name = format!("wc{}", std::process::id() % 100_000);
    let out_dir = h.dir.join("profiles");
    let out = out_dir.to_str().unwrap();
    let sites = format!("{},{}", h.name(0), h.name(1));

    // One export, against a only.
    let said = weft(&h, 0, &["profile", "export", &name, "--sites", &sites, "--out", out]);
    assert!(said.contains(&format!("registered at sites {sites}").replace(',', ", ")), "{said}");
    let conf = out_dir.join(format!("{name}.conf"));
    let text = std::fs::read_to_string(&conf).unwrap();
    assert_eq!(text.matches("[Peer]").count(), 2, "{text}");
    let b_key = h.sites[1].public_key.to_base64();
    assert!(text.contains(&format!("PublicKey = {b_key}")), "b is a peer: {text}");
    // b registered it by itself, with the same address, audited as the
    // control plane's.
    let at_b = wait_for("b registering the client", Duration::from_secs(10), || {
        let p = h.get(1, &format!("/api/v1/profiles/{name}"))?;
        (p["served_here"] == true).then_some(p)
    });
    let at_a = h.get(0, &format!("/api/v1/profiles/{name}")).expect("a's record");
    assert_eq!(at_b["address"], at_a["address"], "{at_b} {at_a}");
    assert!(h.audit_actions(1).iter().any(|x| x == "profile.register"));

    let client = Client::up(&h, 2, &conf);
    h.wait_ping(2, h.overlay(0), Duration::from_secs(20));
    h.wait_ping(2, h.overlay(1), Duration::from_secs(20));

    // The same name with another key is refused mesh-wide.
    let other = Command::new(weft_cli())
        .args(["profile", "export", &name, "--sites", &sites, "--out"])
        .arg(h.dir.join("other"))
        .arg("--socket")
        .arg(h.socket(0))
        .output()
        .expect("run weft");
    assert!(!other.status.success(), "{}", String::from_utf8_lossy(&other.stdout));

    // Exported again with a alone: b forgets the client (audited) within a
    // moment, the file lists a alone, and a still serves it.
    let site_a = h.name(0);
    let said = weft(&h, 0, &["profile", "export", &name, "--sites", &site_a, "--out", out]);
    let text = std::fs::read_to_string(&conf).unwrap();
    assert_eq!(text.matches("[Peer]").count(), 1, "{said}\n{text}");
    assert!(!text.contains(&b_key), "b left the file: {text}");
    let asked = std::time::Instant::now();
    wait_for("b forgetting the client", Duration::from_secs(3), || {
        let page = h.get(1, "/api/v1/profiles")?;
        (!page.to_string().contains(&name)).then_some(())
    });
    eprintln!("b forgot the client {:?} after the export", asked.elapsed());
    assert!(h.audit_actions(1).iter().any(|x| x == "profile.unregister"));
    let at_a = h.get(0, &format!("/api/v1/profiles/{name}")).expect("a's record");
    assert_eq!(at_a["sites"], serde_json::json!([site_a]), "{at_a}");
    assert_eq!(h.ping(2, h.overlay(1), 2), 0, "the client still reaches b");
    h.wait_ping(2, h.overlay(0), Duration::from_secs(5));

    // One revoke and neither site serves it.
    weft(&h, 0, &["profile", "revoke", &name]);
    wait_for("b forgetting the client", Duration::from_secs(10), || {
        let page = h.get(1, "/api/v1/profiles")?;
        (!page.to_string().contains(&name)).then_some(())
    });
    assert_eq!(h.ping(2, h.overlay(1), 3), 0, "the revoked client still reaches b");
    drop(client);
}

/// The policy of the narrowing lab: clients (the default pool) may not
/// reach the upper half of a's prefix, nor b's prefix.
const CLIENT_POLICY: &str = r#"
[policy]
name = "clients"
default = "allow"

[[acl]]
name = "clients-not-upper-a"
action = "deny"
from = "100.96.0.0/16"
to = "10.77.1.128/25"

[[acl]]
name = "clients-not-b"
action = "deny"
from = "100.96.0.0/16"
to = "10.77.2.0/24"
"#;

#[test]
fn a_clients_allowed_ips_follow_the_policy_and_the_site_enforces_it() {
    let mut h = Harness::new("profpol", 2, 1, "adaptive");
    h.start_agent(0);
    wait_for("a's API", Duration::from_secs(15), || h.get(0, "/api/v1/status"));
    // Two more addresses of a's prefix, in the half the policy will deny:
    // one answers before the policy, the other is first tried after it (the
    // gate is stateful: replies of flows it allowed go on passing while
    // they last, so the check needs a flow that never was).
    let before: std::net::Ipv4Addr = "10.77.1.201".parse().unwrap();
    let upper: std::net::Ipv4Addr = "10.77.1.200".parse().unwrap();
    for addr in ["10.77.1.200/32", "10.77.1.201/32"] {
        h.lab.exec_ok(0, &["ip", "addr", "add", addr, "dev", "lo"]).expect("address");
    }
    let name = format!("wp{}", std::process::id() % 100_000);
    let out_dir = h.dir.join("profiles");
    let out = out_dir.to_str().unwrap();
    let site_a = h.name(0);
    weft(&h, 0, &["profile", "export", &name, "--sites", &site_a, "--out", out]);
    let conf = out_dir.join(format!("{name}.conf"));
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.contains("AllowedIPs = 10.77.1.0/24"), "no policy yet: {text}");

    // The client keeps this wide configuration throughout: what it may
    // reach is then up to the site.
    let client = Client::up(&h, 1, &conf);
    let a = h.overlay(0);
    h.wait_ping(1, a, Duration::from_secs(20));
    assert_eq!(h.ping(1, before, 2), 2, "before the policy the client reaches {before}");

    let policy = h.dir.join("clients-policy.toml");
    std::fs::write(&policy, CLIENT_POLICY).unwrap();
    weft(&h, 0, &["policy", "apply", policy.to_str().unwrap()]);
    // The control loop publishes the policy to the data-plane threads after
    // the API answers; each receive thread takes it at its next batch (at
    // most its 500 ms read timeout later).
    wait_for("the policy running", Duration::from_secs(10), || {
        (h.get(0, "/api/v1/status")?["policy_version"].as_u64()? == 1).then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(h.ping(1, upper, 3), 0, "the site lets the client reach a denied address");
    assert_eq!(h.ping(1, a, 3), 3, "the allowed half still answers");

    // Exported again (same key and address): AllowedIPs as the policy says.
    let narrowed = out_dir.join("narrowed");
    std::fs::create_dir_all(&narrowed).unwrap();
    std::fs::copy(&conf, narrowed.join(format!("{name}.conf"))).unwrap();
    let n = narrowed.to_str().unwrap();
    // The file an export at a writes, with `extra` arguments.
    let export = |extra: &[&str]| {
        let mut argv = vec!["profile", "export", &name, "--sites", &site_a, "--out", n];
        argv.extend_from_slice(extra);
        weft(&h, 0, &argv);
        std::fs::read_to_string(narrowed.join(format!("{name}.conf"))).unwrap()
    };
    let text = export(&[]);
    assert!(text.contains("AllowedIPs = 10.77.1.0/25\n"), "narrowed by the policy: {text}");
    // --allowed-ips narrows further, and never widens.
    let text = export(&["--allowed-ips", "10.77.0.0/16"]);
    assert!(text.contains("AllowedIPs = 10.77.1.0/25\n"), "{text}");
    let text = export(&["--allowed-ips", "10.77.1.0/28"]);
    assert!(text.contains("AllowedIPs = 10.77.1.0/28\n"), "{text}");
    drop(client);
}
