use std::collections::BTreeMap;

use weft_etcd::Compare;
use weft_types::SiteId;

use super::*;
use crate::controlplane::identity::{IdentityAsk, IdentityResult, Published, plan, publication};
use crate::controlplane::records::{Ask, PolicyRequest};

const NOW_MS: i64 = 1_800_000_000_000;

/// A store of one map: plans against it, applies the puts.
struct Mem(BTreeMap<String, (String, u64)>, u64);

impl Mem {
    fn run(&mut self, ask: IdentityAsk, seed: Option<&[u8; 32]>) -> IdentityResult {
        let req = PolicyRequest {
            id: "r1".into(),
            ask: Ask::Identity(ask),
            actor: "op".into(),
            at_unix_ms: NOW_MS,
        };
        let Ask::Identity(ask) = &req.ask else { unreachable!() };
        let map = self.0.clone();
        let mut read = |k: &str| {
            Ok(map.get(k).map(|(v, rev)| Kv {
                key: k.to_owned(),
                value: v.clone(),
                create_revision: *rev,
                mod_revision: *rev,
            }))
        };
        let p = plan(&req, ask, 3, NOW_MS, seed, &mut read).unwrap();
        for c in &p.compares {
            match c {
                Compare::ModRevision(k, rev) => assert_eq!(self.0.get(k).map(|x| x.1), Some(*rev)),
                Compare::Missing(k) => assert!(!self.0.contains_key(k), "{k} exists"),
            }
        }
        self.1 += 1;
        for (k, v) in p.puts {
            self.0.insert(k, (v, self.1));
        }
        serde_json::from_str(&p.result).unwrap()
    }

    fn ca(&self) -> StoredCa {
        serde_json::from_str(&self.0[CA].0).unwrap()
    }

    fn doc(&self) -> IdentityDoc {
        serde_json::from_str(&self.0[super::super::identity::DOC].0).unwrap()
    }
}

fn init() -> IdentityAsk {
    IdentityAsk::Init { trust_domain: "mesh.test".into() }
}

#[test]
fn init_makes_the_root_and_an_intermediate_once_and_rotate_replaces_only_the_intermediate() {
    let mut m = Mem(BTreeMap::new(), 0);
    let r = m.run(init(), Some(&[1; 32]));
    assert!(r.newly && r.refused.is_none(), "{r:?}");
    let first = m.ca();
    assert_eq!(r.intermediate_serial, first.serial);
    assert_eq!(m.doc().roots, vec![first.root.clone()]);
    assert!(first.intermediate().is_ok());
    // Again with the same trust domain: nothing changes; another one: refused.
    let again = m.run(init(), Some(&[1; 32]));
    assert!(!again.newly && again.refused.is_none());
    let other = m.run(IdentityAsk::Init { trust_domain: "other.test".into() }, Some(&[1; 32]));
    assert_eq!(other.refused.unwrap().0, "conflict");
    assert_eq!(m.ca(), first);
    // A rotation: a new intermediate, the same root, published by serial.
    let r = m.run(IdentityAsk::Rotate, Some(&[1; 32]));
    assert!(r.newly, "{r:?}");
    let second = m.ca();
    assert_ne!(second.serial, first.serial);
    assert_ne!(second.intermediate, first.intermediate);
    assert_eq!(second.root, first.root);
    let doc_kv = Kv {
        key: super::super::identity::DOC.into(),
        value: m.0[super::super::identity::DOC].0.clone(),
        create_revision: 1,
        mod_revision: m.0[super::super::identity::DOC].1,
    };
    let sent: Published = serde_json::from_str(&publication(3, &doc_kv).unwrap().stable.1).unwrap();
    assert_eq!(sent.intermediate_serial, second.serial);
    assert_eq!(sent.trust_domain.as_deref(), Some("mesh.test"));
    assert!(!sent.roots.is_empty());
    assert!(!m.0[CA].0.contains("revoked"), "the CA record is a record of its own");
    assert!(
        !publication(3, &doc_kv).unwrap().stable.1.contains(&second.seed),
        "no key is published"
    );
}

#[test]
fn without_the_mesh_ca_key_or_a_ca_init_and_rotate_are_refused() {
    let mut m = Mem(BTreeMap::new(), 0);
    assert_eq!(m.run(init(), None).refused.unwrap().0, "not_ca_holder");
    assert_eq!(m.run(IdentityAsk::Rotate, Some(&[1; 32])).refused.unwrap().0, "no_ca");
    assert!(!m.0.contains_key(CA));
}

fn request(site: &str, id: &str) -> SvidRequest {
    SvidRequest {
        site: SiteId::new(site).unwrap(),
        id: id.into(),
        public_key: weft_identity::x509::ed25519_public(&[5; 32]).unwrap(),
        nonce: [9; 16],
        ttl_secs: 600,
        at: 1_800_000_000,
    }
}

#[test]
fn a_site_gets_its_registered_services_and_granted_ids_and_nothing_else() {
    let mut m = Mem(BTreeMap::new(), 0);
    m.run(init(), Some(&[1; 32]));
    m.run(IdentityAsk::Grant { site: "c".into(), id: "spiffe://mesh.test/gateway/*".into() }, None);
    m.run(IdentityAsk::Grant { site: "c".into(), id: "spiffe://mesh.test/svc/web".into() }, None);
    let (ca, doc) = (m.ca(), m.doc());
    let ask = |site: &str, id: &str, service_site: Option<&str>| {
        answer(Some(&ca), &doc, &request(site, id), service_site, 1_800_000_000)
    };
    let ok = ask("b", "spiffe://mesh.test/svc/api", Some("b"));
    assert!(ok.refused.is_none(), "{ok:?}");
    assert_eq!(ok.nonce, hex(&[9; 16]));
    let leaf = B64.decode(&ok.chain[0]).unwrap();
    let spki = weft_identity::x509::ed25519_spki(&request("b", "x").public_key);
    assert!(leaf.windows(spki.len()).any(|w| w == spki), "signed for the requester's key");
    assert_eq!(
        weft_identity::san::spiffe_id(&leaf).unwrap().to_string(),
        "spiffe://mesh.test/svc/api"
    );
    let v = ok.validity.unwrap();
    assert!(v.not_after - 1_800_000_000 <= 600);
    for (site, id, service_site) in [
        ("c", "spiffe://mesh.test/svc/api", Some("b")),
        ("b", "spiffe://mesh.test/svc/api", None),
        ("b", "spiffe://mesh.test/gateway/edge", None),
        ("c", "spiffe://other.test/svc/web", None),
        ("c", "spiffe://mesh.test/gateway", None),
        ("c", "not a spiffe id", None),
    ] {
        assert!(ask(site, id, service_site).refused.is_some(), "{site} got {id}");
    }
    assert!(ask("c", "spiffe://mesh.test/gateway/edge", None).refused.is_none());
    assert!(ask("c", "spiffe://mesh.test/svc/web", None).refused.is_none());
    // A revoked ID is refused to everyone; an ungranted one from then on.
    m.run(IdentityAsk::Revoke { id: "spiffe://mesh.test/svc/web".into() }, None);
    m.run(
        IdentityAsk::Ungrant { site: "c".into(), id: "spiffe://mesh.test/gateway/*".into() },
        None,
    );
    let doc = m.doc();
    let refused =
        |id: &str| answer(Some(&ca), &doc, &request("c", id), None, 1_800_000_000).refused;
    assert!(refused("spiffe://mesh.test/svc/web").unwrap().contains("revoked"));
    assert!(refused("spiffe://mesh.test/gateway/edge").is_some());
    assert!(
        answer(None, &doc, &request("b", "spiffe://mesh.test/svc/api"), Some("b"), 0)
            .refused
            .is_some()
    );
}

#[test]
fn grant_patterns_match_whole_segments_and_bad_ones_are_refused() {
    use crate::controlplane::identity::{check_pattern, matches};
    assert!(matches("spiffe://t/svc/*", "spiffe://t/svc/a"));
    assert!(matches("spiffe://t/svc/*", "spiffe://t/svc/a/b"));
    assert!(!matches("spiffe://t/svc/*", "spiffe://t/svc/"));
    assert!(!matches("spiffe://t/svc/*", "spiffe://t/svcx/a"));
    assert!(matches("spiffe://t/svc/a", "spiffe://t/svc/a"));
    assert!(!matches("spiffe://t/svc/a", "spiffe://t/svc/ab"));
    assert!(check_pattern("spiffe://t/svc/*").is_ok());
    assert!(check_pattern("spiffe://t/svc*").is_err());
    let mut m = Mem(BTreeMap::new(), 0);
    let r = m.run(IdentityAsk::Grant { site: "c".into(), id: "svc/web".into() }, None);
    assert_eq!(r.refused.unwrap().0, "invalid_request");
}

#[test]
fn an_intermediate_is_due_for_renewal_after_two_thirds_of_its_life() {
    let mut m = Mem(BTreeMap::new(), 0);
    m.run(init(), Some(&[1; 32]));
    let ca = m.ca();
    let v = ca.validity;
    let two_thirds = v.not_before + (v.not_after - v.not_before) / 3 * 2;
    assert!(!due_for_renewal(&ca, v.not_before + 3600));
    assert!(!due_for_renewal(&ca, two_thirds - 1));
    assert!(due_for_renewal(&ca, two_thirds));
    assert!(due_for_renewal(&ca, v.not_after + 1));
}
