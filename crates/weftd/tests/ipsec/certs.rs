//! IPsec with certificates from the mesh CA: site a (`weftd`, `[[ipsec]]
//! auth = "cert"`) and a plain strongSwan gateway in site c, both holding
//! certificates `weft ipsec cert` issues (its library,
//! `weft_layout::ipsec`) from a's mesh CA. The gateway first presents a
//! certificate from another CA under the right name: a refuses it (no
//! CHILD_SA, the API says not installed and why). With the mesh CA's
//! certificate loaded instead, traffic to the prefix behind the gateway
//! flows through the tunnel. A second gateway whose CA file holds no
//! certificate is not loaded and says so, without stopping the first.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use weft_identity::TrustDomain;
use weft_vici::{Client, SiteToSite, check_success, load_key};

use super::{gateway_bytes_in, gateway_children, start_gateway};
use crate::support::{Harness, wait_for};

const PREFIX: &str = "10.77.9.0/24";
const TARGET: &str = "10.77.9.1";
const GW: &str = "gw.mesh.test";
const SITE: &str = "site-a.mesh.test";
const NOW_TTL: u64 = 3600;

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Issues `name`'s files into `dir` from the CA seed `seed`.
fn issue(seed: &[u8; 32], name: &str, dir: &Path) {
    let td = TrustDomain::parse("mesh.test").unwrap();
    let (host, root) = weft_layout::ipsec::issue(seed, &td, name, NOW_TTL, now()).unwrap();
    weft_layout::ipsec::write(dir, &host, &root).unwrap();
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap()
}

/// Loads the gateway's key and connection from the files in `dir`, trusting
/// `mesh_ca` for a's certificate.
fn load_gateway(vici: &Path, g: &str, a: &str, dir: &Path, mesh_ca: &str) {
    let mut c = Client::connect(vici).unwrap();
    check_success(&c.call("load-key", &load_key(&read(dir, &format!("{GW}.key")))).unwrap())
        .unwrap();
    let gw = SiteToSite::new("gw", g, a)
        .with_ts([PREFIX], ["10.77.1.0/24"])
        .with_ids(GW, SITE)
        .with_certs(
            read(dir, &format!("{GW}.pem")).into_bytes(),
            vec![mesh_ca.as_bytes().to_vec()],
        );
    check_success(&c.call("load-conn", &gw.load_conn()).unwrap()).unwrap();
}

#[test]
fn a_gateway_with_a_mesh_ca_certificate_carries_traffic_and_one_from_another_ca_is_refused() {
    let mut h = Harness::new("ipseccert", 2, 1, "fast");
    let (a_addr, g_addr) = (h.lab.addr(0, 0).unwrap(), h.lab.addr(1, 0).unwrap());
    let (a_addr, g_addr) = (a_addr.to_string(), g_addr.to_string());
    h.lab.exec_ok(1, &["ip", "addr", "add", &format!("{TARGET}/32"), "dev", "lo"]).unwrap();
    // The mesh CA on site a; the certificates of a and of the gateway from it.
    weft_layout::mesh::init_ca(&h.sites[0].state_dir).unwrap();
    let seed = weft_layout::zt::ca_seed(&h.sites[0].state_dir).unwrap();
    let (a_dir, gw_dir, rogue_dir) =
        (h.dir.join("certs-a"), h.dir.join("certs-gw"), h.dir.join("certs-rogue"));
    issue(&seed, SITE, &a_dir);
    issue(&seed, GW, &gw_dir);
    issue(&[0x42; 32], GW, &rogue_dir);
    let mesh_ca = read(&a_dir, "ca.pem");
    // The gateway, first with the other CA's certificate (same name).
    let gateway_dir = h.dir.join("gateway");
    let vici = start_gateway(&mut h, 1, &gateway_dir);
    load_gateway(&vici, &g_addr, &a_addr, &rogue_dir, &mesh_ca);
    let mut text = std::fs::read_to_string(&h.sites[0].config).unwrap();
    let _ = write!(
        text,
        "\n[[ipsec]]\nname = \"cloud\"\nremote = \"{g_addr}\"\nauth = \"cert\"\ncert_file = \"{d}/{SITE}.pem\"\nkey_file = \"{d}/{SITE}.key\"\nca_file = \"{d}/ca.pem\"\nremote_id = \"{GW}\"\nremote_prefixes = [\"{PREFIX}\"]\nprobe = \"{TARGET}\"\n",
        d = a_dir.display()
    );
    // A second gateway whose CA file holds no certificate (a key): only it fails.
    let _ = write!(
        text,
        "\n[[ipsec]]\nname = \"broken\"\nremote = \"{g_addr}\"\nauth = \"cert\"\ncert_file = \"{d}/{SITE}.pem\"\nkey_file = \"{d}/{SITE}.key\"\nca_file = \"{d}/{SITE}.key\"\nremote_id = \"{GW}\"\nremote_prefixes = [\"10.77.8.0/24\"]\nprobe = \"10.77.8.1\"\n",
        d = a_dir.display()
    );
    std::fs::write(&h.sites[0].config, text).unwrap();
    let a_log = h.sites[0].state_dir.join("ipsec").join("charon.log");
    h.add_log("site a charon", a_log.clone());
    h.start_agent(0);

    // Refused: a's charon trusts no key for the gateway's identity.
    let g = wait_for("a's initiate refused", Duration::from_secs(10), || {
        let g = h.get(0, "/api/v1/ipsec")?;
        g["gateways"][0]["last_error"].is_string().then_some(g)
    });
    let gw = &g["gateways"][0];
    assert_eq!(
        (gw["installed"].as_bool(), gw["auth"].as_str()),
        (Some(false), Some("cert")),
        "{g}"
    );
    assert_eq!(g["esp_engine"], "userspace", "this kernel has no ESP: {g}");
    assert!(gateway_children(&vici).is_empty(), "no CHILD_SA at the gateway");
    let broken = g["gateways"][1]["last_error"].as_str().unwrap_or_default();
    assert!(broken.contains("no PEM certificate"), "the unreadable gateway says why: {g}");
    let refused = format!("no trusted ED25519 public key found for '{GW}'");
    wait_for("a's charon refusing the certificate itself", Duration::from_secs(5), || {
        std::fs::read_to_string(&a_log).ok()?.contains(&refused).then_some(())
    });

    // The mesh CA's certificate: the tunnel comes up and carries the pings.
    load_gateway(&vici, &g_addr, &a_addr, &gw_dir, &mesh_ca);
    wait_for("a's IPsec path alive", Duration::from_secs(15), || {
        let g = h.get(0, "/api/v1/ipsec")?;
        let gw = &g["gateways"][0];
        (gw["alive"] == true && gw["route"] == "ipsec" && gw.get("last_error").is_none())
            .then_some(())
    });
    let before = gateway_bytes_in(&vici);
    let out = h
        .lab
        .exec(0, &["ping", "-c", "10", "-i", "0.05", "-s", "1200", "-W", "1", TARGET])
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    assert!(out.contains("10 received"), "the gateway answers over IPsec: {out}");
    let over = gateway_bytes_in(&vici).saturating_sub(before);
    assert!(over >= 10 * 1200, "the pings took the tunnel ({over} bytes)");
}
