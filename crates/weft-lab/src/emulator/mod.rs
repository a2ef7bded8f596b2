//! The WAN emulator: a userspace forwarder in the internet namespace.
//!
//! Packets of a *diverted* uplink are routed by the kernel into the TUN device
//! [`TUN_NAME`](crate::addressing::TUN_NAME); the emulator reads them, looks up the
//! impairments of the source and destination uplinks, drops (loss, outage) or holds
//! them in a time-ordered queue (delay, jitter), and writes them back into the TUN,
//! from where the kernel forwards them on (the policy rule `iif wanem0 lookup main`
//! keeps them from being diverted again). Clean uplinks are not diverted at all and
//! forward in the kernel at veth speed.
//!
//! The loop is single threaded: `poll` on the TUN and the control socket with the
//! next release time as timeout; up to [`BATCH`] packets are read per wake-up into
//! pooled buffers (no allocation per packet once warm). Control requests
//! ([`control::Request`]) are answered between batches, so a change applies within
//! a millisecond or so of the request.

pub mod control;
pub(crate) mod shaper;

use std::io::ErrorKind;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};

use self::control::{Request, Response};
use self::shaper::{Decision, Shaper};
use crate::error::{LabError, Result};
use crate::sys;

/// Packets read per wake-up before timers and control are looked at again.
pub const BATCH: usize = 256;
/// Size of each packet buffer; the TUN's MTU is 1500, so this is plenty.
const BUF_SIZE: usize = 2048;
/// Longest sleep, so a stop flag is noticed.
const MAX_SLEEP: Duration = Duration::from_millis(100);

/// How to run one emulator.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// The internet namespace to run in.
    pub netns: String,
    /// Name of the TUN device to create there.
    pub tun_name: String,
    /// Path of the control socket to listen on.
    pub control: PathBuf,
    /// Seed of the loss and jitter draws.
    pub seed: u64,
}

/// Runs the emulator on the calling thread until `stop` is set or a
/// [`Request::Shutdown`] arrives. The calling thread moves into `config.netns`.
///
/// The TUN device is created here and vanishes when this returns; the caller brings
/// it up and routes to it once the control socket answers [`Request::Ping`].
pub fn run(config: &EmulatorConfig, stop: &Arc<AtomicBool>) -> Result<()> {
    sys::enter_netns(&config.netns)?;
    let tun = tun_rs::DeviceBuilder::new()
        .name(&config.tun_name)
        .mtu(1500)
        .packet_information(false)
        .build_sync()
        .map_err(|e| {
            LabError::io(format!("creating TUN {} in {}", config.tun_name, config.netns), e)
        })?;
    tun.set_nonblocking(true).map_err(|e| LabError::io("TUN set_nonblocking", e))?;
    let _ = std::fs::remove_file(&config.control);
    let listener = UnixListener::bind(&config.control).map_err(|e| {
        LabError::io(format!("binding control socket {}", config.control.display()), e)
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| LabError::io("control socket set_nonblocking", e))?;

    let mut shaper = Shaper::new(config.seed);
    let mut pool: Vec<Vec<u8>> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let timeout = shaper
            .next_deadline()
            .map_or(MAX_SLEEP, |d| d.saturating_duration_since(Instant::now()).min(MAX_SLEEP));
        let ts = Timespec {
            tv_sec: timeout.as_secs().cast_signed(),
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        let mut fds = [PollFd::new(&tun, PollFlags::IN), PollFd::new(&listener, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(LabError::io("poll", e.into())),
        }
        let control_ready = !fds[1].revents().is_empty();

        release_due(&tun, &mut shaper, &mut pool);
        for _ in 0..BATCH {
            let mut buf = pool.pop().unwrap_or_else(|| vec![0; BUF_SIZE]);
            let n = match tun.recv(&mut buf) {
                Ok(n) => n,
                Err(e)
                    if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted =>
                {
                    pool.push(buf);
                    break;
                }
                Err(e) => return Err(LabError::io("reading the TUN device", e)),
            };
            match shaper.decide(Instant::now(), &buf[..n]) {
                Decision::Drop => pool.push(buf),
                Decision::Send => {
                    send(&tun, &mut shaper, &buf[..n]);
                    pool.push(buf);
                }
                Decision::Hold(at) => shaper.hold(at, buf, n),
            }
        }
        release_due(&tun, &mut shaper, &mut pool);

        if control_ready && serve_control(&listener, &mut shaper) {
            break;
        }
    }
    let _ = std::fs::remove_file(&config.control);
    Ok(())
}

fn send(tun: &tun_rs::SyncDevice, shaper: &mut Shaper, packet: &[u8]) {
    match tun.send(packet) {
        Ok(_) => shaper.count_sent(),
        Err(_) => shaper.count_write_error(),
    }
}

fn release_due(tun: &tun_rs::SyncDevice, shaper: &mut Shaper, pool: &mut Vec<Vec<u8>>) {
    let now = Instant::now();
    while let Some((buf, len)) = shaper.pop_due(now) {
        send(tun, shaper, &buf[..len]);
        pool.push(buf);
    }
}

/// Answers pending control requests; true when asked to shut down.
fn serve_control(listener: &UnixListener, shaper: &mut Shaper) -> bool {
    let mut shutdown = false;
    while let Ok((stream, _)) = listener.accept() {
        let response = match control::read_request(&stream) {
            Ok(Request::Ping) => Response::Ok,
            Ok(Request::Set { addr, impairment }) => match impairment.validate() {
                Ok(()) => {
                    shaper.set(addr, impairment);
                    Response::Ok
                }
                Err(e) => Response::Error { message: e.to_string() },
            },
            Ok(Request::Stats) => Response::Stats(shaper.stats()),
            Ok(Request::Shutdown) => {
                shutdown = true;
                Response::Ok
            }
            Err(e) => Response::Error { message: format!("bad request: {e}") },
        };
        let _ = control::write_response(&stream, &response);
    }
    shutdown
}
