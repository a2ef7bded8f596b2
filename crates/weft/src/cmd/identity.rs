//! `weft identity`: the zero-trust workload identities.
//!
//! On the host holding the mesh CA (files, no agent needed):
//! `init` makes `STATE_DIR/zt` (the X.509 root from the CA key and a first
//! intermediate), `rotate` replaces the intermediate (agents reissue every
//! SVID under it within a second), `issue` writes an SVID for a workload
//! that cannot use the Workload API. Against an agent: `list` its proxies'
//! identities and counters, `inspect` one, `revoke` one (admin; on a
//! controller mesh-wide).
//!
//! Against a controller, the control plane's CA (sites with `[zerotrust]
//! issuer = "control"` get their SVIDs from it): `ca-init` makes it,
//! `ca-rotate` replaces its intermediate, `grant`/`ungrant` say which
//! sites may hold which IDs beyond their registered services.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use weft_api::{
    Identity, IdentityCaInit, IdentityChange, IdentityGrant, IdentityList, IdentityRevoke,
    IdentityRevoked,
};
use weft_identity::{SpiffeId, TrustDomain};
use weft_layout::zt;

use super::client::AgentArgs;
use super::output::{Table, fields, outln, print_json, utc};

/// `weft identity` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum IdentityCommand {
    /// Make the identity files (root from the mesh CA key, an intermediate).
    Init {
        /// The trust domain (`example.org`).
        #[arg(long)]
        trust_domain: String,
        /// The state directory holding the mesh CA (`mesh/ca.key`).
        #[arg(long, value_name = "DIR", default_value = weft_layout::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        /// Where to write them (default `STATE_DIR/zt`; copy to each proxy site's).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Replace the intermediate (a rotation drill, or its scheduled renewal).
    Rotate {
        /// The trust domain.
        #[arg(long)]
        trust_domain: String,
        /// The state directory holding the mesh CA.
        #[arg(long, value_name = "DIR", default_value = weft_layout::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        /// The identity directory (default `STATE_DIR/zt`).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Issue an SVID into files (svid.pem, svid.key, bundle.pem).
    Issue {
        /// The SPIFFE ID (`spiffe://TD/svc/web`).
        id: String,
        /// Where to write the files.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        /// The identity directory holding the intermediate.
        #[arg(long, value_name = "DIR", default_value = "/var/lib/weft/zt")]
        dir: PathBuf,
    },
    /// The agent's zero-trust proxies: identities, SVIDs, decisions.
    List {
        /// Print the agent's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// One identity of the agent in detail.
    Inspect {
        /// Its SPIFFE ID.
        id: String,
        /// Print it as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Make the control plane's identity CA (on a controller holding the mesh CA).
    CaInit {
        /// The trust domain (`example.org`).
        #[arg(long)]
        trust_domain: String,
        /// Print the agent's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Replace the control plane's intermediate: every site asks for its SVIDs again.
    CaRotate {
        /// Print the agent's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Let a site hold a SPIFFE ID (or every ID under `ID/*`) (controllers).
    Grant {
        /// The site.
        site: String,
        /// The SPIFFE ID, or `spiffe://TD/path/*`.
        id: String,
        /// Print the agent's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Take a grant back (SVIDs already issued live out their time).
    Ungrant {
        /// The site.
        site: String,
        /// The SPIFFE ID or pattern granted.
        id: String,
        /// Print the agent's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Refuse a SPIFFE ID from now on: at every proxy of the agent's site,
    /// or (asked of a controller) at every site of the mesh.
    Revoke {
        /// The SPIFFE ID.
        id: String,
        /// Print the agent's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn td(s: &str) -> Result<TrustDomain> {
    TrustDomain::parse(s).with_context(|| format!("--trust-domain {s:?}"))
}

/// Prints a control-plane identity change: JSON, or `line` with the
/// intermediate's serial.
fn change(r: &IdentityChange, json: bool, line: impl Fn(&IdentityChange) -> String) -> Result<()> {
    if json {
        return print_json(r);
    }
    match &r.intermediate_serial {
        Some(serial) => outln!("{} (intermediate {serial})", line(r)),
        None => outln!("{}", line(r)),
    }
    Ok(())
}

/// Runs one `weft identity` command.
pub(crate) fn run(cmd: IdentityCommand) -> Result<ExitCode> {
    match cmd {
        IdentityCommand::Init { trust_domain, state_dir, dir } => {
            let td = td(&trust_domain)?;
            let dir = dir.unwrap_or_else(|| state_dir.join(zt::ZT_DIR));
            if dir.join(zt::ROOT).exists() {
                bail!(
                    "{} already holds a root; `weft identity rotate` replaces the intermediate",
                    dir.display()
                );
            }
            zt::init(&dir, &zt::ca_seed(&state_dir)?, &td, now())?;
            outln!("identity files for spiffe://{td} in {}", dir.display());
            outln!(
                "next: copy the directory to every site with [zerotrust] proxies (STATE_DIR/zt)"
            );
        }
        IdentityCommand::Rotate { trust_domain, state_dir, dir } => {
            let td = td(&trust_domain)?;
            let dir = dir.unwrap_or_else(|| state_dir.join(zt::ZT_DIR));
            zt::rotate_intermediate(&dir, &zt::ca_seed(&state_dir)?, &td, now())?;
            outln!(
                "new intermediate in {}; agents reading it reissue their SVIDs within a second",
                dir.display()
            );
        }
        IdentityCommand::Issue { id, out, ttl, dir } => {
            let id = SpiffeId::parse(&id).with_context(|| format!("{id:?}"))?;
            let svid = zt::issue(&dir, id.trust_domain(), &id, ttl, now())?;
            zt::write_svid(&out, &svid, &zt::bundle(&dir)?)?;
            outln!(
                "SVID for {id} (serial {:016x}, until {}) in {}",
                svid.serial,
                utc(svid.validity.not_after.cast_signed()),
                out.display()
            );
        }
        IdentityCommand::List { json, agent } => {
            let list: IdentityList = agent.client().get("/api/v1/identities")?;
            if json {
                print_json(&list)?;
                return Ok(ExitCode::SUCCESS);
            }
            if let Some(c) = &list.control {
                outln!(
                    "control plane CA: spiffe://{}, intermediate {}, {} root(s)",
                    c.trust_domain,
                    c.intermediate_serial,
                    c.roots
                );
            }
            let Some(domain) = &list.trust_domain else {
                outln!("this site runs no zero-trust proxies");
                return Ok(ExitCode::SUCCESS);
            };
            outln!("trust domain {domain}");
            let mut t = Table::new(&[
                "IDENTITY", "KIND", "LISTEN", "SERIAL", "EXPIRES", "ALLOWED", "DENIED",
            ])
            .right(&[5, 6]);
            for i in &list.identities {
                let (a, d) =
                    i.services.iter().fold((0, 0), |(a, d), s| (a + s.allowed, d + s.denied));
                t.row(vec![
                    i.id.clone(),
                    i.kind.clone(),
                    i.listen.clone(),
                    if i.serial.is_empty() { "(pending)".to_owned() } else { i.serial.clone() },
                    if i.serial.is_empty() {
                        "-".to_owned()
                    } else {
                        utc(i.not_after_unix_s.cast_signed())
                    },
                    a.to_string(),
                    d.to_string(),
                ]);
            }
            t.print_or("no proxies");
            for r in &list.revoked {
                let scope = if list.mesh_revoked.contains(r) { " (mesh-wide)" } else { "" };
                outln!("revoked {r}{scope}");
            }
        }
        IdentityCommand::Inspect { id, json, agent } => {
            let list: IdentityList = agent.client().get("/api/v1/identities")?;
            let Some(i) = list.identities.iter().find(|i| i.id == id) else {
                if list.revoked.contains(&id) {
                    outln!("{id} is revoked on this site");
                    return Ok(ExitCode::SUCCESS);
                }
                bail!("no proxy of this site is {id}");
            };
            if json {
                print_json(i)?;
            } else {
                inspect(i);
            }
        }
        IdentityCommand::CaInit { trust_domain, json, agent } => {
            td(&trust_domain)?;
            let r: IdentityChange =
                agent.client().post("/api/v1/identities/ca", &IdentityCaInit { trust_domain })?;
            change(&r, json, |r| {
                if r.newly {
                    format!("identity CA for spiffe://{} made", r.id)
                } else {
                    format!("the control plane's identity CA for spiffe://{} exists already", r.id)
                }
            })?;
        }
        IdentityCommand::CaRotate { json, agent } => {
            let r: IdentityChange =
                agent.client().post("/api/v1/identities/ca/rotate", &serde_json::json!({}))?;
            change(&r, json, |_| {
                "new intermediate: every site asks for its SVIDs again within a second".to_owned()
            })?;
        }
        IdentityCommand::Grant { site, id, json, agent } => {
            let r: IdentityChange = agent
                .client()
                .post("/api/v1/identities/grants", &IdentityGrant { site: site.clone(), id })?;
            change(&r, json, |r| {
                if r.newly {
                    format!("{site} may hold {}", r.id)
                } else {
                    format!("{site} may hold {} already", r.id)
                }
            })?;
        }
        IdentityCommand::Ungrant { site, id, json, agent } => {
            let r: IdentityChange = agent.client().post(
                "/api/v1/identities/grants/remove",
                &IdentityGrant { site: site.clone(), id },
            )?;
            change(&r, json, |r| {
                if r.newly {
                    format!("{site} may no longer hold {}", r.id)
                } else {
                    format!("{site} had no grant {}", r.id)
                }
            })?;
        }
        IdentityCommand::Revoke { id, json, agent } => {
            SpiffeId::parse(&id).with_context(|| format!("{id:?}"))?;
            let r: IdentityRevoked =
                agent.client().post("/api/v1/identities/revoke", &IdentityRevoke { id })?;
            if json {
                print_json(&r)?;
            } else if r.newly && r.scope == "mesh" {
                outln!(
                    "revoked {} mesh-wide: published to every site, refused at every proxy from the next connection",
                    r.id
                );
            } else if r.newly {
                outln!(
                    "revoked {}: refused at every proxy of the site from the next connection",
                    r.id
                );
            } else {
                outln!("{} was revoked already", r.id);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect(i: &Identity) {
    outln!(
        "{}",
        fields(&[
            ("identity", i.id.clone()),
            ("kind", format!("{} {}", i.kind, i.name)),
            ("listen", i.listen.clone()),
            ("serial", i.serial.clone()),
            ("valid from", utc(i.not_before_unix_s.cast_signed())),
            ("valid until", utc(i.not_after_unix_s.cast_signed())),
            ("handshakes refused", i.handshake_failures.to_string()),
            ("no SVID because", i.pending.clone().unwrap_or_else(|| "-".to_owned())),
        ])
    );
    let mut t = Table::new(&["SERVICE", "ALLOWED", "DENIED"]).right(&[1, 2]);
    for s in &i.services {
        t.row(vec![s.service.clone(), s.allowed.to_string(), s.denied.to_string()]);
    }
    t.print_or("no services");
}
