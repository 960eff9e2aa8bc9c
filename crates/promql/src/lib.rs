//! diamond-promql (being written).
