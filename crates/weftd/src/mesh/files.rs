//! A site's identity in the mesh, on disk under `STATE_DIR/mesh/`.
//!
//! The layout (file names, text formats, modes, atomic writes) and the CA
//! files (`ca.key`, `ca.pub`, [`init_ca`]) are in [`weft_layout::mesh`],
//! shared with the CLI (`weft ca init`). This module adds the agent's own
//! files:
//!
//! | file            | holds                                              | who          |
//! |-----------------|----------------------------------------------------|--------------|
//! | `site.key`      | the site's Ed25519 seed, `weft-site-key1.<b64url>` | every site   |
//! | `site.cert`     | the current certificate, base64url of its encoding | every site   |
//! | `enroller.json` | the enroller's ledger ([`EnrollerState`])          | CA holder    |
//! | `generation`    | a decimal `u32`, bumped on every start             | every site   |
//! | `seeds`         | one `HOST:PORT` per line: where the site enrolled  | joined sites |
//!
//! Loads return `Ok(None)` when a file is absent; a file that is there but
//! unreadable or malformed is an error naming it and what is wrong (the
//! secret `site.key` is never echoed, and refused when group or others may
//! read it).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};
pub use weft_layout::mesh::{
    CA_KEY_PREFIX, CA_PUB_PREFIX, MESH_DIR, SITE_KEY_PREFIX, ca_public_text, init_ca,
};
use weft_layout::mesh::{ENROLLER, GENERATION, MeshDir, SEEDS, SITE_CERT, SITE_KEY, random_seed};
use weft_mesh::identity::wire::{base64url_decode, base64url_encode};
use weft_mesh::identity::{
    CaPublicKey, EnrollerState, MeshCa, RevocationList, SiteCert, SiteKey, SiteRecord, TokenId,
};
use weft_types::SiteId;

/// The mesh files of one state directory.
#[derive(Debug, Clone)]
pub struct MeshFiles {
    dir: MeshDir,
}

impl MeshFiles {
    /// Opens `STATE_DIR/mesh`, creating it (and the state directory) with
    /// mode 0700 when missing, and restricting it to 0700 when it exists.
    pub fn open(state_dir: &Path) -> Result<Self> {
        Ok(Self { dir: MeshDir::open(state_dir)? })
    }

    /// The directory (`STATE_DIR/mesh`).
    pub fn dir(&self) -> &Path {
        self.dir.dir()
    }

    /// The mesh CA, from `ca.key`. When `ca.pub` is there too it must name
    /// the same key (a mismatch is an error, not a silent re-pin).
    pub fn load_ca(&self) -> Result<Option<MeshCa>> {
        self.dir.load_ca()
    }

    /// Writes `ca.key` (the CA's seed).
    pub fn save_ca_key(&self, seed: &[u8; 32]) -> Result<()> {
        self.dir.save_ca_key(seed)
    }

    /// The pinned CA public key, from `ca.pub`.
    pub fn load_ca_public(&self) -> Result<Option<CaPublicKey>> {
        self.dir.load_ca_public()
    }

    /// Writes `ca.pub` (pins the CA).
    pub fn save_ca_public(&self, ca: &CaPublicKey) -> Result<()> {
        self.dir.save_ca_public(ca)
    }

    /// The site's identity key, from `site.key`.
    pub fn load_site_key(&self) -> Result<Option<SiteKey>> {
        let Some(text) = self.dir.read(SITE_KEY, true)? else { return Ok(None) };
        let seed = self.dir.decode_fixed::<32>(SITE_KEY, &text, SITE_KEY_PREFIX, true)?;
        Ok(Some(SiteKey::from_seed(&seed)))
    }

    /// The site's identity key: the one in `site.key`, or a new one drawn
    /// from the operating system's randomness and saved there.
    pub fn load_or_create_site_key(&self) -> Result<SiteKey> {
        if let Some(k) = self.load_site_key()? {
            return Ok(k);
        }
        let seed = random_seed()?;
        self.dir.write(
            SITE_KEY,
            format!("{SITE_KEY_PREFIX}{}\n", base64url_encode(&seed)).as_bytes(),
        )?;
        Ok(SiteKey::from_seed(&seed))
    }

    /// The current certificate, from `site.cert` (format only: the caller
    /// verifies it against the pinned CA and its clock).
    pub fn load_cert(&self) -> Result<Option<SiteCert>> {
        let Some(text) = self.dir.read(SITE_CERT, false)? else { return Ok(None) };
        let bytes = base64url_decode(text.trim())
            .map_err(|e| self.dir.corrupt(SITE_CERT, &format!("not base64url ({e})")))?;
        let cert = SiteCert::decode(&bytes)
            .map_err(|e| self.dir.corrupt(SITE_CERT, &format!("not a site certificate ({e})")))?;
        Ok(Some(cert))
    }

    /// Writes `site.cert`.
    pub fn save_cert(&self, cert: &SiteCert) -> Result<()> {
        self.dir.write(SITE_CERT, format!("{}\n", base64url_encode(&cert.encode())).as_bytes())
    }

    /// The enroller's ledger, from `enroller.json`.
    pub fn load_enroller(&self) -> Result<Option<EnrollerState>> {
        let Some(text) = self.dir.read(ENROLLER, false)? else { return Ok(None) };
        let file: EnrollerFile = serde_json::from_str(&text)
            .map_err(|e| self.dir.corrupt(ENROLLER, &format!("not an enroller state ({e})")))?;
        file.into_state().map(Some).map_err(|why| self.dir.corrupt(ENROLLER, &why))
    }

    /// Writes `enroller.json`.
    pub fn save_enroller(&self, state: &EnrollerState) -> Result<()> {
        let mut text = serde_json::to_string_pretty(&EnrollerFile::from_state(state))
            .context("encoding the enroller state")?;
        text.push('\n');
        self.dir.write(ENROLLER, text.as_bytes())
    }

    /// The generation saved by the last start, from `generation`.
    pub fn load_generation(&self) -> Result<Option<u32>> {
        let Some(text) = self.dir.read(GENERATION, false)? else { return Ok(None) };
        let n = text.trim().parse::<u32>().map_err(|_| {
            self.dir.corrupt(GENERATION, &format!("{:?} is not a decimal u32", text.trim()))
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
                self.dir
                    .corrupt(GENERATION, "is at u32::MAX and cannot be bumped (remove the file)")
            })?,
        }
        .max(floor);
        self.dir.write(GENERATION, format!("{next}\n").as_bytes())?;
        Ok(next)
    }

    /// The seeds the site enrolled with, from `seeds` (blank lines ignored).
    pub fn load_seeds(&self) -> Result<Option<Vec<String>>> {
        let Some(text) = self.dir.read(SEEDS, false)? else { return Ok(None) };
        let mut seeds = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            check_seed(line)
                .map_err(|why| self.dir.corrupt(SEEDS, &format!("line {}: {why}", i + 1)))?;
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
        self.dir.write(SEEDS, text.as_bytes())
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

/// The ledger as `enroller.json` writes it (the control plane keeps the
/// same text in its store).
pub(crate) fn enroller_json(state: &EnrollerState) -> Result<String> {
    serde_json::to_string(&EnrollerFile::from_state(state)).context("encoding the enroller state")
}

/// The ledger from the text [`enroller_json`] writes.
pub(crate) fn enroller_from_json(text: &str) -> Result<EnrollerState, String> {
    let file: EnrollerFile =
        serde_json::from_str(text).map_err(|e| format!("not an enroller state ({e})"))?;
    file.into_state()
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

#[cfg(test)]
mod tests;
