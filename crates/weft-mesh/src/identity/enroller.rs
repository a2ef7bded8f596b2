//! The enroller: the CA side of enrolment, sans-IO. It holds the CA, a
//! ledger of token uses, the enrolled sites' keys and the revocation list,
//! and turns checked requests into certificates. Its state is plain data
//! ([`EnrollerState`]) so the agent can persist it and rebuild it.

use std::collections::BTreeMap;
use std::num::NonZeroU64;

use serde::{Deserialize, Serialize};
use weft_types::{IpPrefix, PublicKey, SiteId};

use super::ca::{CaPublicKey, MeshCa, SitePublicKey};
use super::cert::{CertBody, CertError, DEFAULT_CERT_LIFETIME_SECS, SiteCert};
use super::claims::{Label, PrefixList};
use super::enrol::{EnrolRequest, EnrolResponse, RenewRequest};
use super::learn::LearnRanges;
use super::revocation::{RevocationError, RevocationList, SignedRevocations};
use super::token::{TokenError, TokenId};

/// How far a request's timestamp may be from the enroller's clock: 5 min.
pub const MAX_CLOCK_SKEW_SECS: u64 = 5 * 60;

/// How long after its certificate expired a site may still renew with it
/// (a site that was down for a while rejoins without a token): 7 days.
pub const RENEWAL_GRACE_SECS: u64 = 7 * 24 * 60 * 60;

/// Why the enroller refused a request. A refusal changes no state: no token
/// use is consumed and no serial is spent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnrolError {
    /// The join token is not this mesh's or was tampered with.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The join token's time is over.
    #[error("token expired at {at} (now {now})")]
    TokenExpired {
        /// The token's expiry, Unix seconds.
        at: u64,
        /// The enroller's time.
        now: u64,
    },
    /// The join token has enrolled as many sites as it may.
    #[error("token already used {used} of {max} times")]
    TokenUsedUp {
        /// Uses so far.
        used: u32,
        /// Uses allowed.
        max: u32,
    },
    /// The request's timestamp is too far from the enroller's clock (a
    /// replay, or a badly set clock).
    #[error("request made at {timestamp} is more than {MAX_CLOCK_SKEW_SECS} s from now ({now})")]
    StaleRequest {
        /// The request's timestamp.
        timestamp: u64,
        /// The enroller's time.
        now: u64,
    },
    /// The request is not signed by the key it names.
    #[error("request is not signed by the site key it carries (no proof of possession)")]
    NoProofOfPossession,
    /// The site asked for a prefix its token does not allow.
    #[error("prefix {prefix} is not allowed by the join token")]
    PrefixNotAllowed {
        /// The first refused prefix.
        prefix: IpPrefix,
    },
    /// The site asked for a learn range its token does not allow (the token
    /// allows none unless made with `--learn`).
    #[error("learn range {range} is not allowed by the join token (token option --learn)")]
    LearnRangeNotAllowed {
        /// The first refused range.
        range: IpPrefix,
    },
    /// The site asked for a prefix that overlaps another enrolled site's.
    #[error("prefix {prefix} overlaps {taken}, held by site {site}")]
    PrefixTaken {
        /// The requested prefix.
        prefix: IpPrefix,
        /// The prefix it overlaps.
        taken: IpPrefix,
        /// The site holding it.
        site: SiteId,
    },
    /// The site is revoked.
    #[error("site {site} is revoked and cannot rejoin")]
    Revoked {
        /// The site.
        site: SiteId,
    },
    /// The site id is enrolled with another key.
    #[error("site {site} is already enrolled with a different key; renew with its current key")]
    KeyMismatch {
        /// The site.
        site: SiteId,
    },
    /// A renewal names a site this enroller never enrolled.
    #[error("site {site} is not enrolled here; enrol with a join token")]
    UnknownSite {
        /// The site.
        site: SiteId,
    },
    /// A renewal's certificate is not usable.
    #[error("cannot renew: {0}")]
    Cert(#[from] CertError),
    /// A renewal came too long after its certificate expired.
    #[error(
        "certificate expired at {not_after}, more than {RENEWAL_GRACE_SECS} s ago; enrol with a new join token"
    )]
    RenewalTooLate {
        /// The certificate's expiry.
        not_after: u64,
    },
}

/// What the enroller knows of an enrolled site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteRecord {
    /// The site's identity key; only it may renew or re-enrol the site.
    pub site_key: SitePublicKey,
    /// Serial of the latest certificate issued to it.
    pub last_serial: u64,
    /// The overlay prefixes its latest certificate holds (no other site may
    /// claim an overlapping one). Absent in ledgers written before it was kept.
    #[serde(default)]
    pub prefixes: PrefixList,
}

/// The enroller's state as plain data, for persistence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollerState {
    /// The serial the next certificate gets.
    pub next_serial: u64,
    /// Uses consumed per token.
    pub token_uses: BTreeMap<TokenId, u32>,
    /// Enrolled sites.
    pub sites: BTreeMap<SiteId, SiteRecord>,
    /// Revoked sites and serials.
    pub revocations: RevocationList,
}

impl Default for EnrollerState {
    fn default() -> Self {
        Self {
            next_serial: 1,
            token_uses: BTreeMap::new(),
            sites: BTreeMap::new(),
            revocations: RevocationList::default(),
        }
    }
}

/// What the CA holder certifies about itself in [`Enroller::issue_self`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfClaims {
    /// The CA holder's site id.
    pub site: SiteId,
    /// Its role (e.g. `hub`).
    pub role: Label,
    /// Its region.
    pub region: Label,
    /// Its overlay prefixes.
    pub prefixes: PrefixList,
    /// Its Ed25519 site key.
    pub site_key: SitePublicKey,
    /// Its WireGuard public key.
    pub wg_key: PublicKey,
    /// The on-prem ranges it may bring into the mesh (its `[bgp] learn`; the
    /// CA holder needs no token to allow them).
    pub learn_ranges: LearnRanges,
}

/// The CA side of enrolment. Feed it requests with the current time; it
/// answers with certificates or refusals and never does I/O.
#[derive(Debug)]
pub struct Enroller {
    ca: MeshCa,
    state: EnrollerState,
    lifetime: u64,
}

impl Enroller {
    /// A fresh enroller for `ca`, issuing 24 h certificates.
    pub fn new(ca: MeshCa) -> Self {
        Self::from_state(ca, EnrollerState::default())
    }

    /// An enroller restored from persisted state.
    pub fn from_state(ca: MeshCa, state: EnrollerState) -> Self {
        Self { ca, state, lifetime: DEFAULT_CERT_LIFETIME_SECS }
    }

    /// Sets the lifetime of certificates issued from now on.
    pub fn set_cert_lifetime(&mut self, secs: NonZeroU64) {
        self.lifetime = secs.get();
    }

    /// Replaces the state (the control plane's leader restores the ledger
    /// it read from the store before each request).
    pub fn restore(&mut self, state: EnrollerState) {
        self.state = state;
    }

    /// The state, to persist.
    pub fn state(&self) -> &EnrollerState {
        &self.state
    }

    /// The CA's public key.
    pub fn ca_public(&self) -> CaPublicKey {
        self.ca.public()
    }

    /// The CA, to mint tokens with.
    pub fn ca(&self) -> &MeshCa {
        &self.ca
    }

    /// Enrols a new site, or re-enrols a known site that presents the same
    /// key (then no token use is consumed).
    pub fn handle_request(
        &mut self,
        now_unix: u64,
        req: &EnrolRequest,
    ) -> Result<EnrolResponse, EnrolError> {
        self.precheck_request(now_unix, req)?;
        let token = &req.token.body;
        if self.state.revocations.is_site_revoked(&req.site) {
            return Err(EnrolError::Revoked { site: req.site.clone() });
        }
        if let Some(allowed) = &token.allowed_prefixes
            && let Some(p) = allowed.first_not_covered(&req.prefixes)
        {
            return Err(EnrolError::PrefixNotAllowed { prefix: *p });
        }
        if let Some(r) = token.allowed_learn.first_not_covered(&req.learn_ranges) {
            return Err(EnrolError::LearnRangeNotAllowed { range: *r });
        }
        let rejoin = match self.state.sites.get(&req.site) {
            Some(rec) if rec.site_key != req.site_key => {
                return Err(EnrolError::KeyMismatch { site: req.site.clone() });
            }
            Some(_) => true,
            None => false,
        };
        let used = self.state.token_uses.get(&token.id).copied().unwrap_or(0);
        if !rejoin && used >= token.max_uses {
            return Err(EnrolError::TokenUsedUp { used, max: token.max_uses });
        }
        self.check_prefixes_free(&req.site, &req.prefixes)?;
        if !rejoin {
            self.state.token_uses.insert(token.id, used + 1);
        }
        let body = CertBody {
            serial: 0,
            site: req.site.clone(),
            role: token.role.clone(),
            region: token.region.clone(),
            prefixes: req.prefixes.clone(),
            site_key: req.site_key,
            wg_key: req.wg_key,
            not_before: now_unix,
            not_after: now_unix.saturating_add(self.lifetime),
            learn_ranges: req.learn_ranges.clone(),
        };
        Ok(self.issue(body))
    }

    /// The checks of an enrolment request that need no ledger: the token
    /// is this CA's and not expired, the request is fresh and signed by the
    /// key it names. A controller runs them before it hands the request to
    /// the leader, so only holders of a valid token cost a store write.
    pub fn precheck_request(&self, now_unix: u64, req: &EnrolRequest) -> Result<(), EnrolError> {
        let token = &req.token.body;
        req.token.verify(&self.ca.public())?;
        if now_unix >= token.expires_at {
            return Err(EnrolError::TokenExpired { at: token.expires_at, now: now_unix });
        }
        check_fresh(req.timestamp, now_unix)?;
        if !req.proves_possession() {
            return Err(EnrolError::NoProofOfPossession);
        }
        Ok(())
    }

    /// The checks of a renewal that need no ledger: the certificate is this
    /// CA's, within its renewal window, and the request is fresh and signed
    /// by its site key.
    pub fn precheck_renewal(&self, now_unix: u64, req: &RenewRequest) -> Result<(), EnrolError> {
        req.cert.check_signature(&self.ca.public())?;
        Self::renewal_in_window(now_unix, req)
    }

    /// A renewal's checks of time and possession: within the certificate's
    /// renewal window, fresh, signed by its site key.
    fn renewal_in_window(now_unix: u64, req: &RenewRequest) -> Result<(), EnrolError> {
        let old = &req.cert.body;
        if now_unix < old.not_before {
            return Err(CertError::NotYetValid { not_before: old.not_before, now: now_unix }.into());
        }
        if now_unix >= old.not_after.saturating_add(RENEWAL_GRACE_SECS) {
            return Err(EnrolError::RenewalTooLate { not_after: old.not_after });
        }
        check_fresh(req.timestamp, now_unix)?;
        if !req.proves_possession() {
            return Err(EnrolError::NoProofOfPossession);
        }
        Ok(())
    }

    /// Renews a certificate for the key it names: same site, role, region,
    /// prefixes and learn ranges, a fresh serial and validity, the WireGuard
    /// key asked for.
    pub fn handle_renewal(
        &mut self,
        now_unix: u64,
        req: &RenewRequest,
    ) -> Result<EnrolResponse, EnrolError> {
        let old = &req.cert.body;
        req.cert.check_signature(&self.ca.public())?;
        if self.state.revocations.is_site_revoked(&old.site) {
            return Err(EnrolError::Revoked { site: old.site.clone() });
        }
        if self.state.revocations.is_revoked(&req.cert) {
            return Err(CertError::Revoked { site: old.site.clone(), serial: old.serial }.into());
        }
        Self::renewal_in_window(now_unix, req)?;
        match self.state.sites.get(&old.site) {
            None => return Err(EnrolError::UnknownSite { site: old.site.clone() }),
            Some(rec) if rec.site_key != old.site_key => {
                return Err(EnrolError::KeyMismatch { site: old.site.clone() });
            }
            Some(_) => {}
        }
        let body = CertBody {
            serial: 0,
            wg_key: req.wg_key,
            not_before: now_unix,
            not_after: now_unix.saturating_add(self.lifetime),
            ..old.clone()
        };
        Ok(self.issue(body))
    }

    /// Refuses prefixes overlapping those of another enrolled, unrevoked site.
    fn check_prefixes_free(&self, site: &SiteId, wanted: &PrefixList) -> Result<(), EnrolError> {
        let revocations = &self.state.revocations;
        for (other, rec) in &self.state.sites {
            if other == site || revocations.is_site_revoked(other) {
                continue;
            }
            for p in wanted {
                if let Some(taken) = rec.prefixes.iter().find(|t| t.overlaps(p)) {
                    return Err(EnrolError::PrefixTaken {
                        prefix: *p,
                        taken: *taken,
                        site: other.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Issues the CA holder's own certificate, without a token: the agent
    /// that holds the CA calls this at start (and whenever it has none). The
    /// site is recorded like an enrolled one, so it renews through
    /// [`Enroller::handle_renewal`] like any other.
    pub fn issue_self(
        &mut self,
        now_unix: u64,
        claims: SelfClaims,
    ) -> Result<SiteCert, EnrolError> {
        if self.state.revocations.is_site_revoked(&claims.site) {
            return Err(EnrolError::Revoked { site: claims.site });
        }
        if let Some(rec) = self.state.sites.get(&claims.site)
            && rec.site_key != claims.site_key
        {
            return Err(EnrolError::KeyMismatch { site: claims.site });
        }
        self.check_prefixes_free(&claims.site, &claims.prefixes)?;
        let body = CertBody {
            serial: 0,
            site: claims.site,
            role: claims.role,
            region: claims.region,
            prefixes: claims.prefixes,
            site_key: claims.site_key,
            wg_key: claims.wg_key,
            not_before: now_unix,
            not_after: now_unix.saturating_add(self.lifetime),
            learn_ranges: claims.learn_ranges,
        };
        Ok(self.issue(body).cert)
    }

    fn issue(&mut self, mut body: CertBody) -> EnrolResponse {
        body.serial = self.state.next_serial;
        self.state.next_serial += 1;
        self.state.sites.insert(
            body.site.clone(),
            SiteRecord {
                site_key: body.site_key,
                last_serial: body.serial,
                prefixes: body.prefixes.clone(),
            },
        );
        let cert: SiteCert = self.ca.issue_cert(body);
        EnrolResponse { ca: self.ca.public(), cert }
    }

    /// Revokes a site for good and returns the signed list to gossip.
    pub fn revoke_site(&mut self, site: SiteId) -> Result<SignedRevocations, RevocationError> {
        self.state.revocations.revoke_site(site)?;
        Ok(self.signed_revocations())
    }

    /// Revokes one certificate and returns the signed list to gossip.
    pub fn revoke_serial(&mut self, serial: u64) -> Result<SignedRevocations, RevocationError> {
        self.state.revocations.revoke_serial(serial)?;
        Ok(self.signed_revocations())
    }

    /// The current revocation list, signed.
    pub fn signed_revocations(&self) -> SignedRevocations {
        self.ca.sign_revocations(&self.state.revocations)
    }
}

fn check_fresh(timestamp: u64, now: u64) -> Result<(), EnrolError> {
    if timestamp.abs_diff(now) > MAX_CLOCK_SKEW_SECS {
        return Err(EnrolError::StaleRequest { timestamp, now });
    }
    Ok(())
}
