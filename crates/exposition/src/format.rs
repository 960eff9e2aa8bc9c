//! The exposition formats and how a scrape response's `Content-Type` selects one.

/// The exposition formats the parser reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text format 0.0.4 (and text 1.0.0, which has the same syntax plus quoted UTF-8 names).
    PromText,
    /// OpenMetrics 1.0 text (`application/openmetrics-text`, versions 1.0.0 and 0.0.1).
    OpenMetrics,
}

impl Format {
    /// Picks the parser for a scrape response's `Content-Type`. OpenMetrics text (versions 1.0.0 and 0.0.1) →
    /// [`Format::OpenMetrics`]; `text/plain` with no version or version 0.0.4 or 1.0.0 → [`Format::PromText`];
    /// anything else (protobuf, unknown OpenMetrics or text versions, other media types) → `None`.
    ///
    /// ```
    /// use diamond_exposition::Format;
    /// let ct = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    /// assert_eq!(Format::from_content_type(ct), Some(Format::OpenMetrics));
    /// assert_eq!(Format::from_content_type("text/plain; version=0.0.4"), Some(Format::PromText));
    /// assert_eq!(Format::from_content_type("application/vnd.google.protobuf"), None);
    /// ```
    pub fn from_content_type(ct: &str) -> Option<Format> {
        let mut parts = ct.split(';');
        let media = parts.next()?.trim();
        let mut version = None;
        for p in parts {
            if let Some((k, v)) = p.split_once('=')
                && k.trim().eq_ignore_ascii_case("version")
            {
                version = Some(v.trim().trim_matches('"'));
            }
        }
        if media.eq_ignore_ascii_case("application/openmetrics-text") {
            match version {
                None | Some("1.0.0") | Some("0.0.1") => Some(Format::OpenMetrics),
                Some(_) => None,
            }
        } else if media.eq_ignore_ascii_case("text/plain") {
            match version {
                None | Some("0.0.4") | Some("1.0.0") => Some(Format::PromText),
                Some(_) => None,
            }
        } else {
            None
        }
    }
}
