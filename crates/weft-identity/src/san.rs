//! The SPIFFE ID of a certificate: its URI subject alternative names, read
//! straight from the DER (a small bounded reader, no X.509 library). The
//! proxies call it on a peer certificate *after* the chain has been verified
//! against the trust bundle; it never panics on any input.

use weft_types::SpiffeId;

/// Why no SPIFFE ID could be read from a certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SanError {
    /// The DER is truncated or not a certificate's shape.
    #[error("malformed certificate DER")]
    Malformed,
    /// No URI SAN (an X509-SVID has exactly one).
    #[error("the certificate has no URI SAN")]
    NoUri,
    /// More than one URI SAN (forbidden for an X509-SVID).
    #[error("the certificate has more than one URI SAN")]
    SeveralUris,
    /// The URI SAN is not a valid SPIFFE ID.
    #[error("the URI SAN is not a SPIFFE ID: {0}")]
    NotSpiffe(weft_types::SpiffeIdError),
}

/// One DER element: tag and contents; `rest` after it.
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), SanError> {
    let (&tag, rest) = input.split_first().ok_or(SanError::Malformed)?;
    let (&first, rest) = rest.split_first().ok_or(SanError::Malformed)?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(SanError::Malformed);
        }
        let len = rest[..n].iter().fold(0usize, |a, b| (a << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(SanError::Malformed);
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// `subjectAltName`, 2.5.29.17.
const SAN_OID: [u8; 3] = [0x55, 0x1d, 0x11];

/// The URI SANs of a DER certificate.
pub fn uri_sans(cert: &[u8]) -> Result<Vec<String>, SanError> {
    sans(cert, 0x86)
}

/// The DNS name SANs of a DER certificate (a host certificate's identity).
pub fn dns_sans(cert: &[u8]) -> Result<Vec<String>, SanError> {
    sans(cert, 0x82)
}

/// The SANs of the context tag `tag` (`[2]` DNS name, `[6]` URI), as text.
fn sans(cert: &[u8], tag: u8) -> Result<Vec<String>, SanError> {
    let (_, certificate, _) = tlv(cert)?;
    let (_, mut tbs, _) = tlv(certificate)?;
    // Walk tbsCertificate to the [3] extensions.
    let mut exts = None;
    while !tbs.is_empty() {
        let (tag, body, rest) = tlv(tbs)?;
        if tag == 0xa3 {
            exts = Some(tlv(body)?.1);
        }
        tbs = rest;
    }
    let mut uris = Vec::new();
    let Some(mut exts) = exts else { return Ok(uris) };
    while !exts.is_empty() {
        let (_, ext, rest) = tlv(exts)?;
        exts = rest;
        let (_, oid, mut fields) = tlv(ext)?;
        if oid != SAN_OID {
            continue;
        }
        let mut value = None;
        while !fields.is_empty() {
            let (tag, body, rest) = tlv(fields)?;
            if tag == 0x04 {
                value = Some(body);
            }
            fields = rest;
        }
        let (_, mut names, _) = tlv(value.ok_or(SanError::Malformed)?)?;
        while !names.is_empty() {
            let (t, body, rest) = tlv(names)?;
            names = rest;
            if t == tag {
                uris.push(std::str::from_utf8(body).map_err(|_| SanError::Malformed)?.to_owned());
            }
        }
    }
    Ok(uris)
}

/// The SPIFFE ID of an X509-SVID: its one URI SAN.
pub fn spiffe_id(cert: &[u8]) -> Result<SpiffeId, SanError> {
    let uris = uri_sans(cert)?;
    match uris.as_slice() {
        [] => Err(SanError::NoUri),
        [one] => SpiffeId::parse(one).map_err(SanError::NotSpiffe),
        _ => Err(SanError::SeveralUris),
    }
}
