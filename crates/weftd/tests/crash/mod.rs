//! `kill -9` of `weftd` while the API takes writes, 50 times at random
//! points: policy applies and API token creation run back to back from
//! another thread, the agent is killed (`SIGKILL`) between 20 and
//! 400 ms after it answers, then restarted on the same state directory.
//! After every restart: the SQLite store passes `PRAGMA integrity_check`;
//! every policy version and API token the API acknowledged (200/201) is
//! there; the policy in force is one that was stored, with its text; and
//! the agent answers again. (The store runs WAL with `synchronous=FULL`: a
//! commit is on disk before the API answers.)

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::support::{Harness, wait_for};

const KILLS: usize = 50;

fn policy(n: u64) -> String {
    format!(
        "[policy]\nname = \"crash-{n}\"\ndefault = \"allow\"\n\n[[acl]]\nname = \"close-{port}\"\naction = \"deny\"\nto = \"10.99.0.0/16\"\nprotocol = \"udp\"\nports = {port}\n",
        port = 1000 + n % 60000
    )
}

/// `METHOD path` with `body` on the agent's API socket: (status, body).
fn call(socket: &std::path::Path, method: &str, path: &str, body: &str) -> (u16, Value) {
    let out = std::process::Command::new("curl")
        .args(["-s", "--max-time", "5", "-w", "\n%{http_code}", "-X", method])
        .args(["-H", "content-type: application/json", "--data-binary", body])
        .arg("--unix-socket")
        .arg(socket)
        .arg(format!("http://weft{path}"))
        .output();
    let Ok(out) = out else { return (0, Value::Null) };
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (json, code) = text.trim_end().rsplit_once('\n').unwrap_or(("", text.trim()));
    (code.parse().unwrap_or(0), serde_json::from_str(json).unwrap_or(Value::Null))
}

/// What the API acknowledged.
#[derive(Default)]
struct Acked {
    versions: BTreeSet<u64>,
    tokens: BTreeSet<u64>,
}

/// A small deterministic generator (the seed is printed for a replay).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn integrity(db: &std::path::Path) -> String {
    let script = format!(
        "import sqlite3; print(sqlite3.connect({:?}).execute('pragma integrity_check').fetchone()[0])",
        db.display().to_string()
    );
    let out = std::process::Command::new("python3").args(["-c", &script]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn kill_9_during_writes_loses_no_acknowledged_change_and_leaves_nothing_half_written() {
    let mut h = Harness::new("crash", 1, 1, "adaptive");
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("kill -9 test seed {seed}");
    let mut rng = Rng(seed);
    let socket = h.socket(0);
    let db = h.sites[0].state_dir.join("weft.db");
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut n = 0u64;
    let mut writes = 0usize;
    for kill in 0..KILLS {
        let pid = h.start_agent(0);
        wait_for("the agent's API", Duration::from_secs(20), || {
            (call(&socket, "GET", "/api/v1/health", "").0 == 200).then_some(())
        });
        // Everything acknowledged so far is there.
        let versions = call(&socket, "GET", "/api/v1/policy/versions", "").1;
        let have: BTreeSet<u64> = versions["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["version"].as_u64())
            .collect();
        let tokens = call(&socket, "GET", "/api/v1/tokens?limit=1000", "").1;
        let token_ids: BTreeSet<u64> = tokens["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["id"].as_u64())
            .collect();
        {
            let a = acked.lock().unwrap();
            let lost: Vec<_> = a.versions.difference(&have).collect();
            assert!(
                lost.is_empty(),
                "after kill {kill}: acknowledged policy versions lost: {lost:?}"
            );
            let lost: Vec<_> = a.tokens.difference(&token_ids).collect();
            assert!(lost.is_empty(), "after kill {kill}: acknowledged tokens lost: {lost:?}");
        }
        let current = call(&socket, "GET", "/api/v1/policy", "").1;
        if let Some(v) = current["version"].as_u64().filter(|v| *v > 0) {
            assert!(
                have.contains(&v),
                "after kill {kill}: the policy in force ({v}) was never stored"
            );
            let stored = call(&socket, "GET", &format!("/api/v1/policy/versions/{v}"), "").1;
            assert_eq!(
                stored["source"], current["source"],
                "after kill {kill}: half-written policy {v}"
            );
        }
        // Writes from another thread; SIGKILL at a random point.
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (socket, acked, stop) = (socket.clone(), Arc::clone(&acked), Arc::clone(&stop));
            let first = n;
            std::thread::spawn(move || {
                let mut k = first;
                let mut done = 0;
                while !stop.load(Ordering::Relaxed) {
                    k += 1;
                    let (code, body) = if k.is_multiple_of(2) {
                        let body = format!("{{\"name\":\"t{k}\",\"scope\":\"read\"}}");
                        call(&socket, "POST", "/api/v1/tokens", &body)
                    } else {
                        call(&socket, "POST", "/api/v1/policy", &policy(k))
                    };
                    let mut a = acked.lock().unwrap();
                    match (k % 2, code) {
                        // A body cut by the kill is not an acknowledgement.
                        (0, 201) => a.tokens.extend(body["token"]["id"].as_u64()),
                        (1, 200) => a.versions.extend(body["version"].as_u64()),
                        _ => {}
                    }
                    done += 1;
                }
                (k, done)
            })
        };
        std::thread::sleep(Duration::from_millis(20 + rng.next() % 380));
        let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
        stop.store(true, Ordering::Relaxed);
        let (last, done) = writer.join().unwrap();
        n = last;
        writes += done;
        h.lab.kill(pid);
        assert_eq!(integrity(&db), "ok", "after kill {kill} the store is damaged");
    }
    let a = acked.lock().unwrap();
    eprintln!(
        "{KILLS} kills, {writes} writes tried, {} policy versions and {} tokens acknowledged, none lost",
        a.versions.len(),
        a.tokens.len()
    );
    assert!(
        a.versions.len() >= KILLS / 2 && a.tokens.len() >= KILLS / 2,
        "too few writes landed to mean anything"
    );
}
