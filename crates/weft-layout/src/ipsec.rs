//! IPsec certificates from the mesh CA (`weft ipsec cert` on the CA
//! holder): a host certificate for a site or a plain gateway, named by a
//! DNS name, signed by the mesh's X.509 root (the root `weft identity init`
//! makes from the same CA seed and trust domain), written as three PEM
//! files an IKE daemon reads:
//!
//! | file        | holds                                                |
//! |-------------|------------------------------------------------------|
//! | `NAME.pem`  | the host's certificate                               |
//! | `NAME.key`  | its Ed25519 private key, PKCS#8 (0600)               |
//! | `ca.pem`    | the mesh root (every peer's `ca_file` / `cacerts`)   |

use std::path::Path;

use anyhow::{Context, Result, bail};
use weft_identity::{HostCert, Root, TrustDomain, Validity, dns_name_ok};

use crate::mesh::{random_seed, write_atomic};
use crate::zt::{ROOT_SECS, pem, random_serial};

/// A host certificate for `name` valid `ttl_secs` from `now`, and the root
/// (DER) it chains to, from the mesh CA's seed.
pub fn issue(
    ca_seed: &[u8; 32],
    td: &TrustDomain,
    name: &str,
    ttl_secs: u64,
    now: u64,
) -> Result<(HostCert, Vec<u8>)> {
    if !dns_name_ok(name) {
        bail!(
            "{name:?} is not a DNS name: an IPsec identity is labels of a-z 0-9 - separated by dots"
        );
    }
    let root = Root::new(ca_seed, td, 1, Validity::starting(now, ROOT_SECS))?;
    let host = root.issue_host(
        name,
        &random_seed()?,
        random_serial()?,
        Validity::starting(now, ttl_secs),
    )?;
    Ok((host, root.der().to_vec()))
}

/// Writes `NAME.pem`, `NAME.key` and `ca.pem` into `out` (made if needed).
pub fn write(out: &Path, host: &HostCert, root: &[u8]) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let w = |file: String, text: String| {
        write_atomic(out, &file, text.as_bytes())
            .with_context(|| format!("writing {}", out.join(&file).display()))
    };
    w(format!("{}.pem", host.name), pem("CERTIFICATE", std::slice::from_ref(&host.cert)))?;
    w(format!("{}.key", host.name), pem("PRIVATE KEY", std::slice::from_ref(&host.key_pkcs8)))?;
    w("ca.pem".to_owned(), pem("CERTIFICATE", &[root.to_vec()]))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_hold_the_hosts_certificate_key_and_the_mesh_root() {
        let td = TrustDomain::parse("mesh.test").unwrap();
        let (host, root) = issue(&[3; 32], &td, "gw.mesh.test", 3600, 1_800_000_000).unwrap();
        let again =
            Root::new(&[3; 32], &td, 1, Validity::starting(1_800_000_000, ROOT_SECS)).unwrap();
        assert_eq!(root, again.der(), "the root of the CA seed and trust domain");
        let out = std::env::temp_dir().join(format!("weft-ipsec-cert-{}", std::process::id()));
        write(&out, &host, &root).unwrap();
        let cert = std::fs::read_to_string(out.join("gw.mesh.test.pem")).unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----\n"));
        let key = std::fs::read_to_string(out.join("gw.mesh.test.key")).unwrap();
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(out.join("gw.mesh.test.key")).unwrap().permissions(),
        );
        assert_eq!(mode & 0o077, 0, "the key is the owner's");
        assert_eq!(
            std::fs::read_to_string(out.join("ca.pem")).unwrap(),
            pem("CERTIFICATE", &[root])
        );
        assert!(issue(&[3; 32], &td, "not a name", 3600, 1_800_000_000).is_err());
        let _ = std::fs::remove_dir_all(out);
    }
}
