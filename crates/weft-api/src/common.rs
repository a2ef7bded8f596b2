//! Errors, pages and scopes: what every endpoint shares.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Every error body: a stable machine `code` and a human `message`.
///
/// Codes in use: `bad_request`, `unauthorized` (401: no or unknown token),
/// `forbidden` (403: the token lacks the scope), `not_found`, `conflict`,
/// `too_large`, `policy_invalid`, `policy_tests_failed`, `unavailable`,
/// `internal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiError {
    /// Stable, machine-readable code.
    pub code: String,
    /// What went wrong, for a human.
    pub message: String,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self { code: code.to_owned(), message: message.into() }
    }
}

/// One page of a list. Follow `next_cursor` (pass it as `?cursor=`) until it
/// is absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    /// The items of this page, in a stable order.
    pub items: Vec<T>,
    /// Cursor of the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// How many items match the filters in all pages.
    pub total: u64,
}

/// Filters and pagination of list endpoints: `?site=&state=&limit=&cursor=`.
///
/// Not every list uses every filter; unknown filters are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only items of this site (peer name).
    #[serde(default)]
    pub site: Option<String>,
    /// Only items in this state (`up`, `down`, `degraded`, `init`, ...).
    #[serde(default)]
    pub state: Option<String>,
    /// Page size, 1..=1000 (default 100).
    #[serde(default)]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Cursor from the previous page's `next_cursor`.
    #[serde(default)]
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

/// Deserialises an optional `u32` from any JSON number with no fraction
/// (`84` and `84.0` alike: JSON Schema's `integer` allows both).
pub(crate) fn integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let v: Option<f64> = Option::deserialize(d)?;
    match v {
        None => Ok(None),
        Some(x) if x.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&x) => {
            Ok(Some(x as u32))
        }
        Some(x) => {
            Err(serde::de::Error::custom(format!("{x} is not a whole number 0..=4294967295")))
        }
    }
}

/// Deserialises an optional `u64` from any JSON number with no fraction, up
/// to 2^53 (where every integer still has an exact `f64`).
pub(crate) fn integer_u64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    let v: Option<f64> = Option::deserialize(d)?;
    match v {
        None => Ok(None),
        Some(x) if x.fract() == 0.0 && (0.0..=EXACT).contains(&x) => Ok(Some(x as u64)),
        Some(x) => {
            Err(serde::de::Error::custom(format!("{x} is not a whole number 0..=9007199254740992")))
        }
    }
}

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 100;
/// Largest page size.
pub const MAX_LIMIT: u32 = 1000;

impl ListQuery {
    /// The page size asked for, clamped to 1..=[`MAX_LIMIT`].
    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT) as usize
    }

    /// The page size, or why it is refused (outside 1..=[`MAX_LIMIT`]).
    pub fn checked_limit(&self) -> Result<usize, String> {
        match self.limit {
            Some(l) if !(1..=MAX_LIMIT).contains(&l) => {
                Err(format!("limit must be 1..={MAX_LIMIT}, not {l}"))
            }
            _ => Ok(self.limit()),
        }
    }
}

/// What an API token may do. Each scope includes the ones before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read state: every `GET`.
    Read,
    /// Steer the fabric: on-demand path tests, remove a site.
    Operate,
    /// Change configuration and access: policies, tokens.
    Admin,
}

impl Scope {
    /// The lowercase name (`read`, `operate`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Operate => "operate",
            Self::Admin => "admin",
        }
    }

    /// Parses a lowercase name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Self::Read),
            "operate" => Some(Self::Operate),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// Whether a token of this scope may do what `needed` allows.
    pub fn allows(self, needed: Scope) -> bool {
        self >= needed
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scope_includes_the_lower_ones_and_not_the_higher() {
        assert!(Scope::Admin.allows(Scope::Read));
        assert!(Scope::Operate.allows(Scope::Operate));
        assert!(!Scope::Read.allows(Scope::Operate));
        assert!(!Scope::Operate.allows(Scope::Admin));
    }

    #[test]
    fn scopes_round_trip_through_their_names() {
        for s in [Scope::Read, Scope::Operate, Scope::Admin] {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert_eq!(Scope::parse("root"), None);
    }

    #[test]
    fn whole_numbers_deserialise_with_or_without_a_fraction() {
        let p = |j: &str| serde_json::from_str::<crate::PathTestRequest>(j).map(|r| r.probes);
        assert_eq!(p(r#"{"probes": 84}"#).unwrap(), Some(84));
        assert_eq!(p(r#"{"probes": 84.0}"#).unwrap(), Some(84));
        assert_eq!(p("{}").unwrap(), None);
        assert!(p(r#"{"probes": 8.5}"#).is_err());
        assert!(p(r#"{"probes": -1}"#).is_err());
    }

    #[test]
    fn page_size_is_clamped() {
        let q = |l| ListQuery { limit: l, ..ListQuery::default() };
        assert_eq!(q(None).limit(), 100);
        assert_eq!(q(Some(0)).limit(), 1);
        assert_eq!(q(Some(5000)).limit(), 1000);
    }
}
