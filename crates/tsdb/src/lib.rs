//! diamond-tsdb (being written).
