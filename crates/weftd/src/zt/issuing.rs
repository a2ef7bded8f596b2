//! Where a site's SVIDs come from when `[zerotrust] issuer = "control"`:
//! the control plane's leader. For each identity the site draws a key,
//! sends a signed request naming its public half (through the mesh thread,
//! to the leader it heard from last), and takes the answer that echoes the
//! request's nonce: a leaf for that key, checked here (the ID, the key)
//! before it is used. The private key never leaves the site.
//!
//! A request not answered within [`RESEND`] is sent again unchanged (the
//! leader may have changed); a refusal is remembered (the API shows it)
//! and asked again after [`AFTER_REFUSAL`].

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use anyhow::Result;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use weft_identity::x509::{ed25519_public, ed25519_spki};
use weft_identity::{SpiffeId, Svid, ed25519_pkcs8};
use weft_mesh::identity::SvidRequest;

use crate::controlplane::identity_ca::{SvidAnswer, hex};

/// An unanswered request is sent again after this long.
pub(crate) const RESEND: Duration = Duration::from_secs(2);
/// A refused identity is asked for again after this long.
pub(crate) const AFTER_REFUSAL: Duration = Duration::from_secs(5);

/// Hands a request to the mesh thread.
pub(crate) type SendRequest = Box<dyn Fn(SvidRequest) + Send + Sync>;

/// The control plane's identity state as this site last received it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ControlView {
    /// Its trust domain (none before its CA exists).
    pub(crate) trust_domain: Option<String>,
    /// Its roots (DER).
    pub(crate) roots: Vec<Vec<u8>>,
    /// The serial of the intermediate signing SVIDs now.
    pub(crate) intermediate_serial: u64,
}

/// Reads the [`ControlView`] now.
pub(crate) type ViewSource = Box<dyn Fn() -> ControlView + Send + Sync>;

struct Pending {
    seed: [u8; 32],
    request: SvidRequest,
    sent: Instant,
    refused_at: Option<Instant>,
}

/// The control-plane side of a site's SVIDs (see the module docs).
pub(crate) struct ControlIssuer {
    send: SendRequest,
    view: ViewSource,
    answers: Mutex<Receiver<SvidAnswer>>,
    pending: Mutex<BTreeMap<SpiffeId, Pending>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn random_nonce() -> Result<[u8; 16]> {
    let mut n = [0u8; 16];
    getrandom::fill(&mut n).map_err(|e| anyhow::anyhow!("drawing a nonce: {e}"))?;
    Ok(n)
}

impl ControlIssuer {
    pub(crate) fn new(send: SendRequest, view: ViewSource, answers: Receiver<SvidAnswer>) -> Self {
        Self { send, view, answers: Mutex::new(answers), pending: Mutex::new(BTreeMap::new()) }
    }

    /// The control plane's identity state now.
    pub(crate) fn view(&self) -> ControlView {
        (self.view)()
    }

    /// Asks for an SVID for `id` valid `ttl_secs`, unless a request for it
    /// is in flight (sent again once [`RESEND`] passed) or was refused less
    /// than [`AFTER_REFUSAL`] ago.
    pub(crate) fn ask(&self, id: &SpiffeId, ttl_secs: u64, now: Instant, unix: u64) -> Result<()> {
        let mut pending = lock(&self.pending);
        if let Some(p) = pending.get_mut(id) {
            match p.refused_at {
                Some(at) if now.duration_since(at) < AFTER_REFUSAL => return Ok(()),
                Some(_) => {}
                None if now.duration_since(p.sent) < RESEND => return Ok(()),
                None => {
                    p.sent = now;
                    (self.send)(p.request.clone());
                    return Ok(());
                }
            }
        }
        let seed = weft_layout::mesh::random_seed()?;
        let request = SvidRequest {
            // The mesh node writes the site's own id when it signs.
            site: weft_types::SiteId::new("self").map_err(|e| anyhow::anyhow!("{e}"))?,
            id: id.to_string(),
            public_key: ed25519_public(&seed)?,
            nonce: random_nonce()?,
            ttl_secs: u32::try_from(ttl_secs).unwrap_or(u32::MAX),
            at: unix,
        };
        (self.send)(request.clone());
        pending.insert(id.clone(), Pending { seed, request, sent: now, refused_at: None });
        Ok(())
    }

    /// Whether `id` has a request in flight or refused.
    pub(crate) fn is_pending(&self, id: &SpiffeId) -> bool {
        lock(&self.pending).contains_key(id)
    }

    /// Forgets what was asked for `id` (a rotation asks afresh).
    pub(crate) fn forget(&self, id: &SpiffeId) {
        lock(&self.pending).remove(id);
    }

    /// The answers that arrived, each checked against its request: an SVID,
    /// or why not. Answers to requests not (or no longer) pending are
    /// dropped.
    pub(crate) fn take_answers(&self, now: Instant) -> Vec<(SpiffeId, Result<Svid, String>)> {
        let answers: Vec<SvidAnswer> = lock(&self.answers).try_iter().collect();
        let mut pending = lock(&self.pending);
        let mut out = Vec::new();
        for a in answers {
            let Ok(id) = SpiffeId::parse(&a.id) else { continue };
            let Some(p) = pending.get_mut(&id) else { continue };
            if a.nonce != hex(&p.request.nonce) {
                continue;
            }
            if let Some(why) = a.refused {
                p.refused_at = Some(now);
                out.push((id, Err(why)));
                continue;
            }
            let result = check(&id, &p.seed, &p.request.public_key, &a);
            if result.is_ok() {
                pending.remove(&id);
            } else {
                p.refused_at = Some(now);
            }
            out.push((id, result));
        }
        out
    }
}

/// The SVID in `a`, if it is a leaf for `public_key` naming `id` followed
/// by its issuer.
fn check(
    id: &SpiffeId,
    seed: &[u8; 32],
    public_key: &[u8; 32],
    a: &SvidAnswer,
) -> Result<Svid, String> {
    let chain: Vec<Vec<u8>> = a
        .chain
        .iter()
        .map(|c| B64.decode(c))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the answer's chain is not base64: {e}"))?;
    let (Some(leaf), 2) = (chain.first(), chain.len()) else {
        return Err(format!(
            "the answer holds {} certificates, not leaf and intermediate",
            chain.len()
        ));
    };
    let spki = ed25519_spki(public_key);
    if !leaf.windows(spki.len()).any(|w| w == spki) {
        return Err("the answer's leaf is not for this site's key".into());
    }
    match weft_identity::san::spiffe_id(leaf) {
        Ok(named) if named == *id => {}
        Ok(named) => return Err(format!("the answer's leaf names {named}, not {id}")),
        Err(e) => return Err(format!("the answer's leaf: {e}")),
    }
    let validity = a.validity.ok_or("the answer has no validity")?;
    Ok(Svid { id: id.clone(), chain, key_pkcs8: ed25519_pkcs8(seed), serial: a.serial, validity })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::mpsc::channel;

    use weft_identity::{Root, TrustDomain, Validity};

    use super::*;

    fn issuer() -> (ControlIssuer, Arc<Mutex<Vec<SvidRequest>>>, std::sync::mpsc::Sender<SvidAnswer>)
    {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&sent);
        let (tx, rx) = channel();
        let issuer = ControlIssuer::new(
            Box::new(move |r| lock(&s).push(r)),
            Box::new(ControlView::default),
            rx,
        );
        (issuer, sent, tx)
    }

    fn sign(req: &SvidRequest, as_id: &str, key: &[u8; 32]) -> SvidAnswer {
        let td = TrustDomain::parse("mesh.test").unwrap();
        let root = Root::new(&[1; 32], &td, 1, Validity::starting(1_800_000_000, 86_400)).unwrap();
        let inter =
            root.intermediate(&[2; 32], &td, 2, Validity::starting(1_800_000_000, 86_400)).unwrap();
        let id = SpiffeId::parse(as_id).unwrap();
        let (leaf, v) =
            inter.issue_for_key(&id, key, 7, Validity::starting(1_800_000_000, 600)).unwrap();
        SvidAnswer {
            nonce: hex(&req.nonce),
            id: req.id.clone(),
            chain: vec![B64.encode(leaf), B64.encode(inter.der())],
            serial: 7,
            validity: Some(v),
            refused: None,
        }
    }

    #[test]
    fn a_request_is_sent_once_resent_when_unanswered_and_its_answer_becomes_an_svid() {
        let (issuer, sent, tx) = issuer();
        let id = SpiffeId::parse("spiffe://mesh.test/svc/api").unwrap();
        let t0 = Instant::now();
        issuer.ask(&id, 600, t0, 1_800_000_000).unwrap();
        issuer.ask(&id, 600, t0 + Duration::from_millis(500), 1_800_000_000).unwrap();
        assert_eq!(lock(&sent).len(), 1, "in flight: not asked twice");
        issuer.ask(&id, 600, t0 + RESEND, 1_800_000_000).unwrap();
        let requests = lock(&sent).clone();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0], requests[1], "resent unchanged");
        // An answer to another nonce is dropped; the right one is taken.
        let mut stale = sign(&requests[0], &id.to_string(), &requests[0].public_key);
        stale.nonce = hex(&[0; 16]);
        tx.send(stale).unwrap();
        tx.send(sign(&requests[0], &id.to_string(), &requests[0].public_key)).unwrap();
        let got = issuer.take_answers(t0 + RESEND);
        assert_eq!(got.len(), 1);
        let svid = got[0].1.as_ref().unwrap();
        assert_eq!((svid.serial, svid.chain.len()), (7, 2));
        assert!(!issuer.is_pending(&id));
    }

    #[test]
    fn a_leaf_for_another_key_or_id_is_refused_and_a_refusal_waits_before_asking_again() {
        let (issuer, sent, tx) = issuer();
        let id = SpiffeId::parse("spiffe://mesh.test/svc/api").unwrap();
        let t0 = Instant::now();
        issuer.ask(&id, 600, t0, 1_800_000_000).unwrap();
        let req = lock(&sent)[0].clone();
        tx.send(sign(&req, &id.to_string(), &[9; 32])).unwrap();
        let got = issuer.take_answers(t0);
        assert!(got[0].1.as_ref().unwrap_err().contains("not for this site's key"));
        issuer.forget(&id);
        issuer.ask(&id, 600, t0, 1_800_000_000).unwrap();
        let req = lock(&sent)[1].clone();
        tx.send(sign(&req, "spiffe://mesh.test/svc/other", &req.public_key)).unwrap();
        assert!(issuer.take_answers(t0)[0].1.as_ref().unwrap_err().contains("names"));
        issuer.forget(&id);
        issuer.ask(&id, 600, t0, 1_800_000_000).unwrap();
        let req = lock(&sent)[2].clone();
        let refusal = SvidAnswer {
            nonce: hex(&req.nonce),
            id: req.id.clone(),
            chain: Vec::new(),
            serial: 0,
            validity: None,
            refused: Some("site b may not hold it".into()),
        };
        tx.send(refusal).unwrap();
        assert_eq!(issuer.take_answers(t0)[0].1.as_ref().unwrap_err(), "site b may not hold it");
        issuer.ask(&id, 600, t0 + RESEND, 1_800_000_000).unwrap();
        assert_eq!(lock(&sent).len(), 3, "not asked again before the refusal backoff");
        issuer.ask(&id, 600, t0 + AFTER_REFUSAL, 1_800_000_000).unwrap();
        assert_eq!(lock(&sent).len(), 4);
        assert_ne!(lock(&sent)[3].nonce, req.nonce, "a fresh request");
    }
}
