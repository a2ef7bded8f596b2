//! Host certificates for IKE (IPsec): a site's or a gateway's certificate
//! signed straight by the mesh root, naming the host by one DNS name (its
//! subject alternative name and common name) so that strongSwan can match
//! it against an FQDN identity (`remote_id = "gw.example.org"`). Ed25519
//! keys (RFC 8420 in IKE version 2); no SPIFFE URI, these are not workload
//! identities.

use rcgen::{ExtendedKeyUsagePurpose, IsCa, Issuer, KeyUsagePurpose, SanType};

use crate::x509::{IssueError, Root, Validity, ed25519_pkcs8, key, params};

/// A host's certificate and private key.
#[derive(Clone)]
pub struct HostCert {
    /// The DNS name it proves (its IKE identity).
    pub name: String,
    /// The certificate, DER.
    pub cert: Vec<u8>,
    /// Its private key, PKCS#8 DER.
    pub key_pkcs8: Vec<u8>,
    /// Its validity.
    pub validity: Validity,
}

impl std::fmt::Debug for HostCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostCert")
            .field("name", &self.name)
            .field("validity", &self.validity)
            .finish_non_exhaustive()
    }
}

/// Whether `name` is a DNS name a host certificate can carry: dot-separated
/// labels of 1 to 63 of `a-z A-Z 0-9 -` (not starting or ending with `-`),
/// at most 253 characters.
pub fn dns_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

impl Root {
    /// A certificate for the host `name` (a DNS name), keyed from `seed`,
    /// signed by this root: `CA:FALSE`, `digitalSignature`, server and
    /// client use, `name` as its one DNS SAN and its common name.
    pub fn issue_host(
        &self,
        name: &str,
        seed: &[u8; 32],
        serial: u64,
        v: Validity,
    ) -> Result<HostCert, IssueError> {
        if !dns_name_ok(name) {
            return Err(IssueError::BadName(name.to_owned()));
        }
        let mut p = params(serial, v, name)?;
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages =
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        p.subject_alt_names = vec![SanType::DnsName(name.try_into()?)];
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = p.signed_by(&key(seed)?, &issuer)?.der().to_vec();
        Ok(HostCert { name: name.to_owned(), cert, key_pkcs8: ed25519_pkcs8(seed), validity: v })
    }
}
