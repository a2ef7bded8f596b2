//! What the controllers keep in their store, as JSON under `/weft/`, and
//! the pure step from the current policy record and a request to the next.
//!
//! | key | value |
//! |---|---|
//! | `/weft/control/leader` | the leader's id, on its lease (the election) |
//! | `/weft/policy/current` | [`PolicyRecord`]: what every site should run; its mod revision is the publication's `seq` |
//! | `/weft/policy/versions/NNNNNNNNNN` | [`PolicyVersion`]: every version applied |
//! | `/weft/requests/ID` | [`PolicyRequest`]: queued by any controller, taken by the leader |
//! | `/weft/results/ID` | [`PolicyResult`]: the leader's answer; its existence makes the request done |
//! | `/weft/status/SITE` | [`SiteAck`]: what the site acknowledged last |
//! | `/weft/audit/UNIXMS-ID` | [`AuditEntry`]: who changed what |
//! | `/weft/enroller` | the enrolment ledger (`EnrollerState`): token uses, enrolled sites, revocations |
//! | `/weft/registry/...` | sites, services and relay flags (see [`super::registry`]) |
//! | `/weft/gtm/doc` | the GTM document: global services and traffic shifts (see [`super::gtm`]) |
//! | `/weft/zt/identity` | mesh-wide workload identity state: trust domain, roots, intermediate serial, grants, revoked SPIFFE IDs (see [`super::identity`]) |
//! | `/weft/zt/ca` | the identity CA: root and intermediate with its key, never published (see [`super::identity_ca`]) |

use serde::{Deserialize, Serialize};

/// The election's key.
pub(crate) const LEADER_KEY: &str = "/weft/control/leader";
/// The current policy record.
pub(crate) const CURRENT: &str = "/weft/policy/current";
/// Requests waiting for the leader.
pub(crate) const REQUESTS: &str = "/weft/requests/";
/// Sites' acknowledgements.
pub(crate) const STATUS: &str = "/weft/status/";

pub(crate) fn version_key(v: u64) -> String {
    format!("/weft/policy/versions/{v:010}")
}

pub(crate) fn request_key(id: &str) -> String {
    format!("{REQUESTS}{id}")
}

pub(crate) fn result_key(id: &str) -> String {
    format!("/weft/results/{id}")
}

pub(crate) fn status_key(site: &str) -> String {
    format!("{STATUS}{site}")
}

pub(crate) fn audit_key(at_unix_ms: i64, id: &str) -> String {
    format!("/weft/audit/{at_unix_ms:013}-{id}")
}

/// A version on trial at some sites.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Canary {
    pub(crate) version: u64,
    pub(crate) name: String,
    pub(crate) text: String,
    pub(crate) sites: Vec<String>,
}

/// What every site should run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PolicyRecord {
    /// The version every site outside the canary runs.
    pub(crate) version: u64,
    pub(crate) name: String,
    pub(crate) text: String,
    /// The version before it (the default rollback target; 0: none).
    pub(crate) previous: u64,
    /// The newest version stored.
    pub(crate) latest: u64,
    pub(crate) canary: Option<Canary>,
    pub(crate) actor: String,
    pub(crate) at_unix_ms: i64,
}

/// One applied version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PolicyVersion {
    pub(crate) version: u64,
    pub(crate) name: String,
    pub(crate) text: String,
    pub(crate) actor: String,
    pub(crate) at_unix_ms: i64,
}

/// What a request asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum Ask {
    /// A new version (checked by the controller that took the request), to
    /// `canary` sites first when not empty.
    Apply { name: String, text: String, canary: Vec<String> },
    /// Back to `to` (default: the version before the current one); during a
    /// canary, ends it with every site on the stable version.
    Rollback { to: Option<u64> },
    /// Every site to the canary's version.
    Promote,
    /// A change of the registry (see `registry`).
    Registry(super::registry::RegistryAsk),
    /// An enrolment or renewal request frame a controller received
    /// (base64), answered from the ledger in the store (see `enrol`).
    Enrol { request: String },
    /// Revoke a site in the store's ledger (see `enrol`).
    Revoke { site: String },
    /// Apply a pending shard plan (see `shards`).
    ApprovePlan { plan: String },
    /// A global traffic management change (see `gtm`).
    Gtm(super::gtm::GtmAsk),
    /// A change of the mesh-wide workload identity state (see `identity`).
    Identity(super::identity::IdentityAsk),
    /// A change of the mesh-wide reservation ledger (see `te`).
    Reservation(super::te::ReservationAsk),
    /// A change of the mesh-wide client record (see `clients`).
    Profile(super::clients::ClientsAsk),
}

impl Ask {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Apply { .. } => "apply",
            Self::Rollback { .. } => "rollback",
            Self::Promote => "promote",
            Self::Registry(r) => r.kind(),
            Self::Enrol { .. } => "enrol",
            Self::Revoke { .. } => "revoke",
            Self::ApprovePlan { .. } => "approve_plan",
            Self::Gtm(g) => g.kind(),
            Self::Identity(i) => i.kind(),
            Self::Reservation(r) => r.kind(),
            Self::Profile(p) => p.kind(),
        }
    }
}

/// A queued request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PolicyRequest {
    pub(crate) id: String,
    pub(crate) ask: Ask,
    pub(crate) actor: String,
    pub(crate) at_unix_ms: i64,
}

/// The leader's answer to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PolicyResult {
    pub(crate) kind: String,
    /// `None` when applied; else why not (`code`, message).
    pub(crate) refused: Option<(String, String)>,
    pub(crate) version: u64,
    pub(crate) canary: Option<(u64, Vec<String>)>,
    pub(crate) epoch: u64,
}

/// A site's last acknowledgement, as the leader recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SiteAck {
    pub(crate) site: String,
    pub(crate) version: u64,
    pub(crate) epoch: u64,
    pub(crate) seq: u64,
    pub(crate) error: Option<String>,
    pub(crate) at_unix_ms: i64,
}

/// An audit record of a control-plane change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AuditEntry {
    pub(crate) request: String,
    pub(crate) actor: String,
    pub(crate) action: String,
    pub(crate) before: u64,
    pub(crate) after: u64,
    pub(crate) epoch: u64,
    pub(crate) at_unix_ms: i64,
}

/// What the leader writes for a request, in one fenced transaction with
/// its result (and the deletion of the request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Planned {
    /// Conditions beyond the fence and "not answered yet".
    pub(crate) compares: Vec<weft_etcd::Compare>,
    /// Writes beyond the result.
    pub(crate) puts: Vec<(String, String)>,
    /// Deletions beyond the request's.
    pub(crate) deletes: Vec<String>,
    /// The result record (JSON).
    pub(crate) result: String,
    /// The new policy record, to publish once written.
    pub(crate) published: Option<PolicyRecord>,
}

impl Planned {
    /// Only an answer (a refusal): nothing else is written.
    pub(crate) fn answer(result: String) -> Self {
        Self {
            compares: Vec::new(),
            puts: Vec::new(),
            deletes: Vec::new(),
            result,
            published: None,
        }
    }

    /// Also writes the one-record document `value` at `key`, conditional
    /// on the revision `rev` it was read at (0: it was absent), and `audit`
    /// at `now_unix_ms` under its request's id.
    pub(crate) fn with_doc(
        mut self,
        key: &str,
        rev: u64,
        value: String,
        audit: &AuditEntry,
        now_unix_ms: i64,
    ) -> Self {
        self.compares.push(if rev == 0 {
            weft_etcd::Compare::Missing(key.to_owned())
        } else {
            weft_etcd::Compare::ModRevision(key.to_owned(), rev)
        });
        self.puts.push((key.to_owned(), value));
        self.puts.push((audit_key(now_unix_ms, &audit.request), super::leader::json(audit)));
        self
    }
}

/// What the leader does with a policy request.
// One per request, consumed at once: not worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Write this record (and, for an apply, store the new version).
    Change { record: PolicyRecord, new_version: Option<PolicyVersion> },
    /// Refuse, with a code and a message.
    Refuse(&'static str, String),
    /// A rollback needs this stored version's text: read it and step again.
    NeedVersion(u64),
}

/// The next record after `req` on `current` (`None`: nothing published
/// yet). `stored` is the text and name of the version a rollback asked
/// for, once read.
pub(crate) fn step(
    current: Option<&PolicyRecord>,
    req: &PolicyRequest,
    stored: Option<&PolicyVersion>,
) -> Step {
    let at = req.at_unix_ms;
    let actor = req.actor.clone();
    match (&req.ask, current) {
        (Ask::Apply { name, text, canary }, cur) => {
            let version = cur.map_or(0, |c| c.latest) + 1;
            let new_version = Some(PolicyVersion {
                version,
                name: name.clone(),
                text: text.clone(),
                actor: actor.clone(),
                at_unix_ms: at,
            });
            let record = match cur {
                Some(c) if !canary.is_empty() => PolicyRecord {
                    canary: Some(Canary {
                        version,
                        name: name.clone(),
                        text: text.clone(),
                        sites: canary.clone(),
                    }),
                    latest: version,
                    actor,
                    at_unix_ms: at,
                    ..c.clone()
                },
                // A first policy goes everywhere: there is no stable one to keep.
                _ => PolicyRecord {
                    version,
                    name: name.clone(),
                    text: text.clone(),
                    previous: cur.map_or(0, |c| c.version),
                    latest: version,
                    canary: None,
                    actor,
                    at_unix_ms: at,
                },
            };
            Step::Change { record, new_version }
        }
        (
            Ask::Registry(_)
            | Ask::Enrol { .. }
            | Ask::Revoke { .. }
            | Ask::ApprovePlan { .. }
            | Ask::Gtm(_)
            | Ask::Identity(_)
            | Ask::Reservation(_)
            | Ask::Profile(_),
            _,
        ) => Step::Refuse("internal", "not a policy request".into()),
        (_, None) => Step::Refuse("no_policy", "no mesh-wide policy has been applied yet".into()),
        (Ask::Promote, Some(c)) => match &c.canary {
            None => Step::Refuse("no_canary", "no canary stage is open: nothing to promote".into()),
            Some(k) => Step::Change {
                record: PolicyRecord {
                    version: k.version,
                    name: k.name.clone(),
                    text: k.text.clone(),
                    previous: c.version,
                    latest: c.latest,
                    canary: None,
                    actor,
                    at_unix_ms: at,
                },
                new_version: None,
            },
        },
        (Ask::Rollback { to }, Some(c)) => {
            if c.canary.is_some() && to.is_none_or(|t| t == c.version) {
                return Step::Change {
                    record: PolicyRecord { canary: None, actor, at_unix_ms: at, ..c.clone() },
                    new_version: None,
                };
            }
            let target = to.unwrap_or(c.previous);
            if target == 0 {
                return Step::Refuse(
                    "no_earlier_version",
                    format!("version {} is the first mesh-wide policy", c.version),
                );
            }
            if target > c.latest {
                return Step::Refuse("not_found", format!("no mesh-wide policy version {target}"));
            }
            match stored {
                Some(v) if v.version == target => Step::Change {
                    record: PolicyRecord {
                        version: target,
                        name: v.name.clone(),
                        text: v.text.clone(),
                        previous: c.version,
                        latest: c.latest,
                        canary: None,
                        actor,
                        at_unix_ms: at,
                    },
                    new_version: None,
                },
                _ => Step::NeedVersion(target),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(ask: Ask) -> PolicyRequest {
        PolicyRequest { id: "r".into(), ask, actor: "ops".into(), at_unix_ms: 1 }
    }

    fn apply(text: &str, canary: &[&str]) -> PolicyRequest {
        req(Ask::Apply {
            name: text.into(),
            text: text.into(),
            canary: canary.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    fn changed(s: Step) -> PolicyRecord {
        match s {
            Step::Change { record, .. } => record,
            other => panic!("expected a change, got {other:?}"),
        }
    }

    #[test]
    fn applies_number_versions_and_a_canary_keeps_the_stable_one_for_the_rest() {
        let v1 = changed(step(None, &apply("one", &["a"]), None));
        assert_eq!((v1.version, v1.latest, v1.previous), (1, 1, 0));
        assert!(
            v1.canary.is_none(),
            "a first policy has no stable one to keep: it goes everywhere"
        );
        let v2 = changed(step(Some(&v1), &apply("two", &["a", "b"]), None));
        assert_eq!((v2.version, v2.text.as_str(), v2.latest), (1, "one", 2));
        assert_eq!(v2.canary.as_ref().map(|c| (c.version, c.sites.len())), Some((2, 2)));
        let promoted = changed(step(Some(&v2), &req(Ask::Promote), None));
        assert_eq!((promoted.version, promoted.text.as_str(), promoted.previous), (2, "two", 1));
        assert!(promoted.canary.is_none());
        assert!(matches!(
            step(Some(&promoted), &req(Ask::Promote), None),
            Step::Refuse("no_canary", _)
        ));
    }

    #[test]
    fn a_rollback_ends_a_canary_or_goes_back_to_a_stored_version() {
        let v1 = changed(step(None, &apply("one", &[]), None));
        let v2 = changed(step(Some(&v1), &apply("two", &["a"]), None));
        let back = changed(step(Some(&v2), &req(Ask::Rollback { to: None }), None));
        assert_eq!((back.version, back.canary.is_none(), back.latest), (1, true, 2));
        let v3 = changed(step(Some(&back), &apply("three", &[]), None));
        assert_eq!((v3.version, v3.previous), (3, 1));
        let r = req(Ask::Rollback { to: None });
        assert_eq!(step(Some(&v3), &r, None), Step::NeedVersion(1));
        let stored = PolicyVersion {
            version: 1,
            name: "one".into(),
            text: "one".into(),
            actor: "x".into(),
            at_unix_ms: 0,
        };
        let rolled = changed(step(Some(&v3), &r, Some(&stored)));
        assert_eq!((rolled.version, rolled.text.as_str(), rolled.previous), (1, "one", 3));
        assert!(matches!(
            step(Some(&v3), &req(Ask::Rollback { to: Some(9) }), None),
            Step::Refuse("not_found", _)
        ));
        assert!(matches!(
            step(Some(&v1), &req(Ask::Rollback { to: None }), None),
            Step::Refuse("no_earlier_version", _)
        ));
        assert!(matches!(step(None, &req(Ask::Promote), None), Step::Refuse("no_policy", _)));
    }
}
