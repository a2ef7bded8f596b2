//! Learnt on-prem prefixes between the BGP speaker and the mesh thread:
//! what this site accepted (and its learn preference) goes into the mesh;
//! what other sites learnt comes back to the speaker (the same prefix
//! learnt by another edge is no collision and is never announced to this
//! site's routers); every site, BGP or not, publishes where each shared
//! prefix goes for `GET /api/v1/bgp`.

use std::collections::BTreeSet;
use std::time::Instant;

use weft_mesh::node::MeshNode;
use weft_types::IpPrefix;

use crate::agent::LinkBoard;
use crate::bgp::{BgpBoard, MeshLearnt};

/// One exchange with the BGP speaker, on the mesh thread (every 200 ms).
pub(crate) fn exchange(node: &mut MeshNode, now: Instant, board: &BgpBoard) {
    node.set_learn_preference(now, board.learn_preference());
    node.set_local_learnt(now, board.accepted_learnt());
    let others: BTreeSet<IpPrefix> =
        node.advertised_learnt_prefixes().into_iter().map(|(_, p)| p).collect();
    board.set_mesh(MeshLearnt { others });
}

/// Publishes where each learnt prefix several sites advertise goes.
pub(crate) fn publish_shared(node: &MeshNode, links: &LinkBoard) {
    let shared = node
        .shared_learnt()
        .into_iter()
        .map(|s| weft_api::SharedLearntPrefix {
            prefix: s.prefix.to_string(),
            via: s.via.to_string(),
            standby: s.standby.iter().map(ToString::to_string).collect(),
        })
        .collect();
    match links.shared_learnt.write() {
        Ok(mut s) => *s = shared,
        Err(p) => *p.into_inner() = shared,
    }
}
