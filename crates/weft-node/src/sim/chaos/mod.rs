//! The chaos suite's runner: a `weft-chaos` [`Scenario`] on a
//! [`FabricSim`], one seed at a time, judged by its assertions.
//!
//! [`run_case`] builds the fabric the scenario's topology describes (site
//! names map to `s0…` by their position), applies its faults and flows at
//! their times, checks its assertions where they ask (an instant, a
//! deadline, or the whole run) and returns a [`CaseResult`] with what was
//! measured, ready for `weft-chaos`'s summary, JSON and `JUnit` writers.
//!
//! ```no_run
//! let text = std::fs::read_to_string("scenarios/brownout-realtime.toml").unwrap();
//! let sc = weft_chaos::parse(std::path::Path::new("brownout-realtime.toml"), &text).unwrap();
//! let case = weft_node::sim::chaos::run_case(&sc, 1, weft_chaos::DEFAULT_REPLAY_PREFIX);
//! assert!(case.passed, "{}", weft_chaos::summary(&[case.clone()]));
//! ```

mod judge;
mod plan;

use std::time::Duration;

use weft_chaos::{CaseResult, Scenario};

use crate::sim::fabric::{ControlConfig, FabricConfig, FabricSim};
use plan::{Action, Plan, SiteIndex};

/// How often convergence deadlines are checked.
const CONVERGENCE_STEP: Duration = Duration::from_millis(250);

/// Runs `sc` on seed `seed` with the agent's default settings.
pub fn run_case(sc: &Scenario, seed: u64, replay_prefix: &str) -> CaseResult {
    run_case_with(sc, seed, replay_prefix, |_| {})
}

/// Runs `sc` on seed `seed` after `tune` adjusted the fabric's settings
/// (tests weaken failover, or the control plane's election through
/// [`FabricConfig::control`], this way to show a scenario can fail).
pub fn run_case_with(
    sc: &Scenario,
    seed: u64,
    replay_prefix: &str,
    tune: impl FnOnce(&mut FabricConfig),
) -> CaseResult {
    run_case_sim(sc, seed, replay_prefix, tune).0
}

/// [`run_case_with`], also returning the simulated fabric as it ended, to
/// look into (its [`FabricSim::trace`], path log, notes).
pub fn run_case_sim(
    sc: &Scenario,
    seed: u64,
    replay_prefix: &str,
    tune: impl FnOnce(&mut FabricConfig),
) -> (CaseResult, FabricSim) {
    let file = sc.file.display().to_string();
    let mut case = CaseResult::new(&file, &sc.name, seed, replay_prefix);
    let sites: SiteIndex =
        sc.topology.sites.iter().enumerate().map(|(i, s)| (s.clone(), i)).collect();
    let mut cfg = FabricConfig {
        sites: sc.topology.sites.len(),
        uplinks: usize::from(sc.topology.uplinks),
        hubs: sc.topology.hubs.iter().map(|h| sites[h]).collect(),
        link: plan::to_profile(&sc.topology.default_link),
        control: sc.control.as_ref().map(|c| {
            ControlConfig::new(c.controllers.iter().map(|s| sites[s]).collect(), sites[&c.store])
        }),
        ..FabricConfig::default()
    };
    tune(&mut cfg);
    let mut sim = FabricSim::new(cfg, seed);
    let mut plan = Plan::new(sc, seed, &sites);
    plan.apply_base(&mut sim);
    let mut judge = judge::Judge::new(sc, &sites);
    let mut flows = vec![None; sc.flows.len()];
    let actions = std::mem::take(&mut plan.actions);
    let mut next = 0;
    let mut t = Duration::ZERO;
    while t <= sc.duration {
        // Run to the next action, check, or convergence step.
        let mut stop = (t + CONVERGENCE_STEP).min(sc.duration);
        if let Some((at, _)) = actions.get(next) {
            stop = stop.min(*at);
        }
        if let Some(at) = judge.next_instant(t) {
            stop = stop.min(at);
        }
        sim.run_until(stop);
        t = stop;
        while let Some((at, action)) = actions.get(next).filter(|(at, _)| *at <= t) {
            debug_assert!(*at <= t);
            match action {
                Action::StartFlow(i) => {
                    let f = &sc.flows[*i];
                    flows[*i] =
                        Some(sim.add_flow(sites[&f.from], sites[&f.to], f.class.as_str(), f.pps));
                }
                Action::StopFlow(i) => {
                    if let Some(id) = flows[*i] {
                        sim.stop_flow(id);
                    }
                }
                other => plan.apply(&mut sim, other),
            }
            next += 1;
        }
        judge.at(&sim, t);
        if t >= sc.duration {
            break;
        }
    }
    for outcome in judge.finish(&sim, &flows) {
        case.record(outcome);
    }
    // The caller measures wall time: this crate reads no clock.
    case.simulated_time = sim.elapsed();
    (case, sim)
}
