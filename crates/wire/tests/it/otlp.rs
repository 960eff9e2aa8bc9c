//! OTLP decoding and translation.
