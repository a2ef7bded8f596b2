//! `weft-zt-load`: a closed-loop mTLS load generator for the zero-trust
//! benchmark (`bench/gateway.sh`). It opens `--conns` TLS connections with
//! the SVID in `--svid DIR` (`svid.pem`, `svid.key`, `bundle.pem`, as `weft
//! identity issue` writes them), accepts only a server whose SVID is
//! `--expect`, and on each connection sends `--size` bytes and waits for the
//! echo, again and again for `--secs` seconds (connections are reused). It
//! prints one line: `requests=N errors=E rps=R p50_ms=A p99_ms=B`.
//!
//! Usage: `weft-zt-load --connect 10.77.1.1:8443 --sni api.mesh.test
//! --expect spiffe://mesh.test/gateway/edge --svid DIR [--conns 1] [--secs 5] [--size 64]`

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, ClientConnection, StreamOwned};
use weft_identity::{SpiffeId, Svid, Validity};

struct Args {
    connect: SocketAddr,
    sni: String,
    expect: SpiffeId,
    svid: PathBuf,
    conns: usize,
    secs: f64,
    size: usize,
}

fn args() -> Result<Args> {
    let mut it = std::env::args().skip(1);
    let (mut connect, mut sni, mut expect, mut svid) = (None, None, None, None);
    let (mut conns, mut secs, mut size) = (1, 5.0, 64);
    while let Some(a) = it.next() {
        let mut v = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--connect" => connect = Some(v()?.parse().context("--connect ADDR:PORT")?),
            "--sni" => sni = Some(v()?),
            "--expect" => expect = Some(SpiffeId::parse(&v()?).context("--expect SPIFFE-ID")?),
            "--svid" => svid = Some(PathBuf::from(v()?)),
            "--conns" => conns = v()?.parse().context("--conns N")?,
            "--secs" => secs = v()?.parse().context("--secs S")?,
            "--size" => size = v()?.parse().context("--size BYTES")?,
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok(Args {
        connect: connect.context("--connect is required")?,
        sni: sni.context("--sni is required")?,
        expect: expect.context("--expect is required")?,
        svid: svid.context("--svid is required")?,
        conns: conns.max(1),
        secs,
        size: size.max(1),
    })
}

fn config(a: &Args) -> Result<Arc<ClientConfig>> {
    let read = |name: &str| {
        let p = a.svid.join(name);
        std::fs::read(&p).with_context(|| format!("reading {}", p.display()))
    };
    let chain: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(&read("svid.pem")?)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .context("svid.pem")?;
    let key = match PrivateKeyDer::from_pem_slice(&read("svid.key")?).context("svid.key")? {
        PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
        _ => bail!("svid.key: expected a PKCS#8 key"),
    };
    let bundle: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(&read("bundle.pem")?)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .context("bundle.pem")?;
    let leaf = chain.first().context("svid.pem holds no certificate")?;
    let id = weft_identity::san::spiffe_id(leaf).context("svid.pem")?;
    let svid = Svid {
        id,
        chain,
        key_pkcs8: key,
        serial: 0,
        validity: Validity { not_before: 0, not_after: 0 },
    };
    weftd::zt::tls::client_config(&svid, &bundle, a.expect.clone())
}

/// One connection's loop: latencies in microseconds, and errors.
fn run_conn(a: &Args, cfg: &Arc<ClientConfig>, until: Instant) -> (Vec<u32>, u64) {
    let (mut lat, mut errors) = (Vec::new(), 0);
    let msg = vec![0x5a; a.size];
    let mut buf = vec![0; a.size];
    while Instant::now() < until {
        let conn = TcpStream::connect_timeout(&a.connect, Duration::from_secs(3)).and_then(|t| {
            t.set_nodelay(true)?;
            t.set_read_timeout(Some(Duration::from_secs(5)))?;
            Ok(t)
        });
        let Ok(tcp) = conn else {
            errors += 1;
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let Ok(name) = ServerName::try_from(a.sni.clone()) else { return (lat, errors + 1) };
        let Ok(c) = ClientConnection::new(Arc::clone(cfg), name) else { return (lat, errors + 1) };
        let mut s = StreamOwned::new(c, tcp);
        while Instant::now() < until {
            let t = Instant::now();
            if s.write_all(&msg).and_then(|()| s.read_exact(&mut buf)).is_err() {
                errors += 1;
                break;
            }
            lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
        }
    }
    (lat, errors)
}

fn main() -> ExitCode {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("weft-zt-load: {e:#}");
            return ExitCode::from(2);
        }
    };
    let cfg = match config(&a) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("weft-zt-load: {e:#}");
            return ExitCode::from(2);
        }
    };
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(a.secs);
    let results: Vec<(Vec<u32>, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..a.conns).map(|_| s.spawn(|| run_conn(&a, &cfg, until))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let mut lat: Vec<u32> = results.iter().flat_map(|r| r.0.iter().copied()).collect();
    let errors: u64 = results.iter().map(|r| r.1).sum();
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        f64::from(lat[i]) / 1000.0
    };
    println!(
        "requests={} errors={errors} rps={:.0} p50_ms={:.3} p99_ms={:.3}",
        lat.len(),
        lat.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99)
    );
    if lat.is_empty() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
