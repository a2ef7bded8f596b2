//! `weft reserve add|list|delete`: bandwidth reservations of a site toward
//! another (`/api/v1/reservations`; add and delete need `operate`).

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use weft_api::{NewReservation, Reservation, ReservationMade};

use super::client::AgentArgs;
use super::output::{Table, or_dash, outln, print_json, utc_ms};

/// `weft reserve` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum ReserveCommand {
    /// Reserve bandwidth toward a site for a class: admitted on the
    /// lowest-latency path with room (preempting lower priorities if it
    /// must), or refused with the figures.
    Add {
        /// The source site: a mesh-wide reservation in the control plane's
        /// ledger (ask a controller), admitted against the source's uplink
        /// and the destination's downlink and enforced at the source.
        #[arg(long)]
        from: Option<String>,
        /// The destination site.
        #[arg(long)]
        to: String,
        /// The class (of the running policy) whose traffic to the site it is for.
        #[arg(long, required_unless_present = "app", conflicts_with = "app")]
        class: Option<String>,
        /// Or the app (one a route of the running policy names).
        #[arg(long)]
        app: Option<String>,
        /// The rate: 20mbit, 500kbit, 1gbit.
        #[arg(long)]
        rate: String,
        /// Higher preempts lower (0..=255).
        #[arg(long, default_value_t = 0)]
        priority: u8,
        /// Ends by itself after this long (30m, 2h).
        #[arg(long)]
        expires: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Every reservation of the site, and the mesh-wide ones (`m1`, ...).
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// End a reservation.
    Delete {
        /// Its id (r1, r2, ...; m1, m2, ... for a mesh-wide one, at a controller).
        id: String,
        #[command(flatten)]
        agent: AgentArgs,
    },
}

fn mbit(bps: u64) -> String {
    format!("{:.1} Mbit/s", bps as f64 / 1e6)
}

fn line(r: &Reservation) -> String {
    let what = r.app.as_ref().map_or_else(|| r.class.clone(), |a| format!("app {a} ({})", r.class));
    format!(
        "{} {}{} to {} for {} (priority {}) {}{}",
        r.id,
        mbit(r.rate_bps),
        r.from.as_ref().map(|f| format!(" from {f}")).unwrap_or_default(),
        r.to,
        what,
        r.priority,
        r.state,
        r.uplink.as_ref().map(|u| format!(" on {u}")).unwrap_or_default()
    )
}

/// Runs one `weft reserve` command.
pub(crate) fn run(cmd: ReserveCommand) -> Result<ExitCode> {
    match cmd {
        ReserveCommand::Add { from, to, class, app, rate, priority, expires, json, agent } => {
            let body = NewReservation {
                from,
                to,
                class,
                app,
                rate,
                priority: Some(u32::from(priority)),
                expires_in: expires,
            };
            let made: ReservationMade = agent.client().post("/api/v1/reservations", &body)?;
            if json {
                print_json(&made)?;
                return Ok(ExitCode::SUCCESS);
            }
            outln!("reserved {}", line(&made.reservation));
            for p in &made.preempted {
                outln!("preempted {}", line(p));
            }
        }
        ReserveCommand::List { json, agent } => {
            let list: Vec<Reservation> = agent.client().get("/api/v1/reservations")?;
            if json {
                print_json(&list)?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut t = Table::new(&[
                "ID", "FROM", "TO", "CLASS", "APP", "RATE", "PRIO", "STATE", "UPLINK", "EXPIRES",
                "REASON",
            ]);
            for r in &list {
                t.row(vec![
                    r.id.clone(),
                    or_dash(r.from.as_deref(), str::to_owned),
                    r.to.clone(),
                    r.class.clone(),
                    or_dash(r.app.as_deref(), str::to_owned),
                    mbit(r.rate_bps),
                    r.priority.to_string(),
                    r.state.clone(),
                    or_dash(r.uplink.as_deref(), str::to_owned),
                    r.expires_unix_ms.map_or_else(|| "-".to_owned(), utc_ms),
                    or_dash(r.reason.as_deref(), str::to_owned),
                ]);
            }
            t.print_or("no reservations");
        }
        ReserveCommand::Delete { id, agent } => {
            let path = format!("/api/v1/reservations/{}", super::client::encode(&id));
            agent.client().delete(&path)?;
            outln!("deleted {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
