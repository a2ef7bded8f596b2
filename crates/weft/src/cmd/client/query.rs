//! Query strings, percent-encoding, and following page cursors.

use std::fmt::{self, Write as _};

use weft_api::Page;

use super::ClientError;

/// Every item of a paged list: `fetch(cursor)` returns one page; follows
/// `next_cursor` until it is absent. A cursor that comes back twice is an
/// error rather than an endless loop.
pub(crate) fn collect_pages<T>(
    mut fetch: impl FnMut(Option<&str>) -> Result<Page<T>, ClientError>,
) -> Result<Vec<T>, ClientError> {
    let mut items = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = fetch(cursor.as_deref())?;
        items.extend(page.items);
        match page.next_cursor {
            None => return Ok(items),
            Some(next) => {
                if !seen.insert(next.clone()) {
                    return Err(ClientError::Protocol {
                        target: "the agent".into(),
                        source: format!("the agent sent page cursor {next:?} twice").into(),
                    });
                }
                cursor = Some(next);
            }
        }
    }
}

/// Percent-encodes `s` for a path segment or a query value (everything but
/// RFC 3986 unreserved characters).
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A query string builder: `Query::default().opt("site", s)` prints as
/// `?site=b` (or nothing when empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Query(Vec<(&'static str, String)>);

impl Query {
    /// Adds `key=value`.
    #[must_use]
    pub(crate) fn push(mut self, key: &'static str, value: impl fmt::Display) -> Self {
        self.0.push((key, value.to_string()));
        self
    }

    /// Adds `key=value` when `value` is given.
    #[must_use]
    pub(crate) fn opt(self, key: &'static str, value: Option<impl fmt::Display>) -> Self {
        match value {
            Some(v) => self.push(key, v),
            None => self,
        }
    }

    /// Whether `key` is set.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| *k == key)
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            write!(f, "{}{k}={}", if i == 0 { '?' } else { '&' }, encode(v))?;
        }
        Ok(())
    }
}
