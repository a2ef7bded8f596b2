//! `weft lab up --agents --mesh --controllers N`: the first N sites of the
//! lab become controllers of the control plane. With one, its state is in
//! `SQLite`; with more, an etcd member runs in each controller's site
//! (client port 2379, peer port 2380 on its first uplink) and every
//! controller uses the cluster. Every controller holds a copy of the mesh
//! CA (it signs publications and answers enrolments for the leader) and
//! joins the mesh through the first site.

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use weft_lab::Lab;
use weft_layout::DEFAULT_MESH_PORT;
use weft_layout::labgen::{GeneratedSite, LabSite};
use weft_layout::mesh::{CA_KEY, MESH_DIR};

/// Client and peer ports of the lab's etcd members.
const ETCD_CLIENT: u16 = 2379;
const ETCD_PEER: u16 = 2380;

/// Starts the etcd members (two or more controllers) and adds `[controller]`
/// (and, after the first, a seed) to the controllers' configs.
pub(crate) fn prepare(
    lab: &mut Lab,
    dir: &Path,
    sites: &[LabSite],
    generated: &[GeneratedSite],
    controllers: usize,
) -> Result<()> {
    let addr = |i: usize| sites[i].uplinks[0].1;
    let section = if controllers == 1 {
        "[controller]\nstore = \"sqlite\"\n".to_owned()
    } else {
        start_etcd(lab, dir, sites, controllers)?;
        let endpoints: Vec<String> =
            (0..controllers).map(|i| format!("\"{}:{ETCD_CLIENT}\"", addr(i))).collect();
        format!("[controller]\nstore = \"etcd\"\nendpoints = [{}]\n", endpoints.join(", "))
    };
    let seed = format!("{}:{DEFAULT_MESH_PORT}", addr(0));
    for (i, g) in generated.iter().enumerate().take(controllers) {
        let mut text = std::fs::read_to_string(&g.config)
            .with_context(|| format!("reading {}", g.config.display()))?;
        if i > 0 {
            text = text.replacen("[mesh]\n", &format!("[mesh]\nseeds = [\"{seed}\"]\n"), 1);
        }
        text.push('\n');
        text.push_str(&section);
        std::fs::write(&g.config, text)
            .with_context(|| format!("writing {}", g.config.display()))?;
    }
    Ok(())
}

/// Copies the mesh CA of the first site to another controller's state directory.
pub(crate) fn share_ca(from_state: &Path, to_state: &Path) -> Result<()> {
    let to = to_state.join(MESH_DIR);
    std::fs::create_dir_all(&to).with_context(|| format!("creating {}", to.display()))?;
    let (src, dst) = (from_state.join(MESH_DIR).join(CA_KEY), to.join(CA_KEY));
    std::fs::copy(&src, &dst)
        .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

fn start_etcd(lab: &mut Lab, dir: &Path, sites: &[LabSite], n: usize) -> Result<()> {
    if std::process::Command::new("etcd").arg("--version").output().is_err() {
        bail!("etcd is not installed (scripts/install-deps.sh installs Debian's etcd-server)");
    }
    let addr = |i: usize| sites[i].uplinks[0].1;
    let cluster: Vec<String> =
        (0..n).map(|i| format!("{}=http://{}:{ETCD_PEER}", sites[i].name, addr(i))).collect();
    for (i, site) in sites.iter().enumerate().take(n) {
        let a = addr(i);
        let log = dir.join(format!("etcd-{}.log", site.name));
        let log = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = lab.command(site.name.as_str(), "etcd")?;
        cmd.args(["--name", &site.name])
            .arg("--data-dir")
            .arg(dir.join(format!("etcd-{}", site.name)))
            .args(["--listen-client-urls", &format!("http://{a}:{ETCD_CLIENT}")])
            .args(["--advertise-client-urls", &format!("http://{a}:{ETCD_CLIENT}")])
            .args(["--listen-peer-urls", &format!("http://{a}:{ETCD_PEER}")])
            .args(["--initial-advertise-peer-urls", &format!("http://{a}:{ETCD_PEER}")])
            .args(["--initial-cluster", &cluster.join(",")])
            .args(["--initial-cluster-state", "new", "--initial-cluster-token", "weft-lab"])
            .args(["--logger", "zap", "--log-outputs", "stderr"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        lab.spawn_command(cmd)?;
    }
    let health = format!("http://{}:{ETCD_CLIENT}/health", addr(0));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = lab
            .exec(sites[0].name.as_str(), &["curl", "-sf", "--max-time", "1", &health])
            .is_ok_and(|o| {
                o.status.success() && String::from_utf8_lossy(&o.stdout).contains("true")
            });
        if ok {
            println!(
                "etcd: {n} members in sites {}",
                sites.iter().take(n).map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
            );
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the lab's etcd cluster did not become healthy (logs in {})", dir.display());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
