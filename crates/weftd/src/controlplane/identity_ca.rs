//! The control plane's CA for workload identities: the X.509 root (made
//! with the mesh CA's own key) and the intermediate that signs every SVID,
//! held in the control store (`/weft/zt/ca`, never published), and the
//! leader's answer to a site's SVID request.
//!
//! - `weft identity init --mesh` (`Ask::Identity(Init)`) makes the root and
//!   a first intermediate; `weft identity rotate --mesh` (`Rotate`) a new
//!   intermediate under the same root. Both write the CA record and the
//!   identity record (roots, intermediate serial; published to every site)
//!   in one fenced transaction with an audit record.
//! - A site asks for an SVID with a signed `SVID_REQUEST` naming its own
//!   public key; the leader checks that the site may hold the ID
//!   ([`authorize`]: a `svc/NAME` of a service the registry places at that
//!   site, or a grant) and that it is not revoked, signs a leaf for that
//!   key with the intermediate ([`answer`]), and sends it back in a bundle
//!   addressed to the site. The private key never leaves the site.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use weft_control::CallError;
use weft_etcd::{Compare, Kv};
use weft_identity::{Intermediate, Root, SpiffeId, TrustDomain, Validity};
use weft_mesh::identity::SvidRequest;

use super::identity::{IdentityDoc, Step};
use super::records::Planned;

/// The CA record's key.
pub(crate) const CA: &str = "/weft/zt/ca";
/// Lifetime of the root.
const ROOT_SECS: u64 = 10 * 365 * 86_400;
/// Lifetime of an intermediate.
const INTERMEDIATE_SECS: u64 = 30 * 86_400;
/// The longest SVID the leader signs, and the shortest.
pub(crate) const MAX_SVID_SECS: u64 = 86_400;
const MIN_SVID_SECS: u64 = 10;

/// What the store holds (base64 DER and seed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredCa {
    pub(crate) trust_domain: String,
    pub(crate) root: String,
    pub(crate) intermediate: String,
    pub(crate) seed: String,
    pub(crate) serial: u64,
    pub(crate) validity: Validity,
}

impl StoredCa {
    /// The intermediate, ready to sign.
    pub(crate) fn intermediate(&self) -> Result<Intermediate, String> {
        let td = TrustDomain::parse(&self.trust_domain).map_err(|e| e.to_string())?;
        let der = B64.decode(&self.intermediate).map_err(|e| e.to_string())?;
        let seed: [u8; 32] = B64
            .decode(&self.seed)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or("the stored intermediate key is not 32 bytes of base64")?;
        Intermediate::restore(der, &seed, &td, self.serial, self.validity)
            .map_err(|e| e.to_string())
    }
}

/// The CA record in `kv`, if any.
pub(crate) fn decode(kv: Option<&Kv>) -> Result<Option<(StoredCa, u64)>, String> {
    kv.map(|kv| {
        serde_json::from_str(&kv.value)
            .map(|c| (c, kv.mod_revision))
            .map_err(|e| format!("the stored identity CA is unreadable: {e}"))
    })
    .transpose()
}

fn random() -> Result<([u8; 32], u64), String> {
    let seed = weft_layout::mesh::random_seed().map_err(|e| e.to_string())?;
    let serial = weft_layout::zt::random_serial().map_err(|e| e.to_string())?;
    Ok((seed, serial))
}

/// A new intermediate under `root` (made from the mesh CA's seed).
fn new_intermediate(
    ca_seed: &[u8; 32],
    td: &TrustDomain,
    root_der: &str,
    now: u64,
) -> Result<StoredCa, String> {
    let root =
        Root::new(ca_seed, td, 1, Validity::starting(now, ROOT_SECS)).map_err(|e| e.to_string())?;
    let (seed, serial) = random()?;
    let v = Validity::starting(now, INTERMEDIATE_SECS);
    let inter = root.intermediate(&seed, td, serial, v).map_err(|e| e.to_string())?;
    Ok(StoredCa {
        trust_domain: td.to_string(),
        root: root_der.to_owned(),
        intermediate: B64.encode(inter.der()),
        seed: B64.encode(seed),
        serial,
        validity: v,
    })
}

fn write_ca(planned: &mut Planned, ca: &StoredCa, rev: u64) {
    planned.compares.push(if rev == 0 {
        Compare::Missing(CA.to_owned())
    } else {
        Compare::ModRevision(CA.to_owned(), rev)
    });
    planned.puts.push((CA.to_owned(), super::leader::json(ca)));
}

fn no_seed(step: &Step<'_>, id: &str) -> Planned {
    step.refuse(id, "not_ca_holder", "the leader holds no mesh CA key (mesh/ca.key)".into())
}

/// The leader's writes for an init: the root and first intermediate, or
/// nothing when the CA exists for the same trust domain.
pub(crate) fn plan_init(
    step: &Step<'_>,
    mut doc: IdentityDoc,
    rev: u64,
    trust_domain: &str,
    ca_seed: Option<&[u8; 32]>,
    read: &mut dyn FnMut(&str) -> Result<Option<Kv>, CallError>,
) -> Option<Planned> {
    let td = match TrustDomain::parse(trust_domain) {
        Ok(td) => td,
        Err(e) => return Some(step.refuse(trust_domain, "invalid_request", e.to_string())),
    };
    let existing = match decode(read(CA).ok()?.as_ref()) {
        Ok(c) => c,
        Err(why) => return Some(step.refuse(trust_domain, "internal", why)),
    };
    if let Some((ca, _)) = existing {
        if ca.trust_domain == td.as_str() {
            return Some(step.unchanged(td.as_str(), ca.serial));
        }
        let why = format!("the control plane's trust domain is {} already", ca.trust_domain);
        return Some(step.refuse(td.as_str(), "conflict", why));
    }
    let Some(ca_seed) = ca_seed else { return Some(no_seed(step, td.as_str())) };
    let now = u64::try_from(step.now_unix_ms / 1000).unwrap_or(0);
    let made = Root::new(ca_seed, &td, 1, Validity::starting(now, ROOT_SECS))
        .map_err(|e| e.to_string())
        .and_then(|root| new_intermediate(ca_seed, &td, &B64.encode(root.der()), now));
    let ca = match made {
        Ok(ca) => ca,
        Err(why) => return Some(step.refuse(td.as_str(), "internal", why)),
    };
    doc.trust_domain = Some(td.to_string());
    doc.roots = vec![ca.root.clone()];
    doc.intermediate_serial = ca.serial;
    let action = format!("identity.init {td} intermediate {:016x}", ca.serial);
    let mut planned = step.write(&doc, rev, td.as_str(), action);
    write_ca(&mut planned, &ca, 0);
    Some(planned)
}

/// The leader's writes for a rotation: a new intermediate, same root.
pub(crate) fn plan_rotate(
    step: &Step<'_>,
    mut doc: IdentityDoc,
    rev: u64,
    ca_seed: Option<&[u8; 32]>,
    read: &mut dyn FnMut(&str) -> Result<Option<Kv>, CallError>,
) -> Option<Planned> {
    let (ca, ca_rev) = match decode(read(CA).ok()?.as_ref()) {
        Ok(Some(c)) => c,
        Ok(None) => {
            let why = "the control plane has no identity CA yet: `weft identity init --mesh`";
            return Some(step.refuse("", "no_ca", why.into()));
        }
        Err(why) => return Some(step.refuse("", "internal", why)),
    };
    let Some(ca_seed) = ca_seed else { return Some(no_seed(step, &ca.trust_domain)) };
    let td = match TrustDomain::parse(&ca.trust_domain) {
        Ok(td) => td,
        Err(e) => return Some(step.refuse("", "internal", e.to_string())),
    };
    let now = u64::try_from(step.now_unix_ms / 1000).unwrap_or(0);
    let next = match new_intermediate(ca_seed, &td, &ca.root, now) {
        Ok(n) => n,
        Err(why) => return Some(step.refuse(td.as_str(), "internal", why)),
    };
    let action = format!("identity.rotate {:016x} -> {:016x}", ca.serial, next.serial);
    doc.intermediate_serial = next.serial;
    let mut planned = step.write(&doc, rev, td.as_str(), action);
    write_ca(&mut planned, &next, ca_rev);
    Some(planned)
}

/// Whether the intermediate of `ca` has lived two thirds of its life at
/// `now` (Unix seconds): the leader then replaces it.
pub(crate) fn due_for_renewal(ca: &StoredCa, now: u64) -> bool {
    let v = ca.validity;
    let life = v.not_after.saturating_sub(v.not_before);
    now >= v.not_before + life / 3 * 2
}

/// Whether `site` may hold `id`: in the trust domain, not revoked, and a
/// `svc/NAME` whose registry entry is at `site` (`service_site`: where the
/// registry places NAME) or matched by one of the site's grants.
pub(crate) fn authorize(
    doc: &IdentityDoc,
    td: &str,
    site: &str,
    id: &SpiffeId,
    service_site: Option<&str>,
) -> Result<(), String> {
    if id.trust_domain().as_str() != td {
        return Err(format!("{id} is not in the trust domain {td}"));
    }
    let text = id.to_string();
    if doc.revoked.contains_key(&text) {
        return Err(format!("{id} is revoked"));
    }
    let registered = service_name(id).is_some() && service_site == Some(site);
    let granted =
        doc.grants.get(site).is_some_and(|g| g.iter().any(|p| super::identity::matches(p, &text)));
    if registered || granted {
        Ok(())
    } else {
        Err(format!(
            "site {site} may not hold {id}: neither a service the registry places at it nor a grant (`weft identity grant {site} {id}`)"
        ))
    }
}

/// NAME when `id` is `spiffe://TD/svc/NAME`.
pub(crate) fn service_name(id: &SpiffeId) -> Option<&str> {
    id.path().strip_prefix("/svc/").filter(|n| !n.is_empty() && !n.contains('/'))
}

/// The leader's answer to an SVID request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SvidAnswer {
    /// The request's nonce, hex.
    pub(crate) nonce: String,
    pub(crate) id: String,
    /// Leaf then intermediate, DER in base64 (empty when refused).
    pub(crate) chain: Vec<String>,
    pub(crate) serial: u64,
    pub(crate) validity: Option<Validity>,
    pub(crate) refused: Option<String>,
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = std::fmt::Write::write_fmt(&mut s, format_args!("{b:02x}"));
        s
    })
}

/// Signs (or refuses) `request` with the stored CA, as of `now` (Unix
/// seconds). `service_site`: where the registry places the service the ID
/// names, if it names one.
pub(crate) fn answer(
    ca: Option<&StoredCa>,
    doc: &IdentityDoc,
    request: &SvidRequest,
    service_site: Option<&str>,
    now: u64,
) -> SvidAnswer {
    let refused = |why: String| SvidAnswer {
        nonce: hex(&request.nonce),
        id: request.id.clone(),
        chain: Vec::new(),
        serial: 0,
        validity: None,
        refused: Some(why),
    };
    let Some(ca) = ca else {
        return refused(
            "the control plane has no identity CA yet (`weft identity init --mesh`)".into(),
        );
    };
    let id = match SpiffeId::parse(&request.id) {
        Ok(id) => id,
        Err(e) => return refused(format!("{:?} is not a SPIFFE ID: {e}", request.id)),
    };
    if let Err(why) = authorize(doc, &ca.trust_domain, request.site.as_str(), &id, service_site) {
        return refused(why);
    }
    let inter = match ca.intermediate() {
        Ok(i) => i,
        Err(why) => return refused(format!("the stored intermediate: {why}")),
    };
    let ttl = u64::from(request.ttl_secs).clamp(MIN_SVID_SECS, MAX_SVID_SECS);
    let serial = match weft_layout::zt::random_serial() {
        Ok(s) => s,
        Err(e) => return refused(e.to_string()),
    };
    match inter.issue_for_key(&id, &request.public_key, serial, Validity::starting(now, ttl)) {
        Ok((leaf, validity)) => SvidAnswer {
            nonce: hex(&request.nonce),
            id: id.to_string(),
            chain: vec![B64.encode(leaf), B64.encode(inter.der())],
            serial,
            validity: Some(validity),
            refused: None,
        },
        Err(e) => refused(e.to_string()),
    }
}

#[cfg(test)]
mod tests;
