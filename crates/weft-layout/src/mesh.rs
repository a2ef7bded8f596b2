//! A site's identity in the mesh, on disk under `STATE_DIR/mesh/`.
//!
//! | file            | holds                                              | who          |
//! |-----------------|----------------------------------------------------|--------------|
//! | `ca.key`        | the mesh CA's seed, `weft-ca-key1.<base64url>`     | CA holder    |
//! | `ca.pub`        | the pinned CA public key, `weft-ca1.<base64url>`   | every site   |
//! | `site.key`      | the site's Ed25519 seed, `weft-site-key1.<b64url>` | every site   |
//! | `site.cert`     | the current certificate, base64url of its encoding | every site   |
//! | `enroller.json` | the enroller's ledger                              | CA holder    |
//! | `generation`    | a decimal `u32`, bumped on every start             | every site   |
//! | `seeds`         | one `HOST:PORT` per line: where the site enrolled  | joined sites |
//!
//! This module names every file and reads and writes the CA's (`ca.key`,
//! `ca.pub`: [`init_ca`] for `weft ca init`, [`MeshDir::load_ca`] for the
//! agent); the agent keeps the others through [`MeshDir`]'s
//! [`read`](MeshDir::read) and [`write`](MeshDir::write).
//!
//! The directory is 0700 and every file 0600. Every write is atomic: a
//! temporary file in the same directory, fsync, rename over the old one,
//! fsync the directory; a crash leaves the old file or the new one, never a
//! mix. Loads return `Ok(None)` when a file is absent; a file that is there
//! but unreadable or malformed is an error naming it and what is wrong (the
//! secret files' contents are never echoed). The secret files (`ca.key`,
//! `site.key`) are refused when group or others may read them.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use weft_mesh::identity::wire::{base64url_decode, base64url_encode};
use weft_mesh::identity::{CaPublicKey, MeshCa};

/// The directory under the state directory.
pub const MESH_DIR: &str = "mesh";
/// Text prefix of `ca.key`.
pub const CA_KEY_PREFIX: &str = "weft-ca-key1.";
/// Text prefix of `ca.pub`.
pub const CA_PUB_PREFIX: &str = "weft-ca1.";
/// Text prefix of `site.key`.
pub const SITE_KEY_PREFIX: &str = "weft-site-key1.";

/// The mesh CA's seed (secret; on the CA holder only).
pub const CA_KEY: &str = "ca.key";
/// The pinned CA public key.
pub const CA_PUB: &str = "ca.pub";
/// The site's identity seed (secret).
pub const SITE_KEY: &str = "site.key";
/// The site's current certificate.
pub const SITE_CERT: &str = "site.cert";
/// The enroller's ledger (on the CA holder only).
pub const ENROLLER: &str = "enroller.json";
/// The generation of the last start.
pub const GENERATION: &str = "generation";
/// Where the site enrolled (joined sites only).
pub const SEEDS: &str = "seeds";

/// Largest file [`MeshDir::read`] reads (a certificate is at most 4 KiB; the
/// enroller's ledger grows with sites and tokens).
const MAX_FILE: u64 = 64 << 20;

/// The mesh directory of one state directory.
#[derive(Debug, Clone)]
pub struct MeshDir {
    dir: PathBuf,
}

impl MeshDir {
    /// Opens `STATE_DIR/mesh`, creating it (and the state directory) with
    /// mode 0700 when missing, and restricting it to 0700 when it exists.
    pub fn open(state_dir: &Path) -> Result<Self> {
        let dir = state_dir.join(MESH_DIR);
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("creating the mesh directory {}", dir.display()))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {} to its owner", dir.display()))?;
        Ok(Self { dir })
    }

    /// The directory (`STATE_DIR/mesh`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of one of the files.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The mesh CA, from `ca.key`. When `ca.pub` is there too it must name
    /// the same key (a mismatch is an error, not a silent re-pin).
    pub fn load_ca(&self) -> Result<Option<MeshCa>> {
        let Some(text) = self.read(CA_KEY, true)? else { return Ok(None) };
        let seed = self.decode_fixed::<32>(CA_KEY, &text, CA_KEY_PREFIX, true)?;
        let ca = MeshCa::from_seed(&seed);
        if let Some(pinned) = self.load_ca_public()?
            && pinned != ca.public()
        {
            bail!(
                "{}: the CA key is {} but {} pins CA {}; one of them was replaced",
                self.path(CA_KEY).display(),
                ca.public().fingerprint(),
                CA_PUB,
                pinned.fingerprint()
            );
        }
        Ok(Some(ca))
    }

    /// Writes `ca.key` (the CA's seed).
    pub fn save_ca_key(&self, seed: &[u8; 32]) -> Result<()> {
        self.write(CA_KEY, format!("{CA_KEY_PREFIX}{}\n", base64url_encode(seed)).as_bytes())
    }

    /// The pinned CA public key, from `ca.pub`.
    pub fn load_ca_public(&self) -> Result<Option<CaPublicKey>> {
        let Some(text) = self.read(CA_PUB, false)? else { return Ok(None) };
        Ok(Some(CaPublicKey(self.decode_fixed::<32>(CA_PUB, &text, CA_PUB_PREFIX, false)?)))
    }

    /// Writes `ca.pub` (pins the CA).
    pub fn save_ca_public(&self, ca: &CaPublicKey) -> Result<()> {
        self.write(CA_PUB, ca_public_text(ca).as_bytes())
    }

    /// Reads `name` as UTF-8 text; `None` when absent. With `secret`, a
    /// file group or others may read is refused.
    pub fn read(&self, name: &str, secret: bool) -> Result<Option<String>> {
        let path = self.path(name);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let meta = file.metadata().with_context(|| format!("reading {}", path.display()))?;
        if !meta.is_file() {
            return Err(self.corrupt(name, "is not a regular file"));
        }
        if secret && meta.mode() & 0o077 != 0 {
            bail!(
                "{} holds a secret but has mode {:04o}; restrict it with `chmod 600 {}`",
                path.display(),
                meta.mode() & 0o7777,
                path.display()
            );
        }
        if meta.len() > MAX_FILE {
            return Err(self.corrupt(name, &format!("is {} bytes long", meta.len())));
        }
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        String::from_utf8(bytes).map(Some).map_err(|_| self.corrupt(name, "is not UTF-8 text"))
    }

    /// Decodes `PREFIX<base64url of N bytes>` (one line) from `name`. With
    /// `secret`, an error never quotes the text.
    pub fn decode_fixed<const N: usize>(
        &self,
        name: &str,
        text: &str,
        prefix: &str,
        secret: bool,
    ) -> Result<[u8; N]> {
        let expected = format!("expected one line `{prefix}<base64url of {N} bytes>`");
        let t = text.trim();
        let Some(rest) = t.strip_prefix(prefix) else {
            let found = if secret { String::new() } else { format!(", found {t:.40?}") };
            return Err(self.corrupt(name, &format!("{expected}{found}")));
        };
        let bytes = base64url_decode(rest)
            .map_err(|e| self.corrupt(name, &format!("{expected}: not base64url ({e})")))?;
        <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| {
            self.corrupt(name, &format!("{expected}: the key is {} bytes long", bytes.len()))
        })
    }

    /// The error for a malformed `name`: `PATH is corrupt: WHY`.
    pub fn corrupt(&self, name: &str, why: &str) -> anyhow::Error {
        anyhow!("{} is corrupt: {why}", self.path(name).display())
    }

    /// Replaces `name` atomically with `bytes` (mode 0600).
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.dir, name, bytes)
            .with_context(|| format!("writing {}", self.path(name).display()))
    }
}

/// The `ca.pub` text of a CA key (also what operators may copy to pin it).
pub fn ca_public_text(ca: &CaPublicKey) -> String {
    format!("{CA_PUB_PREFIX}{}\n", base64url_encode(&ca.0))
}

/// Creates a new mesh CA in `state_dir` for `weft ca init`: a random seed
/// in `mesh/ca.key` and its public key in `mesh/ca.pub`. Refuses to replace
/// an existing `ca.key` (that would orphan every site the CA enrolled).
pub fn init_ca(state_dir: &Path) -> Result<CaPublicKey> {
    let files = MeshDir::open(state_dir)?;
    let key = files.path(CA_KEY);
    if fs::symlink_metadata(&key).is_ok() {
        bail!(
            "{} already exists: this state directory holds a mesh CA already \
             (replacing it would cut off every site it enrolled; move it away first \
             if you really mean to start a new mesh)",
            key.display()
        );
    }
    let seed = random_seed()?;
    let ca = MeshCa::from_seed(&seed);
    files.save_ca_key(&seed)?;
    files.save_ca_public(&ca.public())?;
    Ok(ca.public())
}

/// 32 bytes from the operating system's CSPRNG.
pub fn random_seed() -> Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| anyhow!("the operating system refused randomness for a key: {e}"))?;
    Ok(seed)
}

/// Writes `dir/name` through a temporary file in `dir`: write, fsync,
/// rename, fsync the directory. The file is 0600 whatever the umask.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    // A leftover from a crash; only this process writes these files.
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, dir.join(name))?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests;
