//! The policy document as written: TOML deserialised with spans, so every
//! later check can point at the offending value. No meaning is given to any
//! field here; `model` validates and resolves.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A value that may be one item or a list of items (`protocol = "udp"` or
/// `protocol = ["udp", "tcp"]`; `ports = 5060` or `ports = ["5060-5070", 443]`).
/// Kept as a spanned TOML value: serde's untagged enums lose toml's spans.
pub(crate) type Items = Spanned<toml::Value>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDocument {
    pub(crate) policy: Spanned<RawHeader>,
    #[serde(default)]
    pub(crate) sites: BTreeMap<Spanned<String>, RawSite>,
    #[serde(default)]
    pub(crate) groups: BTreeMap<Spanned<String>, Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub(crate) segments: BTreeMap<Spanned<String>, RawSegment>,
    #[serde(default)]
    pub(crate) classes: BTreeMap<Spanned<String>, RawClass>,
    #[serde(default)]
    pub(crate) apps: BTreeMap<Spanned<String>, Spanned<RawMatch>>,
    #[serde(default)]
    pub(crate) route: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    pub(crate) acl: Vec<Spanned<RawAcl>>,
    #[serde(default)]
    pub(crate) test: Vec<Spanned<RawTest>>,
    #[serde(default)]
    pub(crate) identity: Vec<Spanned<RawIdentity>>,
    #[serde(default)]
    pub(crate) identity_test: Vec<Spanned<RawIdentityTest>>,
}

/// An `[[identity]]` rule as written (see `crate::identity`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIdentity {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) action: Spanned<String>,
    pub(crate) priority: Option<Spanned<i64>>,
    pub(crate) from: Option<Items>,
    pub(crate) to: Option<Items>,
    pub(crate) ports: Option<Items>,
}

/// An `[[identity_test]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIdentityTest {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) from: Spanned<String>,
    pub(crate) to: Spanned<String>,
    pub(crate) port: Spanned<i64>,
    pub(crate) expect: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHeader {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) default: Option<Spanned<String>>,
    pub(crate) default_class: Option<Spanned<String>>,
    pub(crate) description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSite {
    #[serde(default)]
    pub(crate) prefixes: Vec<Spanned<String>>,
    pub(crate) role: Option<Spanned<String>>,
    pub(crate) region: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) uplinks: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSegment {
    pub(crate) members: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(crate) isolated: bool,
    pub(crate) priority: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClass {
    pub(crate) max_latency: Option<Spanned<String>>,
    pub(crate) max_jitter: Option<Spanned<String>>,
    pub(crate) max_loss: Option<Spanned<String>>,
    pub(crate) loss_window: Option<Spanned<String>>,
    pub(crate) fallback: Option<Spanned<String>>,
    pub(crate) probe_interval: Option<Spanned<String>>,
    pub(crate) queue: Option<Spanned<String>>,
    pub(crate) weight: Option<Spanned<i64>>,
    pub(crate) ceiling: Option<Spanned<String>>,
    pub(crate) dscp: Option<Spanned<i64>>,
}

/// Match fields shared by apps, ACLs, routes and tests.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMatch {
    pub(crate) protocol: Option<Items>,
    pub(crate) from: Option<Items>,
    pub(crate) to: Option<Items>,
    pub(crate) ports: Option<Items>,
    pub(crate) src_ports: Option<Items>,
    pub(crate) dscp: Option<Items>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) app: Option<Items>,
    pub(crate) class: Option<Spanned<String>>,
    pub(crate) prefer: Option<Spanned<String>>,
    pub(crate) weights: Option<Spanned<RawWeights>>,
    pub(crate) balance: Option<Spanned<String>>,
    pub(crate) uplinks: Option<Vec<Spanned<String>>>,
    pub(crate) exclude_uplinks: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(crate) avoid_metered: bool,
    pub(crate) priority: Option<Spanned<i64>>,
    pub(crate) protocol: Option<Items>,
    pub(crate) from: Option<Items>,
    pub(crate) to: Option<Items>,
    pub(crate) ports: Option<Items>,
    pub(crate) src_ports: Option<Items>,
    pub(crate) dscp: Option<Items>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAcl {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) action: Spanned<String>,
    pub(crate) app: Option<Items>,
    pub(crate) priority: Option<Spanned<i64>>,
    pub(crate) protocol: Option<Items>,
    pub(crate) from: Option<Items>,
    pub(crate) to: Option<Items>,
    pub(crate) ports: Option<Items>,
    pub(crate) src_ports: Option<Items>,
    pub(crate) dscp: Option<Items>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTest {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) expect: Option<Spanned<String>>,
    pub(crate) class: Option<Spanned<String>>,
    pub(crate) via: Option<Vec<Spanned<String>>>,
    pub(crate) never_via: Option<Vec<Spanned<String>>>,
    pub(crate) app: Option<Items>,
    pub(crate) protocol: Option<Items>,
    pub(crate) from: Option<Items>,
    pub(crate) to: Option<Items>,
    pub(crate) ports: Option<Items>,
    pub(crate) src_ports: Option<Items>,
    pub(crate) dscp: Option<Items>,
}

/// A borrowed view of the match fields every matcher-carrying table has.
///
/// The fields are repeated in each table rather than `#[serde(flatten)]`ed:
/// flatten buffers values through serde's private content type, which loses
/// toml's spans (and does not mix with `deny_unknown_fields`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MatchFields<'a> {
    pub(crate) protocol: Option<&'a Items>,
    pub(crate) from: Option<&'a Items>,
    pub(crate) to: Option<&'a Items>,
    pub(crate) ports: Option<&'a Items>,
    pub(crate) src_ports: Option<&'a Items>,
    pub(crate) dscp: Option<&'a Items>,
}

macro_rules! match_fields {
    ($($t:ty),*) => {$(
        impl $t {
            pub(crate) fn fields(&self) -> MatchFields<'_> {
                MatchFields {
                    protocol: self.protocol.as_ref(),
                    from: self.from.as_ref(),
                    to: self.to.as_ref(),
                    ports: self.ports.as_ref(),
                    src_ports: self.src_ports.as_ref(),
                    dscp: self.dscp.as_ref(),
                }
            }
        }
    )*};
}
match_fields!(RawMatch, RawRoute, RawAcl, RawTest);

/// Custom weights of a weighted preference.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWeights {
    pub(crate) latency: Option<f64>,
    pub(crate) jitter: Option<f64>,
    pub(crate) loss: Option<f64>,
    pub(crate) bandwidth: Option<f64>,
    pub(crate) cost: Option<f64>,
}
