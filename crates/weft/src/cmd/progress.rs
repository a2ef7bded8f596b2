//! A one-line spinner on stderr while a command waits, cleared when done.
//! Nothing at all when stderr is not a terminal (pipes, tests, CI logs).

use std::io::{IsTerminal, Write};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// A running spinner; dropping it (or [`Progress::finish`]) clears its line.
pub(crate) struct Progress {
    running: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

impl Progress {
    /// Shows `⠋ message… 1.2 s` on stderr, redrawn every 100 ms, if stderr is
    /// a terminal.
    pub(crate) fn start(message: String) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self { running: None };
        }
        let (tx, rx) = mpsc::channel::<()>();
        let handle = std::thread::spawn(move || {
            let started = Instant::now();
            let mut err = std::io::stderr();
            for frame in FRAMES.iter().cycle() {
                let elapsed = started.elapsed().as_secs_f64();
                let _ = write!(err, "\r\x1b[2K{frame} {message}… {elapsed:.1} s");
                let _ = err.flush();
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => break,
                }
            }
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        });
        Self { running: Some((tx, handle)) }
    }

    /// Stops and clears the spinner.
    pub(crate) fn finish(self) {
        drop(self);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some((tx, handle)) = self.running.take() {
            drop(tx);
            let _ = handle.join();
        }
    }
}
