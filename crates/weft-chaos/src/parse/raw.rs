//! The scenario file as written: TOML deserialised with spans, unknown keys
//! refused, so that every later check can point at the offending value.
//!
//! `[[fault]]` and `[[assert]]` are flat tables holding every key any kind
//! takes; validation refuses, with its position, a key the kind does not
//! take. (Serde's tagged enums would lose the spans.)

use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use toml::Spanned;

/// A string, possibly malformed: names, classes, rates.
pub(crate) type Text = Spanned<String>;

/// A duration or a time, possibly malformed.
pub(crate) type When = Spanned<DurationText>;

/// The text of a duration. A bare number is refused here already, with a
/// hint, rather than with serde's "expected a string".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DurationText(pub(crate) String);

impl DurationText {
    /// `text` at `span`, for durations found inside other values.
    pub(crate) fn at(span: Range<usize>, text: &str) -> When {
        Spanned::new(span, Self(text.to_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration with a unit, e.g. \"90s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(DurationText(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Err(E::custom(format!(
                    "durations are strings with a unit: write \"{v}s\" or \"{v}ms\" (units: us, ms, s, m, h)"
                )))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Err(E::custom(format!(
                    "durations are strings with a unit: write \"{v}s\" or \"{v}ms\" (units: us, ms, s, m, h)"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    pub(crate) scenario: RawScenario,
    pub(crate) topology: RawTopology,
    pub(crate) control: Option<Spanned<RawControl>>,
    #[serde(default)]
    pub(crate) flow: Vec<Spanned<RawFlow>>,
    #[serde(default)]
    pub(crate) fault: Vec<Spanned<RawFault>>,
    #[serde(default)]
    pub(crate) assert: Vec<Spanned<RawAssert>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScenario {
    pub(crate) name: Text,
    #[serde(default)]
    pub(crate) description: String,
    pub(crate) duration: When,
    pub(crate) seeds: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTopology {
    /// A count (`20`: sites `s0`..`s19`) or a list of names.
    pub(crate) sites: Spanned<Poly<String>>,
    pub(crate) uplinks: Option<Spanned<i64>>,
    pub(crate) mode: Option<Text>,
    pub(crate) hubs: Option<Spanned<Vec<Text>>>,
    pub(crate) hub_count: Option<Spanned<i64>>,
    pub(crate) default_link: Option<RawProfile>,
    #[serde(default)]
    pub(crate) link: Vec<Spanned<RawLinkOverride>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawControl {
    pub(crate) controllers: Spanned<Vec<Text>>,
    pub(crate) store: Text,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProfile {
    pub(crate) delay: Option<When>,
    pub(crate) jitter: Option<When>,
    pub(crate) loss: Option<Spanned<Poly<String>>>,
    pub(crate) rate: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLinkOverride {
    pub(crate) site: Text,
    pub(crate) uplink: Spanned<i64>,
    pub(crate) delay: Option<When>,
    pub(crate) jitter: Option<When>,
    pub(crate) loss: Option<Spanned<Poly<String>>>,
    pub(crate) rate: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFlow {
    pub(crate) name: Text,
    pub(crate) from: Text,
    pub(crate) to: Text,
    pub(crate) class: Text,
    pub(crate) pps: Option<Spanned<i64>>,
    pub(crate) start: Option<When>,
    pub(crate) stop: Option<When>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFault {
    pub(crate) name: Option<Text>,
    pub(crate) at: When,
    #[serde(rename = "for")]
    pub(crate) for_: Option<When>,
    pub(crate) kind: Text,
    pub(crate) site: Option<Text>,
    pub(crate) uplink: Option<Spanned<Poly<i64>>>,
    pub(crate) loss: Option<Spanned<Poly<String>>>,
    pub(crate) delay: Option<When>,
    pub(crate) jitter: Option<When>,
    pub(crate) down: Option<When>,
    pub(crate) every: Option<When>,
    pub(crate) groups: Option<Spanned<Vec<Spanned<Poly<String>>>>>,
    pub(crate) count: Option<Spanned<i64>>,
    pub(crate) over: Option<When>,
    pub(crate) lasting: Option<Spanned<Poly<String>>>,
    pub(crate) sites: Option<Spanned<Poly<String>>>,
}

impl RawFault {
    /// The kind-specific keys present, with the span of each value.
    pub(crate) fn present(&self) -> Vec<(&'static str, Range<usize>)> {
        let mut out = Vec::new();
        let mut add = |key, span: Option<Range<usize>>| out.extend(span.map(|s| (key, s)));
        add("for", self.for_.as_ref().map(Spanned::span));
        add("site", self.site.as_ref().map(Spanned::span));
        add("uplink", self.uplink.as_ref().map(Spanned::span));
        add("loss", self.loss.as_ref().map(Spanned::span));
        add("delay", self.delay.as_ref().map(Spanned::span));
        add("jitter", self.jitter.as_ref().map(Spanned::span));
        add("down", self.down.as_ref().map(Spanned::span));
        add("every", self.every.as_ref().map(Spanned::span));
        add("groups", self.groups.as_ref().map(Spanned::span));
        add("count", self.count.as_ref().map(Spanned::span));
        add("over", self.over.as_ref().map(Spanned::span));
        add("lasting", self.lasting.as_ref().map(Spanned::span));
        add("sites", self.sites.as_ref().map(Spanned::span));
        out
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAssert {
    pub(crate) name: Option<Text>,
    pub(crate) kind: Text,
    pub(crate) class: Option<Text>,
    pub(crate) flow: Option<Text>,
    /// A duration (`max-failover-gap`) or a count (`max-path-changes`).
    pub(crate) max: Option<Spanned<Poly<String>>>,
    pub(crate) after: Option<Text>,
    pub(crate) within: Option<When>,
    pub(crate) at: Option<When>,
    pub(crate) reachable: Option<Spanned<Poly<Vec<Text>>>>,
    pub(crate) unreachable: Option<Spanned<Poly<Vec<Text>>>>,
    pub(crate) tolerance: Option<When>,
    pub(crate) window: Option<When>,
}

impl RawAssert {
    /// The kind-specific keys present, with the span of each value.
    pub(crate) fn present(&self) -> Vec<(&'static str, Range<usize>)> {
        let mut out = Vec::new();
        let mut add = |key, span: Option<Range<usize>>| out.extend(span.map(|s| (key, s)));
        add("class", self.class.as_ref().map(Spanned::span));
        add("flow", self.flow.as_ref().map(Spanned::span));
        add("max", self.max.as_ref().map(Spanned::span));
        add("after", self.after.as_ref().map(Spanned::span));
        add("within", self.within.as_ref().map(Spanned::span));
        add("at", self.at.as_ref().map(Spanned::span));
        add("reachable", self.reachable.as_ref().map(Spanned::span));
        add("unreachable", self.unreachable.as_ref().map(Spanned::span));
        add("tolerance", self.tolerance.as_ref().map(Spanned::span));
        add("window", self.window.as_ref().map(Spanned::span));
        out
    }
}

/// A value that may be written several ways (`sites = 20` or a list of
/// names; `uplink = 1`, `"all"` or `[0, 1]`; `loss = 30` or `"30%"`).
/// List elements keep their own spans.
#[derive(Debug)]
pub(crate) enum Poly<T> {
    Int(i64),
    Float(f64),
    Text(String),
    List(Vec<Spanned<T>>),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Poly<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PolyVisitor(PhantomData))
    }
}

struct PolyVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for PolyVisitor<T> {
    type Value = Poly<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, a string or an array")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Poly::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        i64::try_from(v).map(Poly::Int).map_err(|_| E::custom("number too large"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Poly::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Poly::Text(v.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(x) = seq.next_element::<Spanned<T>>()? {
            out.push(x);
        }
        Ok(Poly::List(out))
    }
}
