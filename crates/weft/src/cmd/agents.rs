//! `weft lab up --agents`: weftd in every site of a lab.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use weft_lab::Lab;
use weftd::labgen::{LabOptions, LabSite, write_configs};

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

/// Writes keys and configs for every site of `lab`, starts weftd in each, and
/// waits until every agent answers on its API.
pub(crate) fn start(lab: &mut Lab, probe_interval: &str, policy: Option<&Path>) -> Result<()> {
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
        interface_prefix: weftd::labgen::interface_prefix(lab.name()),
        policy_file: policy
            .map(|p| std::path::absolute(p).with_context(|| format!("locating {}", p.display())))
            .transpose()?,
        ..LabOptions::default()
    };
    let generated = write_configs(&dir, &sites, &opts).context("writing agent configs")?;
    for g in &generated {
        let log_path = dir.join(format!("{}.log", g.name));
        let log =
            File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let mut cmd = lab.command(g.name.as_str(), &weftd)?;
        cmd.arg("--config").arg(&g.config).stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
        lab.spawn_command(cmd)?;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for g in &generated {
        loop {
            let ok = lab
                .exec(
                    g.name.as_str(),
                    &["curl", "-sf", "-o", "/dev/null", "127.0.0.1:7420/api/v1/health"],
                )
                .is_ok_and(|o| o.status.success());
            if ok {
                break;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(dir.join(format!("{}.log", g.name)))
                    .unwrap_or_default();
                bail!("weftd in site {} did not come up; its log:\n{log}", g.name);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        println!(
            "agent {}: overlay {} on {}, config {}, API token {}",
            g.name,
            g.overlay,
            g.interface,
            g.config.display(),
            g.state_dir.join("api.token").display()
        );
    }
    Ok(())
}
