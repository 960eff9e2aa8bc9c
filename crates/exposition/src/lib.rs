//! diamond-exposition (being written).
