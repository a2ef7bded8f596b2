//! The certificate files of an `auth = "cert"` gateway, read when the agent
//! loads charon (so a restart picks up reissued files): our certificate and
//! key, the CA certificates, and our IKE identity (written, or the first DNS
//! name of our certificate).

use anyhow::{Context, Result, bail};
use base64::Engine as _;

use crate::config::CertAuth;

/// What charon gets for one gateway.
#[derive(Debug, Clone)]
pub(crate) struct Creds {
    /// Our certificate, PEM.
    pub(crate) cert: String,
    /// Its private key, PEM.
    pub(crate) key: String,
    /// The CA certificates, one PEM block each.
    pub(crate) cacerts: Vec<String>,
    /// Our IKE identity.
    pub(crate) local_id: String,
}

/// Reads the files of `a`.
pub(crate) fn read(a: &CertAuth) -> Result<Creds> {
    let text = |p: &std::path::Path| {
        std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
    };
    let cert = text(&a.cert_file)?;
    let key = text(&a.key_file)?;
    let cacerts = pem_blocks(&text(&a.ca_file)?, "CERTIFICATE");
    if cacerts.is_empty() {
        bail!("{}: no PEM certificate", a.ca_file.display());
    }
    let Some(ours) = pem_blocks(&cert, "CERTIFICATE").into_iter().next() else {
        bail!("{}: no PEM certificate", a.cert_file.display());
    };
    let local_id = match &a.local_id {
        Some(id) => id.clone(),
        None => first_dns_name(&ours).with_context(|| {
            format!("{}: no DNS name in the certificate; set local_id", a.cert_file.display())
        })?,
    };
    Ok(Creds { cert: ours, key, cacerts, local_id })
}

/// The PEM blocks labelled `label` in `text`, each whole (BEGIN to END).
pub(crate) fn pem_blocks(text: &str, label: &str) -> Vec<String> {
    let (begin, end) = (format!("-----BEGIN {label}-----"), format!("-----END {label}-----"));
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(b) = rest.find(&begin) {
        let Some(e) = rest[b..].find(&end) else { break };
        let stop = b + e + end.len();
        out.push(format!("{}\n", &rest[b..stop]));
        rest = &rest[stop..];
    }
    out
}

/// The first DNS SAN of a PEM certificate.
pub(crate) fn first_dns_name(pem: &str) -> Option<String> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body.trim()).ok()?;
    weft_identity::san::dns_sans(&der).ok()?.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_pem(name: &str) -> String {
        let td = weft_identity::TrustDomain::parse("mesh.test").unwrap();
        let v = weft_identity::Validity::starting(1_800_000_000, 600);
        let root = weft_identity::Root::new(&[1; 32], &td, 1, v).unwrap();
        let host = root.issue_host(name, &[2; 32], 2, v).unwrap();
        weft_layout::zt::pem("CERTIFICATE", &[host.cert, root.der().to_vec()])
    }

    #[test]
    fn pem_blocks_are_split_whole_and_garbage_gives_none() {
        let text = host_pem("site-a.mesh.test");
        let blocks = pem_blocks(&format!("junk\n{text}trailer"), "CERTIFICATE");
        assert_eq!(blocks.len(), 2);
        assert!(blocks.iter().all(|b| b.starts_with("-----BEGIN") && b.ends_with("-----\n")));
        assert!(pem_blocks("-----BEGIN CERTIFICATE-----\nAAAA", "CERTIFICATE").is_empty());
        assert!(pem_blocks(&text, "PRIVATE KEY").is_empty());
    }

    #[test]
    fn our_identity_is_the_certificates_first_dns_name() {
        let text = host_pem("site-a.mesh.test");
        let first = pem_blocks(&text, "CERTIFICATE").remove(0);
        assert_eq!(first_dns_name(&first).as_deref(), Some("site-a.mesh.test"));
        // the root has no DNS name
        let root = pem_blocks(&text, "CERTIFICATE").remove(1);
        assert_eq!(first_dns_name(&root), None);
        assert_eq!(
            first_dns_name("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----"),
            None
        );
    }
}
