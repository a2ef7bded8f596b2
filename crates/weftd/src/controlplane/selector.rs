//! Label selectors as Kubernetes writes them (`k=v`, `k==v`, `k!=v`, `k`,
//! `!k`, `k in (a,b)`, `k notin (a)`; a comma is AND), and the label syntax
//! they and the registry share. Pure: no I/O.

use std::collections::BTreeMap;
use std::fmt;

/// Longest label key or value.
pub(crate) const MAX_LABEL_LEN: usize = 63;

/// Why a label key is not one: `[a-z0-9]([-a-z0-9._/]*[a-z0-9])?`, 1 to 63.
pub(crate) fn check_key(k: &str) -> Result<(), String> {
    let b = k.as_bytes();
    let inner = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || b"-._/".contains(&c);
    let edge = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || b.len() > MAX_LABEL_LEN {
        return Err(format!("label key {k:?} must be 1 to {MAX_LABEL_LEN} characters"));
    }
    if !edge(b[0]) || !edge(b[b.len() - 1]) || !b.iter().all(|c| inner(*c)) {
        return Err(format!(
            "label key {k:?} must be a-z 0-9 and - . _ / inside, starting and ending with a-z 0-9"
        ));
    }
    Ok(())
}

/// Why a label value is not one: empty, or `[A-Za-z0-9]([-A-Za-z0-9._]*[A-Za-z0-9])?`
/// up to 63.
pub(crate) fn check_value(v: &str) -> Result<(), String> {
    let b = v.as_bytes();
    if b.is_empty() {
        return Ok(());
    }
    let edge = |c: u8| c.is_ascii_alphanumeric();
    let inner = |c: u8| c.is_ascii_alphanumeric() || b"-._".contains(&c);
    if b.len() > MAX_LABEL_LEN {
        return Err(format!("label value {v:?} is longer than {MAX_LABEL_LEN} characters"));
    }
    if !edge(b[0]) || !edge(b[b.len() - 1]) || !b.iter().all(|c| inner(*c)) {
        return Err(format!(
            "label value {v:?} must be A-Z a-z 0-9 and - . _ inside, starting and ending alphanumeric"
        ));
    }
    Ok(())
}

/// One condition of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Requirement {
    /// `k=v`: the label is there with this value.
    Eq(String, String),
    /// `k!=v`: the label is absent or has another value.
    NotEq(String, String),
    /// `k`: the label is there.
    Exists(String),
    /// `!k`: the label is absent.
    NotExists(String),
    /// `k in (a,b)`: the label is there with one of these values.
    In(String, Vec<String>),
    /// `k notin (a)`: the label is absent or has none of these values.
    NotIn(String, Vec<String>),
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Self::Eq(k, v) => labels.get(k) == Some(v),
            Self::NotEq(k, v) => labels.get(k) != Some(v),
            Self::Exists(k) => labels.contains_key(k),
            Self::NotExists(k) => !labels.contains_key(k),
            Self::In(k, vs) => labels.get(k).is_some_and(|x| vs.contains(x)),
            Self::NotIn(k, vs) => labels.get(k).is_none_or(|x| !vs.contains(x)),
        }
    }
}

/// A parsed selector: every requirement must hold (empty: everything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Selector(pub(crate) Vec<Requirement>);

/// A selector that does not parse, with the (1-based) column where it stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SelectorError {
    pub(crate) column: usize,
    pub(crate) message: String,
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "selector column {}: {}", self.column, self.message)
    }
}

struct Scan<'a> {
    s: &'a str,
    i: usize,
}

/// A refusal at byte `at` (reported 1-based).
fn fail<T>(at: usize, message: impl Into<String>) -> Result<T, SelectorError> {
    Err(SelectorError { column: at + 1, message: message.into() })
}

impl<'a> Scan<'a> {
    fn ws(&mut self) {
        while self.s.as_bytes().get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn eat(&mut self, t: &str) -> bool {
        let hit = self.s[self.i..].starts_with(t);
        if hit {
            self.i += t.len();
        }
        hit
    }

    /// A run of label characters (possibly empty), with where it starts.
    fn word(&mut self) -> (usize, &'a str) {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || b"-._/".contains(&c)) {
            self.i += 1;
        }
        (start, &self.s[start..self.i])
    }

    fn key(&mut self) -> Result<String, SelectorError> {
        self.ws();
        let (at, k) = self.word();
        if k.is_empty() {
            return fail(at, "expected a label key");
        }
        check_key(k).or_else(|m| fail(at, m))?;
        Ok(k.to_owned())
    }

    fn value(&mut self) -> Result<String, SelectorError> {
        self.ws();
        let (at, v) = self.word();
        check_value(v).or_else(|m| fail(at, m))?;
        Ok(v.to_owned())
    }

    fn values(&mut self) -> Result<Vec<String>, SelectorError> {
        self.ws();
        if !self.eat("(") {
            return fail(self.i, "expected ( after in/notin");
        }
        let mut out = vec![self.value()?];
        loop {
            self.ws();
            if self.eat(")") {
                return Ok(out);
            }
            if !self.eat(",") {
                return fail(self.i, "expected , or ) in a value list");
            }
            out.push(self.value()?);
        }
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        self.ws();
        if self.eat("!") && !self.s[self.i..].starts_with('=') {
            return Ok(Requirement::NotExists(self.key()?));
        }
        let k = self.key()?;
        self.ws();
        if self.peek().is_none() || self.peek() == Some(b',') {
            return Ok(Requirement::Exists(k));
        }
        if self.eat("!=") {
            return Ok(Requirement::NotEq(k, self.value()?));
        }
        if self.eat("==") || self.eat("=") {
            return Ok(Requirement::Eq(k, self.value()?));
        }
        let (at, op) = self.word();
        match op {
            "in" => Ok(Requirement::In(k, self.values()?)),
            "notin" => Ok(Requirement::NotIn(k, self.values()?)),
            "" => fail(at, format!("unexpected {:?}", self.s[at..].chars().next().unwrap_or(' '))),
            other => fail(at, format!("expected =, !=, in or notin, not {other:?}")),
        }
    }
}

impl Selector {
    /// Parses `s` (empty or blank: everything).
    pub(crate) fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut scan = Scan { s, i: 0 };
        let mut out = Vec::new();
        scan.ws();
        if scan.peek().is_none() {
            return Ok(Self(out));
        }
        loop {
            out.push(scan.requirement()?);
            scan.ws();
            match scan.peek() {
                None => return Ok(Self(out)),
                Some(b',') => scan.i += 1,
                Some(c) => return fail(scan.i, format!("unexpected {:?}", char::from(c))),
            }
        }
    }

    /// Whether `labels` meet every requirement.
    pub(crate) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| r.matches(labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn sel(s: &str) -> Selector {
        Selector::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn every_operator_parses_and_a_comma_means_and() {
        use Requirement::*;
        let s = sel(" env=prod, tier==web,zone!=a,gpu, !legacy, rack in (r1, r2),os notin (win)");
        assert_eq!(
            s.0,
            vec![
                Eq("env".into(), "prod".into()),
                Eq("tier".into(), "web".into()),
                NotEq("zone".into(), "a".into()),
                Exists("gpu".into()),
                NotExists("legacy".into()),
                In("rack".into(), vec!["r1".into(), "r2".into()]),
                NotIn("os".into(), vec!["win".into()]),
            ]
        );
        assert_eq!(sel(""), Selector::default());
        assert_eq!(sel("  "), Selector::default());
    }

    #[test]
    fn matching_follows_kubernetes_absent_labels_pass_negations() {
        let l = labels(&[("env", "prod"), ("rack", "r2")]);
        assert!(sel("env=prod,rack in (r1,r2)").matches(&l));
        assert!(!sel("env=prod,rack in (r1)").matches(&l));
        assert!(sel("zone!=a,!legacy,os notin (win)").matches(&l), "absent keys pass negations");
        assert!(!sel("zone").matches(&l));
        assert!(!sel("!env").matches(&l));
        assert!(sel("").matches(&l));
        assert!(sel("env=").matches(&labels(&[("env", "")])), "an empty value is a value");
    }

    #[test]
    fn errors_name_the_column_where_parsing_stopped() {
        let e = |s: &str| Selector::parse(s).unwrap_err();
        assert_eq!(e("env=prod,").column, 10, "a trailing comma wants a key");
        assert_eq!(e("env=prod;x").column, 9);
        assert_eq!(e("rack in r1").column, 9);
        assert_eq!(e("rack in (r1 r2)").column, 13);
        assert_eq!(e("env>3").column, 4);
        assert_eq!(e("Env=x").column, 1, "keys are lower case");
        assert_eq!(e("env=-x").column, 5);
        assert!(e("rack like (a)").message.contains("\"like\""));
        assert!(e("x,").to_string().starts_with("selector column 3: "));
    }

    #[test]
    fn label_syntax_is_checked_like_kubernetes() {
        for k in ["a", "app.kubernetes.io/name", "x-1", "0"] {
            assert!(check_key(k).is_ok(), "{k}");
        }
        for k in ["", "-a", "a-", "A", "a b", &"k".repeat(64)] {
            assert!(check_key(k).is_err(), "{k}");
        }
        for v in ["", "Prod", "v1.2_3", &"v".repeat(63)] {
            assert!(check_value(v).is_ok(), "{v}");
        }
        for v in ["-x", "x.", "a/b", "a b", &"v".repeat(64)] {
            assert!(check_value(v).is_err(), "{v}");
        }
    }
}
