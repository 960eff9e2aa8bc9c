//! diamond-scrape (being written).
