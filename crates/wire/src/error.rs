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
    /// The body is not a valid snappy block.
    #[error("snappy: {0}")]
    Snappy(snap::Error),
    /// The decompressed body is not a valid protobuf message of the expected type.
    #[error("protobuf: {0}")]
    Protobuf(prost::DecodeError),
    /// A series' (or exemplar's) label set is invalid: no or empty metric name, an empty label name, or a
    /// repeated label name. The message names the labels, as Prometheus's receiver does.
    #[error("invalid labels: {0}")]
    InvalidLabels(String),
    /// A remote write 2.0 symbol table or reference is invalid (first symbol not empty, reference out of
    /// range, odd number of label references).
    #[error("invalid symbols: {0}")]
    InvalidSymbols(String),
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
            Error::BodyTooLarge { .. } | Error::DecompressedTooLarge { .. } => 413,
            Error::Snappy(_) | Error::Protobuf(_) | Error::InvalidLabels(_) | Error::InvalidSymbols(_) => 400,
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
