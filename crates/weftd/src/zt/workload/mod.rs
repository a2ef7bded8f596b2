//! The SPIFFE Workload API (X.509 part) on a unix socket: gRPC over HTTP/2
//! (prior knowledge, as the SPIFFE client libraries speak it), served with
//! `h2` directly; the messages are encoded by hand ([`pb`]).
//!
//! - `/SpiffeWorkloadAPI/FetchX509SVID`: a stream of `X509SVIDResponse`, one
//!   at once and one after every change (renewal, new intermediate, new
//!   root), with the SVIDs the caller's attestation gives it
//!   ([`attest`]); `PERMISSION_DENIED` when it gets none.
//! - `/SpiffeWorkloadAPI/FetchX509Bundles`: a stream of `X509BundlesResponse`.
//! - the JWT methods answer `UNIMPLEMENTED`.
//!
//! Every request must carry the `workload.spiffe.io: true` header, as the
//! specification requires (`INVALID_ARGUMENT` otherwise). The caller is the
//! process on the other end of the socket (`SO_PEERCRED`), read once per
//! connection.

pub mod attest;
pub mod pb;

use std::sync::Arc;

use anyhow::Result;
use bytes::Bytes;
use h2::server::SendResponse;
use tokio::net::{UnixListener, UnixStream};
use weft_identity::{Svid, TrustDomain};

use attest::Caller;

/// gRPC status codes this server answers.
const OK: u8 = 0;
const INVALID_ARGUMENT: u8 = 3;
const PERMISSION_DENIED: u8 = 7;
const UNIMPLEMENTED: u8 = 12;

/// What the Workload API serves: the agent's zero-trust site, or a test's.
pub trait WorkloadSource: Send + Sync + 'static {
    /// The SVIDs `caller` gets (empty: none).
    fn svids(&self, caller: &Caller) -> Vec<Svid>;
    /// The trust domain and its roots (DER).
    fn bundle(&self) -> (TrustDomain, Vec<Vec<u8>>);
    /// Changes whenever an SVID or the bundle does.
    fn updates(&self) -> tokio::sync::watch::Receiver<u64>;
}

/// Serves the Workload API on `listener` until the task is dropped.
pub async fn serve(listener: UnixListener, source: Arc<dyn WorkloadSource>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let source = Arc::clone(&source);
        tokio::spawn(async move {
            if let Err(e) = connection(stream, source).await {
                crate::log_warn!(Zt, "workload API: {e:#}");
            }
        });
    }
}

async fn connection(stream: UnixStream, source: Arc<dyn WorkloadSource>) -> Result<()> {
    let caller = Caller::of(&stream)?;
    let mut conn = h2::server::handshake(stream).await?;
    while let Some(req) = conn.accept().await {
        let Ok((req, respond)) = req else { break };
        let (source, caller) = (Arc::clone(&source), caller.clone());
        tokio::spawn(async move {
            // Held until the answer ends: the request body stays open.
            let (parts, _body) = req.into_parts();
            let _ = call(&parts, respond, &*source, &caller).await;
        });
    }
    Ok(())
}

async fn call(
    req: &http::request::Parts,
    respond: SendResponse<Bytes>,
    source: &dyn WorkloadSource,
    caller: &Caller,
) -> Result<()> {
    if req.headers.get("workload.spiffe.io").map(http::HeaderValue::as_bytes) != Some(b"true") {
        return refuse(respond, INVALID_ARGUMENT, "security header missing from request");
    }
    match req.uri.path() {
        "/SpiffeWorkloadAPI/FetchX509SVID" => {
            stream_updates(respond, source, |s| {
                let svids = s.svids(caller);
                if svids.is_empty() {
                    return Err((PERMISSION_DENIED, "no identity issued".to_owned()));
                }
                let (_, bundle) = s.bundle();
                let ids: Vec<String> = svids.iter().map(|v| v.id.to_string()).collect();
                let items: Vec<pb::X509Svid<'_>> = svids
                    .iter()
                    .zip(&ids)
                    .map(|(v, id)| pb::X509Svid {
                        spiffe_id: id,
                        chain: &v.chain,
                        key: &v.key_pkcs8,
                        bundle: &bundle,
                    })
                    .collect();
                Ok(pb::x509_svid_response(&items))
            })
            .await
        }
        "/SpiffeWorkloadAPI/FetchX509Bundles" => {
            stream_updates(respond, source, |s| {
                let (td, roots) = s.bundle();
                Ok(pb::x509_bundles_response(&[(td.id_string(), roots)]))
            })
            .await
        }
        other => refuse(respond, UNIMPLEMENTED, &format!("{other} is not served by weftd")),
    }
}

/// Sends `make`'s message now and after every change, until the client
/// goes away or `make` fails (its status ends the stream).
async fn stream_updates(
    mut respond: SendResponse<Bytes>,
    source: &dyn WorkloadSource,
    make: impl Fn(&dyn WorkloadSource) -> Result<Vec<u8>, (u8, String)>,
) -> Result<()> {
    let mut updates = source.updates();
    let first = match make(source) {
        Ok(m) => m,
        Err((code, msg)) => return refuse(respond, code, &msg),
    };
    let head =
        http::Response::builder().status(200).header("content-type", "application/grpc").body(())?;
    let mut send = respond.send_response(head, false)?;
    send.send_data(Bytes::from(pb::grpc_frame(&first)), false)?;
    let (code, message) = loop {
        tokio::select! {
            changed = updates.changed() => {
                if changed.is_err() {
                    break (OK, String::new());
                }
                match make(source) {
                    Ok(m) => send.send_data(Bytes::from(pb::grpc_frame(&m)), false)?,
                    Err(e) => break e,
                }
            }
            _ = std::future::poll_fn(|cx| send.poll_reset(cx)) => return Ok(()),
        }
    };
    send.send_trailers(status_headers(code, &message)?)?;
    Ok(())
}

fn status_headers(code: u8, message: &str) -> Result<http::HeaderMap> {
    let mut h = http::HeaderMap::new();
    h.insert("grpc-status", http::HeaderValue::from(u16::from(code)));
    if !message.is_empty() {
        h.insert("grpc-message", http::HeaderValue::from_str(message)?);
    }
    Ok(h)
}

/// A trailers-only answer: the status in the response headers.
fn refuse(mut respond: SendResponse<Bytes>, code: u8, message: &str) -> Result<()> {
    let mut head =
        http::Response::builder().status(200).header("content-type", "application/grpc").body(())?;
    head.headers_mut().extend(status_headers(code, message)?);
    respond.send_response(head, true)?;
    Ok(())
}
