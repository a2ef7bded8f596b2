//! A site's zero-trust identity material on disk (`[zerotrust] dir`,
//! default `STATE_DIR/zt`):
//!
//! | file                | holds                                                  |
//! |---------------------|--------------------------------------------------------|
//! | `root.der`          | the mesh's X.509 root (the trust bundle)               |
//! | `root.prev.der`     | the previous root, trusted too while a CA rotates      |
//! | `intermediate.der`  | the intermediate certificate that signs SVIDs          |
//! | `intermediate.key`  | its Ed25519 seed, base64url (0600)                      |
//! | `intermediate.json` | its serial and validity (to rebuild it for signing)    |
//! | `revoked`           | revoked SPIFFE IDs, one per line                       |
//!
//! [`init`] makes them from the mesh CA's seed (`weft identity init` on the
//! CA holder); [`rotate_intermediate`] replaces the intermediate (agents
//! pick it up within a second and reissue every SVID under it). Every write
//! is atomic (`weft_layout::mesh::write_atomic`).

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use weft_identity::{Intermediate, Root, SpiffeId, TrustDomain, Validity};
use weft_layout::mesh::{random_seed, write_atomic};
use weft_mesh::identity::wire::{base64url_decode, base64url_encode};

/// The trust bundle.
pub const ROOT: &str = "root.der";
/// The previous root during a CA rotation.
pub const PREV_ROOT: &str = "root.prev.der";
/// The intermediate certificate.
pub const INTERMEDIATE: &str = "intermediate.der";
/// The intermediate's key seed.
pub const INTERMEDIATE_KEY: &str = "intermediate.key";
/// The intermediate's serial and validity.
pub const INTERMEDIATE_META: &str = "intermediate.json";
/// Revoked identities.
pub const REVOKED: &str = "revoked";

/// Lifetime of the root.
const ROOT_SECS: u64 = 10 * 365 * 86_400;
/// Lifetime of an intermediate.
pub const INTERMEDIATE_SECS: u64 = 30 * 86_400;

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    serial: u64,
    not_before: u64,
    not_after: u64,
}

/// A random serial number (positive, non-zero).
pub fn random_serial() -> Result<u64> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("drawing a serial number: {e}"))?;
    Ok(u64::from_be_bytes(b) >> 1 | 1)
}

fn write_intermediate(dir: &Path, root: &Root, td: &TrustDomain, now: u64) -> Result<()> {
    let seed = random_seed()?;
    let serial = random_serial()?;
    let v = Validity::starting(now, INTERMEDIATE_SECS);
    let inter = root.intermediate(&seed, td, serial, v)?;
    let meta = Meta { serial, not_before: v.not_before, not_after: v.not_after };
    write_atomic(dir, INTERMEDIATE_KEY, base64url_encode(&seed).as_bytes())?;
    std::fs::set_permissions(
        dir.join(INTERMEDIATE_KEY),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )?;
    write_atomic(dir, INTERMEDIATE_META, serde_json::to_string(&meta)?.as_bytes())?;
    // The certificate last: agents reload when it changes.
    write_atomic(dir, INTERMEDIATE, inter.der())?;
    Ok(())
}

fn root_from(ca_seed: &[u8; 32], td: &TrustDomain, now: u64) -> Result<Root> {
    Ok(Root::new(ca_seed, td, 1, Validity::starting(now, ROOT_SECS))?)
}

/// Makes `dir` with a root from the mesh CA's seed and a first intermediate.
pub fn init(dir: &Path, ca_seed: &[u8; 32], td: &TrustDomain, now: u64) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let root = root_from(ca_seed, td, now)?;
    write_atomic(dir, ROOT, root.der())?;
    write_intermediate(dir, &root, td, now)
}

/// Replaces the intermediate of `dir` with a new one under the same root.
pub fn rotate_intermediate(
    dir: &Path,
    ca_seed: &[u8; 32],
    td: &TrustDomain,
    now: u64,
) -> Result<()> {
    if !dir.join(ROOT).exists() {
        bail!("{} has no {ROOT}: run `weft identity init` first", dir.display());
    }
    write_intermediate(dir, &root_from(ca_seed, td, now)?, td, now)
}

/// The trust bundle of `dir`: the root, and the previous one when present.
pub fn bundle(dir: &Path) -> Result<Vec<Vec<u8>>> {
    let root = std::fs::read(dir.join(ROOT))
        .with_context(|| format!("reading {}", dir.join(ROOT).display()))?;
    let mut out = vec![root];
    if let Ok(prev) = std::fs::read(dir.join(PREV_ROOT)) {
        out.push(prev);
    }
    Ok(out)
}

/// The intermediate of `dir`, ready to issue.
pub fn intermediate(dir: &Path, td: &TrustDomain) -> Result<Intermediate> {
    let der = std::fs::read(dir.join(INTERMEDIATE))
        .with_context(|| format!("reading {}", dir.join(INTERMEDIATE).display()))?;
    let key_path = dir.join(INTERMEDIATE_KEY);
    let text = std::fs::read_to_string(&key_path)
        .with_context(|| format!("reading {}", key_path.display()))?;
    let seed: [u8; 32] = base64url_decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .with_context(|| format!("{}: not a base64url 32-byte seed", key_path.display()))?;
    let meta_path = dir.join(INTERMEDIATE_META);
    let meta: Meta = serde_json::from_str(
        &std::fs::read_to_string(&meta_path)
            .with_context(|| format!("reading {}", meta_path.display()))?,
    )
    .with_context(|| format!("{}: malformed", meta_path.display()))?;
    let v = Validity { not_before: meta.not_before, not_after: meta.not_after };
    Ok(Intermediate::restore(der, &seed, td, meta.serial, v)?)
}

/// The revoked identities of `dir` (none when the file is absent).
pub fn revoked(dir: &Path) -> Result<Vec<SpiffeId>> {
    let Ok(text) = std::fs::read_to_string(dir.join(REVOKED)) else { return Ok(Vec::new()) };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            SpiffeId::parse(l.trim()).with_context(|| {
                format!("{}:{}: not a SPIFFE ID", dir.join(REVOKED).display(), i + 1)
            })
        })
        .collect()
}

/// Records `ids` as the revoked identities of `dir`.
pub fn write_revoked(dir: &Path, ids: &[SpiffeId]) -> Result<()> {
    let text: String = ids.iter().flat_map(|id| [id.to_string(), "\n".to_owned()]).collect();
    Ok(write_atomic(dir, REVOKED, text.as_bytes())?)
}
