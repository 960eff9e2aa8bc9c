//! Exemplars.

use crate::{Labels, Timestamp};

/// The OpenMetrics limit on an exemplar's label set: the sum of the character counts of names and values.
pub const EXEMPLAR_MAX_LABEL_SET_RUNES: usize = 128;

/// An exemplar: labels (usually `trace_id`, `span_id`), the observed value and when it was observed.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// The exemplar's own labels (not the series').
    pub labels: Labels,
    /// The observed value.
    pub value: f64,
    /// Timestamp in ms. When the source gave none, the scrape timestamp, with `has_ts == false`.
    pub ts: Timestamp,
    /// Whether the source gave a timestamp. Affects duplicate detection only (Prometheus `Exemplar.Equals`).
    pub has_ts: bool,
}

impl Exemplar {
    /// Prometheus's `Exemplar.Equals`: labels and value equal, and timestamps equal unless neither exemplar
    /// carried one.
    pub fn same_as(&self, o: &Exemplar) -> bool {
        let value_eq = self.value.to_bits() == o.value.to_bits() || self.value == o.value;
        self.labels == o.labels && value_eq && ((!self.has_ts && !o.has_ts) || self.ts == o.ts)
    }
}
