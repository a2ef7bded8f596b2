//! Identity rules: who (a SPIFFE identity, or an anonymous external client)
//! may call which service on which port. The zero-trust gateway and its
//! sidecar mode ask [`IdentityRules::decide`] once per connection.
//!
//! Precedence is the ACLs': the matching rule with the lowest `priority`
//! decides; at equal priority **deny beats allow**; then file order. A call
//! no rule matches is denied (zero trust: there is no identity default).
//!
//! ```toml
//! [[identity]]
//! name = "the edge gateway may call the api"
//! action = "allow"
//! from = "spiffe://mesh.test/gateway/*"   # exact ID, PREFIX/*, "anonymous" or "any"
//! to = "api"                              # service names, or "*"
//! ports = [8443]                          # optional: every port when absent
//!
//! [[identity_test]]
//! from = "spiffe://mesh.test/gateway/edge"
//! to = "api"
//! port = 8443
//! expect = "allow"
//! ```

use serde::Serialize;
use weft_types::{SpiffeId, TrustDomain};

use crate::model::{Action, Location};
use crate::space::Span;

/// Who a rule's `from` names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum IdentityPattern {
    /// Every caller, with or without an identity (`any`).
    Any,
    /// A caller without an SVID: a plain-TCP or server-only-TLS client of an
    /// ingress gateway (`anonymous`).
    Anonymous,
    /// Exactly this SPIFFE ID.
    Exact(SpiffeId),
    /// Every ID of the trust domain at or below the path
    /// (`spiffe://td/svc/*`; `spiffe://td/*` is the whole trust domain).
    Under {
        /// Trust domain.
        trust_domain: TrustDomain,
        /// Path prefix, whole segments (`/svc`, or empty).
        prefix: String,
    },
}

impl IdentityPattern {
    /// Parses `any`, `anonymous`, `spiffe://td/path` or `spiffe://td/path/*`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "any" => return Ok(Self::Any),
            "anonymous" => return Ok(Self::Anonymous),
            _ => {}
        }
        if let Some(base) = s.strip_suffix("/*") {
            let id = SpiffeId::parse(base).map_err(|e| format!("{s:?}: {e}"))?;
            return Ok(Self::Under {
                trust_domain: id.trust_domain().clone(),
                prefix: id.path().to_owned(),
            });
        }
        SpiffeId::parse(s).map(Self::Exact).map_err(|e| {
            format!(
                "{s:?}: {e} (write a SPIFFE ID, \"spiffe://TD/PATH/*\", \"anonymous\" or \"any\")"
            )
        })
    }

    /// Whether `caller` (None: no SVID) is one this pattern names.
    pub fn matches(&self, caller: Option<&SpiffeId>) -> bool {
        match (self, caller) {
            (Self::Any, _) | (Self::Anonymous, None) => true,
            (Self::Exact(id), Some(c)) => id == c,
            (Self::Under { trust_domain, prefix }, Some(c)) => c.is_under(trust_domain, prefix),
            _ => false,
        }
    }
}

/// One `[[identity]]` rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdentityRule {
    /// Name (given, or `identity[N]`).
    pub name: String,
    /// Verdict when it decides.
    pub action: Action,
    /// Priority: lower decides first.
    pub priority: i64,
    /// Callers it names; empty never happens after validation.
    pub from: Vec<IdentityPattern>,
    /// Services it names; empty means every service (`*`).
    pub to: Vec<String>,
    /// Ports; empty means every port.
    pub ports: Vec<Span<u16>>,
    /// Where it is written.
    pub at: Location,
}

impl IdentityRule {
    fn matches(&self, caller: Option<&SpiffeId>, service: &str, port: u16) -> bool {
        self.from.iter().any(|p| p.matches(caller))
            && (self.to.is_empty() || self.to.iter().any(|s| s == service))
            && (self.ports.is_empty() || self.ports.iter().any(|r| r.lo <= port && port <= r.hi))
    }
}

/// One `[[identity_test]]`: a call and the verdict it must get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdentityTest {
    /// Name.
    pub name: String,
    /// The caller (None: anonymous).
    pub from: Option<SpiffeId>,
    /// The service called.
    pub to: String,
    /// The port called.
    pub port: u16,
    /// The verdict expected.
    pub expect: Action,
    /// Where it is written.
    pub at: Location,
}

/// The verdict on one call and the rule that gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdentityDecision {
    /// Allow or deny.
    pub action: Action,
    /// The deciding rule's name; None when no rule matched (denied).
    pub rule: Option<String>,
}

/// A document's identity rules, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IdentityRules {
    /// The rules.
    pub rules: Vec<IdentityRule>,
}

impl IdentityRules {
    /// Decides whether `caller` (None: no SVID) may call `service` on `port`.
    pub fn decide(&self, caller: Option<&SpiffeId>, service: &str, port: u16) -> IdentityDecision {
        let best = self
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.matches(caller, service, port))
            // Lowest priority, then deny before allow, then file order.
            .min_by_key(|(i, r)| (r.priority, r.action == Action::Allow, *i));
        match best {
            Some((_, r)) => IdentityDecision { action: r.action, rule: Some(r.name.clone()) },
            None => IdentityDecision { action: Action::Deny, rule: None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DEFAULT_PRIORITY;

    fn rule(name: &str, action: Action, priority: i64, from: &str, to: &[&str]) -> IdentityRule {
        IdentityRule {
            name: name.to_owned(),
            action,
            priority,
            from: vec![IdentityPattern::parse(from).unwrap()],
            to: to.iter().map(|s| (*s).to_owned()).collect(),
            ports: Vec::new(),
            at: Location::default(),
        }
    }

    fn id(s: &str) -> SpiffeId {
        SpiffeId::parse(s).unwrap()
    }

    #[test]
    fn a_call_no_rule_matches_is_denied() {
        let rules = IdentityRules::default();
        let d = rules.decide(Some(&id("spiffe://t/a")), "api", 443);
        assert_eq!(d, IdentityDecision { action: Action::Deny, rule: None });
    }

    #[test]
    fn deny_beats_allow_at_equal_priority_whatever_the_order() {
        let allow = rule("allow-all", Action::Allow, DEFAULT_PRIORITY, "spiffe://t/*", &[]);
        let deny = rule("no-batch", Action::Deny, DEFAULT_PRIORITY, "spiffe://t/batch/*", &["api"]);
        for rules in [vec![allow.clone(), deny.clone()], vec![deny, allow]] {
            let rules = IdentityRules { rules };
            let d = rules.decide(Some(&id("spiffe://t/batch/nightly")), "api", 1);
            assert_eq!(d.action, Action::Deny);
            assert_eq!(d.rule.as_deref(), Some("no-batch"));
            assert_eq!(rules.decide(Some(&id("spiffe://t/web")), "api", 1).action, Action::Allow);
        }
    }

    #[test]
    fn a_lower_priority_number_decides_first() {
        let rules = IdentityRules {
            rules: vec![
                rule("deny", Action::Deny, 1000, "any", &["api"]),
                rule("exception", Action::Allow, 10, "spiffe://t/gw", &["api"]),
            ],
        };
        assert_eq!(rules.decide(Some(&id("spiffe://t/gw")), "api", 1).action, Action::Allow);
        assert_eq!(rules.decide(Some(&id("spiffe://t/gw2")), "api", 1).action, Action::Deny);
    }

    #[test]
    fn patterns_match_what_they_say() {
        let p = |s| IdentityPattern::parse(s).unwrap();
        assert!(p("anonymous").matches(None));
        assert!(!p("anonymous").matches(Some(&id("spiffe://t/a"))));
        assert!(p("any").matches(None));
        assert!(p("spiffe://t/*").matches(Some(&id("spiffe://t/a/b"))));
        assert!(!p("spiffe://t/*").matches(Some(&id("spiffe://u/a"))));
        assert!(!p("spiffe://t/*").matches(None));
        assert!(p("spiffe://t/svc/*").matches(Some(&id("spiffe://t/svc"))));
        assert!(!p("spiffe://t/svc/*").matches(Some(&id("spiffe://t/svcx"))));
        assert!(p("spiffe://t/a").matches(Some(&id("spiffe://t/a"))));
        assert!(!p("spiffe://t/a").matches(Some(&id("spiffe://t/a/b"))));
        assert!(IdentityPattern::parse("spiffe://T/a").is_err());
        assert!(IdentityPattern::parse("web").is_err());
    }

    #[test]
    fn ports_and_services_narrow_a_rule() {
        let mut r = rule("web", Action::Allow, 1, "any", &["api"]);
        r.ports = vec![Span { lo: 8000, hi: 8080 }];
        let rules = IdentityRules { rules: vec![r] };
        assert_eq!(rules.decide(None, "api", 8080).action, Action::Allow);
        assert_eq!(rules.decide(None, "api", 8081).action, Action::Deny);
        assert_eq!(rules.decide(None, "db", 8000).action, Action::Deny);
    }
}
