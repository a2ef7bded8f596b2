//! The SPIFFE Workload API as a stock client sees it: the `spiffe` crate
//! (tonic inside) fetches an SVID and the trust bundle from weftd's server
//! on a unix socket and uses them to call a sidecar over mTLS; a rotation
//! reaches its stream; callers that attestation does not match, and requests
//! without the `workload.spiffe.io` header, are refused.

use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tokio::sync::watch;
use weft_identity::{Intermediate, Root, Svid, TrustDomain, Validity, service_id};
use weftd::zt::workload::attest::{Caller, WorkloadRule};
use weftd::zt::workload::{WorkloadSource, serve};
use weftd::zt::{Mode, Proxy, tls};

const NOW_SLACK: u64 = 60;

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A fixed set of rules and SVIDs, changed by the test.
struct Fixed {
    td: TrustDomain,
    roots: Mutex<Vec<Vec<u8>>>,
    rules: Vec<WorkloadRule>,
    svids: Mutex<Vec<Svid>>,
    tx: watch::Sender<u64>,
}

impl WorkloadSource for Fixed {
    fn svids(&self, caller: &Caller) -> Vec<Svid> {
        let svids = self.svids.lock().unwrap();
        self.rules
            .iter()
            .zip(svids.iter())
            .filter(|(r, _)| r.matches(caller))
            .map(|(_, s)| s.clone())
            .collect()
    }
    fn bundle(&self) -> (TrustDomain, Vec<Vec<u8>>) {
        (self.td.clone(), self.roots.lock().unwrap().clone())
    }
    fn updates(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }
}

fn my_uid() -> u32 {
    std::fs::metadata("/proc/self").unwrap().uid()
}

fn socket(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("weft-wl-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

struct Pki {
    td: TrustDomain,
    root: Root,
    inter: Intermediate,
}

fn pki() -> Pki {
    let td = TrustDomain::parse("mesh.test").unwrap();
    let root = Root::new(&[11; 32], &td, 1, Validity::starting(now(), 86_400)).unwrap();
    let inter = root.intermediate(&[12; 32], &td, 2, Validity::starting(now(), 3600)).unwrap();
    Pki { td, root, inter }
}

fn start(source: Fixed, path: &PathBuf) -> Arc<Fixed> {
    let source = Arc::new(source);
    let listener = UnixListener::bind(path).unwrap();
    tokio::spawn(serve(listener, Arc::clone(&source) as Arc<dyn WorkloadSource>));
    source
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_spiffe_client_fetches_an_svid_and_bundle_and_uses_them_to_connect() {
    let p = pki();
    let web_id = p.td.id("/svc/web").unwrap();
    let web = p.inter.issue(&web_id, &[13; 32], 3, Validity::starting(now(), 600)).unwrap();
    let rule = WorkloadRule { id: web_id.clone(), uid: Some(my_uid()), gid: None, path: None };
    let (tx, _) = watch::channel(0);
    let path = socket("fetch");
    let source = start(
        Fixed {
            td: p.td.clone(),
            roots: Mutex::new(vec![p.root.der().to_vec()]),
            rules: vec![rule],
            svids: Mutex::new(vec![web]),
            tx,
        },
        &path,
    );

    let client =
        spiffe::WorkloadApiClient::connect_to(format!("unix:{}", path.display())).await.unwrap();
    let ctx = client.fetch_x509_context().await.unwrap();
    let svid = ctx.default_svid().expect("an SVID").clone();
    assert_eq!(svid.spiffe_id().to_string(), web_id.to_string());
    assert_eq!(svid.cert_chain().len(), 2, "leaf and intermediate");
    let td = spiffe::TrustDomain::new("mesh.test").unwrap();
    let bundle = ctx.bundle_set().get(&td).expect("the trust domain's bundle");
    assert_eq!(bundle.authorities().len(), 1);
    assert_eq!(bundle.authorities()[0].as_bytes(), p.root.der());
    let bundles = client.fetch_x509_bundles().await.unwrap();
    assert_eq!(bundles.get(&td).unwrap().authorities()[0].as_bytes(), p.root.der());

    // Use what the client fetched to call a sidecar over mTLS.
    let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = echo.accept().await.unwrap();
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let api = p
        .inter
        .issue(&service_id(&p.td, "api").unwrap(), &[14; 32], 4, Validity::starting(now(), 600))
        .unwrap();
    let rules = weft_policy::parse(std::path::Path::new("p.toml"), super::RULES).unwrap().identity;
    let sidecar = Proxy::new(
        p.td.clone(),
        Mode::Sidecar { service: "api".into(), port: 8443, local: echo_addr },
        Some(&api),
        &[p.root.der().to_vec()],
        rules,
        Box::new(|_| {}),
    )
    .unwrap();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sidecar_addr = l.local_addr().unwrap();
    tokio::spawn(Arc::clone(&sidecar).serve(l));
    let fetched = Svid {
        id: web_id.clone(),
        chain: svid.cert_chain().iter().map(|c| c.as_bytes().to_vec()).collect(),
        key_pkcs8: svid.private_key().as_bytes().to_vec(),
        serial: 0,
        validity: Validity { not_before: 0, not_after: 0 },
    };
    let roots: Vec<Vec<u8>> = bundle.authorities().iter().map(|c| c.as_bytes().to_vec()).collect();
    let cfg = tls::client_config(&fetched, &roots, service_id(&p.td, "api").unwrap()).unwrap();
    let tcp = tokio::net::TcpStream::connect(sidecar_addr).await.unwrap();
    let mut s = tokio_rustls::TlsConnector::from(cfg)
        .connect(rustls_pki_types::ServerName::try_from("api").unwrap(), tcp)
        .await
        .unwrap();
    s.write_all(b"from a workload").await.unwrap();
    let mut buf = [0u8; 15];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"from a workload");
    assert_eq!(sidecar.counts(), [("api".to_owned(), 1, 0)]);

    // A rotation (new SVID, a second root) reaches the client's stream.
    let mut stream = client.stream_x509_contexts().await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.bundle_set().get(&td).unwrap().authorities().len(), 1);
    let inter2 = p.root.intermediate(&[15; 32], &p.td, 5, Validity::starting(now(), 3600)).unwrap();
    let renewed =
        inter2.issue(&web_id, &[16; 32], 6, Validity::starting(now() + NOW_SLACK, 600)).unwrap();
    let other = Root::new(&[17; 32], &p.td, 7, Validity::starting(now(), 86_400)).unwrap();
    *source.svids.lock().unwrap() = vec![renewed.clone()];
    source.roots.lock().unwrap().push(other.der().to_vec());
    source.tx.send_modify(|g| *g += 1);
    let next = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next.default_svid().unwrap().leaf().as_bytes(), renewed.chain[0].as_slice());
    assert_eq!(next.bundle_set().get(&td).unwrap().authorities().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workload_api_refuses_unmatched_callers_and_requests_without_the_header() {
    let p = pki();
    let id = p.td.id("/svc/web").unwrap();
    let svid = p.inter.issue(&id, &[13; 32], 3, Validity::starting(now(), 600)).unwrap();
    let other_uid = my_uid().wrapping_add(4242);
    let rule = WorkloadRule { id, uid: Some(other_uid), gid: None, path: None };
    let (tx, _) = watch::channel(0);
    let path = socket("refuse");
    let _source = start(
        Fixed {
            td: p.td.clone(),
            roots: Mutex::new(vec![p.root.der().to_vec()]),
            rules: vec![rule],
            svids: Mutex::new(vec![svid]),
            tx,
        },
        &path,
    );
    let client =
        spiffe::WorkloadApiClient::connect_to(format!("unix:{}", path.display())).await.unwrap();
    let err = client.fetch_x509_svid().await.expect_err("a caller no rule matches gets nothing");
    // The client maps PERMISSION_DENIED to the specification's "no identity issued".
    assert!(matches!(err, spiffe::WorkloadApiError::NoIdentityIssued), "{err:?}");

    // gRPC by hand, without the security header: INVALID_ARGUMENT (3).
    let io = UnixStream::connect(&path).await.unwrap();
    let (mut h2c, conn) = h2::client::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method("POST")
        .uri("http://localhost/SpiffeWorkloadAPI/FetchX509SVID")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let (resp, mut body) = h2c.send_request(req, false).unwrap();
    body.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), true).unwrap();
    let resp = resp.await.unwrap();
    assert_eq!(resp.headers().get("grpc-status").unwrap(), "3");
    let msg = resp.headers().get("grpc-message").unwrap().to_str().unwrap().to_owned();
    assert!(msg.contains("security header"), "{msg}");
}
