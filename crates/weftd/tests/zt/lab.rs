//! The zero-trust gateway in a namespace lab of three `weftd` sites: an
//! external client at site a (its SVID fetched from a's agent through the
//! SPIFFE Workload API) → a's ingress gateway → over the fabric → the
//! sidecar of service `api` at site b → the service; a workload at site c
//! that policy does not allow is refused at the gateway and at the sidecar,
//! and both sites' audit logs name both identities. Then the rotation drill:
//! the intermediate is replaced and SVIDs reissued on every site while
//! requests flow (none may fail, a live connection stays up), and a revoked
//! identity is refused from the next connection.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls_pki_types::ServerName;
use serde_json::{Value, json};
use tokio_rustls::rustls::{ClientConfig, ClientConnection, StreamOwned};
use weft_identity::{SpiffeId, TrustDomain, Validity};
use weft_layout::zt as files;
use weftd::zt::tls;

use crate::support::{Harness, wait_for};

pub(super) const SEED: [u8; 32] = [42; 32];

const POLICY: &str = r#"[policy]
name = "zt-lab"
default = "allow"

[[identity]]
name = "gateways reach api"
action = "allow"
from = "spiffe://mesh.test/gateway/*"
to = "api"
ports = [8443]

[[identity]]
name = "web through the gateway"
action = "allow"
from = "spiffe://mesh.test/svc/web"
to = "api"

[[identity_test]]
from = "spiffe://mesh.test/svc/batch"
to = "api"
port = 8443
expect = "deny"
"#;

pub(super) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

pub(super) type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A TLS connection from inside site `i` to `addr` with server name `sni`.
pub(super) fn connect(
    h: &Harness,
    i: usize,
    cfg: &Arc<ClientConfig>,
    addr: SocketAddr,
    sni: &str,
) -> Option<Tls> {
    let tcp = h
        .lab
        .in_site(i, || TcpStream::connect_timeout(&addr, Duration::from_secs(3)))
        .ok()?
        .ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    tcp.set_nodelay(true).ok()?;
    let conn =
        ClientConnection::new(Arc::clone(cfg), ServerName::try_from(sni.to_owned()).ok()?).ok()?;
    Some(StreamOwned::new(conn, tcp))
}

/// Sends `msg` on `s` and reads the echo; None when refused or closed.
pub(super) fn echo(s: &mut Tls, msg: &[u8]) -> Option<()> {
    s.write_all(msg).ok()?;
    let mut buf = vec![0; msg.len()];
    s.read_exact(&mut buf).ok()?;
    (buf == msg).then_some(())
}

pub(super) fn call(
    h: &Harness,
    i: usize,
    cfg: &Arc<ClientConfig>,
    addr: SocketAddr,
    sni: &str,
) -> bool {
    connect(h, i, cfg, addr, sni)
        .and_then(|mut s| echo(&mut s, b"hello through the mesh"))
        .is_some()
}

/// The SVID site a's agent serves this (root) process through the SPIFFE
/// Workload API, fetched with the stock `spiffe` client.
fn fetch_from_workload_api(
    socket: &std::path::Path,
) -> Result<weft_identity::Svid, spiffe::WorkloadApiError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let c = spiffe::WorkloadApiClient::connect_to(format!("unix:{}", socket.display())).await?;
        let svid = c.fetch_x509_svid().await?;
        Ok(weft_identity::Svid {
            id: SpiffeId::parse(&svid.spiffe_id().to_string()).unwrap(),
            chain: svid.cert_chain().iter().map(|c| c.as_bytes().to_vec()).collect(),
            key_pkcs8: svid.private_key().as_bytes().to_vec(),
            serial: 0,
            validity: Validity { not_before: 0, not_after: 0 },
        })
    })
}

/// How many roots the Workload API's bundle of mesh.test holds.
fn bundle_size(socket: &std::path::Path) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let c = spiffe::WorkloadApiClient::connect_to(format!("unix:{}", socket.display()))
            .await
            .unwrap();
        let set = c.fetch_x509_bundles().await.unwrap();
        let td = spiffe::TrustDomain::new("mesh.test").unwrap();
        set.get(&td).map_or(0, |b| b.authorities().len())
    })
}

pub(super) fn audit_denials(h: &Harness, i: usize) -> Vec<Value> {
    let page = h.get(i, "/api/v1/audit?limit=1000").unwrap_or(Value::Null);
    page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["action"] == "zt.deny")
        .cloned()
        .collect()
}

#[test]
fn gateway_sidecar_lab_refuses_and_audits_a_disallowed_workload_and_survives_a_rotation_drill() {
    let mut h = Harness::new("zt", 3, 1, "adaptive");
    let td = TrustDomain::parse("mesh.test").unwrap();
    let policy_file = h.dir.join("zt-policy.toml");
    std::fs::write(&policy_file, POLICY).unwrap();
    let (gw_addr, sidecar_addr) =
        (SocketAddr::from((h.overlay(0), 8443)), SocketAddr::from((h.overlay(1), 18443)));
    for (i, g) in h.sites.clone().iter().enumerate() {
        let zt_dir = g.state_dir.join("zt");
        std::fs::create_dir_all(&g.state_dir).unwrap();
        files::init(&zt_dir, &SEED, &td, now()).unwrap();
        let mut text = std::fs::read_to_string(&g.config).unwrap();
        let _ = write!(text, "\n[policy]\nfile = {:?}\n", policy_file.display().to_string());
        let zt = match i {
            0 => format!(
                "\n[zerotrust]\ntrust_domain = \"mesh.test\"\nsvid_ttl = \"20s\"\n\n[[zerotrust.workload]]\nid = \"spiffe://mesh.test/svc/web\"\nuid = 0\n\n[[zerotrust.gateway]]\nname = \"edge\"\nlisten = \"0.0.0.0:8443\"\n[[zerotrust.gateway.route]]\nhost = \"api.mesh.test\"\nservice = \"api\"\nport = 8443\nbackends = [\"{sidecar_addr}\"]\n"
            ),
            1 => format!(
                "\n[zerotrust]\ntrust_domain = \"mesh.test\"\nsvid_ttl = \"20s\"\n\n[[zerotrust.sidecar]]\nservice = \"api\"\nport = 8443\nlisten = \"{sidecar_addr}\"\nforward = \"127.0.0.1:9000\"\n"
            ),
            _ => String::new(),
        };
        text.push_str(&zt);
        std::fs::write(&g.config, text).unwrap();
    }
    // The service at site b: a plain echo server on its loopback.
    let backend = h.lab.in_site(1, || TcpListener::bind("127.0.0.1:9000")).unwrap().unwrap();
    std::thread::spawn(move || {
        for conn in backend.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut r = conn.try_clone().unwrap();
                let _ = std::io::copy(&mut r, &mut conn);
            });
        }
    });
    for i in 0..3 {
        h.start_agent(i);
    }
    h.wait_ping(0, h.overlay(1), Duration::from_secs(20));
    h.wait_ping(2, h.overlay(0), Duration::from_secs(20));
    h.wait_ping(2, h.overlay(1), Duration::from_secs(20));

    // Workload SVIDs, issued from the mesh's intermediate (site a's copy).
    let dir = h.sites[0].state_dir.join("zt");
    let inter = files::intermediate(&dir, &td).unwrap();
    let bundle = files::bundle(&dir).unwrap();
    let web_id = td.id("/svc/web").unwrap();
    let batch_id = td.id("/svc/batch").unwrap();
    let web = fetch_from_workload_api(&h.sites[0].state_dir.join("workload.sock")).unwrap();
    assert_eq!(web.id, web_id);
    let batch = inter.issue(&batch_id, &[6; 32], 501, Validity::starting(now(), 600)).unwrap();
    let gw_id = SpiffeId::parse("spiffe://mesh.test/gateway/edge").unwrap();
    let api_id = SpiffeId::parse("spiffe://mesh.test/svc/api").unwrap();
    let web_cfg = tls::client_config(&web, &bundle, gw_id.clone()).unwrap();

    // External client at a → gateway → fabric → sidecar at b → service.
    wait_for("a call through the gateway", Duration::from_secs(15), || {
        call(&h, 0, &web_cfg, SocketAddr::from(([127, 0, 0, 1], 8443)), "api.mesh.test")
            .then_some(())
    });
    // The batch workload at c: refused at the gateway, and at the sidecar.
    let batch_gw = tls::client_config(&batch, &bundle, gw_id.clone()).unwrap();
    assert!(!call(&h, 2, &batch_gw, gw_addr, "api.mesh.test"), "batch passed the gateway");
    let batch_sc = tls::client_config(&batch, &bundle, api_id.clone()).unwrap();
    assert!(!call(&h, 2, &batch_sc, sidecar_addr, "api"), "batch passed the sidecar");
    let at_gw = wait_for("the gateway's audit record", Duration::from_secs(5), || {
        audit_denials(&h, 0).into_iter().find(|r| r["who"] == batch_id.to_string())
    });
    assert!(at_gw["detail"].as_str().unwrap().contains(&gw_id.to_string()), "{at_gw}");
    let at_sc = wait_for("the sidecar's audit record", Duration::from_secs(5), || {
        audit_denials(&h, 1).into_iter().find(|r| r["who"] == batch_id.to_string())
    });
    assert!(at_sc["detail"].as_str().unwrap().contains(&api_id.to_string()), "{at_sc}");

    // Rotation drill: a live connection, requests every 20 ms, and the
    // intermediate replaced on both proxy sites (their SVIDs reissued).
    let mut live =
        connect(&h, 0, &web_cfg, SocketAddr::from(([127, 0, 0, 1], 8443)), "api.mesh.test")
            .unwrap();
    echo(&mut live, b"live").unwrap();
    let serial_before =
        |i: usize| h.get(i, "/api/v1/identities").unwrap()["identities"][0]["serial"].clone();
    let workload_serial =
        || h.get(0, "/api/v1/identities").unwrap()["identities"][1]["serial"].clone();
    let before = (serial_before(0), serial_before(1), workload_serial());
    let start = Instant::now();
    let (mut ok, mut failed, mut rotated) = (0, 0, false);
    while start.elapsed() < Duration::from_secs(4) {
        if !rotated && start.elapsed() > Duration::from_secs(1) {
            for i in 0..2 {
                files::rotate_intermediate(&h.sites[i].state_dir.join("zt"), &SEED, &td, now())
                    .unwrap();
            }
            rotated = true;
        }
        if call(&h, 0, &web_cfg, SocketAddr::from(([127, 0, 0, 1], 8443)), "api.mesh.test") {
            ok += 1;
        } else {
            failed += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("rotation drill: {ok} requests passed, {failed} failed");
    assert_eq!(failed, 0, "allowed requests failed during the rotation");
    echo(&mut live, b"still live").expect("the live connection survived the rotation");
    assert_ne!(serial_before(0), before.0, "the gateway's SVID was not reissued");
    assert_ne!(serial_before(1), before.1, "the sidecar's SVID was not reissued");
    assert_ne!(workload_serial(), before.2, "the workload's SVID was not reissued");

    // A CA rotation starts: the previous root joins the bundle; the agent
    // follows it and the Workload API hands it out.
    let other =
        weft_identity::Root::new(&[43; 32], &td, 9, Validity::starting(now(), 86_400)).unwrap();
    std::fs::write(h.sites[0].state_dir.join("zt").join(files::PREV_ROOT), other.der()).unwrap();
    wait_for("the new bundle from the Workload API", Duration::from_secs(5), || {
        (bundle_size(&h.sites[0].state_dir.join("workload.sock")) == 2).then_some(())
    });

    // Revocation: refused from the next connection.
    let answer =
        h.post(0, "/api/v1/identities/revoke", &json!({ "id": web_id.to_string() })).unwrap();
    assert_eq!(answer["newly"], true);
    assert!(!call(&h, 0, &web_cfg, SocketAddr::from(([127, 0, 0, 1], 8443)), "api.mesh.test"));
    let refused = fetch_from_workload_api(&h.sites[0].state_dir.join("workload.sock"));
    assert!(
        matches!(refused, Err(spiffe::WorkloadApiError::NoIdentityIssued)),
        "the Workload API still serves a revoked identity: {refused:?}"
    );
    let ids = h.get(0, "/api/v1/identities").unwrap();
    assert_eq!(ids["revoked"], json!([web_id.to_string()]));
    let api = ids["identities"][0]["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "api")
        .unwrap()
        .clone();
    assert!(
        api["allowed"].as_u64().unwrap() >= ok + 2 && api["denied"].as_u64().unwrap() >= 2,
        "{api}"
    );
}
