//! `weft gtm …` (global services and DNS decisions) and `weft shift …`
//! (traffic shifts). Services and shifts change on a controller; `weft gtm
//! status` works on any site, `weft gtm explain` on a DNS site.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use weft_api::{
    GtmChange, GtmCheck, GtmEndpoint, GtmExplanation, GtmServiceSpec, GtmShift, GtmShiftStart,
    GtmStatus, HealthCheckKind,
};

use super::client::{AgentArgs, Query};
use super::output::{outln, utc_ms};

fn duration_ms(s: &str) -> Result<u64, String> {
    weft_types::parse_duration(s)
        .map(|d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .map_err(|e| e.to_string())
}

/// `weft gtm` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum GtmCommand {
    /// Global services as this site sees them (health, effective weights,
    /// anycast), and the shifts.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Why the DNS answer for NAME is what it is, with every endpoint's score.
    Explain {
        /// The global service.
        name: String,
        /// The client: an address or prefix, as an EDNS client subnet
        /// (default: this DNS site's own region).
        #[arg(long, value_name = "PREFIX")]
        from: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Global services on a controller: set, remove.
    #[command(subcommand)]
    Service(ServiceCommand),
}

/// `weft gtm service` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum ServiceCommand {
    /// Adds or replaces a global service (answered as NAME.ZONE on DNS sites).
    Set {
        /// Its name (a DNS label).
        name: String,
        /// An endpoint: `id=eu-1,site=paris,region=eu,address=10.10.1.10,port=8080`
        /// with optional `weight=100`, `capacity=QPS`, `version=v1` (repeat).
        #[arg(long = "endpoint", value_name = "K=V,...")]
        endpoints: Vec<String>,
        /// Or the whole specification as JSON (`GtmServiceSpec`).
        #[arg(long, value_name = "FILE", conflicts_with = "endpoints")]
        file: Option<std::path::PathBuf>,
        /// Answer TTL, seconds.
        #[arg(long)]
        ttl: Option<u32>,
        /// The version serving outside shifts.
        #[arg(long)]
        serving: Option<String>,
        /// Health check: `tcp` or `http:/PATH`.
        #[arg(long, value_name = "tcp|http:/PATH")]
        check: Option<String>,
        /// How often to check.
        #[arg(long, value_parser = duration_ms, default_value = "2s")]
        check_interval: u64,
        /// How long one check may take.
        #[arg(long, value_parser = duration_ms, default_value = "1s")]
        check_timeout: u64,
        /// Failures in a row that make an endpoint unhealthy.
        #[arg(long, default_value_t = 2)]
        fall: u32,
        /// Successes in a row that make it healthy again.
        #[arg(long, default_value_t = 2)]
        rise: u32,
        /// An anycast prefix announced from the sites serving it.
        #[arg(long, value_name = "PREFIX")]
        anycast: Option<String>,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Removes a global service.
    Rm {
        /// Its name.
        name: String,
        #[command(flatten)]
        agent: AgentArgs,
    },
}

/// `weft shift` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum ShiftCommand {
    /// Every shift with its history (on a controller).
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Drains a site or a region: weights down step by step to zero (the
    /// last healthy endpoint keeps a floor); `abort` undrains.
    Drain {
        /// The site to drain.
        #[arg(long, conflicts_with = "region", required_unless_present = "region")]
        site: Option<String>,
        /// The region to drain.
        #[arg(long)]
        region: Option<String>,
        /// Only this service (default: every service).
        #[arg(long)]
        service: Option<String>,
        /// Percent of the weight removed per step.
        #[arg(long, default_value_t = 25)]
        step_pct: u8,
        /// Step length.
        #[arg(long, value_parser = duration_ms, default_value = "10s")]
        step: u64,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Switches a service from one version to another at once, holds, then
    /// commits (`switch-back` returns at once during the hold).
    BlueGreen {
        /// The service.
        service: String,
        /// The old version.
        #[arg(long)]
        from: String,
        /// The new version.
        #[arg(long)]
        to: String,
        /// The hold before committing.
        #[arg(long, value_parser = duration_ms, default_value = "60s")]
        hold: u64,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// A stepped canary that advances while its SLO holds and rolls back
    /// by itself on a breach.
    Canary {
        /// The service.
        service: String,
        /// The version serving now.
        #[arg(long)]
        stable: String,
        /// The new version.
        #[arg(long)]
        canary: String,
        /// Shares per step, percent.
        #[arg(long, value_delimiter = ',', default_value = "5,25,50,100")]
        steps: Vec<u8>,
        /// Step length.
        #[arg(long, value_parser = duration_ms, default_value = "30s")]
        step: u64,
        /// SLO: most failed health checks of the new version, percent.
        #[arg(long, default_value_t = 1.0)]
        max_error_pct: f64,
        /// SLO: most p99 health-check latency, ms.
        #[arg(long, default_value_t = 500)]
        max_latency_ms: u32,
        /// Checks needed per step before it may advance.
        #[arg(long, default_value_t = 5)]
        min_samples: u32,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Holds a running shift where it is.
    Pause {
        /// The shift (`s1`, ...).
        id: String,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Resumes a paused shift (its step starts again).
    Resume {
        /// The shift.
        id: String,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Stops a shift; nothing of it stays in effect.
    Abort {
        /// The shift.
        id: String,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Blue/green: back to the old version at once.
    SwitchBack {
        /// The shift.
        id: String,
        #[command(flatten)]
        agent: AgentArgs,
    },
}

/// Parses `k=v,k=v` into an endpoint.
fn endpoint(s: &str) -> Result<GtmEndpoint> {
    let mut e = GtmEndpoint {
        id: String::new(),
        site: String::new(),
        region: String::new(),
        address: String::new(),
        port: 0,
        weight: 100,
        capacity_qps: 0,
        version: "v1".to_owned(),
    };
    for kv in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
        let (k, v) =
            kv.split_once('=').with_context(|| format!("{kv:?} in --endpoint is not KEY=VALUE"))?;
        let num = |v: &str| v.parse::<u32>().with_context(|| format!("{k}={v:?} is not a number"));
        match k {
            "id" => v.clone_into(&mut e.id),
            "site" => v.clone_into(&mut e.site),
            "region" => v.clone_into(&mut e.region),
            "address" => v.clone_into(&mut e.address),
            "port" => e.port = u16::try_from(num(v)?).context("port is 1..=65535")?,
            "weight" => e.weight = num(v)?,
            "capacity" => e.capacity_qps = num(v)?,
            "version" => v.clone_into(&mut e.version),
            other => bail!(
                "unknown endpoint key {other:?} (id, site, region, address, port, weight, capacity, version)"
            ),
        }
    }
    for (k, v) in [("id", &e.id), ("site", &e.site), ("region", &e.region), ("address", &e.address)]
    {
        if v.is_empty() {
            bail!("--endpoint {s:?} needs {k}=");
        }
    }
    if e.port == 0 {
        bail!("--endpoint {s:?} needs port=");
    }
    Ok(e)
}

fn print_change(c: &GtmChange) {
    let shift = c
        .shift
        .as_ref()
        .map_or(String::new(), |s| format!(": shift {} {} — {}", s.id, s.state, s.plan));
    outln!(
        "{} committed (epoch {}, revision {}, request {}){shift}",
        c.kind,
        c.epoch,
        c.revision,
        c.request
    );
}

fn print_shift(s: &GtmShift, history: bool) {
    let pct = s.percent.map_or(String::new(), |p| format!(" at {p:.1} %"));
    outln!("{:<5} {:<10} {:<11}{pct}  {}", s.id, s.kind, s.state, s.plan);
    if let Some(r) = &s.reason {
        outln!("      reason: {r}");
    }
    if history {
        for l in &s.history {
            outln!("      {}  {}", utc_ms(l.at_unix_ms), l.line);
        }
    }
}

fn command(agent: &AgentArgs, id: &str, cmd: &str) -> Result<ExitCode> {
    let c: GtmChange =
        agent.client().post(&format!("/api/v1/gtm/shifts/{id}/{cmd}"), &serde_json::json!({}))?;
    print_change(&c);
    Ok(ExitCode::SUCCESS)
}

fn start(agent: &AgentArgs, body: &GtmShiftStart) -> Result<ExitCode> {
    let c: GtmChange = agent.client().post("/api/v1/gtm/shifts", body)?;
    print_change(&c);
    Ok(ExitCode::SUCCESS)
}

/// Runs one `weft gtm` command.
pub(crate) fn run(cmd: GtmCommand) -> Result<ExitCode> {
    match cmd {
        GtmCommand::Status { json, agent } => {
            let s: GtmStatus = agent.client().get("/api/v1/gtm")?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&s)?);
                return Ok(ExitCode::SUCCESS);
            }
            match &s.zone {
                Some(z) => outln!("DNS: answering {z} (GTM document seq {})", s.seq),
                None => outln!("DNS: not answered here (GTM document seq {})", s.seq),
            }
            for svc in &s.services {
                let serving = svc.serving.as_deref().unwrap_or("every version");
                outln!(
                    "{}: serving {serving}{}",
                    svc.name,
                    svc.split.as_ref().map_or(String::new(), |x| format!(", split {x}"))
                );
                outln!(
                    "  {:<10} {:<10} {:<8} {:<16} {:<7} {:>6} {:>6}  health",
                    "ENDPOINT",
                    "SITE",
                    "REGION",
                    "ADDRESS",
                    "VERSION",
                    "WEIGHT",
                    "EFFECT"
                );
                for e in &svc.endpoints {
                    let health = match (e.healthy, &e.health) {
                        (None, _) => "-".to_owned(),
                        (Some(true), _) => "healthy".to_owned(),
                        (Some(false), why) => {
                            format!("unhealthy: {}", why.as_deref().unwrap_or(""))
                        }
                    };
                    let e2 = &e.endpoint;
                    outln!(
                        "  {:<10} {:<10} {:<8} {:<16} {:<7} {:>6} {:>6}  {health}",
                        e2.id,
                        e2.site,
                        e2.region,
                        e2.address,
                        e2.version,
                        e2.weight,
                        e.effective_weight
                    );
                }
                for a in &svc.announcements {
                    outln!(
                        "  anycast {} from {}: {} ({})",
                        a.prefix,
                        a.site,
                        if a.announce { "announce" } else { "withdraw" },
                        a.why
                    );
                }
            }
            if !s.shifts.is_empty() {
                outln!("shifts:");
                for sh in &s.shifts {
                    print_shift(sh, false);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        GtmCommand::Explain { name, from, json, agent } => {
            let q = Query::default().push("name", &name).opt("from", from.as_ref());
            let x: GtmExplanation = agent.client().get(&format!("/api/v1/gtm/explain{q}"))?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&x)?);
                return Ok(ExitCode::SUCCESS);
            }
            let scope = x.ecs_scope.map_or(String::new(), |s| format!(", ECS scope /{s}"));
            outln!("{name} for a client in region {}{scope}", x.region);
            match (&x.answer, &x.endpoint) {
                (Some(a), Some(e)) => outln!("answer: {a} (endpoint {e})"),
                _ => outln!("answer: no healthy endpoint (DNS fails open to the nearest)"),
            }
            if let Some(s) = &x.split {
                outln!("split: {s}; this time {}", x.version.as_deref().unwrap_or("-"));
            }
            outln!(
                "  {:<10} {:<10} {:<7} {:>8} {:>6} {:>8}  why",
                "ENDPOINT",
                "SITE",
                "VERSION",
                "RTT_MS",
                "WEIGHT",
                "LOAD"
            );
            for c in &x.candidates {
                let rtt = c.rtt_ms.map_or("-".to_owned(), |r| format!("{r:.1}"));
                let load = if c.capacity_qps > 0 {
                    format!("{}/{}", c.load_qps, c.capacity_qps)
                } else {
                    c.load_qps.to_string()
                };
                outln!(
                    "  {:<10} {:<10} {:<7} {:>8} {:>6} {:>8}  {}",
                    c.endpoint,
                    c.site,
                    c.version,
                    rtt,
                    c.weight,
                    load,
                    c.why
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        GtmCommand::Service(ServiceCommand::Set {
            name,
            endpoints,
            file,
            ttl,
            serving,
            check,
            check_interval,
            check_timeout,
            fall,
            rise,
            anycast,
            agent,
        }) => {
            let spec = if let Some(f) = file {
                let text = std::fs::read_to_string(&f)
                    .with_context(|| format!("reading {}", f.display()))?;
                serde_json::from_str::<GtmServiceSpec>(&text)
                    .with_context(|| format!("{}", f.display()))?
            } else {
                if endpoints.is_empty() {
                    bail!("a service needs at least one --endpoint (or --file)");
                }
                let check = check
                    .map(|c| {
                        let (kind, path) = match c.as_str() {
                            "tcp" => (HealthCheckKind::Tcp, None),
                            http if http.starts_with("http:") => {
                                (HealthCheckKind::Http, Some(http[5..].to_owned()))
                            }
                            other => bail!("--check {other:?}: `tcp` or `http:/PATH`"),
                        };
                        Ok(GtmCheck {
                            kind,
                            path,
                            interval_ms: check_interval,
                            timeout_ms: check_timeout,
                            fall,
                            rise,
                        })
                    })
                    .transpose()?;
                GtmServiceSpec {
                    endpoints: endpoints.iter().map(|e| endpoint(e)).collect::<Result<_>>()?,
                    ttl,
                    serving,
                    check,
                    anycast,
                }
            };
            let c: GtmChange =
                agent.client().put(&format!("/api/v1/gtm/services/{name}"), &spec)?;
            print_change(&c);
            Ok(ExitCode::SUCCESS)
        }
        GtmCommand::Service(ServiceCommand::Rm { name, agent }) => {
            let v = agent.client().delete(&format!("/api/v1/gtm/services/{name}"))?;
            let c: GtmChange = serde_json::from_value(v)?;
            print_change(&c);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs one `weft shift` command.
pub(crate) fn run_shift(cmd: ShiftCommand) -> Result<ExitCode> {
    match cmd {
        ShiftCommand::List { json, agent } => {
            let shifts: Vec<GtmShift> = agent.client().get("/api/v1/gtm/shifts")?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&shifts)?);
            } else if shifts.is_empty() {
                outln!("no shifts");
            } else {
                for s in &shifts {
                    print_shift(s, true);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ShiftCommand::Drain { site, region, service, step_pct, step, agent } => start(
            &agent,
            &GtmShiftStart {
                kind: "drain".into(),
                service,
                site,
                region,
                step_pct: Some(step_pct),
                step_ms: Some(step),
                ..GtmShiftStart::default()
            },
        ),
        ShiftCommand::BlueGreen { service, from, to, hold, agent } => start(
            &agent,
            &GtmShiftStart {
                kind: "blue_green".into(),
                service: Some(service),
                from: Some(from),
                to: Some(to),
                hold_ms: Some(hold),
                ..GtmShiftStart::default()
            },
        ),
        ShiftCommand::Canary {
            service,
            stable,
            canary,
            steps,
            step,
            max_error_pct,
            max_latency_ms,
            min_samples,
            agent,
        } => start(
            &agent,
            &GtmShiftStart {
                kind: "canary".into(),
                service: Some(service),
                stable: Some(stable),
                canary: Some(canary),
                steps: Some(steps),
                step_ms: Some(step),
                max_error_pct: Some(max_error_pct),
                max_latency_ms: Some(max_latency_ms),
                min_samples: Some(min_samples),
                ..GtmShiftStart::default()
            },
        ),
        ShiftCommand::Pause { id, agent } => command(&agent, &id, "pause"),
        ShiftCommand::Resume { id, agent } => command(&agent, &id, "resume"),
        ShiftCommand::Abort { id, agent } => command(&agent, &id, "abort"),
        ShiftCommand::SwitchBack { id, agent } => command(&agent, &id, "switch_back"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_is_parsed_from_key_values_and_missing_keys_are_named() {
        let e = endpoint("id=eu,site=a,region=eu,address=10.1.0.1,port=80,weight=5,version=v2")
            .unwrap();
        assert_eq!((e.id.as_str(), e.port, e.weight, e.version.as_str()), ("eu", 80, 5, "v2"));
        let err = endpoint("id=eu,site=a,region=eu,port=80").unwrap_err().to_string();
        assert!(err.contains("address="), "{err}");
        assert!(endpoint("id=eu,colour=red").is_err());
    }
}
