//! Durations and times as scenario files write them: `"500ms"`, `"90s"`,
//! `"10m"`, `"1h"`, and compounds such as `"1m30s"`.
//!
//! Times in a scenario (`at`, `start`, `stop`) are durations since the start
//! of the run, so they use the same syntax.

use std::fmt::Write as _;
use std::time::Duration;

/// Why a duration was refused. The message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// The text was empty (or only spaces).
    #[error("empty duration: write a number and a unit, e.g. \"90s\"")]
    Empty,
    /// A number without a unit, such as `"90"`.
    #[error("{0:?} has no unit: write e.g. \"{0}s\" or \"{0}ms\" (units: us, ms, s, m, h)")]
    MissingUnit(String),
    /// A unit that is not one of `us`, `ms`, `s`, `m`, `h`.
    #[error("unknown unit {unit:?} in {input:?}: use us, ms, s, m or h (e.g. \"1m30s\")")]
    UnknownUnit {
        /// The whole text.
        input: String,
        /// The offending unit.
        unit: String,
    },
    /// Something where a number was expected (a sign, a letter, two dots).
    #[error("{0:?} is not a duration: expected a number and a unit, e.g. \"500ms\" or \"1m30s\"")]
    Malformed(String),
    /// Longer than a scenario could ever run.
    #[error("{0:?} is too long")]
    TooLong(String),
}

/// Parses `"500ms"`, `"1.5s"`, `"90s"`, `"10m"`, `"1h"`, `"1m30s"`, or `"0"`.
///
/// Units: `us`, `ms`, `s`, `m` (minutes), `h`. Numbers may have a fraction.
/// Negative values and bare non-zero numbers are refused.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    if s.bytes().all(|b| b == b'0' || b == b'.') && s.starts_with('0') {
        return Ok(Duration::ZERO);
    }
    let mut rest = s;
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_end);
        let n: f64 = num.parse().map_err(|_| DurationError::Malformed(text.to_owned()))?;
        let after = after.trim_start();
        let unit_end = after.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let per_unit = match unit {
            "" => return Err(DurationError::MissingUnit(s.to_owned())),
            "us" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => {
                return Err(DurationError::UnknownUnit {
                    input: text.to_owned(),
                    unit: other.to_owned(),
                });
            }
        };
        let part = Duration::try_from_secs_f64(n * per_unit)
            .map_err(|_| DurationError::TooLong(text.to_owned()))?;
        total = total.checked_add(part).ok_or_else(|| DurationError::TooLong(text.to_owned()))?;
        rest = after;
    }
    Ok(total)
}

/// Formats a duration the way scenario files write them: `"1m30s"`, `"500ms"`,
/// `"2.5s"`, `"0s"`. [`parse_duration`] reads the result back exactly for
/// whole microseconds.
pub fn format_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_owned();
    }
    let micros = d.as_micros();
    if micros < 1_000_000 {
        return if micros.is_multiple_of(1_000) {
            format!("{}ms", micros / 1_000)
        } else if micros >= 1_000 {
            trim_fraction(format!("{:.3}", micros as f64 / 1e3)) + "ms"
        } else {
            format!("{micros}us")
        };
    }
    if !micros.is_multiple_of(1_000_000) {
        return trim_fraction(format!("{:.6}", micros as f64 / 1e6)) + "s";
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if m > 0 {
        let _ = write!(out, "{m}m");
    }
    if s > 0 {
        let _ = write!(out, "{s}s");
    }
    out
}

fn trim_fraction(s: String) -> String {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_units_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_mins(10)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_hours(1)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn compound_durations_add_up() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h2m3s"), Ok(Duration::from_secs(3723)));
        assert_eq!(parse_duration("1s500ms"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn bad_durations_say_what_to_write() {
        assert_eq!(parse_duration(" "), Err(DurationError::Empty));
        assert_eq!(parse_duration("90"), Err(DurationError::MissingUnit("90".into())));
        let e = parse_duration("5 parsecs").unwrap_err();
        assert!(e.to_string().contains("use us, ms, s, m or h"), "{e}");
        assert!(matches!(parse_duration("-5s"), Err(DurationError::Malformed(_))));
        assert!(matches!(parse_duration("1..5s"), Err(DurationError::Malformed(_))));
        assert!(matches!(parse_duration("10sec"), Err(DurationError::UnknownUnit { .. })));
        assert!(matches!(parse_duration("99999999999999999999h"), Err(DurationError::TooLong(_))));
    }

    #[test]
    fn formatting_is_compact_and_reads_back() {
        for (d, text) in [
            (Duration::ZERO, "0s"),
            (Duration::from_micros(250), "250us"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_micros(1_250), "1.25ms"),
            (Duration::from_millis(2_500), "2.5s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_hours(1), "1h"),
            (Duration::from_secs(3_723), "1h2m3s"),
        ] {
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(text), Ok(d), "{text}");
        }
    }
}
