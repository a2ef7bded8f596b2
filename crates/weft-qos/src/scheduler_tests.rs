use super::*;

fn class(name: &str, discipline: Discipline, ceiling_bps: Option<u64>) -> ClassSpec {
    ClassSpec { name: name.into(), discipline, ceiling_bps, dscp: 0 }
}

fn config(classes: Vec<ClassSpec>) -> SchedulerConfig {
    SchedulerConfig {
        capacity_bps: 10_000_000,
        headroom: 1.0,
        queue_time: Duration::from_millis(50),
        classes,
    }
}

fn four() -> Vec<ClassSpec> {
    vec![
        ClassSpec { dscp: 46, ..class("realtime", Discipline::Priority, None) },
        class("interactive", Discipline::Weighted(4), None),
        class("best-effort", Discipline::Weighted(2), None),
        class("bulk", Discipline::Weighted(1), None),
    ]
}

/// Runs the scheduler for `secs` seconds of simulated time with every lane
/// in `offered` kept full (1500-byte packets); the bytes each class sent.
fn saturate(s: &mut Scheduler<u32>, offered: &[Target], start: Instant, secs: f64) -> Vec<u64> {
    let mut now = start;
    let end = start + Duration::from_secs_f64(secs);
    let mut sent = vec![0u64; s.stats().len()];
    while now < end {
        for t in offered {
            while s.enqueue(*t, 0, 1500).is_ok() {}
        }
        while let Some(d) = s.dequeue(now) {
            sent[d.class] += 1500;
        }
        now = s.next_wakeup(now).unwrap_or(now).max(now + Duration::from_micros(10));
    }
    sent
}

#[test]
fn a_priority_packet_leaves_before_every_queued_bulk_packet() {
    let t0 = weft_types::time::virtual_origin();
    let mut s = Scheduler::new(t0, config(four()));
    for i in 0..20 {
        s.enqueue(Target::Class(3), i, 1500).unwrap();
    }
    s.enqueue(Target::Class(0), 99, 200).unwrap();
    let first = s.dequeue(t0).unwrap();
    assert_eq!((first.item, first.class, first.dscp), (99, 0, 46));
}

#[test]
fn the_shaper_holds_the_uplink_to_its_capacity() {
    let t0 = weft_types::time::virtual_origin();
    let mut s = Scheduler::new(t0, config(four()));
    let sent = saturate(&mut s, &[Target::Class(3)], t0, 2.0);
    let rate = sent[3] as f64 * 8.0 / 2.0;
    assert!((9_800_000.0..=10_300_000.0).contains(&rate), "{rate}");
    assert!(s.dequeue(t0 + Duration::from_secs(2)).is_none() || s.queued() > 0);
}

#[test]
fn weighted_classes_share_by_weight_when_all_are_busy() {
    let t0 = weft_types::time::virtual_origin();
    let mut s = Scheduler::new(t0, config(four()));
    let sent = saturate(&mut s, &[Target::Class(1), Target::Class(2), Target::Class(3)], t0, 2.0);
    let total: u64 = sent.iter().sum();
    let share = |i: usize| sent[i] as f64 / total as f64;
    assert!((share(1) - 4.0 / 7.0).abs() < 0.02, "{sent:?}");
    assert!((share(2) - 2.0 / 7.0).abs() < 0.02, "{sent:?}");
    assert!((share(3) - 1.0 / 7.0).abs() < 0.02, "{sent:?}");
}

#[test]
fn a_ceiling_caps_a_class_and_leaves_the_rest_to_others() {
    let t0 = weft_types::time::virtual_origin();
    let mut classes = four();
    classes[1].ceiling_bps = Some(2_000_000);
    let mut s = Scheduler::new(t0, config(classes));
    let sent = saturate(&mut s, &[Target::Class(1), Target::Class(3)], t0, 2.0);
    let interactive = sent[1] as f64 * 8.0 / 2.0;
    let bulk = sent[3] as f64 * 8.0 / 2.0;
    assert!((1_900_000.0..=2_150_000.0).contains(&interactive), "{interactive}");
    assert!(bulk > 7_500_000.0, "bulk takes what the ceiling leaves: {bulk}");
}

#[test]
fn a_reservation_gets_its_rate_against_a_heavier_class() {
    let t0 = weft_types::time::virtual_origin();
    let mut s = Scheduler::new(t0, config(four()));
    // 3 Mbit/s reserved for bulk traffic, competing with interactive (weight 4).
    s.set_reservations(t0, &[("r1".into(), 3, 3_000_000)]);
    let sent = saturate(&mut s, &[Target::Reserved(0), Target::Class(1)], t0, 4.0);
    let reserved = s.stats()[4].sent_bytes as f64 * 8.0 / 4.0;
    // Beyond its rate it shares the round robin with bulk's weight (1 of 5).
    let expected = 3_000_000.0 + 7_000_000.0 / 5.0;
    assert!((reserved - expected).abs() < 0.05 * expected, "{reserved} vs {expected}");
    assert!(sent[1] > 0);
}

#[test]
fn a_full_lane_drops_and_counts_and_other_lanes_still_queue() {
    let t0 = weft_types::time::virtual_origin();
    let mut s = Scheduler::new(t0, config(four()));
    let mut dropped = 0;
    for i in 0..1000 {
        if s.enqueue(Target::Class(3), i, 1500).is_err() {
            dropped += 1;
        }
    }
    // 50 ms at 10 Mbit/s = 62 500 bytes = 41 packets of 1500.
    assert_eq!(1000 - dropped, 41);
    let bulk = &s.stats()[3];
    assert_eq!((bulk.dropped_packets, bulk.queued_packets), (dropped, 41));
    assert!(s.enqueue(Target::Class(0), 5, 200).is_ok());
    assert!(s.enqueue(Target::Reserved(7), 5, 200).is_err(), "no such reservation");
}

#[test]
fn next_wakeup_is_when_the_shaper_has_tokens_again() {
    let t0 = weft_types::time::virtual_origin();
    let mut s = Scheduler::new(t0, config(four()));
    assert_eq!(s.next_wakeup(t0), None, "nothing queued");
    for i in 0..10 {
        s.enqueue(Target::Class(2), i, 1500).unwrap();
    }
    while s.dequeue(t0).is_some() {}
    let at = s.next_wakeup(t0).unwrap();
    assert!(at > t0 && at < t0 + Duration::from_millis(2), "{:?}", at - t0);
    assert!(s.dequeue(at).is_some());
}

#[test]
fn removing_a_reservation_forgets_its_queued_packets() {
    let t0 = weft_types::time::virtual_origin();
    let mut s = Scheduler::new(t0, config(four()));
    s.set_reservations(t0, &[("r1".into(), 3, 1_000_000)]);
    s.enqueue(Target::Reserved(0), 1, 1500).unwrap();
    s.enqueue(Target::Class(3), 2, 1500).unwrap();
    s.set_reservations(t0, &[]);
    assert_eq!(s.queued(), 1);
    assert_eq!(s.dequeue(t0).map(|d| d.item), Some(2));
    assert_eq!(s.dequeue(t0), None);
}
