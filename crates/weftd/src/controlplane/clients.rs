//! Mesh-wide registration of connection profiles' clients in the control
//! store (`/weft/profiles/clients`): one `weft profile export NAME --sites
//! a,b` at a controller registers the client once, and every site it names
//! serves it.
//!
//! The leader keeps one record of every client registered this way (its
//! public key, its overlay address, the sites it may use), refusing a name
//! that another key holds, a key another name holds and an address another
//! client holds; then publishes the record (`BundleKind::Clients`, signed by
//! the mesh CA, `seq` = its store revision) to every site. Each site
//! follows it ([`super::doc_follow`]) and registers the clients that name
//! it in its own store, as if exported against its own agent
//! (`api::profiles::sync_mesh_clients`), and forgets those it holds that
//! the record no longer names it for (`api::profiles_follow`).
//! Revocation is the mesh's signed revocation list, as for any client: a
//! revoked name is never served again, whatever the record says.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use weft_control::CallError;
use weft_etcd::Kv;

use super::PlaneRefusal;
use super::records::{AuditEntry, Planned, PolicyRequest};

/// The record's key.
pub(crate) const DOC: &str = "/weft/profiles/clients";

/// One client registered mesh-wide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MeshClient {
    /// Its WireGuard public key, base64.
    pub(crate) public_key: String,
    /// Its overlay address, `A.B.C.D/32` (the same at every site).
    pub(crate) address: String,
    /// The sites that serve it.
    pub(crate) sites: Vec<String>,
    /// Who registered it, and when.
    pub(crate) actor: String,
    pub(crate) at_unix_ms: i64,
}

/// The stored record, also what every site gets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ClientsDoc {
    /// By client name.
    pub(crate) clients: BTreeMap<String, MeshClient>,
}

/// A change of the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum ClientsAsk {
    /// Register `name` (checked by the controller that took it), or change
    /// the sites of a client registered before with the same key.
    Register { name: String, public_key: String, address: String, sites: Vec<String> },
}

impl ClientsAsk {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Register { .. } => "profile_register",
        }
    }
}

/// The leader's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ClientsResult {
    /// The client as registered (its address may be the one it had).
    pub(crate) client: Option<MeshClient>,
    /// Why not (`code`, message), when refused.
    pub(crate) refused: Option<(String, String)>,
    pub(crate) epoch: u64,
}

/// The record in `kv` (none stored: empty).
pub(crate) fn decode(kv: Option<&Kv>) -> Result<(ClientsDoc, u64), String> {
    match kv {
        None => Ok((ClientsDoc::default(), 0)),
        Some(kv) => serde_json::from_str(&kv.value)
            .map(|d| (d, kv.mod_revision))
            .map_err(|e| format!("the stored client record is unreadable: {e}")),
    }
}

fn refuse(epoch: u64, code: &str, why: String) -> Planned {
    let r = ClientsResult { client: None, refused: Some((code.to_owned(), why)), epoch };
    Planned::answer(super::leader::json(&r))
}

/// The leader's writes for `ask`; `None` when the store could not be read.
pub(crate) fn plan(
    req: &PolicyRequest,
    ask: &ClientsAsk,
    epoch: u64,
    now_unix_ms: i64,
    read: &mut dyn FnMut(&str) -> Result<Option<Kv>, CallError>,
) -> Option<Planned> {
    let kv = read(DOC).ok()?;
    let (mut doc, rev) = match decode(kv.as_ref()) {
        Ok(d) => d,
        Err(why) => return Some(refuse(epoch, "internal", why)),
    };
    let ClientsAsk::Register { name, public_key, address, sites } = ask;
    if let Err(e) = weft_types::SiteId::new(name) {
        return Some(refuse(epoch, "invalid_profile", format!("name {name:?}: {e}")));
    }
    if sites.is_empty() {
        return Some(refuse(epoch, "invalid_profile", "sites: at least one".into()));
    }
    for s in sites {
        if let Err(e) = weft_types::SiteId::new(s) {
            return Some(refuse(epoch, "invalid_profile", format!("site {s:?}: {e}")));
        }
    }
    let mut address = address.clone();
    for (other, c) in &doc.clients {
        if other == name {
            if c.public_key != *public_key {
                return Some(refuse(
                    epoch,
                    "conflict",
                    format!("client {name} is registered mesh-wide with another key"),
                ));
            }
            // The same client again: it keeps its address.
            address.clone_from(&c.address);
        } else if c.public_key == *public_key {
            return Some(refuse(epoch, "conflict", format!("public_key is client {other}'s")));
        } else if c.address == address {
            return Some(refuse(
                epoch,
                "conflict",
                format!("address {address} is client {other}'s"),
            ));
        }
    }
    let client = MeshClient {
        public_key: public_key.clone(),
        address,
        sites: sites.clone(),
        actor: req.actor.clone(),
        at_unix_ms: now_unix_ms,
    };
    if doc.clients.get(name).is_some_and(|c| c.sites == client.sites) {
        let r = ClientsResult { client: doc.clients.get(name).cloned(), refused: None, epoch };
        return Some(Planned::answer(super::leader::json(&r)));
    }
    doc.clients.insert(name.clone(), client.clone());
    let audit = AuditEntry {
        request: req.id.clone(),
        actor: req.actor.clone(),
        action: format!(
            "profile.mesh.register {name} {} sites {}",
            client.address,
            sites.join(",")
        ),
        before: rev,
        after: 0,
        epoch,
        at_unix_ms: now_unix_ms,
    };
    let result = ClientsResult { client: Some(client), refused: None, epoch };
    Some(Planned::answer(super::leader::json(&result)).with_doc(
        DOC,
        rev,
        super::leader::json(&doc),
        &audit,
        now_unix_ms,
    ))
}

/// The publication of the record in `kv`.
pub(crate) fn publication(epoch: u64, kv: &Kv) -> Option<super::Publication> {
    let (doc, _) = decode(Some(kv)).ok()?;
    Some(super::Publication {
        kind: weft_mesh::identity::BundleKind::Clients,
        epoch,
        seq: kv.mod_revision,
        stable: (kv.mod_revision, super::leader::json(&doc)),
        canary: None,
    })
}

/// A request's answer from the leader's result record.
pub(crate) fn answer_of(kv: &Kv) -> Result<MeshClient, PlaneRefusal> {
    let r: ClientsResult = serde_json::from_str(&kv.value)
        .map_err(|e| PlaneRefusal::new(500, "internal", format!("the result record: {e}")))?;
    match (r.refused, r.client) {
        (Some((code, message)), _) => {
            let status = match code.as_str() {
                "invalid_profile" => 422,
                "conflict" => 409,
                _ => 500,
            };
            Err(PlaneRefusal::new(status, &code, message))
        }
        (None, Some(c)) => Ok(c),
        (None, None) => Err(PlaneRefusal::new(500, "internal", "the answer names no client")),
    }
}

#[cfg(test)]
#[path = "clients_tests.rs"]
mod tests;
