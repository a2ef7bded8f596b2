//! Starting in the mesh: the identity from the state directory, the CA
//! holder's own certificate, or enrolment with `--join TOKEN --seed`.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use weft_mesh::identity::{
    Enroller, JoinToken, Label, LearnRanges, PrefixList, SelfClaims, SiteCert, SiteKey,
};
use weft_mesh::membership::{MemberInfo, MembershipConfig, Role};
use weft_mesh::node::{EnrolFailure, Enrolment, MeshNode, NodeConfig, NodeIdentity, TopologyMode};
use weft_types::PublicKey;

use super::files::MeshFiles;
use crate::agent::JoinRequest;
use crate::config::{GossipProfile, SiteConfig, Topology};

/// Unix seconds now.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A node ready to run, its socket and its files.
pub(crate) struct MeshStart {
    pub(crate) node: MeshNode,
    pub(crate) socket: UdpSocket,
    pub(crate) files: MeshFiles,
    pub(crate) seeds: Vec<SocketAddr>,
    pub(crate) topology: &'static str,
}

/// Prepares the mesh when this site is in one (a `[mesh]` section, `--join`,
/// a CA or a certificate in the state directory); `None` otherwise. Enrols
/// first when joining: a refusal stops the start with the enroller's reason.
pub(crate) fn prepare(
    cfg: &SiteConfig,
    wg_public: PublicKey,
    join: Option<&JoinRequest>,
) -> Result<Option<MeshStart>> {
    let files = MeshFiles::open(&cfg.state_dir)?;
    let ca = files.load_ca()?;
    let stored = files.load_cert()?;
    if !(cfg.mesh.configured || join.is_some() || ca.is_some() || stored.is_some()) {
        return Ok(None);
    }
    let socket = UdpSocket::bind(cfg.mesh.listen)
        .with_context(|| format!("binding the mesh socket to {}", cfg.mesh.listen))?;
    let site_key = files.load_or_create_site_key()?;
    let mut prefixes = vec![cfg.address_prefix];
    prefixes.extend(cfg.prefixes.iter().copied().filter(|p| *p != cfg.address_prefix));
    let prefixes = PrefixList::new(prefixes).map_err(|e| anyhow!("site prefixes: {e}"))?;
    // The on-prem ranges this site asks the CA to let it bring into the mesh.
    let learn = cfg.bgp.as_ref().map(|b| b.learn.clone()).unwrap_or_default();
    let learn = LearnRanges::new(learn).map_err(|e| anyhow!("[bgp] learn: {e}"))?;
    let now_unix = unix_now();
    let mut seeds: Vec<SocketAddr> = cfg.mesh.seeds.clone();
    for s in files.load_seeds()?.unwrap_or_default() {
        if let Ok(a) = s.parse()
            && !seeds.contains(&a)
        {
            seeds.push(a);
        }
    }
    let (identity, enroller) = if let Some(ca) = ca {
        let mut enroller = match files.load_enroller()? {
            Some(state) => Enroller::from_state(ca, state),
            None => Enroller::new(ca),
        };
        let reusable = stored.filter(|c| {
            c.body.site == cfg.name
                && c.body.wg_key == wg_public
                && c.body.site_key == site_key.public()
                && c.body.learn_ranges == learn
                && now_unix < c.renew_at()
                && c.verify(&enroller.ca_public(), now_unix).is_ok()
        });
        let cert = if let Some(c) = reusable {
            c
        } else {
            {
                let claims = SelfClaims {
                    site: cfg.name.clone(),
                    role: label(cfg.role.as_deref().unwrap_or("hub"), "role")?,
                    region: label(cfg.region.as_deref().unwrap_or(""), "region")?,
                    prefixes: prefixes.clone(),
                    site_key: site_key.public(),
                    wg_key: wg_public,
                    learn_ranges: learn.clone(),
                };
                let cert = enroller
                    .issue_self(now_unix, claims)
                    .map_err(|e| anyhow!("issuing this CA holder's own certificate: {e}"))?;
                files.save_cert(&cert)?;
                files.save_enroller(enroller.state())?;
                cert
            }
        };
        files.save_ca_public(&enroller.ca_public())?;
        (NodeIdentity { site_key, cert, ca: enroller.ca_public() }, Some(enroller))
    } else if let Some(cert) = stored.filter(|c| c.body.wg_key == wg_public) {
        let ca = files.load_ca_public()?.ok_or_else(|| {
            anyhow!("{}: site.cert without ca.pub; join again", files.dir().display())
        })?;
        if let Some(r) = cert.body.learn_ranges.first_not_covered(&learn) {
            crate::log_warn!(
                Mesh,
                "[bgp] learn range {r} is not in this site's certificate (it grants {:?}): \
                 other sites will not take prefixes learnt in it; enrol again with a token \
                 made with --learn {r}",
                cert.body.learn_ranges
            );
        }
        if let Some(j) = join {
            crate::log_info!(
                Mesh,
                "already enrolled as {} (certificate serial {}); --join {} ignored",
                cert.body.site,
                cert.body.serial,
                j.seed
            );
        }
        (NodeIdentity { site_key, cert, ca }, None)
    } else if let Some(j) = join {
        let (cert, ca) = enrol(cfg, &socket, &site_key, wg_public, prefixes, learn, j)?;
        files.save_ca_public(&ca)?;
        files.save_cert(&cert)?;
        if !seeds.contains(&j.seed) {
            seeds.insert(0, j.seed);
        }
        files.save_seeds(&seeds.iter().map(ToString::to_string).collect::<Vec<_>>())?;
        (NodeIdentity { site_key, cert, ca }, None)
    } else {
        bail!(
            "this site is configured for the mesh but has no mesh identity in {}: run `weft ca \
             init` there to make it the CA holder, or start it once with --join TOKEN --seed \
             HOST:PORT",
            files.dir().display()
        );
    };
    // Above any earlier incarnation even when the state directory was wiped
    // (the mesh remembers a dead identity and ignores it coming back as is).
    let generation = files.bump_generation_to(u32::try_from(now_unix).unwrap_or(u32::MAX))?;
    let mut info = MemberInfo::new(cfg.name.clone(), gossip_addr(cfg, &socket)?, wg_public);
    info.generation = generation;
    info.role = if identity.cert.body.role.as_str() == "hub" { Role::Hub } else { Role::Site };
    identity.cert.body.region.as_str().clone_into(&mut info.region);
    env!("CARGO_PKG_VERSION").clone_into(&mut info.version);
    info.endpoints = cfg.uplinks.iter().map(|u| u.bind).take(MemberInfo::MAX_ENDPOINTS).collect();
    info.cluster.clone_from(&cfg.mesh.cluster);
    let membership = membership_config(&cfg.mesh)?;
    let mut config = NodeConfig::new(membership, seeds.clone());
    config.topology = match cfg.mesh.topology {
        Topology::FullMesh => TopologyMode::FullMesh,
        Topology::HubAndSpoke => TopologyMode::HubAndSpoke,
        Topology::Hybrid => {
            TopologyMode::Hybrid { critical: cfg.mesh.critical.iter().cloned().collect() }
        }
    };
    let seed = crate::agent::random_u64();
    let node = MeshNode::new(info, identity, config, enroller, seed, Instant::now(), now_unix)
        .map_err(|e| anyhow!("starting the mesh node: {e}"))?;
    Ok(Some(MeshStart { node, socket, files, seeds, topology: cfg.mesh.topology.as_str() }))
}

/// The profile's SWIM tuning with the file's overrides; refused when inconsistent.
fn membership_config(m: &crate::config::MeshConfig) -> Result<MembershipConfig> {
    use std::num::{NonZeroU8, NonZeroU32, NonZeroUsize};
    let mut c = match m.profile {
        GossipProfile::Lan => MembershipConfig::lan(),
        GossipProfile::Wan => MembershipConfig::wan(),
    };
    if let Some(i) = m.interval {
        c.interval = i;
        c.gossip_interval = i / 2;
        c.probe_rtt = c.probe_rtt.min(i * 2 / 5);
    }
    if let Some(f) = m.fanout.and_then(|f| NonZeroUsize::new(f as usize)) {
        c.fanout = f;
    }
    if let Some(s) = m.suspicion_multiplier.and_then(NonZeroU32::new) {
        c.suspicion_multiplier = s;
    }
    if let Some(r) = m.retransmit_limit.and_then(|r| u8::try_from(r).ok()).and_then(NonZeroU8::new)
    {
        c.retransmit_limit = r;
    }
    c.validate().map_err(|e| anyhow!("[mesh] gossip tuning: {e}"))?;
    Ok(c)
}

fn label(s: &str, what: &str) -> Result<Label> {
    Label::new(s).map_err(|e| anyhow!("site {what} {s:?} cannot go in a certificate: {e}"))
}

/// Where others reach our gossip socket: the configured address, or the
/// first uplink's address when it listens on every address.
fn gossip_addr(cfg: &SiteConfig, socket: &UdpSocket) -> Result<SocketAddr> {
    let mut addr = socket.local_addr().context("the mesh socket's address")?;
    if addr.ip().is_unspecified() {
        let ip = cfg.uplinks.first().map(|u| u.bind.ip()).ok_or_else(|| anyhow!("no uplink"))?;
        addr.set_ip(ip);
    }
    Ok(addr)
}

/// Enrols with the seed: resends until it answers, up to 10 s.
fn enrol(
    cfg: &SiteConfig,
    socket: &UdpSocket,
    key: &SiteKey,
    wg_public: PublicKey,
    prefixes: PrefixList,
    learn: LearnRanges,
    join: &JoinRequest,
) -> Result<(SiteCert, weft_mesh::identity::CaPublicKey)> {
    let token = JoinToken::from_text(join.token.trim())
        .map_err(|e| anyhow!("--join: this is not a Weft join token: {e}"))?;
    let now = Instant::now();
    let mut e = Enrolment::new(
        token,
        cfg.name.clone(),
        key,
        wg_public,
        prefixes,
        join.seed,
        now,
        unix_now(),
    )
    .with_learn_ranges(key, learn);
    let mut buf = vec![0u8; 65_536];
    loop {
        while let Some(t) = e.poll_transmit() {
            let _ = socket.send_to(&t.bytes, t.to);
        }
        if let Some(outcome) = e.outcome() {
            return match outcome {
                Ok(done) => {
                    crate::log_info!(
                        Mesh,
                        "enrolled as {} by {} (certificate serial {}, role {}, valid until {})",
                        done.cert.body.site,
                        join.seed,
                        done.cert.body.serial,
                        done.cert.body.role.as_str(),
                        done.cert.body.not_after
                    );
                    Ok((done.cert, done.ca))
                }
                Err(EnrolFailure::Refused { message, .. }) => {
                    Err(anyhow!("enrolment refused by {}: {message}", join.seed))
                }
                Err(EnrolFailure::TimedOut) => Err(anyhow!(
                    "enrolment: no answer from {} within 10 s (is the weftd holding the mesh CA \
                     listening there? it is its [mesh] listen address)",
                    join.seed
                )),
                Err(other) => Err(anyhow!("enrolment with {}: {other}", join.seed)),
            };
        }
        let now = Instant::now();
        let wait = e
            .poll_timeout()
            .map_or(Duration::from_millis(100), |t| t.saturating_duration_since(now));
        socket.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => e.handle_datagram(Instant::now(), unix_now(), from, &buf[..n]),
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(err) => return Err(err).context("enrolment: receiving"),
        }
        e.handle_timeout(Instant::now(), unix_now());
    }
}
