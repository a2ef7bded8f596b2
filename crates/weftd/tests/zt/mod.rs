//! The zero-trust proxy over loopback, with real TLS and real SVIDs: a
//! caller → ingress gateway → sidecar → plain service chain; callers policy
//! does not allow refused at the gateway and at the sidecar with both
//! identities in the denial; credentials rotated under a live connection;
//! a revoked identity refused from the next connection. (The namespace lab
//! over the fabric is [`lab`].)

mod control;
mod lab;
mod workload;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use weft_identity::{Intermediate, Root, SpiffeId, Svid, TrustDomain, Validity, service_id};
use weftd::zt::{Denial, Mode, Proxy, Route, tls};

pub(crate) const RULES: &str = r#"[policy]
name = "zt"
default = "allow"

[[identity]]
name = "gateways reach api"
action = "allow"
from = "spiffe://mesh.test/gateway/*"
to = "api"
ports = [8443]

[[identity]]
name = "web reaches api"
action = "allow"
from = "spiffe://mesh.test/svc/web"
to = "api"
"#;

pub(crate) fn rules() -> weft_policy::IdentityRules {
    weft_policy::parse(std::path::Path::new("zt.toml"), RULES).unwrap().identity
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

struct Pki {
    td: TrustDomain,
    root: Root,
    inter: Intermediate,
    serial: u64,
}

impl Pki {
    fn new() -> Self {
        let td = TrustDomain::parse("mesh.test").unwrap();
        let root = Root::new(&[1; 32], &td, 1, Validity::starting(now(), 86_400)).unwrap();
        let inter = root.intermediate(&[2; 32], &td, 2, Validity::starting(now(), 3600)).unwrap();
        Self { td, root, inter, serial: 10 }
    }

    fn svid(&mut self, path: &str) -> Svid {
        self.serial += 1;
        let id = self.td.id(path).unwrap();
        let seed = [self.serial as u8; 32];
        self.inter.issue(&id, &seed, self.serial, Validity::starting(now(), 600)).unwrap()
    }

    fn bundle(&self) -> Vec<Vec<u8>> {
        vec![self.root.der().to_vec()]
    }
}

async fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

async fn start(proxy: &Arc<Proxy>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(Arc::clone(proxy).serve(l));
    addr
}

/// Sends `msg` and returns what came back (empty when the proxy closed).
async fn call(cfg: Arc<ClientConfig>, addr: SocketAddr, sni: &str, msg: &[u8]) -> Vec<u8> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from(sni.to_owned()).unwrap();
    let Ok(mut tls) = TlsConnector::from(cfg).connect(name, tcp).await else { return Vec::new() };
    if tls.write_all(msg).await.is_err() {
        return Vec::new();
    }
    let mut buf = vec![0; msg.len()];
    match tokio::time::timeout(Duration::from_secs(5), tls.read_exact(&mut buf)).await {
        Ok(Ok(_)) => buf,
        _ => Vec::new(),
    }
}

type Log = Arc<Mutex<Vec<Denial>>>;

fn audit(log: &Log) -> Box<dyn Fn(&Denial) + Send + Sync> {
    let log = Arc::clone(log);
    Box::new(move |d| log.lock().unwrap().push(d.clone()))
}

fn id(s: &str) -> SpiffeId {
    SpiffeId::parse(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_and_sidecar_admit_allowed_identities_refuse_others_and_audit_both_ids() {
    let mut pki = Pki::new();
    let backend = echo_server().await;
    let log: Log = Arc::default();
    let api_svid = pki.svid("/svc/api");
    let sidecar = Proxy::new(
        pki.td.clone(),
        Mode::Sidecar { service: "api".into(), port: 8443, local: backend },
        Some(&api_svid),
        &pki.bundle(),
        rules(),
        audit(&log),
    )
    .unwrap();
    let sidecar_addr = start(&sidecar).await;
    let route = Route {
        host: "api.mesh.test".into(),
        service: "api".into(),
        port: 8443,
        backends: vec![sidecar_addr],
    };
    let gw_svid = pki.svid("/gateway/edge");
    let gateway = Proxy::new(
        pki.td.clone(),
        Mode::Gateway(vec![route]),
        Some(&gw_svid),
        &pki.bundle(),
        rules(),
        audit(&log),
    )
    .unwrap();
    let gw_addr = start(&gateway).await;
    let gw_id = id("spiffe://mesh.test/gateway/edge");

    // web → gateway → sidecar → service: allowed at both hops.
    let web = pki.svid("/svc/web");
    let web_cfg = tls::client_config(&web, &pki.bundle(), gw_id.clone()).unwrap();
    assert_eq!(call(Arc::clone(&web_cfg), gw_addr, "api.mesh.test", b"hello").await, b"hello");

    // batch at the gateway: refused, audited as batch → gateway.
    let batch = pki.svid("/svc/batch");
    let batch_gw = tls::client_config(&batch, &pki.bundle(), gw_id.clone()).unwrap();
    assert!(call(batch_gw, gw_addr, "api.mesh.test", b"hello").await.is_empty());
    // batch straight at the sidecar: refused, audited as batch → api.
    let batch_sc =
        tls::client_config(&batch, &pki.bundle(), service_id(&pki.td, "api").unwrap()).unwrap();
    assert!(call(batch_sc, sidecar_addr, "api", b"hello").await.is_empty());
    // No SVID at the sidecar: refused in the handshake.
    let anon =
        tls::anonymous_client_config(&pki.bundle(), service_id(&pki.td, "api").unwrap()).unwrap();
    assert!(call(anon, sidecar_addr, "api", b"hello").await.is_empty());

    tokio::time::sleep(Duration::from_millis(100)).await;
    let denials = log.lock().unwrap().clone();
    let batch_id = id("spiffe://mesh.test/svc/batch");
    assert!(
        denials.iter().any(|d| d.caller.as_ref() == Some(&batch_id)
            && d.proxy == gw_id
            && d.service == "api"),
        "{denials:?}"
    );
    assert!(
        denials.iter().any(|d| d.caller.as_ref() == Some(&batch_id)
            && d.proxy == id("spiffe://mesh.test/svc/api")
            && d.reason == "no identity rule"),
        "{denials:?}"
    );
    assert_eq!(gateway.counts().iter().find(|c| c.0 == "api").map(|c| (c.1, c.2)), Some((1, 1)));
    assert_eq!(sidecar.counts(), [("api".to_owned(), 1, 1)]);
    assert_eq!(sidecar.handshake_failures(), 1);
    let text = weftd::zt::metrics::render(&[("gateway", &gateway), ("sidecar", &sidecar)]);
    assert!(
        text.contains(
            r#"weft_zt_connections_total{proxy="gateway",service="api",decision="deny"} 1"#
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_live_connections_and_revocation_refuses_the_next_one() {
    let mut pki = Pki::new();
    let backend = echo_server().await;
    let log: Log = Arc::default();
    let api_svid = pki.svid("/svc/api");
    let sidecar = Proxy::new(
        pki.td.clone(),
        Mode::Sidecar { service: "api".into(), port: 8443, local: backend },
        Some(&api_svid),
        &pki.bundle(),
        rules(),
        audit(&log),
    )
    .unwrap();
    let addr = start(&sidecar).await;
    let api_id = service_id(&pki.td, "api").unwrap();
    let web = pki.svid("/svc/web");
    let cfg = tls::client_config(&web, &pki.bundle(), api_id.clone()).unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut live = TlsConnector::from(Arc::clone(&cfg))
        .connect(ServerName::try_from("api").unwrap(), tcp)
        .await
        .unwrap();
    let mut buf = [0u8; 4];
    live.write_all(b"ping").await.unwrap();
    live.read_exact(&mut buf).await.unwrap();

    // A new intermediate and new SVIDs everywhere.
    pki.inter =
        pki.root.intermediate(&[3; 32], &pki.td, 3, Validity::starting(now(), 3600)).unwrap();
    let api2 = pki.svid("/svc/api");
    sidecar.set_credentials(&api2, &pki.bundle()).unwrap();
    let web2 = pki.svid("/svc/web");
    let cfg2 = tls::client_config(&web2, &pki.bundle(), api_id.clone()).unwrap();
    // The live connection carries on; new ones with old and new SVIDs work.
    live.write_all(b"pong").await.unwrap();
    live.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"pong");
    assert_eq!(call(Arc::clone(&cfg2), addr, "api", b"new").await, b"new");
    assert_eq!(call(Arc::clone(&cfg), addr, "api", b"old").await, b"old");

    sidecar.revoke(id("spiffe://mesh.test/svc/web"));
    assert!(call(cfg2, addr, "api", b"x").await.is_empty());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let denials = log.lock().unwrap().clone();
    assert!(denials.iter().any(|d| d.reason == "revoked"), "{denials:?}");
}
