//! VICI packets and their framing on the socket.
//!
//! On the stream every packet is a big-endian `u32` length, then that many
//! bytes: a type byte, a name for the named types (a `u8` length then the
//! bytes), then a [`Message`] for the types that carry one.
//!
//! | type | packet | name | message |
//! |---:|---|---|---|
//! | 0 | command request | the command | the arguments |
//! | 1 | command response | — | the answer |
//! | 2 | command unknown | — | — |
//! | 3 | event register | the event | — |
//! | 4 | event unregister | the event | — |
//! | 5 | event confirm | — | — |
//! | 6 | event unknown | — | — |
//! | 7 | event | the event | its contents |

use crate::wire::{Message, Reader, WireError};

/// The largest packet accepted or sent (charon's own limit is 512 KiB).
pub const MAX_PACKET: usize = 512 * 1024;

/// One VICI packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// A command from the client, e.g. `version`, `load-conn`.
    CmdRequest {
        /// The command's name.
        command: String,
        /// Its arguments.
        message: Message,
    },
    /// charon's answer to the last command.
    CmdResponse(Message),
    /// charon does not know the command.
    CmdUnknown,
    /// Subscribe to an event (e.g. `ike-updown`, or `list-sa` before `list-sas`).
    EventRegister(String),
    /// Unsubscribe.
    EventUnregister(String),
    /// charon accepted the (un)registration.
    EventConfirm,
    /// charon does not know the event.
    EventUnknown,
    /// An event the client registered for.
    Event {
        /// The event's name.
        name: String,
        /// Its contents.
        message: Message,
    },
}

const CMD_REQUEST: u8 = 0;
const CMD_RESPONSE: u8 = 1;
const CMD_UNKNOWN: u8 = 2;
const EVENT_REGISTER: u8 = 3;
const EVENT_UNREGISTER: u8 = 4;
const EVENT_CONFIRM: u8 = 5;
const EVENT_UNKNOWN: u8 = 6;
const EVENT: u8 = 7;

/// Why a packet could not be framed or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PacketError {
    /// The type byte is not one of the eight packet types.
    #[error("unknown packet type {0}")]
    UnknownType(u8),
    /// A packet (announced or built) longer than [`MAX_PACKET`].
    #[error("packet of {0} bytes is larger than {MAX_PACKET}")]
    TooLarge(usize),
    /// An empty packet (no type byte).
    #[error("empty packet")]
    Empty,
    /// The name or message inside is malformed.
    #[error(transparent)]
    Wire(#[from] WireError),
}

impl Packet {
    /// The packet with its length prefix, ready to write to the socket.
    pub fn encode(&self) -> Result<Vec<u8>, PacketError> {
        let mut out = vec![0, 0, 0, 0];
        let named = |out: &mut Vec<u8>, code: u8, name: &str| -> Result<(), PacketError> {
            out.push(code);
            let len = u8::try_from(name.len())
                .ok()
                .filter(|&l| l > 0)
                .ok_or_else(|| WireError::NameLength(name.to_owned()))?;
            out.push(len);
            out.extend_from_slice(name.as_bytes());
            Ok(())
        };
        match self {
            Packet::CmdRequest { command, message } => {
                named(&mut out, CMD_REQUEST, command)?;
                message.encode_into(&mut out)?;
            }
            Packet::CmdResponse(message) => {
                out.push(CMD_RESPONSE);
                message.encode_into(&mut out)?;
            }
            Packet::CmdUnknown => out.push(CMD_UNKNOWN),
            Packet::EventRegister(name) => named(&mut out, EVENT_REGISTER, name)?,
            Packet::EventUnregister(name) => named(&mut out, EVENT_UNREGISTER, name)?,
            Packet::EventConfirm => out.push(EVENT_CONFIRM),
            Packet::EventUnknown => out.push(EVENT_UNKNOWN),
            Packet::Event { name, message } => {
                named(&mut out, EVENT, name)?;
                message.encode_into(&mut out)?;
            }
        }
        let len = out.len() - 4;
        if len > MAX_PACKET {
            return Err(PacketError::TooLarge(len));
        }
        out[..4].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(out)
    }

    /// The length a 4-byte prefix announces, refused above [`MAX_PACKET`].
    pub fn frame_len(prefix: [u8; 4]) -> Result<usize, PacketError> {
        let len = u32::from_be_bytes(prefix) as usize;
        if len > MAX_PACKET {
            return Err(PacketError::TooLarge(len));
        }
        if len == 0 {
            return Err(PacketError::Empty);
        }
        Ok(len)
    }

    /// Decodes a packet's bytes (after the length prefix).
    pub fn decode(body: &[u8]) -> Result<Packet, PacketError> {
        let (&code, rest) = body.split_first().ok_or(PacketError::Empty)?;
        let named = |rest: &[u8]| -> Result<(String, Message), PacketError> {
            let mut r = Reader { bytes: rest, at: 0 };
            let name = r.name()?;
            let message = Message::decode(&rest[r.at..])?;
            Ok((name, message))
        };
        let bare = |rest: &[u8], p: Packet| -> Result<Packet, PacketError> {
            if rest.is_empty() { Ok(p) } else { Err(WireError::Misplaced { code, at: 1 }.into()) }
        };
        Ok(match code {
            CMD_REQUEST => {
                let (command, message) = named(rest)?;
                Packet::CmdRequest { command, message }
            }
            CMD_RESPONSE => Packet::CmdResponse(Message::decode(rest)?),
            CMD_UNKNOWN => bare(rest, Packet::CmdUnknown)?,
            EVENT_REGISTER | EVENT_UNREGISTER => {
                let (name, message) = named(rest)?;
                if !message.is_empty() {
                    return Err(WireError::Misplaced { code, at: 1 }.into());
                }
                if code == EVENT_REGISTER {
                    Packet::EventRegister(name)
                } else {
                    Packet::EventUnregister(name)
                }
            }
            EVENT_CONFIRM => bare(rest, Packet::EventConfirm)?,
            EVENT_UNKNOWN => bare(rest, Packet::EventUnknown)?,
            EVENT => {
                let (name, message) = named(rest)?;
                Packet::Event { name, message }
            }
            other => return Err(PacketError::UnknownType(other)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_request_is_length_type_name_then_message() {
        let p = Packet::CmdRequest { command: "version".into(), message: Message::new() };
        let mut want = vec![0, 0, 0, 9, 0, 7];
        want.extend_from_slice(b"version");
        assert_eq!(p.encode().unwrap(), want);
        assert_eq!(Packet::frame_len([0, 0, 0, 9]).unwrap(), 9);
        assert_eq!(Packet::decode(&want[4..]).unwrap(), p);
    }

    #[test]
    fn every_packet_type_round_trips() {
        let m = Message::new().with_value("success", "yes");
        for p in [
            Packet::CmdRequest { command: "load-conn".into(), message: m.clone() },
            Packet::CmdResponse(m.clone()),
            Packet::CmdUnknown,
            Packet::EventRegister("list-sa".into()),
            Packet::EventUnregister("list-sa".into()),
            Packet::EventConfirm,
            Packet::EventUnknown,
            Packet::Event { name: "ike-updown".into(), message: m.clone() },
        ] {
            let bytes = p.encode().unwrap();
            let len = Packet::frame_len(bytes[..4].try_into().unwrap()).unwrap();
            assert_eq!(len, bytes.len() - 4);
            assert_eq!(Packet::decode(&bytes[4..]).unwrap(), p);
        }
        assert_eq!(Packet::EventConfirm.encode().unwrap(), [0, 0, 0, 1, 5]);
        assert_eq!(Packet::CmdResponse(Message::new()).encode().unwrap(), [0, 0, 0, 1, 1]);
    }

    #[test]
    fn bad_packets_are_errors() {
        assert_eq!(Packet::decode(&[]), Err(PacketError::Empty));
        assert_eq!(Packet::decode(&[8]), Err(PacketError::UnknownType(8)));
        assert!(Packet::decode(&[5, 1]).is_err(), "a confirm carries nothing");
        assert!(Packet::decode(&[3, 4, b'a']).is_err(), "truncated event name");
        assert!(Packet::decode(&[7, 1, b'e', 9]).is_err(), "bad message inside an event");
        assert_eq!(Packet::frame_len([0, 0, 0, 0]), Err(PacketError::Empty));
        assert_eq!(Packet::frame_len([0, 8, 0, 1]), Err(PacketError::TooLarge(0x0008_0001)));
        let big = Message::new().with_list("l", vec![vec![0u8; 60_000]; 9]);
        let p = Packet::CmdResponse(big);
        assert!(matches!(p.encode(), Err(PacketError::TooLarge(_))));
        let unnamed = Packet::EventRegister(String::new());
        assert!(unnamed.encode().is_err());
    }
}
