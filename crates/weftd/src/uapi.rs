//! The WireGuard cross-platform userspace API (UAPI), protocol only.
//!
//! `wg` talks to `/var/run/wireguard/<iface>.sock` with `key=value` lines ending
//! in an empty line. `get=1` is answered with the device and its peers (keys
//! in hex) followed by `errno=0`; `set=1` carries changes (which the agent
//! checks and applies: `agent::uapi_set`). wireguard-go's
//! replies are the reference format. This module turns a [`DeviceSnapshot`]
//! into a `get` reply, frames ([`next_request`]) and parses requests, without
//! I/O; the agent serves the socket.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use weft_types::{IpPrefix, PrivateKey, PublicKey};

/// What `get=1` reports about the device.
#[derive(Debug, Clone)]
pub struct DeviceSnapshot {
    /// The device's private key (`wg` derives the public key from it).
    pub private_key: PrivateKey,
    /// The UDP port of the first uplink.
    pub listen_port: u16,
    /// Firewall mark (omitted when 0).
    pub fwmark: u32,
    /// Peers.
    pub peers: Vec<PeerSnapshot>,
}

/// What `get=1` reports about one peer.
#[derive(Debug, Clone)]
pub struct PeerSnapshot {
    /// Public key.
    pub public_key: PublicKey,
    /// Current endpoint (the remote of the path in use).
    pub endpoint: Option<SocketAddr>,
    /// Time of the last handshake since the Unix epoch.
    pub last_handshake: Option<Duration>,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Persistent keepalive interval in seconds (0: off).
    pub persistent_keepalive: u16,
    /// Allowed IPs.
    pub allowed_ips: Vec<IpPrefix>,
    /// The preshared key (stock peers added with `wg set`); zeros when none.
    pub preshared_key: Option<[u8; 32]>,
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `get=1`.
    Get,
    /// `set=1` and its `key=value` lines, in order.
    Set(Vec<(String, String)>),
}

/// Why a request was refused; the reply carries `errno`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UapiError {
    /// The first line was neither `get=1` nor `set=1`.
    #[error("unknown operation {0:?}")]
    UnknownOperation(String),
    /// A line without `=`.
    #[error("malformed line {0:?}")]
    Malformed(String),
}

impl UapiError {
    /// The errno wireguard-go would return (EINVAL for protocol errors).
    pub fn errno(&self) -> i32 {
        22
    }
}

/// The reply that refuses a request with `errno` (positive, `EINVAL` = 22):
/// `errno=-22`, negated as wireguard-go writes it and as `wg` reads it
/// (`wg` sets its own `errno` to the negation and prints `strerror`, so a
/// positive value would print as `Unknown error -22`).
pub fn errno_reply(errno: i32) -> String {
    format!("errno={}\n\n", -errno.abs())
}

/// Longest request read from a client (a `set` naming thousands of allowed
/// IPs fits); past it without an empty line, the connection is closed.
pub const MAX_REQUEST: usize = 1 << 20;

/// What the bytes a client has sent so far hold (see [`next_request`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed {
    /// No empty line yet: read more.
    Incomplete,
    /// A request (or why it is refused) and how many bytes it took, its
    /// empty line included.
    Complete(Result<Request, UapiError>, usize),
    /// No empty line within [`MAX_REQUEST`] bytes: answer EINVAL and close.
    TooLarge,
}

/// The first request in `buf`: the lines up to the first empty line (a
/// `\n` at the start or after another `\n`). Pure: the caller reads bytes,
/// calls this, and drops the consumed prefix.
pub fn next_request(buf: &[u8]) -> Framed {
    let end =
        buf.iter().enumerate().position(|(i, &b)| b == b'\n' && (i == 0 || buf[i - 1] == b'\n'));
    match end {
        Some(i) if i <= MAX_REQUEST => {
            let parsed = std::str::from_utf8(&buf[..i])
                .map_err(|_| UapiError::Malformed("a request that is not UTF-8".to_owned()))
                .and_then(parse_request);
            Framed::Complete(parsed, i + 1)
        }
        Some(_) => Framed::TooLarge,
        None if buf.len() > MAX_REQUEST => Framed::TooLarge,
        None => Framed::Incomplete,
    }
}

/// Parses one request (the lines up to the empty line).
pub fn parse_request(text: &str) -> Result<Request, UapiError> {
    // Lines end at `\n` only, as wireguard-go reads them: `str::lines` would
    // also eat a `\r` before it, changing a value that ends in one.
    let mut lines = text.split('\n').take_while(|l| !l.is_empty());
    match lines.next() {
        Some("get=1") => Ok(Request::Get),
        Some("set=1") => lines
            .map(|l| {
                l.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .ok_or_else(|| UapiError::Malformed(l.to_owned()))
            })
            .collect::<Result<_, _>>()
            .map(Request::Set),
        Some(other) => Err(UapiError::UnknownOperation(other.to_owned())),
        None => Err(UapiError::UnknownOperation(String::new())),
    }
}

/// The reply to `get=1`, ending in `errno=0` and an empty line.
pub fn get_reply(dev: &DeviceSnapshot) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "private_key={}", dev.private_key.to_hex());
    let _ = writeln!(s, "listen_port={}", dev.listen_port);
    if dev.fwmark != 0 {
        let _ = writeln!(s, "fwmark={}", dev.fwmark);
    }
    for p in &dev.peers {
        let _ = writeln!(s, "public_key={}", p.public_key.to_hex());
        let psk = p.preshared_key.map_or_else(|| "0".repeat(64), |k| PublicKey(k).to_hex());
        let _ = writeln!(s, "preshared_key={psk}");
        let _ = writeln!(s, "protocol_version=1");
        if let Some(e) = p.endpoint {
            let _ = writeln!(s, "endpoint={e}");
        }
        let hs = p.last_handshake.unwrap_or_default();
        let _ = writeln!(s, "last_handshake_time_sec={}", hs.as_secs());
        let _ = writeln!(s, "last_handshake_time_nsec={}", hs.subsec_nanos());
        let _ = writeln!(s, "tx_bytes={}", p.tx_bytes);
        let _ = writeln!(s, "rx_bytes={}", p.rx_bytes);
        let _ = writeln!(s, "persistent_keepalive_interval={}", p.persistent_keepalive);
        for a in &p.allowed_ips {
            let _ = writeln!(s, "allowed_ip={a}");
        }
    }
    s.push_str("errno=0\n\n");
    s
}

/// The reply to a request that does not parse.
pub fn error_reply(err: &UapiError) -> String {
    errno_reply(err.errno())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_requests_parse_and_others_are_refused() {
        assert_eq!(parse_request("get=1\n\n"), Ok(Request::Get));
        assert_eq!(
            parse_request("set=1\npublic_key=ab\nremove=true\n\n"),
            Ok(Request::Set(vec![
                ("public_key".into(), "ab".into()),
                ("remove".into(), "true".into())
            ]))
        );
        assert!(matches!(parse_request("frob=1\n\n"), Err(UapiError::UnknownOperation(_))));
        assert!(matches!(parse_request("set=1\nnonsense\n\n"), Err(UapiError::Malformed(_))));
        assert_eq!(error_reply(&UapiError::Malformed(String::new())), "errno=-22\n\n");
        assert_eq!(errno_reply(1), "errno=-1\n\n");
    }

    #[test]
    fn a_carriage_return_is_part_of_the_value_not_of_the_line_end() {
        // Found by fuzz/fuzz_targets/uapi_request.rs: `lines()` dropped the
        // last `\r` of a value, so a set written back out parsed differently.
        let set = |v: &str| Ok(Request::Set(vec![("k".into(), v.into())]));
        assert_eq!(parse_request("set=1\nk=v\r\r\n\n"), set("v\r\r"));
        assert_eq!(parse_request("set=1\nk=v\r\n\n"), set("v\r"));
        assert!(matches!(parse_request("get=1\r\n\n"), Err(UapiError::UnknownOperation(_))));
    }

    #[test]
    fn requests_are_framed_by_the_empty_line_whatever_the_reads_brought() {
        let stream = b"get=1\n\nset=1\nlisten_port=1\n\nget=1\n";
        assert_eq!(next_request(stream), Framed::Complete(Ok(Request::Get), 7));
        let rest = &stream[7..];
        let set = Request::Set(vec![("listen_port".into(), "1".into())]);
        assert_eq!(next_request(rest), Framed::Complete(Ok(set), 21));
        assert_eq!(next_request(&rest[21..]), Framed::Incomplete);
        assert_eq!(next_request(b"get=1\n"), Framed::Incomplete);
        assert_eq!(next_request(b""), Framed::Incomplete);
        // An empty line alone is an (invalid) empty request, as wireguard-go reads it.
        assert!(matches!(next_request(b"\n"), Framed::Complete(Err(_), 1)));
    }

    #[test]
    fn a_request_without_an_end_is_cut_at_the_bound_and_bad_bytes_are_einval() {
        let mut long = b"set=1\n".to_vec();
        long.resize(MAX_REQUEST, b'a');
        assert_eq!(next_request(&long), Framed::Incomplete);
        long.push(b'a');
        assert_eq!(next_request(&long), Framed::TooLarge);
        long.extend_from_slice(b"\n\n");
        assert_eq!(next_request(&long), Framed::TooLarge);
        let bad = next_request(b"set=1\nx=\xff\n\n");
        assert!(matches!(bad, Framed::Complete(Err(UapiError::Malformed(_)), 11)), "{bad:?}");
    }

    #[test]
    fn the_get_reply_follows_wireguard_go() {
        let dev = DeviceSnapshot {
            private_key: PrivateKey([1; 32]),
            listen_port: 51820,
            fwmark: 0,
            peers: vec![PeerSnapshot {
                public_key: PublicKey([2; 32]),
                endpoint: Some("198.18.2.2:51820".parse().unwrap()),
                last_handshake: Some(Duration::new(1_700_000_000, 5)),
                rx_bytes: 10,
                tx_bytes: 20,
                persistent_keepalive: 0,
                allowed_ips: vec![IpPrefix::parse("10.10.2.0/24").unwrap()],
                preshared_key: None,
            }],
        };
        let r = get_reply(&dev);
        let expected = format!(
            "private_key={}\nlisten_port=51820\npublic_key={}\npreshared_key={}\nprotocol_version=1\n\
             endpoint=198.18.2.2:51820\nlast_handshake_time_sec=1700000000\nlast_handshake_time_nsec=5\n\
             tx_bytes=20\nrx_bytes=10\npersistent_keepalive_interval=0\nallowed_ip=10.10.2.0/24\nerrno=0\n\n",
            "01".repeat(32),
            "02".repeat(32),
            "0".repeat(64)
        );
        assert_eq!(r, expected);
    }
}
