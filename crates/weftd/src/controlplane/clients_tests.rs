use super::*;
use crate::controlplane::records::Ask;

const NOW_MS: i64 = 1_800_000_000_000;

/// The record in a one-key store.
#[derive(Default)]
struct Mem(Option<(String, u64)>);

impl Mem {
    fn register(&mut self, name: &str, key: &str, address: &str, sites: &[&str]) -> ClientsResult {
        let ask = ClientsAsk::Register {
            name: name.into(),
            public_key: key.into(),
            address: address.into(),
            sites: sites.iter().map(|s| (*s).to_owned()).collect(),
        };
        let req = PolicyRequest {
            id: "q1".into(),
            ask: Ask::Profile(ask.clone()),
            actor: "op".into(),
            at_unix_ms: NOW_MS,
        };
        let kv = self.kv();
        let p = plan(&req, &ask, 2, NOW_MS, &mut |_| Ok(kv.clone())).unwrap();
        if let Some((_, v)) = p.puts.iter().find(|(k, _)| k == DOC) {
            let rev = self.0.as_ref().map_or(1, |x| x.1 + 1);
            self.0 = Some((v.clone(), rev));
        }
        serde_json::from_str(&p.result).unwrap()
    }

    fn kv(&self) -> Option<Kv> {
        self.0.as_ref().map(|(v, rev)| Kv {
            key: DOC.into(),
            value: v.clone(),
            create_revision: 1,
            mod_revision: *rev,
        })
    }

    fn doc(&self) -> ClientsDoc {
        decode(self.kv().as_ref()).unwrap().0
    }
}

#[test]
fn a_client_is_registered_once_for_every_site_it_names() {
    let mut m = Mem::default();
    let r = m.register("laptop", "K1", "100.96.0.7/32", &["a", "b"]);
    assert_eq!(r.refused, None);
    let c = &m.doc().clients["laptop"];
    assert_eq!(
        (c.address.as_str(), c.sites.clone()),
        ("100.96.0.7/32", vec!["a".into(), "b".into()])
    );
    assert_eq!(c.actor, "op");
}

#[test]
fn the_same_client_again_keeps_its_address_and_may_change_its_sites() {
    let mut m = Mem::default();
    m.register("laptop", "K1", "100.96.0.7/32", &["a"]);
    let rev = m.0.as_ref().unwrap().1;
    // Same sites: answered, nothing written.
    let r = m.register("laptop", "K1", "100.96.9.9/32", &["a"]);
    assert_eq!(r.client.unwrap().address, "100.96.0.7/32");
    assert_eq!(m.0.as_ref().unwrap().1, rev, "not written again");
    // More sites: written, with the address it had.
    let r = m.register("laptop", "K1", "100.96.9.9/32", &["a", "c"]);
    assert_eq!(r.client.unwrap().address, "100.96.0.7/32");
    assert_eq!(m.doc().clients["laptop"].sites, ["a", "c"]);
}

#[test]
fn a_name_key_or_address_held_by_another_client_is_refused() {
    let mut m = Mem::default();
    m.register("laptop", "K1", "100.96.0.7/32", &["a"]);
    let refused = |r: ClientsResult| r.refused.unwrap();
    let (code, why) = refused(m.register("laptop", "K2", "100.96.0.8/32", &["a"]));
    assert_eq!(code, "conflict");
    assert!(why.contains("another key"), "{why}");
    let (_, why) = refused(m.register("phone", "K1", "100.96.0.8/32", &["a"]));
    assert!(why.contains("public_key is client laptop's"), "{why}");
    let (_, why) = refused(m.register("phone", "K2", "100.96.0.7/32", &["a"]));
    assert!(why.contains("address 100.96.0.7/32 is client laptop's"), "{why}");
    let (code, _) = refused(m.register("Bad Name", "K3", "100.96.0.9/32", &["a"]));
    assert_eq!(code, "invalid_profile");
    let (code, _) = refused(m.register("tablet", "K3", "100.96.0.9/32", &[]));
    assert_eq!(code, "invalid_profile");
    assert_eq!(m.doc().clients.len(), 1);
}

#[test]
fn the_publication_carries_the_record_and_answers_map_to_statuses() {
    let mut m = Mem::default();
    m.register("laptop", "K1", "100.96.0.7/32", &["a"]);
    let kv = m.kv().unwrap();
    let p = publication(4, &kv).unwrap();
    assert_eq!(p.kind, weft_mesh::identity::BundleKind::Clients);
    assert_eq!((p.epoch, p.seq), (4, kv.mod_revision));
    let back: ClientsDoc = serde_json::from_str(&p.stable.1).unwrap();
    assert_eq!(back, m.doc());
    let answer = |r: &ClientsResult| Kv {
        key: "r".into(),
        value: serde_json::to_string(r).unwrap(),
        create_revision: 1,
        mod_revision: 1,
    };
    let refused = ClientsResult {
        refused: Some(("conflict".into(), "x".into())),
        ..ClientsResult::default()
    };
    assert_eq!(answer_of(&answer(&refused)).unwrap_err().status, 409);
    let ok = ClientsResult { client: m.doc().clients.get("laptop").cloned(), ..Default::default() };
    assert_eq!(answer_of(&answer(&ok)).unwrap().address, "100.96.0.7/32");
}
