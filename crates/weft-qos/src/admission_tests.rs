use super::*;

const M: u64 = 1_000_000;

fn two_uplinks() -> Admission {
    Admission { reservable: BTreeMap::from([("u0".into(), 50 * M), ("u1".into(), 20 * M)]) }
}

fn paths(_to: &str) -> Vec<Candidate> {
    vec![
        Candidate { uplink: "u1".into(), rtt: Some(Duration::from_millis(30)), usable: true },
        Candidate { uplink: "u0".into(), rtt: Some(Duration::from_millis(10)), usable: true },
    ]
}

fn req(id: &str, mbps: u64, priority: u8) -> Request {
    Request { id: id.into(), to: "b".into(), rate_bps: mbps * M, priority }
}

fn held(id: &str, mbps: u64, priority: u8, uplink: &str) -> Held {
    Held { id: id.into(), to: "b".into(), rate_bps: mbps * M, priority, uplink: uplink.into() }
}

#[test]
fn a_reservation_goes_on_the_lowest_latency_path_with_room() {
    let a = two_uplinks();
    let d = a.admit(&req("r1", 20, 1), &[], &paths);
    assert_eq!(d, Decision::Admitted { uplink: "u0".into(), preempted: vec![] });
    // u0 has 10 left: the next 15 goes to u1 although it is slower.
    let d = a.admit(&req("r2", 15, 1), &[held("r0", 40, 1, "u0")], &paths);
    assert_eq!(d, Decision::Admitted { uplink: "u1".into(), preempted: vec![] });
}

#[test]
fn a_reservation_that_does_not_fit_is_refused_with_the_figures() {
    let a = two_uplinks();
    let d = a.admit(&req("big", 60, 9), &[], &paths);
    let Decision::Refused { reason } = d else { panic!("{d:?}") };
    assert!(reason.contains("60.0 Mbit/s to b does not fit"), "{reason}");
    assert!(reason.contains("u0 50.0 Mbit/s") && reason.contains("u1 20.0 Mbit/s"), "{reason}");
}

#[test]
fn equal_priority_never_preempts() {
    let a = two_uplinks();
    let h = [held("r0", 45, 5, "u0"), held("r1", 20, 5, "u1")];
    assert!(matches!(a.admit(&req("r2", 10, 5), &h, &paths), Decision::Refused { .. }));
}

#[test]
fn a_higher_priority_preempts_the_lowest_and_the_victim_moves_where_it_fits() {
    let a = two_uplinks();
    let h = [held("low", 15, 1, "u0"), held("mid", 30, 8, "u0"), held("other", 5, 9, "u1")];
    // 5 free on u0, 15 on u1: 18 needs the lowest on u0 (u0 is faster) gone.
    let d = a.admit(&req("urgent", 18, 7), &h, &paths);
    assert_eq!(
        d,
        Decision::Admitted {
            uplink: "u0".into(),
            preempted: vec![Moved { id: "low".into(), to_uplink: Some("u1".into()) }],
        }
    );
}

#[test]
fn a_victim_with_nowhere_to_go_is_held_down() {
    let a = two_uplinks();
    let h = [held("low", 40, 1, "u0"), held("other", 20, 5, "u1")];
    let d = a.admit(&req("urgent", 30, 7), &h, &paths);
    assert_eq!(
        d,
        Decision::Admitted {
            uplink: "u0".into(),
            preempted: vec![Moved { id: "low".into(), to_uplink: None }],
        }
    );
}

#[test]
fn down_paths_and_uplinks_without_capacity_are_not_candidates() {
    let a = Admission { reservable: BTreeMap::from([("u0".into(), 50 * M)]) };
    let down = |_: &str| {
        vec![
            Candidate { uplink: "u0".into(), rtt: None, usable: false },
            Candidate { uplink: "lte".into(), rtt: None, usable: true },
        ]
    };
    let Decision::Refused { reason } = a.admit(&req("r", 1, 1), &[], &down) else { panic!() };
    assert!(reason.contains("no usable path to b"), "{reason}");
}
