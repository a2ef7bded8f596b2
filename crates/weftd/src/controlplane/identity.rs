//! Mesh-wide workload identity state in the store (`/weft/zt/identity`):
//! the trust domain and its roots, the serial of the intermediate that
//! signs SVIDs, the sites' grants and the SPIFFE IDs revoked across the
//! mesh. Every change is a request like any other: the leader makes it in
//! one fenced transaction with an audit record, then publishes the
//! record's public half (`BundleKind::Identity`, signed by the mesh CA,
//! `seq` = the record's store revision) to every site, whose zero-trust
//! proxies refuse revoked IDs from the next connection, trust the roots,
//! and re-ask for their SVIDs when the intermediate changes (see
//! [`super::identity_follow`]). The intermediate itself (its key) stays in
//! the store ([`super::identity_ca`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use weft_control::CallError;
use weft_etcd::Kv;
use weft_identity::SpiffeId;

use super::PlaneRefusal;
use super::records::{AuditEntry, Planned, PolicyRequest};

/// The record's key.
pub(crate) const DOC: &str = "/weft/zt/identity";

/// Why and when an ID was revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Revoked {
    pub(crate) actor: String,
    pub(crate) at_unix_ms: i64,
}

/// The stored record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IdentityDoc {
    /// Revoked SPIFFE IDs.
    pub(crate) revoked: BTreeMap<String, Revoked>,
    /// The trust domain, once the control plane's CA was made.
    #[serde(default)]
    pub(crate) trust_domain: Option<String>,
    /// The trust bundle: root certificates, DER in base64.
    #[serde(default)]
    pub(crate) roots: Vec<String>,
    /// Serial of the intermediate that signs SVIDs now (0: none).
    #[serde(default)]
    pub(crate) intermediate_serial: u64,
    /// Per site: the SPIFFE IDs (exact, or `PREFIX/*`) it may hold beyond
    /// `svc/NAME` of the services the registry places at it.
    #[serde(default)]
    pub(crate) grants: BTreeMap<String, BTreeSet<String>>,
}

/// What every site gets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Published {
    pub(crate) revoked: Vec<String>,
    #[serde(default)]
    pub(crate) trust_domain: Option<String>,
    #[serde(default)]
    pub(crate) roots: Vec<String>,
    #[serde(default)]
    pub(crate) intermediate_serial: u64,
}

/// A change of the identity record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum IdentityAsk {
    /// Refuse `id` everywhere in the mesh.
    Revoke { id: String },
    /// Make the control plane's CA for `trust_domain`: a root from the mesh
    /// CA's key and a first intermediate (see `identity_ca`).
    Init { trust_domain: String },
    /// A new intermediate under the same root; sites re-ask for their SVIDs.
    Rotate,
    /// Let `site` hold `id` (exact, or `PREFIX/*`).
    Grant { site: String, id: String },
    /// Take a grant back (SVIDs already issued live out their time).
    Ungrant { site: String, id: String },
}

impl IdentityAsk {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Revoke { .. } => "identity_revoke",
            Self::Init { .. } => "identity_init",
            Self::Rotate => "identity_rotate",
            Self::Grant { .. } => "identity_grant",
            Self::Ungrant { .. } => "identity_ungrant",
        }
    }
}

/// The leader's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IdentityResult {
    /// The SPIFFE ID (or pattern, or trust domain) the request was about.
    pub(crate) id: String,
    /// Whether it changed anything.
    pub(crate) newly: bool,
    /// The intermediate's serial after an init or a rotation.
    #[serde(default)]
    pub(crate) intermediate_serial: u64,
    /// Why not (`code`, message), when refused.
    pub(crate) refused: Option<(String, String)>,
    pub(crate) epoch: u64,
}

/// The record in `kv` (none stored: empty).
pub(crate) fn decode(kv: Option<&Kv>) -> Result<(IdentityDoc, u64), String> {
    match kv {
        None => Ok((IdentityDoc::default(), 0)),
        Some(kv) => serde_json::from_str(&kv.value)
            .map(|d| (d, kv.mod_revision))
            .map_err(|e| format!("the stored identity record is unreadable: {e}")),
    }
}

/// The leader's writes for `ask`; `None` when the store could not be
/// read. `ca_seed` is the mesh CA's (what an init needs).
pub(crate) fn plan(
    req: &PolicyRequest,
    ask: &IdentityAsk,
    epoch: u64,
    now_unix_ms: i64,
    ca_seed: Option<&[u8; 32]>,
    read: &mut dyn FnMut(&str) -> Result<Option<Kv>, CallError>,
) -> Option<Planned> {
    let kv = read(DOC).ok()?;
    let step = Step { req, epoch, now_unix_ms };
    let (doc, rev) = match decode(kv.as_ref()) {
        Ok(d) => d,
        Err(why) => return Some(step.refuse("", "internal", why)),
    };
    match ask {
        IdentityAsk::Revoke { id } => Some(step.revoke(doc, rev, id)),
        IdentityAsk::Grant { site, id } => Some(step.grant(doc, rev, site, id, true)),
        IdentityAsk::Ungrant { site, id } => Some(step.grant(doc, rev, site, id, false)),
        IdentityAsk::Init { trust_domain } => {
            super::identity_ca::plan_init(&step, doc, rev, trust_domain, ca_seed, read)
        }
        IdentityAsk::Rotate => super::identity_ca::plan_rotate(&step, doc, rev, ca_seed, read),
    }
}

/// One request's context.
pub(crate) struct Step<'a> {
    pub(crate) req: &'a PolicyRequest,
    pub(crate) epoch: u64,
    pub(crate) now_unix_ms: i64,
}

impl Step<'_> {
    /// A refusal: only the answer is written.
    pub(crate) fn refuse(&self, id: &str, code: &str, why: String) -> Planned {
        let r = IdentityResult {
            id: id.to_owned(),
            newly: false,
            intermediate_serial: 0,
            refused: Some((code.to_owned(), why)),
            epoch: self.epoch,
        };
        Planned::answer(super::leader::json(&r))
    }

    /// The answer alone, when nothing changes.
    pub(crate) fn unchanged(&self, id: &str, serial: u64) -> Planned {
        let r = IdentityResult {
            id: id.to_owned(),
            newly: false,
            intermediate_serial: serial,
            refused: None,
            epoch: self.epoch,
        };
        Planned::answer(super::leader::json(&r))
    }

    /// `doc` written (over revision `rev`) with an audit record saying
    /// `action`, and the answer.
    pub(crate) fn write(&self, doc: &IdentityDoc, rev: u64, id: &str, action: String) -> Planned {
        let audit = AuditEntry {
            request: self.req.id.clone(),
            actor: self.req.actor.clone(),
            action,
            before: rev,
            after: 0,
            epoch: self.epoch,
            at_unix_ms: self.now_unix_ms,
        };
        let result = IdentityResult {
            id: id.to_owned(),
            newly: true,
            intermediate_serial: doc.intermediate_serial,
            refused: None,
            epoch: self.epoch,
        };
        Planned::answer(super::leader::json(&result)).with_doc(
            DOC,
            rev,
            super::leader::json(doc),
            &audit,
            self.now_unix_ms,
        )
    }

    fn revoke(&self, mut doc: IdentityDoc, rev: u64, id: &str) -> Planned {
        let id = match SpiffeId::parse(id) {
            Ok(id) => id.to_string(),
            Err(e) => return self.refuse(id, "invalid_request", format!("id: {e}")),
        };
        if doc.revoked.contains_key(&id) {
            return self.unchanged(&id, doc.intermediate_serial);
        }
        let entry = Revoked { actor: self.req.actor.clone(), at_unix_ms: self.now_unix_ms };
        doc.revoked.insert(id.clone(), entry);
        self.write(&doc, rev, &id, format!("identity.revoke {id}"))
    }

    fn grant(&self, mut doc: IdentityDoc, rev: u64, site: &str, id: &str, on: bool) -> Planned {
        if let Err(e) = weft_types::SiteId::new(site) {
            return self.refuse(id, "invalid_request", format!("site {site:?}: {e}"));
        }
        if let Err(why) = check_pattern(id) {
            return self.refuse(id, "invalid_request", why);
        }
        let set = doc.grants.entry(site.to_owned()).or_default();
        let changed = if on { set.insert(id.to_owned()) } else { set.remove(id) };
        if set.is_empty() {
            doc.grants.remove(site);
        }
        if !changed {
            return self.unchanged(id, doc.intermediate_serial);
        }
        let verb = if on { "grant" } else { "ungrant" };
        self.write(&doc, rev, id, format!("identity.{verb} {site} {id}"))
    }
}

/// Whether `pattern` is a SPIFFE ID or `SPIFFE-ID/*`.
pub(crate) fn check_pattern(pattern: &str) -> Result<(), String> {
    let id = pattern.strip_suffix("/*").unwrap_or(pattern);
    SpiffeId::parse(id).map(|_| ()).map_err(|e| format!("id {pattern:?}: {e}"))
}

/// Whether `id` matches a grant `pattern` (exact, or `PREFIX/*`: whole
/// segments under PREFIX).
pub(crate) fn matches(pattern: &str, id: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) if prefix.ends_with('/') => id.starts_with(prefix) && id.len() > prefix.len(),
        _ => pattern == id,
    }
}

/// The publication of the stored record.
pub(crate) fn publication(epoch: u64, kv: &Kv) -> Option<super::Publication> {
    let (doc, _) = decode(Some(kv)).ok()?;
    let published = Published {
        revoked: doc.revoked.into_keys().collect(),
        trust_domain: doc.trust_domain,
        roots: doc.roots,
        intermediate_serial: doc.intermediate_serial,
    };
    Some(super::Publication {
        kind: weft_mesh::identity::BundleKind::Identity,
        epoch,
        seq: kv.mod_revision,
        stable: (kv.mod_revision, super::leader::json(&published)),
        canary: None,
    })
}

/// A request's answer from the leader's result record.
pub(crate) fn answer_of(kv: &Kv) -> Result<IdentityResult, PlaneRefusal> {
    let r: IdentityResult = serde_json::from_str(&kv.value)
        .map_err(|e| PlaneRefusal::new(500, "internal", format!("the result record: {e}")))?;
    match r.refused {
        Some((code, message)) => {
            let status = match code.as_str() {
                "invalid_request" => 400,
                "conflict" | "no_ca" | "not_ca_holder" => 409,
                _ => 500,
            };
            Err(PlaneRefusal::new(status, &code, message))
        }
        None => Ok(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controlplane::records::Ask;
    use weft_etcd::Compare;

    fn req(id: &str) -> PolicyRequest {
        PolicyRequest {
            id: "r1".into(),
            ask: Ask::Identity(IdentityAsk::Revoke { id: id.into() }),
            actor: "op".into(),
            at_unix_ms: 1,
        }
    }

    fn stored(doc: &IdentityDoc, rev: u64) -> Kv {
        Kv {
            key: DOC.into(),
            value: serde_json::to_string(doc).unwrap(),
            mod_revision: rev,
            create_revision: 1,
        }
    }

    fn run(kv: Option<&Kv>, id: &str) -> Planned {
        let ask = IdentityAsk::Revoke { id: id.into() };
        plan(&req(id), &ask, 7, 1000, None, &mut |_| Ok(kv.cloned())).unwrap()
    }

    #[test]
    fn a_first_revocation_creates_the_record_under_a_missing_compare_with_an_audit() {
        let p = run(None, "spiffe://mesh.test/svc/web");
        assert_eq!(p.compares, vec![Compare::Missing(DOC.into())]);
        let (doc, _) =
            decode(Some(&Kv { value: p.puts[0].1.clone(), ..stored(&IdentityDoc::default(), 3) }))
                .unwrap();
        assert!(doc.revoked.contains_key("spiffe://mesh.test/svc/web"));
        assert!(p.puts[1].0.starts_with("/weft/audit/"));
        assert!(p.puts[1].1.contains("identity.revoke spiffe://mesh.test/svc/web"));
        let r: IdentityResult = serde_json::from_str(&p.result).unwrap();
        assert!(r.newly && r.refused.is_none() && r.epoch == 7);
    }

    #[test]
    fn revoking_again_writes_nothing_and_says_so() {
        let mut doc = IdentityDoc::default();
        doc.revoked.insert(
            "spiffe://mesh.test/svc/web".into(),
            Revoked { actor: "a".into(), at_unix_ms: 1 },
        );
        let p = run(Some(&stored(&doc, 9)), "spiffe://mesh.test/svc/web");
        assert!(p.puts.is_empty() && p.compares.is_empty());
        let r: IdentityResult = serde_json::from_str(&p.result).unwrap();
        assert!(!r.newly && r.refused.is_none());
    }

    #[test]
    fn a_second_id_is_added_under_the_records_revision_and_published_sorted() {
        let mut doc = IdentityDoc::default();
        doc.revoked.insert(
            "spiffe://mesh.test/svc/z".into(),
            Revoked { actor: "a".into(), at_unix_ms: 1 },
        );
        let p = run(Some(&stored(&doc, 9)), "spiffe://mesh.test/svc/a");
        assert_eq!(p.compares, vec![Compare::ModRevision(DOC.into(), 9)]);
        let kv = Kv { value: p.puts[0].1.clone(), ..stored(&doc, 12) };
        let publication = publication(4, &kv).unwrap();
        assert_eq!((publication.epoch, publication.seq), (4, 12));
        let sent: Published = serde_json::from_str(&publication.stable.1).unwrap();
        assert_eq!(sent.revoked, vec!["spiffe://mesh.test/svc/a", "spiffe://mesh.test/svc/z"]);
    }

    #[test]
    fn not_a_spiffe_id_is_refused_without_a_write() {
        let p = run(None, "https://mesh.test/svc/web");
        assert!(p.puts.is_empty());
        let r: IdentityResult = serde_json::from_str(&p.result).unwrap();
        assert_eq!(r.refused.unwrap().0, "invalid_request");
        let kv = Kv { value: p.result.clone(), ..stored(&IdentityDoc::default(), 2) };
        assert_eq!(answer_of(&kv).unwrap_err().status, 400);
    }
}
