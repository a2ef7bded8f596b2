//! `weft profile export|list|revoke`: connection profiles for stock
//! WireGuard clients (laptops, VMs, phones).
//!
//! `export NAME --sites a,b` registers the client with the agent it talks
//! to (`POST /api/v1/profiles`: only the public key is sent; the private
//! key is generated here and never leaves this machine) and writes, under
//! `--out`:
//! - `NAME.conf`, a `wg-quick` configuration (`render`): the client's key
//!   (or a placeholder with `--public-key`), its address from the site's
//!   pool, that site as a `[Peer]` with its endpoint and the prefixes
//!   reachable through it;
//! - `NAME.png`, the same configuration as a QR code (`qr`, `png`; without
//!   its comment lines, so the code stays small), and with `--qr` the code
//!   on the terminal;
//! - with `--ipsec`, `NAME.swanctl.conf` (`swanctl`): the same sites and
//!   prefixes as `IKEv2` connections for a client that speaks `IPsec`; its
//!   pre-shared key is also sent with the registration (`ipsec_psk`), so
//!   the site's charon answers the client.
//!
//! Each site's agent serves the clients registered with it. To give a
//! client a second site, export it again against that site's agent with
//! the same `--out`: the key and address in `NAME.conf` are kept and the
//! site is added as another `[Peer]`. `revoke NAME` drops the client at the
//! agent it talks to and, through the mesh's signed revocation list (on a
//! controller or the CA holder), at every site (`--here-only`: only there).

mod png;
mod qr;
mod render;
mod swanctl;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use weft_api::{Page, Profile, ProfileCreate, ProfileRevoked};
use weft_dataplane::wg::{generate_private_key, public_key};
use weft_types::PrivateKey;

use super::UsageError;
use super::client::{AgentArgs, ClientError};
use super::output::{Table, outln, print_json};
use render::{ClientConfig, SitePeer};

/// `weft profile` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum ProfileCommand {
    /// Register a stock WireGuard client with the agent's site and write its
    /// `wg-quick` configuration and QR code.
    Export(ExportArgs),
    /// The clients registered with the agent's site.
    List {
        /// Print the agent's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Revoke a client everywhere: its peer goes at once at the agent's
    /// site, and its name joins the mesh's revocation list (ask a
    /// controller or the CA holder), so every site drops it.
    Revoke {
        /// Client name.
        name: String,
        /// Only at the agent's site (also outside a mesh, where there is no
        /// other way).
        #[arg(long)]
        here_only: bool,
        /// Print the agent's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
}

/// `weft profile export` options.
#[derive(Args, Debug)]
pub(crate) struct ExportArgs {
    /// Client name (like a site id: a-z 0-9 -).
    name: String,
    /// The sites the client may use (comma-separated); the agent's site
    /// serves it if listed.
    #[arg(long, value_delimiter = ',', required = true)]
    sites: Vec<String>,
    /// The client's public key (base64) when it makes its own key pair: the
    /// configuration then holds a placeholder for the private key.
    #[arg(long, value_name = "KEY")]
    public_key: Option<String>,
    /// Narrow the client's `AllowedIPs` to these prefixes (comma-separated),
    /// within what the site offers (its prefixes and those it reaches, as
    /// its policy lets the client reach them): never more.
    #[arg(long, value_delimiter = ',', value_name = "PREFIXES")]
    allowed_ips: Option<Vec<String>>,
    /// The site's `HOST:PORT` as the client must dial it (default: the
    /// first endpoint the agent names).
    #[arg(long, value_name = "HOST:PORT")]
    endpoint: Option<String>,
    /// Where NAME.conf and NAME.png go (an existing NAME.conf there is
    /// extended: its key and address are kept, its sites not in `--sites`
    /// dropped).
    #[arg(long, default_value = ".", value_name = "DIR")]
    out: PathBuf,
    /// Also draw the QR code on the terminal.
    #[arg(long)]
    qr: bool,
    /// Also write NAME.swanctl.conf: the client as an `IPsec` (`IKEv2`, PSK)
    /// peer of the same sites, for strongSwan's `swanctl --load-all`.
    #[arg(long)]
    ipsec: bool,
    /// Print the agent's JSON answer instead of a summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    agent: AgentArgs,
}

/// Runs a `weft profile` subcommand.
pub(crate) fn run(cmd: ProfileCommand) -> Result<ExitCode> {
    match cmd {
        ProfileCommand::Export(a) => export(&a),
        ProfileCommand::List { json, agent } => {
            let page: Page<Profile> = agent.client().get("/api/v1/profiles")?;
            if json {
                print_json(&page.items)?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut t = Table::new(&["CLIENT", "ADDRESS", "SITES", "SERVED HERE", "PUBLIC KEY"]);
            for p in page.items {
                let here = if p.served_here { "yes" } else { "no" };
                t.row(vec![p.name, p.address, p.sites.join(","), here.to_owned(), p.public_key]);
            }
            t.print_or("no clients registered");
            Ok(ExitCode::SUCCESS)
        }
        ProfileCommand::Revoke { name, here_only, json, agent } => {
            let everywhere = if here_only { "false" } else { "true" };
            let path = format!(
                "/api/v1/profiles/{}?everywhere={everywhere}",
                super::client::encode(&name)
            );
            let v = agent.client().delete(&path)?;
            if json {
                print_json(&v)?;
                return Ok(ExitCode::SUCCESS);
            }
            let r: ProfileRevoked = super::decode(v, "revocation")?;
            match &r.here {
                Some(p) => {
                    outln!("revoked client {} ({}) at site {}", p.name, p.address, p.site.name);
                }
                None => outln!("client {} was not registered at this site", r.name),
            }
            match (r.mesh_list_version, &r.mesh_refused) {
                (Some(v), _) => outln!(
                    "revoked mesh-wide (revocation list version {v}): every site drops {}",
                    r.name
                ),
                (None, Some(why)) => eprintln!(
                    "weft: warning: not revoked mesh-wide ({why}); revoke it at each of its sites, or ask a controller or the CA holder"
                ),
                (None, None) => {}
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn export(a: &ExportArgs) -> Result<ExitCode> {
    let conf_path = a.out.join(format!("{}.conf", a.name));
    let existing = match std::fs::read_to_string(&conf_path) {
        Ok(text) => Some(ClientConfig::parse(&a.name, &text).with_context(|| {
            format!("{} exists and is not a profile this command wrote", conf_path.display())
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", conf_path.display())),
    };
    for p in a.allowed_ips.iter().flatten() {
        weft_types::IpPrefix::parse_strict(p)
            .map_err(|e| UsageError(format!("--allowed-ips {p}: {e}")))?;
    }
    let (private, public) = keys(a, existing.as_ref())?;
    // The IPsec key: kept across exports, sent to the site so that its
    // charon answers the client.
    let swan_path = a.out.join(format!("{}.swanctl.conf", a.name));
    let psk = if a.ipsec {
        let kept = match std::fs::read_to_string(&swan_path) {
            Ok(text) => swanctl::read_psk(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", swan_path.display())),
        };
        Some(match kept {
            Some(k) => k,
            None => swanctl::new_psk().context("reading /dev/urandom")?,
        })
    } else {
        None
    };
    let mut request = ProfileCreate {
        name: a.name.clone(),
        public_key: public.clone(),
        sites: a.sites.clone(),
        address: existing.as_ref().map(|c| c.address.clone()),
        // Several sites: one registration for all of them, through the
        // control plane, when the agent is a controller.
        mesh: (a.sites.len() > 1).then_some(true),
        ipsec_psk: psk.clone(),
    };
    let client = a.agent.client();
    let mut answer = client.post::<_, Profile>("/api/v1/profiles", &request);
    if let Err(ClientError::Api { status: 409, error }) = &answer
        && error.code == "not_a_controller"
    {
        eprintln!(
            "weft: note: the agent is not a controller: {} is registered at its site only; export it against each other site's agent too (or against a controller)",
            a.name
        );
        request.mesh = None;
        answer = client.post("/api/v1/profiles", &request);
    }
    let profile: Profile = match answer {
        Ok(p) => p,
        // Exported before with the same key: the registration stands.
        Err(ClientError::Api { status: 409, error }) => {
            let path = format!("/api/v1/profiles/{}", super::client::encode(&a.name));
            match client.get::<Profile>(&path) {
                Ok(p) if p.public_key == public => p,
                _ => bail!("{}: {}", error.code, error.message),
            }
        }
        Err(e) => return Err(e.into()),
    };
    if !profile.served_here {
        eprintln!(
            "weft: warning: site {} is not in --sites; it does not serve {}",
            profile.site.name, profile.name
        );
    }
    let endpoint = match a.endpoint.as_ref().or(profile.site.endpoints.first()) {
        Some(e) => e.clone(),
        None => {
            return Err(UsageError(format!(
                "site {} names no endpoint (its uplinks bind a wildcard address): pass --endpoint HOST:PORT or set [profiles] endpoints",
                profile.site.name
            ))
            .into());
        }
    };
    let mut config = existing.unwrap_or_else(|| ClientConfig {
        name: a.name.clone(),
        private_key: private.clone(),
        address: profile.address.clone(),
        peers: Vec::new(),
        allowed_override: None,
    });
    config.address.clone_from(&profile.address);
    config.allowed_override.clone_from(&a.allowed_ips);
    // Exported again with fewer sites: the ones left out go from the file.
    config.peers.retain(|p| a.sites.contains(&p.site));
    config.upsert(SitePeer {
        site: profile.site.name.clone(),
        public_key: profile.site.public_key.clone(),
        endpoint,
        own: profile.site.prefixes.clone(),
        reachable: profile.site.reachable.clone(),
    });
    for other in &profile.mesh_sites {
        let Some(endpoint) = other.endpoints.first() else {
            eprintln!(
                "weft: warning: site {} has no endpoint known to the controller: export against its own agent for its [Peer]",
                other.name
            );
            continue;
        };
        config.upsert(SitePeer {
            site: other.name.clone(),
            public_key: other.public_key.clone(),
            endpoint: endpoint.clone(),
            own: other.prefixes.clone(),
            reachable: other.reachable.clone(),
        });
    }
    let text = config.render();
    write_private(&conf_path, text.as_bytes())?;
    let code = qr::code(&render::without_comments(&text))?;
    let png_path = a.out.join(format!("{}.png", a.name));
    write_private(&png_path, &qr::png(&code))?;
    if let Some(psk) = &psk {
        write_private(&swan_path, swanctl::render(&config, psk).as_bytes())?;
    }
    if a.json {
        print_json(&profile)?;
    } else {
        let mut at = vec![profile.site.name.clone()];
        at.extend(profile.mesh_sites.iter().map(|s| s.name.clone()));
        outln!(
            "client {} ({}) registered at {} {}; wrote {} and {}",
            profile.name,
            profile.address,
            if at.len() > 1 { "sites" } else { "site" },
            at.join(", "),
            conf_path.display(),
            png_path.display()
        );
    }
    if a.ipsec && !a.json {
        outln!("wrote {} (IPsec, IKEv2 with a pre-shared key)", swan_path.display());
    }
    if a.qr {
        outln!("{}", qr::terminal(&code));
    }
    Ok(ExitCode::SUCCESS)
}

/// The client's keys: `--public-key` (no private key here), else the key of
/// the existing configuration, else a new one. (private base64, public base64)
fn keys(a: &ExportArgs, existing: Option<&ClientConfig>) -> Result<(Option<String>, String)> {
    if let Some(p) = &a.public_key {
        weft_types::PublicKey::from_base64(p)
            .map_err(|e| UsageError(format!("--public-key: {e}")))?;
        return Ok((None, p.clone()));
    }
    let private = match existing.and_then(|c| c.private_key.as_deref()) {
        Some(k) => PrivateKey::from_base64(k).context("the private key in the existing profile")?,
        None if existing.is_some() => {
            bail!("the existing profile has no private key: pass --public-key")
        }
        None => generate_private_key(),
    };
    Ok((Some(private.to_base64()), public_key(&private).to_base64()))
}

/// Writes `bytes` to `path` readable by its owner only (it may hold a key).
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
