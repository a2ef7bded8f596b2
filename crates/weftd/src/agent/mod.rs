//! The running agent: builds the data plane and the path engine from a
//! [`SiteConfig`], then runs one send thread, one receive thread per uplink,
//! the API (its own runtime thread), the recorder (durable events and
//! history), the UAPI server, and the control loop (on the calling thread).

mod control;
pub(crate) mod gate;
pub(crate) mod metrics;
mod ondemand;
mod peers;
pub(crate) mod policy_api;
pub(crate) mod qos;
mod recorder;
mod relay;
pub(crate) mod reservations;
mod rx;
pub(crate) mod shared;
mod stage;
pub(crate) mod status;
mod tx;
mod uapi_server;
pub(crate) mod uapi_set;

use std::net::TcpListener;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock, mpsc};
use std::time::Instant;

use anyhow::{Context, Result};
use weft_dataplane::sys::{self, IfAddr, Rtnl, TunConfig, TunDevice, UplinkSocket};
use weft_node::{Node, NodeConfig, UplinkSpec};
use weft_types::PrivateKey;

use crate::config::SiteConfig;
use crate::policy::{self, ActivePolicy};
use crate::store::{NewAudit, SiteRecord, Store};
use shared::{PeerTable, Shared};

pub(crate) use control::{ControlMsg, MeshUpdate};
pub(crate) use ondemand::{MAX_RUNNING_TESTS, MAX_TEST_PROBES};
pub(crate) use shared::LinkBoard;
pub(crate) use shared::{MAX_PEERS, NO_PATH};

/// Reads a private key file written by `weft genkey` (base64, one line).
pub fn read_private_key(path: &std::path::Path) -> Result<PrivateKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading private key {}", path.display()))?;
    PrivateKey::from_base64(text.trim())
        .with_context(|| format!("private key {} is not a WireGuard key", path.display()))
}

/// How to start beyond the configuration file.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Enrol in a mesh first (`--join TOKEN --seed HOST:PORT`).
    pub join: Option<JoinRequest>,
}

/// `weftd --join TOKEN --seed HOST:PORT`.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// The join token text (`weft1.…`).
    pub token: String,
    /// The mesh address of the agent holding the CA (it enrols the site).
    pub seed: std::net::SocketAddr,
}

/// Runs the agent until the process is stopped.
pub fn run(cfg: &SiteConfig, opts: &RunOptions) -> Result<()> {
    crate::log::set_site(&cfg.name.to_string());
    let private_key = read_private_key(&cfg.private_key_file)?;
    std::fs::create_dir_all(&cfg.state_dir)
        .with_context(|| format!("creating the state directory {}", cfg.state_dir.display()))?;
    let wg_public = weft_dataplane::wg::public_key(&private_key);
    let mesh = crate::mesh::start::prepare(cfg, wg_public, opts.join.as_ref())?;
    let tun = TunDevice::create(&TunConfig::new(&cfg.interface).mtu(cfg.mtu).offload(cfg.offload))
        .with_context(|| format!("creating TUN device {}", cfg.interface))?;
    if let Some(e) = tun.offload_error() {
        crate::log_warn!(Dataplane, "TUN offloads refused ({e}); using the plain batched path");
    }
    let mut rtnl = Rtnl::open().context("opening rtnetlink")?;
    rtnl.add_address(&cfg.interface, IfAddr::new(cfg.address, cfg.address_prefix.prefix_len()))?;
    rtnl.set_up(&cfg.interface)?;
    for peer in &cfg.peers {
        for prefix in &peer.prefixes {
            rtnl.add_route(&cfg.interface, *prefix)?;
        }
    }

    let mut sockets = Vec::new();
    for u in &cfg.uplinks {
        let mut c = sys::UplinkConfig::new(u.bind).offload(cfg.offload);
        if let Some(d) = &u.device {
            c = c.device(d.clone());
        }
        let s = UplinkSocket::bind(&c)
            .with_context(|| format!("binding uplink {} to {}", u.name, u.bind))?;
        for w in &s.buffers().warnings {
            crate::log_warn!(Dataplane, "uplink {}: {w}", u.name);
        }
        if cfg.offload && !(s.gso() && s.gro()) {
            crate::log_warn!(
                Dataplane,
                "uplink {}: UDP offloads missing (GSO {}, GRO {}); plain batched I/O",
                u.name,
                s.gso(),
                s.gro()
            );
        }
        sockets.push(s);
    }

    let now = Instant::now();
    let store = Store::open(&cfg.state_dir)?;
    let removed = remember_sites(cfg, &store)?;
    let directory = known_sites(cfg, &store)?;
    let first = first_policy(cfg, &store, &directory)?;
    let directory = Arc::new(RwLock::new(directory));

    let mut node = Node::new(node_config(cfg, &private_key), now)?;
    for (slot, p) in cfg.peers.iter().enumerate() {
        node.handle_mesh(now, MeshUpdate::Up(peers::spec_from_config(p)));
        if removed.contains(&p.name.to_string()) {
            node.set_removed(slot, true);
        }
    }
    let table = Arc::new(startup_table(&mut node, &private_key, cfg.peers.len())?);

    let uplink_names: Vec<String> = cfg.uplinks.iter().map(|u| u.name.clone()).collect();
    let flood = Arc::new(
        crate::flood::FloodShield::new(now, cfg.flood.clone(), &private_key, &uplink_names)
            .with_prefixes(&crate::profiles::own_prefixes(cfg)),
    );
    let flood_ports: Vec<u16> = cfg.uplinks.iter().map(|u| u.bind.port()).collect();
    let nft = crate::flood::run::prepare(&flood, &flood_ports, &cfg.interface)
        .context("[flood] mitigate: installing the nftables table")?;
    let ipsec = crate::ipsec::Shared::for_config(cfg);
    let shared = Arc::new(Shared {
        site: cfg.name.clone(),
        private_key,
        tun,
        sockets,
        uplink_names,
        table: RwLock::new(table),
        relay_via: (0..MAX_PEERS).map(|_| std::sync::atomic::AtomicU32::new(NO_PATH)).collect(),
        local_prefixes: std::iter::once(cfg.address_prefix)
            .chain(cfg.prefixes.iter().copied())
            .collect(),
        links: Arc::new(shared::LinkBoard::default()),
        relayed: AtomicU64::new(0),
        relay_accept: (0..MAX_PEERS).map(|_| std::sync::atomic::AtomicU32::new(NO_PATH)).collect(),
        relay_accept_said: (0..MAX_PEERS)
            .map(|_| std::sync::atomic::AtomicU32::new(NO_PATH))
            .collect(),
        policy: RwLock::new(Arc::new(first)),
        policy_generation: AtomicU64::new(0),
        drops: shared::Drops::default(),
        flood: flood.clone(),
        established: gate::Established::default(),
        flow_board: gate::FlowBoard::default(),
        stock_psks: std::sync::Mutex::default(),
        qos: Arc::default(),
        ipsec: ipsec.clone(),
    });
    shared.qos.publish(qos::QosSetup {
        capacity_bps: cfg
            .uplinks
            .iter()
            .map(|u| u.capacity_given.then_some(u.capacity.bps()))
            .collect(),
        uplink_names: cfg.uplinks.iter().map(|u| u.name.clone()).collect(),
        config: Some(cfg.qos.clone()),
        reservations: Vec::new(),
    });

    let status = Arc::new(status::SharedStatus::default());
    let listener = TcpListener::bind(cfg.api_listen)
        .with_context(|| format!("binding the API to {}", cfg.api_listen))?;
    let uapi = uapi_server::bind(&cfg.interface).context("binding the UAPI socket")?;
    let (ctl_tx, ctl_rx) = mpsc::channel();
    let (mesh_tx, mesh_rx) = mpsc::channel();
    let mesh_tx = mesh.is_some().then_some(mesh_tx);

    let token = policy_api::load_or_create_token(&cfg.state_dir)?;
    restrict_state_dir(&cfg.state_dir)?;
    register_bootstrap(&store, &token, &cfg.state_dir)?;
    let plane = Arc::new(crate::controlplane::PlaneState::default());
    let zt = start_zero_trust(cfg, &store, &shared, &status, &plane, mesh_tx.as_ref())?;
    let bgp = start_bgp(cfg, &status, &plane)?;
    start_audit_retention(&store, cfg.audit_retention.clone())?;
    let metrics = Arc::new(
        metrics::Metrics::new()
            .with_plane(plane.clone())
            .with_zt(zt.clone())
            .with_flood(flood.clone())
            .with_links(shared.links.clone())
            .with_qos(shared.qos.clone())
            .with_bgp(bgp.clone())
            .with_ipsec(ipsec.clone()),
    );
    let (bus, _) = tokio::sync::broadcast::channel(1024);
    let (events_tx, events_rx) = mpsc::channel();
    let policy = Arc::new(policy_api::PolicyApi::new(
        store.clone(),
        directory.clone(),
        shared.clone(),
        ctl_tx.clone(),
    ));
    let plane_ctl = match (&cfg.controller, &mesh_tx) {
        (None, _) => None,
        (Some(_), None) => anyhow::bail!(
            "[controller] needs the mesh: the leader publishes to the sites over it (add [mesh] and the mesh CA, `weft ca init`)"
        ),
        (Some(c), Some(m)) => Some(crate::controlplane::start(
            c,
            &cfg.state_dir,
            m.clone(),
            plane.clone(),
            events_tx.clone(),
            &crate::controlplane::TeSetup {
                links: shared.links.clone(),
                reservable: cfg.qos.reservable,
            },
        )?),
    };
    let plane_ctl_started = plane_ctl.is_some();
    let publishing = mesh_tx.as_ref().map(|m| {
        let (tx, rx) = mpsc::channel();
        let follower = crate::controlplane::follower::FollowerLoop {
            site: cfg.name.clone(),
            state_dir: cfg.state_dir.clone(),
            policy: policy.clone(),
            mesh: m.clone(),
            plane: plane.clone(),
            control: ctl_tx.clone(),
        };
        (crate::controlplane::publish::Publishing::new(plane_ctl.clone(), tx), follower, rx)
    });
    if cfg.dns.is_some() || cfg.controller.is_some() {
        crate::gtm::start(crate::gtm::Start {
            state: plane.gtm.clone(),
            dns: cfg.dns.clone(),
            site_address: cfg.address,
            status: status.clone(),
            links: shared.links.clone(),
            plane: plane.clone(),
        })?;
    }
    let reservations = Arc::new(reservations::Reservations::new(
        store.clone(),
        shared.clone(),
        status.clone(),
        events_tx.clone(),
        plane.clone(),
    )?);
    spawn("weft-reservations", {
        let reservations = reservations.clone();
        move || loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
            if let Err(e) = reservations.tick(crate::api::unix_ms()) {
                crate::log_error!(Qos, "reservations: {e:#}");
            }
        }
    })?;
    if let Some(gateways) = &ipsec {
        let (status, shared) = (Arc::clone(&status), Arc::clone(&shared));
        let engine: crate::ipsec::EngineNow = Arc::new(move || crate::ipsec::EngineView {
            policy: shared.active_policy(),
            status: status.get(),
        });
        crate::ipsec::start(cfg, gateways, engine, events_tx.clone())?;
    }
    let ctx = Arc::new(crate::api::Ctx {
        status: status.clone(),
        store: store.clone(),
        policy,
        control: ctl_tx.clone(),
        events: bus.clone(),
        metrics: metrics.clone(),
        rendered: crate::api::RenderCache::default(),
        mesh: mesh_tx,
        plane,
        plane_ctl,
        zt,
        links: shared.links.clone(),
        https: cfg.api_tls.is_some(),
        flood: flood.clone(),
        qos: shared.qos.clone(),
        bgp: bgp.clone(),
        reservations,
        profile_host: crate::profiles::ProfileHost::new(cfg, wg_public),
        ipsec,
    });
    crate::ipsec::start_clients(cfg, {
        let ctx = ctx.clone();
        Box::new(move || crate::api::profiles::ipsec_clients(&ctx))
    })?;
    spawn("weft-mesh-clients", {
        let ctx = ctx.clone();
        move || {
            let mut said = std::collections::BTreeSet::new();
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
                crate::api::profiles::sync_mesh_clients(&ctx, &mut said);
            }
        }
    })?;
    crate::api::spawn(ctx, listener, cfg.api_tls.as_ref(), &cfg.state_dir.join(API_SOCKET))?;
    spawn("weft-recorder", {
        let (store, status) = (store.clone(), status.clone());
        move || recorder::run(&store, &events_rx, &bus, &status)
    })?;
    let _ = events_tx.send(weft_api::Event::new(
        weft_api::EventKind::AgentStarted,
        format!("agent {} started", cfg.name),
    ));
    spawn("weft-flood", {
        let io = crate::flood::run::FloodIo {
            events: events_tx.clone(),
            store: store.clone(),
            protected: Box::new({
                let endpoints: std::collections::BTreeSet<std::net::IpAddr> = cfg
                    .peers
                    .iter()
                    .flat_map(|p| p.endpoints.iter().map(std::net::SocketAddr::ip))
                    .collect();
                // And every path's remote end as the control loop last saw it
                // (peers learnt from the mesh).
                let status = status.clone();
                move || {
                    let mut all = endpoints.clone();
                    all.extend(status.get().paths.iter().map(|p| p.remote.ip()));
                    all
                }
            }),
        };
        move || crate::flood::run::run(&flood, nft.as_ref(), &io)
    })?;
    spawn("weft-uapi", {
        let shared = shared.clone();
        let ctl_tx = ctl_tx.clone();
        move || uapi_server::serve(&uapi, &shared, &ctl_tx)
    })?;
    spawn("weft-tx", {
        let shared = shared.clone();
        move || tx::run(&shared)
    })?;
    for u in 0..shared.sockets.len() {
        let shared = shared.clone();
        let ctl_tx = ctl_tx.clone();
        spawn(&format!("weft-rx-{u}"), move || rx::run(&shared, u, &ctl_tx))?;
    }
    if let Some(mut start) = mesh {
        // A controller's enrolments are answered by the leader from the
        // ledger in the control store.
        start.node.delegate_enrolment(plane_ctl_started && start.node.enroller_state().is_some());
        let (ctl_tx, links, bgp) = (ctl_tx.clone(), shared.links.clone(), bgp.clone());
        crate::log_info!(
            Agent,
            "site {} in the mesh on {} (certificate serial {}, {})",
            cfg.name,
            start.socket.local_addr().map_or_else(|_| "?".to_owned(), |a| a.to_string()),
            start.node.cert().body.serial,
            if start.node.enroller_state().is_some() { "holds the CA" } else { "enrolled" }
        );
        let Some((publishing, follower, bundles)) = publishing else {
            anyhow::bail!("the mesh started without its request channel");
        };
        spawn("weft-follower", move || follower.run(&bundles))?;
        spawn("weft-mesh", move || {
            crate::mesh::driver::run(start, &mesh_rx, &ctl_tx, &links, bgp.as_deref(), publishing);
        })?;
    }
    serve_stored_profiles(cfg, &store, &ctl_tx)?;
    drop(ctl_tx);
    crate::log_info!(
        Agent,
        "site {} up on {} ({}), {} uplinks, {} peers, API on {}",
        cfg.name,
        cfg.interface,
        cfg.address,
        cfg.uplinks.len(),
        cfg.peers.len(),
        cfg.api_listen
    );
    let info = control::SiteInfo {
        role: cfg.role.clone(),
        region: cfg.region.clone(),
        prefixes: vec![cfg.address_prefix.to_string()],
    };
    let io = control::ControlIo {
        status,
        events: events_tx,
        metrics,
        info,
        interface: cfg.interface.clone(),
        store: store.clone(),
        directory,
    };
    control::Control::new(shared, node, io).run(&ctl_rx);
    Ok(())
}

/// The stored connection profiles that name this site become its run-time
/// stock peers again (`/api/v1/profiles`).
fn serve_stored_profiles(
    cfg: &SiteConfig,
    store: &Store,
    ctl_tx: &mpsc::Sender<ControlMsg>,
) -> Result<()> {
    for p in store.profiles()? {
        if !p.sites.iter().any(|s| s.as_str() == cfg.name.as_str()) {
            continue;
        }
        match crate::profiles::peer_spec(&p) {
            Some(spec) => {
                let _ = ctl_tx.send(ControlMsg::Mesh(MeshUpdate::Up(spec)));
            }
            None => eprintln!("weftd: stored client {} does not parse; not served", p.name),
        }
    }
    Ok(())
}

/// Prunes the audit log to `[retention]` now and every minute, on a thread
/// of its own (in small transactions: the API's writes go between them).
fn start_audit_retention(store: &Store, retention: crate::store::AuditRetention) -> Result<()> {
    let store = store.clone();
    std::thread::Builder::new()
        .name("weft-retention".into())
        .spawn(move || {
            loop {
                match store.prune_audit(&retention, crate::api::unix_ms()) {
                    Ok(0) => {}
                    Ok(n) => crate::log_info!(Agent, "retention: pruned {n} audit record(s)"),
                    Err(e) => crate::log_warn!(Agent, "retention: {e:#} (tried again in a minute)"),
                }
                std::thread::sleep(std::time::Duration::from_mins(1));
            }
        })
        .map(|_| ())
        .context("starting the retention thread")
}

/// Starts BIRD and the thread keeping its announcements (`[bgp]`), if set;
/// its board for the API.
fn start_bgp(
    cfg: &SiteConfig,
    status: &Arc<status::SharedStatus>,
    plane: &Arc<crate::controlplane::PlaneState>,
) -> Result<Option<Arc<crate::bgp::BgpBoard>>> {
    let Some(b) = &cfg.bgp else { return Ok(None) };
    let router_id = match b.router_id {
        Some(id) => id,
        None => match cfg.uplinks.iter().find_map(|u| match u.bind.ip() {
            std::net::IpAddr::V4(v4) if !v4.is_unspecified() => Some(v4),
            _ => None,
        }) {
            Some(id) => id,
            None => anyhow::bail!("[bgp] needs router_id: no uplink binds a specific IPv4 address"),
        },
    };
    let status = Arc::clone(status);
    let sites: crate::bgp::SitesNow = Arc::new(move || crate::api::views::sites(&status.get()));
    let (gtm, me) = (Arc::clone(&plane.gtm), cfg.name.to_string());
    let anycast: crate::bgp::AnycastNow = Arc::new(move || gtm.anycast_for(&me));
    crate::bgp::Speaker::start(b, router_id, &cfg.interface, sites, anycast)
        .map(Some)
        .context("starting BGP ([bgp])")
}

/// SVIDs from the control plane: requests go to the mesh thread, answers
/// come from this site's follower, the roots from the identity publication.
fn control_issuer(
    plane: &Arc<crate::controlplane::PlaneState>,
    mesh: mpsc::Sender<crate::mesh::ctl::MeshCtl>,
) -> crate::zt::issuing::ControlIssuer {
    let (tx, rx) = mpsc::channel();
    *plane.svid_answers.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(tx);
    let mesh = std::sync::Mutex::new(mesh);
    let send: crate::zt::issuing::SendRequest = Box::new(move |request| {
        let mesh = mesh.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = mesh.send(crate::mesh::ctl::MeshCtl::RequestSvid(Box::new(request)));
    });
    let plane = Arc::clone(plane);
    let view: crate::zt::issuing::ViewSource = Box::new(move || {
        let m = plane.identities.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        crate::zt::issuing::ControlView {
            trust_domain: m.trust_domain.clone(),
            roots: m.roots.clone(),
            intermediate_serial: m.intermediate_serial,
        }
    });
    crate::zt::issuing::ControlIssuer::new(send, view, rx)
}

/// Starts the site's zero-trust proxies (`[zerotrust]`), if it has any;
/// their identity rules follow the site's running policy.
fn start_zero_trust(
    cfg: &SiteConfig,
    store: &Store,
    shared: &Arc<Shared>,
    status: &Arc<status::SharedStatus>,
    plane: &Arc<crate::controlplane::PlaneState>,
    mesh: Option<&mpsc::Sender<crate::mesh::ctl::MeshCtl>>,
) -> Result<Option<Arc<crate::zt::site::ZtSite>>> {
    use crate::zt::backends::{Health, SiteView};
    let Some(z) = &cfg.zerotrust else { return Ok(None) };
    let status = Arc::clone(status);
    let sites: crate::zt::site::SitesView = Arc::new(move || {
        crate::api::views::sites(&status.get())
            .into_iter()
            .map(|s| SiteView {
                prefixes: s
                    .prefixes
                    .iter()
                    .filter_map(|p| weft_types::IpPrefix::parse(p).ok())
                    .collect(),
                health: match s.state {
                    weft_api::SiteState::Local => Health::Local,
                    weft_api::SiteState::Up => Health::Up,
                    weft_api::SiteState::Degraded => Health::Degraded,
                    _ => Health::Down,
                },
                rtt_ms: s.best_rtt_ms,
            })
            .collect()
    });
    let shared = Arc::clone(shared);
    let source: crate::zt::site::PolicySource = Box::new(move || {
        let generation = shared.policy_generation.load(std::sync::atomic::Ordering::Acquire);
        let policy = shared.policy.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        (generation, policy.policy.document.identity.clone())
    });
    let routed = Arc::clone(plane);
    let registry: crate::zt::proxy::Resolver = Arc::new(move |service: &str| {
        let flags = routed.routed.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        flags.backends(service)
    });
    let published = Arc::clone(plane);
    let mesh_revoked: crate::zt::site::MeshRevocations = Box::new(move || {
        let m = published.identities.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let ids = m.revoked.iter().filter_map(|id| weft_identity::SpiffeId::parse(id).ok());
        (m.seq, ids.collect())
    });
    let issuing = match (z.issuer, mesh) {
        (crate::config::Issuer::Local, _) => crate::zt::site::Issuing::Local,
        (crate::config::Issuer::Control, None) => {
            anyhow::bail!("[zerotrust] issuer = \"control\" needs the mesh ([mesh])")
        }
        (crate::config::Issuer::Control, Some(mesh)) => {
            crate::zt::site::Issuing::Control(control_issuer(plane, mesh.clone()))
        }
    };
    let site =
        crate::zt::site::ZtSite::start(z, store.clone(), source, mesh_revoked, &sites, issuing)
            .inspect(|site| {
                for e in site.entries.iter().filter(|e| e.kind == "gateway") {
                    e.proxy.set_resolver(Arc::clone(&registry));
                }
            })
            .context("starting the zero-trust proxies ([zerotrust])")?;
    for e in &site.entries {
        crate::log_info!(Agent, "zero-trust {} {} on {} as {}", e.kind, e.name, e.listen, e.id);
    }
    Ok(Some(site))
}

/// The node's configuration from the site's.
fn node_config(cfg: &SiteConfig, private_key: &PrivateKey) -> NodeConfig {
    let uplinks = cfg
        .uplinks
        .iter()
        .map(|u| UplinkSpec {
            name: u.name.clone(),
            ipv4: u.bind.is_ipv4(),
            cost_per_gb: u.cost_per_gb,
            metered: u.metered,
            priority: u.priority,
            capacity: u.capacity,
        })
        .collect();
    let unix_us = control::first_probe_counter();
    NodeConfig {
        site: cfg.name.clone(),
        private_key: private_key.clone(),
        uplinks,
        local_prefixes: std::iter::once(cfg.address_prefix)
            .chain(cfg.prefixes.iter().copied())
            .collect(),
        engine: cfg.engine.clone(),
        mesh_grace: cfg.mesh.grace,
        relay_hold_down: cfg.mesh.relay_hold_down,
        max_peers: MAX_PEERS,
        unix_us_at_start: unix_us,
        seed: unix_us,
    }
}

/// The configured peers as the data plane starts with them: the node's
/// first programs (peers up, operator removals) applied to an empty table.
/// A configured peer the node refused (a key no probe key can be derived
/// from) stops the start.
fn startup_table(
    node: &mut Node,
    private_key: &PrivateKey,
    configured: usize,
) -> Result<PeerTable> {
    let mut peers = Vec::new();
    let mut paths = Vec::new();
    while let Some(p) = node.poll_program() {
        match p {
            weft_node::Program::PeerUp { slot, spec, paths: new } => {
                paths.extend(new.iter().map(|p| Arc::new(peers::path_rt(slot, p))));
                peers.push(Arc::new(peers::peer_rt(private_key, slot, &spec, &new, None, None)));
            }
            weft_node::Program::PeerRemoved { slot, removed } => {
                if let Some(p) = peers.get(slot) {
                    p.removed.store(removed, std::sync::atomic::Ordering::Relaxed);
                }
            }
            _ => {}
        }
    }
    let mut notes = Vec::new();
    while let Some(e) = node.poll_event() {
        if let weft_node::NodeEvent::Note(line) = e {
            notes.push(line);
        }
    }
    if peers.len() != configured {
        anyhow::bail!("configured peers refused: {}", notes.join("; "));
    }
    Ok(PeerTable::new(peers, paths))
}

/// The state directory holds the API socket (full access), the admin token
/// and the database: root only.
fn restrict_state_dir(dir: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("restricting the state directory {} to its owner", dir.display()))
}

/// Registers `STATE_DIR/api.token` as the admin token `bootstrap`. A new
/// secret there (the file was deleted to rotate it) replaces the old
/// bootstrap token; a secret an operator revoked stays revoked (a warning,
/// not a failed start: the socket still gives the local admin).
fn register_bootstrap(store: &Store, secret: &str, dir: &std::path::Path) -> Result<()> {
    let now = crate::api::unix_ms();
    let scope = weft_api::Scope::Admin;
    let Err(first) = store.import_token("bootstrap", scope, secret, now) else { return Ok(()) };
    let old = store.tokens_page(None, usize::MAX)?.0.into_iter().find(|t| t.name == "bootstrap");
    if let Some(old) = old {
        store.revoke_token(old.id, now)?;
        if store.import_token("bootstrap", scope, secret, now).is_ok() {
            let rec = NewAudit {
                who: "startup".to_owned(),
                action: "token.rotate".to_owned(),
                target: format!("token {}", old.id),
                before: Some("bootstrap (old api.token)".to_owned()),
                after: Some("bootstrap (new api.token)".to_owned()),
                detail: "api.token holds a new secret".to_owned(),
            };
            store.audit(&rec, now)?;
            return Ok(());
        }
    }
    crate::log_warn!(
        Agent,
        "warning: {}/api.token is not a valid admin token ({first:#}); use the API socket, \
         or delete the file and restart to get a new one",
        dir.display()
    );
    Ok(())
}

pub use weft_layout::API_SOCKET;

/// Records the configured sites and paths in the store; returns the sites an
/// operator removed (they stay removed across restarts).
fn remember_sites(cfg: &SiteConfig, store: &Store) -> Result<Vec<String>> {
    let now = crate::api::unix_ms();
    for p in &cfg.peers {
        store.upsert_site(
            &SiteRecord {
                id: p.name.to_string(),
                role: p.role.clone(),
                region: p.region.clone(),
                public_key: p.public_key.to_base64(),
                endpoints: p.endpoints.iter().map(ToString::to_string).collect(),
                prefixes: p.prefixes.iter().map(ToString::to_string).collect(),
                removed: false,
            },
            now,
        )?;
        for u in &cfg.uplinks {
            for e in p.endpoints.iter().filter(|e| e.is_ipv4() == u.bind.is_ipv4()) {
                let (site, remote) = (p.name.to_string(), e.to_string());
                let key = crate::store::path_key(&site, &u.name, &remote);
                store.upsert_path(&key, &site, &u.name, &remote, now)?;
            }
        }
    }
    Ok(store.sites()?.into_iter().filter(|s| s.removed).map(|s| s.id).collect())
}

/// The sites policies may name at start: this site and its configured peers,
/// then the sites the store remembers (mesh members seen before), so a
/// policy naming a mesh member still compiles after a restart, before the
/// member is back.
fn known_sites(cfg: &SiteConfig, store: &Store) -> Result<weft_policy::SiteDirectory> {
    let mut dir = policy::directory(cfg);
    for s in store.sites()? {
        if s.removed || dir.sites.contains_key(&s.id) {
            continue;
        }
        let prefixes = s.prefixes.iter().filter_map(|p| weft_types::IpPrefix::parse(p).ok());
        let info = weft_policy::SiteInfo {
            prefixes: prefixes.collect(),
            role: s.role,
            region: s.region,
            uplinks: Vec::new(),
        };
        dir.insert(s.id, info);
    }
    Ok(dir)
}

/// The policy to start with: the stored current version; else the config's
/// `[policy] file` (checked like an apply, stored as version 1); else the
/// built-in one from the `[[class]]` rules.
fn first_policy(
    cfg: &SiteConfig,
    store: &Store,
    directory: &weft_policy::SiteDirectory,
) -> Result<ActivePolicy> {
    let peers = MAX_PEERS;
    if let Some(version) = store.current_policy()? {
        let text = store.policy_text(version)?;
        let label = std::path::PathBuf::from(format!("policy-v{version}.toml"));
        // Tests passed when it was applied; compile errors now (say, a site
        // vanished) would leave the site without a policy, so they stop the start.
        let doc = weft_policy::parse(&label, &text).map_err(|d| {
            anyhow::anyhow!("stored policy version {version} no longer parses:\n{}", join(&d))
        })?;
        let mut dir = directory.clone();
        dir.fill_from(&weft_policy::SiteDirectory::from_document(&doc));
        let (compiled, warnings) = weft_policy::compile(&doc, &dir).map_err(|e| {
            anyhow::anyhow!("stored policy version {version} no longer compiles:\n{e}")
        })?;
        let warnings = warnings.iter().map(ToString::to_string).collect();
        return Ok(ActivePolicy::new(version, compiled, text, peers, warnings));
    }
    if let Some(file) = &cfg.policy_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading the policy file {}", file.display()))?;
        let checked = policy::check(file, &text, directory).map_err(|r| {
            let mut lines = r.findings.clone();
            lines.extend(r.tests.iter().filter_map(|t| {
                t.failure.as_ref().map(|f| format!("test {:?} (line {}): {f}", t.name, t.line))
            }));
            anyhow::anyhow!("{}: {}\n{}", file.display(), r.message, lines.join("\n"))
        })?;
        let by = format!("startup {}", file.display());
        let now = crate::api::unix_ms();
        let meta = store.store_policy(&checked.policy.document.name, &text, &by, now)?;
        store.set_current_policy(meta.version)?;
        let rec = NewAudit {
            who: by.clone(),
            action: "policy.apply".to_owned(),
            target: "policy".to_owned(),
            before: None,
            after: Some(format!("version {}", meta.version)),
            detail: "initial policy from the site config".to_owned(),
        };
        store.audit(&rec, now)?;
        let warnings = checked.warnings.iter().map(ToString::to_string).collect();
        return Ok(ActivePolicy::new(meta.version, checked.policy, text, peers, warnings));
    }
    let text = policy::builtin_text(&cfg.classes);
    let checked =
        policy::check(std::path::Path::new("builtin"), &text, directory).map_err(|r| {
            anyhow::anyhow!(
                "the built-in policy was refused: {}\n{}",
                r.message,
                r.findings.join("\n")
            )
        })?;
    Ok(ActivePolicy::new(0, checked.policy, text, peers, Vec::new()))
}

fn join(d: &[weft_types::Diagnostic]) -> String {
    d.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<()> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .with_context(|| format!("starting thread {name}"))?;
    Ok(())
}

/// 64 bits from the operating system (seeds of the mesh node's choices).
pub(crate) fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return control::first_probe_counter() ^ u64::from(std::process::id());
    }
    u64::from_ne_bytes(b)
}
