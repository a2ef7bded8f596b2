//! `[[identity]]` and `[[identity_test]]` tables to [`IdentityRules`] and
//! [`IdentityTest`]s, every problem reported at its place in the file.

use weft_types::SpiffeId;

use crate::identity::{IdentityPattern, IdentityRule, IdentityRules, IdentityTest};
use crate::model::{Action, DEFAULT_PRIORITY};
use crate::raw::RawDocument;
use crate::validate::{Checker, name_or, parse_port_range};

fn action(c: &mut Checker<'_>, v: &toml::Spanned<String>, what: &str) -> Action {
    match v.get_ref().as_str() {
        "allow" => Action::Allow,
        "deny" => Action::Deny,
        o => {
            c.err(v.span(), format!("{what} must be \"allow\" or \"deny\", not {o:?}"));
            Action::Deny
        }
    }
}

/// Validates the identity rules and tests of `raw`.
pub(crate) fn validate(
    c: &mut Checker<'_>,
    raw: &RawDocument,
) -> (IdentityRules, Vec<IdentityTest>) {
    let mut rules = Vec::new();
    for (i, r) in raw.identity.iter().enumerate() {
        let at = c.loc(&r.span());
        let span = r.span();
        let r = r.get_ref();
        let action = action(c, &r.action, "action");
        let from = c.list(r.from.as_ref(), "from", false, |s| IdentityPattern::parse(s).map(Some));
        if r.from.is_none() {
            c.err(span, "an identity rule needs `from` (SPIFFE IDs, \"PREFIX/*\", \"anonymous\" or \"any\")");
        }
        let mut to = Vec::new();
        if let Some(v) = r.to.as_ref() {
            for s in c.strings(v, "to", false) {
                if s == "*" {
                    to.clear();
                    break;
                }
                if s.is_empty() || s.contains(char::is_whitespace) {
                    c.err(v.span(), format!("to: {s:?} is not a service name"));
                }
                to.push(s);
            }
        }
        rules.push(IdentityRule {
            name: name_or(c, r.name.as_ref(), "identity", i),
            action,
            priority: c.priority(r.priority.as_ref(), DEFAULT_PRIORITY),
            from,
            to,
            ports: c.list(r.ports.as_ref(), "ports", true, parse_port_range),
            at,
        });
    }

    let mut tests = Vec::new();
    for (i, t) in raw.identity_test.iter().enumerate() {
        let at = c.loc(&t.span());
        let t = t.get_ref();
        let from = match t.from.get_ref().as_str() {
            "anonymous" => None,
            s => match SpiffeId::parse(s) {
                Ok(id) => Some(id),
                Err(e) => {
                    c.err(t.from.span(), format!("from: {s:?}: {e} (or \"anonymous\")"));
                    None
                }
            },
        };
        let port = u16::try_from(*t.port.get_ref()).unwrap_or_else(|_| {
            c.err(t.port.span(), "port must be between 0 and 65535");
            0
        });
        tests.push(IdentityTest {
            name: name_or(c, t.name.as_ref(), "identity_test", i),
            from,
            to: t.to.get_ref().clone(),
            port,
            expect: action(c, &t.expect, "expect"),
            at,
        });
    }
    (IdentityRules { rules }, tests)
}
