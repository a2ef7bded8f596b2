//! The emulator's control channel: one JSON request per line over a unix socket,
//! one JSON response per line back.
//!
//! ```text
//! {"op":"set","addr":"198.18.1.2","impairment":{"delay":"40000us",...}}
//! {"result":"ok"}
//! ```

use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{LabError, Result};
use crate::impairment::Impairment;

/// How long a client waits for the emulator to answer.
const TIMEOUT: Duration = Duration::from_secs(2);

/// A request to the emulator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Is it alive?
    Ping,
    /// Set the impairment of the uplink that owns `addr` (the site's end).
    Set {
        /// The site's address on the uplink.
        addr: Ipv4Addr,
        /// The new impairment (a clean one removes it).
        impairment: Impairment,
    },
    /// Report the counters.
    Stats,
    /// Stop the emulator.
    Shutdown,
}

/// The emulator's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    /// Done.
    Ok,
    /// The counters.
    Stats(EmulatorStats),
    /// Refused, with the reason.
    Error {
        /// What was wrong.
        message: String,
    },
}

/// Counters of the emulator since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmulatorStats {
    /// Packets read from the TUN device.
    pub received: u64,
    /// Packets written back.
    pub sent: u64,
    /// Packets dropped by random loss.
    pub dropped_loss: u64,
    /// Packets dropped because an uplink is down.
    pub dropped_down: u64,
    /// Packets dropped because the delay queue was full.
    pub dropped_overflow: u64,
    /// Packets the kernel refused on write back.
    pub write_errors: u64,
    /// Packets held in the delay queue now.
    pub held: u64,
    /// Uplinks with an active impairment.
    pub links: u64,
}

/// Sends one request to the emulator listening at `socket` and returns its answer.
pub fn call(socket: &Path, request: &Request) -> Result<Response> {
    let fail = |what: &str, e: std::io::Error| {
        LabError::Emulator(format!("{what} control socket {}: {e}", socket.display()))
    };
    let mut stream = UnixStream::connect(socket).map_err(|e| fail("cannot connect to", e))?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(|e| fail("configuring", e))?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(|e| fail("configuring", e))?;
    let mut line = serde_json::to_string(request).map_err(|e| LabError::Emulator(e.to_string()))?;
    line.push('\n');
    stream.write_all(line.as_bytes()).map_err(|e| fail("writing to", e))?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).map_err(|e| fail("no answer on", e))?;
    let response: Response = serde_json::from_str(&answer)
        .map_err(|e| LabError::Emulator(format!("unreadable answer {answer:?}: {e}")))?;
    match response {
        Response::Error { message } => Err(LabError::Emulator(message)),
        r => Ok(r),
    }
}

/// Reads one request from an accepted connection (server side).
pub(crate) fn read_request(stream: &UnixStream) -> std::io::Result<Request> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    serde_json::from_str(&line).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Writes one response (server side).
pub(crate) fn write_response(mut stream: &UnixStream, response: &Response) -> std::io::Result<()> {
    let mut line = serde_json::to_string(response).map_err(std::io::Error::other)?;
    line.push('\n');
    stream.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_round_trip_as_json_lines() {
        let r =
            Request::Set { addr: Ipv4Addr::new(198, 18, 1, 2), impairment: Impairment::loss(0.1) };
        let s = serde_json::to_string(&r).unwrap();
        assert!(s.starts_with(r#"{"op":"set","addr":"198.18.1.2""#), "{s}");
        assert_eq!(serde_json::from_str::<Request>(&s).unwrap(), r);
        let a = Response::Stats(EmulatorStats { received: 3, ..EmulatorStats::default() });
        let s = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Response>(&s).unwrap(), a);
    }
}
