//! `weft`, the operator CLI.
//!
//! Thin by design: [`clap`] parses the command line into one enum variant per
//! command (`src/cmd/<command>.rs`), and each command's `run` calls into the
//! libraries or the agent's REST API.
//!
//! Offline: `weft lab …` (network-namespace labs), `weft genkey` /
//! `weft pubkey`, `weft policy lint|test|diff --against`, and `weft ca init`
//! (a new mesh CA in the local state directory).
//!
//! Against the agent (its unix socket by default, `--agent HOST:PORT` for
//! TCP with a token; see `cmd::client`): `status`, `peers`, `sites`,
//! `site show|remove|restore`, `paths`, `path show|test|history`, `ping`,
//! `routes`, `flows`, `flow show`, `topology`, `events [--follow]`,
//! `explain`, `policy diff|apply|rollback|show|history`, `profile
//! export|list|revoke`, `gtm
//! status|explain|service`, `ddos status`, `log level [LEVEL]`, `shift drain|blue-green|canary|list|...`, and the mesh's
//! `token create`, `cert revoke` and `mesh` (alias `members`). Every one takes
//! `--json` for the agent's JSON (lists: every page, one array).
//!
//! Exit codes: 0 success; 1 failure (an API error, a refused policy, no
//! path answered); 2 bad usage; 3 the agent could not be reached; 4 the agent
//! refused the credentials.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Weft: a path-aware mesh fabric.
#[derive(Parser, Debug)]
#[command(name = "weft", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The commands.
#[derive(Subcommand, Debug)]
enum Command {
    /// The agent at a glance: sites, paths, flows, policy, failovers.
    Status(cmd::status::StatusArgs),
    /// WireGuard peers: keys, endpoints, handshakes, traffic.
    Peers(cmd::peers::PeersArgs),
    /// Sites of the mesh and their state.
    Sites(cmd::sites::SitesArgs),
    /// One site: show, remove, restore; cordon, uncordon, drain, label (on a controller).
    #[command(subcommand)]
    Site(cmd::sites::SiteCommand),
    /// Paths with their live RTT, jitter, loss and traffic.
    Paths(cmd::paths::PathsArgs),
    /// One path: show, test (probe it now), history.
    #[command(subcommand)]
    Path(cmd::paths::PathCommand),
    /// Test every path to a site, one after another.
    Ping(cmd::ping::PingArgs),
    /// Overlay prefixes and the path each class takes to them.
    Routes(cmd::routes::RoutesArgs),
    /// Recent flows: verdict, class, path.
    Flows(cmd::flows::FlowsArgs),
    /// One flow in detail.
    #[command(subcommand)]
    Flow(cmd::flows::FlowCommand),
    /// Sites and the measured paths between them.
    Topology(cmd::topology::TopologyArgs),
    /// The event log; --follow streams new events.
    Events(cmd::events::EventsArgs),
    /// Why a flow goes where it goes: `weft explain udp 10.77.1.1 10.77.2.1:5060`.
    Explain(cmd::explain::ExplainArgs),
    /// Policy as code: lint, test, diff, apply, rollback; mesh-wide through a controller (status, promote).
    #[command(subcommand)]
    Policy(cmd::policy::PolicyCommand),
    /// The control plane: `weft control status` (role, leader, epoch, mesh policy in force).
    #[command(subcommand)]
    Control(cmd::control::ControlCommand),
    /// Flood defence: `weft ddos status` (counters, detections, the nftables set).
    #[command(subcommand)]
    Ddos(cmd::ddos::DdosCommand),
    /// Bandwidth reservations: `weft reserve add|list|delete` (admission, preemption).
    #[command(subcommand)]
    Reserve(cmd::reserve::ReserveCommand),
    /// BGP with the routers: `weft bgp status` (neighbors, announced and learnt prefixes).
    #[command(subcommand)]
    Bgp(cmd::bgp::BgpCommand),
    /// QoS: `weft qos status` (each shaped uplink's lanes: queued, sent, dropped).
    #[command(subcommand)]
    Qos(cmd::qos::QosCommand),
    /// IPsec gateways as paths: `weft ipsec status` (SA, alive, route, RTT, loss, bytes), `weft ipsec cert` (a certificate from the mesh CA).
    #[command(subcommand)]
    Ipsec(cmd::ipsec::IpsecCommand),
    /// The agent's log level: `weft log level` shows it, `weft log level debug` sets it.
    #[command(subcommand)]
    Log(cmd::log::LogCommand),
    /// Shard maps on a controller: status, simulate, plan, approve.
    #[command(subcommand)]
    Shards(cmd::shards::ShardsCommand),
    /// The registry on a controller: sites, services, watch, register, deregister.
    #[command(subcommand)]
    Registry(cmd::registry::RegistryCommand),
    /// Zero-trust workload identities: init, rotate, issue (CA host); list, inspect, revoke.
    #[command(subcommand)]
    Identity(cmd::identity::IdentityCommand),
    /// Global traffic management: status, explain (DNS sites), service set|rm (controllers).
    #[command(subcommand)]
    Gtm(cmd::gtm::GtmCommand),
    /// Traffic shifts on a controller: drain, blue-green, canary, list, pause, resume, abort, switch-back.
    #[command(subcommand)]
    Shift(cmd::gtm::ShiftCommand),
    /// The mesh CA: `weft ca init` creates one (local, no agent needed).
    #[command(subcommand)]
    Ca(cmd::mesh::CaCommand),
    /// Join tokens for new sites: `weft token create` (on the agent holding the CA).
    #[command(subcommand)]
    Token(cmd::mesh::TokenCommand),
    /// Site certificates: `weft cert revoke SITE` (on the agent holding the CA).
    #[command(subcommand)]
    Cert(cmd::mesh::CertCommand),
    /// The mesh: this site's certificate, the CA, and the members it sees.
    #[command(visible_alias = "members")]
    Mesh(cmd::mesh::MeshArgs),
    /// Network-namespace labs with a WAN emulator (tests, benchmarks, demos).
    #[command(subcommand)]
    Lab(cmd::lab::LabCommand),
    /// Chaos scenarios in the deterministic fabric simulator: `weft sim run scenarios/*.toml`.
    #[command(subcommand)]
    Sim(cmd::sim::SimCommand),
    /// Check this host for weftd (TUN, capabilities, clock, ports, state, certificate, seeds).
    Doctor(cmd::doctor::DoctorArgs),
    /// Connection profiles for stock WireGuard clients: export (wg-quick
    /// config and QR code), list, revoke.
    #[command(subcommand)]
    Profile(cmd::profile::ProfileCommand),
    /// Print a new WireGuard private key (base64, like `wg genkey`).
    Genkey,
    /// Read a private key on stdin and print its public key (like `wg pubkey`).
    Pubkey,
    /// Write the man pages and shell completions under DIR (for packaging).
    #[command(hide = true)]
    GenerateDocs {
        /// Where `man1/` and `completions/` go.
        dir: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Status(a) => cmd::status::run(&a),
        Command::Peers(a) => cmd::peers::run(&a),
        Command::Sites(a) => cmd::sites::run_list(&a),
        Command::Site(c) => cmd::sites::run(c),
        Command::Paths(a) => cmd::paths::run_list(&a),
        Command::Path(c) => cmd::paths::run(c),
        Command::Ping(a) => cmd::ping::run(&a),
        Command::Routes(a) => cmd::routes::run(&a),
        Command::Flows(a) => cmd::flows::run_list(&a),
        Command::Flow(c) => cmd::flows::run(c),
        Command::Topology(a) => cmd::topology::run(&a),
        Command::Events(a) => cmd::events::run(&a),
        Command::Explain(a) => cmd::explain::run(&a),
        Command::Policy(c) => cmd::policy::run(c),
        Command::Control(c) => cmd::control::run(c),
        Command::Ddos(c) => cmd::ddos::run(c),
        Command::Reserve(c) => cmd::reserve::run(c),
        Command::Qos(c) => cmd::qos::run(c),
        Command::Bgp(c) => cmd::bgp::run(c),
        Command::Ipsec(c) => cmd::ipsec::run(c),
        Command::Log(c) => cmd::log::run(c),
        Command::Shards(c) => cmd::shards::run(c),
        Command::Registry(c) => cmd::registry::run(c),
        Command::Identity(c) => cmd::identity::run(c),
        Command::Gtm(c) => cmd::gtm::run(c),
        Command::Shift(c) => cmd::gtm::run_shift(c),
        Command::Ca(c) => cmd::mesh::run_ca(&c),
        Command::Token(c) => cmd::mesh::run_token(&c),
        Command::Cert(c) => cmd::mesh::run_cert(&c),
        Command::Mesh(a) => cmd::mesh::run_mesh(&a),
        Command::Lab(c) => cmd::lab::run(c),
        Command::Sim(c) => cmd::sim::run(c),
        Command::Doctor(a) => Ok(cmd::doctor::run(&a)),
        Command::Profile(c) => cmd::profile::run(c),
        Command::Genkey => cmd::keys::genkey(),
        Command::Pubkey => cmd::keys::pubkey(),
        Command::GenerateDocs { dir } => {
            cmd::docs::generate(&<Cli as clap::CommandFactory>::command(), &dir)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("weft: error: {e:#}");
            ExitCode::from(cmd::exit_code(&e))
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn the_mesh_commands_parse() {
        use clap::Parser;
        let parse = |args: &[&str]| super::Cli::try_parse_from(args).map(|c| c.command);
        assert!(matches!(parse(&["weft", "ca", "init"]), Ok(super::Command::Ca(_))));
        let c = parse(&["weft", "ca", "init", "--state-dir", "/tmp/x"]).unwrap();
        assert!(format!("{c:?}").contains("/tmp/x"), "{c:?}");
        assert!(matches!(
            parse(&["weft", "token", "create", "--ttl", "30m", "--prefix", "10.1.0.0/16"]),
            Ok(super::Command::Token(_))
        ));
        assert!(matches!(parse(&["weft", "cert", "revoke", "lyon"]), Ok(super::Command::Cert(_))));
        assert!(parse(&["weft", "cert", "revoke"]).is_err(), "the site is required");
        assert!(matches!(parse(&["weft", "mesh", "--json"]), Ok(super::Command::Mesh(_))));
        assert!(matches!(parse(&["weft", "members"]), Ok(super::Command::Mesh(_))));
        assert!(matches!(parse(&["weft", "log", "level"]), Ok(super::Command::Log(_))));
        assert!(matches!(parse(&["weft", "log", "level", "debug"]), Ok(super::Command::Log(_))));
        assert!(parse(&["weft", "log", "level", "verbose"]).is_err(), "not a level");
    }
}
