//! The zero-touch mesh: `weft ca init` (a new mesh CA in the local state
//! directory, no agent needed), `weft token create` (a join token from the
//! agent holding the CA), `weft cert revoke SITE` and `weft mesh` (alias
//! `weft members`: this agent's certificate and the members it sees).
//! Tokens and revocations need the `admin` scope over TCP; `weft mesh`
//! needs `read`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::Value;
use weft_api::{MeshMember, MeshRevocation, MeshRevoke, MeshStatus, MeshToken, MeshTokenCreate};
use weft_layout::mesh::{CA_KEY, CA_PUB, MESH_DIR, init_ca};

use super::UsageError;
use super::client::{AgentArgs, Client};
use super::output::{Table, fields, list, or_dash, outln, print_json, utc};

/// The default port of the mesh's gossip and enrolment socket (`[mesh] listen`).
const GOSSIP_PORT: u16 = weft_layout::DEFAULT_MESH_PORT;

/// `weft ca` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum CaCommand {
    /// Create a new mesh CA in the agent's state directory (on the host
    /// whose weftd will enrol sites; run it once per mesh).
    Init {
        /// The agent's state directory.
        #[arg(long, value_name = "DIR", default_value = weft_layout::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
    },
}

/// `weft token` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum TokenCommand {
    /// Mint a join token (on the agent holding the mesh CA). The token alone
    /// goes to stdout (`TOKEN=$(weft token create)`), a summary to stderr.
    Create(TokenCreateArgs),
}

/// `weft token create` options.
#[derive(Args, Debug)]
pub(crate) struct TokenCreateArgs {
    /// How long the token enrols sites: `30m`, `1h`, `2d`, `3600s` (1m..=30d).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_ttl)]
    ttl: u64,
    /// How many sites may enrol with it (1..=10000).
    #[arg(long, default_value_t = 1)]
    uses: u32,
    /// The role enrolled sites get (`site`, or `hub` for hubs).
    #[arg(long, default_value = "site")]
    role: String,
    /// The region enrolled sites get (e.g. `eu-west`).
    #[arg(long)]
    region: Option<String>,
    /// An overlay prefix enrolled sites may claim (repeat for more; default any).
    #[arg(long = "prefix", value_name = "CIDR")]
    prefixes: Vec<String>,
    /// An on-prem range enrolled sites may bring into the mesh from their
    /// routers over BGP (`[bgp] learn`; repeat for more; default none).
    #[arg(long = "learn", value_name = "CIDR")]
    learn: Vec<String>,
    /// Print the agent's JSON answer (with the token) instead.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    agent: AgentArgs,
}

/// `weft cert` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum CertCommand {
    /// Revoke a site's certificate (on the agent holding the mesh CA): every
    /// agent drops the site and it cannot rejoin.
    Revoke {
        /// The site id.
        site: String,
        /// Print the agent's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
}

/// `weft mesh` options.
#[derive(Args, Debug)]
pub(crate) struct MeshArgs {
    /// Print the agent's JSON answer.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    agent: AgentArgs,
}

/// A token life in whole seconds: `30m`, `1h`, `2d`, `3600s` or `3600`.
pub(crate) fn parse_ttl(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let secs = if let Some(days) = t.strip_suffix('d') {
        days.trim().parse::<f64>().ok().filter(|d| d.is_finite() && *d >= 0.0).map(|d| d * 86_400.0)
    } else if let Ok(n) = t.parse::<u64>() {
        Some(n as f64)
    } else {
        weft_types::parse_duration(t).ok().map(|d| d.as_secs_f64())
    };
    match secs {
        Some(v) if v.fract() == 0.0 && v <= u64::MAX as f64 => Ok(v as u64),
        Some(_) => Err(format!("{s:?} is not a whole number of seconds")),
        None => Err(format!("{s:?} is not a duration: expected e.g. 30m, 1h, 2d or 3600s")),
    }
}

/// Runs `weft ca init`.
pub(crate) fn run_ca(cmd: &CaCommand) -> Result<ExitCode> {
    let CaCommand::Init { state_dir } = cmd;
    let ca = init_ca(state_dir)
        .with_context(|| format!("creating a mesh CA in {}", state_dir.display()))?;
    let dir = state_dir.join(MESH_DIR);
    outln!("created mesh CA {}", ca.fingerprint());
    outln!("  key   {}", dir.join(CA_KEY).display());
    outln!("  pin   {}", dir.join(CA_PUB).display());
    outln!(
        "next: start weftd on this host (state directory {}); it enrols sites: weft token create",
        state_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The request body of `weft token create`.
fn token_request(a: &TokenCreateArgs) -> MeshTokenCreate {
    MeshTokenCreate {
        ttl_s: Some(a.ttl),
        uses: Some(a.uses),
        role: Some(a.role.clone()),
        region: a.region.clone(),
        prefixes: (!a.prefixes.is_empty()).then(|| a.prefixes.clone()),
        learn: (!a.learn.is_empty()).then(|| a.learn.clone()),
    }
}

/// Mints a token through `client`.
fn create_token(client: &Client, req: &MeshTokenCreate) -> Result<MeshToken> {
    let v: Value = client.post("/api/v1/mesh/tokens", req)?;
    super::decode(v, "join token")
}

/// Runs `weft token create`.
pub(crate) fn run_token(cmd: &TokenCommand) -> Result<ExitCode> {
    let TokenCommand::Create(a) = cmd;
    let token = create_token(&a.agent.client(), &token_request(a))?;
    if a.json {
        print_json(&token)?;
    } else {
        outln!("{}", token.token);
        eprint!("{}", token_summary(&token, a.agent.agent.as_deref(), now_unix_s()));
    }
    Ok(ExitCode::SUCCESS)
}

/// Where a new site finds the enroller: the agent's host with the gossip
/// port when `--agent HOST:PORT` was given, else a placeholder.
fn seed_hint(agent: Option<&str>) -> String {
    let host = agent
        .map(|a| a.trim_start_matches("https://").trim_start_matches("http://"))
        .map(|a| a.trim_end_matches('/'))
        .and_then(|a| a.rsplit_once(':').map(|(h, _)| h.to_owned()))
        .filter(|h| !h.is_empty() && h != "127.0.0.1" && h != "localhost" && h != "[::1]");
    format!("{}:{GOSSIP_PORT}", host.as_deref().unwrap_or("THIS-HOST"))
}

/// The human summary of a new token (stderr).
fn token_summary(t: &MeshToken, agent: Option<&str>, now: i64) -> String {
    let expires = i64::try_from(t.expires_unix_s).unwrap_or(i64::MAX);
    let uses = if t.uses == 1 { "1 site".to_owned() } else { format!("{} sites", t.uses) };
    format!(
        "{}\non the new site run:\n  weftd --join \"$TOKEN\" --seed {}\n\
         (the seed is this agent's [mesh] listen address; the token is shown only once)\n",
        fields(&[
            ("join token", t.id.clone()),
            ("expires", format!("{} ({})", utc(expires), relative(expires - now))),
            ("enrols", uses),
            ("role", t.role.clone()),
            ("region", if t.region.is_empty() { "-".to_owned() } else { t.region.clone() }),
        ])
        .trim_end(),
        seed_hint(agent)
    )
}

/// Runs `weft cert revoke`.
pub(crate) fn run_cert(cmd: &CertCommand) -> Result<ExitCode> {
    let CertCommand::Revoke { site, json, agent } = cmd;
    if site.trim().is_empty() {
        return Err(UsageError("the site id must not be empty".into()).into());
    }
    let r = revoke(&agent.client(), site)?;
    if *json {
        print_json(&r)?;
    } else {
        outln!("{}", revocation_summary(&r));
    }
    Ok(ExitCode::SUCCESS)
}

fn revoke(client: &Client, site: &str) -> Result<MeshRevocation> {
    let v: Value =
        client.post("/api/v1/mesh/revocations", &MeshRevoke { site: site.to_owned() })?;
    super::decode(v, "revocation")
}

fn revocation_summary(r: &MeshRevocation) -> String {
    format!(
        "revoked site {}: every agent drops it and it cannot rejoin\n\
         revocation list version {} ({} revoked: {})",
        r.site,
        r.list_version,
        r.revoked_sites.len(),
        list(&r.revoked_sites)
    )
}

/// Runs `weft mesh`.
pub(crate) fn run_mesh(args: &MeshArgs) -> Result<ExitCode> {
    let v: Value = args.agent.client().get("/api/v1/mesh")?;
    if args.json {
        print_json(&v)?;
    } else {
        let s: MeshStatus = super::decode(v, "mesh status")?;
        outln!("{}", header(&s, now_unix_s()));
        members(&s.members).print_or("no other members yet");
    }
    Ok(ExitCode::SUCCESS)
}

/// Wall-clock now, Unix seconds.
fn now_unix_s() -> i64 {
    super::output::now_unix_ms() / 1000
}

/// `in 5h 3m`, `12m ago`, `now`.
fn relative(delta_s: i64) -> String {
    let a = delta_s.unsigned_abs();
    let text = match a {
        0 => return "now".to_owned(),
        1..60 => format!("{a}s"),
        60..3600 => format!("{}m", a / 60),
        3600..86_400 => format!("{}h {}m", a / 3600, a % 3600 / 60),
        _ => format!("{}d {}h", a / 86_400, a % 86_400 / 3600),
    };
    if delta_s > 0 { format!("in {text}") } else { format!("{text} ago") }
}

fn at(unix_s: u64, now: i64) -> String {
    let t = i64::try_from(unix_s).unwrap_or(i64::MAX);
    format!("{} ({})", utc(t), relative(t - now))
}

fn header(s: &MeshStatus, now: i64) -> String {
    let counters = if s.counters.is_empty() {
        "-".to_owned()
    } else {
        s.counters.iter().map(|c| format!("{} {}", c.name, c.count)).collect::<Vec<_>>().join(", ")
    };
    fields(&[
        ("site", s.site.clone()),
        ("mesh CA", s.ca_fingerprint.clone()),
        ("CA holder", if s.ca_holder { "yes" } else { "no" }.to_owned()),
        ("topology", s.topology.clone()),
        (
            "certificate",
            format!("serial {}, expires {}", s.cert_serial, at(s.cert_expires_unix_s, now)),
        ),
        ("renew at", at(s.cert_renew_unix_s, now)),
        ("revocations", format!("list version {}", s.revocation_version)),
        ("counters", counters),
    ])
}

fn members(ms: &[MeshMember]) -> Table {
    let mut t = Table::new(&[
        "SITE",
        "ROLE",
        "REGION",
        "STATE",
        "PEERED",
        "GOSSIP",
        "ENDPOINTS",
        "CERT EXPIRES",
    ]);
    for m in ms {
        let dash = |s: &str| if s.is_empty() { "-".to_owned() } else { s.to_owned() };
        t.row(vec![
            m.site.clone(),
            dash(&m.role),
            dash(&m.region),
            m.state.clone(),
            if m.peered { "yes" } else { "no" }.to_owned(),
            dash(&m.gossip),
            list(&m.endpoints),
            or_dash(m.cert_expires_unix_s, |s| utc(i64::try_from(s).unwrap_or(i64::MAX))),
        ]);
    }
    t
}

#[cfg(test)]
mod tests;
