//! Tests of the store as a whole: reopening, pragmas, the import of the old
//! file store, schema versions, and timings. Table-specific tests sit beside
//! their code.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use weft_api::{Event, EventKind, Scope};

use super::*;

/// A fresh directory under the system temp dir, removed when dropped.
pub(super) struct TempDir(PathBuf);

impl TempDir {
    pub(super) fn new(tag: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("weftd-store-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn site_b() -> SiteRecord {
    SiteRecord {
        id: "b".to_owned(),
        role: Some("hub".to_owned()),
        region: Some("eu-west".to_owned()),
        public_key: "pk".to_owned(),
        endpoints: vec!["203.0.113.9:51820".to_owned()],
        prefixes: vec!["10.10.2.0/24".to_owned()],
        removed: false,
    }
}

#[test]
fn the_store_is_a_cloneable_handle_shared_across_threads() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<Store>();
    let dir = TempDir::new("threads");
    let s = Store::open(dir.path()).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    let rec = NewAudit { who: format!("thread {t}"), ..NewAudit::default() };
                    s.audit(&rec, i).unwrap();
                    s.audit_page(None, 5).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(s.audit_page(None, 1).unwrap().1, 40);
}

#[test]
fn the_database_is_in_wal_mode_with_full_sync_and_foreign_keys() {
    let dir = TempDir::new("pragmas");
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.db_path(), dir.path().join(DB_FILE));
    for conn in [&s.writer().conn, &*s.reader()] {
        let q = |p: &str| -> String {
            conn.pragma_query_value(None, p, |r| r.get::<_, rusqlite::types::Value>(0))
                .map(|v| format!("{v:?}"))
                .unwrap()
        };
        assert_eq!(q("journal_mode"), "Text(\"wal\")");
        assert_eq!(q("synchronous"), "Integer(2)", "FULL");
        assert_eq!(q("foreign_keys"), "Integer(1)");
        assert_eq!(q("busy_timeout"), "Integer(5000)");
        assert_eq!(q("user_version"), format!("Integer({})", migrate::SCHEMA_VERSION));
    }
    assert!(s.reader().execute("DELETE FROM tokens", []).is_err(), "the reader is query-only");
}

#[test]
fn reopening_keeps_policies_audit_tokens_events_sites_and_history() {
    let dir = TempDir::new("reopen");
    let secret;
    {
        let s = Store::open(dir.path()).unwrap();
        s.store_policy("one", "a = 1\n", "test", 1).unwrap();
        s.store_policy("two", "b = 2\n", "test", 2).unwrap();
        s.set_current_policy(2).unwrap();
        s.audit(&NewAudit { action: "policy.apply".to_owned(), ..NewAudit::default() }, 3).unwrap();
        secret = s.create_token("ci", Scope::Operate, 4).unwrap().1;
        s.append_event(&Event::new(EventKind::AgentStarted, "hello"), 5).unwrap();
        s.upsert_site(&site_b(), 6).unwrap();
        s.set_site_removed("b", true, 7).unwrap();
        s.upsert_path("b|wan|203.0.113.9:51820", "b", "wan", "203.0.113.9:51820", 8).unwrap();
        let sample = SampleInput {
            path_key: "b|wan|203.0.113.9:51820".to_owned(),
            rtt_ms: Some(3.5),
            interval_s: 10,
            ..SampleInput::default()
        };
        s.record_samples(9, &[sample]).unwrap();
    }
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.policy_versions().unwrap().len(), 2);
    assert_eq!(s.current_policy().unwrap(), Some(2));
    assert_eq!(s.policy_text(1).unwrap(), "a = 1\n");
    let (audit, total) = s.audit_page(None, 10).unwrap();
    assert_eq!((total, audit[0].action.as_str(), audit[0].at_unix_ms), (1, "policy.apply", 3));
    let token = s.verify_token(&secret).unwrap().unwrap();
    assert_eq!((token.name.as_str(), token.scope), ("ci", Scope::Operate));
    assert_eq!(s.last_event_id().unwrap(), 1);
    assert_eq!(s.events_after(0, 10).unwrap()[0].message, "hello");
    assert_eq!(s.sites().unwrap(), vec![SiteRecord { removed: true, ..site_b() }]);
    assert_eq!(s.paths().unwrap()[0].uplink, "wan");
    let h = s.history("b|wan|203.0.113.9:51820", 0, 10).unwrap();
    assert_eq!((h.len(), h[0].rtt_ms, h[0].at_unix_ms), (1, Some(3.5), 9));
    // The series cache starts empty after a reopen and finds the old series.
    s.record_samples(
        19,
        &[SampleInput { path_key: "b|wan|203.0.113.9:51820".to_owned(), ..SampleInput::default() }],
    )
    .unwrap();
    assert_eq!(s.history("b|wan|203.0.113.9:51820", 0, 10).unwrap().len(), 2);
}

/// Writes an old file store as `PolicyStore` did.
fn write_file_store(dir: &Path) {
    let versions = dir.join("policy/versions");
    std::fs::create_dir_all(&versions).unwrap();
    for (v, name, text) in [(1, "first", "a = 1\n"), (2, "second", "b = 2\n")] {
        std::fs::write(versions.join(format!("{v:06}.toml")), text).unwrap();
        let meta = serde_json::json!({
            "version": v, "name": name, "stored_at": 1_700_000_000 + v,
            "by": "api 127.0.0.1:1", "fingerprint": policies::fingerprint(text),
        });
        std::fs::write(versions.join(format!("{v:06}.json")), meta.to_string()).unwrap();
    }
    // A torn store: text written, metadata not. The old store ignored it.
    std::fs::write(versions.join("000003.toml"), "torn").unwrap();
    std::fs::write(dir.join("policy/current"), "2\n").unwrap();
    let audit = [
        r#"{"time":1700000001,"who":"startup","action":"policy.apply","before":null,"after":1,"detail":"first"}"#,
        r#"{"time":1700000002,"who":"api","action":"policy.apply","before":1,"after":2,"detail":"second"}"#,
        r#"{"time":17000"#,
    ];
    std::fs::write(dir.join("audit.jsonl"), audit.join("\n")).unwrap();
}

#[test]
fn an_old_file_store_is_imported_once_when_the_database_is_created() {
    let dir = TempDir::new("import");
    write_file_store(dir.path());
    let s = Store::open(dir.path()).unwrap();
    let versions = s.policy_versions().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(
        versions[1],
        PolicyVersion {
            version: 2,
            name: "second".to_owned(),
            stored_unix_ms: 1_700_000_002_000,
            by: "api 127.0.0.1:1".to_owned(),
            fingerprint: policies::fingerprint("b = 2\n"),
        }
    );
    assert_eq!(s.policy_text(1).unwrap(), "a = 1\n");
    assert_eq!(s.current_policy().unwrap(), Some(2));
    let (audit, total) = s.audit_page(None, 10).unwrap();
    assert_eq!(total, 2, "the torn last line is skipped");
    assert_eq!(audit[1].before.as_deref(), Some("1"));
    assert_eq!(audit[1].after.as_deref(), Some("2"));
    assert_eq!((audit[1].target.as_str(), audit[1].at_unix_ms), ("policy", 1_700_000_002_000));
    // New versions continue the numbering.
    assert_eq!(s.store_policy("third", "c = 3\n", "test", 1).unwrap().version, 3);
    drop(s);
    // Reopening does not import again.
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.policy_versions().unwrap().len(), 3);
    assert_eq!(s.audit_page(None, 10).unwrap().1, 2);
}

#[test]
fn a_corrupt_file_store_fails_the_open_and_leaves_no_half_created_database() {
    let dir = TempDir::new("import-corrupt");
    write_file_store(dir.path());
    std::fs::write(dir.path().join("policy/current"), "7\n").unwrap();
    let e = Store::open(dir.path()).unwrap_err();
    assert!(format!("{e:#}").contains("names version 7"), "{e:#}");
    // Nothing committed: after a fix the import runs in full.
    std::fs::write(dir.path().join("policy/current"), "1\n").unwrap();
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.current_policy().unwrap(), Some(1));
    assert_eq!(s.policy_versions().unwrap().len(), 2);
}

#[test]
fn a_database_from_a_newer_agent_is_refused() {
    let dir = TempDir::new("newer");
    drop(Store::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.pragma_update(None, "user_version", migrate::SCHEMA_VERSION + 1).unwrap();
    drop(conn);
    let e = Store::open(dir.path()).unwrap_err();
    assert!(format!("{e:#}").contains("newer than this agent"), "{e:#}");
}

#[test]
fn two_hundred_synced_audit_appends_are_all_kept_in_order() {
    let dir = TempDir::new("time-audit");
    let s = Store::open(dir.path()).unwrap();
    let rec = NewAudit {
        who: "token:ci".to_owned(),
        action: "policy.apply".to_owned(),
        target: "policy".to_owned(),
        before: Some("1".to_owned()),
        after: Some("2".to_owned()),
        detail: "timing".to_owned(),
    };
    let start = Instant::now();
    for i in 0..200 {
        s.audit(&rec, i).unwrap();
    }
    let per = start.elapsed().as_secs_f64() * 1000.0 / 200.0;
    println!("audit: {per:.3} ms per call (each one commit with synchronous=FULL)");
    let (page, total) = s.audit_page(None, 1000).unwrap();
    assert_eq!(total, 200);
    assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), (1..=200).collect::<Vec<_>>());
}

#[test]
fn sixty_batches_of_a_thousand_samples_are_all_kept() {
    let dir = TempDir::new("time-samples");
    let s = Store::open(dir.path()).unwrap();
    let batch: Vec<SampleInput> = (0..1000)
        .map(|i| SampleInput {
            path_key: format!("site{}|wan{}|198.51.100.{}:51820", i / 4, i % 2, i % 250),
            rtt_ms: Some(10.0 + f64::from(i % 17)),
            jitter_ms: 0.5,
            loss_pct: 0.0,
            up: true,
            tx_bytes: 123_456,
            rx_bytes: 654_321,
            interval_s: 10,
        })
        .collect();
    let mut times = Vec::new();
    for round in 0..60 {
        let start = Instant::now();
        s.record_samples(1_700_000_000_000 + round * 10_000, &batch).unwrap();
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let rest = &times[1..];
    let mean = rest.iter().sum::<f64>() / rest.len() as f64;
    let max = rest.iter().copied().fold(0.0, f64::max);
    println!(
        "record_samples(1000 rows): first {:.1} ms (creates the series), then mean {mean:.1} ms, \
         max {max:.1} ms over {} calls",
        times[0],
        rest.len()
    );
    for key in [&batch[0].path_key, &batch[999].path_key] {
        assert_eq!(s.history(key, 0, 10_000).unwrap().len(), 60, "{key}");
    }
    let start = Instant::now();
    s.downsample(1_700_000_000_000 + 24 * 3600 * 1000 + 1_200_000).unwrap();
    println!("downsample of 60 000 rows: {:.1} ms", start.elapsed().as_secs_f64() * 1000.0);
    let rolled = s.history(&batch[0].path_key, 0, 10_000).unwrap();
    assert!((1..=3).contains(&rolled.len()), "600 s of samples in 5-minute rows: {rolled:?}");
    assert!(rolled.iter().all(|p| p.resolution_s == 300), "{rolled:?}");
}

#[test]
fn the_database_and_its_wal_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("perms");
    let s = Store::open(dir.path()).unwrap();
    s.audit(&NewAudit { who: "t".into(), ..NewAudit::default() }, 1).unwrap();
    for f in [DB_FILE, "weft.db-wal"] {
        let mode = std::fs::metadata(dir.path().join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
}
