//! `weft lab …`: build, inspect, impair and remove network-namespace labs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use weft_lab::{EmulatorMode, Lab, LabState, LinkChange, LinkRef};

/// Lab name used when none is given and none can be inferred.
const DEFAULT_NAME: &str = "weft";

/// `weft lab` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum LabCommand {
    /// Create a lab: one namespace per site, one veth per uplink into a shared
    /// internet namespace, and the WAN emulator there (as a daemon).
    Up(UpArgs),
    /// Remove a lab: its processes, emulator, namespaces and state (also half-built ones).
    Down(NameArg),
    /// Show sites, uplinks, addresses and each link's impairment.
    Status(NameArg),
    /// List running labs.
    List,
    /// Change one uplink's impairment at run time; only the given settings change.
    Link(LinkArgs),
    /// Run a command inside a site's namespace: `weft lab exec a -- ping 198.18.2.2`.
    Exec(ExecArgs),
    /// Run a lab's WAN emulator in the foreground (started by `up`; not for humans).
    #[command(hide = true)]
    Emulator(NameArg),
}

/// Options of `weft lab up`.
#[derive(Args, Debug)]
pub(crate) struct UpArgs {
    /// Number of sites (named a, b, c, …).
    #[arg(long, default_value_t = 2, conflicts_with = "topology")]
    sites: usize,
    /// Number of uplinks per site (named u0, u1, …).
    #[arg(long, default_value_t = 1, conflicts_with = "topology")]
    uplinks: usize,
    /// Lab name; every namespace name starts with it [default: the topology
    /// file's name, else "weft"].
    #[arg(long)]
    name: Option<String>,
    /// TOML file describing sites, uplinks and impairments (instead of --sites/--uplinks).
    #[arg(long, value_name = "FILE")]
    topology: Option<PathBuf>,
    /// Send every uplink through the emulator, even when clean (to measure it).
    #[arg(long)]
    via_emulator: bool,
    /// Start weftd in every site, each a static peer of every other over all
    /// uplinks (keys and configs in the lab's state directory, logs beside them).
    #[arg(long)]
    agents: bool,
    /// With --agents: the probe interval (`adaptive`, `fast`, or e.g. `20ms`).
    #[arg(long, default_value = "adaptive", requires = "agents")]
    probe_interval: String,
    /// With --agents: the policy file every agent starts with (checked first;
    /// a policy with errors or failing tests stops the agents from starting).
    #[arg(long, requires = "agents")]
    policy: Option<std::path::PathBuf>,
    /// With --agents: a zero-touch mesh instead of static peers: the first
    /// site holds the mesh CA, every other joins with a join token.
    #[arg(long, requires = "agents")]
    mesh: bool,
    /// With --mesh: the first N sites are controllers of the control plane
    /// (each holds a copy of the mesh CA): one keeps its state in `SQLite`, two
    /// or more in an etcd cluster with one member in each controller's site.
    #[arg(long, default_value_t = 0, requires = "mesh", value_name = "N")]
    controllers: usize,
    /// With --agents: every uplink's `capacity` (e.g. 50mbit); the agents then
    /// shape their uplinks to it with the QoS scheduler.
    #[arg(long, requires = "agents", value_name = "RATE")]
    uplink_capacity: Option<String>,
    /// With --agents: `[qos] enabled = false` (no shaping even with a capacity).
    #[arg(long, requires = "agents")]
    no_qos: bool,
}

/// A lab name option.
#[derive(Args, Debug)]
pub(crate) struct NameArg {
    /// Lab name [default: "weft", or the only running lab].
    #[arg(long)]
    name: Option<String>,
}

/// Options of `weft lab link`.
#[derive(Args, Debug)]
pub(crate) struct LinkArgs {
    /// The uplink: SITE:UPLINK, by name or index (a:0, a:u1, paris:lte).
    link: String,
    /// One-way delay added to each crossing, e.g. 40ms.
    #[arg(long, allow_hyphen_values = true)]
    delay: Option<String>,
    /// Random deviation from the delay, ± this much, e.g. 5ms.
    #[arg(long, allow_hyphen_values = true)]
    jitter: Option<String>,
    /// Random loss per crossing, e.g. 2%.
    #[arg(long, allow_hyphen_values = true)]
    loss: Option<String>,
    /// Rate limit in both directions, e.g. 50mbit; `none` removes it.
    #[arg(long, allow_hyphen_values = true)]
    rate: Option<String>,
    /// Cut the uplink (the site's interface stays up).
    #[arg(long, conflicts_with = "up")]
    down: bool,
    /// Restore a cut uplink.
    #[arg(long)]
    up: bool,
    /// Start from a clean link before applying the other options.
    #[arg(long)]
    clear: bool,
    #[command(flatten)]
    name: NameArg,
}

/// Options of `weft lab exec`.
#[derive(Args, Debug)]
pub(crate) struct ExecArgs {
    /// The site, by name or index.
    site: String,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true)]
    command: Vec<String>,
    #[command(flatten)]
    name: NameArg,
}

/// Runs one `weft lab` command; the exit code is the command's for `exec`.
pub(crate) fn run(command: LabCommand) -> Result<ExitCode> {
    match command {
        LabCommand::Up(args) => up(args),
        LabCommand::Down(n) => {
            let name = resolve(n.name)?;
            Lab::destroy(&name).with_context(|| format!("removing lab {name}"))?;
            println!("lab {name} removed");
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Status(n) => {
            let lab = Lab::attach(&resolve(n.name)?)?;
            print!("{}", lab.status());
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::List => {
            for name in LabState::list() {
                println!("{name}");
            }
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Link(args) => link(args),
        LabCommand::Exec(args) => exec(args),
        LabCommand::Emulator(n) => {
            weft_lab::serve_lab(&resolve(n.name)?)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The lab to act on: the given name, else "weft" if it exists, else the only lab.
fn resolve(name: Option<String>) -> Result<String> {
    if let Some(n) = name {
        return Ok(n);
    }
    let labs = LabState::list();
    if labs.iter().any(|l| l == DEFAULT_NAME) || labs.is_empty() {
        return Ok(DEFAULT_NAME.to_owned());
    }
    match labs.as_slice() {
        [only] => Ok(only.clone()),
        many => bail!("several labs are running ({}); choose one with --name", many.join(", ")),
    }
}

fn up(args: UpArgs) -> Result<ExitCode> {
    let mut builder = Lab::builder().via_emulator(args.via_emulator);
    let file_name = if let Some(path) = &args.topology {
        builder = builder.topology_file(path);
        weft_lab::Topology::from_file(path)?.name
    } else {
        builder = builder.sites(args.sites).uplinks(args.uplinks);
        None
    };
    let name = args.name.or(file_name).unwrap_or_else(|| DEFAULT_NAME.to_owned());
    let exe =
        std::env::current_exe().context("locating the weft binary to run the emulator daemon")?;
    let mode = EmulatorMode::Process {
        program: exe,
        args: ["lab", "emulator", "--name", &name].map(Into::into).to_vec(),
    };
    let lab = builder
        .name(&name)
        .emulator(mode)
        .build()
        .with_context(|| format!("creating lab {name}"))?;
    let mut lab = lab;
    if args.agents {
        let how = super::agents::How {
            probe_interval: &args.probe_interval,
            policy: args.policy.as_deref(),
            mesh: args.mesh,
            controllers: args.controllers,
            uplink_capacity: args.uplink_capacity.as_deref(),
            qos: !args.no_qos,
        };
        super::agents::start(&mut lab, &how)?;
    }
    print!("{}", lab.status());
    lab.keep();
    Ok(ExitCode::SUCCESS)
}

fn link(args: LinkArgs) -> Result<ExitCode> {
    let target: LinkRef = args.link.parse()?;
    let change = LinkChange {
        delay: args.delay,
        jitter: args.jitter,
        loss: args.loss,
        rate: args.rate,
        down: if args.down {
            Some(true)
        } else if args.up {
            Some(false)
        } else {
            None
        },
        clear: args.clear,
    };
    let mut lab = Lab::attach(&resolve(args.name.name)?)?;
    let imp = lab.change_link(target.site.clone(), target.uplink.clone(), &change)?;
    println!("{target}: {imp}");
    Ok(ExitCode::SUCCESS)
}

fn exec(args: ExecArgs) -> Result<ExitCode> {
    let lab = Lab::attach(&resolve(args.name.name)?)?;
    let (program, rest) = args.command.split_first().context("no command given after --")?;
    let status = lab
        .command(args.site.as_str(), program)?
        .args(rest)
        .status()
        .with_context(|| format!("running {program} in site {}", args.site))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}
