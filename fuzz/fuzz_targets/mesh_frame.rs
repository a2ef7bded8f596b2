//! Mesh frames on a site agent's socket: the fuzz bytes go to every frame
//! decoder (with a decode → encode → decode round-trip check, and a decoded
//! link-state page within its bounds, learnt prefixes and their learn
//! preference included), to a CA holder's `MeshNode::handle_datagram` (raw,
//! and behind every kind byte so each frame handler sees arbitrary
//! content), and to an `Enrolment`.
//! Nothing may panic, and the node must still answer timers afterwards.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use weft_mesh::identity::{Enroller, Label, LearnRanges, MeshCa, PrefixList, SelfClaims, SiteKey};
use weft_mesh::membership::{MemberInfo, MembershipConfig};
use weft_mesh::node::{
    DEFAULT_LEARN_PREFERENCE, Enrolment, Frame, LinkStateAd, MAX_LEARNT_PREFIXES, MAX_LINK_ENTRIES, MAX_LINK_PAGES, MeshNode,
    NodeConfig, NodeIdentity, TokenSpec,
};
use weft_types::{PublicKey, SiteId};

const NOW_UNIX: u64 = 1_700_000_000;

fn addr(i: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)), 7946)
}

fn label(s: &str) -> Label {
    Label::new(s).unwrap()
}

fn ca_node(now: Instant) -> MeshNode {
    let mut enroller = Enroller::new(MeshCa::from_seed(&[1; 32]));
    let site = SiteId::new("seed").unwrap();
    let key = SiteKey::from_seed(&[2; 32]);
    let claims = SelfClaims {
        site: site.clone(),
        role: label("hub"),
        region: label("eu"),
        prefixes: PrefixList::new(vec!["10.0.0.0/16".parse().unwrap()]).unwrap(),
        site_key: key.public(),
        wg_key: PublicKey([3; 32]),
        learn_ranges: LearnRanges::new(vec!["10.60.0.0/16".parse().unwrap()]).unwrap(),
    };
    let cert = enroller.issue_self(NOW_UNIX, claims).unwrap();
    let me = NodeIdentity { site_key: key, cert, ca: enroller.ca_public() };
    let info = MemberInfo::new(site, addr(1), PublicKey([3; 32]));
    let config = NodeConfig::new(MembershipConfig::lan(), vec![]);
    MeshNode::new(info, me, config, Some(enroller), 1, now, NOW_UNIX).unwrap()
}

fuzz_target!(|data: &[u8]| {
    static START: OnceLock<Instant> = OnceLock::new();
    let now = *START.get_or_init(Instant::now);

    if let Ok(f) = Frame::decode(data) {
        let again = f.encode().expect("a decoded frame encodes");
        assert_eq!(Frame::decode(&again).expect("re-decodes"), f);
    }
    if let Ok(ad) = LinkStateAd::decode(data) {
        assert!(ad.page < ad.pages && usize::from(ad.pages) <= MAX_LINK_PAGES);
        assert!(ad.entries.len() <= MAX_LINK_ENTRIES);
        assert!(ad.learnt.len() <= MAX_LEARNT_PREFIXES && (ad.page == 0 || ad.learnt.is_empty()));
        // A learn preference only with learnt prefixes, the default never written.
        assert!(!ad.learnt.is_empty() || ad.learn_preference == DEFAULT_LEARN_PREFERENCE);
        assert_eq!(LinkStateAd::decode(&ad.encode()).unwrap(), ad);
    }

    let mut node = ca_node(now);
    let _ = node.handle_datagram(now, NOW_UNIX, addr(2), data);
    for kind in 1..=10u8 {
        let mut framed = vec![kind];
        framed.extend_from_slice(data);
        let _ = node.handle_datagram(now, NOW_UNIX, addr(2), &framed);
    }
    node.handle_timeout(now + Duration::from_secs(1), NOW_UNIX + 1);
    while node.poll_transmit().is_some() {}
    while node.poll_event().is_some() {}

    let spec = TokenSpec {
        ttl_s: 600,
        uses: 1,
        role: label("site"),
        region: label("eu"),
        allowed_prefixes: None,
        allowed_learn: LearnRanges::default(),
    };
    let token = node.issue_token(NOW_UNIX, spec).unwrap();
    let mut enrolment = Enrolment::new(
        token,
        SiteId::new("joiner").unwrap(),
        &SiteKey::from_seed(&[4; 32]),
        PublicKey([5; 32]),
        PrefixList::new(vec![]).unwrap(),
        addr(1),
        now,
        NOW_UNIX,
    );
    while enrolment.poll_transmit().is_some() {}
    enrolment.handle_datagram(now, NOW_UNIX, addr(1), data);
    enrolment.handle_timeout(now + Duration::from_secs(1), NOW_UNIX + 1);
    let _ = enrolment.outcome();
});
