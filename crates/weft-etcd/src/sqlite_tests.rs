//! [`SqliteStore`] against etcd's semantics, on a hand-moved clock.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use weft_control::{Election, ElectionConfig, Role};

use super::*;

const T: Duration = Duration::from_millis(250);
const KEY: &str = "/weft/control/leader";
const TTL: Duration = Duration::from_secs(2);

/// A clock the test moves: `t0` plus a number of milliseconds.
struct Clock {
    t0: Instant,
    ms: Arc<AtomicU64>,
}

impl Clock {
    fn new() -> Self {
        Self { t0: Instant::now(), ms: Arc::new(AtomicU64::new(0)) }
    }

    fn now(&self) -> Instant {
        self.t0 + Duration::from_millis(self.ms.load(Ordering::SeqCst))
    }

    fn set(&self, at: Instant) {
        self.ms.store((at - self.t0).as_millis() as u64, Ordering::SeqCst);
    }

    fn advance(&self, by: Duration) {
        self.set(self.now() + by);
    }

    fn reader(&self) -> impl Fn() -> Instant + Send + 'static {
        let (t0, ms) = (self.t0, Arc::clone(&self.ms));
        move || t0 + Duration::from_millis(ms.load(Ordering::SeqCst))
    }
}

/// A directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("weft-etcd-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn memory(clock: &Clock) -> SqliteStore {
    SqliteStore::open_in_memory_with_clock(clock.reader()).unwrap()
}

fn grant(s: &mut SqliteStore) -> LeaseId {
    match s.call(&Request::Grant { ttl: TTL }, T) {
        Ok(Response::Granted { lease, ttl }) if ttl == TTL => lease,
        other => panic!("no grant: {other:?}"),
    }
}

fn campaign(s: &mut SqliteStore, id: &str, lease: LeaseId) -> Result<Response, CallError> {
    s.call(&Request::Campaign { key: KEY.into(), value: id.into(), lease }, T)
}

fn won(s: &mut SqliteStore, id: &str, lease: LeaseId) -> Epoch {
    match campaign(s, id, lease) {
        Ok(Response::Won { epoch }) => epoch,
        other => panic!("{id} did not win: {other:?}"),
    }
}

fn puts(kvs: &[(&str, &str)]) -> Txn {
    Txn { puts: kvs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(), ..Txn::default() }
}

fn fence(epoch: Epoch) -> Fence {
    Fence { key: KEY.into(), epoch }
}

fn value(s: &mut SqliteStore, key: &str) -> Option<String> {
    s.get(key, T).unwrap().map(|kv| kv.value)
}

/// Makes every call `e` wants at `now` (the clock set there), as the
/// driver does; returns the requests made.
fn drive(e: &mut Election, s: &mut SqliteStore, now: Instant) -> Vec<Request> {
    let mut made = Vec::new();
    while let Some((id, request)) = e.poll_request(now) {
        let result = s.call(&request, e.config().call_timeout);
        e.handle_response(now, id, result);
        made.push(request);
    }
    made
}

fn epoch_of(e: &Election) -> Option<Epoch> {
    match e.role() {
        Role::Leader { epoch } => Some(*epoch),
        Role::Follower { .. } => None,
    }
}

#[test]
fn an_election_wins_keeps_its_lease_and_hands_over_only_after_the_ttl() {
    let clock = Clock::new();
    let mut s = memory(&clock);
    let t0 = clock.now();
    let mut a = Election::new(t0, ElectionConfig::new(KEY, "a")).unwrap();
    let mut b = Election::new(t0, ElectionConfig::new(KEY, "b")).unwrap();
    drive(&mut a, &mut s, t0);
    let ea = epoch_of(&a).expect("a leads");
    let kv = s.get(KEY, T).unwrap().unwrap();
    assert_eq!((kv.value.as_str(), kv.create_revision), ("a", ea.0));
    drive(&mut b, &mut s, t0);
    assert_eq!(b.role(), &Role::Follower { leader: Some(("a".into(), ea)) });

    // Ten seconds, five TTLs: a renews and keeps leading.
    let (mut now, mut renewed) = (t0, t0);
    while now < t0 + Duration::from_secs(10) {
        now += Duration::from_millis(10);
        clock.set(now);
        if drive(&mut a, &mut s, now).iter().any(|r| matches!(r, Request::KeepAlive { .. })) {
            renewed = now;
        }
        drive(&mut b, &mut s, now);
        assert_eq!(epoch_of(&a), Some(ea));
        assert!(a.is_leader(now));
        assert_eq!(epoch_of(&b), None);
    }
    assert!(renewed + Duration::from_secs(1) > now, "a kept renewing");

    // a stops: b takes over once a's lease ran out at the store, not before.
    while epoch_of(&b).is_none() {
        now += Duration::from_millis(10);
        clock.set(now);
        drive(&mut b, &mut s, now);
        assert!(now < renewed + TTL + Duration::from_secs(1), "b never won");
    }
    assert!(now >= renewed + TTL, "b won at {:?}, before a's lease ran out", now - renewed);
    let eb = epoch_of(&b).unwrap();
    assert!(eb > ea);
    let kv = s.get(KEY, T).unwrap().unwrap();
    assert_eq!((kv.value.as_str(), kv.create_revision), ("b", eb.0));
    assert_eq!(s.txn(Some(&fence(ea)), &puts(&[("/x", "a")]), T), Ok(TxnOutcome::Fenced));
    assert!(matches!(
        s.txn(Some(&fence(eb)), &puts(&[("/x", "b")]), T),
        Ok(TxnOutcome::Applied(_))
    ));
}

#[test]
fn a_lease_lives_its_ttl_from_the_last_keep_alive_and_takes_its_key_along() {
    let clock = Clock::new();
    let mut s = memory(&clock);
    let lease = grant(&mut s);
    assert_eq!(won(&mut s, "a", lease), Epoch(1));
    clock.advance(Duration::from_millis(1500));
    assert_eq!(s.call(&Request::KeepAlive { lease }, T), Ok(Response::KeptAlive { ttl: TTL }));
    clock.advance(TTL.saturating_sub(Duration::from_millis(1)));
    assert_eq!(value(&mut s, KEY).as_deref(), Some("a"));
    assert_eq!(s.revision(T), Ok(1));
    clock.advance(Duration::from_millis(1));
    assert_eq!(value(&mut s, KEY), None);
    assert_eq!(s.revision(T), Ok(2), "the expiry deleted the key at a new revision");
    let gone = Err(CallError::Refused("lease not found".into()));
    assert_eq!(s.call(&Request::KeepAlive { lease }, T), gone);
    assert_eq!(campaign(&mut s, "a", lease), gone);
    assert_eq!(s.call(&Request::Revoke { lease }, T), gone);
}

#[test]
fn a_campaign_reads_the_key_it_finds_and_a_revoke_frees_it() {
    let clock = Clock::new();
    let mut s = memory(&clock);
    let (la, lb) = (grant(&mut s), grant(&mut s));
    assert_ne!(la, lb);
    let ea = won(&mut s, "a", la);
    assert_eq!(
        campaign(&mut s, "b", lb),
        Ok(Response::Held { holder: "a".into(), epoch: ea, lease: la })
    );
    assert_eq!(s.call(&Request::Revoke { lease: la }, T), Ok(Response::Revoked));
    assert_eq!(value(&mut s, KEY), None);
    let eb = won(&mut s, "b", lb);
    assert_eq!(eb.0, ea.0 + 2, "one revision for the revoke's delete, one for the create");
}

#[test]
fn a_fenced_txn_applies_in_its_epoch_and_is_fenced_once_the_key_changed_hands() {
    let clock = Clock::new();
    let mut s = memory(&clock);
    let la = grant(&mut s);
    let ea = won(&mut s, "a", la);
    assert_eq!(
        s.txn(Some(&fence(ea)), &puts(&[("/x", "1")]), T),
        Ok(TxnOutcome::Applied(ea.0 + 1))
    );
    s.call(&Request::Revoke { lease: la }, T).unwrap();
    let lb = grant(&mut s);
    let eb = won(&mut s, "b", lb);
    let before = s.revision(T).unwrap();
    assert_eq!(s.txn(Some(&fence(ea)), &puts(&[("/x", "2")]), T), Ok(TxnOutcome::Fenced));
    assert_eq!(s.revision(T), Ok(before));
    assert_eq!(value(&mut s, "/x").as_deref(), Some("1"));
    assert_eq!(
        s.txn(Some(&fence(eb)), &puts(&[("/x", "3")]), T),
        Ok(TxnOutcome::Applied(before + 1))
    );
    assert_eq!(value(&mut s, "/x").as_deref(), Some("3"));
}

#[test]
fn a_failed_comparison_writes_nothing() {
    let clock = Clock::new();
    let mut s = memory(&clock);
    let lease = grant(&mut s);
    let epoch = won(&mut s, "a", lease);
    let Ok(TxnOutcome::Applied(rev)) = s.txn(None, &puts(&[("/a", "1")]), T) else { panic!() };
    for compare in [
        Compare::Missing("/a".into()),
        Compare::ModRevision("/a".into(), 0),
        Compare::ModRevision("/a".into(), rev - 1),
        Compare::ModRevision("/missing".into(), rev),
    ] {
        let txn = Txn {
            compares: vec![compare.clone()],
            puts: vec![("/a".into(), "2".into()), ("/b".into(), "2".into())],
            deletes: vec!["/c".into()],
        };
        for f in [None, Some(&fence(epoch))] {
            assert_eq!(s.txn(f, &txn, T), Ok(TxnOutcome::CompareFailed), "{compare:?}");
        }
    }
    assert_eq!(s.revision(T), Ok(rev));
    assert_eq!(value(&mut s, "/a").as_deref(), Some("1"));
    assert_eq!(value(&mut s, "/b"), None);
    let txn = Txn {
        compares: vec![Compare::ModRevision("/a".into(), rev), Compare::Missing("/b".into())],
        ..puts(&[("/a", "2"), ("/b", "2")])
    };
    assert_eq!(s.txn(Some(&fence(epoch)), &txn, T), Ok(TxnOutcome::Applied(rev + 1)));
}

#[test]
fn each_applied_txn_takes_exactly_one_revision_and_a_recreated_key_a_new_create_revision() {
    let clock = Clock::new();
    let mut s = memory(&clock);
    assert_eq!(s.txn(None, &puts(&[("/a", "1"), ("/b", "1")]), T), Ok(TxnOutcome::Applied(1)));
    let b = s.get("/b", T).unwrap().unwrap();
    assert_eq!((b.create_revision, b.mod_revision), (1, 1));
    assert_eq!(s.txn(None, &puts(&[("/a", "2")]), T), Ok(TxnOutcome::Applied(2)));
    let a = s.get("/a", T).unwrap().unwrap();
    assert_eq!((a.value.as_str(), a.create_revision, a.mod_revision), ("2", 1, 2));
    let delete = Txn { deletes: vec!["/a".into()], ..Txn::default() };
    assert_eq!(s.txn(None, &delete, T), Ok(TxnOutcome::Applied(3)));
    assert_eq!(s.get("/a", T), Ok(None));
    // Like etcd: deleting nothing changes nothing, not even the revision.
    assert_eq!(s.txn(None, &delete, T), Ok(TxnOutcome::Applied(3)));
    assert_eq!(s.txn(None, &puts(&[("/a", "3")]), T), Ok(TxnOutcome::Applied(4)));
    let a = s.get("/a", T).unwrap().unwrap();
    assert_eq!((a.create_revision, a.mod_revision), (4, 4));
    assert_eq!(s.revision(T), Ok(4));
    // etcd refuses a key written twice in one transaction.
    let twice = Txn { deletes: vec!["/a".into()], ..puts(&[("/a", "4")]) };
    assert!(matches!(s.txn(None, &twice, T), Err(CallError::Refused(_))));
    assert_eq!(s.revision(T), Ok(4));
}

#[test]
fn a_range_holds_the_prefix_s_keys_only_in_byte_order_up_to_the_limit() {
    let clock = Clock::new();
    let mut s = memory(&clock);
    let keys = [
        "/r/b", "/r/a", "/r0", "/r", "/q", "/r/c", "/l_%/x", "/lab/x", "p\u{7f}z", "p\u{80}", "p~",
    ];
    let all: Vec<_> = keys.iter().map(|k| (*k, "v")).collect();
    s.txn(None, &puts(&all), T).unwrap();
    let range = |s: &mut SqliteStore, prefix: &str, limit: usize| -> Vec<String> {
        s.range(prefix, limit, T).unwrap().into_iter().map(|kv| kv.key).collect()
    };
    assert_eq!(range(&mut s, "/r/", 10), ["/r/a", "/r/b", "/r/c"]);
    assert_eq!(range(&mut s, "/r/", 2), ["/r/a", "/r/b"]);
    assert_eq!(range(&mut s, "/r/", 0), ["/r/a", "/r/b", "/r/c"], "0: no limit, as etcd");
    // LIKE's wildcards are plain characters here.
    assert_eq!(range(&mut s, "/l_%/", 10), ["/l_%/x"]);
    // The prefix's end ("p" 0x80) is not UTF-8.
    assert_eq!(range(&mut s, "p\u{7f}", 10), ["p\u{7f}z"]);
    let mut sorted = keys.map(String::from);
    sorted.sort(); // str's order is byte order
    assert_eq!(range(&mut s, "", 0), sorted);
}

#[test]
fn the_state_survives_reopening_the_file() {
    let dir = TempDir::new("reopen");
    let path = dir.0.join("control.db");
    let clock = Clock::new();
    let (lease, epoch) = {
        let mut s = SqliteStore::open_with_clock(&path, clock.reader()).unwrap();
        let lease = grant(&mut s);
        let epoch = won(&mut s, "a", lease);
        assert_eq!(
            s.txn(Some(&fence(epoch)), &puts(&[("/x", "1")]), T),
            Ok(TxnOutcome::Applied(epoch.0 + 1))
        );
        (lease, epoch)
    };
    clock.advance(TTL * 10);
    let mut s = SqliteStore::open_with_clock(&path, clock.reader()).unwrap();
    let mode: String = s.conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    let sync: i64 = s.conn.pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap();
    assert_eq!((mode.as_str(), sync), ("wal", 2), "WAL, synchronous=FULL");
    assert_eq!(s.revision(T), Ok(epoch.0 + 1));
    assert_eq!(value(&mut s, "/x").as_deref(), Some("1"));
    assert_eq!(s.get(KEY, T).unwrap().map(|kv| kv.create_revision), Some(epoch.0));
    // The lease got a full TTL at the reopen, and its id is not given again.
    assert!(grant(&mut s) > lease);
    clock.advance(TTL.saturating_sub(Duration::from_millis(1)));
    assert_eq!(
        s.txn(Some(&fence(epoch)), &puts(&[("/x", "2")]), T),
        Ok(TxnOutcome::Applied(epoch.0 + 2))
    );
    clock.advance(Duration::from_millis(1));
    assert_eq!(s.txn(Some(&fence(epoch)), &puts(&[("/x", "3")]), T), Ok(TxnOutcome::Fenced));
    assert_eq!(s.kind(), "sqlite");
}
