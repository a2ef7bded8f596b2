//! The zero-trust proxies with the control plane, in a namespace lab of
//! three `weftd` sites joined through a controller: site a is the only
//! controller (SQLite store, the mesh CA) and runs no proxy, site b runs
//! the sidecar of service `api`, site c an ingress gateway whose route to
//! `api` names no backends.
//!
//! - Gateway routes from the registry: once `api` is registered with its
//!   sidecar's mTLS endpoint, a `web` caller at c reaches it through c's
//!   gateway; draining b takes the route away, uncordoning brings it back.
//! - Mesh-wide revocation: a revocation asked on the controller is written
//!   to the control store (audited there), published to every site, and
//!   refused by b's sidecar and c's gateway from the next connection, while
//!   a revocation asked on b alone stays b's.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use serde_json::{Value, json};
use weft_identity::{SpiffeId, TrustDomain, Validity};
use weft_layout::zt as files;
use weftd::zt::tls;

use super::lab::{SEED, call, now};
use crate::control::single_controller_lab_with;
use crate::support::{Harness, wait_for};

const POLICY: &str = r#"[policy]
name = "zt-mesh"
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

fn mesh_revoked(h: &Harness, i: usize) -> Option<Vec<Value>> {
    h.get(i, "/api/v1/identities")?["mesh_revoked"].as_array().cloned()
}

/// `POST path` with a JSON body on site `i` (its API socket), with an
/// `Idempotency-Key` if given: (status, body).
fn post_json_keyed(
    h: &Harness,
    i: usize,
    path: &str,
    body: &Value,
    key: Option<&str>,
) -> (u16, Value) {
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

fn post_json(h: &Harness, i: usize, path: &str, body: &Value) -> (u16, Value) {
    post_json_keyed(h, i, path, body, None)
}

/// `POST /api/v1/identities/revoke` on site `i`: (status, body).
fn revoke(h: &Harness, i: usize, id: &str, key: Option<&str>) -> (u16, Value) {
    post_json_keyed(h, i, "/api/v1/identities/revoke", &json!({ "id": id }), key)
}

#[test]
fn gateway_routes_follow_the_registry_and_a_controller_revocation_reaches_every_proxy() {
    let td = TrustDomain::parse("mesh.test").unwrap();
    let h = single_controller_lab_with("ztmesh", |h| {
        let policy_file = h.dir.join("zt-mesh-policy.toml");
        std::fs::write(&policy_file, POLICY).unwrap();
        let proxies = [
            (1, format!("[[zerotrust.sidecar]]\nservice = \"api\"\nport = 8443\nlisten = \"{}:18443\"\nforward = \"127.0.0.1:9000\"\n", h.overlay(1))),
            (2, "[[zerotrust.gateway]]\nname = \"edge\"\nlisten = \"0.0.0.0:8443\"\n[[zerotrust.gateway.route]]\nhost = \"api.mesh.test\"\nservice = \"api\"\nport = 8443\n".to_owned()),
        ];
        for (i, proxy) in proxies {
            let g = &h.sites[i];
            std::fs::create_dir_all(&g.state_dir).unwrap();
            files::init(&g.state_dir.join("zt"), &SEED, &td, now()).unwrap();
            let mut text = std::fs::read_to_string(&g.config).unwrap();
            let _ = write!(
                text,
                "\n[policy]\nfile = {:?}\n\n[zerotrust]\ntrust_domain = \"mesh.test\"\n\n{proxy}",
                policy_file.display().to_string(),
            );
            std::fs::write(&g.config, text).unwrap();
        }
    });
    // The service at site b: a plain echo server on its loopback (the
    // agent started before it; the sidecar connects per call).
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
    let dir = h.sites[1].state_dir.join("zt");
    let (inter, bundle) = (files::intermediate(&dir, &td).unwrap(), files::bundle(&dir).unwrap());
    let web_id = td.id("/svc/web").unwrap();
    let web = inter.issue(&web_id, &[7; 32], 601, Validity::starting(now(), 600)).unwrap();
    let api_id = SpiffeId::parse("spiffe://mesh.test/svc/api").unwrap();
    let web_cfg = tls::client_config(&web, &bundle, api_id).unwrap();
    let sidecar = SocketAddr::from((h.overlay(1), 18443));
    wait_for("web at c reaching the sidecar at b", Duration::from_secs(30), || {
        call(&h, 2, &web_cfg, sidecar, "api").then_some(())
    });

    // The gateway at c has no backends for api until the registry has one.
    let gw_id = SpiffeId::parse("spiffe://mesh.test/gateway/edge").unwrap();
    let web_gw = tls::client_config(&web, &bundle, gw_id).unwrap();
    let gateway = SocketAddr::from(([127, 0, 0, 1], 8443));
    let through_gateway = || call(&h, 2, &web_gw, gateway, "api.mesh.test");
    assert!(!through_gateway(), "the gateway routed api before it was registered");
    let b = h.name(1);
    let registration = json!({
        "name": "api", "site": b, "protocol": "tcp", "port": 8443,
        "mtls": sidecar.to_string(),
    });
    let (code, body) = post_json(&h, 0, "/api/v1/registry/services", &registration);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["service"]["mtls"], sidecar.to_string(), "{body}");
    wait_for("web through c's gateway to the registered api", Duration::from_secs(5), || {
        through_gateway().then_some(())
    });
    let (code, body) = post_json(&h, 0, &format!("/api/v1/sites/{b}/drain"), &json!({}));
    assert_eq!(code, 200, "{body}");
    wait_for("the gateway dropping the drained site's api", Duration::from_secs(5), || {
        (!through_gateway()).then_some(())
    });
    let (code, body) = post_json(&h, 0, &format!("/api/v1/sites/{b}/uncordon"), &json!({}));
    assert_eq!(code, 200, "{body}");
    wait_for("the gateway routing api again", Duration::from_secs(5), || {
        through_gateway().then_some(())
    });

    // Asked on b (not a controller): b's alone.
    let batch = "spiffe://mesh.test/svc/batch";
    let (code, body) = revoke(&h, 1, batch, None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["scope"], "site");
    assert!(call(&h, 2, &web_cfg, sidecar, "api"), "a site revocation of batch refused web");

    // Asked on the controller: mesh-wide, once per request id.
    let (code, body) = revoke(&h, 0, &web_id.to_string(), Some("revoke-web-1"));
    assert_eq!(code, 200, "{body}");
    assert_eq!((body["scope"].as_str(), body["newly"].as_bool()), (Some("mesh"), Some(true)));
    let (_, again) = revoke(&h, 0, &web_id.to_string(), Some("revoke-web-1"));
    assert_eq!(again["newly"], true, "the retry got another answer: {again}");
    let (_, fresh) = revoke(&h, 0, &web_id.to_string(), None);
    assert_eq!(fresh["newly"], false, "{fresh}");

    // Every site holds it, the controller without proxies too; b's sidecar
    // and c's gateway refuse it.
    for i in 0..3 {
        wait_for(&format!("the mesh revocation at site {i}"), Duration::from_secs(5), || {
            mesh_revoked(&h, i)?.contains(&json!(web_id.to_string())).then_some(())
        });
    }
    wait_for("the sidecar refusing web", Duration::from_secs(3), || {
        (!call(&h, 2, &web_cfg, sidecar, "api")).then_some(())
    });
    wait_for("the gateway refusing web", Duration::from_secs(3), || {
        (!through_gateway()).then_some(())
    });
    let at_b = h.get(1, "/api/v1/identities").unwrap();
    let revoked = at_b["revoked"].as_array().unwrap();
    assert!(revoked.contains(&json!(web_id.to_string())) && revoked.contains(&json!(batch)));
    assert_eq!(at_b["mesh_revoked"], json!([web_id.to_string()]), "batch is b's alone");
    // The control store's audit log has it, once.
    let audit = h.get(0, "/api/v1/control/audit?limit=100").unwrap();
    let actions = audit.to_string();
    let wanted = format!("identity.revoke {web_id}");
    assert_eq!(actions.matches(&wanted).count(), 1, "{audit}");
}
