//! A site's zero-trust identity material on disk (`[zerotrust] dir`,
//! default `STATE_DIR/zt`):
//!
//! | file                | holds                                                  |
//! |---------------------|--------------------------------------------------------|
//! | `root.der`          | the mesh's X.509 root (the trust bundle)               |
//! | `root.prev.der`     | the previous root, trusted too while a CA rotates      |
//! | `intermediate.der`  | the intermediate certificate that signs SVIDs          |
//! | `intermediate.key`  | its Ed25519 seed, base64url (0600)                      |
//! | `intermediate.meta` | its serial and validity, `key=value` lines             |
//! | `revoked`           | revoked SPIFFE IDs, one per line                       |
//!
//! [`init`] makes them from the mesh CA's seed (`weft identity init` on the
//! CA holder); [`rotate_intermediate`] replaces the intermediate (agents
//! pick it up within a second and reissue every SVID under it). Every write
//! is atomic (`weft_layout::mesh::write_atomic`).

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use weft_identity::{Intermediate, Root, SpiffeId, Svid, TrustDomain, Validity};
use weft_mesh::identity::wire::{base64url_decode, base64url_encode};

use crate::mesh::{CA_KEY, CA_KEY_PREFIX, MeshDir, random_seed, write_atomic};

/// The trust bundle.
pub const ROOT: &str = "root.der";
/// The previous root during a CA rotation.
pub const PREV_ROOT: &str = "root.prev.der";
/// The intermediate certificate.
pub const INTERMEDIATE: &str = "intermediate.der";
/// The intermediate's key seed.
pub const INTERMEDIATE_KEY: &str = "intermediate.key";
/// The intermediate's serial and validity.
pub const INTERMEDIATE_META: &str = "intermediate.meta";
/// The directory's name under the state directory (`[zerotrust] dir` default).
pub const ZT_DIR: &str = "zt";
/// Revoked identities.
pub const REVOKED: &str = "revoked";

/// Lifetime of the root.
pub const ROOT_SECS: u64 = 10 * 365 * 86_400;
/// Lifetime of an intermediate.
pub const INTERMEDIATE_SECS: u64 = 30 * 86_400;

/// `serial=N`, `not_before=T`, `not_after=T` lines.
fn meta_text(serial: u64, v: Validity) -> String {
    format!("serial={serial}\nnot_before={}\nnot_after={}\n", v.not_before, v.not_after)
}

fn parse_meta(path: &Path, text: &str) -> Result<(u64, Validity)> {
    let field = |key: &str| -> Result<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| anyhow!("{}: no `{key}=NUMBER` line", path.display()))
    };
    Ok((
        field("serial")?,
        Validity { not_before: field("not_before")?, not_after: field("not_after")? },
    ))
}

/// The mesh CA's seed from `STATE_DIR/mesh/ca.key` (on the CA holder).
pub fn ca_seed(state_dir: &Path) -> Result<[u8; 32]> {
    let mesh = MeshDir::open(state_dir)?;
    let text = mesh.read(CA_KEY, true)?.with_context(|| {
        format!("{} has no mesh CA (`weft ca init` makes one)", mesh.path(CA_KEY).display())
    })?;
    mesh.decode_fixed::<32>(CA_KEY, &text, CA_KEY_PREFIX, true)
}

/// A random serial number (positive, non-zero).
pub fn random_serial() -> Result<u64> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| anyhow!("drawing a serial number: {e}"))?;
    Ok(u64::from_be_bytes(b) >> 1 | 1)
}

fn write_intermediate(dir: &Path, root: &Root, td: &TrustDomain, now: u64) -> Result<()> {
    let seed = random_seed()?;
    let serial = random_serial()?;
    let v = Validity::starting(now, INTERMEDIATE_SECS);
    let inter = root.intermediate(&seed, td, serial, v)?;
    write_atomic(dir, INTERMEDIATE_KEY, base64url_encode(&seed).as_bytes())?;
    write_atomic(dir, INTERMEDIATE_META, meta_text(serial, v).as_bytes())?;
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
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .with_context(|| format!("restricting {} to its owner", dir.display()))?;
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
    let text = std::fs::read_to_string(&meta_path)
        .with_context(|| format!("reading {}", meta_path.display()))?;
    let (serial, v) = parse_meta(&meta_path, &text)?;
    Ok(Intermediate::restore(der, &seed, td, serial, v)?)
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

/// PEM text of DER blocks with `label` (`CERTIFICATE`, `PRIVATE KEY`).
pub fn pem(label: &str, ders: &[Vec<u8>]) -> String {
    use base64::Engine as _;
    let mut out = String::new();
    for der in ders {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        out.push_str("-----BEGIN ");
        out.push_str(label);
        out.push_str("-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END ");
        out.push_str(label);
        out.push_str("-----\n");
    }
    out
}

/// Writes `svid.pem` (leaf and intermediate), `svid.key` (PKCS#8, 0600) and
/// `bundle.pem` into `out`: what a workload without the Workload API reads.
pub fn write_svid(out: &Path, svid: &Svid, bundle: &[Vec<u8>]) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write_atomic(out, "svid.pem", pem("CERTIFICATE", &svid.chain).as_bytes())?;
    write_atomic(
        out,
        "svid.key",
        pem("PRIVATE KEY", std::slice::from_ref(&svid.key_pkcs8)).as_bytes(),
    )?;
    write_atomic(out, "bundle.pem", pem("CERTIFICATE", bundle).as_bytes())?;
    Ok(())
}

/// A new SVID for `id` from the intermediate of `dir`, valid `ttl_secs` from `now`.
pub fn issue(dir: &Path, td: &TrustDomain, id: &SpiffeId, ttl_secs: u64, now: u64) -> Result<Svid> {
    let inter = intermediate(dir, td)?;
    let seed = random_seed()?;
    Ok(inter.issue(id, &seed, random_serial()?, Validity::starting(now, ttl_secs))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_rotate_and_issue_round_trip_through_the_files() {
        let dir = std::env::temp_dir().join(format!("weft-zt-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let td = TrustDomain::parse("mesh.test").unwrap();
        init(&dir, &[9; 32], &td, 1_800_000_000).unwrap();
        let first = std::fs::read(dir.join(INTERMEDIATE)).unwrap();
        let root = std::fs::read(dir.join(ROOT)).unwrap();
        let id = td.id("/svc/api").unwrap();
        let svid = issue(&dir, &td, &id, 60, 1_800_000_000).unwrap();
        assert_eq!(svid.chain[1], first);
        rotate_intermediate(&dir, &[9; 32], &td, 1_800_000_100).unwrap();
        assert_ne!(std::fs::read(dir.join(INTERMEDIATE)).unwrap(), first);
        assert_eq!(std::fs::read(dir.join(ROOT)).unwrap(), root, "the root stays");
        assert_eq!(bundle(&dir).unwrap(), vec![root]);
        write_revoked(&dir, std::slice::from_ref(&id)).unwrap();
        assert_eq!(revoked(&dir).unwrap(), vec![id]);
        std::fs::write(dir.join(INTERMEDIATE_META), "serial=1\n").unwrap();
        let err = intermediate(&dir, &td).err().unwrap().to_string();
        assert!(err.contains("not_before"), "{err}");
        let pem = pem("CERTIFICATE", &[vec![1, 2, 3]]);
        assert_eq!(pem, "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
