//! Identity rules through the whole document layer: parsed from TOML with
//! positions, decided with ACL precedence, and checked by `[[identity_test]]`.

use std::path::Path;

use weft_types::SpiffeId;

use crate::model::Action;
use crate::{parse, run_tests};

const DOC: &str = r#"[policy]
name = "zt"
default = "allow"

[[identity]]
name = "gateway to api"
action = "allow"
from = "spiffe://mesh.test/gateway/*"
to = "api"
ports = [8443]

[[identity]]
name = "no batch jobs"
action = "deny"
from = ["spiffe://mesh.test/batch/*"]
to = "*"

[[identity]]
name = "batch may read api"
action = "allow"
from = "spiffe://mesh.test/batch/*"
to = "api"

[[identity_test]]
name = "gateway reaches api"
from = "spiffe://mesh.test/gateway/edge"
to = "api"
port = 8443
expect = "allow"

[[identity_test]]
name = "batch is refused though an allow matches too"
from = "spiffe://mesh.test/batch/nightly"
to = "api"
port = 8443
expect = "deny"

[[identity_test]]
name = "anonymous is refused"
from = "anonymous"
to = "api"
port = 8443
expect = "deny"
"#;

#[test]
fn identity_rules_parse_and_their_tests_pass() {
    let policy = super::tests::compiled(DOC);
    let doc = &policy.document;
    assert_eq!(doc.identity.rules.len(), 3);
    assert_eq!(doc.identity.rules[0].at.line, 5);
    let gw = SpiffeId::parse("spiffe://mesh.test/gateway/edge").unwrap();
    assert_eq!(doc.identity.decide(Some(&gw), "api", 8443).action, Action::Allow);
    assert_eq!(doc.identity.decide(Some(&gw), "api", 80).action, Action::Deny);
    let outcomes = run_tests(&policy);
    assert_eq!(outcomes.len(), 3);
    assert!(outcomes.iter().all(|o| o.passed), "{outcomes:?}");
}

#[test]
fn a_wrong_expectation_fails_with_the_deciding_rule() {
    let text = DOC.replace(
        "port = 8443\nexpect = \"deny\"\n\n[[identity_test]]\nname = \"anonymous",
        "port = 8443\nexpect = \"allow\"\n\n[[identity_test]]\nname = \"anonymous",
    );
    let outcomes = run_tests(&super::tests::compiled(&text));
    let failed: Vec<_> = outcomes.iter().filter(|o| !o.passed).collect();
    assert_eq!(failed.len(), 1);
    let why = failed[0].failure.as_deref().unwrap();
    assert!(why.contains("denied (by identity rule \"no batch jobs\")"), "{why}");
    assert_eq!(failed[0].line, 31);
}

#[test]
fn bad_identities_are_reported_at_their_place() {
    let text = "[policy]\nname = \"t\"\ndefault = \"allow\"\n\n[[identity]]\naction = \"allow\"\nfrom = \"spiffe://Mesh/a\"\n\n[[identity_test]]\nfrom = \"web\"\nto = \"api\"\nport = 70000\nexpect = \"maybe\"\n";
    let errs = match parse(Path::new("p.toml"), text) {
        Ok(_) => panic!("accepted"),
        Err(d) => d.iter().map(ToString::to_string).collect::<Vec<_>>(),
    };
    let all = errs.join("\n");
    assert!(all.contains("p.toml:7:8") && all.contains("lowercase"), "{all}");
    assert!(all.contains("p.toml:10:8") && all.contains("\"web\""), "{all}");
    assert!(all.contains("p.toml:12:8") && all.contains("65535"), "{all}");
    assert!(all.contains("p.toml:13:10") && all.contains("\"maybe\""), "{all}");
    let no_from = "[policy]\nname = \"t\"\ndefault = \"allow\"\n[[identity]]\naction = \"deny\"\n";
    let errs = parse(Path::new("p.toml"), no_from).unwrap_err();
    assert!(errs.iter().any(|d| d.to_string().contains("needs `from`")), "{errs:?}");
}
