//! Interim linear classifier (the fast one replaces this file).

use crate::space::{FlowBox, FlowPoint};

/// First-match classifier over rules made of boxes.
#[derive(Debug, Clone)]
pub struct Classifier {
    rules: Vec<Vec<FlowBox>>,
}

impl Classifier {
    /// Builds the classifier; lower index = higher precedence.
    pub fn build(rules: &[Vec<FlowBox>]) -> Self {
        Self { rules: rules.to_vec() }
    }

    /// Index of the first rule with a box containing `p`.
    pub fn first_match(&self, p: &FlowPoint) -> Option<usize> {
        first_match_naive(&self.rules, p)
    }

    /// Number of rules.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }
}

/// Reference evaluator: a linear scan.
pub fn first_match_naive(rules: &[Vec<FlowBox>], p: &FlowPoint) -> Option<usize> {
    rules.iter().position(|r| r.iter().any(|b| b.contains(p)))
}
