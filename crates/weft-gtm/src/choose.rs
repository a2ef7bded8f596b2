//! The answer decision: which endpoint of a global service one DNS answer
//! names, with every candidate's score for `weft gtm explain`.
//!
//! In order:
//! 1. **Health.** Unhealthy endpoints are out (their site unreachable over
//!    the mesh, drained in the registry, or failing the service's checks).
//! 2. **Version.** A running canary or blue/green split picks the version
//!    by `roll` (the new one when `roll < share`); outside a split only the
//!    serving version (if set) takes traffic. When the picked version has
//!    no healthy endpoint the other one serves.
//! 3. **Weight.** Endpoints at effective weight 0 (drained) are out, unless
//!    no healthy endpoint with weight is left: then the drained healthy
//!    ones serve (the floor — a drain never empties a service).
//! 4. **Capacity.** Endpoints at or past their capacity (answers per
//!    second) are out while any other is under its own.
//! 5. **Nearness.** The lowest RTT from the client's region to the
//!    endpoint's site wins; endpoints within `max(10 ms, 20 %)` of it tie
//!    (the nearest tier). Unknown RTTs rank last.
//! 6. **Region.** Within the tier, endpoints of the client's own region
//!    win over others (two endpoints as near as each other, one labelled
//!    for the client's region: that one).
//! 7. **Share.** Within what is left, `roll` picks by weight.

use std::time::Duration;

use crate::effect::Effect;

/// One endpoint as the decision sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its id.
    pub id: String,
    /// Its version.
    pub version: String,
    /// Healthy, or why not.
    pub health: Result<(), String>,
    /// RTT from the client's region to its site (none: unknown).
    pub rtt: Option<Duration>,
    /// Answers per second it got lately.
    pub load_qps: u32,
    /// Its capacity (0: unlimited).
    pub capacity_qps: u32,
    /// Whether its region is the client's.
    pub same_region: bool,
}

/// How one candidate fared.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// The endpoint.
    pub id: String,
    /// Its effective weight.
    pub weight: u32,
    /// RTT from the client's region, ms.
    pub rtt_ms: Option<f64>,
    /// Whether it was in the final tier.
    pub eligible: bool,
    /// Why it was or was not chosen.
    pub why: String,
}

/// The decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// The chosen endpoint's index in the candidates (none: no healthy endpoint).
    pub picked: Option<usize>,
    /// Every candidate, in the order given.
    pub scores: Vec<Score>,
    /// The version picked by a split, if one is running.
    pub version: Option<String>,
    /// Whether the drain floor was used.
    pub floor: bool,
}

/// The nearest tier's tolerance over the best RTT.
fn tolerance(best: Duration) -> Duration {
    (best / 5).max(Duration::from_millis(10))
}

/// Why a candidate left the running (no allocation: the answer path calls
/// the decision for every query; [`choose`] turns these into words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    Unhealthy,
    VersionNotPicked,
    NotServing,
    Drained,
    AtCapacity,
    Farther(Duration),
    NoRtt,
    OtherRegion,
}

/// The decision itself, over at most 64 candidates (a bit mask of who is
/// still in); `out` hears why each one left.
fn decide(
    cands: &[Candidate],
    eff: &Effect,
    roll: u32,
    out: &mut dyn FnMut(usize, Out),
) -> (Option<usize>, Option<bool>, bool) {
    let n = cands.len().min(64);
    let weight = |i: usize| eff.weights.get(i).copied().unwrap_or(0);
    let mut left: u64 = 0;
    for (i, c) in cands.iter().enumerate().take(n) {
        if c.health.is_ok() {
            left |= 1 << i;
        } else {
            out(i, Out::Unhealthy);
        }
    }
    let each = |mask: u64| (0..n).filter(move |i| mask & (1 << i) != 0);
    let mut drop = |left: &mut u64, i: usize, why: Out| {
        *left &= !(1 << i);
        out(i, why);
    };
    // 2. version (`version`: the index in `names` picked, 0 = the new one).
    let mut version = None;
    if let Some(split) = &eff.split {
        let healthy_of = |v: &str| each(left).any(|i| cands[i].version == v);
        let (want, other) =
            if roll % 1000 < u32::from(split.next_permille) { (0, 1) } else { (1, 0) };
        let names = [&split.next, &split.stable];
        let pick = if healthy_of(names[want]) { want } else { other };
        version = Some(pick);
        for i in each(left) {
            if cands[i].version != *names[pick] {
                drop(&mut left, i, Out::VersionNotPicked);
            }
        }
    } else if let Some(v) = &eff.serving
        && each(left).any(|i| cands[i].version == *v)
    {
        for i in each(left) {
            if cands[i].version != *v {
                drop(&mut left, i, Out::NotServing);
            }
        }
    }
    // 3. weight, with the floor.
    let floor = left != 0 && each(left).all(|i| weight(i) == 0);
    if !floor {
        for i in each(left) {
            if weight(i) == 0 {
                drop(&mut left, i, Out::Drained);
            }
        }
    }
    // 4. capacity.
    let under = |c: &Candidate| c.capacity_qps == 0 || c.load_qps < c.capacity_qps;
    if each(left).any(|i| under(&cands[i])) {
        for i in each(left) {
            if !under(&cands[i]) {
                drop(&mut left, i, Out::AtCapacity);
            }
        }
    }
    // 5. nearness.
    if let Some(best) = each(left).filter_map(|i| cands[i].rtt).min() {
        let limit = best + tolerance(best);
        for i in each(left) {
            match cands[i].rtt {
                Some(r) if r <= limit => {}
                Some(_) => drop(&mut left, i, Out::Farther(best)),
                None => drop(&mut left, i, Out::NoRtt),
            }
        }
    }
    // 6. region.
    if each(left).any(|i| cands[i].same_region) {
        for i in each(left) {
            if !cands[i].same_region {
                drop(&mut left, i, Out::OtherRegion);
            }
        }
    }
    // 7. share.
    let share = |i: usize| if floor { 1 } else { u64::from(weight(i)) };
    let total: u64 = each(left).map(share).sum();
    let picked = if total == 0 {
        None
    } else {
        let mut at = u64::from(roll) * total / 10_000;
        let mut pick = None;
        for i in each(left) {
            pick = Some(i);
            let w = share(i);
            if at < w {
                break;
            }
            at -= w;
        }
        pick
    };
    (picked, version.map(|v| v == 0), floor)
}

/// The endpoint one answer names (index into `cands`; none: no healthy
/// endpoint). `roll` is uniform in `0..10_000`. Allocates nothing.
pub fn pick(cands: &[Candidate], eff: &Effect, roll: u32) -> Option<usize> {
    decide(cands, eff, roll, &mut |_, _| {}).0
}

/// The same decision as [`pick`], with every candidate's score and reason.
pub fn choose(cands: &[Candidate], eff: &Effect, roll: u32) -> Choice {
    let mut why: Vec<Option<String>> = vec![None; cands.len()];
    let (picked, version, floor) = decide(cands, eff, roll, &mut |i, o| {
        let c = &cands[i];
        why[i] = Some(match o {
            Out::Unhealthy => {
                format!("unhealthy: {}", c.health.as_ref().err().map_or("", String::as_str))
            }
            Out::VersionNotPicked => {
                let s = eff.split.as_ref();
                format!(
                    "version {} not picked (split {} → {} at {}‰)",
                    c.version,
                    s.map_or("", |s| s.stable.as_str()),
                    s.map_or("", |s| s.next.as_str()),
                    s.map_or(0, |s| s.next_permille)
                )
            }
            Out::NotServing => format!(
                "version {} is not serving ({} is)",
                c.version,
                eff.serving.as_deref().unwrap_or("")
            ),
            Out::Drained => match eff.drained_by.get(i).and_then(Option::as_ref) {
                Some(s) => format!("drained by shift {s}"),
                None => "weight 0".to_owned(),
            },
            Out::AtCapacity => {
                format!("at capacity ({} of {} answers/s)", c.load_qps, c.capacity_qps)
            }
            Out::Farther(best) => {
                format!("farther: {:.1} ms vs {:.1} ms", c.rtt.map_or(0.0, ms), ms(best))
            }
            Out::NoRtt => "no RTT known from the region".to_owned(),
            Out::OtherRegion => "as near, but not the client's region".to_owned(),
        });
    });
    // `decide` reports whether the split's new version was picked.
    let version = version.and_then(|next| {
        eff.split.as_ref().map(|s| if next { s.next.clone() } else { s.stable.clone() })
    });
    let weight = |i: usize| eff.weights.get(i).copied().unwrap_or(0);
    let scores = cands
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let eligible = why[i].is_none();
            let reason = why[i].clone().unwrap_or_else(|| {
                let mut s = if picked == Some(i) {
                    "picked".to_owned()
                } else {
                    "in the nearest tier".to_owned()
                };
                if floor {
                    s.push_str(" (drain floor: the last healthy endpoints)");
                }
                s
            });
            Score {
                id: c.id.clone(),
                weight: weight(i),
                rtt_ms: c.rtt.map(ms),
                eligible,
                why: reason,
            }
        })
        .collect();
    Choice { picked, scores, version, floor }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effect::VersionSplit;

    fn cand(id: &str, version: &str, rtt_ms: Option<u64>) -> Candidate {
        Candidate {
            id: id.into(),
            version: version.into(),
            health: Ok(()),
            rtt: rtt_ms.map(Duration::from_millis),
            load_qps: 0,
            capacity_qps: 0,
            same_region: false,
        }
    }

    fn eff(weights: Vec<u32>) -> Effect {
        let n = weights.len();
        Effect { weights, drained_by: vec![None; n], split: None, serving: None }
    }

    fn pick(c: &[Candidate], e: &Effect, roll: u32) -> String {
        c[choose(c, e, roll).picked.unwrap()].id.clone()
    }

    #[test]
    fn the_nearest_healthy_endpoint_wins() {
        let mut c = vec![
            cand("eu", "v1", Some(5)),
            cand("us", "v1", Some(80)),
            cand("ap", "v1", Some(150)),
        ];
        let e = eff(vec![100, 100, 100]);
        for roll in [0, 5_000, 9_999] {
            assert_eq!(pick(&c, &e, roll), "eu");
        }
        c[0].health = Err("check failed".into());
        assert_eq!(pick(&c, &e, 0), "us");
        let ch = choose(&c, &e, 0);
        assert!(ch.scores[0].why.contains("unhealthy"), "{:?}", ch.scores);
        assert!(ch.scores[2].why.contains("farther"), "{:?}", ch.scores);
    }

    #[test]
    fn a_brownout_moves_clients_to_the_next_nearest() {
        let c = vec![cand("eu", "v1", Some(205)), cand("us", "v1", Some(80))];
        assert_eq!(pick(&c, &eff(vec![100, 100]), 0), "us");
    }

    #[test]
    fn endpoints_in_the_nearest_tier_share_by_weight() {
        let c = vec![cand("a", "v1", Some(10)), cand("b", "v1", Some(12))];
        let e = eff(vec![300, 100]);
        let a = (0..10_000).step_by(10).filter(|r| pick(&c, &e, *r) == "a").count();
        assert_eq!(a, 750);
    }

    #[test]
    fn a_full_endpoint_spills_to_the_next() {
        let mut c = vec![cand("near", "v1", Some(5)), cand("far", "v1", Some(50))];
        c[0].capacity_qps = 100;
        c[0].load_qps = 100;
        assert_eq!(pick(&c, &eff(vec![1, 1]), 0), "far");
        c[1].capacity_qps = 10;
        c[1].load_qps = 10;
        assert_eq!(pick(&c, &eff(vec![1, 1]), 0), "near", "all full: nearest again");
    }

    #[test]
    fn a_split_picks_the_version_by_roll() {
        let c = vec![cand("old", "v1", Some(5)), cand("new", "v2", Some(5))];
        let mut e = eff(vec![100, 100]);
        e.split = Some(VersionSplit {
            stable: "v1".into(),
            next: "v2".into(),
            next_permille: 50,
            shift: "s1".into(),
        });
        let new = (0..10_000).filter(|r| pick(&c, &e, *r) == "new").count();
        assert_eq!(new, 500);
    }

    #[test]
    fn the_serving_version_excludes_others_while_healthy() {
        let mut c = vec![cand("old", "v1", Some(5)), cand("new", "v2", Some(1))];
        let mut e = eff(vec![100, 100]);
        e.serving = Some("v1".into());
        assert_eq!(pick(&c, &e, 0), "old");
        c[0].health = Err("down".into());
        assert_eq!(pick(&c, &e, 0), "new");
    }

    #[test]
    fn a_drain_keeps_the_last_healthy_endpoint_as_a_floor() {
        let mut c = vec![cand("a", "v1", Some(5)), cand("b", "v1", Some(50))];
        let mut e = eff(vec![0, 100]);
        e.drained_by[0] = Some("s1".into());
        assert_eq!(pick(&c, &e, 0), "b");
        c[1].health = Err("down".into());
        let ch = choose(&c, &e, 0);
        assert_eq!(ch.picked, Some(0));
        assert!(ch.floor);
    }

    #[test]
    fn among_equally_near_endpoints_the_clients_region_wins() {
        let mut c = vec![cand("eu", "v1", Some(0)), cand("ap", "v1", Some(0))];
        c[0].same_region = true;
        for roll in [0, 5_000, 9_999] {
            assert_eq!(pick(&c, &eff(vec![100, 100]), roll), "eu");
        }
        c[0].rtt = Some(Duration::from_millis(80));
        assert_eq!(pick(&c, &eff(vec![100, 100]), 0), "ap", "nearness comes first");
    }

    #[test]
    fn nothing_healthy_means_no_answer() {
        let mut c = vec![cand("a", "v1", Some(5))];
        c[0].health = Err("down".into());
        assert_eq!(choose(&c, &eff(vec![100]), 0).picked, None);
    }

    proptest::proptest! {
        /// Whatever the inputs, the pick is healthy when any candidate is.
        #[test]
        fn the_pick_is_healthy_whenever_one_is(
            healthy in proptest::collection::vec(proptest::prelude::any::<bool>(), 1..8),
            rtts in proptest::collection::vec(proptest::option::of(0u64..500), 8),
            weights in proptest::collection::vec(0u32..5, 8),
            roll in 0u32..10_000,
        ) {
            let c: Vec<Candidate> = healthy.iter().enumerate().map(|(i, h)| {
                let mut x = cand(&i.to_string(), "v1", rtts[i]);
                if !h { x.health = Err("down".into()); }
                x
            }).collect();
            let e = eff(weights[..c.len()].to_vec());
            let ch = choose(&c, &e, roll);
            proptest::prop_assert_eq!(ch.picked, super::pick(&c, &e, roll), "pick and choose agree");
            match ch.picked {
                Some(i) => proptest::prop_assert!(c[i].health.is_ok()),
                None => proptest::prop_assert!(healthy.iter().all(|h| !h)),
            }
        }
    }
}
