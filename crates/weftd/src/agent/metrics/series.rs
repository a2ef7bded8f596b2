//! Building blocks of the collector: escaped label sets and counters made
//! monotonic over absolute totals.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use prometheus_client::encoding::{
    EncodeLabel, EncodeLabelSet, EncodeLabelValue, LabelSetEncoder, LabelValueEncoder,
};
use prometheus_client::metrics::counter::ConstCounter;

use super::FORGET_AFTER;

/// A label value written with the text format's escapes (`\\`, `\"`, `\n`).
pub(super) struct Escaped<'a>(pub(super) &'a str);

impl EncodeLabelValue for Escaped<'_> {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['\\', '"', '\n']) {
            encoder.write_str(&rest[..i])?;
            encoder.write_str(match rest.as_bytes()[i] {
                b'\\' => "\\\\",
                b'"' => "\\\"",
                _ => "\\n",
            })?;
            rest = &rest[i + 1..];
        }
        encoder.write_str(rest)
    }
}

/// `N` fixed label names with their values, escaped when encoded.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Labels<const N: usize>(pub(super) [(&'static str, String); N]);

impl<const N: usize> EncodeLabelSet for Labels<N> {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> fmt::Result {
        for (key, value) in &self.0 {
            (*key, Escaped(value)).encode(encoder.encode_label())?;
        }
        Ok(())
    }
}

/// `(value, count)` rows as label sets of the one label `key`.
pub(super) fn by_one<'a>(
    key: &'static str,
    rows: &'a [(String, u64)],
) -> impl Iterator<Item = (Labels<1>, u64)> + 'a {
    rows.iter().map(move |(v, n)| (Labels([(key, v.clone())]), *n))
}

/// Sums the counts of equal label sets.
pub(super) fn summed<K: Ord>(rows: impl IntoIterator<Item = (K, u64)>) -> BTreeMap<K, u64> {
    let mut sums = BTreeMap::new();
    for (k, n) in rows {
        let sum: &mut u64 = sums.entry(k).or_default();
        *sum = sum.saturating_add(n);
    }
    sums
}

/// One counter series made monotonic over absolute totals.
#[derive(Clone, Copy, Debug)]
struct CounterSeries {
    /// The latest total as its owner reported it.
    total: u64,
    /// Sum of the totals reached before each restart of the owner.
    offset: u64,
    /// Generation of the last update that listed it.
    seen: u64,
}

/// The series of one counter family, by label set.
#[derive(Debug)]
pub(super) struct Counters<K>(BTreeMap<K, CounterSeries>);

impl<K> Default for Counters<K> {
    fn default() -> Self {
        Self(BTreeMap::new())
    }
}

impl<K: Ord + Clone> Counters<K> {
    /// Records the owner's `total` for `key` in update `generation`.
    pub(super) fn set(&mut self, key: &K, total: u64, generation: u64) {
        if let Some(s) = self.0.get_mut(key) {
            if total < s.total {
                s.offset = s.offset.saturating_add(s.total);
            }
            s.total = total;
            s.seen = generation;
        } else {
            self.0.insert(key.clone(), CounterSeries { total, offset: 0, seen: generation });
        }
    }

    /// Records a whole list, summing equal label sets first.
    pub(super) fn set_all(&mut self, rows: impl IntoIterator<Item = (K, u64)>, generation: u64) {
        for (key, total) in summed(rows) {
            self.set(&key, total, generation);
        }
    }

    /// Forgets series missing for more than [`FORGET_AFTER`] updates.
    pub(super) fn sweep(&mut self, generation: u64) {
        self.0.retain(|_, s| generation - s.seen <= FORGET_AFTER);
    }

    /// The exposed series: those of update `generation`, with their values.
    pub(super) fn rows(&self, generation: u64) -> impl Iterator<Item = (&K, ConstCounter)> {
        self.0
            .iter()
            .filter(move |(_, s)| s.seen == generation)
            .map(|(k, s)| (k, ConstCounter::new(s.offset.saturating_add(s.total))))
    }
}
