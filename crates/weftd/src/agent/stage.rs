//! [`Stage`]: a second thread for the kernel half of a data-plane direction,
//! so one direction can use two cores without reordering anything.
//!
//! The send thread reads and encrypts while its stage sends the previous
//! batch (`sendmmsg`, where the kernel segments and forwards); a receive
//! thread decrypts while its stage writes the previous batch to the TUN
//! device (where the kernel runs the receiving TCP stack). Batches go over a
//! bounded FIFO channel and come back empty over another: order is kept,
//! nothing is allocated per batch, and when the stage falls behind the
//! producer waits for an empty batch (back-pressure, no drop).

use std::sync::mpsc::{Receiver, SendError, SyncSender, sync_channel};

/// A worker thread that takes full batches in order, handles each with its
/// function, and hands them back for reuse.
#[derive(Debug)]
pub(crate) struct Stage<T> {
    work: SyncSender<T>,
    back: Receiver<T>,
}

impl<T: Send + 'static> Stage<T> {
    /// Starts thread `name`, running `handle` on every batch handed over;
    /// `spares` are the empty batches in circulation besides the producer's
    /// own (at least one).
    pub(crate) fn spawn(
        name: &str,
        spares: Vec<T>,
        mut handle: impl FnMut(&mut T) + Send + 'static,
    ) -> std::io::Result<Self> {
        let n = spares.len().max(1);
        let (work, work_rx) = sync_channel::<T>(n);
        let (back_tx, back) = sync_channel::<T>(n + 1);
        for s in spares {
            let _ = back_tx.send(s);
        }
        std::thread::Builder::new().name(name.to_owned()).spawn(move || {
            for mut batch in work_rx {
                handle(&mut batch);
                if back_tx.send(batch).is_err() {
                    break;
                }
            }
        })?;
        Ok(Self { work, back })
    }

    /// Hands `batch` to the stage and puts an empty one in its place,
    /// waiting for one while every spare is in flight. `false` if the
    /// stage's thread is gone (the batch is then left as it was).
    pub(crate) fn hand_over(&self, batch: &mut T) -> bool {
        let Ok(empty) = self.back.recv() else { return false };
        let full = std::mem::replace(batch, empty);
        match self.work.send(full) {
            Ok(()) => true,
            Err(SendError(full)) => {
                *batch = full;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn batches_are_handled_in_order_and_come_back_for_reuse() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stage = Stage::spawn("test-stage", vec![Vec::new(), Vec::new()], {
            let seen = seen.clone();
            move |b: &mut Vec<u32>| {
                seen.lock().unwrap().extend(b.drain(..));
            }
        })
        .unwrap();
        let mut batch = Vec::new();
        for i in 0..100u32 {
            batch.push(i);
            if i % 7 == 6 {
                assert!(stage.hand_over(&mut batch));
                assert!(batch.is_empty(), "an empty batch comes back");
            }
        }
        assert!(stage.hand_over(&mut batch));
        // One more round trip: everything before it has been handled.
        for _ in 0..3 {
            assert!(stage.hand_over(&mut batch));
        }
        assert_eq!(*seen.lock().unwrap(), (0..100).collect::<Vec<_>>());
    }
}
