//! `weft ipsec status`: the site's IPsec gateways as paths (`GET
//! /api/v1/ipsec`): SA state, probe RTT, jitter and loss, where best-effort
//! traffic to the remote prefixes goes now, the CHILD SA counters, and
//! where ESP runs; then where each class goes and what the data plane
//! steered into the tunnel.
//!
//! `weft ipsec cert NAME` (on the host holding the mesh CA, files only):
//! a certificate for a site or a plain gateway named `NAME` (a DNS name, its
//! IKE identity), signed by the mesh's X.509 root, with its key and the
//! root, for `[[ipsec]] auth = "cert"` or any IKE gateway.

use std::process::ExitCode;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::Subcommand;
use weft_api::IpsecStatus;

use super::client::AgentArgs;
use super::output::{Table, outln, print_json};

/// `weft ipsec` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum IpsecCommand {
    /// Each gateway: SA, alive, route, RTT, jitter, loss, bytes; each class's path.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Issue an IPsec certificate from the mesh CA: NAME.pem, NAME.key, ca.pem.
    Cert {
        /// The host's DNS name (its IKE identity, `remote_id` at its peers).
        name: String,
        /// The mesh's trust domain (as given to `weft identity init`).
        #[arg(long)]
        trust_domain: String,
        /// Where to write the files.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Lifetime in days.
        #[arg(long, default_value_t = 365)]
        days: u64,
        /// The state directory holding the mesh CA (`mesh/ca.key`).
        #[arg(long, value_name = "DIR", default_value = weft_layout::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
    },
}

/// Runs one `weft ipsec` command.
pub(crate) fn run(cmd: IpsecCommand) -> Result<ExitCode> {
    let (json, agent) = match cmd {
        IpsecCommand::Status { json, agent } => (json, agent),
        IpsecCommand::Cert { name, trust_domain, out, days, state_dir } => {
            return cert(&name, &trust_domain, &out, days, &state_dir);
        }
    };
    let s: IpsecStatus = agent.client().get("/api/v1/ipsec")?;
    if json {
        print_json(&s)?;
        return Ok(ExitCode::SUCCESS);
    }
    if !s.gateways.is_empty() {
        outln!("charon started {} time(s), ESP in {}", s.charon_starts, s.esp_engine);
    }
    let mut t = Table::new(&[
        "GATEWAY", "REMOTE", "AUTH", "IKE", "ALIVE", "ROUTE", "VIA", "RTT", "JITTER", "LOSS", "IN",
        "OUT",
    ]);
    for g in &s.gateways {
        t.row(vec![
            g.name.clone(),
            g.remote.clone(),
            g.auth.clone(),
            if g.ike_state.is_empty() { "-".into() } else { g.ike_state.clone() },
            if g.alive { "yes".into() } else { "no".into() },
            g.route.clone(),
            g.via.clone().unwrap_or_else(|| "-".into()),
            g.rtt_ms.map_or_else(|| "-".into(), |r| format!("{r:.2} ms")),
            format!("{:.2} ms", g.jitter_ms),
            format!("{:.0} %", g.loss_pct),
            format!("{} pkt / {} B", g.packets_in, g.bytes_in),
            format!("{} pkt / {} B", g.packets_out, g.bytes_out),
        ]);
    }
    t.print_or("no IPsec gateway (add an [[ipsec]] section to the site configuration)");
    for g in &s.gateways {
        if let Some(e) = &g.last_error {
            outln!("{}: {e}", g.name);
        }
    }
    let steered: Vec<_> = s.gateways.iter().filter(|g| g.via.is_some()).collect();
    if !steered.is_empty() {
        outln!();
        let mut t = Table::new(&["GATEWAY", "PROFILE", "CLASS", "PATH"]);
        for g in &steered {
            for c in &g.classes {
                t.row(vec![g.name.clone(), c.profile.clone(), c.class.clone(), c.route.clone()]);
            }
        }
        t.print_or("no class decided yet");
        for g in steered {
            outln!(
                "{}: {} packets ({} B) steered into the tunnel, {} dropped",
                g.name,
                g.steered_packets,
                g.steered_bytes,
                g.steer_dropped
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `weft ipsec cert`.
fn cert(
    name: &str,
    td: &str,
    out: &std::path::Path,
    days: u64,
    state_dir: &std::path::Path,
) -> Result<ExitCode> {
    let td =
        weft_identity::TrustDomain::parse(td).with_context(|| format!("--trust-domain {td:?}"))?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let seed = weft_layout::zt::ca_seed(state_dir)?;
    let (host, root) =
        weft_layout::ipsec::issue(&seed, &td, name, days.saturating_mul(86_400), now)?;
    weft_layout::ipsec::write(out, &host, &root)?;
    outln!(
        "IPsec certificate for {name} from the mesh CA of spiffe://{td}: {d}/{name}.pem, {d}/{name}.key, {d}/ca.pem",
        d = out.display()
    );
    outln!("its peers: remote_id = \"{name}\", ca_file = ca.pem");
    Ok(ExitCode::SUCCESS)
}
