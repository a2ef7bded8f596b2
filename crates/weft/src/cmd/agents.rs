//! `weft lab up --agents [--mesh]`: weftd in every site of a lab, with
//! static peers, or as a zero-touch mesh (the first site holds the CA, the
//! others join with a token).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use weft_lab::Lab;
use weft_layout::labgen::{LabOptions, LabSite, interface_prefix, write_configs};
use weft_layout::{API_SOCKET, DEFAULT_API, DEFAULT_MESH_PORT, TOKEN_FILE};

/// The weftd binary: `$WEFTD`, else the one next to this `weft`.
fn weftd_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("WEFTD") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().context("locating the weft binary")?;
    let p = exe.with_file_name("weftd");
    if !p.exists() {
        bail!("weftd not found next to {} (build it, or set WEFTD)", exe.display());
    }
    Ok(p)
}

/// How the agents of a lab run.
pub(crate) struct How<'a> {
    /// `[probe] interval`.
    pub(crate) probe_interval: &'a str,
    /// The policy every agent starts with.
    pub(crate) policy: Option<&'a Path>,
    /// A zero-touch mesh instead of static peers.
    pub(crate) mesh: bool,
    /// With `mesh`: the first this many sites are controllers.
    pub(crate) controllers: usize,
    /// Every uplink's `capacity`, if given.
    pub(crate) uplink_capacity: Option<&'a str>,
    /// `false`: `[qos] enabled = false`.
    pub(crate) qos: bool,
}

/// Writes keys and configs for every site of `lab`, starts weftd in each, and
/// waits until every agent answers on its API. In a mesh, the first site's
/// agent gets a new CA and starts first; it mints one join token for all
/// the others, which start with `--join TOKEN --seed` its mesh address.
pub(crate) fn start(lab: &mut Lab, how: &How<'_>) -> Result<()> {
    let (probe_interval, policy) = (how.probe_interval, how.policy);
    let weftd = weftd_binary()?;
    let state_file = lab.state().path();
    let dir = state_file.parent().context("lab state directory")?.join("agents");
    let sites: Vec<LabSite> = lab
        .sites()
        .iter()
        .map(|s| LabSite {
            name: s.name.clone(),
            uplinks: s.uplinks.iter().map(|u| (u.name.clone(), u.addr)).collect(),
        })
        .collect();
    let opts = LabOptions {
        probe_interval: probe_interval.to_owned(),
        interface_prefix: interface_prefix(lab.name()),
        policy_file: policy
            .map(|p| std::path::absolute(p).with_context(|| format!("locating {}", p.display())))
            .transpose()?,
        mesh: how.mesh,
        uplink_capacity: how.uplink_capacity.map(str::to_owned),
        qos: how.qos,
        ..LabOptions::default()
    };
    let generated = write_configs(&dir, &sites, &opts).context("writing agent configs")?;
    if how.controllers > generated.len() {
        bail!("--controllers {} but the lab has {} sites", how.controllers, generated.len());
    }
    if how.controllers > 0 {
        super::controllers::prepare(lab, &dir, &sites, &generated, how.controllers)?;
    }
    let first_joiner = how.controllers.max(1);
    let mut join: Vec<String> = Vec::new();
    for (i, g) in generated.iter().enumerate() {
        if how.mesh && i == 0 {
            let ca = weft_layout::mesh::init_ca(&g.state_dir)?;
            println!("mesh CA {} held by site {}", ca.fingerprint(), g.name);
        }
        if how.mesh && i > 0 && i < how.controllers {
            super::controllers::share_ca(&generated[0].state_dir, &g.state_dir)?;
        }
        if how.mesh && i == first_joiner {
            wait_healthy(lab, &generated[0].name, &dir, Instant::now() + Duration::from_secs(10))?;
            let others = u32::try_from(generated.len() - first_joiner).unwrap_or(u32::MAX);
            let token = mint_token(&generated[0].state_dir, others)?;
            let seed = format!("{}:{}", sites[0].uplinks[0].1, DEFAULT_MESH_PORT);
            join = vec!["--join".to_owned(), token, "--seed".to_owned(), seed];
        }
        let log_path = dir.join(format!("{}.log", g.name));
        let log =
            File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let mut cmd = lab.command(g.name.as_str(), &weftd)?;
        cmd.arg("--config").arg(&g.config).args(&join);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
        lab.spawn_command(cmd)?;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for g in &generated {
        wait_healthy(lab, &g.name, &dir, deadline)?;
        println!(
            "agent {}: overlay {} on {}, config {}, API token {}",
            g.name,
            g.overlay,
            g.interface,
            g.config.display(),
            g.state_dir.join(TOKEN_FILE).display()
        );
    }
    Ok(())
}

/// Mints a join token for `uses` sites through the CA holder's API socket.
fn mint_token(state_dir: &Path, uses: u32) -> Result<String> {
    let sock = state_dir.join(API_SOCKET);
    let body = format!("{{\"uses\": {uses}, \"ttl_s\": 600}}");
    let out = std::process::Command::new("curl")
        .args(["-sf", "--max-time", "5", "-H", "content-type: application/json", "-d", &body])
        .arg("--unix-socket")
        .arg(&sock)
        .arg("http://weft/api/v1/mesh/tokens")
        .output()
        .context("running curl to mint a join token")?;
    if !out.status.success() {
        bail!(
            "the CA holder refused to mint a join token: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("the token answer")?;
    v["token"].as_str().map(str::to_owned).context("no token in the answer")
}

/// Waits until the agent of `site` answers its health check.
fn wait_healthy(lab: &Lab, site: &str, dir: &Path, deadline: Instant) -> Result<()> {
    loop {
        let url = format!("{DEFAULT_API}/api/v1/health");
        let ok = lab
            .exec(site, &["curl", "-sf", "-o", "/dev/null", &url])
            .is_ok_and(|o| o.status.success());
        if ok {
            return Ok(());
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join(format!("{site}.log"))).unwrap_or_default();
            bail!("weftd in site {site} did not come up; its log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
