//! The mesh thread: drives the sans-IO mesh node over its UDP socket, turns
//! its events into peer changes for the control loop, floods this site's
//! measured links and publishes everyone's, persists renewals and the CA
//! holder's ledger, and answers the API's mesh requests.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use weft_api::{Counter, MeshMember, MeshRevocation, MeshStatus, MeshToken};
use weft_mesh::identity::{Label, LearnRanges, PrefixList};
use weft_mesh::node::{MeshNode, NodeEvent, TokenSpec};
use weft_node::mesh_glue::{self, RelayedMembers};
use weft_types::{IpPrefix, SiteId};

use super::ctl::{MeshCtl, MeshRefusal, RefusalKind};
use super::start::{MeshStart, unix_now};
use crate::agent::{ControlMsg, LinkBoard, MeshUpdate};
use crate::controlplane::publish::Publishing;

/// Runs the mesh until the control loop goes away.
pub(crate) fn run(
    start: MeshStart,
    requests: &Receiver<MeshCtl>,
    control: &Sender<ControlMsg>,
    links: &Arc<LinkBoard>,
    bgp: Option<&crate::bgp::BgpBoard>,
    mut publishing: Publishing,
) {
    let MeshStart { mut node, socket, files, seeds, topology } = start;
    let site = node.cert().body.site.clone();
    let now = Instant::now();
    for s in &seeds {
        if let Err(e) = node.join(now, *s) {
            crate::log_warn!(Mesh, site = &site, "joining through {s}: {e}");
        }
    }
    let mut buf = vec![0u8; 65_536];
    let mut next_links = now;
    let mut next_rejoin = now + Duration::from_secs(5);
    let mut via_relay = RelayedMembers::default();
    let mut revocations_seen = 0;
    loop {
        let now = Instant::now();
        let wake = [node.poll_timeout(), publishing.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + Duration::from_millis(50));
        let wait = wake
            .saturating_duration_since(now)
            .clamp(Duration::from_millis(1), Duration::from_millis(50));
        let _ = socket.set_read_timeout(Some(wait));
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            // Refusals are counted by the node.
            let _ = node.handle_datagram(Instant::now(), unix_now(), from, &buf[..n]);
        }
        let now = Instant::now();
        if node.poll_timeout().is_some_and(|t| t <= now) {
            node.handle_timeout(now, unix_now());
        }
        while let Ok(req) = requests.try_recv() {
            match req {
                MeshCtl::Publish(p) => publishing.publish(&node, now, &p),
                MeshCtl::StopPublishing => publishing.stop(),
                MeshCtl::Ack { to: Some(to), ack } => node.send_bundle_ack(to, *ack),
                MeshCtl::Ack { to: None, ack } => publishing.on_ack(now, &ack),
                MeshCtl::EnrolAnswer { to, request, answer } => {
                    node.answer_delegated(now, to, &request, answer);
                }
                MeshCtl::ApplyRevocations { list, reply, site } => {
                    let _ = reply.send(apply_revocations(&mut node, now, &list, site));
                }
                MeshCtl::RequestSvid(request) => publishing.request_svid(&mut node, *request),
                MeshCtl::SendSvid { to, site, epoch, payload } => {
                    publishing.send_svid(&mut node, to, site, epoch, payload);
                }
                other => answer(&mut node, other, topology),
            }
        }
        publishing.tick(&mut node, now);
        if now >= next_links {
            next_links = now + Duration::from_millis(200);
            node.set_local_links(now, mesh_glue::link_entries(&links.local()));
            // The on-prem prefixes BGP learnt and this site accepted go into
            // the mesh; receivers check them against our certificate.
            if let Some(b) = bgp {
                super::learnt::exchange(&mut node, now, b);
            }
            super::learnt::publish_shared(&node, links);
            let views = mesh_glue::link_views(&node);
            if let Ok(mut v) = links.views.write() {
                *v = Arc::new(views);
            }
            if let Ok(mut c) = links.counters.write() {
                *c = counters(&node);
            }
            links
                .cert_not_after
                .store(node.cert().body.not_after, std::sync::atomic::Ordering::Relaxed);
            for update in via_relay.sync(&node) {
                let _ = control.send(ControlMsg::Mesh(update));
            }
            // A revocation list that changed may name connection profiles'
            // clients: the control loop drops those and their records.
            let list = node.membership().auth().revocations();
            if list.version() != revocations_seen {
                revocations_seen = list.version();
                let sites: Vec<SiteId> = list.sites().iter().cloned().collect();
                if let Ok(mut r) = links.revoked.write() {
                    *r = sites.iter().map(ToString::to_string).collect();
                }
                let _ = control.send(ControlMsg::ClientsRevoked { sites });
            }
        }
        // Alone (every member lost, or the seed was down at start): announce
        // to the seeds again now and then.
        if now >= next_rejoin {
            next_rejoin = now + Duration::from_secs(5);
            if node.membership().member_count() == 0 && !node.is_quiet() {
                for s in &seeds {
                    let _ = node.join(now, *s);
                }
            }
        }
        while let Some(t) = node.poll_transmit() {
            let _ = socket.send_to(&t.bytes, t.to);
        }
        while let Some(ev) = node.poll_event() {
            match ev {
                NodeEvent::Bundle { from, bundle } => publishing.deliver(from, bundle),
                NodeEvent::BundleAck { ack, .. } => publishing.on_ack(Instant::now(), &ack),
                NodeEvent::EnrolDelegated { from, request } => publishing.delegate(from, request),
                NodeEvent::SvidRequested { from, request } => {
                    publishing.delegate_svid(Some(from), request);
                }
                other => handle_event(&node, &files, &site, control, other),
            }
        }
    }
}

fn handle_event(
    node: &MeshNode,
    files: &super::files::MeshFiles,
    site: &SiteId,
    control: &Sender<ControlMsg>,
    ev: NodeEvent,
) {
    match ev {
        NodeEvent::PeerUp(v) | NodeEvent::PeerChanged(v) => {
            let _ = control.send(ControlMsg::Mesh(MeshUpdate::Up(mesh_glue::peer_spec(&v))));
        }
        NodeEvent::PeerDown { site: peer, reason } => {
            let update = mesh_glue::down_update(peer, reason);
            if let MeshUpdate::Down { site: peer, reason: why, .. } = &update {
                crate::log_warn!(Mesh, site = &site, "member {peer} is {why}");
            }
            let _ = control.send(ControlMsg::Mesh(update));
        }
        NodeEvent::SelfRevoked => {
            crate::log_warn!(
                Mesh,
                site = &site,
                "this site's certificate was revoked: it leaves the mesh and cannot \
                 rejoin (enrol it again under another name with a new token)"
            );
            for p in node.membership().members() {
                let update =
                    MeshUpdate::Down { site: p.site.clone(), reason: "revoked".into(), now: true };
                let _ = control.send(ControlMsg::Mesh(update));
            }
        }
        NodeEvent::CertRenewed(cert) => {
            crate::log_info!(
                Mesh,
                site = &site,
                "certificate renewed (serial {}, valid until {})",
                cert.body.serial,
                cert.body.not_after
            );
            if let Err(e) = files.save_cert(&cert) {
                crate::log_warn!(Mesh, site = &site, "saving the renewed certificate: {e:#}");
            }
        }
        NodeEvent::EnrollerChanged => {
            if let Some(state) = node.enroller_state()
                && let Err(e) = files.save_enroller(state)
            {
                crate::log_warn!(Mesh, site = &site, "saving the enroller's ledger: {e:#}");
            }
        }
        NodeEvent::Enrolled { site: who, serial } => {
            crate::log_info!(Mesh, site = &site, "enrolled {who} (certificate serial {serial})");
        }
        // Taken by the run loop before this is called.
        NodeEvent::Bundle { .. }
        | NodeEvent::BundleAck { .. }
        | NodeEvent::EnrolDelegated { .. }
        | NodeEvent::SvidRequested { .. } => {}
    }
}

fn refusal(kind: RefusalKind, message: impl Into<String>) -> MeshRefusal {
    MeshRefusal { kind, message: message.into() }
}

fn answer(node: &mut MeshNode, req: MeshCtl, topology: &str) {
    match req {
        MeshCtl::CreateToken { req, reply } => {
            let _ = reply.send(create_token(node, &req));
        }
        MeshCtl::Revoke { site, client, reply } => {
            let result = SiteId::new(&site)
                .map_err(|e| refusal(RefusalKind::Invalid, format!("site {site:?}: {e}")))
                .and_then(|id| {
                    if id == node.cert().body.site {
                        return Err(refusal(
                            RefusalKind::Invalid,
                            "the CA holder cannot revoke itself",
                        ));
                    }
                    let known = client
                        || node.membership().members().any(|m| m.site == id)
                        || node.enroller_state().is_some_and(|s| s.sites.contains_key(&id));
                    if !known {
                        return Err(refusal(
                            RefusalKind::NotFound,
                            format!("no site {id} in this mesh"),
                        ));
                    }
                    node.revoke(Instant::now(), unix_now(), id.clone()).map_err(|e| match e {
                        weft_mesh::node::NodeError::NotCaHolder => not_ca_holder(),
                        other => refusal(RefusalKind::Invalid, other.to_string()),
                    })
                })
                .and_then(|list| {
                    let verified = list
                        .verify(node.ca())
                        .map_err(|e| refusal(RefusalKind::Invalid, e.to_string()))?;
                    Ok(MeshRevocation {
                        site: site.clone(),
                        list_version: verified.version(),
                        revoked_sites: verified.sites().iter().map(ToString::to_string).collect(),
                    })
                });
            let _ = reply.send(result);
        }
        MeshCtl::Status { reply } => {
            let _ = reply.send(status(node, topology));
        }
        MeshCtl::Publish(_)
        | MeshCtl::StopPublishing
        | MeshCtl::Ack { .. }
        | MeshCtl::EnrolAnswer { .. }
        | MeshCtl::RequestSvid(_)
        | MeshCtl::SendSvid { .. }
        | MeshCtl::ApplyRevocations { .. } => {}
    }
}

/// Applies (and floods) a list the control plane's leader signed.
fn apply_revocations(
    node: &mut MeshNode,
    now: Instant,
    list: &[u8],
    site: String,
) -> Result<MeshRevocation, MeshRefusal> {
    let signed = weft_mesh::identity::SignedRevocations::decode(list)
        .map_err(|e| refusal(RefusalKind::Invalid, format!("the leader's revocation list: {e}")))?;
    let verified =
        signed.verify(node.ca()).map_err(|e| refusal(RefusalKind::Invalid, e.to_string()))?.clone();
    node.handle_revocations(now, &signed)
        .map_err(|e| refusal(RefusalKind::Invalid, e.to_string()))?;
    Ok(MeshRevocation {
        site,
        list_version: verified.version(),
        revoked_sites: verified.sites().iter().map(ToString::to_string).collect(),
    })
}

fn not_ca_holder() -> MeshRefusal {
    refusal(
        RefusalKind::NotCaHolder,
        "this agent does not hold the mesh CA; ask the agent that does (where `weft ca init` ran)",
    )
}

fn create_token(
    node: &mut MeshNode,
    req: &weft_api::MeshTokenCreate,
) -> Result<MeshToken, MeshRefusal> {
    if node.enroller_state().is_none() {
        return Err(not_ca_holder());
    }
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        refusal(RefusalKind::Invalid, format!("{what}: {e}"))
    };
    let role = Label::new(req.role.as_deref().unwrap_or("site")).map_err(|e| bad("role", &e))?;
    let region = Label::new(req.region.as_deref().unwrap_or("")).map_err(|e| bad("region", &e))?;
    let allowed_prefixes = match &req.prefixes {
        None => None,
        Some(list) => {
            let parsed: Result<Vec<IpPrefix>, _> =
                list.iter().map(|p| IpPrefix::parse(p)).collect();
            let parsed = parsed.map_err(|e| bad("prefixes", &e))?;
            Some(PrefixList::new(parsed).map_err(|e| bad("prefixes", &e))?)
        }
    };
    let allowed_learn = match &req.learn {
        None => LearnRanges::default(),
        Some(list) => {
            let parsed: Result<Vec<IpPrefix>, _> =
                list.iter().map(|p| IpPrefix::parse(p)).collect();
            let parsed = parsed.map_err(|e| bad("learn", &e))?;
            LearnRanges::new(parsed).map_err(|e| bad("learn", &e))?
        }
    };
    let spec = TokenSpec {
        ttl_s: req.ttl_s.unwrap_or(3600),
        uses: req.uses.unwrap_or(1),
        role: role.clone(),
        region: region.clone(),
        allowed_prefixes,
        allowed_learn,
    };
    let token = node.issue_token(unix_now(), spec).map_err(|e| match e {
        weft_mesh::node::NodeError::NotCaHolder => not_ca_holder(),
        other => refusal(RefusalKind::Invalid, other.to_string()),
    })?;
    Ok(MeshToken {
        token: token.to_text(),
        id: token.body.id.to_string(),
        expires_unix_s: token.body.expires_at,
        uses: token.body.max_uses,
        role: role.as_str().to_owned(),
        region: region.as_str().to_owned(),
    })
}

fn status(node: &MeshNode, topology: &str) -> MeshStatus {
    let cert = node.cert();
    let mut members: Vec<MeshMember> = node
        .membership()
        .members()
        .map(|m| {
            let peer = node.peers().find(|p| p.site == m.site);
            MeshMember {
                site: m.site.to_string(),
                role: peer.map_or_else(String::new, |p| p.role.as_str().to_owned()),
                region: peer.map_or_else(|| m.region.clone(), |p| p.region.as_str().to_owned()),
                state: "alive".to_owned(),
                gossip: m.gossip.to_string(),
                endpoints: m.endpoints.iter().map(ToString::to_string).collect(),
                peered: peer.is_some(),
                cert_serial: peer.map(|p| p.serial),
                cert_expires_unix_s: peer.map(|p| p.cert_not_after),
            }
        })
        .collect();
    members.sort_by(|a, b| a.site.cmp(&b.site));
    MeshStatus {
        site: cert.body.site.to_string(),
        ca_fingerprint: node.ca().fingerprint(),
        ca_holder: node.enroller_state().is_some(),
        topology: topology.to_owned(),
        cert_serial: cert.body.serial,
        cert_expires_unix_s: cert.body.not_after,
        cert_renew_unix_s: cert.renew_at(),
        revocation_version: node.enroller_state().map_or(0, |s| s.revocations.version()),
        members,
        counters: counters(node).into_iter().map(|(name, count)| Counter { name, count }).collect(),
    }
}

/// The node's counters by name (the API's mesh status and the metrics).
fn counters(node: &MeshNode) -> Vec<(String, u64)> {
    let c = node.counters();
    let m = node.membership().counters();
    [
        ("datagrams_in", m.datagrams_in),
        ("datagrams_out", m.datagrams_out),
        ("rejected_unauthenticated", m.rejected_unauthenticated),
        ("rejected_replayed", m.rejected_replayed),
        ("rejected_rate_limited", m.rejected_rate_limited),
        ("rejected_malformed", m.rejected_malformed),
        ("rejected_sender_mismatch", m.rejected_sender_mismatch),
        ("membership_restarts", m.restarts),
        ("link_states_forwarded", c.link_states_forwarded),
        ("certs_refused", c.certs_refused()),
        ("enrolments_ok", c.enrolments_ok),
        ("enrolments_refused", c.enrolments_refused),
        ("enrolments_rate_limited", c.enrolments_rate_limited),
        ("revocations_applied", c.revocations_applied),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}
