//! The two line formats, as pure functions of their fields.
//!
//! Both pass the message through [`redact`]: an API token (`weft_` and hex)
//! or a join token (`weft1.` and its body) that reached a message by mistake
//! is written as `weft_[redacted]` / `weft1.[redacted]`, never in clear.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::{Component, Level};

/// `weftd[SITE]: message\n`, or `weftd: message\n` without a site.
#[must_use]
pub fn human_line(site: Option<&str>, msg: fmt::Arguments<'_>) -> String {
    let msg = redact(&msg.to_string());
    match site {
        Some(site) => format!("weftd[{site}]: {msg}\n"),
        None => format!("weftd: {msg}\n"),
    }
}

#[derive(Serialize)]
struct JsonLine<'a> {
    ts: &'a str,
    level: &'a str,
    site: Option<&'a str>,
    component: &'a str,
    msg: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

/// One JSON object and a newline: `ts`, `level`, `site` (null when the
/// agent's site is not known yet), `component`, `msg`, and `request_id`
/// only when the line belongs to an API request.
#[must_use]
pub fn json_line(
    ts: &str,
    level: Level,
    component: Component,
    site: Option<&str>,
    msg: &str,
    request_id: Option<&str>,
) -> String {
    let msg = redact(msg);
    let line = JsonLine {
        ts,
        level: level.as_str(),
        site,
        component: component.as_str(),
        msg: &msg,
        request_id,
    };
    let mut s = serde_json::to_string(&line).unwrap_or_else(|_| String::from("{}"));
    s.push('\n');
    s
}

/// `t` as RFC 3339 in UTC with milliseconds: `2026-12-07T14:05:09.042Z`.
#[must_use]
pub fn rfc3339_ms(t: SystemTime) -> String {
    let ms = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let secs = u64::try_from(ms / 1000).unwrap_or(u64::MAX);
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (the
/// era-of-400-years method: an era is 146 097 days).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1st
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A secret with a recognisable shape: its prefix, then at least `min`
/// bytes of its body (so `weft_api_requests_total` is left alone).
struct SecretShape {
    prefix: &'static str,
    body: fn(u8) -> bool,
    min: usize,
}

/// API tokens (`weft_` and 64 hex digits) and join tokens (`weft1.` and
/// their base64url body and signature).
const SECRET_SHAPES: &[SecretShape] = &[
    SecretShape { prefix: "weft_", body: |b| b.is_ascii_hexdigit(), min: 16 },
    SecretShape {
        prefix: "weft1.",
        body: |b| b.is_ascii_alphanumeric() || b"-_.=+/".contains(&b),
        min: 16,
    },
];

/// `msg` with every API or join token replaced by its prefix and `[redacted]`.
#[must_use]
pub(crate) fn redact(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    'scan: while !rest.is_empty() {
        for &SecretShape { prefix, body, min } in SECRET_SHAPES {
            if let Some(tail) = rest.strip_prefix(prefix) {
                let n = tail.bytes().take_while(|b| body(*b)).count();
                if n >= min {
                    out.push_str(prefix);
                    out.push_str("[redacted]");
                    rest = &tail[n..];
                    continue 'scan;
                }
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_human_line_is_the_agents_historic_format() {
        let peer = "b";
        assert_eq!(
            human_line(Some("a"), format_args!("peer {peer} added")),
            "weftd[a]: peer b added\n"
        );
        assert_eq!(
            human_line(None, format_args!("API server stopped")),
            "weftd: API server stopped\n"
        );
    }

    #[test]
    fn a_json_line_is_valid_json_with_every_field() {
        let line = json_line(
            "2026-12-07T14:05:09.042Z",
            Level::Warn,
            Component::Api,
            Some("a"),
            "quote \" backslash \\ newline \n tab \t bell \u{7}",
            Some("req-1"),
        );
        assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'), "{line:?}");
        let v: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(v["ts"], "2026-12-07T14:05:09.042Z");
        assert_eq!(v["level"], "warn");
        assert_eq!(v["site"], "a");
        assert_eq!(v["component"], "api");
        assert_eq!(v["msg"], "quote \" backslash \\ newline \n tab \t bell \u{7}");
        assert_eq!(v["request_id"], "req-1");
        assert_eq!(v.as_object().unwrap().len(), 6);
    }

    #[test]
    fn a_json_line_outside_a_request_has_no_request_id_and_may_have_no_site() {
        let line = json_line("t", Level::Info, Component::Mesh, None, "m", None);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(v.get("request_id").is_none(), "{line}");
        assert!(v["site"].is_null(), "{line}");
    }

    #[test]
    fn tokens_never_reach_a_line_in_either_format() {
        let api = "weft_0123456789abcdef0123456789abcdef";
        let join = "weft1.eyJ2IjoxLCJtZXNoIjoiYWJjIn0.c2lnbmF0dXJlLWJ5dGVz";
        let msg = format!("token {api} and join {join}, metric weft_api_requests_total");
        let json = json_line("t", Level::Info, Component::Api, None, &msg, None);
        let human = human_line(None, format_args!("{msg}"));
        for line in [&json, &human] {
            assert!(!line.contains("0123456789abcdef"), "{line}");
            assert!(!line.contains("eyJ2Ijox"), "{line}");
            assert!(
                line.contains("weft_[redacted]") && line.contains("weft1.[redacted]"),
                "{line}"
            );
            assert!(line.contains("weft_api_requests_total"), "names stay: {line}");
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        let at = |ms: u64| rfc3339_ms(UNIX_EPOCH + Duration::from_millis(ms));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400_007), "2000-02-29T00:00:00.007Z");
        assert_eq!(at(1_796_652_309_042), "2026-12-07T14:05:09.042Z");
        assert_eq!(at(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }
}
