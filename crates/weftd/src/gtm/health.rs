//! Health checks of global services' endpoints (TCP connect, or an HTTP
//! GET whose status must be 2xx or 3xx), run over the fabric from this
//! site. DNS sites use the verdicts for answers; the leader uses the
//! samples as a canary's SLO gate.
//!
//! An endpoint turns unhealthy after `fall` failures in a row and healthy
//! again after `rise` successes; it starts healthy (a new endpoint is not
//! refused traffic before its first check). Every check is kept as a
//! sample (time, success, latency) for a window of [`KEEP`].

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weft_gtm::model::{Check, HealthCheck};
use weft_gtm::{GtmDoc, SloSample};

/// How long samples are kept.
pub(crate) const KEEP: Duration = Duration::from_mins(10);
/// Most samples kept per endpoint.
const MAX_SAMPLES: usize = 4096;

/// (service, endpoint id).
pub(crate) type Key = (String, String);

/// One endpoint's checks.
#[derive(Debug, Clone)]
pub(crate) struct Health {
    pub(crate) target: SocketAddr,
    pub(crate) check: HealthCheck,
    pub(crate) healthy: bool,
    /// The last failure, for explain.
    pub(crate) last_error: Option<String>,
    ok_run: u32,
    fail_run: u32,
    next: Instant,
    running: bool,
    /// (Unix ms, ok, latency ms), oldest first.
    samples: VecDeque<(i64, bool, u32)>,
}

/// Every endpoint's health, shared by the checker, the DNS view and the leader.
#[derive(Debug, Default)]
pub(crate) struct HealthBoard {
    inner: Mutex<BTreeMap<Key, Health>>,
}

impl HealthBoard {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, Health>> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Follows the document: adds new checked endpoints, forgets removed
    /// ones, keeps the state of unchanged ones.
    pub(crate) fn sync(&self, doc: &GtmDoc, now: Instant) {
        let mut want: BTreeMap<Key, (SocketAddr, HealthCheck)> = BTreeMap::new();
        for s in doc.services.values() {
            let Some(check) = &s.check else { continue };
            for e in &s.endpoints {
                want.insert(
                    (s.name.clone(), e.id.clone()),
                    (SocketAddr::new(e.address, e.port), check.clone()),
                );
            }
        }
        let mut map = self.lock();
        map.retain(|k, h| want.get(k).is_some_and(|(t, c)| *t == h.target && *c == h.check));
        for (k, (target, check)) in want {
            map.entry(k).or_insert_with(|| Health {
                target,
                check,
                healthy: true,
                last_error: None,
                ok_run: 0,
                fail_run: 0,
                next: now,
                running: false,
                samples: VecDeque::new(),
            });
        }
    }

    /// Whether the endpoint is healthy (none: it has no check) and why not.
    pub(crate) fn verdict(&self, key: &Key) -> Option<Result<(), String>> {
        let map = self.lock();
        let h = map.get(key)?;
        Some(if h.healthy {
            Ok(())
        } else {
            Err(format!("health check failing: {}", h.last_error.as_deref().unwrap_or("no answer")))
        })
    }

    /// The checks of `keys` since `since_ms`.
    pub(crate) fn sample(&self, keys: &[Key], since_ms: i64) -> SloSample {
        let map = self.lock();
        let mut lat: Vec<u32> = Vec::new();
        let (mut checks, mut errors) = (0u32, 0u32);
        for k in keys {
            let Some(h) = map.get(k) else { continue };
            for &(at, ok, ms) in h.samples.iter().filter(|s| s.0 >= since_ms) {
                let _ = at;
                checks += 1;
                if ok {
                    lat.push(ms);
                } else {
                    errors += 1;
                }
            }
        }
        lat.sort_unstable();
        let p99 = (!lat.is_empty()).then(|| lat[(lat.len() * 99).div_ceil(100).saturating_sub(1)]);
        SloSample { checks, errors, p99_ms: p99 }
    }

    /// Checks due now, marked running.
    fn due(&self, now: Instant) -> Vec<(Key, SocketAddr, HealthCheck)> {
        let mut map = self.lock();
        map.iter_mut()
            .filter(|(_, h)| !h.running && h.next <= now)
            .map(|(k, h)| {
                h.running = true;
                (k.clone(), h.target, h.check.clone())
            })
            .collect()
    }

    /// Records a check's outcome.
    fn record(&self, key: &Key, outcome: Result<Duration, String>, now: Instant, now_ms: i64) {
        let mut map = self.lock();
        let Some(h) = map.get_mut(key) else { return };
        h.running = false;
        h.next = now + Duration::from_millis(h.check.interval_ms);
        let (ok, ms) = match &outcome {
            Ok(d) => (true, u32::try_from(d.as_millis()).unwrap_or(u32::MAX)),
            Err(_) => (false, 0),
        };
        h.samples.push_back((now_ms, ok, ms));
        while h.samples.len() > MAX_SAMPLES
            || h.samples.front().is_some_and(|s| s.0 < now_ms - KEEP.as_millis() as i64)
        {
            h.samples.pop_front();
        }
        match outcome {
            Ok(_) => {
                h.ok_run += 1;
                h.fail_run = 0;
                if !h.healthy && h.ok_run >= h.check.rise {
                    h.healthy = true;
                }
            }
            Err(e) => {
                h.fail_run += 1;
                h.ok_run = 0;
                h.last_error = Some(e);
                if h.healthy && h.fail_run >= h.check.fall {
                    h.healthy = false;
                }
            }
        }
    }

    /// Every endpoint's (key, healthy), for the metrics.
    pub(crate) fn all(&self) -> Vec<(Key, bool)> {
        self.lock().iter().map(|(k, h)| (k.clone(), h.healthy)).collect()
    }
}

/// Runs one check.
async fn check_once(target: SocketAddr, check: &HealthCheck) -> Result<Duration, String> {
    let start = Instant::now();
    let timeout = Duration::from_millis(check.timeout_ms);
    let run = async {
        let mut s = tokio::net::TcpStream::connect(target)
            .await
            .map_err(|e| format!("connect {target}: {e}"))?;
        let Check::Http { path } = &check.check else { return Ok(()) };
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: weft-gtm\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.map_err(|e| format!("send: {e}"))?;
        let mut buf = [0u8; 64];
        let mut got = 0;
        while got < 12 {
            let n = s.read(&mut buf[got..]).await.map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                break;
            }
            got += n;
        }
        let line = String::from_utf8_lossy(&buf[..got]);
        let code = line.split_whitespace().nth(1).and_then(|c| c.parse::<u16>().ok());
        match code {
            Some(c) if (200..400).contains(&c) => Ok(()),
            Some(c) => Err(format!("HTTP {c}")),
            None => Err("no HTTP status line".to_owned()),
        }
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(())) => Ok(start.elapsed()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no answer within {} ms", check.timeout_ms)),
    }
}

/// Runs the checks that are due, forever (a task of the GTM runtime).
pub(crate) async fn run(state: std::sync::Arc<super::GtmState>) {
    let mut synced = u64::MAX;
    loop {
        let now = Instant::now();
        let generation = state.generation();
        if generation != synced {
            state.health.sync(&state.doc(), now);
            synced = generation;
        }
        for (key, target, check) in state.health.due(now) {
            let state = state.clone();
            tokio::spawn(async move {
                let outcome = check_once(target, &check).await;
                state.health.record(&key, outcome, Instant::now(), crate::api::unix_ms());
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(fall: u32, rise: u32) -> HealthCheck {
        HealthCheck { check: Check::Tcp, interval_ms: 1000, timeout_ms: 500, fall, rise }
    }

    fn board() -> (HealthBoard, Key) {
        let b = HealthBoard::default();
        let k = ("app".to_owned(), "a".to_owned());
        b.lock().insert(
            k.clone(),
            Health {
                target: "127.0.0.1:1".parse().unwrap(),
                check: check(2, 2),
                healthy: true,
                last_error: None,
                ok_run: 0,
                fail_run: 0,
                next: Instant::now(),
                running: false,
                samples: VecDeque::new(),
            },
        );
        (b, k)
    }

    #[test]
    fn fall_failures_make_it_unhealthy_and_rise_successes_bring_it_back() {
        let (b, k) = board();
        let now = Instant::now();
        b.record(&k, Err("refused".into()), now, 1);
        assert_eq!(b.verdict(&k), Some(Ok(())));
        b.record(&k, Err("refused".into()), now, 2);
        assert!(b.verdict(&k).unwrap().unwrap_err().contains("refused"));
        b.record(&k, Ok(Duration::from_millis(3)), now, 3);
        assert!(b.verdict(&k).unwrap().is_err());
        b.record(&k, Ok(Duration::from_millis(3)), now, 4);
        assert_eq!(b.verdict(&k), Some(Ok(())));
    }

    #[test]
    fn samples_count_errors_and_latency_since_a_time() {
        let (b, k) = board();
        let now = Instant::now();
        for (at, o) in
            [(10, Err("x".to_owned())), (20, Ok(5)), (30, Ok(50)), (40, Err("y".to_owned()))]
        {
            b.record(&k, o.map(Duration::from_millis), now, at);
        }
        let s = b.sample(std::slice::from_ref(&k), 20);
        assert_eq!((s.checks, s.errors, s.p99_ms), (3, 1, Some(50)));
    }

    #[tokio::test]
    async fn a_closed_port_fails_and_an_http_500_is_an_error() {
        let refused = check_once("127.0.0.1:1".parse().unwrap(), &check(1, 1)).await;
        assert!(refused.is_err());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 256];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(b"HTTP/1.1 500 Internal Server Error\r\n\r\n").await;
            }
        });
        let http = HealthCheck {
            check: Check::Http { path: "/health".into() },
            interval_ms: 1000,
            timeout_ms: 500,
            fall: 1,
            rise: 1,
        };
        assert_eq!(check_once(addr, &http).await, Err("HTTP 500".to_owned()));
        assert!(check_once(addr, &check(1, 1)).await.is_ok(), "a TCP check only connects");
    }
}
