//! diamond-api (being written).
