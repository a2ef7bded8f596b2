//! Server-sent events (`text/event-stream`): a parser that does no I/O, and
//! the stream that feeds it from a response body.
//!
//! The parser follows the WHATWG rules that matter here: lines end in LF,
//! CRLF or CR (a CRLF split across two reads is one line end); `field: value`
//! with one optional space after the colon; `data` lines are joined with
//! `\n`; a blank line dispatches the event; an event without data is not
//! dispatched; lines starting with `:` are comments (keep-alives); the last
//! `id` stays in force for later events; unknown fields are ignored.

use std::collections::VecDeque;
use std::io::Read;

use super::ClientError;

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The last event id seen on the stream (`id:`), if any.
    pub(crate) id: Option<String>,
    /// The event type (`event:`), if set for this event.
    pub(crate) event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub(crate) data: String,
}

/// Turns bytes into events: [`SseParser::handle_bytes`] with whatever arrived,
/// then [`SseParser::poll_event`] until it returns `None`.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    /// The line read so far.
    line: Vec<u8>,
    /// The previous byte was a CR (a following LF belongs to the same line end).
    after_cr: bool,
    /// No line was completed yet (a leading BOM is dropped).
    first_line: bool,
    /// Data of the event being built, each line followed by `\n`.
    data: String,
    /// Type of the event being built.
    event: Option<String>,
    /// The last event id.
    id: Option<String>,
    /// Dispatched events not yet polled.
    ready: VecDeque<SseEvent>,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub(crate) fn new() -> Self {
        Self { first_line: true, ..Self::default() }
    }

    /// Takes the next bytes of the stream (any split is fine).
    pub(crate) fn handle_bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if std::mem::take(&mut self.after_cr) && b == b'\n' {
                continue;
            }
            match b {
                b'\n' => self.end_line(),
                b'\r' => {
                    self.end_line();
                    self.after_cr = true;
                }
                _ => self.line.push(b),
            }
        }
    }

    /// The next complete event, if one was dispatched.
    #[must_use]
    pub(crate) fn poll_event(&mut self) -> Option<SseEvent> {
        self.ready.pop_front()
    }

    fn end_line(&mut self) {
        let raw = std::mem::take(&mut self.line);
        let mut line = String::from_utf8_lossy(&raw).into_owned();
        if std::mem::take(&mut self.first_line) && line.starts_with('\u{feff}') {
            line.remove(0);
        }
        if line.is_empty() {
            self.dispatch();
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        match field {
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "event" => self.event = Some(value.to_owned()),
            "id" if !value.contains('\0') => self.id = Some(value.to_owned()),
            _ => {}
        }
    }

    fn dispatch(&mut self) {
        let event = self.event.take();
        if self.data.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop();
        self.ready.push_back(SseEvent { id: self.id.clone(), event, data });
    }
}

/// Events read from a streaming response body, as an iterator. It ends when
/// the agent closes the stream; an error ends it too.
pub(crate) struct SseStream {
    body: Box<dyn Read + Send>,
    parser: SseParser,
    buf: Box<[u8]>,
    failed: bool,
    /// Where the stream comes from, for error messages.
    target: String,
}

impl SseStream {
    /// A stream of the events in `body`.
    pub(crate) fn new(body: Box<dyn Read + Send>, target: String) -> Self {
        Self { body, parser: SseParser::new(), buf: vec![0; 8192].into(), failed: false, target }
    }
}

impl Iterator for SseStream {
    type Item = Result<SseEvent, ClientError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(e) = self.parser.poll_event() {
                return Some(Ok(e));
            }
            if self.failed {
                return None;
            }
            match self.body.read(&mut self.buf) {
                Ok(0) => return None,
                Ok(n) => self.parser.handle_bytes(&self.buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.failed = true;
                    return Some(Err(ClientError::from_io(&self.target, e)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.handle_bytes(c);
            while let Some(e) = p.poll_event() {
                out.push(e);
            }
        }
        out
    }

    fn ev(id: Option<&str>, event: Option<&str>, data: &str) -> SseEvent {
        SseEvent { id: id.map(Into::into), event: event.map(Into::into), data: data.into() }
    }

    const STREAM: &[u8] =
        b"\xef\xbb\xbf: hello\n\nid: 1\nevent: path_down\ndata: {\"a\":\ndata:1}\n\n\
        : keep-alive\r\n\r\nevent: x\r\ndata:  two spaces\r\n\r\nid: 3\rdata\r\r\
        event: nodata\n\ndata: last\n\n";

    #[test]
    fn multi_line_data_is_joined_and_comments_and_empty_events_are_skipped() {
        let events = parse_all(&[STREAM]);
        assert_eq!(
            events,
            vec![
                ev(Some("1"), Some("path_down"), "{\"a\":\n1}"),
                ev(Some("1"), Some("x"), " two spaces"),
                ev(Some("3"), None, ""),
                ev(Some("3"), None, "last"),
            ]
        );
    }

    #[test]
    fn a_stream_split_at_every_possible_boundary_gives_the_same_events() {
        let whole = parse_all(&[STREAM]);
        for cut in 0..=STREAM.len() {
            let (a, b) = STREAM.split_at(cut);
            assert_eq!(parse_all(&[a, b]), whole, "split at {cut}");
        }
        let bytes: Vec<&[u8]> = STREAM.chunks(1).collect();
        assert_eq!(parse_all(&bytes), whole);
        let threes: Vec<&[u8]> = STREAM.chunks(3).collect();
        assert_eq!(parse_all(&threes), whole);
    }

    #[test]
    fn an_event_is_only_dispatched_by_its_blank_line() {
        let mut p = SseParser::new();
        p.handle_bytes(b"id: 7\ndata: {}\n");
        assert_eq!(p.poll_event(), None);
        p.handle_bytes(b"\n");
        assert_eq!(p.poll_event(), Some(ev(Some("7"), None, "{}")));
        assert_eq!(p.poll_event(), None);
    }

    #[test]
    fn the_stream_yields_events_until_the_body_ends() {
        let body: Box<dyn Read + Send> = Box::new(&b"data: a\n\ndata: b\n\ndata: incomplete\n"[..]);
        let events: Vec<_> = SseStream::new(body, "test".into()).map(Result::unwrap).collect();
        assert_eq!(events, vec![ev(None, None, "a"), ev(None, None, "b")]);
    }
}
