//! The HA lab on a real 3-member etcd cluster (Debian's `etcd-server`,
//! installed by `make deps`) on loopback ports of its own, with three
//! `weft-controller` processes: leaders are killed with SIGKILL and stalled
//! with SIGSTOP, and every publication is counted from the controllers'
//! JSON lines.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Etcd {
    members: Vec<Child>,
    dir: PathBuf,
    clients: Vec<String>,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for m in &mut self.members {
            let _ = m.kill();
            let _ = m.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Three etcd members on ports of this test process (pid-derived).
fn etcd_cluster(tag: u16) -> Etcd {
    let base = 20000 + (std::process::id() % 2000) as u16 * 10 + tag * 6;
    let dir = std::env::temp_dir().join(format!("weft-etcd-lab-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let peer = |i: u16| format!("http://127.0.0.1:{}", base + 3 + i);
    let client = |i: u16| format!("127.0.0.1:{}", base + i);
    let cluster: Vec<String> = (0..3).map(|i| format!("m{i}={}", peer(i))).collect();
    let mut members = Vec::new();
    for i in 0..3 {
        let log = std::fs::File::create(dir.join(format!("m{i}.log"))).unwrap();
        let child = Command::new("etcd")
            .args(["--name", &format!("m{i}")])
            .args(["--data-dir", dir.join(format!("m{i}")).to_str().unwrap()])
            .args(["--listen-client-urls", &format!("http://{}", client(i))])
            .args(["--advertise-client-urls", &format!("http://{}", client(i))])
            .args(["--listen-peer-urls", &peer(i)])
            .args(["--initial-advertise-peer-urls", &peer(i)])
            .args(["--initial-cluster", &cluster.join(",")])
            .args(["--initial-cluster-state", "new", "--initial-cluster-token", "weft-lab"])
            .args(["--logger", "zap", "--log-outputs", "stderr"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd is installed (make deps installs Debian's etcd-server)");
        members.push(child);
    }
    let etcd = Etcd { members, dir, clients: (0..3).map(client).collect() };
    // Healthy when a write goes through.
    let mut store =
        weft_etcd::EtcdStore::new(etcd.clients.iter().map(|c| c.parse().unwrap()).collect());
    let started = Instant::now();
    while store.get("/weft/lab/ready", Duration::from_millis(500)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "etcd cluster did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    etcd
}

struct Ctl {
    child: Child,
    id: String,
}

impl Drop for Ctl {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts controller `id`; its JSON lines arrive on `tx`.
fn controller(etcd: &Etcd, id: &str, tx: std::sync::mpsc::Sender<Value>) -> Ctl {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft-controller"))
        .args(["--endpoints", &etcd.clients.join(","), "--id", id, "--publish-every", "50"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && tx.send(v).is_err()
            {
                break;
            }
        }
    });
    Ctl { child, id: id.to_owned() }
}

/// Reads events until one matches, at most `max`; every event read is kept.
fn wait_for(
    rx: &Receiver<Value>,
    log: &mut Vec<Value>,
    max: Duration,
    want: impl Fn(&Value) -> bool,
) -> Option<Value> {
    let end = Instant::now() + max;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(v) => {
                log.push(v.clone());
                if want(&v) {
                    return Some(v);
                }
            }
            Err(_) => return None,
        }
    }
    None
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

fn is(v: &Value, event: &str) -> bool {
    v["event"] == event
}

#[test]
fn killing_the_leader_elects_another_within_three_seconds_and_no_old_epoch_publishes_after() {
    let etcd = etcd_cluster(0);
    let (tx, rx) = channel();
    let mut ctls: Vec<Ctl> =
        (1..=3).map(|i| controller(&etcd, &format!("c{i}"), tx.clone())).collect();
    let mut log = Vec::new();
    let first = wait_for(&rx, &mut log, Duration::from_secs(10), |v| is(v, "elected"))
        .expect("a first leader");
    let mut leader = first["id"].as_str().unwrap().to_owned();
    let mut epoch = first["epoch"].as_u64().unwrap();
    for kill in 0..3 {
        // Let it publish a while, then kill -9.
        wait_for(&rx, &mut log, Duration::from_millis(500), |_| false);
        let i = ctls.iter().position(|c| c.id == leader).unwrap();
        let killed_at = unix_ms();
        drop(ctls.remove(i));
        let next = wait_for(&rx, &mut log, Duration::from_secs(6), |v| is(v, "elected"))
            .unwrap_or_else(|| panic!("kill {kill}: nobody was elected after {leader} died"));
        let took = next["t_ms"].as_u64().unwrap() - killed_at;
        assert!(took <= 3000, "kill {kill}: a new leader after {took} ms");
        let new_epoch = next["epoch"].as_u64().unwrap();
        assert!(new_epoch > epoch, "kill {kill}: epoch {new_epoch} after {epoch}");
        leader = next["id"].as_str().unwrap().to_owned();
        epoch = new_epoch;
        // Keep three controllers.
        ctls.push(controller(&etcd, &format!("r{kill}"), tx.clone()));
    }
    wait_for(&rx, &mut log, Duration::from_millis(500), |_| false);
    // Publications form one sequence of epochs: never an older epoch after a newer one.
    let published: Vec<u64> =
        log.iter().filter(|v| is(v, "published")).map(|v| v["epoch"].as_u64().unwrap()).collect();
    let mut epochs = published.clone();
    epochs.dedup();
    assert!(epochs.len() >= 3, "leaders of three epochs or more published: {published:?}");
    assert!(published.windows(2).all(|w| w[0] <= w[1]), "{published:?}");
}

#[test]
fn a_stalled_leader_lands_no_write_after_its_successor_is_elected() {
    let etcd = etcd_cluster(1);
    let (tx, rx) = channel();
    let ctls: Vec<Ctl> = (1..=3).map(|i| controller(&etcd, &format!("s{i}"), tx.clone())).collect();
    let mut log = Vec::new();
    let first = wait_for(&rx, &mut log, Duration::from_secs(10), |v| is(v, "elected"))
        .expect("a first leader");
    let old = first["id"].as_str().unwrap().to_owned();
    let old_epoch = first["epoch"].as_u64().unwrap();
    wait_for(&rx, &mut log, Duration::from_millis(500), |_| false);
    let pid = ctls.iter().find(|c| c.id == old).unwrap().child.id().to_string();
    // SIGSTOP: a frozen process (GC pause, a stuck VM) that wakes later
    // still believing it leads, and tries to publish at once.
    assert!(Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    let next =
        wait_for(&rx, &mut log, Duration::from_secs(6), |v| is(v, "elected")).expect("a successor");
    let elected_at = next["t_ms"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());
    wait_for(&rx, &mut log, Duration::from_secs(2), |_| false);
    let landed_late: Vec<&Value> = log
        .iter()
        .filter(|v| {
            is(v, "published")
                && v["epoch"].as_u64() == Some(old_epoch)
                && v["t_ms"].as_u64().unwrap() > elected_at
        })
        .collect();
    assert!(landed_late.is_empty(), "the old leader's writes landed: {landed_late:?}");
    let stepped_down = log.iter().any(|v| v["id"] == old.as_str() && is(v, "stepped_down"));
    assert!(stepped_down, "the woken leader steps down: {log:?}");
}
