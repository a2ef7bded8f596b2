//! Tests of the document layer: parsing and diagnostics, precedence,
//! resolution, policy tests, lint and diff, and a randomised check that the
//! compiled policy agrees with a naive evaluator of the document's meaning.

use std::path::Path;

use weft_types::{FlowKey, IpProtocol};

use crate::model::Action;
use crate::space::FlowPoint;
use crate::{CompiledPolicy, SiteDirectory, compile, diff, lint, parse, run_tests};

#[path = "tests_reference.rs"]
mod reference;

pub(crate) fn compiled(text: &str) -> CompiledPolicy {
    let doc = parse(Path::new("p.toml"), text).unwrap_or_else(|e| panic!("{e:?}"));
    let dir = SiteDirectory::from_document(&doc);
    compile(&doc, &dir).unwrap_or_else(|e| panic!("{e}")).0
}

fn errors(text: &str) -> Vec<String> {
    match parse(Path::new("p.toml"), text) {
        Ok(doc) => match compile(&doc, &SiteDirectory::from_document(&doc)) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        },
        Err(d) => d.iter().map(ToString::to_string).collect(),
    }
}

pub(crate) fn flow(proto: IpProtocol, src: &str, dst: &str, port: u16) -> FlowPoint {
    let key = FlowKey {
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        protocol: proto,
        src_port: 40_000,
        dst_port: port,
    };
    FlowPoint::new(&key, 0)
}

fn verdict(p: &CompiledPolicy, f: &FlowPoint) -> (Action, String) {
    let c = p.classify(f);
    (c.action, p.acl_name(&c).to_owned())
}

const HEADER: &str = "[policy]\nname = \"t\"\ndefault = \"allow\"\n";

#[test]
fn errors_name_the_line_and_column_of_the_bad_value() {
    let e = errors(&format!("{HEADER}\n[[acl]]\naction = \"allow\"\nports = \"99999\"\n"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("p.toml:7:9: ports:"), "{e:?}");
    let e = errors("[policy]\nname = \"t\"\ndefault = \"allow\"\nbogus = 1\n");
    assert!(e[0].starts_with("p.toml:4:1:") && e[0].contains("unknown field"), "{e:?}");
}

#[test]
fn the_default_verdict_must_be_written_explicitly() {
    let e = errors("[policy]\nname = \"t\"\n");
    assert!(e[0].contains("default = \\\"allow\\\"") || e[0].contains("needs `default"), "{e:?}");
}

#[test]
fn ipv6_prefixes_with_letters_are_prefixes_not_member_kinds() {
    assert_eq!(crate::validate::parse_member("::/0").unwrap().to_string(), "::/0");
    assert_eq!(crate::validate::parse_member("abcd::/16").unwrap().to_string(), "abcd::/16");
    assert!(crate::validate::parse_member("role:branch").unwrap().to_string() == "role:branch");
    assert!(crate::validate::parse_member("colour:red").is_err());
}

#[test]
fn unknown_groups_and_cycles_are_errors_with_positions() {
    let e = errors(&format!("{HEADER}\n[[acl]]\naction = \"deny\"\nfrom = \"group:ghost\"\n"));
    assert!(
        e.iter().any(|x| x.contains("p.toml:5:1") && x.contains("unknown group \"ghost\"")),
        "{e:?}"
    );
    let e = errors(&format!(
        "{HEADER}\n[groups]\na = [\"group:b\"]\nb = [\"group:a\"]\n\n[[acl]]\naction = \"deny\"\nfrom = \"group:a\"\n"
    ));
    assert!(e.iter().any(|x| x.contains("contains itself")), "{e:?}");
}

#[test]
fn deny_beats_allow_at_equal_priority_and_lower_priority_numbers_win() {
    let p = compiled(&format!(
        "{HEADER}
[[acl]]
name = \"allow-web\"
action = \"allow\"
protocol = \"tcp\"
ports = 443
[[acl]]
name = \"deny-b\"
action = \"deny\"
to = \"10.2.0.0/16\"
[[acl]]
name = \"early-allow\"
action = \"allow\"
priority = 10
to = \"10.2.0.7\"
"
    ));
    let web_b = flow(IpProtocol::TCP, "10.1.0.1", "10.2.0.1", 443);
    assert_eq!(verdict(&p, &web_b), (Action::Deny, "deny-b".to_owned()));
    let web_c = flow(IpProtocol::TCP, "10.1.0.1", "10.3.0.1", 443);
    assert_eq!(verdict(&p, &web_c), (Action::Allow, "allow-web".to_owned()));
    let early = flow(IpProtocol::UDP, "10.1.0.1", "10.2.0.7", 53);
    assert_eq!(verdict(&p, &early), (Action::Allow, "early-allow".to_owned()));
    let other = flow(IpProtocol::UDP, "10.1.0.1", "10.9.0.1", 53);
    assert_eq!(verdict(&p, &other), (Action::Allow, "default".to_owned()));
}

#[test]
fn prefix_edges_match_exactly_for_both_families() {
    let p = compiled(
        "[policy]\nname = \"t\"\ndefault = \"allow\"
[[acl]]
name = \"v4-host\"
action = \"deny\"
to = \"192.0.2.255/32\"
[[acl]]
name = \"v6-net\"
action = \"deny\"
to = \"2001:db8::/32\"
[[acl]]
name = \"v4-all-udp\"
action = \"deny\"
priority = 2000
to = \"0.0.0.0/0\"
protocol = \"udp\"
",
    );
    let d = |dst: &str, proto| {
        verdict(
            &p,
            &flow(proto, if dst.contains(':') { "2001:db8:1::1" } else { "10.0.0.1" }, dst, 80),
        )
        .1
    };
    assert_eq!(d("192.0.2.255", IpProtocol::TCP), "v4-host");
    assert_eq!(d("192.0.2.254", IpProtocol::TCP), "default");
    assert_eq!(d("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", IpProtocol::TCP), "v6-net");
    assert_eq!(d("2001:db9::", IpProtocol::TCP), "default");
    // 0.0.0.0/0 is every IPv4 address and no IPv6 one.
    assert_eq!(d("255.255.255.255", IpProtocol::UDP), "v4-all-udp");
    assert_eq!(d("::ffff:10.0.0.1", IpProtocol::UDP), "default");
}

#[test]
fn port_ranges_include_both_ends_and_nothing_more() {
    let p = compiled(&format!(
        "{HEADER}\n[[acl]]\nname = \"r\"\naction = \"deny\"\nprotocol = \"udp\"\nports = [\"5060-5061\", 65535, 0]\n"
    ));
    let at = |port| verdict(&p, &flow(IpProtocol::UDP, "10.0.0.1", "10.0.0.2", port)).1;
    assert_eq!([at(5059), at(5060), at(5061), at(5062)], ["default", "r", "r", "default"]);
    assert_eq!([at(0), at(1), at(65534), at(65535)], ["r", "default", "default", "r"]);
}

#[test]
fn an_isolated_segment_denies_in_and_out_but_explicit_rules_grant_exceptions() {
    let p = compiled(&format!(
        "{HEADER}
[segments.pci]
members = [\"10.3.50.0/24\"]
isolated = true
[[acl]]
name = \"dc-web\"
action = \"allow\"
from = \"10.3.0.0/16\"
to = \"segment:pci\"
protocol = \"tcp\"
ports = 443
"
    ));
    let v = |s, d, port| verdict(&p, &flow(IpProtocol::TCP, s, d, port)).0;
    assert_eq!(v("10.1.0.1", "10.3.50.9", 22), Action::Deny);
    assert_eq!(v("10.3.50.9", "10.1.0.1", 22), Action::Deny);
    assert_eq!(v("10.3.50.9", "10.3.50.10", 22), Action::Allow);
    assert_eq!(v("10.3.1.1", "10.3.50.9", 443), Action::Allow);
    assert_eq!(v("10.1.0.1", "10.2.0.1", 22), Action::Allow);
}

#[test]
fn sites_roles_and_regions_resolve_through_the_directory() {
    let p = compiled(&format!(
        "{HEADER}
[sites.paris]
prefixes = [\"10.1.0.0/16\"]
role = \"branch\"
[sites.dc]
prefixes = [\"10.3.0.0/16\"]
region = \"eu-west\"
[[acl]]
name = \"branch-to-eu\"
action = \"deny\"
from = \"role:branch\"
to = \"region:eu-west\"
"
    ));
    assert_eq!(verdict(&p, &flow(IpProtocol::TCP, "10.1.2.3", "10.3.2.1", 1)).1, "branch-to-eu");
    assert_eq!(verdict(&p, &flow(IpProtocol::TCP, "10.3.2.1", "10.1.2.3", 1)).1, "default");
}

#[test]
fn routes_pick_profiles_and_unmatched_flows_get_the_default_class() {
    let p = compiled(&format!(
        "{HEADER}
[apps.voip]
protocol = \"udp\"
ports = \"5060-5061\"
[[route]]
name = \"voice\"
app = \"voip\"
class = \"realtime\"
exclude_uplinks = [\"lte\"]
[[route]]
name = \"bulk\"
protocol = \"tcp\"
ports = 873
class = \"bulk\"
prefer = \"lowest-cost\"
uplinks = [\"lte\"]
"
    ));
    let class = |proto, port| {
        let c = p.classify(&flow(proto, "10.0.0.1", "10.0.0.2", port));
        (p.route_name(&c).to_owned(), p.profiles[c.profile as usize].class.clone())
    };
    assert_eq!(class(IpProtocol::UDP, 5061), ("voice".to_owned(), "realtime".to_owned()));
    assert_eq!(class(IpProtocol::TCP, 873), ("bulk".to_owned(), "bulk".to_owned()));
    assert_eq!(class(IpProtocol::TCP, 874), ("default".to_owned(), "best-effort".to_owned()));
    let lte = |n: &str| (n == "lte").then_some(weft_types::UplinkId(1));
    let voice = p.selection_policy(1, lte);
    assert_eq!(voice.exclude_uplinks, vec![weft_types::UplinkId(1)]);
    assert_eq!(voice.sla.name, "realtime");
    let bulk = p.selection_policy(2, lte);
    assert_eq!(bulk.prefer_uplinks, vec![weft_types::UplinkId(1)]);
    assert_eq!(bulk.preference, weft_path::PathPreference::LowestCost);
}

#[test]
fn custom_weights_become_a_weighted_preference_and_bad_ones_are_refused() {
    let p = compiled(&format!(
        "{HEADER}\n[[route]]\nclass = \"bulk\"\nprefer = \"weighted\"\nweights = {{ latency = 0.6, cost = 0.4 }}\n"
    ));
    let sel = p.selection_policy(1, |_| None);
    assert_eq!(
        sel.preference,
        weft_path::PathPreference::Weighted(weft_path::Weights {
            latency: 0.6,
            jitter: 0.0,
            loss: 0.0,
            bandwidth: 0.0,
            cost: 0.4
        })
    );
    let e =
        errors(&format!("{HEADER}\n[[route]]\nclass = \"bulk\"\nweights = {{ latency = -1.0 }}\n"));
    assert!(e.iter().any(|x| x.contains("p.toml:7:11") && x.contains("non-negative")), "{e:?}");
    let e = errors(&format!("{HEADER}\n[[route]]\nclass = \"bulk\"\nprefer = \"weighted\"\n"));
    assert!(e.iter().any(|x| x.contains("needs a weights table")), "{e:?}");
}

#[test]
fn a_policy_expanding_to_too_many_boxes_is_refused_not_built() {
    let ports: Vec<String> = (0..150).map(|p| p.to_string()).collect();
    let froms: Vec<String> = (0..150).map(|i| format!("\"10.{i}.0.0/16\"")).collect();
    let text = format!(
        "{HEADER}\n[[acl]]\naction = \"deny\"\nfrom = [{}]\nports = [{}]\n",
        froms.join(", "),
        ports.join(", ")
    );
    let e = errors(&text);
    assert!(e.iter().any(|x| x.contains("too-complex") && x.contains("22500 boxes")), "{e:?}");
}

#[test]
fn policy_tests_check_every_flow_they_describe_and_report_a_counterexample() {
    let p = compiled(&format!(
        "{HEADER}
[groups]
guest = [\"10.9.0.0/16\"]
finance = [\"10.2.0.0/24\"]
[[acl]]
name = \"guest-finance-web-only\"
action = \"deny\"
from = \"group:guest\"
to = \"group:finance\"
protocol = \"tcp\"
[[test]]
name = \"guest cannot reach finance\"
from = \"group:guest\"
to = \"group:finance\"
expect = \"deny\"
[[test]]
name = \"guest tcp to finance is denied\"
from = \"group:guest\"
to = \"group:finance\"
protocol = \"tcp\"
expect = \"deny\"
"
    ));
    let r = run_tests(&p);
    assert!(!r[0].passed, "udp from guest to finance is allowed, so the first test must fail");
    let why = r[0].failure.as_deref().unwrap();
    assert!(why.contains("is allowed by the default") && why.contains("10.9.0.0"), "{why}");
    assert!(r[1].passed, "{:?}", r[1]);
}

#[test]
fn a_rule_covered_by_earlier_rules_is_reported_as_shadowed() {
    let p = compiled(&format!(
        "{HEADER}
[[acl]]
name = \"a\"
action = \"deny\"
to = \"10.0.0.0/9\"
[[acl]]
name = \"b\"
action = \"deny\"
to = \"10.128.0.0/9\"
[[acl]]
name = \"late\"
action = \"allow\"
priority = 2000
to = \"10.5.0.0/16\"
protocol = \"tcp\"
[[acl]]
name = \"partly\"
action = \"allow\"
priority = 2000
to = \"12.0.0.0/7\"
"
    ));
    let f = lint(&p);
    let shadowed: Vec<&str> =
        f.iter().filter(|x| x.code == "shadowed").map(|x| x.message.as_str()).collect();
    assert_eq!(shadowed.len(), 1, "{f:?}");
    assert!(shadowed[0].contains("\"late\"") && shadowed[0].contains("\"a\""), "{shadowed:?}");
}

#[test]
fn uplink_names_the_inventory_lacks_are_flagged_but_ipsec_gateways_are_not() {
    let p = compiled(&format!(
        "{HEADER}
[sites.paris]
prefixes = [\"10.1.0.0/16\"]
uplinks = [\"fiber\"]
[[route]]
name = \"voice\"
protocol = \"udp\"
class = \"realtime\"
uplinks = [\"ipsec:cloud\", \"fibre\"]
exclude_uplinks = [\"ipsec:dc\"]
"
    ));
    let unknown: Vec<String> =
        lint(&p).into_iter().filter(|f| f.code == "unknown-uplink").map(|f| f.message).collect();
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert!(unknown[0].contains("\"fibre\""), "{unknown:?}");
}

#[test]
fn diff_lists_rule_changes_and_flows_that_change_verdict() {
    let old = compiled(&format!(
        "{HEADER}\n[[acl]]\nname = \"x\"\naction = \"deny\"\nto = \"10.2.0.0/16\"\n"
    ));
    let new = compiled(&format!(
        "{HEADER}\n[[acl]]\nname = \"x\"\naction = \"deny\"\nto = \"10.2.0.0/24\"\n[[route]]\nname = \"v\"\nprotocol = \"udp\"\nclass = \"realtime\"\n"
    ));
    let d = diff(&old, &new, 10);
    assert!(d.rules.iter().any(|r| r.starts_with("~ acl \"x\"")), "{d:?}");
    assert!(d.rules.iter().any(|r| r.starts_with("+ route \"v\"")), "{d:?}");
    assert!(
        d.verdicts.iter().any(|c| c.before.starts_with("deny")
            && c.after.starts_with("allow")
            && c.flow.contains("10.2.1.0")),
        "{d:?}"
    );
    assert!(d.routing.iter().any(|c| c.after.contains("realtime")), "{d:?}");
    assert!(diff(&old, &old, 10).is_empty());
}

#[test]
fn the_example_policy_lints_clean_and_passes_its_tests() {
    let text = include_str!("../../../examples/policy/corp.toml");
    let p = compiled(text);
    assert!(run_tests(&p).iter().all(|t| t.passed), "{:?}", run_tests(&p));
    assert!(lint(&p).is_empty(), "{:?}", lint(&p));
}

#[test]
fn classes_carry_their_scheduler_settings_with_defaults_and_checked_values() {
    let doc = parse(
        Path::new("p.toml"),
        &format!(
            "{HEADER}\n[classes.voice]\nqueue = \"priority\"\ndscp = 46\nceiling = \"20mbit\"\n\n[classes.backup]\nweight = 3\n"
        ),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let voice = &doc.classes["voice"].qos;
    assert!(voice.priority);
    assert_eq!((voice.dscp, voice.ceiling_bps), (46, Some(20_000_000)));
    assert_eq!(doc.classes["backup"].qos.weight, 3);
    assert!(!doc.classes["backup"].qos.priority);
    let realtime = &doc.classes["realtime"].qos;
    assert!(realtime.priority && realtime.dscp == 46, "{realtime:?}");
    assert_eq!(doc.classes["bulk"].qos.weight, 1);
    let e = errors(&format!(
        "{HEADER}\n[classes.x]\nqueue = \"fast\"\nweight = 0\ndscp = 64\nceiling = \"lots\"\n"
    ));
    assert_eq!(e.len(), 4, "{e:?}");
    assert!(e[0].starts_with("p.toml:6:9:") && e[0].contains("queue must be"), "{e:?}");
    assert!(e.iter().any(|m| m.starts_with("p.toml:7:10:") && m.contains("weight")), "{e:?}");
    assert!(e.iter().any(|m| m.starts_with("p.toml:8:8:") && m.contains("dscp")), "{e:?}");
}
