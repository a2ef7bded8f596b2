//! The mesh thread's side of publication: signs the leader's publication
//! with the mesh CA (one bundle for the stable version, one for the canary
//! sites; the registry's relay limits on a channel of their own), sends
//! every member its bundle, re-sends to the silent ones,
//! delivers this site's own bundle locally, and hands acknowledgements to
//! the controller thread.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use weft_control::{AckState, Epoch, Publisher};
use weft_mesh::identity::{
    AckOutcome, BundleAck, BundleBody, BundleKind, SignedBundle, SvidRequest,
};
use weft_mesh::node::MeshNode;
use weft_types::SiteId;

use super::leader::PlaneCtl;
use super::records::SiteAck;
use super::{PlaneRefusal, Publication};

/// A site re-gets a publication it has not acknowledged this often.
const RESEND_EVERY: Duration = Duration::from_secs(1);

/// A bundle for this site's follower: from a member, or from this site's
/// own leader (`from: None`).
#[derive(Debug)]
pub(crate) struct BundleIn {
    pub(crate) from: Option<SocketAddr>,
    pub(crate) bundle: SignedBundle,
}

/// One kind's publication being delivered.
struct Channel {
    publisher: Publisher,
    stable: Option<SignedBundle>,
    canary: Option<(SignedBundle, Vec<String>)>,
}

impl Channel {
    fn new() -> Self {
        Self { publisher: Publisher::new(RESEND_EVERY), stable: None, canary: None }
    }

    fn bundle_for(&self, site: &str) -> Option<&SignedBundle> {
        match &self.canary {
            Some((b, sites)) if sites.iter().any(|s| s == site) => Some(b),
            _ => self.stable.as_ref(),
        }
    }
}

/// What the mesh thread publishes, if anything: one channel per bundle
/// kind (policy, registry), each with its own sequence and re-sends.
pub(crate) struct Publishing {
    channels: BTreeMap<BundleKind, Channel>,
    /// The controller thread, for acknowledgements (none: not a controller).
    controller: Option<Sender<PlaneCtl>>,
    /// This site's follower.
    follower: Sender<BundleIn>,
    /// Who published to this site last (the newest epoch): the leader's
    /// address, or `None` for this site's own controller thread.
    leader: Option<(u64, Option<SocketAddr>)>,
}

fn sign(
    node: &MeshNode,
    p: &Publication,
    version: u64,
    text: &str,
    sites: &[String],
) -> Result<SignedBundle, PlaneRefusal> {
    let sites = sites
        .iter()
        .map(|s| {
            SiteId::new(s).map_err(|e| {
                PlaneRefusal::new(400, "invalid_request", format!("canary site {s:?}: {e}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let body = BundleBody {
        kind: p.kind,
        epoch: p.epoch,
        seq: p.seq,
        version,
        issued_at: super::super::mesh::start::unix_now(),
        sites,
        payload: text.as_bytes().to_vec(),
    };
    match node.sign_bundle(body) {
        None => Err(PlaneRefusal::new(
            409,
            "not_ca_holder",
            "a controller needs the mesh CA (ca.key) to sign publications",
        )),
        Some(Err(e)) => Err(PlaneRefusal::new(422, "bundle_refused", e.to_string())),
        Some(Ok(b)) => Ok(b),
    }
}

impl Publishing {
    pub(crate) fn new(controller: Option<Sender<PlaneCtl>>, follower: Sender<BundleIn>) -> Self {
        Self { channels: BTreeMap::new(), controller, follower, leader: None }
    }

    /// Starts delivering `p`.
    pub(crate) fn publish(&mut self, node: &MeshNode, now: Instant, p: &Publication) {
        let stable = sign(node, p, p.stable.0, &p.stable.1, &[]);
        let canary = p
            .canary
            .as_ref()
            .map(|(v, text, sites)| sign(node, p, *v, text, sites).map(|b| (b, sites.clone())));
        match (stable, canary.transpose()) {
            (Ok(s), Ok(c)) => {
                let ch = self.channels.entry(p.kind).or_insert_with(Channel::new);
                ch.stable = Some(s);
                ch.canary = c;
                ch.publisher.publish(now, Epoch(p.epoch), p.seq);
            }
            (Err(e), _) | (_, Err(e)) => {
                crate::log_warn!(
                    Control,
                    "cannot publish {:?} (epoch {}, seq {}): {}",
                    p.kind,
                    p.epoch,
                    p.seq,
                    e.message
                );
            }
        }
    }

    /// Stops delivering (this controller stepped down).
    pub(crate) fn stop(&mut self) {
        for ch in self.channels.values_mut() {
            ch.publisher.stop();
            ch.stable = None;
            ch.canary = None;
        }
    }

    /// Sends the current publication to whoever is due.
    pub(crate) fn tick(&mut self, node: &mut MeshNode, now: Instant) {
        if self.channels.values().all(|ch| ch.stable.is_none()) {
            return;
        }
        let me = node.cert().body.site.to_string();
        let addrs: BTreeMap<String, SocketAddr> =
            node.member_addrs().into_iter().map(|(s, a)| (s.to_string(), a)).collect();
        for ch in self.channels.values_mut().filter(|ch| ch.stable.is_some()) {
            let members = addrs.keys().map(String::as_str).chain(std::iter::once(me.as_str()));
            ch.publisher.set_members(now, members);
            for site in ch.publisher.poll_send(now) {
                let Some(bundle) = ch.bundle_for(&site).cloned() else { continue };
                if site == me {
                    let epoch = bundle.body.epoch;
                    if self.leader.is_none_or(|(e, _)| epoch >= e) {
                        self.leader = Some((epoch, None));
                    }
                    let _ = self.follower.send(BundleIn { from: None, bundle });
                } else if let Some(addr) = addrs.get(&site) {
                    node.send_bundle(*addr, &bundle);
                }
            }
        }
    }

    /// An acknowledgement arrived (from a member, or from this site's own
    /// follower).
    pub(crate) fn on_ack(&mut self, now: Instant, ack: &BundleAck) {
        let site = ack.site.to_string();
        let state = match &ack.outcome {
            AckOutcome::Installed => AckState::Installed,
            AckOutcome::Refused(why) => AckState::Refused(why.clone()),
        };
        if let Some(ch) = self.channels.get_mut(&ack.kind) {
            ch.publisher.handle_ack(now, &site, Epoch(ack.epoch), ack.seq, state.clone());
        }
        // The store's per-site status is the policy rollout's.
        if ack.kind != BundleKind::Policy {
            return;
        }
        if let Some(c) = &self.controller {
            let error = match state {
                AckState::Refused(why) => Some(why),
                _ => None,
            };
            let _ = c.send(PlaneCtl::Ack(SiteAck {
                site,
                version: ack.version,
                epoch: ack.epoch,
                seq: ack.seq,
                error,
                at_unix_ms: i64::try_from(ack.at).unwrap_or(i64::MAX),
            }));
        }
    }

    /// Hands a received bundle to this site's follower.
    pub(crate) fn deliver(&mut self, from: SocketAddr, bundle: SignedBundle) {
        let epoch = bundle.body.epoch;
        if bundle.body.kind != BundleKind::Svid && self.leader.is_none_or(|(e, _)| epoch >= e) {
            self.leader = Some((epoch, Some(from)));
        }
        let _ = self.follower.send(BundleIn { from: Some(from), bundle });
    }

    /// Sends an SVID request to the leader this site heard from last (or
    /// hands it to this site's own controller thread); dropped while no
    /// leader is known (the requester asks again).
    pub(crate) fn request_svid(&mut self, node: &mut MeshNode, mut request: SvidRequest) {
        match self.leader {
            Some((_, Some(addr))) => node.send_svid_request(addr, request),
            Some((_, None)) => {
                request.site = node.cert().body.site.clone();
                self.delegate_svid(None, request);
            }
            None => {}
        }
    }

    /// Hands an SVID request to the controller thread (which answers only
    /// while it leads).
    pub(crate) fn delegate_svid(&self, from: Option<SocketAddr>, request: SvidRequest) {
        if let Some(c) = &self.controller {
            let _ = c.send(PlaneCtl::Svid { from, request: Box::new(request) });
        }
    }

    /// Signs the leader's answer to an SVID request as a bundle addressed
    /// to `site` and sends it to `to` (or this site's own follower).
    pub(crate) fn send_svid(
        &mut self,
        node: &mut MeshNode,
        to: Option<SocketAddr>,
        site: SiteId,
        epoch: u64,
        payload: Vec<u8>,
    ) {
        let body = BundleBody {
            kind: BundleKind::Svid,
            epoch,
            seq: 0,
            version: 0,
            issued_at: super::super::mesh::start::unix_now(),
            sites: vec![site],
            payload,
        };
        match (node.sign_bundle(body), to) {
            (Some(Ok(b)), Some(addr)) => node.send_bundle(addr, &b),
            (Some(Ok(b)), None) => {
                let _ = self.follower.send(BundleIn { from: None, bundle: b });
            }
            (Some(Err(e)), _) => crate::log_warn!(Control, "cannot sign an SVID answer: {e}"),
            (None, _) => crate::log_warn!(Control, "cannot sign an SVID answer: no mesh CA here"),
        }
    }

    /// Hands a delegated enrolment or renewal request to the controller thread.
    pub(crate) fn delegate(&self, from: SocketAddr, request: Vec<u8>) {
        if let Some(c) = &self.controller {
            let _ = c.send(PlaneCtl::Enrol { from, request });
        }
    }

    /// When the next re-send is due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.channels.values().filter_map(|ch| ch.publisher.poll_timeout()).min()
    }
}
