//! The crate's one error type.

/// Why a request could not be decoded. Every variant is the client's fault (HTTP 4xx, see
/// [`Error::http_status`]); none is worth retrying unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The (compressed) body is larger than [`crate::Limits::max_body_bytes`].
    #[error("request body of {size} bytes exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// Size of the body.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The snappy header claims more than [`crate::Limits::max_decompressed_bytes`]; refused before
    /// allocating or decompressing anything.
    #[error("decompressed size of {size} bytes exceeds the limit of {limit} bytes")]
    DecompressedTooLarge {
        /// Size the snappy header claims.
        size: u64,
        /// The limit.
        limit: usize,
    },
    /// The decompressed body would decode into more memory than the budget allows (a flood of tiny
    /// messages); refused before decoding. See the budget in [`crate::decode_remote_write_v1`].
    #[error("decoded request would take about {estimate} bytes, over the limit of {limit} bytes")]
    DecodedTooLarge {
        /// Estimated in-memory size.
        estimate: usize,
        /// The budget for this body.
        limit: usize,
    },
    /// The body is not a valid snappy block. (The codec's message already starts with `snappy:`, as
    /// Prometheus's `snappy: corrupt input` does.)
    #[error("{0}")]
    Snappy(snap::Error),
    /// The decompressed body is not a valid protobuf message of the expected type.
    #[error("protobuf: {0}")]
    Protobuf(prost::DecodeError),
    /// Part of the request is invalid (see [`crate::Rejection`] for the reasons). The decoders do not return
    /// this themselves, since Prometheus keeps the valid part of a request; [`crate::WriteBatch::check_strict`]
    /// does.
    #[error("invalid labels: {0}")]
    InvalidLabels(String),
    /// An OTLP body decoded as protobuf but is invalid as OTLP (a trace or span id of the wrong length),
    /// which the OpenTelemetry Go decoder Prometheus uses refuses as a whole.
    #[error("invalid otlp: {0}")]
    InvalidOtlp(String),
    /// The Content-Type names no message this receiver accepts.
    #[error("unsupported content type: {0}")]
    UnsupportedContentType(String),
}

impl Error {
    /// The HTTP status a receiver should answer with: 415 for [`Error::UnsupportedContentType`] (as
    /// Prometheus), 413 for the size limits (Prometheus has no such limits; 413 tells the sender not to
    /// retry the same body), 400 for everything else (as Prometheus does for bad snappy or protobuf).
    pub fn http_status(&self) -> u16 {
        match self {
            Error::UnsupportedContentType(_) => 415,
            Error::BodyTooLarge { .. } | Error::DecompressedTooLarge { .. } | Error::DecodedTooLarge { .. } => 413,
            Error::Snappy(_) | Error::Protobuf(_) | Error::InvalidLabels(_) | Error::InvalidOtlp(_) => 400,
        }
    }
}

impl From<prost::DecodeError> for Error {
    fn from(e: prost::DecodeError) -> Self {
        Error::Protobuf(e)
    }
}

impl From<snap::Error> for Error {
    fn from(e: snap::Error) -> Self {
        Error::Snappy(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_status_table() {
        let cases: Vec<(Error, u16)> = vec![
            (Error::BodyTooLarge { size: 2, limit: 1 }, 413),
            (Error::DecompressedTooLarge { size: 2, limit: 1 }, 413),
            (Error::DecodedTooLarge { estimate: 2, limit: 1 }, 413),
            (Error::Snappy(snap::Error::Header), 400),
            (Error::InvalidLabels("x".into()), 400),
            (Error::InvalidOtlp("x".into()), 400),
            (Error::UnsupportedContentType("text/plain".into()), 415),
        ];
        for (e, want) in cases {
            assert_eq!(e.http_status(), want, "{e}");
            let msg = e.to_string();
            assert!(
                !msg.ends_with('.') && msg.chars().next().is_some_and(|c| !c.is_uppercase()),
                "{msg}"
            );
        }
    }
}
