//! Human output: tables, bytes, durations, percentages, times; and `--json`.
//!
//! Missing values print as `-`. Tables are plain (no borders, no colour),
//! two spaces between columns, numbers right-aligned, so they read well in
//! a terminal and in a pipe alike.

use std::fmt::{Arguments, Display, Write as _};
use std::io::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use comfy_table::{CellAlignment, Table as Comfy, presets};
use serde::Serialize;

/// Writes to stdout. A closed pipe (`weft events | head`) ends the process
/// quietly with exit code 0, as ripgrep does, instead of `println!`'s panic.
pub(crate) fn emit(args: Arguments<'_>) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        panic!("failed printing to stdout: {e}");
    }
}

/// `print!` through [`emit`].
macro_rules! out {
    ($($arg:tt)*) => { $crate::cmd::output::emit(format_args!($($arg)*)) };
}

/// `println!` through [`emit`].
macro_rules! outln {
    () => { $crate::cmd::output::emit(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cmd::output::emit(format_args!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {out, outln};

/// `-` for a missing value.
pub(crate) const MISSING: &str = "-";

/// `value` formatted, or `-`.
pub(crate) fn or_dash<T>(value: Option<T>, f: impl FnOnce(T) -> String) -> String {
    value.map_or_else(|| MISSING.to_owned(), f)
}

/// Bytes with binary units: `512 B`, `1.5 KiB`, `1.5 MiB`, ..., `2.0 PiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1023.95 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// A duration given in milliseconds: `0.42 ms`, `12.3 ms`, `250 ms`, `1.2 s`,
/// `42 s`, `12 min 5 s`, `3 h 12 min`, `2 d 4 h`. Negative or not finite: `-`.
pub(crate) fn ms(millis: f64) -> String {
    if !millis.is_finite() || millis < 0.0 {
        return MISSING.to_owned();
    }
    if millis < 9.995 {
        return format!("{millis:.2} ms");
    }
    if millis < 99.95 {
        return format!("{millis:.1} ms");
    }
    if millis < 999.5 {
        return format!("{millis:.0} ms");
    }
    let seconds = millis / 1000.0;
    if seconds < 9.95 {
        return format!("{seconds:.1} s");
    }
    if seconds < 59.5 {
        return format!("{seconds:.0} s");
    }
    let total = seconds.round() as u64;
    let (days, hours) = (total / 86_400, total / 3600 % 24);
    let (minutes, rest) = (total / 60 % 60, total % 60);
    if days > 0 {
        format!("{days} d {hours} h")
    } else if hours > 0 {
        format!("{hours} h {minutes} min")
    } else {
        format!("{minutes} min {rest} s")
    }
}

/// A duration given in seconds (see [`ms`]).
pub(crate) fn secs(v: f64) -> String {
    ms(v * 1000.0)
}

/// An optional millisecond value (see [`ms`]).
pub(crate) fn opt_ms(v: Option<f64>) -> String {
    or_dash(v, ms)
}

/// A percentage: `0%`, `12.5%`, `0.1%`.
pub(crate) fn pct(v: f64) -> String {
    if !v.is_finite() {
        return MISSING.to_owned();
    }
    let r = (v * 10.0).round() / 10.0;
    if r.fract() == 0.0 { format!("{r:.0}%") } else { format!("{r:.1}%") }
}

/// A score or other unitless number with four significant digits, trailing
/// zeros dropped: `0.005123`, `12.35`, `1234`.
pub(crate) fn sig4(v: f64) -> String {
    if !v.is_finite() {
        return MISSING.to_owned();
    }
    if v == 0.0 {
        return "0".to_owned();
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = usize::try_from(3 - magnitude).unwrap_or(0);
    let s = format!("{v:.decimals$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s }
}

/// Several millisecond values with one unit and as many decimals as the
/// largest needs: `0.42/0.50/0.91 ms`, `12.1/15.0/20.3 ms`, `120/130/150 ms`.
pub(crate) fn ms_series(values: &[Option<f64>]) -> String {
    let max = values.iter().flatten().fold(0.0_f64, |a, &b| a.max(b));
    let decimals: usize = match max {
        m if m < 10.0 => 2,
        m if m < 100.0 => 1,
        _ => 0,
    };
    let parts: Vec<String> =
        values.iter().map(|v| or_dash(*v, |v| format!("{v:.decimals$}"))).collect();
    format!("{} ms", parts.join("/"))
}

/// Wall-clock now, Unix milliseconds.
pub(crate) fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Unix seconds as `2026-12-01 22:57:41Z` (proleptic Gregorian, UTC).
pub(crate) fn utc(unix_s: i64) -> String {
    let (days, rem) = (unix_s.div_euclid(86_400), unix_s.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm), days since 1970-01-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Unix milliseconds as `2026-12-01 22:57:41.123Z`.
pub(crate) fn utc_ms(unix_ms: i64) -> String {
    let s = utc(unix_ms.div_euclid(1000));
    format!("{}.{:03}Z", s.trim_end_matches('Z'), unix_ms.rem_euclid(1000))
}

/// A public key shortened to its first 8 characters and `…`.
pub(crate) fn short_key(key: &str) -> String {
    if key.chars().count() <= 11 {
        key.to_owned()
    } else {
        format!("{}…", key.chars().take(8).collect::<String>())
    }
}

/// A list joined with `, `, or `-` when empty.
pub(crate) fn list(items: &[impl Display]) -> String {
    if items.is_empty() {
        return MISSING.to_owned();
    }
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// `label  value` lines, the values aligned after the longest label.
pub(crate) fn fields(rows: &[(&str, String)]) -> String {
    let w = rows.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0);
    rows.iter().fold(String::new(), |mut out, (l, v)| {
        let _ = writeln!(out, "{l:<w$}  {v}");
        out
    })
}

/// Prints `value` as pretty JSON on stdout.
pub(crate) fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A plain table; columns listed in `right` are right-aligned.
pub(crate) struct Table {
    inner: Comfy,
    right: Vec<usize>,
}

impl Table {
    /// A table with these column headers.
    pub(crate) fn new(headers: &[&str]) -> Self {
        let mut inner = Comfy::new();
        inner.load_preset(presets::NOTHING);
        inner.set_header(headers.to_vec());
        Self { inner, right: Vec::new() }
    }

    /// Right-aligns the columns at these indexes.
    #[must_use]
    pub(crate) fn right(mut self, columns: &[usize]) -> Self {
        self.right = columns.to_vec();
        self
    }

    /// Adds a row.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.inner.add_row(cells);
    }

    /// Whether it has no rows.
    pub(crate) fn is_empty(&self) -> bool {
        self.inner.row_count() == 0
    }

    /// The table as text, without trailing spaces.
    pub(crate) fn render(mut self) -> String {
        let n = self.inner.column_count();
        for i in 0..n {
            if let Some(c) = self.inner.column_mut(i) {
                c.set_padding((0, if i + 1 == n { 0 } else { 2 }));
                if self.right.contains(&i) {
                    c.set_cell_alignment(CellAlignment::Right);
                }
            }
        }
        self.inner.lines().map(|l| l.trim_end().to_owned()).collect::<Vec<_>>().join("\n")
    }

    /// Prints the table, or `empty` when it has no rows.
    pub(crate) fn print_or(self, empty: &str) {
        if self.is_empty() {
            outln!("{empty}");
        } else {
            outln!("{}", self.render());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_use_binary_units_with_one_decimal() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(1536 * 1024), "1.5 MiB");
        assert_eq!(bytes(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(bytes(5 * (1 << 30)), "5.0 GiB");
        assert_eq!(bytes(u64::MAX), "16384.0 PiB");
    }

    #[test]
    fn durations_pick_a_unit_and_precision_by_size() {
        assert_eq!(ms(0.42), "0.42 ms");
        assert_eq!(ms(3.216), "3.22 ms");
        assert_eq!(ms(12.34), "12.3 ms");
        assert_eq!(ms(250.4), "250 ms");
        assert_eq!(ms(1200.0), "1.2 s");
        assert_eq!(ms(42_000.0), "42 s");
        assert_eq!(secs(725.0), "12 min 5 s");
        assert_eq!(secs(3.0 * 3600.0 + 12.0 * 60.0), "3 h 12 min");
        assert_eq!(secs(2.0 * 86_400.0 + 4.0 * 3600.0 + 5.0), "2 d 4 h");
        assert_eq!(ms(f64::NAN), "-");
        assert_eq!(ms(-1.0), "-");
        assert_eq!(opt_ms(None), "-");
    }

    #[test]
    fn percentages_drop_a_zero_decimal() {
        assert_eq!(pct(0.0), "0%");
        assert_eq!(pct(12.5), "12.5%");
        assert_eq!(pct(99.99), "100%");
        assert_eq!(pct(0.04), "0%");
    }

    #[test]
    fn scores_keep_four_significant_digits() {
        assert_eq!(sig4(0.005_123_4), "0.005123");
        assert_eq!(sig4(12.345_6), "12.35");
        assert_eq!(sig4(1234.4), "1234");
        assert_eq!(sig4(0.5), "0.5");
        assert_eq!(sig4(0.0), "0");
        assert_eq!(sig4(-2.0), "-2");
    }

    #[test]
    fn series_share_one_unit_and_precision() {
        assert_eq!(ms_series(&[Some(0.4), Some(0.5), Some(0.9)]), "0.40/0.50/0.90 ms");
        assert_eq!(ms_series(&[Some(12.06), Some(15.0), Some(20.3)]), "12.1/15.0/20.3 ms");
        assert_eq!(ms_series(&[Some(120.0), None, Some(150.4)]), "120/-/150 ms");
    }

    #[test]
    fn unix_times_print_as_utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc(1_796_165_861), "2026-12-01 22:57:41Z");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00Z");
        assert_eq!(utc_ms(1_796_165_861_007), "2026-12-01 22:57:41.007Z");
        assert_eq!(utc_ms(-1), "1969-12-31 23:59:59.999Z");
    }

    #[test]
    fn fields_align_their_values() {
        assert_eq!(fields(&[("a", "1".into()), ("long", "2".into())]), "a     1\nlong  2\n");
    }

    #[test]
    fn keys_are_shortened_and_lists_joined() {
        assert_eq!(short_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG="), "abcdefgh…");
        assert_eq!(short_key("short"), "short");
        assert_eq!(list(&["a", "b"]), "a, b");
        assert_eq!(list(&[] as &[&str]), "-");
    }

    #[test]
    fn tables_are_plain_with_right_aligned_numbers_and_no_trailing_spaces() {
        let mut t = Table::new(&["ID", "SITE", "RTT"]).right(&[0, 2]);
        t.row(vec!["1".into(), "b".into(), "0.42 ms".into()]);
        t.row(vec!["12".into(), "long-site".into(), "-".into()]);
        assert_eq!(
            t.render(),
            "ID  SITE           RTT\n 1  b          0.42 ms\n12  long-site        -"
        );
    }
}
