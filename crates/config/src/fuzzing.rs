//! The body of the `config` cargo-fuzz target, shared with the proptests in `tests.rs` that run it on
//! stable: a configuration file and a file_sd file are user-written text, so whatever the bytes, parsing
//! returns an error with a location, never panics; and a configuration that parses prints (as
//! `/api/v1/status/config` shows it) to YAML that parses again and prints the same.

use crate::{file_sd, parse, to_yaml};

/// See the module docs. Returns whether the input parsed as a configuration.
pub fn config_text(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let _ = file_sd::parse_groups(text, true, "fuzz.json");
    let _ = file_sd::parse_groups(text, false, "fuzz.yml");
    let Ok(cfg) = parse(text, "fuzz.yml") else {
        return false;
    };
    let out = to_yaml(&cfg);
    let again = match parse(&out, "printed.yml") {
        Ok(c) => c,
        Err(e) => panic!("the printed configuration does not parse: {e}\n{out}"),
    };
    assert_eq!(to_yaml(&again), out, "printing is not stable");
    true
}
