//! The wire form of foca's headers and membership updates.
//!
//! Hand-written and bounded: every length is checked before it is read, and
//! encoding checks the space first so foca's buffer is never left half
//! written (foca's `Codec` contract).
//!
//! ```text
//! id      = u8 len ‖ site ‖ u32 generation ‖ u8 role ‖ text region ‖ text cluster
//!           ‖ text version ‖ addr gossip ‖ u8 n ‖ n × addr ‖ [u8; 32] wg key
//! text    = u8 len ‖ bytes
//! addr    = u8 4 ‖ [u8; 4] ‖ u16 port  |  u8 6 ‖ [u8; 16] ‖ u16 port
//! member  = id ‖ u16 incarnation ‖ u8 state (0 alive, 1 suspect, 2 down)
//! header  = id src ‖ u16 src incarnation ‖ id dst ‖ u8 kind ‖ [id ‖ u8 probe]
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{Buf, BufMut};
use foca::{Header, Member, Message, State};
use weft_types::{PublicKey, SiteId};

use super::info::{MemberId, MemberInfo, Role};

/// Why a gossip payload could not be encoded or decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecError {
    /// The input ended inside a field.
    #[error("truncated gossip payload: {0} missing")]
    Truncated(&'static str),
    /// A field held a value outside its domain.
    #[error("invalid gossip payload: {0}")]
    Invalid(&'static str),
    /// The output buffer had no room for the item (nothing was written).
    #[error("no room to encode a gossip item")]
    NoRoom,
}

/// foca codec for [`MemberId`].
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct WireCodec;

fn text_len(s: &str) -> usize {
    1 + s.len()
}

fn addr_len(a: &SocketAddr) -> usize {
    match a {
        SocketAddr::V4(_) => 1 + 4 + 2,
        SocketAddr::V6(_) => 1 + 16 + 2,
    }
}

pub(crate) fn id_len(id: &MemberId) -> usize {
    let i = id.info();
    text_len(i.site.as_str())
        + 4
        + 1
        + text_len(&i.region)
        + text_len(&i.cluster)
        + text_len(&i.version)
        + addr_len(&i.gossip)
        + 1
        + i.endpoints.iter().map(addr_len).sum::<usize>()
        + 32
}

fn put_text(buf: &mut impl BufMut, s: &str) {
    buf.put_u8(s.len() as u8);
    buf.put_slice(s.as_bytes());
}

fn put_addr(buf: &mut impl BufMut, a: &SocketAddr) {
    match a.ip() {
        IpAddr::V4(ip) => {
            buf.put_u8(4);
            buf.put_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            buf.put_u8(6);
            buf.put_slice(&ip.octets());
        }
    }
    buf.put_u16(a.port());
}

fn put_id(buf: &mut impl BufMut, id: &MemberId) {
    let i = id.info();
    put_text(buf, i.site.as_str());
    buf.put_u32(i.generation);
    buf.put_u8(i.role.to_wire());
    put_text(buf, &i.region);
    put_text(buf, &i.cluster);
    put_text(buf, &i.version);
    put_addr(buf, &i.gossip);
    buf.put_u8(i.endpoints.len() as u8);
    for e in &i.endpoints {
        put_addr(buf, e);
    }
    buf.put_slice(&i.wg_public_key.0);
}

fn need(buf: &impl Buf, n: usize, what: &'static str) -> Result<(), CodecError> {
    if buf.remaining() < n { Err(CodecError::Truncated(what)) } else { Ok(()) }
}

fn get_text(buf: &mut impl Buf, what: &'static str) -> Result<String, CodecError> {
    need(buf, 1, what)?;
    let n = buf.get_u8() as usize;
    need(buf, n, what)?;
    let mut v = vec![0; n];
    buf.copy_to_slice(&mut v);
    String::from_utf8(v).map_err(|_| CodecError::Invalid("text is not UTF-8"))
}

fn get_addr(buf: &mut impl Buf) -> Result<SocketAddr, CodecError> {
    need(buf, 1, "address family")?;
    let ip = match buf.get_u8() {
        4 => {
            need(buf, 4 + 2, "IPv4 address")?;
            let mut o = [0; 4];
            buf.copy_to_slice(&mut o);
            IpAddr::V4(Ipv4Addr::from(o))
        }
        6 => {
            need(buf, 16 + 2, "IPv6 address")?;
            let mut o = [0; 16];
            buf.copy_to_slice(&mut o);
            IpAddr::V6(Ipv6Addr::from(o))
        }
        _ => return Err(CodecError::Invalid("unknown address family")),
    };
    Ok(SocketAddr::new(ip, buf.get_u16()))
}

fn get_id(buf: &mut impl Buf) -> Result<MemberId, CodecError> {
    let site = get_text(buf, "site id")?;
    let site = SiteId::new(&site).map_err(|_| CodecError::Invalid("bad site id"))?;
    need(buf, 5, "generation and role")?;
    let generation = buf.get_u32();
    let role = Role::from_wire(buf.get_u8()).ok_or(CodecError::Invalid("unknown role"))?;
    let region = get_text(buf, "region")?;
    let cluster = get_text(buf, "cluster")?;
    let version = get_text(buf, "version")?;
    let gossip = get_addr(buf)?;
    need(buf, 1, "endpoint count")?;
    let n = buf.get_u8() as usize;
    if n > MemberInfo::MAX_ENDPOINTS {
        return Err(CodecError::Invalid("too many endpoints"));
    }
    let mut endpoints = Vec::with_capacity(n);
    for _ in 0..n {
        endpoints.push(get_addr(buf)?);
    }
    need(buf, 32, "WireGuard key")?;
    let mut key = [0; 32];
    buf.copy_to_slice(&mut key);
    Ok(MemberId::new(MemberInfo {
        site,
        generation,
        role,
        region,
        cluster,
        version,
        gossip,
        endpoints,
        wg_public_key: PublicKey(key),
    }))
}

fn get_probe(buf: &mut impl Buf) -> Result<u8, CodecError> {
    need(buf, 1, "probe number")?;
    Ok(buf.get_u8())
}

fn state_to_wire(s: State) -> u8 {
    match s {
        State::Alive => 0,
        State::Suspect => 1,
        State::Down => 2,
    }
}

const K_PING: u8 = 0;
const K_ACK: u8 = 1;
const K_PING_REQ: u8 = 2;
const K_INDIRECT_PING: u8 = 3;
const K_INDIRECT_ACK: u8 = 4;
const K_FORWARDED_ACK: u8 = 5;
const K_ANNOUNCE: u8 = 6;
const K_FEED: u8 = 7;
const K_GOSSIP: u8 = 8;
const K_BROADCAST: u8 = 9;
const K_TURN_UNDEAD: u8 = 10;

/// Kind byte and optional (identity, probe number) of a message; Ping and
/// Ack carry their probe number after the kind byte.
fn message_parts(m: &Message<MemberId>) -> (u8, Option<(&MemberId, u8)>) {
    match m {
        Message::Ping(_) => (K_PING, None),
        Message::Ack(_) => (K_ACK, None),
        Message::PingReq { target, probe_number } => (K_PING_REQ, Some((target, *probe_number))),
        Message::IndirectPing { origin, probe_number } => {
            (K_INDIRECT_PING, Some((origin, *probe_number)))
        }
        Message::IndirectAck { target, probe_number } => {
            (K_INDIRECT_ACK, Some((target, *probe_number)))
        }
        Message::ForwardedAck { origin, probe_number } => {
            (K_FORWARDED_ACK, Some((origin, *probe_number)))
        }
        Message::Announce => (K_ANNOUNCE, None),
        Message::Feed => (K_FEED, None),
        Message::Gossip => (K_GOSSIP, None),
        Message::Broadcast => (K_BROADCAST, None),
        Message::TurnUndead => (K_TURN_UNDEAD, None),
    }
}

impl foca::Codec<MemberId> for WireCodec {
    type Error = CodecError;

    fn encode_header(
        &mut self,
        header: &Header<MemberId>,
        mut buf: impl BufMut,
    ) -> Result<(), CodecError> {
        let (kind, extra) = message_parts(&header.message);
        let probe = match &header.message {
            Message::Ping(p) | Message::Ack(p) => Some(*p),
            _ => None,
        };
        let len = id_len(&header.src)
            + 2
            + id_len(&header.dst)
            + 1
            + extra.map_or(0, |(id, _)| id_len(id) + 1)
            + usize::from(probe.is_some());
        if buf.remaining_mut() < len {
            return Err(CodecError::NoRoom);
        }
        put_id(&mut buf, &header.src);
        buf.put_u16(header.src_incarnation);
        put_id(&mut buf, &header.dst);
        buf.put_u8(kind);
        if let Some((id, p)) = extra {
            put_id(&mut buf, id);
            buf.put_u8(p);
        }
        if let Some(p) = probe {
            buf.put_u8(p);
        }
        Ok(())
    }

    fn decode_header(&mut self, mut buf: impl Buf) -> Result<Header<MemberId>, CodecError> {
        let src = get_id(&mut buf)?;
        need(&buf, 2, "source incarnation")?;
        let src_incarnation = buf.get_u16();
        let dst = get_id(&mut buf)?;
        need(&buf, 1, "message kind")?;
        let kind = buf.get_u8();
        let message = match kind {
            K_PING => Message::Ping(get_probe(&mut buf)?),
            K_ACK => Message::Ack(get_probe(&mut buf)?),
            K_PING_REQ | K_INDIRECT_PING | K_INDIRECT_ACK | K_FORWARDED_ACK => {
                let id = get_id(&mut buf)?;
                let probe_number = get_probe(&mut buf)?;
                match kind {
                    K_PING_REQ => Message::PingReq { target: id, probe_number },
                    K_INDIRECT_PING => Message::IndirectPing { origin: id, probe_number },
                    K_INDIRECT_ACK => Message::IndirectAck { target: id, probe_number },
                    _ => Message::ForwardedAck { origin: id, probe_number },
                }
            }
            K_ANNOUNCE => Message::Announce,
            K_FEED => Message::Feed,
            K_GOSSIP => Message::Gossip,
            K_BROADCAST => Message::Broadcast,
            K_TURN_UNDEAD => Message::TurnUndead,
            _ => return Err(CodecError::Invalid("unknown message kind")),
        };
        Ok(Header { src, src_incarnation, dst, message })
    }

    fn encode_member(
        &mut self,
        member: &Member<MemberId>,
        mut buf: impl BufMut,
    ) -> Result<(), CodecError> {
        if buf.remaining_mut() < id_len(member.id()) + 3 {
            return Err(CodecError::NoRoom);
        }
        put_id(&mut buf, member.id());
        buf.put_u16(member.incarnation());
        buf.put_u8(state_to_wire(member.state()));
        Ok(())
    }

    fn decode_member(&mut self, mut buf: impl Buf) -> Result<Member<MemberId>, CodecError> {
        let id = get_id(&mut buf)?;
        need(&buf, 3, "incarnation and state")?;
        let incarnation = buf.get_u16();
        let state = match buf.get_u8() {
            0 => State::Alive,
            1 => State::Suspect,
            2 => State::Down,
            _ => return Err(CodecError::Invalid("unknown member state")),
        };
        Ok(Member::new(id, incarnation, state))
    }
}

/// Skips one encoded identity in `b` from `at`; the end offset.
fn skip_id(b: &[u8], mut at: usize) -> Option<usize> {
    let text = |b: &[u8], at: usize| Some(at + 1 + usize::from(*b.get(at)?));
    let addr = |b: &[u8], at: usize| match b.get(at)? {
        4 => Some(at + 1 + 4 + 2),
        6 => Some(at + 1 + 16 + 2),
        _ => None,
    };
    at = text(b, at)? + 5;
    at = text(b, at)?;
    at = text(b, at)?;
    at = text(b, at)?;
    at = addr(b, at)?;
    let n = *b.get(at)?;
    at += 1;
    for _ in 0..n {
        at = addr(b, at)?;
    }
    at += 32;
    (at <= b.len()).then_some(at)
}

/// Without decoding it: the source site id bytes of a header and whether the
/// message is an announcement. `None` if the payload is malformed.
pub(crate) fn peek_header(payload: &[u8]) -> Option<(&[u8], bool)> {
    let site_len = usize::from(*payload.first()?);
    let site = payload.get(1..1 + site_len)?;
    let at = skip_id(payload, 0)? + 2;
    let at = skip_id(payload, at)?;
    let kind = *payload.get(at)?;
    Some((site, kind == K_ANNOUNCE))
}
