//! Encoding and opening of probe and echo datagrams (layout in the module doc).

use blake2::Blake2sMac;
use blake2::digest::consts::U16;
use blake2::digest::{KeyInit, Mac as _};
use weft_types::{WireError, WireReader, WireWriter};

use crate::{KeyId, ProbeError, ProbeKey};

/// Size of every probe and echo datagram, in bytes.
pub const MESSAGE_LEN: usize = 56;
/// Type byte of a probe (ASCII `W`).
pub const TYPE_PROBE: u8 = 0x57;
/// Type byte of an echo (ASCII `X`).
pub const TYPE_ECHO: u8 = 0x58;
/// The wire-format version this build writes and accepts.
pub const VERSION: u8 = 1;
/// Bytes covered by the MAC: everything before it.
const MAC_OFFSET: usize = MESSAGE_LEN - MAC_LEN;
const MAC_LEN: usize = 16;

type ProbeMac = Blake2sMac<U16>;

/// Whether a message is a probe or the echo of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// Sent by the site measuring a path; the peer answers with an echo.
    Probe,
    /// The answer to a probe, carrying the probe's fields back.
    Echo,
}

impl ProbeKind {
    /// The type byte on the wire.
    pub fn type_byte(self) -> u8 {
        match self {
            Self::Probe => TYPE_PROBE,
            Self::Echo => TYPE_ECHO,
        }
    }
}

/// The fields a prober chooses and the echoer copies back unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ProbeFields {
    /// Opaque to the echoer; names the path (uplink × remote endpoint) the
    /// probe was sent on, so the prober can attribute the echo.
    pub path_token: u32,
    /// The prober's sequence number on that path, for loss accounting.
    pub seq: u64,
    /// The prober's send time in microseconds, on any clock it likes; the
    /// echoer never reads it.
    pub timestamp_us: u64,
}

/// An authenticated probe or echo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProbeMessage {
    /// Probe or echo.
    pub kind: ProbeKind,
    /// Key id of the site that sent this message.
    pub sender: KeyId,
    /// The sender's per-peer message counter (replay protection).
    pub counter: u64,
    /// Path token, sequence number and timestamp.
    pub fields: ProbeFields,
}

/// Writes a probe from this side of `key` with send counter `counter`.
/// Returns the number of bytes written ([`MESSAGE_LEN`]).
pub fn encode_probe(
    key: &ProbeKey,
    counter: u64,
    fields: &ProbeFields,
    out: &mut [u8],
) -> Result<usize, ProbeError> {
    encode(key, ProbeKind::Probe, counter, fields, out)
}

/// Writes the echo of a probe whose fields were `probe`: the echoer's own
/// key id and counter, the probe's token, sequence number and timestamp.
pub fn encode_echo(
    key: &ProbeKey,
    counter: u64,
    probe: &ProbeFields,
    out: &mut [u8],
) -> Result<usize, ProbeError> {
    encode(key, ProbeKind::Echo, counter, probe, out)
}

/// Writes a message of `kind` sent by this side of `key`.
pub fn encode(
    key: &ProbeKey,
    kind: ProbeKind,
    counter: u64,
    fields: &ProbeFields,
    out: &mut [u8],
) -> Result<usize, ProbeError> {
    let Some(out) = out.get_mut(..MESSAGE_LEN) else {
        return Err(ProbeError::BufferTooSmall(out.len()));
    };
    let mut w = WireWriter::new(out);
    write_header(&mut w, key.local_key_id(), kind, counter, fields)
        .map_err(|_| ProbeError::BufferTooSmall(MESSAGE_LEN))?;
    let tag = mac(key, w.written());
    w.bytes(&tag).map_err(|_| ProbeError::BufferTooSmall(MESSAGE_LEN))?;
    Ok(MESSAGE_LEN)
}

/// Reads the sender's key id without checking the MAC, so the receiver can
/// find which peer's key to [`open`] the datagram with.
///
/// Checks length, type, version and reserved bytes first, so obvious garbage
/// never costs a peer lookup. The id is unauthenticated until `open` succeeds.
pub fn peek_key_id(datagram: &[u8]) -> Result<KeyId, ProbeError> {
    parse(datagram).map(|m| m.sender)
}

/// Checks and decodes a datagram sent by the peer of `key`.
///
/// Checks, in order: length, type, version, reserved bytes, the MAC (constant
/// time), and that the sender is `key`'s peer. Does not check for replays:
/// [`PeerProbeState::open_checked`](crate::PeerProbeState::open_checked) does.
pub fn open(key: &ProbeKey, datagram: &[u8]) -> Result<ProbeMessage, ProbeError> {
    let message = parse(datagram)?;
    let mut m = keyed(key).ok_or(ProbeError::BadMac)?;
    m.update(&datagram[..MAC_OFFSET]);
    m.verify_slice(&datagram[MAC_OFFSET..]).map_err(|_| ProbeError::BadMac)?;
    if message.sender != key.peer_key_id() {
        return Err(ProbeError::UnknownKeyId);
    }
    Ok(message)
}

fn write_header(
    w: &mut WireWriter<'_>,
    sender: KeyId,
    kind: ProbeKind,
    counter: u64,
    fields: &ProbeFields,
) -> Result<(), WireError> {
    w.u8(kind.type_byte())?;
    w.u8(VERSION)?;
    w.u16(0)?;
    w.bytes(&sender.0)?;
    w.u64(counter)?;
    w.u32(fields.path_token)?;
    w.u64(fields.seq)?;
    w.u64(fields.timestamp_us)
}

/// Parses the unauthenticated header and fields.
fn parse(datagram: &[u8]) -> Result<ProbeMessage, ProbeError> {
    if datagram.len() != MESSAGE_LEN {
        return Err(ProbeError::WrongLength { expected: MESSAGE_LEN, got: datagram.len() });
    }
    let truncated = |_| ProbeError::WrongLength { expected: MESSAGE_LEN, got: datagram.len() };
    let mut r = WireReader::new(datagram);
    let kind = match r.u8().map_err(truncated)? {
        TYPE_PROBE => ProbeKind::Probe,
        TYPE_ECHO => ProbeKind::Echo,
        other => return Err(ProbeError::UnknownType(other)),
    };
    match r.u8().map_err(truncated)? {
        VERSION => {}
        other => return Err(ProbeError::UnsupportedVersion(other)),
    }
    if r.u16().map_err(truncated)? != 0 {
        return Err(ProbeError::BadReserved);
    }
    let sender = KeyId(r.array().map_err(truncated)?);
    let counter = r.u64().map_err(truncated)?;
    let fields = ProbeFields {
        path_token: r.u32().map_err(truncated)?,
        seq: r.u64().map_err(truncated)?,
        timestamp_us: r.u64().map_err(truncated)?,
    };
    Ok(ProbeMessage { kind, sender, counter, fields })
}

fn mac(key: &ProbeKey, bytes: &[u8]) -> [u8; MAC_LEN] {
    // A 32-byte key is always a valid BLAKE2s key; fall back to an all-zero
    // tag (which then fails verification) rather than panic.
    let Some(mut m) = keyed(key) else {
        return [0; MAC_LEN];
    };
    m.update(bytes);
    m.finalize().into_bytes().into()
}

fn keyed(key: &ProbeKey) -> Option<ProbeMac> {
    <ProbeMac as KeyInit>::new_from_slice(&key.mac_key).ok()
}
