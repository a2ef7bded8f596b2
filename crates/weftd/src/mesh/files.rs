//! A site's identity in the mesh, on disk under `STATE_DIR/mesh/`.
//!
//! | file            | holds                                              | who          |
//! |-----------------|----------------------------------------------------|--------------|
//! | `ca.key`        | the mesh CA's seed, `weft-ca-key1.<base64url>`     | CA holder    |
//! | `ca.pub`        | the pinned CA public key, `weft-ca1.<base64url>`   | every site   |
//! | `site.key`      | the site's Ed25519 seed, `weft-site-key1.<b64url>` | every site   |
//! | `site.cert`     | the current certificate, base64url of its encoding | every site   |
//! | `enroller.json` | the enroller's ledger ([`EnrollerState`])          | CA holder    |
//! | `generation`    | a decimal `u32`, bumped on every start             | every site   |
//! | `seeds`         | one `HOST:PORT` per line: where the site enrolled  | joined sites |
//!
//! The directory is 0700 and every file 0600. Every write is atomic: a
//! temporary file in the same directory, fsync, rename over the old one,
//! fsync the directory; a crash leaves the old file or the new one, never a
//! mix. Loads return `Ok(None)` when a file is absent; a file that is there
//! but unreadable or malformed is an error naming it and what is wrong (the
//! secret files' contents are never echoed). The secret files (`ca.key`,
//! `site.key`) are refused when group or others may read them.

use std::collections::BTreeMap;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use weft_mesh::identity::wire::{base64url_decode, base64url_encode};
use weft_mesh::identity::{
    CaPublicKey, EnrollerState, MeshCa, RevocationList, SiteCert, SiteKey, SiteRecord, TokenId,
};
use weft_types::SiteId;

/// The directory under the state directory.
pub const MESH_DIR: &str = "mesh";
/// Text prefix of `ca.key`.
pub const CA_KEY_PREFIX: &str = "weft-ca-key1.";
/// Text prefix of `ca.pub`.
pub const CA_PUB_PREFIX: &str = "weft-ca1.";
/// Text prefix of `site.key`.
pub const SITE_KEY_PREFIX: &str = "weft-site-key1.";

const CA_KEY: &str = "ca.key";
const CA_PUB: &str = "ca.pub";
const SITE_KEY: &str = "site.key";
const SITE_CERT: &str = "site.cert";
const ENROLLER: &str = "enroller.json";
const GENERATION: &str = "generation";
const SEEDS: &str = "seeds";

/// Largest file this module reads (a certificate is at most 4 KiB; the
/// enroller's ledger grows with sites and tokens).
const MAX_FILE: u64 = 64 << 20;

/// The mesh files of one state directory.
#[derive(Debug, Clone)]
pub struct MeshFiles {
    dir: PathBuf,
}

impl MeshFiles {
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
    fn path(&self, name: &str) -> PathBuf {
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

    /// The site's identity key, from `site.key`.
    pub fn load_site_key(&self) -> Result<Option<SiteKey>> {
        let Some(text) = self.read(SITE_KEY, true)? else { return Ok(None) };
        let seed = self.decode_fixed::<32>(SITE_KEY, &text, SITE_KEY_PREFIX, true)?;
        Ok(Some(SiteKey::from_seed(&seed)))
    }

    /// The site's identity key: the one in `site.key`, or a new one drawn
    /// from the operating system's randomness and saved there.
    pub fn load_or_create_site_key(&self) -> Result<SiteKey> {
        if let Some(k) = self.load_site_key()? {
            return Ok(k);
        }
        let seed = random_seed()?;
        self.write(SITE_KEY, format!("{SITE_KEY_PREFIX}{}\n", base64url_encode(&seed)).as_bytes())?;
        Ok(SiteKey::from_seed(&seed))
    }

    /// The current certificate, from `site.cert` (format only: the caller
    /// verifies it against the pinned CA and its clock).
    pub fn load_cert(&self) -> Result<Option<SiteCert>> {
        let Some(text) = self.read(SITE_CERT, false)? else { return Ok(None) };
        let bytes = base64url_decode(text.trim())
            .map_err(|e| self.corrupt(SITE_CERT, &format!("not base64url ({e})")))?;
        let cert = SiteCert::decode(&bytes)
            .map_err(|e| self.corrupt(SITE_CERT, &format!("not a site certificate ({e})")))?;
        Ok(Some(cert))
    }

    /// Writes `site.cert`.
    pub fn save_cert(&self, cert: &SiteCert) -> Result<()> {
        self.write(SITE_CERT, format!("{}\n", base64url_encode(&cert.encode())).as_bytes())
    }

    /// The enroller's ledger, from `enroller.json`.
    pub fn load_enroller(&self) -> Result<Option<EnrollerState>> {
        let Some(text) = self.read(ENROLLER, false)? else { return Ok(None) };
        let file: EnrollerFile = serde_json::from_str(&text)
            .map_err(|e| self.corrupt(ENROLLER, &format!("not an enroller state ({e})")))?;
        file.into_state().map(Some).map_err(|why| self.corrupt(ENROLLER, &why))
    }

    /// Writes `enroller.json`.
    pub fn save_enroller(&self, state: &EnrollerState) -> Result<()> {
        let mut text = serde_json::to_string_pretty(&EnrollerFile::from_state(state))
            .context("encoding the enroller state")?;
        text.push('\n');
        self.write(ENROLLER, text.as_bytes())
    }

    /// The generation saved by the last start, from `generation`.
    pub fn load_generation(&self) -> Result<Option<u32>> {
        let Some(text) = self.read(GENERATION, false)? else { return Ok(None) };
        let n = text.trim().parse::<u32>().map_err(|_| {
            self.corrupt(GENERATION, &format!("{:?} is not a decimal u32", text.trim()))
        })?;
        Ok(Some(n))
    }

    /// Bumps the generation (0 when absent, so the first start is 1), saves
    /// it and returns it. Call once per start, before gossiping.
    pub fn bump_generation(&self) -> Result<u32> {
        self.bump_generation_to(0)
    }

    /// Like [`MeshFiles::bump_generation`], but the new generation is at
    /// least `floor` (the agent passes the Unix time, so a wiped file or two
    /// starts in one second still give a higher generation than any before).
    pub fn bump_generation_to(&self, floor: u32) -> Result<u32> {
        let next = match self.load_generation()? {
            None => 1,
            Some(n) => n.checked_add(1).ok_or_else(|| {
                self.corrupt(GENERATION, "is at u32::MAX and cannot be bumped (remove the file)")
            })?,
        }
        .max(floor);
        self.write(GENERATION, format!("{next}\n").as_bytes())?;
        Ok(next)
    }

    /// The seeds the site enrolled with, from `seeds` (blank lines ignored).
    pub fn load_seeds(&self) -> Result<Option<Vec<String>>> {
        let Some(text) = self.read(SEEDS, false)? else { return Ok(None) };
        let mut seeds = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            check_seed(line)
                .map_err(|why| self.corrupt(SEEDS, &format!("line {}: {why}", i + 1)))?;
            seeds.push(line.to_owned());
        }
        Ok(Some(seeds))
    }

    /// Writes `seeds`, one `HOST:PORT` per line; refuses a malformed one.
    pub fn save_seeds(&self, seeds: &[String]) -> Result<()> {
        let mut text = String::new();
        for s in seeds {
            check_seed(s).map_err(|why| anyhow!("seed {s:?}: {why}"))?;
            text.push_str(s.trim());
            text.push('\n');
        }
        self.write(SEEDS, text.as_bytes())
    }

    /// Reads `name` as UTF-8 text; `None` when absent. With `secret`, a
    /// file group or others may read is refused.
    fn read(&self, name: &str, secret: bool) -> Result<Option<String>> {
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

    /// Decodes `PREFIX<base64url of N bytes>` (one line) from `name`.
    fn decode_fixed<const N: usize>(
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

    fn corrupt(&self, name: &str, why: &str) -> anyhow::Error {
        anyhow!("{} is corrupt: {why}", self.path(name).display())
    }

    /// Replaces `name` atomically with `bytes` (mode 0600).
    fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.dir, name, bytes)
            .with_context(|| format!("writing {}", self.path(name).display()))
    }
}

/// `enroller.json`: [`EnrollerState`] with the token ledger keyed by the
/// token ids in hex (JSON object keys must be strings; the ids are byte
/// arrays).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollerFile {
    next_serial: u64,
    token_uses: BTreeMap<String, u32>,
    sites: BTreeMap<SiteId, SiteRecord>,
    revocations: RevocationList,
}

impl EnrollerFile {
    fn from_state(s: &EnrollerState) -> Self {
        Self {
            next_serial: s.next_serial,
            token_uses: s.token_uses.iter().map(|(id, n)| (id.to_string(), *n)).collect(),
            sites: s.sites.clone(),
            revocations: s.revocations.clone(),
        }
    }

    fn into_state(self) -> Result<EnrollerState, String> {
        let mut token_uses = BTreeMap::new();
        for (hex, n) in self.token_uses {
            let id = parse_token_id(&hex)
                .ok_or_else(|| format!("token id {hex:?} is not 32 hex digits"))?;
            token_uses.insert(id, n);
        }
        Ok(EnrollerState {
            next_serial: self.next_serial,
            token_uses,
            sites: self.sites,
            revocations: self.revocations,
        })
    }
}

/// A token id from its 32 hex digits.
fn parse_token_id(hex: &str) -> Option<TokenId> {
    if hex.len() != 32 || !hex.is_ascii() {
        return None;
    }
    let mut id = [0u8; 16];
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(TokenId(id))
}

/// The `ca.pub` text of a CA key (also what operators may copy to pin it).
pub fn ca_public_text(ca: &CaPublicKey) -> String {
    format!("{CA_PUB_PREFIX}{}\n", base64url_encode(&ca.0))
}

/// Creates a new mesh CA in `state_dir` for `weft ca init`: a random seed
/// in `mesh/ca.key` and its public key in `mesh/ca.pub`. Refuses to replace
/// an existing `ca.key` (that would orphan every site the CA enrolled).
pub fn init_ca(state_dir: &Path) -> Result<CaPublicKey> {
    let files = MeshFiles::open(state_dir)?;
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
fn random_seed() -> Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| anyhow!("the operating system refused randomness for a key: {e}"))?;
    Ok(seed)
}

/// Checks a `HOST:PORT` seed.
fn check_seed(s: &str) -> Result<(), String> {
    let s = s.trim();
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!("{s:?} is not HOST:PORT"));
    };
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{s:?} has no valid host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok(()),
        _ => Err(format!("{s:?} has no valid port (1..=65535)")),
    }
}

/// Writes `dir/name` through a temporary file in `dir`: write, fsync,
/// rename, fsync the directory. The file is 0600 whatever the umask.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
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
