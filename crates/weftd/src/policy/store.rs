//! Durable policy versions and the audit log, in the agent's state directory.
//!
//! ```text
//! STATE_DIR/policy/versions/000007.toml   the exact text of version 7
//! STATE_DIR/policy/versions/000007.json   its metadata (name, when, by whom)
//! STATE_DIR/policy/current                "7": the version running
//! STATE_DIR/audit.jsonl                   one JSON record per apply, rollback or refusal
//! ```
//!
//! Every write goes to a temporary file that is synced and renamed into place
//! (and the directory synced), so a crash at any moment leaves either the old
//! or the new state, never a torn one. A version is written before `current`
//! points at it; the audit record is appended and synced before the API
//! answers. (The `SQLite` store of the operator-surfaces issue will take these
//! over; the layout is small on purpose.)

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// Metadata of one stored policy version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionMeta {
    /// Version number, from 1.
    pub version: u64,
    /// The policy's `[policy] name`.
    pub name: String,
    /// Unix seconds when it was stored.
    pub stored_at: u64,
    /// Who stored it (`api 127.0.0.1:51234`, `startup policy.toml`).
    pub by: String,
    /// SHA-free content fingerprint (length and FNV-1a of the text), to spot re-applies.
    pub fingerprint: String,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Unix seconds.
    pub time: u64,
    /// Who (`api 127.0.0.1:51234`).
    pub who: String,
    /// `policy.apply`, `policy.rollback`, `policy.refused`.
    pub action: String,
    /// Version running before.
    pub before: Option<u64>,
    /// Version running after.
    pub after: Option<u64>,
    /// Human detail: why refused, what changed.
    pub detail: String,
}

/// The policy store of one agent.
#[derive(Debug)]
pub struct PolicyStore {
    root: PathBuf,
}

impl PolicyStore {
    /// Opens (creating) the store under `state_dir`.
    pub fn open(state_dir: &Path) -> Result<Self> {
        let root = state_dir.to_owned();
        fs::create_dir_all(root.join("policy/versions"))
            .with_context(|| format!("creating the state directory {}", root.display()))?;
        Ok(Self { root })
    }

    fn versions_dir(&self) -> PathBuf {
        self.root.join("policy/versions")
    }

    /// The running version, if any.
    pub fn current(&self) -> Result<Option<u64>> {
        let path = self.root.join("policy/current");
        match fs::read_to_string(&path) {
            Ok(s) => Ok(Some(
                s.trim().parse().with_context(|| format!("{} is corrupt", path.display()))?,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// The text of a version.
    pub fn text(&self, version: u64) -> Result<String> {
        let path = self.versions_dir().join(format!("{version:06}.toml"));
        fs::read_to_string(&path).with_context(|| format!("reading policy version {version}"))
    }

    /// Every stored version, oldest first.
    pub fn versions(&self) -> Result<Vec<VersionMeta>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(self.versions_dir())? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = fs::read_to_string(&path)?;
                out.push(
                    serde_json::from_str(&text)
                        .with_context(|| format!("{} is corrupt", path.display()))?,
                );
            }
        }
        out.sort_by_key(|m: &VersionMeta| m.version);
        Ok(out)
    }

    /// Stores `text` as a new version (not yet current) and returns its metadata.
    pub fn store(&self, name: &str, text: &str, by: &str) -> Result<VersionMeta> {
        let version = self.versions()?.last().map_or(1, |m| m.version + 1);
        let meta = VersionMeta {
            version,
            name: name.to_owned(),
            stored_at: unix_now(),
            by: by.to_owned(),
            fingerprint: fingerprint(text),
        };
        let dir = self.versions_dir();
        write_atomic(&dir.join(format!("{version:06}.toml")), text.as_bytes())?;
        write_atomic(
            &dir.join(format!("{version:06}.json")),
            serde_json::to_string_pretty(&meta)?.as_bytes(),
        )?;
        Ok(meta)
    }

    /// Makes `version` the running one.
    pub fn set_current(&self, version: u64) -> Result<()> {
        if !self.versions_dir().join(format!("{version:06}.toml")).exists() {
            bail!("policy version {version} does not exist");
        }
        write_atomic(&self.root.join("policy/current"), format!("{version}\n").as_bytes())
    }

    /// Appends one audit record and syncs it to disk.
    pub fn audit(
        &self,
        who: &str,
        action: &str,
        before: Option<u64>,
        after: Option<u64>,
        detail: &str,
    ) -> Result<()> {
        let record = AuditRecord {
            time: unix_now(),
            who: who.to_owned(),
            action: action.to_owned(),
            before,
            after,
            detail: detail.to_owned(),
        };
        let path = self.root.join("audit.jsonl");
        let mut f = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // A crash mid-append leaves a torn last line: end it, so this record stands alone.
        let torn = f.metadata()?.len() > 0 && {
            use std::io::{Read, Seek, SeekFrom};
            let mut last = [0u8; 1];
            f.seek(SeekFrom::End(-1))?;
            f.read_exact(&mut last)?;
            last[0] != b'\n'
        };
        let mut line = if torn { String::from("\n") } else { String::new() };
        line.push_str(&serde_json::to_string(&record)?);
        line.push('\n');
        f.write_all(line.as_bytes())?;
        f.sync_data()?;
        Ok(())
    }

    /// Every audit record, oldest first (a torn last line is skipped).
    pub fn audit_log(&self) -> Result<Vec<AuditRecord>> {
        let path = self.root.join("audit.jsonl");
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Length and 64-bit FNV-1a of the text.
pub(crate) fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{}-{h:016x}", text.len())
}

/// Writes `data` to `path` so that a crash leaves the old or the new content.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().context("path has no directory")?;
    let tmp =
        dir.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("x")));
    {
        let mut f = File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("weftd-store-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn versions_are_numbered_stored_and_made_current() {
        let dir = temp_dir("versions");
        let s = PolicyStore::open(&dir).unwrap();
        assert_eq!(s.current().unwrap(), None);
        let a = s.store("one", "a = 1\n", "test").unwrap();
        let b = s.store("two", "b = 2\n", "test").unwrap();
        assert_eq!((a.version, b.version), (1, 2));
        s.set_current(2).unwrap();
        let reopened = PolicyStore::open(&dir).unwrap();
        assert_eq!(reopened.current().unwrap(), Some(2));
        assert_eq!(reopened.text(1).unwrap(), "a = 1\n");
        assert_eq!(reopened.versions().unwrap().len(), 2);
        assert!(reopened.set_current(9).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_audit_log_keeps_every_record_and_skips_a_torn_tail() {
        let dir = temp_dir("audit");
        let s = PolicyStore::open(&dir).unwrap();
        s.audit("me", "policy.apply", None, Some(1), "first").unwrap();
        s.audit("me", "policy.refused", Some(1), Some(1), "tests failed").unwrap();
        let mut f = OpenOptions::new().append(true).open(dir.join("audit.jsonl")).unwrap();
        f.write_all(b"{\"time\":1,\"wh").unwrap();
        drop(f);
        s.audit("me", "policy.rollback", Some(1), Some(1), "after a crash").unwrap();
        let log = s.audit_log().unwrap();
        assert_eq!(log.len(), 3);
        assert_eq!(log[1].action, "policy.refused");
        assert_eq!(log[2].action, "policy.rollback");
        fs::remove_dir_all(&dir).unwrap();
    }
}
