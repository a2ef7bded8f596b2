//! The recorder thread: stores what the control loop reports and keeps the
//! history.
//!
//! - Each event from the control loop is stored (which gives it its id) and
//!   then broadcast to the live streams, so a stream never shows an event
//!   the store does not have.
//! - Every [`SAMPLE_EVERY`] it stores one measurement sample per path from
//!   the published status; every [`DOWNSAMPLE_EVERY`] it rolls old samples
//!   up and drops those past retention.
//!
//! It owns the slow, synced writes so the control loop never waits on disk.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use weft_api::Event;

use super::status::SharedStatus;
use crate::api::unix_ms;
use crate::store::{SampleInput, Store, path_key};

/// How often path samples are stored.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// When the first sample is taken after start.
const FIRST_SAMPLE: Duration = Duration::from_secs(2);
/// How often old samples are rolled up.
const DOWNSAMPLE_EVERY: Duration = Duration::from_mins(5);

/// Runs until the control loop's sender is dropped.
pub(crate) fn run(
    store: &Store,
    events: &Receiver<Event>,
    bus: &broadcast::Sender<Event>,
    status: &SharedStatus,
) {
    // The first sample soon after start (once paths have measurements).
    let mut next_sample = Instant::now() + FIRST_SAMPLE;
    let mut next_downsample = Instant::now() + DOWNSAMPLE_EVERY;
    let mut last_bytes: std::collections::HashMap<String, (u64, u64)> =
        std::collections::HashMap::new();
    let mut last_sample = Instant::now();
    loop {
        let wait = next_sample.saturating_duration_since(Instant::now());
        match events.recv_timeout(wait.min(Duration::from_secs(1))) {
            Ok(ev) => match store.append_event(&ev, unix_ms()) {
                Ok(stored) => {
                    let _ = bus.send(stored);
                }
                Err(e) => crate::log_warn!(Store, "storing an event failed: {e:#}"),
            },
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        if now >= next_sample {
            next_sample = now + SAMPLE_EVERY;
            let interval_s = now.duration_since(last_sample).as_secs_f64().round().max(1.0) as u32;
            last_sample = now;
            let s = status.get();
            let samples: Vec<SampleInput> = s
                .paths
                .iter()
                .map(|p| {
                    let key = path_key(&s.peers[p.peer].name, &p.uplink, &p.remote.to_string());
                    // The first sample counts from the agent's start.
                    let (tx0, rx0) = last_bytes.get(&key).copied().unwrap_or((0, 0));
                    last_bytes.insert(key.clone(), (p.tx_bytes, p.rx_bytes));
                    SampleInput {
                        path_key: key,
                        rtt_ms: p.metrics.rtt.map(|d| d.as_secs_f64() * 1e3),
                        jitter_ms: p.metrics.jitter.as_secs_f64() * 1e3,
                        loss_pct: p.metrics.loss * 100.0,
                        up: p.metrics.state.is_alive(),
                        tx_bytes: p.tx_bytes.saturating_sub(tx0),
                        rx_bytes: p.rx_bytes.saturating_sub(rx0),
                        interval_s,
                    }
                })
                .collect();
            if !samples.is_empty()
                && let Err(e) = store.record_samples(unix_ms(), &samples)
            {
                crate::log_warn!(Store, "storing path samples failed: {e:#}");
            }
        }
        if now >= next_downsample {
            next_downsample = now + DOWNSAMPLE_EVERY;
            if let Err(e) = store.downsample(unix_ms()) {
                crate::log_warn!(Store, "downsampling path history failed: {e:#}");
            }
        }
    }
}
