use super::super::tests::TempDir;
use super::*;

const S: i64 = 1000;
const MIN5: i64 = 300 * S;
const DAY: i64 = 24 * 3600 * S;
/// A bucket start.
const T: i64 = 1_000_000 * MIN5;

fn sample(key: &str, rtt: Option<f64>, jitter: f64, loss: f64, up: bool, tx: u64) -> SampleInput {
    SampleInput {
        path_key: key.to_owned(),
        rtt_ms: rtt,
        jitter_ms: jitter,
        loss_pct: loss,
        up,
        tx_bytes: tx,
        rx_bytes: tx / 10,
        interval_s: 10,
    }
}

/// Three samples in the bucket starting at `T`, one in the next, for `p`;
/// one sample for `q`.
fn fill(s: &Store) {
    s.record_samples(
        T,
        &[sample("p", Some(10.0), 1.0, 0.0, true, 100), sample("q", Some(99.0), 9.0, 0.0, true, 9)],
    )
    .unwrap();
    s.record_samples(T + 10 * S, &[sample("p", None, 2.0, 50.0, false, 0)]).unwrap();
    s.record_samples(T + 20 * S, &[sample("p", Some(20.0), 3.0, 10.0, true, 200)]).unwrap();
    s.record_samples(T + MIN5, &[sample("p", Some(40.0), 4.0, 0.0, true, 5)]).unwrap();
}

fn raw_rows(s: &Store) -> i64 {
    s.writer().conn.query_row("SELECT count(*) FROM samples_raw", [], |r| r.get(0)).unwrap()
}

fn point(at: i64, res: u32, rtt: Option<f64>, jitter: f64, loss: f64, up: f64) -> PathSample {
    PathSample {
        at_unix_ms: at,
        resolution_s: res,
        rtt_ms: rtt,
        jitter_ms: jitter,
        loss_pct: loss,
        up_ratio: up,
        tx_bytes: 0,
        rx_bytes: 0,
    }
}

#[test]
fn raw_samples_are_returned_oldest_first_with_their_interval_as_resolution() {
    let dir = TempDir::new("history-raw");
    let s = Store::open(dir.path()).unwrap();
    fill(&s);
    let h = s.history("p", 0, 100).unwrap();
    assert_eq!(h.len(), 4);
    assert_eq!(
        h[1],
        PathSample { tx_bytes: 0, rx_bytes: 0, ..point(T + 10 * S, 10, None, 2.0, 50.0, 0.0) }
    );
    assert_eq!((h[0].up_ratio, h[0].tx_bytes, h[0].rx_bytes), (1.0, 100, 10));
    assert!(h.windows(2).all(|w| w[0].at_unix_ms < w[1].at_unix_ms));
    assert_eq!(s.history("p", T + 15 * S, 100).unwrap().len(), 2);
    assert_eq!(s.history("p", 0, 1).unwrap()[0].at_unix_ms, T);
    assert_eq!(s.history("q", 0, 100).unwrap().len(), 1);
    assert!(s.history("nobody", 0, 100).unwrap().is_empty());
}

#[test]
fn downsampling_rolls_whole_old_buckets_into_five_minute_means() {
    let dir = TempDir::new("history-rollup");
    let s = Store::open(dir.path()).unwrap();
    fill(&s);
    // The bucket [T, T+5min) ends exactly 24 h before T+24h+5min: not before that.
    s.downsample(T + DAY + MIN5 - 1).unwrap();
    assert_eq!(raw_rows(&s), 5);
    s.downsample(T + DAY + MIN5 + 10 * S).unwrap();
    assert_eq!(raw_rows(&s), 1, "only p's sample in the next bucket stays raw");
    let h = s.history("p", 0, 100).unwrap();
    // rtt: mean of 10 and 20 (the sample without RTT does not count);
    // jitter (1+2+3)/3; loss (0+50+10)/3; up 2 of 3; bytes summed.
    let rolled = PathSample {
        tx_bytes: 300,
        rx_bytes: 30,
        ..point(T, 300, Some(15.0), 2.0, 20.0, 2.0 / 3.0)
    };
    let raw =
        PathSample { tx_bytes: 5, rx_bytes: 0, ..point(T + MIN5, 10, Some(40.0), 4.0, 0.0, 1.0) };
    assert_eq!(h, vec![rolled, raw]);
    let q = s.history("q", 0, 100).unwrap();
    assert_eq!(q, vec![PathSample { tx_bytes: 9, ..point(T, 300, Some(99.0), 9.0, 0.0, 1.0) }]);
}

#[test]
fn downsampling_twice_changes_nothing_and_a_late_sample_merges_into_its_bucket() {
    let dir = TempDir::new("history-idempotent");
    let s = Store::open(dir.path()).unwrap();
    fill(&s);
    let now = T + DAY + MIN5 + 10 * S;
    s.downsample(now).unwrap();
    let once = s.history("p", 0, 100).unwrap();
    s.downsample(now).unwrap();
    s.downsample(now + 1).unwrap();
    assert_eq!(s.history("p", 0, 100).unwrap(), once);
    // A sample that arrives (clock stepped back) for a rolled-up bucket.
    s.record_samples(T + 30 * S, &[sample("p", Some(35.0), 6.0, 0.0, true, 700)]).unwrap();
    s.downsample(now).unwrap();
    let merged = PathSample {
        tx_bytes: 1000,
        rx_bytes: 100,
        ..point(T, 300, Some(65.0 / 3.0), 3.0, 15.0, 0.75)
    };
    assert_eq!(s.history("p", 0, 100).unwrap()[0], merged);
}

#[test]
fn rollups_older_than_the_retention_are_deleted() {
    let dir = TempDir::new("history-retention");
    let s = Store::open(dir.path()).unwrap();
    fill(&s);
    let month = ms(ROLLUP_RETENTION);
    s.downsample(T + month).unwrap();
    // Everything is older than a day now: all rolled up, nothing raw.
    assert_eq!(raw_rows(&s), 0);
    let starts = |s: &Store| -> Vec<i64> {
        s.history("p", 0, 100).unwrap().iter().map(|p| p.at_unix_ms).collect()
    };
    assert_eq!(starts(&s), vec![T, T + MIN5], "a bucket exactly 30 days old stays");
    s.downsample(T + month + 1).unwrap();
    assert_eq!(starts(&s), vec![T + MIN5]);
    s.downsample(T + MIN5 + month + 1).unwrap();
    assert!(starts(&s).is_empty());
    assert!(s.history("q", 0, 100).unwrap().is_empty());
}

#[test]
fn a_batch_with_a_non_finite_value_is_refused_whole() {
    let dir = TempDir::new("history-finite");
    let s = Store::open(dir.path()).unwrap();
    let batch =
        [sample("p", Some(1.0), 1.0, 0.0, true, 1), sample("q", Some(f64::NAN), 1.0, 0.0, true, 1)];
    let e = s.record_samples(T, &batch).unwrap_err();
    assert!(e.to_string().contains("path q"), "{e}");
    let batch = [sample("q", Some(1.0), f64::INFINITY, 0.0, true, 1)];
    assert!(s.record_samples(T, &batch).is_err());
    assert_eq!(raw_rows(&s), 0);
}

#[test]
fn a_failed_batch_leaves_no_stale_series_behind() {
    let dir = TempDir::new("history-rollback");
    let s = Store::open(dir.path()).unwrap();
    // `x` gets a series id, then `y`'s byte count does not fit: all rolled back.
    let batch =
        [sample("x", Some(1.0), 1.0, 0.0, true, 1), sample("y", None, 1.0, 0.0, true, u64::MAX)];
    assert!(s.record_samples(T, &batch).is_err());
    s.record_samples(T + 10 * S, &[sample("z", Some(2.0), 1.0, 0.0, true, 1)]).unwrap();
    s.record_samples(T + 20 * S, &[sample("x", Some(3.0), 1.0, 0.0, true, 1)]).unwrap();
    assert_eq!(s.history("x", 0, 10).unwrap()[0].rtt_ms, Some(3.0));
    assert_eq!(s.history("z", 0, 10).unwrap()[0].rtt_ms, Some(2.0));
    assert_eq!(raw_rows(&s), 2);
}
