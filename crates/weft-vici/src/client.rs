//! A blocking VICI client over charon's unix socket.
//!
//! One request at a time: [`Client::call`] writes a command and reads until
//! its response; [`Client::call_streaming`] registers for the event a listing
//! command streams (`list-sas` streams `list-sa`, `list-conns` streams
//! `list-conn`, `list-certs` streams `list-cert`), sends the command,
//! collects the events until the response, and unregisters. Reads and writes
//! time out ([`Client::set_timeout`], default [`DEFAULT_TIMEOUT`]).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::packet::{Packet, PacketError};
use crate::wire::{Message, WireError};

/// How long a read or write may block by default (a command like
/// `initiate` with its own `timeout` needs more: raise it).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong talking to charon.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The socket: cannot connect, closed, timed out.
    #[error("VICI socket: {0}")]
    Io(#[from] std::io::Error),
    /// charon sent bytes that are not a VICI packet, or we could not frame ours.
    #[error("VICI packet: {0}")]
    Packet(#[from] PacketError),
    /// charon does not know this command (`CMD_UNKNOWN`).
    #[error("charon does not know the command {0:?}")]
    UnknownCommand(String),
    /// charon does not know this event (`EVENT_UNKNOWN`).
    #[error("charon does not know the event {0:?}")]
    UnknownEvent(String),
    /// A packet of a type that does not belong at this point of the exchange.
    #[error("unexpected {0} from charon")]
    Unexpected(&'static str),
    /// The command ran and failed: its answer said `success = no`.
    #[error("charon refused: {0}")]
    Refused(String),
}

impl From<WireError> for Error {
    fn from(e: WireError) -> Self {
        Error::Packet(e.into())
    }
}

/// A connection to charon's VICI socket.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
}

impl Client {
    /// Connects to the socket at `path` (charon's default is `/run/charon.vici`;
    /// strongswan.conf `charon.plugins.vici.socket` moves it).
    pub fn connect(path: impl AsRef<Path>) -> Result<Self, Error> {
        let stream = UnixStream::connect(path)?;
        let c = Client { stream };
        c.set_timeout(DEFAULT_TIMEOUT)?;
        Ok(c)
    }

    /// A client over an already connected stream (tests, socket pairs).
    pub fn from_stream(stream: UnixStream) -> Result<Self, Error> {
        let c = Client { stream };
        c.set_timeout(DEFAULT_TIMEOUT)?;
        Ok(c)
    }

    /// Sets the read and write timeout of every later exchange.
    pub fn set_timeout(&self, timeout: Duration) -> Result<(), Error> {
        self.stream.set_read_timeout(Some(timeout))?;
        self.stream.set_write_timeout(Some(timeout))?;
        Ok(())
    }

    /// Runs `command` with `args` and returns charon's answer. An answer
    /// with `success = no` is still returned: pass it to [`check_success`]
    /// for the commands that report that way.
    pub fn call(&mut self, command: &str, args: &Message) -> Result<Message, Error> {
        self.send(&Packet::CmdRequest { command: command.to_owned(), message: args.clone() })?;
        match self.recv()? {
            Packet::CmdResponse(m) => Ok(m),
            Packet::CmdUnknown => Err(Error::UnknownCommand(command.to_owned())),
            _ => Err(Error::Unexpected("packet instead of a command response")),
        }
    }

    /// Runs a listing `command` that streams `event`s before its answer:
    /// returns the events' messages in order, and the answer.
    pub fn call_streaming(
        &mut self,
        command: &str,
        event: &str,
        args: &Message,
    ) -> Result<(Vec<Message>, Message), Error> {
        self.register(event)?;
        self.send(&Packet::CmdRequest { command: command.to_owned(), message: args.clone() })?;
        let mut events = Vec::new();
        let answer = loop {
            match self.recv()? {
                Packet::Event { name, message } if name == event => events.push(message),
                Packet::CmdResponse(m) => break Ok(m),
                Packet::CmdUnknown => break Err(Error::UnknownCommand(command.to_owned())),
                _ => break Err(Error::Unexpected("packet in a listing")),
            }
        };
        // unregister even when the command failed, so the connection stays usable
        let unregistered = self.unregister(event);
        let answer = answer?;
        unregistered?;
        Ok((events, answer))
    }

    /// Subscribes to `event`; the events then come before command answers.
    pub fn register(&mut self, event: &str) -> Result<(), Error> {
        self.send(&Packet::EventRegister(event.to_owned()))?;
        self.confirm(event)
    }

    /// Unsubscribes from `event`.
    pub fn unregister(&mut self, event: &str) -> Result<(), Error> {
        self.send(&Packet::EventUnregister(event.to_owned()))?;
        self.confirm(event)
    }

    /// Reads the next packet: an event the caller registered for, when it
    /// waits for them (e.g. `ike-updown` to watch SAs come and go).
    pub fn next_event(&mut self) -> Result<(String, Message), Error> {
        match self.recv()? {
            Packet::Event { name, message } => Ok((name, message)),
            _ => Err(Error::Unexpected("packet instead of an event")),
        }
    }

    fn confirm(&mut self, event: &str) -> Result<(), Error> {
        loop {
            match self.recv()? {
                Packet::EventConfirm => return Ok(()),
                Packet::EventUnknown => return Err(Error::UnknownEvent(event.to_owned())),
                // an event already on its way when we (un)registered
                Packet::Event { .. } => {}
                _ => return Err(Error::Unexpected("packet instead of an event confirmation")),
            }
        }
    }

    fn send(&mut self, p: &Packet) -> Result<(), Error> {
        self.stream.write_all(&p.encode()?)?;
        Ok(())
    }

    fn recv(&mut self) -> Result<Packet, Error> {
        let mut prefix = [0u8; 4];
        self.stream.read_exact(&mut prefix)?;
        let mut body = vec![0u8; Packet::frame_len(prefix)?];
        self.stream.read_exact(&mut body)?;
        Ok(Packet::decode(&body)?)
    }
}

/// Turns an answer with `success = no` into [`Error::Refused`] with its
/// `errmsg`; other answers (`success = yes`, or no `success` key) pass.
pub fn check_success(answer: &Message) -> Result<(), Error> {
    match answer.value_str("success") {
        Some("no") => {
            Err(Error::Refused(answer.value_str("errmsg").unwrap_or("no errmsg given").to_owned()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    /// A fake charon on the other end of a socket pair: reads `n` packets,
    /// answers each with the packets `reply` gives for it.
    fn fake(
        n: usize,
        reply: fn(Packet) -> Vec<Packet>,
    ) -> (Client, thread::JoinHandle<Vec<Packet>>) {
        let (a, mut b) = UnixStream::pair().unwrap();
        let h = thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..n {
                let mut prefix = [0u8; 4];
                b.read_exact(&mut prefix).unwrap();
                let mut body = vec![0u8; Packet::frame_len(prefix).unwrap()];
                b.read_exact(&mut body).unwrap();
                let p = Packet::decode(&body).unwrap();
                for r in reply(p.clone()) {
                    b.write_all(&r.encode().unwrap()).unwrap();
                }
                seen.push(p);
            }
            seen
        });
        (Client::from_stream(a).unwrap(), h)
    }

    #[test]
    fn call_sends_the_command_and_returns_the_response() {
        let (mut c, h) =
            fake(1, |_| vec![Packet::CmdResponse(Message::new().with_value("version", "5.9.8"))]);
        let m = c.call("version", &Message::new()).unwrap();
        assert_eq!(m.value_str("version"), Some("5.9.8"));
        let seen = h.join().unwrap();
        assert_eq!(
            seen,
            [Packet::CmdRequest { command: "version".into(), message: Message::new() }]
        );
    }

    #[test]
    fn an_unknown_command_is_an_error() {
        let (mut c, h) = fake(1, |_| vec![Packet::CmdUnknown]);
        assert!(
            matches!(c.call("nope", &Message::new()), Err(Error::UnknownCommand(n)) if n == "nope")
        );
        h.join().unwrap();
    }

    #[test]
    fn a_listing_collects_its_events_then_unregisters() {
        let (mut c, h) = fake(3, |p| match p {
            Packet::EventRegister(_) | Packet::EventUnregister(_) => vec![Packet::EventConfirm],
            Packet::CmdRequest { .. } => vec![
                Packet::Event {
                    name: "list-sa".into(),
                    message: Message::new().with_section("one", Message::new()),
                },
                Packet::Event {
                    name: "list-sa".into(),
                    message: Message::new().with_section("two", Message::new()),
                },
                Packet::CmdResponse(Message::new()),
            ],
            _ => vec![],
        });
        let (events, answer) = c.call_streaming("list-sas", "list-sa", &Message::new()).unwrap();
        assert_eq!(events.len(), 2);
        assert!(events[1].section("two").is_some());
        assert!(answer.is_empty());
        let seen = h.join().unwrap();
        assert_eq!(seen[0], Packet::EventRegister("list-sa".into()));
        assert_eq!(seen[2], Packet::EventUnregister("list-sa".into()));
    }

    #[test]
    fn a_garbage_answer_is_a_packet_error_not_a_panic() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut c = Client::from_stream(a).unwrap();
        b.write_all(&[0, 0, 0, 2, 1, 9]).unwrap();
        assert!(matches!(c.call("version", &Message::new()), Err(Error::Packet(_))));
        b.write_all(&[0xff, 0, 0, 0]).unwrap();
        assert!(matches!(
            c.call("version", &Message::new()),
            Err(Error::Packet(PacketError::TooLarge(_)))
        ));
    }

    #[test]
    fn a_silent_daemon_times_out() {
        let (a, _b) = UnixStream::pair().unwrap();
        let mut c = Client::from_stream(a).unwrap();
        c.set_timeout(Duration::from_millis(50)).unwrap();
        assert!(matches!(c.call("version", &Message::new()), Err(Error::Io(_))));
    }

    #[test]
    fn success_no_is_refused_with_its_errmsg() {
        let no = Message::new().with_value("success", "no").with_value("errmsg", "bad proposal");
        assert!(matches!(check_success(&no), Err(Error::Refused(m)) if m == "bad proposal"));
        assert!(check_success(&Message::new().with_value("success", "yes")).is_ok());
        assert!(check_success(&Message::new()).is_ok());
    }
}
