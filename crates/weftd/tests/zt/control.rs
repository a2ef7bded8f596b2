//! The zero-trust proxies with the control plane, in a namespace lab of
//! three `weftd` sites joined through a controller: site a is the only
//! controller (SQLite store, the mesh CA) and runs no proxy; site b runs
//! the sidecar of service `api` (and asks for a `batch` workload identity
//! it was never granted); site c an ingress gateway whose route to `api`
//! names no backends, and serves a `web` workload through the Workload API.
//! Both b and c take their SVIDs from the control plane
//! (`issuer = "control"`): nobody copies identity files.
//!
//! - Issuance: no SVID before the control plane's CA exists; after
//!   `ca-init`, registering `api` at b and granting c its IDs, every proxy
//!   and workload gets one, and the ungranted `batch` is refused with the
//!   reason.
//! - Gateway routes from the registry: web at c reaches api through c's
//!   gateway; draining b takes the route away, uncordoning brings it back.
//! - Rotation drill: the control plane's intermediate is replaced while a
//!   request is made every 20 ms and a connection stays open: none fails,
//!   and every SVID is issued again under the new intermediate.
//! - Mesh-wide revocation: asked on the controller, answered once per
//!   `Idempotency-Key`, in the control store's audit log once, refused by
//!   b's sidecar and c's gateway, no longer served by c's Workload API; a
//!   revocation asked on b alone stays b's.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use weft_identity::{SpiffeId, Svid, Validity};
use weftd::zt::tls;

use super::lab::{call, connect, echo};
use crate::control::single_controller_lab_with;
use crate::support::{Harness, wait_for};

const POLICY: &str = r#"[policy]
name = "zt-control"
default = "allow"

[[identity]]
name = "web reaches api"
action = "allow"
from = "spiffe://mesh.test/svc/web"
to = "api"

[[identity]]
name = "gateways reach api"
action = "allow"
from = "spiffe://mesh.test/gateway/*"
to = "api"
ports = [8443]
"#;

/// `POST path` with a JSON body on site `i` (its API socket), with an
/// `Idempotency-Key` if given: (status, body).
fn post_keyed(h: &Harness, i: usize, path: &str, body: &Value, key: Option<&str>) -> (u16, Value) {
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-s", "--max-time", "20", "-w", "\n%{http_code}"])
        .args(["-H", "content-type: application/json", "--data-binary"])
        .arg(body.to_string());
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
    let (body, code) = text.trim_end().rsplit_once('\n').unwrap_or(("", text.trim()));
    (code.parse().unwrap_or(0), serde_json::from_str(body).unwrap_or(Value::Null))
}

fn post(h: &Harness, i: usize, path: &str, body: &Value) -> (u16, Value) {
    post_keyed(h, i, path, body, None)
}

/// `POST /api/v1/identities/revoke` on site `i`: (status, body).
fn revoke(h: &Harness, i: usize, id: &str, key: Option<&str>) -> (u16, Value) {
    post_keyed(h, i, "/api/v1/identities/revoke", &json!({ "id": id }), key)
}

/// Site `i`'s identity `id` as `GET /identities` shows it.
fn identity(h: &Harness, i: usize, id: &str) -> Option<Value> {
    let list = h.get(i, "/api/v1/identities")?;
    list["identities"].as_array()?.iter().find(|e| e["id"] == id).cloned()
}

/// The SVID and trust bundle site c's Workload API serves this (root)
/// process, fetched with the stock `spiffe` client.
fn fetch(socket: &std::path::Path) -> Result<(Svid, Vec<Vec<u8>>), spiffe::WorkloadApiError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let c = spiffe::WorkloadApiClient::connect_to(format!("unix:{}", socket.display())).await?;
        let svid = c.fetch_x509_svid().await?;
        let bundles = c.fetch_x509_bundles().await?;
        let td = spiffe::TrustDomain::new("mesh.test").unwrap();
        let roots = bundles
            .get(&td)
            .map(|b| b.authorities().iter().map(|a| a.as_bytes().to_vec()).collect())
            .unwrap_or_default();
        let svid = Svid {
            id: SpiffeId::parse(&svid.spiffe_id().to_string()).unwrap(),
            chain: svid.cert_chain().iter().map(|c| c.as_bytes().to_vec()).collect(),
            key_pkcs8: svid.private_key().as_bytes().to_vec(),
            serial: 0,
            validity: Validity { not_before: 0, not_after: 0 },
        };
        Ok((svid, roots))
    })
}

#[test]
fn svids_come_from_the_control_plane_routes_from_the_registry_and_revocations_reach_every_proxy() {
    let h = single_controller_lab_with("ztctl", |h| {
        let policy_file = h.dir.join("zt-control-policy.toml");
        std::fs::write(&policy_file, POLICY).unwrap();
        let proxies = [
            (1, format!("[[zerotrust.sidecar]]\nservice = \"api\"\nport = 8443\nlisten = \"{}:18443\"\nforward = \"127.0.0.1:9000\"\n\n[[zerotrust.workload]]\nid = \"spiffe://mesh.test/svc/batch\"\nuid = 0\n", h.overlay(1))),
            (2, "[[zerotrust.gateway]]\nname = \"edge\"\nlisten = \"0.0.0.0:8443\"\n[[zerotrust.gateway.route]]\nhost = \"api.mesh.test\"\nservice = \"api\"\nport = 8443\n\n[[zerotrust.workload]]\nid = \"spiffe://mesh.test/svc/web\"\nuid = 0\n".to_owned()),
        ];
        for (i, proxy) in proxies {
            let g = &h.sites[i];
            let mut text = std::fs::read_to_string(&g.config).unwrap();
            let _ = write!(
                text,
                "\n[policy]\nfile = {:?}\n\n[zerotrust]\ntrust_domain = \"mesh.test\"\nissuer = \"control\"\n\n{proxy}",
                policy_file.display().to_string(),
            );
            std::fs::write(&g.config, text).unwrap();
        }
    });
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
    let (api, edge, web, batch) = (
        "spiffe://mesh.test/svc/api",
        "spiffe://mesh.test/gateway/edge",
        "spiffe://mesh.test/svc/web",
        "spiffe://mesh.test/svc/batch",
    );
    let (b, c) = (h.name(1), h.name(2));

    // No CA yet: the proxies wait, saying so; only a controller makes one.
    let pending = identity(&h, 1, api).expect("b lists its sidecar");
    assert!(pending["pending"].is_string() && pending["serial"] == "", "{pending}");
    let ca = json!({ "trust_domain": "mesh.test" });
    let (code, body) = post(&h, 1, "/api/v1/identities/ca", &ca);
    assert_eq!((code, body["code"].as_str()), (409, Some("not_a_controller")), "{body}");
    let (code, made) = post(&h, 0, "/api/v1/identities/ca", &ca);
    assert_eq!((code, made["newly"].as_bool()), (200, Some(true)), "{made}");
    let (_, again) = post(&h, 0, "/api/v1/identities/ca", &ca);
    assert_eq!(
        (again["newly"].as_bool(), &again["intermediate_serial"]),
        (Some(false), &made["intermediate_serial"])
    );
    for (site, id) in [(&c, "spiffe://mesh.test/gateway/*"), (&c, web)] {
        let (code, body) =
            post(&h, 0, "/api/v1/identities/grants", &json!({ "site": site, "id": id }));
        assert_eq!(code, 200, "{body}");
    }
    let sidecar = SocketAddr::from((h.overlay(1), 18443));
    let registration = json!({
        "name": "api", "site": b, "protocol": "tcp", "port": 8443, "mtls": sidecar.to_string(),
    });
    let (code, body) = post(&h, 0, "/api/v1/registry/services", &registration);
    assert_eq!(code, 200, "{body}");

    // Every proxy and workload gets its SVID; batch (never granted) does not.
    for (i, id) in [(1, api), (2, edge), (2, web)] {
        wait_for(&format!("{id} at site {i}"), Duration::from_secs(15), || {
            (identity(&h, i, id)?["serial"] != "").then_some(())
        });
    }
    let refused = wait_for("batch refused at b", Duration::from_secs(10), || {
        let p = identity(&h, 1, batch)?["pending"].as_str()?.to_owned();
        p.contains("may not hold").then_some(p)
    });
    assert!(refused.contains(&b), "{refused}");
    let workload_socket = h.sites[2].state_dir.join("workload.sock");
    let (web_svid, roots) = wait_for("web from c's Workload API", Duration::from_secs(10), || {
        fetch(&workload_socket).ok()
    });
    assert_eq!(web_svid.id.to_string(), web);
    assert_eq!(roots.len(), 1);

    // web at c → b's sidecar directly, and through c's gateway by the registry.
    let to_api = tls::client_config(&web_svid, &roots, SpiffeId::parse(api).unwrap()).unwrap();
    let to_edge = tls::client_config(&web_svid, &roots, SpiffeId::parse(edge).unwrap()).unwrap();
    let gateway = SocketAddr::from(([127, 0, 0, 1], 8443));
    wait_for("web at c reaching the sidecar at b", Duration::from_secs(20), || {
        call(&h, 2, &to_api, sidecar, "api").then_some(())
    });
    let through_gateway = || call(&h, 2, &to_edge, gateway, "api.mesh.test");
    wait_for("web through c's gateway", Duration::from_secs(5), || through_gateway().then_some(()));
    let (code, body) = post(&h, 0, &format!("/api/v1/sites/{b}/drain"), &json!({}));
    assert_eq!(code, 200, "{body}");
    wait_for("the gateway dropping the drained site's api", Duration::from_secs(5), || {
        (!through_gateway()).then_some(())
    });
    let (code, body) = post(&h, 0, &format!("/api/v1/sites/{b}/uncordon"), &json!({}));
    assert_eq!(code, 200, "{body}");
    wait_for("the gateway routing api again", Duration::from_secs(5), || {
        through_gateway().then_some(())
    });

    // Rotation drill through the control plane, with traffic flowing.
    let serial = |i: usize, id: &str| identity(&h, i, id).map(|e| e["serial"].clone());
    let before = (serial(1, api), serial(2, edge), serial(2, web));
    let mut live = connect(&h, 2, &to_edge, gateway, "api.mesh.test").unwrap();
    echo(&mut live, b"live").unwrap();
    let start = Instant::now();
    let (mut ok, mut failed, mut rotated) = (0, 0, None);
    while start.elapsed() < Duration::from_secs(4) {
        if rotated.is_none() && start.elapsed() > Duration::from_secs(1) {
            let (code, body) = post(&h, 0, "/api/v1/identities/ca/rotate", &json!({}));
            assert_eq!(code, 200, "{body}");
            rotated = Some(body["intermediate_serial"].clone());
        }
        if through_gateway() {
            ok += 1;
        } else {
            failed += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("control-plane rotation drill: {ok} requests passed, {failed} failed");
    assert_eq!(failed, 0, "allowed requests failed during the rotation");
    echo(&mut live, b"still live").expect("the live connection survived the rotation");
    let rotated = rotated.unwrap();
    assert_ne!(rotated, made["intermediate_serial"]);
    wait_for("every SVID issued again", Duration::from_secs(10), || {
        let now = (serial(1, api), serial(2, edge), serial(2, web));
        (now.0 != before.0 && now.1 != before.1 && now.2 != before.2).then_some(())
    });
    let at_b = h.get(1, "/api/v1/identities").unwrap();
    assert_eq!(at_b["control"]["intermediate_serial"], rotated, "{at_b}");
    assert!(through_gateway(), "a call under the new intermediate");

    // Asked on b (not a controller): b's alone.
    let (code, body) = revoke(&h, 1, "spiffe://mesh.test/svc/other", None);
    assert_eq!((code, body["scope"].as_str()), (200, Some("site")), "{body}");
    // Asked on the controller: mesh-wide, once per request id.
    let (code, body) = revoke(&h, 0, web, Some("revoke-web-1"));
    assert_eq!(code, 200, "{body}");
    assert_eq!((body["scope"].as_str(), body["newly"].as_bool()), (Some("mesh"), Some(true)));
    let (_, again) = revoke(&h, 0, web, Some("revoke-web-1"));
    assert_eq!(again["newly"], true, "the retry got another answer: {again}");
    let (_, fresh) = revoke(&h, 0, web, None);
    assert_eq!(fresh["newly"], false, "{fresh}");
    for i in 0..3 {
        wait_for(&format!("the mesh revocation at site {i}"), Duration::from_secs(5), || {
            let list = h.get(i, "/api/v1/identities")?;
            list["mesh_revoked"].as_array()?.contains(&json!(web)).then_some(())
        });
    }
    wait_for("the sidecar refusing web", Duration::from_secs(3), || {
        (!call(&h, 2, &to_api, sidecar, "api")).then_some(())
    });
    wait_for("the gateway refusing web", Duration::from_secs(3), || {
        (!through_gateway()).then_some(())
    });
    let gone = fetch(&workload_socket);
    assert!(
        matches!(gone, Err(spiffe::WorkloadApiError::NoIdentityIssued)),
        "c's Workload API still serves a revoked identity: {:?}",
        gone.map(|(s, _)| s.id)
    );
    let at_b = h.get(1, "/api/v1/identities").unwrap();
    assert_eq!(at_b["mesh_revoked"], json!([web]), "the site revocation is b's alone: {at_b}");
    // The control store's audit log has the CA, the grants and the revocation.
    let audit = h.get(0, "/api/v1/control/audit?limit=100").unwrap().to_string();
    assert_eq!(audit.matches(&format!("identity.revoke {web}")).count(), 1, "{audit}");
    for what in ["identity.init mesh.test", "identity.rotate", &format!("identity.grant {c} {web}")]
    {
        assert!(audit.contains(what), "{what} not audited: {audit}");
    }
}
