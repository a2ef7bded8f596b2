//! Units parsed from human input: durations (`40ms`), bandwidths (`50mbit`),
//! ratios (`2%`). Errors say what was expected.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why a unit string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnitError {
    /// The number part did not parse, or was negative or not finite.
    #[error("{input:?} is not a valid {what}: expected {expected}")]
    Invalid {
        /// The offered text.
        input: String,
        /// What was being parsed ("duration", "bandwidth", "ratio").
        what: &'static str,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// A ratio above 100 %.
    #[error("{0:?} is more than 100%")]
    AboveHundred(String),
}

fn split_number(s: &str) -> Option<(f64, &str)> {
    let s = s.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(s.len());
    let n: f64 = s[..end].parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    Some((n, s[end..].trim()))
}

/// Parses a duration such as `40ms`, `1.5s`, `250us`, `2m`, `0`.
pub fn parse_duration(s: &str) -> Result<Duration, UnitError> {
    let err = || UnitError::Invalid {
        input: s.to_owned(),
        what: "duration",
        expected: "a non-negative number with ns, us, ms, s, m or h (e.g. 40ms)",
    };
    let (n, unit) = split_number(s).ok_or_else(err)?;
    let secs = match unit {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "" if n == 0.0 => 0.0,
        _ => return Err(err()),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| err())
}

/// Formats a duration compactly for humans: `850us`, `41.2ms`, `3.00s`.
pub fn format_duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0}us")
    } else if us < 1e6 {
        format!("{:.1}ms", us / 1e3)
    } else {
        format!("{:.2}s", us / 1e6)
    }
}

/// A bandwidth in bits per second.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Bandwidth(pub u64);

impl Bandwidth {
    /// Bits per second.
    pub fn bps(self) -> u64 {
        self.0
    }

    /// Megabits per second, for display and scoring.
    pub fn mbps(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// Parses `50mbit`, `1gbit`, `800kbit`, `1000bit`, `10mbps`, or a bare number of
    /// bits per second. `mbps` means megabits (as in tc), not megabytes.
    pub fn parse(s: &str) -> Result<Self, UnitError> {
        let err = || UnitError::Invalid {
            input: s.to_owned(),
            what: "bandwidth",
            expected: "a non-negative number with bit, kbit, mbit or gbit (e.g. 50mbit)",
        };
        let (n, unit) = split_number(s).ok_or_else(err)?;
        let mult = match unit.to_ascii_lowercase().as_str() {
            "" | "bit" | "bps" => 1.0,
            "k" | "kbit" | "kbps" => 1e3,
            "m" | "mbit" | "mbps" => 1e6,
            "g" | "gbit" | "gbps" => 1e9,
            _ => return Err(err()),
        };
        let v = n * mult;
        if v > u64::MAX as f64 {
            return Err(err());
        }
        Ok(Self(v.round() as u64))
    }
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0 as f64;
        if v >= 1e9 {
            write!(f, "{:.2}gbit", v / 1e9)
        } else if v >= 1e6 {
            write!(f, "{:.1}mbit", v / 1e6)
        } else if v >= 1e3 {
            write!(f, "{:.0}kbit", v / 1e3)
        } else {
            write!(f, "{}bit", self.0)
        }
    }
}

impl fmt::Debug for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A ratio in `[0, 1]`, e.g. a loss rate; written and parsed as a percentage.
#[derive(Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ratio(f64);

impl Ratio {
    /// Zero.
    pub const ZERO: Self = Self(0.0);
    /// One (100 %).
    pub const ONE: Self = Self(1.0);

    /// A ratio from a fraction, clamped to `[0, 1]` (NaN becomes 0).
    pub fn from_fraction(f: f64) -> Self {
        if f.is_nan() { Self(0.0) } else { Self(f.clamp(0.0, 1.0)) }
    }

    /// A ratio from a percentage, clamped to `[0, 100]`.
    pub fn from_percent(p: f64) -> Self {
        Self::from_fraction(p / 100.0)
    }

    /// The fraction in `[0, 1]`.
    pub fn fraction(self) -> f64 {
        self.0
    }

    /// The percentage in `[0, 100]`.
    pub fn percent(self) -> f64 {
        self.0 * 100.0
    }

    /// Parses `2%`, `0.5%` or a bare fraction `0.02`; refuses values above 100 %.
    pub fn parse(s: &str) -> Result<Self, UnitError> {
        let err = || UnitError::Invalid {
            input: s.to_owned(),
            what: "ratio",
            expected: "a percentage from 0% to 100% (e.g. 2%)",
        };
        let (n, unit) = split_number(s).ok_or_else(err)?;
        let frac = match unit {
            "%" => n / 100.0,
            "" => n,
            _ => return Err(err()),
        };
        if frac > 1.0 {
            return Err(UnitError::AboveHundred(s.to_owned()));
        }
        Ok(Self(frac))
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}%", self.percent())
    }
}

impl fmt::Debug for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("40ms").unwrap(), Duration::from_millis(40));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_mins(2));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
    }

    #[test]
    fn impossible_durations_are_refused() {
        for bad in ["-5ms", "40", "ms", "40 parsecs", "NaNms", "infs", ""] {
            assert!(parse_duration(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn bandwidths_parse_like_tc() {
        assert_eq!(Bandwidth::parse("50mbit").unwrap(), Bandwidth(50_000_000));
        assert_eq!(Bandwidth::parse("1gbit").unwrap(), Bandwidth(1_000_000_000));
        assert_eq!(Bandwidth::parse("800kbit").unwrap(), Bandwidth(800_000));
        assert_eq!(Bandwidth::parse("1200").unwrap(), Bandwidth(1200));
        assert!(Bandwidth::parse("-1mbit").is_err());
        assert!(Bandwidth::parse("5 parsecs").is_err());
        assert_eq!(Bandwidth(50_000_000).to_string(), "50.0mbit");
    }

    #[test]
    fn ratios_parse_percentages_and_refuse_more_than_all() {
        assert!((Ratio::parse("2%").unwrap().fraction() - 0.02).abs() < 1e-12);
        assert!((Ratio::parse("0.1").unwrap().fraction() - 0.1).abs() < 1e-12);
        assert_eq!(Ratio::parse("100%").unwrap(), Ratio::ONE);
        assert!(matches!(Ratio::parse("101%"), Err(UnitError::AboveHundred(_))));
        assert!(Ratio::parse("-1%").is_err());
        assert_eq!(Ratio::from_percent(150.0), Ratio::ONE);
        assert_eq!(Ratio::from_fraction(f64::NAN), Ratio::ZERO);
    }
}
