//! SPIFFE identities: [`TrustDomain`] and [`SpiffeId`]
//! (`spiffe://TRUST-DOMAIN/PATH`), parsed and formatted as the SPIFFE ID
//! specification (SPIFFE-ID.md, "SPIFFE ID" and "Trust Domain") says.
//!
//! What the specification asks, and what these parsers enforce:
//! - the scheme is exactly `spiffe://` (lowercase);
//! - the trust domain is 1..=255 characters of `a-z 0-9 . - _` (no upper
//!   case, no port, no user info, no percent-encoding);
//! - the path is empty or a sequence of `/segment`s, each segment non-empty,
//!   not `.` or `..`, of `a-z A-Z 0-9 . - _`; no trailing slash;
//! - no query, no fragment; the whole ID is at most 2048 bytes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest SPIFFE ID the specification lets implementations accept.
pub const MAX_SPIFFE_ID_LEN: usize = 2048;
/// The longest trust domain name.
pub const MAX_TRUST_DOMAIN_LEN: usize = 255;

/// Why a string is not a SPIFFE ID or trust domain. Each variant says which
/// rule of the specification the input broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpiffeIdError {
    /// The input is empty.
    #[error("empty SPIFFE ID")]
    Empty,
    /// The scheme is not `spiffe://`.
    #[error("a SPIFFE ID starts with \"spiffe://\"")]
    WrongScheme,
    /// No trust domain after the scheme.
    #[error("missing trust domain")]
    MissingTrustDomain,
    /// A character not allowed in a trust domain (upper case, `:`, `@`, `%`...).
    #[error(
        "trust domain characters are limited to lowercase letters, digits, dots, dashes and underscores (found {0:?})"
    )]
    BadTrustDomainChar(char),
    /// The trust domain is longer than [`MAX_TRUST_DOMAIN_LEN`].
    #[error("trust domain longer than {MAX_TRUST_DOMAIN_LEN} characters")]
    TrustDomainTooLong,
    /// A path segment is empty (`//` or a trailing `/`).
    #[error("path segments must not be empty (no \"//\" and no trailing \"/\")")]
    EmptySegment,
    /// A path segment is `.` or `..`.
    #[error("path segments must not be dot segments (\".\" or \"..\")")]
    DotSegment,
    /// A character not allowed in a path segment (including `?` and `#`).
    #[error(
        "path segment characters are limited to letters, digits, dots, dashes and underscores (found {0:?})"
    )]
    BadPathChar(char),
    /// The ID is longer than [`MAX_SPIFFE_ID_LEN`] bytes.
    #[error("SPIFFE ID longer than {MAX_SPIFFE_ID_LEN} bytes")]
    TooLong,
}

/// A SPIFFE trust domain: the name of one mesh's identity namespace
/// (`example.org`). Configured per mesh; every SVID of the mesh is in it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrustDomain(String);

impl TrustDomain {
    /// Parses a bare trust domain name (`example.org`) or one written as
    /// `spiffe://example.org`.
    pub fn parse(s: &str) -> Result<Self, SpiffeIdError> {
        let name = s.strip_prefix("spiffe://").unwrap_or(s);
        check_trust_domain(name)?;
        Ok(Self(name.to_owned()))
    }

    /// The name (`example.org`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The trust domain's own ID, `spiffe://example.org` (what bundles name).
    pub fn id_string(&self) -> String {
        format!("spiffe://{}", self.0)
    }

    /// The SPIFFE ID with this trust domain and `path` (`/ns/prod/sa/web`).
    pub fn id(&self, path: &str) -> Result<SpiffeId, SpiffeIdError> {
        check_path(path)?;
        let id = SpiffeId { td: self.clone(), path: path.to_owned() };
        if id.to_string().len() > MAX_SPIFFE_ID_LEN {
            return Err(SpiffeIdError::TooLong);
        }
        Ok(id)
    }
}

impl fmt::Display for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrustDomain({})", self.0)
    }
}

/// A SPIFFE ID: a trust domain and a path, `spiffe://example.org/ns/prod/sa/web`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpiffeId {
    td: TrustDomain,
    /// Empty, or `/seg(/seg)*`.
    path: String,
}

impl SpiffeId {
    /// Parses `spiffe://TRUST-DOMAIN[/PATH]`.
    pub fn parse(s: &str) -> Result<Self, SpiffeIdError> {
        if s.is_empty() {
            return Err(SpiffeIdError::Empty);
        }
        if s.len() > MAX_SPIFFE_ID_LEN {
            return Err(SpiffeIdError::TooLong);
        }
        let rest = s.strip_prefix("spiffe://").ok_or(SpiffeIdError::WrongScheme)?;
        let (td, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
        check_trust_domain(td)?;
        check_path(path)?;
        Ok(Self { td: TrustDomain(td.to_owned()), path: path.to_owned() })
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.td
    }

    /// The path (`/ns/prod/sa/web`), empty for the trust domain's own ID.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether this ID is `prefix`'s path or below it, in the same trust
    /// domain: `/svc/web` is under `/svc` and `/svc/web`, not under `/sv`.
    pub fn is_under(&self, td: &TrustDomain, prefix: &str) -> bool {
        if self.td != *td {
            return false;
        }
        let p = prefix.trim_end_matches('/');
        self.path == p
            || (self.path.starts_with(p) && self.path.as_bytes().get(p.len()) == Some(&b'/'))
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "spiffe://{}{}", self.td.0, self.path)
    }
}

impl fmt::Debug for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpiffeId({self})")
    }
}

impl FromStr for SpiffeId {
    type Err = SpiffeIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for SpiffeId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SpiffeId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for TrustDomain {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TrustDomain {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn check_trust_domain(td: &str) -> Result<(), SpiffeIdError> {
    if td.is_empty() {
        return Err(SpiffeIdError::MissingTrustDomain);
    }
    if td.len() > MAX_TRUST_DOMAIN_LEN {
        return Err(SpiffeIdError::TrustDomainTooLong);
    }
    match td.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '.' | '-' | '_')) {
        Some(c) => Err(SpiffeIdError::BadTrustDomainChar(c)),
        None => Ok(()),
    }
}

fn check_path(path: &str) -> Result<(), SpiffeIdError> {
    if path.is_empty() {
        return Ok(());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(SpiffeIdError::EmptySegment);
    };
    for seg in rest.split('/') {
        if seg.is_empty() {
            return Err(SpiffeIdError::EmptySegment);
        }
        if seg == "." || seg == ".." {
            return Err(SpiffeIdError::DotSegment);
        }
        if let Some(c) =
            seg.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        {
            return Err(SpiffeIdError::BadPathChar(c));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_id_round_trips() {
        let id = SpiffeId::parse("spiffe://example.org/ns/prod/sa/web").unwrap();
        assert_eq!(id.trust_domain().as_str(), "example.org");
        assert_eq!(id.path(), "/ns/prod/sa/web");
        assert_eq!(id.to_string(), "spiffe://example.org/ns/prod/sa/web");
        assert_eq!(SpiffeId::parse("spiffe://td").unwrap().path(), "");
    }

    #[test]
    fn malformed_ids_are_refused_with_the_rule_they_break() {
        use SpiffeIdError as E;
        let cases = [
            ("", E::Empty),
            ("http://example.org/a", E::WrongScheme),
            ("SPIFFE://example.org/a", E::WrongScheme),
            ("spiffe://", E::MissingTrustDomain),
            ("spiffe:///a", E::MissingTrustDomain),
            ("spiffe://Example.org/a", E::BadTrustDomainChar('E')),
            ("spiffe://example.org:443/a", E::BadTrustDomainChar(':')),
            ("spiffe://user@example.org/a", E::BadTrustDomainChar('@')),
            ("spiffe://example.org/a/", E::EmptySegment),
            ("spiffe://example.org//a", E::EmptySegment),
            ("spiffe://example.org/a/../b", E::DotSegment),
            ("spiffe://example.org/./b", E::DotSegment),
            ("spiffe://example.org/a?x=1", E::BadPathChar('?')),
            ("spiffe://example.org/a#f", E::BadPathChar('#')),
            ("spiffe://example.org/a%20b", E::BadPathChar('%')),
        ];
        for (input, want) in cases {
            assert_eq!(SpiffeId::parse(input), Err(want), "{input}");
        }
        let long = format!("spiffe://td/{}", "a".repeat(MAX_SPIFFE_ID_LEN));
        assert_eq!(SpiffeId::parse(&long), Err(E::TooLong));
        assert_eq!(TrustDomain::parse(&"a".repeat(256)), Err(E::TrustDomainTooLong));
    }

    #[test]
    fn is_under_matches_whole_segments_in_the_same_trust_domain() {
        let td = TrustDomain::parse("mesh.test").unwrap();
        let other = TrustDomain::parse("other.test").unwrap();
        let id = td.id("/svc/web/v2").unwrap();
        assert!(id.is_under(&td, "/svc"));
        assert!(id.is_under(&td, "/svc/web/v2"));
        assert!(id.is_under(&td, "/svc/"));
        assert!(id.is_under(&td, ""));
        assert!(!id.is_under(&td, "/sv"));
        assert!(!id.is_under(&other, "/svc"));
    }

    #[test]
    fn trust_domain_accepts_the_spiffe_form_and_builds_ids() {
        let td = TrustDomain::parse("spiffe://mesh.test").unwrap();
        assert_eq!(td.id_string(), "spiffe://mesh.test");
        assert_eq!(td.id("/svc/api").unwrap().to_string(), "spiffe://mesh.test/svc/api");
        assert_eq!(td.id("svc"), Err(SpiffeIdError::EmptySegment));
    }
}
