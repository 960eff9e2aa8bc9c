//! diamond-config (being written).
