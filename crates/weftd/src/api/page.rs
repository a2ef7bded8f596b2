//! Pagination: stable order by a key, opaque cursors, page sizes clamped.

use std::fmt::Display;
use std::str::FromStr;

use weft_api::{ListQuery, Page};

use super::error::{ApiResult, Failure};

/// One page of `items` (already filtered), ordered by `key`; the cursor is
/// the key of the last item returned.
pub(crate) fn page<T, K>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> K,
    q: &ListQuery,
) -> ApiResult<Page<T>>
where
    K: Ord + Display + FromStr,
{
    items.sort_by_key(|a| key(a));
    let total = items.len() as u64;
    let start = match &q.cursor {
        None => 0,
        Some(c) if c.is_empty() => {
            return Err(Failure::bad_request("an empty cursor is no position"));
        }
        Some(c) => {
            let after: K = c.parse().map_err(|_| {
                Failure::bad_request(format!("cursor {c:?} is not one this list gave"))
            })?;
            items.partition_point(|x| key(x) <= after)
        }
    };
    let limit = q.checked_limit().map_err(Failure::bad_request)?;
    let rest = items.split_off(start.min(items.len()));
    let more = rest.len() > limit;
    let items: Vec<T> = rest.into_iter().take(limit).collect();
    let next_cursor = if more { items.last().map(|x| key(x).to_string()) } else { None };
    Ok(Page { items, next_cursor, total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn following_cursors_visits_every_item_once_in_order() {
        let items: Vec<u32> = (0..1234).rev().collect();
        let mut q = ListQuery { limit: Some(500), ..ListQuery::default() };
        let mut seen = Vec::new();
        loop {
            let p = page(items.clone(), |x| *x, &q).unwrap();
            assert_eq!(p.total, 1234);
            seen.extend(p.items);
            match p.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, (0..1234).collect::<Vec<_>>());
    }

    #[test]
    fn a_page_size_outside_the_bounds_is_a_bad_request() {
        for l in [0, 1001] {
            let q = ListQuery { limit: Some(l), ..ListQuery::default() };
            assert_eq!(page(vec![1u32], |x| *x, &q).unwrap_err().1.code, "bad_request");
        }
    }

    #[test]
    fn a_cursor_that_does_not_parse_is_a_bad_request() {
        let q = ListQuery { cursor: Some("x".into()), ..ListQuery::default() };
        let e = page(vec![1u32], |x| *x, &q).unwrap_err();
        assert_eq!(e.1.code, "bad_request");
    }
}
