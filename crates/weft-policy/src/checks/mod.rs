//! What runs before a policy goes live: its own tests, the lint, and the
//! diff against the running policy. All three are exact: they split flow
//! space by first-matching rule ([`crate::partition`]) instead of sampling.

mod diff;
mod lint;
mod policy_tests;

pub use diff::{DiffReport, FlowChange, diff};
pub use lint::lint;
pub use policy_tests::{TestOutcome, run_tests};

use crate::partition::{PartitionError, partition};
use crate::space::FlowBox;

/// Most pieces one analysis may split a box into.
pub(crate) const PIECE_LIMIT: usize = 200_000;

/// `query` split by the first matching rule of `rules` (precedence positions).
pub(crate) fn pieces(
    rules: &[Vec<FlowBox>],
    query: &FlowBox,
) -> Result<Vec<(Option<usize>, FlowBox)>, PartitionError> {
    partition(rules, query, PIECE_LIMIT)
}
