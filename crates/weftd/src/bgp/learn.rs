//! What the routers taught this site: BIRD's routes from each importing
//! neighbor (`birdc show route protocol bgp_NAME`, once a second), parsed
//! ([`parse_routes`]) and checked ([`check`]): a route is taken only inside
//! `[bgp] learn` (BIRD's import filter already says so) and only when it
//! overlaps no prefix of a site of the mesh, this one included.
//!
//! Parsing never panics: a line that does not start with a prefix is not a
//! route and is skipped, so a BIRD that prints something new loses routes
//! rather than inventing them.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use weft_api::LearntPrefix;
use weft_types::IpPrefix;

/// The prefixes of the routes in `birdc show route` output: every line
/// whose first word is `ADDR/LEN` (continuation lines, `via ...` and
/// BIRD's banners start otherwise). Sorted, without duplicates.
pub(crate) fn parse_routes(text: &str) -> Vec<IpPrefix> {
    let mut out: Vec<IpPrefix> = text
        .lines()
        .filter(|l| !l.starts_with(char::is_whitespace))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.contains('/'))
        .filter_map(|w| IpPrefix::parse_strict(w).ok())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Which learnt routes (prefix → neighbor) the site takes: inside a
/// `learn` range and overlapping no `taken` prefix (site → its prefixes,
/// every site of the mesh including this one), except the very prefix
/// when another site learnt it too (`shared`: edges of one data centre;
/// the mesh routes it to one of them). Refused ones say why.
pub(crate) fn check(
    routes: &BTreeMap<IpPrefix, String>,
    learn: &[IpPrefix],
    taken: &[(String, IpPrefix)],
    shared: &std::collections::BTreeSet<IpPrefix>,
) -> Vec<LearntPrefix> {
    routes
        .iter()
        .map(|(prefix, neighbor)| {
            let refused = if learn.iter().any(|r| r.covers(prefix)) {
                taken
                    .iter()
                    .filter(|(_, p)| !(p == prefix && shared.contains(p)))
                    .find(|(_, p)| p.overlaps(prefix))
                    .map(|(site, p)| format!("overlaps site {site}'s prefix {p}"))
            } else {
                Some("outside [bgp] learn".to_owned())
            };
            LearntPrefix {
                prefix: prefix.to_string(),
                neighbor: neighbor.clone(),
                accepted: refused.is_none(),
                refused,
            }
        })
        .collect()
}

/// The routes BIRD holds from neighbor `name` (its protocol `bgp_NAME`).
pub(crate) fn read(socket: &Path, name: &str) -> Result<Vec<IpPrefix>> {
    let out = Command::new("birdc")
        .arg("-s")
        .arg(socket)
        .args(["show", "route", "protocol", &format!("bgp_{name}")])
        .output()
        .context("running birdc")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !text.contains("BIRD") {
        bail!("birdc show route protocol bgp_{name}: {}", text.trim());
    }
    Ok(parse_routes(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> IpPrefix {
        IpPrefix::parse(s).unwrap()
    }

    #[test]
    fn routes_are_the_lines_that_start_with_a_prefix() {
        let text = "BIRD 2.0.12 ready.\nTable master4:\n10.60.1.0/24         unicast [bgp_dc1 17:50:01.123 from 198.18.3.2] * (100) [AS65000i]\n\tvia 198.18.1.1 on u0\n                     unicast [bgp_dc2 17:50:02.000] (100) [AS65002i]\n10.60.2.0/24         unicast [bgp_dc1 17:50:01.123] * (100) [AS65000i]\n\tvia 198.18.1.1 on u0\n10.60.1.0/24 unicast [bgp_dc1] * (100)\n";
        assert_eq!(parse_routes(text), vec![p("10.60.1.0/24"), p("10.60.2.0/24")]);
    }

    #[test]
    fn garbage_and_half_lines_give_no_routes_and_no_panic() {
        for text in [
            "",
            "syntax error",
            "10.60.1.0/33 unicast",
            "10.60.1.1/24 host bits",
            "/24",
            "10.60.1.0/ x",
            "\u{0}\u{ffff}/ é/ø",
            "Table master4:\n 10.60.1.0/24 indented",
        ] {
            assert!(parse_routes(text).is_empty(), "{text:?}");
        }
    }

    #[test]
    fn a_route_is_taken_only_inside_learn_and_clear_of_every_sites_prefix() {
        let routes: BTreeMap<IpPrefix, String> = [
            (p("10.60.1.0/24"), "dc1".to_owned()),
            (p("10.99.1.0/24"), "dc1".to_owned()),
            (p("10.77.2.0/25"), "dc1".to_owned()),
            (p("10.77.0.0/16"), "dc1".to_owned()),
        ]
        .into();
        let learn = [p("10.60.0.0/16"), p("10.77.0.0/16")];
        let taken = [("a".to_owned(), p("10.77.1.0/24")), ("b".to_owned(), p("10.77.2.0/24"))];
        let got = check(&routes, &learn, &taken, &std::collections::BTreeSet::new());
        let accepted: Vec<&str> =
            got.iter().filter(|l| l.accepted).map(|l| l.prefix.as_str()).collect();
        assert_eq!(accepted, ["10.60.1.0/24"]);
        let why = |prefix: &str| {
            got.iter().find(|l| l.prefix == prefix).and_then(|l| l.refused.clone()).unwrap()
        };
        assert_eq!(why("10.99.1.0/24"), "outside [bgp] learn");
        assert_eq!(why("10.77.2.0/25"), "overlaps site b's prefix 10.77.2.0/24");
        assert!(why("10.77.0.0/16").starts_with("overlaps site a's"), "a covering route too");
    }

    #[test]
    fn the_very_prefix_another_edge_learnt_is_no_collision_but_an_overlapping_one_is() {
        let routes: BTreeMap<IpPrefix, String> =
            [(p("10.60.1.0/24"), "dc1".to_owned()), (p("10.60.2.0/23"), "dc1".to_owned())].into();
        let learn = [p("10.60.0.0/16")];
        // Site b (the other edge) advertises both 10.60.1.0/24 and 10.60.2.0/24.
        let taken = [("b".to_owned(), p("10.60.1.0/24")), ("b".to_owned(), p("10.60.2.0/24"))];
        let shared = [p("10.60.1.0/24"), p("10.60.2.0/24")].into();
        let got = check(&routes, &learn, &taken, &shared);
        assert!(got[0].accepted, "{got:?}");
        assert_eq!(got[1].refused.as_deref(), Some("overlaps site b's prefix 10.60.2.0/24"));
        let alone = check(&routes, &learn, &taken, &std::collections::BTreeSet::new());
        assert!(!alone[0].accepted, "a site's own prefix, not another edge's: {alone:?}");
    }
}
