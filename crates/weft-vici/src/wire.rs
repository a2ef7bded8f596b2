//! VICI messages and their encoding.
//!
//! A message is an ordered list of named elements: a value (bytes), a
//! section (a nested message) or a list (of values). On the wire it is a
//! sequence of elements, each a type byte then its fields:
//!
//! | type | element | fields |
//! |---:|---|---|
//! | 1 | section start | name |
//! | 2 | section end | — |
//! | 3 | key/value | name, value |
//! | 4 | list start | name |
//! | 5 | list item | value |
//! | 6 | list end | — |
//!
//! A name is a `u8` length then that many bytes (UTF-8 here: charon's keys
//! are ASCII); a value is a big-endian `u16` length then that many bytes.
//! Values are bytes, usually text (`"yes"`, `"192.0.2.1"`, `"4500"`).

use thiserror::Error;

/// Deepest nesting of sections [`Message::decode`] accepts (charon's own
/// messages nest four or five levels: connection, children, child, ...).
pub const MAX_DEPTH: usize = 32;

const SECTION_START: u8 = 1;
const SECTION_END: u8 = 2;
const KEY_VALUE: u8 = 3;
const LIST_START: u8 = 4;
const LIST_ITEM: u8 = 5;
const LIST_END: u8 = 6;

/// Why bytes could not be decoded into a message, or a message encoded.
/// Offsets are into the message's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WireError {
    /// The bytes end inside an element (its name, length or value).
    #[error("message truncated at byte {0}")]
    Truncated(usize),
    /// A type byte that is not one of the six element types.
    #[error("unknown element type {code} at byte {at}")]
    UnknownElement {
        /// The type byte.
        code: u8,
        /// Where it is.
        at: usize,
    },
    /// An element where it may not be: a section end or list end with
    /// nothing open, a list item outside a list, anything but an item or the
    /// end inside a list.
    #[error("element type {code} not allowed here (byte {at})")]
    Misplaced {
        /// The type byte.
        code: u8,
        /// Where it is.
        at: usize,
    },
    /// The message ends with a section or list still open.
    #[error("message ends with a section or list open")]
    Unclosed,
    /// Sections nested deeper than [`MAX_DEPTH`].
    #[error("sections nested deeper than {MAX_DEPTH}")]
    TooDeep,
    /// A name that is not UTF-8.
    #[error("name at byte {0} is not UTF-8")]
    BadName(usize),
    /// Encoding: a name longer than 255 bytes (or empty).
    #[error("name {0:?} is empty or longer than 255 bytes")]
    NameLength(String),
    /// Encoding: a value longer than 65535 bytes.
    #[error("value of {0:?} is longer than 65535 bytes")]
    ValueLength(String),
}

/// One named element of a [`Message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Element {
    /// `key = value`.
    Value(Vec<u8>),
    /// `key { ... }`.
    Section(Message),
    /// `key = [a, b, ...]`.
    List(Vec<Vec<u8>>),
}

/// A VICI message: named elements in order (order matters to charon, for
/// example for the proposals of a connection). Build one with the `with_*`
/// methods; read one with [`Message::get`] and the typed getters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    entries: Vec<(String, Element)>,
}

impl Message {
    /// An empty message (what `version` or `stats` take).
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `key = value`.
    #[must_use]
    pub fn with_value(mut self, key: &str, value: impl AsRef<[u8]>) -> Self {
        self.entries.push((key.to_owned(), Element::Value(value.as_ref().to_vec())));
        self
    }

    /// Appends the section `key { section }`.
    #[must_use]
    pub fn with_section(mut self, key: &str, section: Message) -> Self {
        self.entries.push((key.to_owned(), Element::Section(section)));
        self
    }

    /// Appends the list `key = [items]`.
    #[must_use]
    pub fn with_list<I, V>(mut self, key: &str, items: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: AsRef<[u8]>,
    {
        let items = items.into_iter().map(|v| v.as_ref().to_vec()).collect();
        self.entries.push((key.to_owned(), Element::List(items)));
        self
    }

    /// The elements in order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Element)> {
        self.entries.iter().map(|(k, e)| (k.as_str(), e))
    }

    /// True when the message has no element.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first element named `key`.
    pub fn get(&self, key: &str) -> Option<&Element> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, e)| e)
    }

    /// The value `key` as text (`None` if absent, not a value or not UTF-8).
    pub fn value_str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Element::Value(v) => std::str::from_utf8(v).ok(),
            _ => None,
        }
    }

    /// The section `key`.
    pub fn section(&self, key: &str) -> Option<&Message> {
        match self.get(key)? {
            Element::Section(s) => Some(s),
            _ => None,
        }
    }

    /// The list `key`.
    pub fn list(&self, key: &str) -> Option<&[Vec<u8>]> {
        match self.get(key)? {
            Element::List(l) => Some(l),
            _ => None,
        }
    }

    /// The message's bytes (without packet type or framing).
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }

    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        for (key, element) in &self.entries {
            match element {
                Element::Value(v) => {
                    out.push(KEY_VALUE);
                    put_name(out, key)?;
                    put_value(out, key, v)?;
                }
                Element::Section(s) => {
                    out.push(SECTION_START);
                    put_name(out, key)?;
                    s.encode_into(out)?;
                    out.push(SECTION_END);
                }
                Element::List(items) => {
                    out.push(LIST_START);
                    put_name(out, key)?;
                    for v in items {
                        out.push(LIST_ITEM);
                        put_value(out, key, v)?;
                    }
                    out.push(LIST_END);
                }
            }
        }
        Ok(())
    }

    /// Decodes a whole message: every byte must belong to it, every section
    /// and list must be closed.
    pub fn decode(bytes: &[u8]) -> Result<Message, WireError> {
        let mut r = Reader { bytes, at: 0 };
        // open sections: (name, message so far); the bottom one is the message
        let mut stack: Vec<(String, Message)> = vec![(String::new(), Message::new())];
        // the list being read: (name, items)
        let mut list: Option<(String, Vec<Vec<u8>>)> = None;
        while r.at < bytes.len() {
            let at = r.at;
            let code = r.byte()?;
            if let Some((_, items)) = list.as_mut() {
                match code {
                    LIST_ITEM => items.push(r.value()?.to_vec()),
                    LIST_END => {
                        if let Some((name, items)) = list.take() {
                            top(&mut stack)?.entries.push((name, Element::List(items)));
                        }
                    }
                    1..=6 => return Err(WireError::Misplaced { code, at }),
                    _ => return Err(WireError::UnknownElement { code, at }),
                }
                continue;
            }
            match code {
                SECTION_START => {
                    let name = r.name()?;
                    if stack.len() > MAX_DEPTH {
                        return Err(WireError::TooDeep);
                    }
                    stack.push((name, Message::new()));
                }
                SECTION_END => {
                    if stack.len() < 2 {
                        return Err(WireError::Misplaced { code, at });
                    }
                    let (name, section) = stack.pop().ok_or(WireError::Misplaced { code, at })?;
                    top(&mut stack)?.entries.push((name, Element::Section(section)));
                }
                KEY_VALUE => {
                    let name = r.name()?;
                    let value = r.value()?.to_vec();
                    top(&mut stack)?.entries.push((name, Element::Value(value)));
                }
                LIST_START => list = Some((r.name()?, Vec::new())),
                LIST_ITEM | LIST_END => return Err(WireError::Misplaced { code, at }),
                _ => return Err(WireError::UnknownElement { code, at }),
            }
        }
        if list.is_some() || stack.len() != 1 {
            return Err(WireError::Unclosed);
        }
        stack.pop().map(|(_, m)| m).ok_or(WireError::Unclosed)
    }
}

/// The innermost open section (the message itself at the bottom, which the
/// decoder never pops before the end; an empty stack is reported, not a panic).
fn top(stack: &mut [(String, Message)]) -> Result<&mut Message, WireError> {
    stack.last_mut().map(|(_, m)| m).ok_or(WireError::Unclosed)
}

fn put_name(out: &mut Vec<u8>, name: &str) -> Result<(), WireError> {
    let len = u8::try_from(name.len()).map_err(|_| WireError::NameLength(name.to_owned()))?;
    if len == 0 {
        return Err(WireError::NameLength(String::new()));
    }
    out.push(len);
    out.extend_from_slice(name.as_bytes());
    Ok(())
}

fn put_value(out: &mut Vec<u8>, key: &str, v: &[u8]) -> Result<(), WireError> {
    let len = u16::try_from(v.len()).map_err(|_| WireError::ValueLength(key.to_owned()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(v);
    Ok(())
}

/// A cursor over bytes that fails with [`WireError::Truncated`] at the end.
pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(WireError::Truncated(self.bytes.len()))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    pub(crate) fn byte(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }

    /// A `u8`-length name, UTF-8.
    pub(crate) fn name(&mut self) -> Result<String, WireError> {
        let at = self.at;
        let len = self.byte()? as usize;
        let raw = self.take(len)?;
        String::from_utf8(raw.to_vec()).map_err(|_| WireError::BadName(at))
    }

    /// A `u16`-length value.
    fn value(&mut self) -> Result<&'a [u8], WireError> {
        let len = self.take(2)?;
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `version` answer's shape: two key/values, bytes written out by hand
    /// from the element table.
    #[test]
    fn key_values_encode_as_type_name_and_length_prefixed_value() {
        let m = Message::new().with_value("daemon", "charon").with_value("v", "5.9");
        let mut want = vec![3, 6];
        want.extend_from_slice(b"daemon");
        want.extend_from_slice(&[0, 6]);
        want.extend_from_slice(b"charon");
        want.extend_from_slice(&[3, 1, b'v', 0, 3]);
        want.extend_from_slice(b"5.9");
        assert_eq!(m.encode().unwrap(), want);
        assert_eq!(Message::decode(&want).unwrap(), m);
    }

    #[test]
    fn sections_and_lists_nest_and_come_back_in_order() {
        let m = Message::new().with_section(
            "gw",
            Message::new()
                .with_list("remote_addrs", ["192.0.2.1", "192.0.2.2"])
                .with_section("local", Message::new().with_value("auth", "psk"))
                .with_list("empty", Vec::<&str>::new()),
        );
        let bytes = m.encode().unwrap();
        // section start "gw", list start "remote_addrs", item, item, list end, ...
        assert_eq!(&bytes[..4], &[1, 2, b'g', b'w']);
        assert_eq!(bytes[4], 4);
        assert_eq!(*bytes.last().unwrap(), 2, "the outer section ends last");
        let back = Message::decode(&bytes).unwrap();
        assert_eq!(back, m);
        let gw = back.section("gw").unwrap();
        assert_eq!(gw.list("remote_addrs").unwrap()[1], b"192.0.2.2");
        assert_eq!(gw.section("local").unwrap().value_str("auth"), Some("psk"));
        assert_eq!(gw.list("empty").unwrap().len(), 0);
        let keys: Vec<&str> = gw.entries().map(|(k, _)| k).collect();
        assert_eq!(keys, ["remote_addrs", "local", "empty"]);
    }

    #[test]
    fn an_empty_message_is_zero_bytes() {
        assert!(Message::new().encode().unwrap().is_empty());
        assert!(Message::decode(&[]).unwrap().is_empty());
    }

    #[test]
    fn binary_values_survive() {
        let v: Vec<u8> = (0..=255).collect();
        let m = Message::new().with_value("blob", &v);
        let back = Message::decode(&m.encode().unwrap()).unwrap();
        assert_eq!(back.get("blob"), Some(&Element::Value(v)));
        assert_eq!(back.value_str("blob"), None, "not UTF-8");
    }

    #[test]
    fn names_and_values_that_do_not_fit_are_refused() {
        let long = "k".repeat(256);
        assert_eq!(
            Message::new().with_value(&long, "x").encode(),
            Err(WireError::NameLength(long))
        );
        assert!(matches!(
            Message::new().with_value("", "x").encode(),
            Err(WireError::NameLength(_))
        ));
        let big = vec![0u8; 65536];
        assert_eq!(
            Message::new().with_value("k", &big).encode(),
            Err(WireError::ValueLength("k".into()))
        );
        assert!(Message::new().with_value("k", &big[..65535]).encode().is_ok());
    }

    #[test]
    fn truncated_and_malformed_bytes_are_errors_not_panics() {
        let good = Message::new()
            .with_section("s", Message::new().with_list("l", ["a"]).with_value("k", "v"))
            .encode()
            .unwrap();
        // every strict prefix is refused, none panics
        for n in 1..good.len() {
            assert!(Message::decode(&good[..n]).is_err(), "prefix of {n} bytes accepted");
        }
        assert_eq!(Message::decode(&[3, 5, b'a']), Err(WireError::Truncated(3)));
        assert_eq!(Message::decode(&[9]), Err(WireError::UnknownElement { code: 9, at: 0 }));
        assert_eq!(Message::decode(&[2]), Err(WireError::Misplaced { code: 2, at: 0 }));
        assert_eq!(Message::decode(&[5, 0, 0]), Err(WireError::Misplaced { code: 5, at: 0 }));
        assert_eq!(Message::decode(&[4, 1, b'l', 3]), Err(WireError::Misplaced { code: 3, at: 3 }));
        assert_eq!(Message::decode(&[1, 1, b's']), Err(WireError::Unclosed));
        assert_eq!(Message::decode(&[3, 1, 0xff, 0, 0]), Err(WireError::BadName(1)));
    }

    #[test]
    fn nesting_is_bounded() {
        let mut deep = Vec::new();
        for _ in 0..=MAX_DEPTH {
            deep.extend_from_slice(&[1, 1, b's']);
        }
        assert_eq!(Message::decode(&deep), Err(WireError::TooDeep));
        let mut ok = Vec::new();
        for _ in 0..MAX_DEPTH {
            ok.extend_from_slice(&[1, 1, b's']);
        }
        ok.extend(std::iter::repeat_n(2, MAX_DEPTH));
        assert!(Message::decode(&ok).is_ok());
    }
}
