//! diamond-wire (being written).
