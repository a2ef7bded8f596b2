//! BGP at a site's edge (`[bgp]`): `weftd` runs a BIRD 2 daemon beside
//! itself (`bird -f`, in `[bgp] dir`, dying with the agent) and keeps its
//! configuration equal to what the site should announce: the prefixes of
//! every site the path engine reaches (up or degraded; this site's own with
//! `announce_local`) and the anycast prefixes of the global services GTM
//! says this site serves now (`weft_gtm::announcements`), rewritten and reloaded (`birdc configure`) within a
//! second of a change, so a site the mesh loses is withdrawn from the
//! routers and comes back with its paths.
//!
//! With `[bgp] learn` it also reads, every second, the routes BIRD imported
//! from its routers (inside those ranges) and keeps those that overlap no
//! site's prefix; the [`BgpBoard`] shows them (`GET /api/v1/bgp`). A learnt
//! prefix is never announced by this site, so it never goes back to the
//! router it came from.
//!
//! - [`render`]: the configuration text (pure).
//! - [`learn`]: the routes BIRD learnt, parsed and checked.
//! - [`sessions`]: each BGP session's state, as BIRD reports it.
//! - [`announced`]: what to announce from the sites' states (pure).

mod learn;
mod render;
mod sessions;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use weft_api::{BgpNeighbor, BgpStatus, LearntPrefix, Site, SiteState};
use weft_types::IpPrefix;

use crate::config::BgpConfig;

/// The prefixes to announce: those of the sites that are up or degraded,
/// and this site's own when `announce_local`.
pub(crate) fn announced(sites: &[Site], announce_local: bool) -> BTreeSet<IpPrefix> {
    sites
        .iter()
        .filter(|s| match s.state {
            SiteState::Local => announce_local,
            SiteState::Up | SiteState::Degraded => true,
            _ => false,
        })
        .flat_map(|s| s.prefixes.iter().filter_map(|p| IpPrefix::parse(p).ok()))
        .collect()
}

/// The sites as the agent sees them now.
pub(crate) type SitesNow = Arc<dyn Fn() -> Vec<Site> + Send + Sync>;

/// The anycast prefixes GTM says this site announces now.
pub(crate) type AnycastNow = Arc<dyn Fn() -> BTreeSet<IpPrefix> + Send + Sync>;

/// Every site's prefixes as `(site, prefix)`: what a learnt route may not
/// overlap.
fn taken(sites: &[Site]) -> Vec<(String, IpPrefix)> {
    sites
        .iter()
        .flat_map(|s| {
            s.prefixes.iter().filter_map(|p| IpPrefix::parse(p).ok()).map(|p| (s.id.clone(), p))
        })
        .collect()
}

/// What the speaker does now, for the API: written by its thread every
/// second, read by `GET /api/v1/bgp`.
#[derive(Default)]
pub(crate) struct BgpBoard {
    status: Mutex<BgpStatus>,
    /// `[bgp] learn_preference`, advertised with the accepted prefixes.
    learn_preference: u32,
    /// What the mesh thread last published of the other sites' learnt prefixes.
    mesh: Mutex<MeshLearnt>,
}

/// The learnt prefixes other sites advertise, as the mesh thread sees them.
#[derive(Default, Clone)]
pub(crate) struct MeshLearnt {
    /// Every learnt prefix another site advertises (inside its certified
    /// learn ranges): the same prefix learnt here is not a collision, and
    /// is never announced to this site's routers.
    pub(crate) others: BTreeSet<IpPrefix>,
}

impl BgpBoard {
    /// The latest status.
    pub(crate) fn get(&self) -> BgpStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// `[bgp] learn_preference`.
    pub(crate) fn learn_preference(&self) -> u32 {
        self.learn_preference
    }

    /// The other sites' learnt prefixes (the mesh thread's last word).
    pub(crate) fn mesh(&self) -> MeshLearnt {
        self.mesh.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Publishes the other sites' learnt prefixes (the mesh thread).
    pub(crate) fn set_mesh(&self, mesh: MeshLearnt) {
        if let Ok(mut m) = self.mesh.lock() {
            *m = mesh;
        }
    }

    /// The learnt prefixes this site accepted: the mesh thread advertises
    /// them into the mesh (page 0 of its link state).
    pub(crate) fn accepted_learnt(&self) -> Vec<IpPrefix> {
        let Ok(s) = self.status.lock() else { return Vec::new() };
        s.learnt
            .iter()
            .filter(|l| l.accepted)
            .filter_map(|l| IpPrefix::parse(&l.prefix).ok())
            .collect()
    }

    /// Publishes `status` (the speaker's thread; tests).
    pub(crate) fn set(&self, status: BgpStatus) {
        if let Ok(mut s) = self.status.lock() {
            *s = status;
        }
    }
}

/// Reads failed in a row before a neighbor's routes count as withdrawn
/// (a busy BIRD may miss one `birdc` call; a dead one misses them all).
const READ_FAILURES_TOLERATED: u32 = 3;

/// The routes BIRD holds from each importing neighbor, with the reads
/// that failed in a row.
#[derive(Default)]
struct Learner {
    routes: BTreeMap<String, (Vec<IpPrefix>, u32)>,
}

/// The BIRD daemon and the loop that keeps its configuration.
pub(crate) struct Speaker {
    cfg: BgpConfig,
    router_id: Ipv4Addr,
    interface: String,
    conf: PathBuf,
    socket: PathBuf,
}

impl Speaker {
    /// Starts BIRD with an empty announcement and the thread that follows
    /// `sites` and reads what BIRD learnt; its board shows both.
    pub(crate) fn start(
        cfg: &BgpConfig,
        router_id: Ipv4Addr,
        interface: &str,
        sites: SitesNow,
        anycast: AnycastNow,
    ) -> Result<Arc<BgpBoard>> {
        let board =
            Arc::new(BgpBoard { learn_preference: cfg.learn_preference, ..BgpBoard::default() });
        let published = Arc::clone(&board);
        std::fs::create_dir_all(&cfg.dir)
            .with_context(|| format!("creating {}", cfg.dir.display()))?;
        let me = Self {
            cfg: cfg.clone(),
            router_id,
            interface: interface.to_owned(),
            conf: cfg.dir.join("bird.conf"),
            socket: cfg.dir.join("bird.ctl"),
        };
        let mut current = BTreeSet::new();
        me.write(&current)?;
        // BIRD is started from the thread that keeps it: it dies with the
        // thread that spawned it (PR_SET_PDEATHSIG), which lives as long as
        // the agent.
        let (started, ready) = std::sync::mpsc::channel();
        std::thread::Builder::new().name("weft-bgp".into()).spawn(move || {
            let mut child = match me.spawn() {
                Ok(c) => {
                    crate::log_info!(
                        Bgp,
                        "BGP: BIRD (pid {}) with {} neighbor(s), configuration {}",
                        c.id(),
                        me.cfg.neighbors.len(),
                        me.conf.display()
                    );
                    let _ = started.send(Ok(()));
                    c
                }
                Err(e) => {
                    let _ = started.send(Err(e));
                    return;
                }
            };
            let mut learner = Learner::default();
            loop {
                std::thread::sleep(Duration::from_secs(1));
                if let Ok(Some(status)) = child.try_wait() {
                    crate::log_info!(
                        Bgp,
                        "BGP: BIRD exited ({status}; its log: {}); starting it again in 5 s",
                        me.cfg.dir.join("bird.log").display()
                    );
                    std::thread::sleep(Duration::from_secs(5));
                    match me.spawn() {
                        Ok(c) => child = c,
                        Err(e) => crate::log_warn!(Bgp, "BGP: {e:#}"),
                    }
                    continue;
                }
                let sites_now = sites();
                let mesh = published.mesh();
                let learnt = me.learn(&mut learner, &taken(&sites_now), &mesh.others);
                let mut next = announced(&sites_now, me.cfg.announce_local);
                next.extend(anycast());
                // Never back to the routers: what this site learnt is not
                // announced by it (the router it came from has it), nor
                // what another edge learnt inside this site's learn ranges
                // (the same data centre: its routers have it from there).
                next.retain(|p| !learnt.iter().any(|l| l.accepted && l.prefix == p.to_string()));
                next.retain(|p| {
                    !(mesh.others.contains(p) && me.cfg.learn.iter().any(|r| r.covers(p)))
                });
                if next != current {
                    match me.apply(&next) {
                        Ok(()) => {
                            crate::log_info!(
                                Bgp,
                                "BGP: announcing {} prefix(es): {}",
                                next.len(),
                                next.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
                            );
                            current = next;
                        }
                        Err(e) => {
                            crate::log_warn!(Bgp, "BGP: {e:#} (the previous announcement stays)");
                        }
                    }
                }
                published.set(me.status(&current, learnt));
            }
        })?;
        ready.recv().context("the BGP thread")??;
        Ok(board)
    }

    /// Reads the routes of every importing neighbor and checks them
    /// against `learn` and the sites' prefixes; logs what changed.
    /// A route equal to a prefix another site learnt (`shared`) is not a
    /// collision: both edges advertise it and the mesh picks one.
    fn learn(
        &self,
        learner: &mut Learner,
        taken: &[(String, IpPrefix)],
        shared: &BTreeSet<IpPrefix>,
    ) -> Vec<LearntPrefix> {
        for n in self.cfg.neighbors.iter().filter(|n| n.import) {
            let entry = learner.routes.entry(n.name.clone()).or_default();
            match learn::read(&self.socket, &n.name) {
                Ok(routes) => {
                    if routes != entry.0 {
                        crate::log_info!(
                            Bgp,
                            "BGP: {} route(s) from {}: {}",
                            routes.len(),
                            n.name,
                            routes.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
                        );
                    }
                    *entry = (routes, 0);
                }
                Err(e) => {
                    entry.1 += 1;
                    if entry.1 == READ_FAILURES_TOLERATED && !entry.0.is_empty() {
                        crate::log_warn!(Bgp, "BGP: {e:#}; {}'s routes are withdrawn", n.name);
                        entry.0.clear();
                    }
                }
            }
        }
        let mut routes = BTreeMap::new();
        for (name, (prefixes, _)) in &learner.routes {
            for p in prefixes {
                routes.entry(*p).or_insert_with(|| name.clone());
            }
        }
        learn::check(&routes, &self.cfg.learn, taken, shared)
    }

    fn status(&self, announced: &BTreeSet<IpPrefix>, learnt: Vec<LearntPrefix>) -> BgpStatus {
        let sessions = sessions::read(&self.socket);
        BgpStatus {
            enabled: true,
            local_as: self.cfg.local_as,
            learn: self.cfg.learn.iter().map(ToString::to_string).collect(),
            announced: announced.iter().map(ToString::to_string).collect(),
            neighbors: self
                .cfg
                .neighbors
                .iter()
                .map(|n| BgpNeighbor {
                    name: n.name.clone(),
                    address: n.address.to_string(),
                    remote_as: n.remote_as,
                    import: n.import,
                    session: sessions.get(&n.name).cloned().unwrap_or_default(),
                })
                .collect(),
            learnt,
            shared: Vec::new(), // the mesh thread's, added by the API
        }
    }

    fn write(&self, prefixes: &BTreeSet<IpPrefix>) -> Result<()> {
        let text = render::render(&self.cfg, self.router_id, &self.interface, prefixes);
        write_file(&self.conf, &text)
    }

    /// Rewrites the configuration and has BIRD reload it; on a refusal the
    /// previous file is put back.
    fn apply(&self, prefixes: &BTreeSet<IpPrefix>) -> Result<()> {
        let before = std::fs::read_to_string(&self.conf).unwrap_or_default();
        self.write(prefixes)?;
        let out = Command::new("birdc")
            .arg("-s")
            .arg(&self.socket)
            .arg("configure")
            .output()
            .context("running birdc")?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || !text.contains("Reconfigured") {
            write_file(&self.conf, &before)?;
            bail!("BIRD refused the configuration: {}", text.trim());
        }
        Ok(())
    }

    /// `bird -f` on our configuration and socket, killed when the agent dies.
    fn spawn(&self) -> Result<Child> {
        let log =
            std::fs::File::create(self.cfg.dir.join("bird.log")).context("creating BIRD's log")?;
        let mut cmd = Command::new("bird");
        cmd.arg("-f")
            .arg("-c")
            .arg(&self.conf)
            .arg("-s")
            .arg(&self.socket)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        weft_dataplane::sys::die_with_parent(&mut cmd);
        cmd.spawn().context("starting bird (BIRD 2: apt-get install bird2)")
    }
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("conf.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(id: &str, state: SiteState, prefix: &str) -> Site {
        Site {
            id: id.into(),
            role: None,
            region: None,
            state,
            endpoints: Vec::new(),
            prefixes: vec![prefix.into()],
            paths_up: 0,
            paths_total: 0,
            best_rtt_ms: None,
        }
    }

    #[test]
    fn reachable_sites_are_announced_and_unreachable_ones_withdrawn() {
        let sites = [
            site("a", SiteState::Local, "10.77.1.0/24"),
            site("b", SiteState::Up, "10.77.2.0/24"),
            site("c", SiteState::Degraded, "10.77.3.0/24"),
            site("d", SiteState::Down, "10.77.4.0/24"),
        ];
        let p = |s: &str| IpPrefix::parse(s).unwrap();
        assert_eq!(announced(&sites, false), [p("10.77.2.0/24"), p("10.77.3.0/24")].into());
        assert!(announced(&sites, true).contains(&p("10.77.1.0/24")));
    }
}
