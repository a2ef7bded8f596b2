//! A sliding-window replay filter for message counters (RFC 6479 style).

/// How far behind the highest accepted counter a counter may be and still be
/// accepted (if not seen before).
pub const REPLAY_WINDOW: u64 = 1024;

const WORD_BITS: u64 = 64;
/// One spare word beyond the window, so advancing clears whole words only.
const WORDS: usize = (REPLAY_WINDOW / WORD_BITS) as usize + 1;

/// Why a counter was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayVerdict {
    /// Accepted and now marked as seen.
    Fresh,
    /// Already accepted once. The window is unchanged.
    Duplicate,
    /// More than [`REPLAY_WINDOW`] behind the highest accepted counter.
    /// The window is unchanged.
    TooOld,
}

/// Accepts each counter at most once, and none more than [`REPLAY_WINDOW`]
/// behind the highest accepted so far. Counters may arrive out of order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayWindow {
    /// Highest accepted counter; `None` until the first one.
    highest: Option<u64>,
    /// Bit `c % (WORDS × 64)` is set when counter `c` (in the window) was seen.
    bitmap: [u64; WORDS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayWindow {
    /// An empty window: the first counter of any value is accepted.
    pub fn new() -> Self {
        Self { highest: None, bitmap: [0; WORDS] }
    }

    /// The highest counter accepted so far.
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }

    /// Whether `counter` would be accepted, without marking it.
    pub fn check(&self, counter: u64) -> ReplayVerdict {
        match self.highest {
            Some(top) if counter <= top && top - counter >= REPLAY_WINDOW => ReplayVerdict::TooOld,
            Some(top) if counter <= top && self.bit(counter) => ReplayVerdict::Duplicate,
            _ => ReplayVerdict::Fresh,
        }
    }

    /// Checks `counter` and, when fresh, marks it as seen.
    pub fn accept(&mut self, counter: u64) -> ReplayVerdict {
        let verdict = self.check(counter);
        if verdict != ReplayVerdict::Fresh {
            return verdict;
        }
        let top = self.highest.unwrap_or(counter);
        if self.highest.is_none() || counter > top {
            self.advance(top, counter);
            self.highest = Some(counter);
        }
        let (word, mask) = Self::slot(counter);
        self.bitmap[word] |= mask;
        ReplayVerdict::Fresh
    }

    /// Clears the words that the window slides over when the top moves from
    /// `old` to `new` (or everything, on the first counter or a big jump).
    fn advance(&mut self, old: u64, new: u64) {
        let (old_word, new_word) = (old / WORD_BITS, new / WORD_BITS);
        let steps = if self.highest.is_none() { WORDS as u64 } else { new_word - old_word };
        if steps >= WORDS as u64 {
            self.bitmap = [0; WORDS];
            return;
        }
        for i in 1..=steps {
            self.bitmap[((old_word + i) % WORDS as u64) as usize] = 0;
        }
    }

    fn bit(&self, counter: u64) -> bool {
        let (word, mask) = Self::slot(counter);
        self.bitmap[word] & mask != 0
    }

    fn slot(counter: u64) -> (usize, u64) {
        let word = ((counter / WORD_BITS) % WORDS as u64) as usize;
        (word, 1 << (counter % WORD_BITS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn each_counter_is_accepted_once() {
        let mut w = ReplayWindow::new();
        assert_eq!(w.accept(5), ReplayVerdict::Fresh);
        assert_eq!(w.accept(5), ReplayVerdict::Duplicate);
        assert_eq!(w.accept(6), ReplayVerdict::Fresh);
        assert_eq!(w.accept(5), ReplayVerdict::Duplicate);
        assert_eq!(w.highest(), Some(6));
    }

    #[test]
    fn out_of_order_counters_inside_the_window_are_accepted() {
        let mut w = ReplayWindow::new();
        assert_eq!(w.accept(2000), ReplayVerdict::Fresh);
        assert_eq!(w.accept(1999), ReplayVerdict::Fresh);
        assert_eq!(w.accept(2000 - 1023), ReplayVerdict::Fresh);
        assert_eq!(w.accept(2000 - 1023), ReplayVerdict::Duplicate);
    }

    #[test]
    fn counters_older_than_the_window_are_refused() {
        let mut w = ReplayWindow::new();
        w.accept(2000);
        assert_eq!(w.accept(2000 - 1024), ReplayVerdict::TooOld);
        assert_eq!(w.accept(0), ReplayVerdict::TooOld);
    }

    #[test]
    fn a_big_jump_forgets_old_bits_without_accepting_them_twice() {
        let mut w = ReplayWindow::new();
        for c in 0..100 {
            w.accept(c);
        }
        assert_eq!(w.accept(1_000_000), ReplayVerdict::Fresh);
        // Counter 1_000_000 - 1088 shares a bitmap slot with an old counter.
        assert_eq!(w.accept(1_000_000 - 1000), ReplayVerdict::Fresh);
        assert_eq!(w.accept(99), ReplayVerdict::TooOld);
    }

    #[test]
    fn the_largest_counter_is_handled() {
        let mut w = ReplayWindow::new();
        assert_eq!(w.accept(u64::MAX), ReplayVerdict::Fresh);
        assert_eq!(w.accept(u64::MAX), ReplayVerdict::Duplicate);
        assert_eq!(w.accept(u64::MAX - 1), ReplayVerdict::Fresh);
    }

    #[test]
    fn refused_counters_leave_the_window_unchanged() {
        let mut w = ReplayWindow::new();
        w.accept(3000);
        w.accept(2990);
        let before = w.clone();
        w.accept(2990);
        w.accept(1);
        assert_eq!(w, before);
    }

    proptest! {
        /// The window agrees with a model that remembers every counter.
        #[test]
        fn the_window_matches_a_set_model(counters in proptest::collection::vec(0u64..5000, 1..400)) {
            let mut w = ReplayWindow::new();
            let mut seen = std::collections::BTreeSet::new();
            let mut top: Option<u64> = None;
            for c in counters {
                let expected = match top {
                    Some(t) if c <= t && t - c >= REPLAY_WINDOW => ReplayVerdict::TooOld,
                    _ if seen.contains(&c) => ReplayVerdict::Duplicate,
                    _ => ReplayVerdict::Fresh,
                };
                prop_assert_eq!(w.accept(c), expected, "counter {}", c);
                if expected == ReplayVerdict::Fresh {
                    seen.insert(c);
                    top = Some(top.map_or(c, |t| t.max(c)));
                }
            }
        }
    }
}
