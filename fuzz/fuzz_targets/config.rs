//! Arbitrary bytes as a configuration file and as a file_sd file: parsing returns an error with a
//! location, never panics, and a configuration that parses prints to YAML that parses to the same.
//! The body is `diamond_config::fuzzing::config_text`, also run by proptests in `crates/config`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = diamond_config::fuzzing::config_text(data);
});
