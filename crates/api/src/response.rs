//! The success envelope: `{"status":"success","data":…,"warnings":[…],"infos":[…]}` with the optional
//! fields omitted when empty, as Prometheus's `Response` struct does.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

/// A successful answer.
pub(crate) struct Success {
    pub(crate) data: Value,
    pub(crate) warnings: Vec<String>,
    pub(crate) infos: Vec<String>,
}

impl Success {
    pub(crate) fn new(data: Value) -> Self {
        Success {
            data,
            warnings: Vec::new(),
            infos: Vec::new(),
        }
    }
}

impl IntoResponse for Success {
    fn into_response(self) -> Response {
        let mut body = String::with_capacity(256);
        body.push_str(r#"{"status":"success","data":"#);
        body.push_str(&self.data.to_string());
        if !self.warnings.is_empty() {
            body.push_str(r#","warnings":"#);
            body.push_str(&Value::from(self.warnings).to_string());
        }
        if !self.infos.is_empty() {
            body.push_str(r#","infos":"#);
            body.push_str(&Value::from(self.infos).to_string());
        }
        body.push('}');
        json_response(body)
    }
}

/// A JSON body built by hand (query results are encoded directly into a string for speed).
pub(crate) fn json_response(body: String) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The answer of a handler with nothing to say: 204 and an empty body (Prometheus answers nil data so).
pub(crate) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Appends `s` as a JSON string the way Go's encoding/json writes it (Prometheus's API goes through it):
/// `<`, `>`, `&`, U+2028 and U+2029 are escaped as `\u003c`… so answers are byte-identical to Prometheus's.
pub(crate) fn push_json_str(buf: &mut String, s: &str) {
    buf.push('"');
    // Runs of characters that need no escape are copied whole. Every byte that may start one that does is
    // ASCII or 0xE2 (the lead byte of U+2028/U+2029), so it is always a character boundary.
    let mut rest = s;
    while let Some(i) = rest
        .bytes()
        .position(|b| b < 0x20 || matches!(b, b'"' | b'\\' | b'<' | b'>' | b'&' | 0xE2))
    {
        buf.push_str(&rest[..i]);
        let Some(c) = rest[i..].chars().next() else { break };
        push_json_char(buf, c);
        rest = &rest[i + c.len_utf8()..];
    }
    buf.push_str(rest);
    buf.push('"');
}

fn push_json_char(buf: &mut String, c: char) {
    match c {
        '"' => buf.push_str("\\\""),
        '\\' => buf.push_str("\\\\"),
        '\n' => buf.push_str("\\n"),
        '\r' => buf.push_str("\\r"),
        '\t' => buf.push_str("\\t"),
        '<' => buf.push_str("\\u003c"),
        '>' => buf.push_str("\\u003e"),
        '&' => buf.push_str("\\u0026"),
        '\u{2028}' => buf.push_str("\\u2028"),
        '\u{2029}' => buf.push_str("\\u2029"),
        c if (c as u32) < 0x20 => {
            use std::fmt::Write;
            let _ = write!(buf, "\\u{:04x}", c as u32);
        }
        c => buf.push(c),
    }
}

/// Appends a label set as a JSON object with keys in label order.
pub(crate) fn push_labels(buf: &mut String, labels: &diamond_model::Labels) {
    buf.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            buf.push(',');
        }
        push_json_str(buf, &l.name);
        buf.push(':');
        push_json_str(buf, &l.value);
    }
    buf.push('}');
}

/// Appends `[<float seconds>,"<value>"]`, allocating nothing.
pub(crate) fn push_point(buf: &mut String, t: i64, v: f64) {
    buf.push('[');
    diamond_model::write_timestamp(buf, t);
    buf.push_str(",\"");
    diamond_model::write_value(buf, v);
    buf.push_str("\"]");
}

/// The start of a success envelope; the caller appends `data`, then calls [`finish_success`]. Encoding
/// straight into the body avoids a second copy of large query results.
pub(crate) fn start_success(capacity: usize) -> String {
    let mut body = String::with_capacity(capacity + 64);
    body.push_str(r#"{"status":"success","data":"#);
    body
}

/// The envelope around a hand-encoded `data` value.
pub(crate) fn success_raw(data: &str, warnings: &[String], infos: &[String]) -> Response {
    let mut body = start_success(data.len());
    body.push_str(data);
    finish_success(body, warnings, infos)
}

/// Closes an envelope begun with [`start_success`], adding warnings and infos when there are any.
pub(crate) fn finish_success(mut body: String, warnings: &[String], infos: &[String]) -> Response {
    close_success(&mut body, warnings, infos);
    json_response(body)
}

/// Appends what [`finish_success`] appends, to any string.
pub(crate) fn close_success(body: &mut String, warnings: &[String], infos: &[String]) {
    for (key, list) in [("warnings", warnings), ("infos", infos)] {
        if !list.is_empty() {
            body.push_str(",\"");
            body.push_str(key);
            body.push_str("\":[");
            for (i, w) in list.iter().enumerate() {
                if i > 0 {
                    body.push(',');
                }
                push_json_str(body, w);
            }
            body.push(']');
        }
    }
    body.push('}');
}

/// A JSON response whose body is the parts received from `rx`, in order, until its sender is dropped.
pub(crate) fn json_response_stream(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        axum::body::Body::new(Streamed(rx)),
    )
        .into_response()
}

/// See [`json_response_stream`].
struct Streamed(tokio::sync::mpsc::Receiver<Bytes>);

impl http_body::Body for Streamed {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(http_body::Frame::data(b))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_escaping() {
        let mut b = String::new();
        push_json_str(&mut b, "a<b>&\"\\\n\u{1}\u{2028}é");
        assert_eq!(b, r#""a\u003cb\u003e\u0026\"\\\n\u0001\u2028é""#);
    }

    /// The run-copying escaper writes what escaping character by character writes, for any string
    /// (including other characters with lead byte 0xE2, such as '€' and U+2027, which pass through).
    #[test]
    fn escaping_matches_per_character() {
        let pieces = [
            "a",
            "é",
            "€",
            "\u{2027}",
            "\u{2028}",
            "\u{2029}",
            "\u{202a}",
            "<",
            ">",
            "&",
            "\"",
            "\\",
            "\n",
            "\r",
            "\t",
            "\u{0}",
            "\u{1f}",
            " ",
            "\u{7f}",
            "日本",
            "🦀",
            "trace_id",
            "4bf92f3577b34da6",
        ];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..2000 {
            let mut s = String::new();
            for _ in 0..(x % 12) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push_str(pieces[(x % pieces.len() as u64) as usize]);
            }
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut want = String::from("\"");
            for c in s.chars() {
                push_json_char(&mut want, c);
            }
            want.push('"');
            let mut got = String::new();
            push_json_str(&mut got, &s);
            assert_eq!(got, want, "escaping {s:?}");
        }
    }
}
