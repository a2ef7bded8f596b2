//! [`EtcdStore`]: a `weft-control` request or a fenced write, carried out
//! against an etcd cluster through its JSON gateway.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use weft_control::{CallError, Epoch, Fence, LeaseId, Request, Response};

use crate::api::{Compare, ControlStore, Kv, Txn, TxnOutcome};
use crate::http::{HttpError, post_json};

/// What a fenced write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FencedOutcome {
    /// Applied, at this store revision.
    Applied(u64),
    /// Refused: the leader key no longer has the writer's epoch.
    Fenced,
}

/// A client of one etcd cluster. Calls go to the endpoint that last
/// answered; on failure the next one is tried, within the same deadline.
#[derive(Debug, Clone)]
pub struct EtcdStore {
    endpoints: Vec<SocketAddr>,
    current: usize,
}

fn b64(s: &str) -> String {
    B64.encode(s.as_bytes())
}

fn unb64(v: &Value) -> Option<String> {
    B64.decode(v.as_str()?).ok().and_then(|b| String::from_utf8(b).ok())
}

/// etcd's JSON encodes 64-bit integers as strings and leaves out zeros.
fn int(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

fn to_call_error(e: HttpError) -> CallError {
    match e {
        HttpError::Timeout(_) => CallError::Timeout,
        HttpError::Status { status, body, .. } if (400..500).contains(&status) => {
            CallError::Refused(body)
        }
        // etcd answers "lease not found" as a gRPC NotFound (HTTP 404) or in
        // a 500 with the gRPC code; both mean the lease is gone.
        HttpError::Status { body, .. } if body.contains("lease not found") => {
            CallError::Refused(body)
        }
        other => CallError::Unavailable(other.to_string()),
    }
}

impl EtcdStore {
    /// A client of the cluster at `endpoints` (host:port of client URLs).
    pub fn new(endpoints: Vec<SocketAddr>) -> Self {
        Self { endpoints, current: 0 }
    }

    /// `POST`s to the gateway, trying each endpoint once before `deadline`.
    fn post(&mut self, path: &str, body: &Value, deadline: Instant) -> Result<Value, CallError> {
        let mut last = CallError::Unavailable("no endpoints".into());
        for _ in 0..self.endpoints.len() {
            let addr = self.endpoints[self.current];
            match post_json(addr, path, body, deadline) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    last = to_call_error(e);
                    if matches!(last, CallError::Refused(_)) {
                        // The endpoint answered: the cluster said no.
                        return Err(last);
                    }
                    // Silent, unreachable or broken: the next call starts
                    // elsewhere even when this one used up the deadline, or a
                    // blackholed endpoint would hold the client forever.
                    self.current = (self.current + 1) % self.endpoints.len();
                    if Instant::now() >= deadline {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }

    /// Carries out an election request within `timeout`.
    pub fn call(&mut self, request: &Request, timeout: Duration) -> Result<Response, CallError> {
        let deadline = Instant::now() + timeout;
        match request {
            Request::Grant { ttl } => {
                let v = self.post("/v3/lease/grant", &json!({ "TTL": ttl.as_secs() }), deadline)?;
                let lease = i64::try_from(int(&v["ID"])).unwrap_or(0);
                if lease == 0 {
                    return Err(CallError::Refused(format!("no lease in {v}")));
                }
                Ok(Response::Granted {
                    lease: LeaseId(lease),
                    ttl: Duration::from_secs(int(&v["TTL"])),
                })
            }
            Request::KeepAlive { lease } => {
                let v = self.post(
                    "/v3/lease/keepalive",
                    &json!({ "ID": lease.0.to_string() }),
                    deadline,
                )?;
                Ok(Response::KeptAlive { ttl: Duration::from_secs(int(&v["result"]["TTL"])) })
            }
            Request::Campaign { key, value, lease } => {
                let k = b64(key);
                let txn = json!({
                    "compare": [{ "target": "CREATE", "key": k, "create_revision": "0" }],
                    "success": [{ "request_put": { "key": k, "value": b64(value), "lease": lease.0.to_string() } }],
                    "failure": [{ "request_range": { "key": k } }],
                });
                let v = self.post("/v3/kv/txn", &txn, deadline)?;
                if v["succeeded"].as_bool() == Some(true) {
                    return Ok(Response::Won { epoch: Epoch(int(&v["header"]["revision"])) });
                }
                let kv = &v["responses"][0]["response_range"]["kvs"][0];
                if kv.is_null() {
                    // Deleted between the compare and the read: try again.
                    return Err(CallError::Unavailable(
                        "leader key vanished during the campaign".into(),
                    ));
                }
                Ok(Response::Held {
                    holder: unb64(&kv["value"]).unwrap_or_default(),
                    epoch: Epoch(int(&kv["create_revision"])),
                    lease: LeaseId(i64::try_from(int(&kv["lease"])).unwrap_or(0)),
                })
            }
            Request::Revoke { lease } => {
                self.post("/v3/lease/revoke", &json!({ "ID": lease.0.to_string() }), deadline)?;
                Ok(Response::Revoked)
            }
        }
    }

    /// Writes `key = value` only if the leader key still has the fence's
    /// epoch as its create revision, in one transaction.
    pub fn fenced_put(
        &mut self,
        fence: &Fence,
        key: &str,
        value: &str,
        timeout: Duration,
    ) -> Result<FencedOutcome, CallError> {
        let deadline = Instant::now() + timeout;
        let txn = json!({
            "compare": [{
                "target": "CREATE",
                "key": b64(&fence.key),
                "result": "EQUAL",
                "create_revision": fence.epoch.0.to_string(),
            }],
            "success": [{ "request_put": { "key": b64(key), "value": b64(value) } }],
        });
        let v = self.post("/v3/kv/txn", &txn, deadline)?;
        if v["succeeded"].as_bool() == Some(true) {
            Ok(FencedOutcome::Applied(int(&v["header"]["revision"])))
        } else {
            Ok(FencedOutcome::Fenced)
        }
    }

    /// The value of `key` and its mod revision, if it exists.
    pub fn get(
        &mut self,
        key: &str,
        timeout: Duration,
    ) -> Result<Option<(String, u64)>, CallError> {
        let deadline = Instant::now() + timeout;
        let v = self.post("/v3/kv/range", &json!({ "key": b64(key) }), deadline)?;
        let kv = &v["kvs"][0];
        if kv.is_null() {
            return Ok(None);
        }
        Ok(Some((unb64(&kv["value"]).unwrap_or_default(), int(&kv["mod_revision"]))))
    }
}

/// The end of the key range of every key that starts with `prefix` (etcd's
/// `range_end`: the prefix with its last byte plus one).
pub(crate) fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn kv_of(v: &Value) -> Option<Kv> {
    Some(Kv {
        key: unb64(&v["key"])?,
        value: unb64(&v["value"]).unwrap_or_default(),
        create_revision: int(&v["create_revision"]),
        mod_revision: int(&v["mod_revision"]),
    })
}

impl ControlStore for EtcdStore {
    fn call(&mut self, request: &Request, timeout: Duration) -> Result<Response, CallError> {
        EtcdStore::call(self, request, timeout)
    }

    fn txn(
        &mut self,
        fence: Option<&Fence>,
        txn: &Txn,
        timeout: Duration,
    ) -> Result<TxnOutcome, CallError> {
        let deadline = Instant::now() + timeout;
        let mut compare = Vec::new();
        if let Some(f) = fence {
            compare.push(json!({
                "target": "CREATE", "key": b64(&f.key), "result": "EQUAL",
                "create_revision": f.epoch.0.to_string(),
            }));
        }
        for c in &txn.compares {
            compare.push(match c {
                Compare::Missing(k) => json!({
                    "target": "CREATE", "key": b64(k), "result": "EQUAL", "create_revision": "0",
                }),
                Compare::ModRevision(k, rev) => json!({
                    "target": "MOD", "key": b64(k), "result": "EQUAL", "mod_revision": rev.to_string(),
                }),
            });
        }
        let mut success: Vec<Value> = txn
            .puts
            .iter()
            .map(|(k, v)| json!({ "request_put": { "key": b64(k), "value": b64(v) } }))
            .collect();
        success.extend(
            txn.deletes.iter().map(|k| json!({ "request_delete_range": { "key": b64(k) } })),
        );
        // On failure, read the leader key to tell a lost fence from a
        // failed comparison.
        let failure: Vec<Value> = fence
            .map(|f| vec![json!({ "request_range": { "key": b64(&f.key) } })])
            .unwrap_or_default();
        let body = json!({ "compare": compare, "success": success, "failure": failure });
        let v = self.post("/v3/kv/txn", &body, deadline)?;
        if v["succeeded"].as_bool() == Some(true) {
            return Ok(TxnOutcome::Applied(int(&v["header"]["revision"])));
        }
        match fence {
            Some(f) => {
                let kv = &v["responses"][0]["response_range"]["kvs"][0];
                if kv.is_null() || int(&kv["create_revision"]) != f.epoch.0 {
                    Ok(TxnOutcome::Fenced)
                } else {
                    Ok(TxnOutcome::CompareFailed)
                }
            }
            None => Ok(TxnOutcome::CompareFailed),
        }
    }

    fn get(&mut self, key: &str, timeout: Duration) -> Result<Option<Kv>, CallError> {
        let deadline = Instant::now() + timeout;
        let v = self.post("/v3/kv/range", &json!({ "key": b64(key) }), deadline)?;
        Ok(kv_of(&v["kvs"][0]))
    }

    fn range(
        &mut self,
        prefix: &str,
        limit: usize,
        timeout: Duration,
    ) -> Result<Vec<Kv>, CallError> {
        let deadline = Instant::now() + timeout;
        let body = json!({
            "key": b64(prefix),
            "range_end": B64.encode(prefix_end(prefix)),
            "limit": limit.to_string(),
        });
        let v = self.post("/v3/kv/range", &body, deadline)?;
        Ok(v["kvs"].as_array().map(|a| a.iter().filter_map(kv_of).collect()).unwrap_or_default())
    }

    fn kind(&self) -> &'static str {
        "etcd"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gateway on 127.0.0.1 that answers every request with `body`.
    fn answering_gateway(body: &'static str) -> SocketAddr {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        addr
    }

    #[test]
    fn a_silent_endpoint_that_used_up_the_deadline_is_not_asked_again_next_call() {
        // Accepts connections (the kernel does) but never answers: a
        // blackholed etcd gateway.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let answering = answering_gateway(r#"{"ID":"7","TTL":"2"}"#);
        let mut store = EtcdStore::new(vec![silent.local_addr().unwrap(), answering]);
        let grant = Request::Grant { ttl: Duration::from_secs(2) };
        let first = store.call(&grant, Duration::from_millis(150));
        assert_eq!(first, Err(CallError::Timeout));
        let second = store.call(&grant, Duration::from_millis(150));
        assert_eq!(
            second,
            Ok(Response::Granted { lease: LeaseId(7), ttl: Duration::from_secs(2) }),
            "the second call goes to the endpoint that answers"
        );
        drop(silent);
    }

    #[test]
    fn the_range_of_a_prefix_ends_after_its_last_key() {
        assert_eq!(prefix_end("/weft/requests/"), b"/weft/requests0".to_vec());
        assert_eq!(prefix_end("a\u{7f}"), b"a\x80".to_vec());
        assert_eq!(prefix_end(""), vec![0]);
    }
}
