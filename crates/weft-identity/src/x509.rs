//! The X.509 side of a mesh's identities: a root certificate made with the
//! mesh CA's own Ed25519 key, an intermediate the control plane holds, and
//! the X.509-SVIDs it signs, shaped as the SPIFFE X509-SVID specification
//! asks (exactly one URI SAN; leaf `CA:FALSE` with `digitalSignature`;
//! signing certificates `CA:TRUE` with `keyCertSign`).
//!
//! Nothing here reads the clock or draws randomness: keys derive from 32-byte
//! seeds, serial numbers and validity come from the caller.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ED25519, SanType, SerialNumber,
};
use time::OffsetDateTime;
use weft_types::{SpiffeId, TrustDomain};

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The validity window is empty or outside what X.509 can write.
    #[error("invalid validity window {not_before}..{not_after} (unix seconds)")]
    BadValidity {
        /// Start.
        not_before: u64,
        /// End.
        not_after: u64,
    },
    /// A host certificate's name is not a DNS name (letters, digits, `-`,
    /// dot-separated labels of 1 to 63, at most 253 in all).
    #[error("{0:?} is not a DNS name (labels of a-z 0-9 -, separated by dots)")]
    BadName(String),
    /// The certificate library refused (a bug here, not the caller's input).
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
}

/// A validity window in Unix seconds (wall time, passed in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Validity {
    /// First second the certificate is valid.
    pub not_before: u64,
    /// Last second it is valid.
    pub not_after: u64,
}

impl Validity {
    /// `ttl_secs` from `now` (backdated by a minute for clock skew).
    pub fn starting(now: u64, ttl_secs: u64) -> Self {
        Self { not_before: now.saturating_sub(60), not_after: now + ttl_secs }
    }
}

/// PKCS#8 v1 of the Ed25519 key with this seed (RFC 8410 section 7).
pub fn ed25519_pkcs8(seed: &[u8; 32]) -> Vec<u8> {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(seed);
    der
}

pub(crate) fn key(seed: &[u8; 32]) -> Result<KeyPair, IssueError> {
    let der = ed25519_pkcs8(seed);
    Ok(KeyPair::from_pkcs8_der_and_sign_algo(&der.as_slice().into(), &PKCS_ED25519)?)
}

fn when(t: u64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(i64::try_from(t).ok()?).ok()
}

pub(crate) fn params(serial: u64, v: Validity, cn: &str) -> Result<CertificateParams, IssueError> {
    let bad = || IssueError::BadValidity { not_before: v.not_before, not_after: v.not_after };
    if v.not_after <= v.not_before {
        return Err(bad());
    }
    let mut p = CertificateParams::default();
    p.not_before = when(v.not_before).ok_or_else(bad)?;
    p.not_after = when(v.not_after).ok_or_else(bad)?;
    // A positive INTEGER: a leading 0x01 keeps the top bit clear.
    let mut sn = vec![1u8];
    sn.extend_from_slice(&serial.to_be_bytes());
    p.serial_number = Some(SerialNumber::from_slice(&sn));
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.use_authority_key_identifier_extension = true;
    Ok(p)
}

fn uri(id: &str) -> Result<SanType, IssueError> {
    Ok(SanType::URI(id.try_into()?))
}

/// A mesh's X.509 trust anchor: self-signed with the mesh CA's key.
pub struct Root {
    pub(crate) params: CertificateParams,
    pub(crate) key: KeyPair,
    der: Vec<u8>,
}

impl Root {
    /// The root of `td`, signed by the mesh CA whose Ed25519 seed is `ca_seed`.
    pub fn new(
        ca_seed: &[u8; 32],
        td: &TrustDomain,
        serial: u64,
        v: Validity,
    ) -> Result<Self, IssueError> {
        let key = key(ca_seed)?;
        let mut params = params(serial, v, &format!("weft mesh root {td}"))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.subject_alt_names = vec![uri(&td.id_string())?];
        params.use_authority_key_identifier_extension = false;
        let der = params.self_signed(&key)?.der().to_vec();
        Ok(Self { params, key, der })
    }

    /// The certificate (DER): what trust bundles carry.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// An intermediate under this root, keyed from `seed`.
    pub fn intermediate(
        &self,
        seed: &[u8; 32],
        td: &TrustDomain,
        serial: u64,
        v: Validity,
    ) -> Result<Intermediate, IssueError> {
        let key = key(seed)?;
        let params = intermediate_params(td, serial, v)?;
        let issuer = Issuer::from_params(&self.params, &self.key);
        let der = params.signed_by(&key, &issuer)?.der().to_vec();
        Ok(Intermediate { params, key, der, serial, validity: v })
    }
}

fn intermediate_params(
    td: &TrustDomain,
    serial: u64,
    v: Validity,
) -> Result<CertificateParams, IssueError> {
    let mut params = params(serial, v, &format!("weft mesh intermediate {td} #{serial}"))?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.subject_alt_names = vec![uri(&td.id_string())?];
    Ok(params)
}

/// The signing certificate the control plane holds: it issues SVIDs.
pub struct Intermediate {
    params: CertificateParams,
    key: KeyPair,
    der: Vec<u8>,
    serial: u64,
    validity: Validity,
}

impl Intermediate {
    /// The intermediate whose certificate is `der`, rebuilt from what it was
    /// made with (its key seed, trust domain, serial and validity: what
    /// `weftd` keeps beside the certificate), to issue more SVIDs.
    pub fn restore(
        der: Vec<u8>,
        seed: &[u8; 32],
        td: &TrustDomain,
        serial: u64,
        v: Validity,
    ) -> Result<Self, IssueError> {
        Ok(Self {
            params: intermediate_params(td, serial, v)?,
            key: key(seed)?,
            der,
            serial,
            validity: v,
        })
    }

    /// Its serial number.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// Its certificate (DER), sent after the leaf in every SVID chain.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Its validity window: no SVID it signs outlives it.
    pub fn validity(&self) -> Validity {
        self.validity
    }

    /// An X.509-SVID for `id`, keyed from `seed`, valid for `v` clipped to
    /// the intermediate's own window.
    pub fn issue(
        &self,
        id: &SpiffeId,
        seed: &[u8; 32],
        serial: u64,
        v: Validity,
    ) -> Result<Svid, IssueError> {
        let v = Validity {
            not_before: v.not_before.max(self.validity.not_before),
            not_after: v.not_after.min(self.validity.not_after),
        };
        let key = key(seed)?;
        let params = leaf_params(id, serial, v)?;
        let issuer = Issuer::from_params(&self.params, &self.key);
        let leaf = params.signed_by(&key, &issuer)?.der().to_vec();
        Ok(Svid {
            id: id.clone(),
            chain: vec![leaf, self.der.clone()],
            key_pkcs8: ed25519_pkcs8(seed),
            serial,
            validity: v,
        })
    }
}

/// An Ed25519 public key (the raw 32 bytes), for certificates issued to a
/// key the issuer never sees the private half of.
struct RawEd25519<'a>(&'a [u8; 32]);

impl rcgen::PublicKeyData for RawEd25519<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.0
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &PKCS_ED25519
    }
}

/// The DER of the `SubjectPublicKeyInfo` of the Ed25519 key `public_key`
/// (RFC 8410): what a certificate for that key carries.
pub fn ed25519_spki(public_key: &[u8; 32]) -> Vec<u8> {
    let mut der = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
    der.extend_from_slice(public_key);
    der
}

/// The Ed25519 public key of the key with this seed.
pub fn ed25519_public(seed: &[u8; 32]) -> Result<[u8; 32], IssueError> {
    let pair = key(seed)?;
    let raw = pair.public_key_raw();
    let mut out = [0u8; 32];
    if raw.len() != 32 {
        return Err(IssueError::Generate(rcgen::Error::KeyGenerationUnavailable));
    }
    out.copy_from_slice(raw);
    Ok(out)
}

impl Intermediate {
    /// The leaf certificate (DER) of an X.509-SVID for `id` whose key the
    /// requester holds: the control plane signs a site's request without
    /// ever seeing its private key. Shaped as [`Intermediate::issue`].
    pub fn issue_for_key(
        &self,
        id: &SpiffeId,
        public_key: &[u8; 32],
        serial: u64,
        v: Validity,
    ) -> Result<(Vec<u8>, Validity), IssueError> {
        let v = Validity {
            not_before: v.not_before.max(self.validity.not_before),
            not_after: v.not_after.min(self.validity.not_after),
        };
        let params = leaf_params(id, serial, v)?;
        let issuer = Issuer::from_params(&self.params, &self.key);
        Ok((params.signed_by(&RawEd25519(public_key), &issuer)?.der().to_vec(), v))
    }
}

fn leaf_params(id: &SpiffeId, serial: u64, v: Validity) -> Result<CertificateParams, IssueError> {
    let mut params = params(serial, v, id.path().rsplit('/').next().unwrap_or("svid"))?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages =
        vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    params.subject_alt_names = vec![uri(&id.to_string())?];
    Ok(params)
}

/// An X.509-SVID: a workload's certificate chain and private key.
#[derive(Clone)]
pub struct Svid {
    /// The identity it proves.
    pub id: SpiffeId,
    /// Leaf first, then the intermediate (DER).
    pub chain: Vec<Vec<u8>>,
    /// The leaf's private key, PKCS#8 DER.
    pub key_pkcs8: Vec<u8>,
    /// Serial number of the leaf.
    pub serial: u64,
    /// Validity of the leaf.
    pub validity: Validity,
}

impl std::fmt::Debug for Svid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Svid")
            .field("id", &self.id)
            .field("serial", &self.serial)
            .field("validity", &self.validity)
            .finish_non_exhaustive()
    }
}
