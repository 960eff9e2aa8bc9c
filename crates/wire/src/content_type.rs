//! Choosing the remote write message from the Content-Type header.

use crate::Error;

/// The remote write protobuf message a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RemoteWriteVersion {
    /// Remote write 1.0: `prometheus.WriteRequest`.
    V1,
    /// Remote write 2.0: `io.prometheus.write.v2.Request`.
    V2,
}

impl RemoteWriteVersion {
    /// The `proto` parameter value naming this message.
    pub fn proto_message(self) -> &'static str {
        match self {
            RemoteWriteVersion::V1 => "prometheus.WriteRequest",
            RemoteWriteVersion::V2 => "io.prometheus.write.v2.Request",
        }
    }

    /// The Content-Type a sender puts on a request of this version (Prometheus sends the bare
    /// `application/x-protobuf` for 1.0).
    pub fn content_type(self) -> &'static str {
        match self {
            RemoteWriteVersion::V1 => "application/x-protobuf",
            RemoteWriteVersion::V2 => "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        }
    }

    /// The `X-Prometheus-Remote-Write-Version` header value a sender sets.
    pub fn header_version(self) -> &'static str {
        match self {
            RemoteWriteVersion::V1 => "0.1.0",
            RemoteWriteVersion::V2 => "2.0.0",
        }
    }
}

/// Chooses the message from the Content-Type header as Prometheus's receiver does (checked against
/// Prometheus 3.5.3): a missing or empty header, or `application/x-protobuf` without a `proto` parameter,
/// means 1.0; `proto=prometheus.WriteRequest` means 1.0 and `proto=io.prometheus.write.v2.Request` 2.0. Any
/// other media type, `proto` value, or a parameter without `=` is [`Error::UnsupportedContentType`]
/// (HTTP 415).
///
/// As in Prometheus, the media type and the `proto` value are compared exactly (`APPLICATION/X-PROTOBUF` and
/// `proto="prometheus.WriteRequest"` are refused) and other parameters (such as `charset`) are ignored. One
/// deliberate difference: whitespace around parameters is trimmed, so `; proto=io.prometheus.write.v2.Request`
/// means 2.0, where Prometheus does not recognise the parameter, decodes the 2.0 body as 1.0 and silently
/// writes nothing.
pub fn remote_write_version(content_type: Option<&str>) -> Result<RemoteWriteVersion, Error> {
    let ct = match content_type {
        None => return Ok(RemoteWriteVersion::V1),
        Some(ct) if ct.trim().is_empty() => return Ok(RemoteWriteVersion::V1),
        Some(ct) => ct,
    };
    let mut parts = ct.split(';');
    let media = parts.next().unwrap_or("").trim();
    if media != "application/x-protobuf" {
        return Err(Error::UnsupportedContentType(ct.to_owned()));
    }
    let mut version = RemoteWriteVersion::V1;
    for param in parts {
        let param = param.trim();
        if param.is_empty() {
            continue;
        }
        let Some((name, value)) = param.split_once('=') else {
            return Err(Error::UnsupportedContentType(ct.to_owned()));
        };
        if name.trim() != "proto" {
            continue;
        }
        let value = value.trim();
        version = match value {
            "prometheus.WriteRequest" => RemoteWriteVersion::V1,
            "io.prometheus.write.v2.Request" => RemoteWriteVersion::V2,
            _ => return Err(Error::UnsupportedContentType(ct.to_owned())),
        };
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use RemoteWriteVersion::*;

    #[test]
    fn table() {
        let cases: &[(Option<&str>, Option<RemoteWriteVersion>)] = &[
            (None, Some(V1)),
            (Some("application/x-protobuf"), Some(V1)),
            (Some("Application/X-Protobuf"), None),
            (Some("   "), Some(V1)),
            (Some("application/x-protobuf; charset=utf-8"), Some(V1)),
            (Some("application/x-protobuf;proto=prometheus.WriteRequest"), Some(V1)),
            (Some("application/x-protobuf; proto=prometheus.WriteRequest"), Some(V1)),
            (
                Some("application/x-protobuf;proto=io.prometheus.write.v2.Request"),
                Some(V2),
            ),
            (
                Some("application/x-protobuf; charset=utf-8; proto=io.prometheus.write.v2.Request"),
                Some(V2),
            ),
            (
                Some("application/x-protobuf;proto=\"io.prometheus.write.v2.Request\""),
                None,
            ),
            (
                Some("application/x-protobuf;proto=io.prometheus.write.v3.Request"),
                None,
            ),
            (Some("application/x-protobuf;proto=Prometheus.WriteRequest"), None),
            (Some("application/x-protobuf;garbage"), None),
            (Some("application/x-protobuf;proto=\"prometheus.WriteRequest\""), None),
            (Some("application/x-protobuf;proto=foo"), None),
            (
                Some("application/x-protobuf ; proto=io.prometheus.write.v2.Request"),
                Some(V2),
            ),
            (Some("application/json"), None),
            (Some("text/plain"), None),
            (Some(""), Some(V1)),
        ];
        for (input, want) in cases {
            let got = remote_write_version(*input).ok();
            assert_eq!(got, *want, "content type {input:?}");
        }
    }

    #[test]
    fn sender_headers_round_trip() {
        for v in [V1, V2] {
            assert_eq!(remote_write_version(Some(v.content_type())).unwrap(), v);
            let explicit = format!("application/x-protobuf;proto={}", v.proto_message());
            assert_eq!(remote_write_version(Some(&explicit)).unwrap(), v);
        }
    }
}
