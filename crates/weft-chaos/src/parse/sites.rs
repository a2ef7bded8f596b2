//! Site-set expressions: `"s3"`, `"s0-s14"`, `"s0-s4, s9, hub"`.
//!
//! Items are separated by commas. An item is a site name, or a range
//! `PREFIXa-PREFIXb`: every site named `PREFIX` followed by a number from `a`
//! to `b` inclusive. An exact site name wins over a range reading, so sites
//! may have `-` in their names.

use std::ops::Range;

use weft_types::SiteId;

/// The sites `expr` names, in topology order. On failure, the byte range of
/// the offending item within `expr` and a message.
pub(crate) fn resolve(expr: &str, sites: &[SiteId]) -> Result<Vec<SiteId>, (Range<usize>, String)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for raw_item in expr.split(',') {
        let lead = raw_item.len() - raw_item.trim_start().len();
        let item = raw_item.trim();
        let at = offset + lead..offset + lead + item.len();
        offset += raw_item.len() + 1;
        if item.is_empty() {
            return Err((at, format!("empty item in site list {expr:?}")));
        }
        if let Some(s) = sites.iter().find(|s| s.as_str() == item) {
            out.push(s.clone());
            continue;
        }
        let Some((prefix, lo, hi)) = range(item) else {
            return Err((at, format!("unknown site {item:?} ({})", describe(sites))));
        };
        if lo > hi {
            return Err((
                at,
                format!("range {item:?} runs backwards: write {prefix}{hi}-{prefix}{lo}"),
            ));
        }
        for end in [lo, hi] {
            if !sites.iter().any(|s| s.as_str() == format!("{prefix}{end}")) {
                let msg =
                    format!("range {item:?}: unknown site \"{prefix}{end}\" ({})", describe(sites));
                return Err((at, msg));
            }
        }
        out.extend(
            sites
                .iter()
                .filter(|s| numbered(s.as_str(), prefix).is_some_and(|n| (lo..=hi).contains(&n)))
                .cloned(),
        );
    }
    let mut ordered: Vec<SiteId> = sites.iter().filter(|s| out.contains(s)).cloned().collect();
    ordered.dedup();
    Ok(ordered)
}

/// `PREFIXa-PREFIXb` → (`PREFIX`, a, b), trying every `-`.
fn range(item: &str) -> Option<(&str, u64, u64)> {
    item.match_indices('-').find_map(|(i, _)| {
        let (left, right) = (&item[..i], &item[i + 1..]);
        let digits = |s: &str| s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (dl, dr) = (digits(left), digits(right));
        if dl == 0 || dr == 0 {
            return None;
        }
        let prefix = &left[..left.len() - dl];
        if prefix != &right[..right.len() - dr] {
            return None;
        }
        Some((prefix, numbered(left, prefix)?, numbered(right, prefix)?))
    })
}

/// The number after `prefix` in `name`, if `name` is exactly `prefix` + digits.
fn numbered(name: &str, prefix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// "sites are s0 to s9", or the first few names.
pub(crate) fn describe(sites: &[SiteId]) -> String {
    let generated = sites.iter().enumerate().all(|(i, s)| s.as_str() == format!("s{i}"));
    match sites {
        [] => "there are no sites".to_owned(),
        [only] => format!("the only site is {only}"),
        [first, .., last] if generated => format!("sites are {first} to {last}"),
        _ if sites.len() <= 6 => {
            format!("sites are {}", sites.iter().map(SiteId::as_str).collect::<Vec<_>>().join(", "))
        }
        _ => format!(
            "sites are {}, … ({} in all)",
            sites[..5].iter().map(SiteId::as_str).collect::<Vec<_>>().join(", "),
            sites.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sites(names: &[&str]) -> Vec<SiteId> {
        names.iter().map(|n| SiteId::new(n).unwrap()).collect()
    }

    fn names(v: &[SiteId]) -> Vec<&str> {
        v.iter().map(SiteId::as_str).collect()
    }

    #[test]
    fn ranges_are_inclusive_and_keep_topology_order() {
        let all: Vec<SiteId> = (0..20).map(|i| SiteId::new(&format!("s{i}")).unwrap()).collect();
        let got = resolve("s12-s14, s2", &all).unwrap();
        assert_eq!(names(&got), ["s2", "s12", "s13", "s14"]);
        assert_eq!(resolve("s0-s19", &all).unwrap().len(), 20);
    }

    #[test]
    fn exact_names_win_over_ranges() {
        let all = sites(&["eu-1", "eu-2", "eu-1-eu-2"]);
        assert_eq!(names(&resolve("eu-1-eu-2", &all).unwrap()), ["eu-1-eu-2"]);
        assert_eq!(names(&resolve("eu-1-eu-2, eu-2", &all).unwrap()), ["eu-2", "eu-1-eu-2"]);
        assert!(resolve("eu-1 - eu-2", &all).is_err());
    }

    #[test]
    fn unknown_sites_are_reported_at_their_item() {
        let all = sites(&["s0", "s1", "s2"]);
        let (at, msg) = resolve("s0, s7", &all).unwrap_err();
        assert_eq!(at, 4..6);
        assert!(msg.contains("unknown site \"s7\"") && msg.contains("s0 to s2"), "{msg}");
        let (_, msg) = resolve("s2-s0", &all).unwrap_err();
        assert!(msg.contains("backwards"), "{msg}");
        let (at, _) = resolve("s0,,s1", &all).unwrap_err();
        assert_eq!(at, 3..3);
    }
}
