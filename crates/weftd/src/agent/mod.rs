//! The running agent: builds the data plane and the path engine from a
//! [`SiteConfig`], then runs one send thread, one receive thread per uplink,
//! the HTTP status server, the UAPI server, and the control loop (on the
//! calling thread).

mod control;
mod gate;
mod http;
mod policy_api;
mod rx;
mod shared;
mod status;
mod tx;
mod uapi_server;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use weft_dataplane::probe::{PeerProbeState, ProbeKey};
use weft_dataplane::sys::{self, IfAddr, Rtnl, TunConfig, TunDevice, UplinkSocket};
use weft_dataplane::wg::WgSession;
use weft_path::{LivenessSource, PathAttrs, PathEngine, PathSpec};
use weft_types::{PeerId, PrivateKey, SeededRng, UplinkId};

use crate::config::SiteConfig;
use crate::policy::{self, ActivePolicy, PolicyStore};
use shared::{PathRt, PeerRt, Shared};

pub(crate) use shared::NO_PATH;

pub use status::{PathStatus, Status};

/// Reads a private key file written by `weft genkey` (base64, one line).
pub fn read_private_key(path: &std::path::Path) -> Result<PrivateKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading private key {}", path.display()))?;
    PrivateKey::from_base64(text.trim())
        .with_context(|| format!("private key {} is not a WireGuard key", path.display()))
}

/// Runs the agent until the process is stopped.
pub fn run(cfg: &SiteConfig) -> Result<()> {
    let private_key = read_private_key(&cfg.private_key_file)?;
    let tun = TunDevice::create(&TunConfig::new(&cfg.interface).mtu(cfg.mtu))
        .with_context(|| format!("creating TUN device {}", cfg.interface))?;
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
        let mut c = sys::UplinkConfig::new(u.bind);
        if let Some(d) = &u.device {
            c = c.device(d.clone());
        }
        let s = UplinkSocket::bind(&c)
            .with_context(|| format!("binding uplink {} to {}", u.name, u.bind))?;
        for w in &s.buffers().warnings {
            eprintln!("weftd: uplink {}: {w}", u.name);
        }
        sockets.push(s);
    }

    let now = Instant::now();
    let seed = control::first_probe_counter();
    let mut engine = PathEngine::new(cfg.engine.clone(), SeededRng::new(seed), now)?;
    let store = PolicyStore::open(&cfg.state_dir)?;
    let directory = policy::directory(cfg);
    let first = first_policy(cfg, &store, &directory)?;

    let mut peers = Vec::new();
    let mut paths = Vec::new();
    let mut path_by_addr = HashMap::new();
    let mut probes = Vec::new();
    for (pi, p) in cfg.peers.iter().enumerate() {
        let keepalive = p.keepalive.map(|d| u16::try_from(d.as_secs().max(1)).unwrap_or(u16::MAX));
        let local_index = u32::try_from(pi + 1).context("too many peers")?;
        let session = WgSession::new(&private_key, &p.public_key, None, keepalive, local_index);
        let mut order: Vec<usize> = (0..cfg.uplinks.len()).collect();
        order.sort_by_key(|u| cfg.uplinks[*u].priority);
        let mut peer_paths = Vec::new();
        for u in order {
            let up = &cfg.uplinks[u];
            for remote in p.endpoints.iter().filter(|e| e.is_ipv4() == up.bind.is_ipv4()) {
                let liveness = if p.stock {
                    LivenessSource::Traffic {
                        expected_interval: p.keepalive.unwrap_or(Duration::from_secs(1)),
                    }
                } else {
                    LivenessSource::Probes
                };
                let attrs = PathAttrs {
                    cost_per_gb: up.cost_per_gb,
                    capacity: up.capacity,
                    priority: up.priority,
                    metered: up.metered,
                };
                let spec = PathSpec {
                    peer: PeerId(pi as u32),
                    uplink: UplinkId(u as u16),
                    remote: *remote,
                    attrs,
                    liveness,
                };
                let engine_id = engine.add_path(now, spec);
                let dense = u32::try_from(paths.len()).context("too many paths")?;
                path_by_addr.insert((u, *remote), dense);
                peer_paths.push(dense);
                paths.push(PathRt {
                    peer: pi,
                    uplink: u,
                    remote: *remote,
                    engine_id,
                    tx_bytes: AtomicU64::new(0),
                    rx_bytes: AtomicU64::new(0),
                    rx_packets: AtomicU64::new(0),
                });
            }
        }
        probes.push(if p.stock {
            None
        } else {
            let key = ProbeKey::derive(&private_key, &p.public_key)
                .map_err(|e| anyhow::anyhow!("peer {}: {e}", p.name))?;
            Some(PeerProbeState::new(key, control::first_probe_counter()))
        });
        peers.push(PeerRt {
            name: p.name.clone(),
            public_key: p.public_key,
            prefixes: p.prefixes.clone(),
            keepalive,
            session: Mutex::new(session),
            paths: peer_paths,
            last_path: AtomicU32::new(NO_PATH),
        });
    }
    let mut routes: Vec<_> = cfg
        .peers
        .iter()
        .enumerate()
        .flat_map(|(i, p)| p.prefixes.iter().map(move |x| (*x, i)))
        .collect();
    routes.sort_by_key(|(p, _)| std::cmp::Reverse(p.prefix_len()));

    let shared = Arc::new(Shared {
        site: cfg.name.clone(),
        private_key,
        tun,
        sockets,
        uplink_names: cfg.uplinks.iter().map(|u| u.name.clone()).collect(),
        peers,
        paths,
        path_by_addr,
        routes,
        policy: RwLock::new(Arc::new(first)),
        policy_generation: AtomicU64::new(0),
        drops: shared::Drops::default(),
        established: gate::Established::default(),
    });

    let status = Arc::new(Mutex::new(Status::default()));
    let listener = TcpListener::bind(cfg.api_listen)
        .with_context(|| format!("binding the API to {}", cfg.api_listen))?;
    let uapi = uapi_server::bind(&cfg.interface).context("binding the UAPI socket")?;
    let (ctl_tx, ctl_rx) = mpsc::channel();

    let token = policy_api::load_or_create_token(&cfg.state_dir)?;
    let api = Arc::new(policy_api::PolicyApi::new(
        store,
        directory,
        shared.clone(),
        ctl_tx.clone(),
        token,
    ));
    spawn("weft-http", {
        let status = status.clone();
        move || http::serve(&listener, &status, &api)
    })?;
    spawn("weft-uapi", {
        let shared = shared.clone();
        move || uapi_server::serve(&uapi, &shared)
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
    drop(ctl_tx);
    eprintln!(
        "weftd: site {} up on {} ({}), {} uplinks, {} peers, API on {}",
        cfg.name,
        cfg.interface,
        cfg.address,
        cfg.uplinks.len(),
        cfg.peers.len(),
        cfg.api_listen
    );
    control::Control::new(shared, engine, probes, status).run(&ctl_rx);
    Ok(())
}

/// The policy to start with: the stored current version; else the config's
/// `[policy] file` (checked like an apply, stored as version 1); else the
/// built-in one from the `[[class]]` rules.
fn first_policy(
    cfg: &SiteConfig,
    store: &PolicyStore,
    directory: &weft_policy::SiteDirectory,
) -> Result<ActivePolicy> {
    let peers = cfg.peers.len();
    if let Some(version) = store.current()? {
        let text = store.text(version)?;
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
        let meta = store.store(&checked.policy.document.name, &text, &by)?;
        store.set_current(meta.version)?;
        store.audit(
            &by,
            "policy.apply",
            None,
            Some(meta.version),
            "initial policy from the site config",
        )?;
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
