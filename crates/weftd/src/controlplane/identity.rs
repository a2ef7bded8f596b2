//! Mesh-wide workload identity state in the store (`/weft/zt/identity`):
//! the SPIFFE IDs revoked across the mesh. A revocation made on a
//! controller is a request like any other: the leader adds the ID in one
//! fenced transaction with an audit record, then publishes the set
//! (`BundleKind::Identity`, signed by the mesh CA, `seq` = the record's
//! store revision) to every site, whose zero-trust proxies refuse it from
//! the next connection and whose Workload API stops serving it (see
//! [`super::identity_follow`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use weft_control::CallError;
use weft_etcd::{Compare, Kv};
use weft_identity::SpiffeId;

use super::PlaneRefusal;
use super::records::{self, AuditEntry, Planned, PolicyRequest};

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
}

/// What every site gets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Published {
    pub(crate) revoked: Vec<String>,
}

/// A change of the identity record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum IdentityAsk {
    /// Refuse `id` everywhere in the mesh.
    Revoke { id: String },
}

impl IdentityAsk {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Revoke { .. } => "identity_revoke",
        }
    }
}

/// The leader's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IdentityResult {
    pub(crate) id: String,
    /// Whether it was not revoked before.
    pub(crate) newly: bool,
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

/// The leader's writes for `ask`; `None` when the store could not be read.
pub(crate) fn plan(
    req: &PolicyRequest,
    ask: &IdentityAsk,
    epoch: u64,
    now_unix_ms: i64,
    read: &mut dyn FnMut(&str) -> Result<Option<Kv>, CallError>,
) -> Option<Planned> {
    let IdentityAsk::Revoke { id } = ask;
    let refuse = |code: &str, why: String| {
        let r = IdentityResult {
            id: id.clone(),
            newly: false,
            refused: Some((code.to_owned(), why)),
            epoch,
        };
        Some(Planned::answer(super::leader::json(&r)))
    };
    let id = match SpiffeId::parse(id) {
        Ok(id) => id.to_string(),
        Err(e) => return refuse("invalid_request", format!("id: {e}")),
    };
    let kv = read(DOC).ok()?;
    let (mut doc, rev) = match decode(kv.as_ref()) {
        Ok(d) => d,
        Err(why) => return refuse("internal", why),
    };
    if doc.revoked.contains_key(&id) {
        let r = IdentityResult { id, newly: false, refused: None, epoch };
        return Some(Planned::answer(super::leader::json(&r)));
    }
    let before = doc.revoked.len() as u64;
    doc.revoked.insert(id.clone(), Revoked { actor: req.actor.clone(), at_unix_ms: now_unix_ms });
    let audit = AuditEntry {
        request: req.id.clone(),
        actor: req.actor.clone(),
        action: format!("identity.revoke {id}"),
        before,
        after: doc.revoked.len() as u64,
        epoch,
        at_unix_ms: now_unix_ms,
    };
    let result = IdentityResult { id, newly: true, refused: None, epoch };
    let mut planned = Planned::answer(super::leader::json(&result));
    planned.compares.push(if rev == 0 {
        Compare::Missing(DOC.to_owned())
    } else {
        Compare::ModRevision(DOC.to_owned(), rev)
    });
    planned.puts.push((DOC.to_owned(), super::leader::json(&doc)));
    planned.puts.push((records::audit_key(now_unix_ms, &req.id), super::leader::json(&audit)));
    Some(planned)
}

/// The publication of the stored record.
pub(crate) fn publication(epoch: u64, kv: &Kv) -> Option<super::Publication> {
    let (doc, _) = decode(Some(kv)).ok()?;
    let published = Published { revoked: doc.revoked.into_keys().collect() };
    Some(super::Publication {
        kind: weft_mesh::identity::BundleKind::Identity,
        epoch,
        seq: kv.mod_revision,
        stable: (kv.mod_revision, super::leader::json(&published)),
        canary: None,
    })
}

/// A request's answer from the leader's result record: (id, newly).
pub(crate) fn answer_of(kv: &Kv) -> Result<(String, bool), PlaneRefusal> {
    let r: IdentityResult = serde_json::from_str(&kv.value)
        .map_err(|e| PlaneRefusal::new(500, "internal", format!("the result record: {e}")))?;
    match r.refused {
        Some((code, message)) => {
            let status = if code == "invalid_request" { 400 } else { 500 };
            Err(PlaneRefusal::new(status, &code, message))
        }
        None => Ok((r.id, r.newly)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controlplane::records::Ask;

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
        plan(&req(id), &ask, 7, 1000, &mut |_| Ok(kv.cloned())).unwrap()
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
