use super::*;
use proptest::prelude::*;
use weft_types::Bandwidth;

fn cand(id: u32, rtt_ms: u32, loss: f64, priority: u8) -> Candidate {
    Candidate {
        path: PathId(id),
        uplink: UplinkId(id as u16),
        state: PathState::Up,
        quality: Quality { rtt_us: rtt_ms * 1000, jitter_us: 1000, loss, loss_long: loss },
        attrs: PathAttrs { priority, ..PathAttrs::default() },
        tx_bps: 0.0,
        flows: 0,
        held_down: false,
    }
}

fn policy(class: SlaClass, balance: LoadBalance) -> SelectionPolicy {
    SelectionPolicy {
        balance,
        preference: PathPreference::LowestLatency,
        ..SelectionPolicy::for_class(class)
    }
}

#[test]
fn active_backup_takes_the_best_priority_first() {
    let cands = [cand(1, 50, 0.0, 2), cand(2, 10, 0.0, 3), cand(3, 80, 0.0, 1)];
    let c = select(&cands, &policy(SlaClass::realtime(), LoadBalance::ActiveBackup), 0, None, 0.1);
    assert_eq!(c.path, Some(PathId(3)));
    assert_eq!((c.basis, c.rule), (Basis::Sla, Rule::Best));
}

#[test]
fn paths_missing_the_sla_are_skipped_for_that_class_only() {
    let cands = [cand(1, 20, 0.05, 1), cand(2, 40, 0.0, 2)];
    let rt = select(&cands, &policy(SlaClass::realtime(), LoadBalance::ActiveBackup), 0, None, 0.1);
    assert_eq!(rt.path, Some(PathId(2)), "5% loss breaks realtime");
    let bulk = select(&cands, &policy(SlaClass::bulk(), LoadBalance::ActiveBackup), 0, None, 0.1);
    assert_eq!(bulk.path, Some(PathId(1)), "bulk tolerates 5% loss");
}

#[test]
fn when_no_path_meets_the_sla_the_fallback_decides() {
    let cands = [cand(1, 20, 0.05, 1), cand(2, 40, 0.03, 1)];
    let mut p = policy(SlaClass::realtime(), LoadBalance::ActiveBackup);
    p.preference = PathPreference::LowestLoss;
    let c = select(&cands, &p, 0, None, 0.1);
    assert_eq!((c.path, c.basis), (Some(PathId(2)), Basis::BestOfTheBad));
    p.fallback = Fallback::StrictDrop;
    let c = select(&cands, &p, 0, None, 0.1);
    assert_eq!((c.path, c.basis), (None, Basis::StrictDrop));
}

#[test]
fn dead_paths_are_never_chosen_even_as_fallback() {
    let mut a = cand(1, 10, 0.0, 1);
    a.state = PathState::Down;
    let mut b = cand(2, 10, 0.0, 1);
    b.state = PathState::Init;
    let c =
        select(&[a, b], &policy(SlaClass::best_effort(), LoadBalance::ActiveBackup), 0, None, 0.1);
    assert_eq!((c.path, c.basis), (None, Basis::NoAlivePath));
}

#[test]
fn held_down_paths_wait_unless_nothing_else_qualifies() {
    let mut recovering = cand(1, 10, 0.0, 1);
    recovering.held_down = true;
    let backup = cand(2, 40, 0.0, 2);
    let p = policy(SlaClass::realtime(), LoadBalance::ActiveBackup);
    assert_eq!(select(&[recovering, backup], &p, 0, None, 0.1).path, Some(PathId(2)));
    let c = select(&[recovering], &p, 0, None, 0.1);
    assert_eq!((c.path, c.basis), (Some(PathId(1)), Basis::HeldDownOnly));
}

#[test]
fn an_incumbent_of_equal_priority_stays_unless_beaten_by_the_margin() {
    let cands = [cand(1, 100, 0.0, 1), cand(2, 95, 0.0, 1)];
    let p = policy(SlaClass::realtime(), LoadBalance::ActiveBackup);
    let c = select(&cands, &p, 0, Some(PathId(1)), 0.1);
    assert_eq!(c.path, Some(PathId(1)));
    assert!(matches!(c.rule, Rule::KeptIncumbent { challenger: PathId(2), .. }));
    let cands = [cand(1, 100, 0.0, 1), cand(2, 80, 0.0, 1)];
    assert_eq!(select(&cands, &p, 0, Some(PathId(1)), 0.1).path, Some(PathId(2)));
}

#[test]
fn a_better_priority_wins_over_the_incumbent_regardless_of_margin() {
    let cands = [cand(1, 10, 0.0, 2), cand(2, 12, 0.0, 1)];
    let p = policy(SlaClass::realtime(), LoadBalance::ActiveBackup);
    assert_eq!(select(&cands, &p, 0, Some(PathId(1)), 0.1).path, Some(PathId(2)));
}

#[test]
fn excluded_and_metered_uplinks_are_never_used() {
    let mut lte = cand(1, 5, 0.0, 1);
    lte.attrs.metered = true;
    let fiber = cand(2, 50, 0.0, 2);
    let mut p = policy(SlaClass::bulk(), LoadBalance::ActiveBackup);
    p.avoid_metered = true;
    assert_eq!(select(&[lte, fiber], &p, 0, None, 0.1).path, Some(PathId(2)));
    let mut p = policy(SlaClass::bulk(), LoadBalance::ActiveBackup);
    p.exclude_uplinks = vec![UplinkId(2)];
    let mut dead_lte = lte;
    dead_lte.quality.loss = 0.5;
    dead_lte.quality.loss_long = 0.5;
    assert_eq!(
        select(&[dead_lte, fiber], &p, 0, None, 0.1).path,
        Some(PathId(1)),
        "fallback skips excluded"
    );
}

#[test]
fn preferred_uplinks_rank_ahead_of_priority() {
    let cands = [cand(1, 10, 0.0, 1), cand(2, 60, 0.0, 9)];
    let mut p = policy(SlaClass::bulk(), LoadBalance::ActiveBackup);
    p.prefer_uplinks = vec![UplinkId(2)];
    assert_eq!(select(&cands, &p, 0, None, 0.1).path, Some(PathId(2)));
}

#[test]
fn flow_hash_spreads_flows_and_is_sticky() {
    let cands = [cand(1, 10, 0.0, 1), cand(2, 10, 0.0, 1), cand(3, 10, 0.0, 1)];
    let p = policy(SlaClass::bulk(), LoadBalance::FlowHash);
    let mut counts = [0u32; 4];
    for h in 0..3000u64 {
        let h = weft_types::flow::mix64(h);
        let a = select(&cands, &p, h, None, 0.1).path.unwrap();
        assert_eq!(select(&cands, &p, h, None, 0.1).path.unwrap(), a);
        counts[a.0 as usize] += 1;
    }
    for n in &counts[1..] {
        assert!((850..1150).contains(n), "uneven {counts:?}");
    }
}

#[test]
fn weighted_shares_new_flows_by_available_bandwidth() {
    let mut big = cand(1, 10, 0.0, 1);
    big.attrs.capacity = Bandwidth(300_000_000);
    let mut small = cand(2, 10, 0.0, 1);
    small.attrs.capacity = Bandwidth(100_000_000);
    let p = policy(SlaClass::bulk(), LoadBalance::Weighted);
    let on_big = (0..4000u64)
        .filter(|h| select(&[big, small], &p, *h, None, 0.1).path == Some(PathId(1)))
        .count();
    assert!((2800..3200).contains(&on_big), "{on_big} of 4000 on the 3x path");
    assert_eq!(select(&[big, small], &p, 1, Some(PathId(2)), 0.1).rule, Rule::Sticky);
}

#[test]
fn least_loaded_picks_the_emptiest_path_per_capacity() {
    let mut a = cand(1, 10, 0.0, 1);
    a.flows = 10;
    let mut b = cand(2, 10, 0.0, 1);
    b.flows = 3;
    let p = policy(SlaClass::bulk(), LoadBalance::LeastLoaded);
    assert_eq!(select(&[a, b], &p, 0, None, 0.1).path, Some(PathId(2)));
}

fn arb_candidate() -> impl Strategy<Value = Candidate> {
    (0u32..16, 1u32..400, 0.0f64..0.2, 0u8..4, 0u8..4, any::<bool>()).prop_map(
        |(id, rtt, loss, prio, st, held)| {
            let mut c = cand(id, rtt, loss, prio);
            c.state =
                [PathState::Down, PathState::Init, PathState::Up, PathState::Degraded][st as usize];
            c.held_down = held;
            c
        },
    )
}

proptest! {
    #[test]
    fn the_choice_is_always_alive_and_meets_the_sla_when_any_usable_path_does(
        cands in proptest::collection::vec(arb_candidate(), 0..12).prop_map(|mut v| {
            for (i, c) in v.iter_mut().enumerate() { c.path = PathId(i as u32); }
            v
        }),
        mode in 0usize..4, hash in any::<u64>(), inc in proptest::option::of(0u32..16),
    ) {
        let balance = [LoadBalance::ActiveBackup, LoadBalance::Weighted, LoadBalance::FlowHash, LoadBalance::LeastLoaded][mode];
        let p = policy(SlaClass::realtime(), balance);
        let c = select(&cands, &p, hash, inc.map(PathId), 0.1);
        let any_usable = cands.iter().any(|x| verdict(&p, x) == Verdict::Usable);
        match c.path {
            Some(id) => {
                let chosen = cands.iter().find(|x| x.path == id).unwrap();
                prop_assert!(chosen.state.is_alive());
                if any_usable {
                    prop_assert_eq!(c.basis, Basis::Sla);
                    // Usable, or the incumbent in its hold-down (a hold-down
                    // never pushes flows off the path they are on).
                    let kept = |x: &Candidate| verdict(&p, x) == Verdict::HeldDown && inc == Some(x.path.0);
                    prop_assert!(cands.iter().any(|x| x.path == id && (verdict(&p, x) == Verdict::Usable || kept(x))));
                }
            }
            None => prop_assert!(!cands.iter().any(|x| x.state.is_alive())),
        }
    }
}

#[test]
fn a_held_down_incumbent_keeps_its_flows() {
    let mut fiber = cand(1, 10, 0.0, 1);
    fiber.held_down = true;
    let mut lte = cand(2, 30, 0.0, 2);
    lte.held_down = false;
    for balance in [
        LoadBalance::ActiveBackup,
        LoadBalance::Weighted,
        LoadBalance::LeastLoaded,
        LoadBalance::FlowHash,
    ] {
        let p = policy(SlaClass::bulk(), balance);
        let fresh = select(&[fiber, lte], &p, 5, None, 0.1);
        assert_eq!(
            fresh.path,
            Some(PathId(2)),
            "{balance:?}: a new flow avoids the held-down path"
        );
        if balance != LoadBalance::FlowHash {
            let kept = select(&[fiber, lte], &p, 5, Some(PathId(1)), 0.1);
            assert_eq!(kept.path, Some(PathId(1)), "{balance:?}: the flow on it stays");
        }
    }
}
