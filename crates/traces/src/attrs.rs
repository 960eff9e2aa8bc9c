//! Attribute helpers shared by the store, search and the response shapes.

use diamond_wire::proto::otlp::{AnyValue, KeyValue, Resource, any_value};

/// The OTel default when a resource has no `service.name`.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// The value as a string, the way tag search compares and the tag pickers list values; `None` for arrays,
/// maps and bytes.
pub fn value_string(v: &AnyValue) -> Option<String> {
    match v.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
}

/// A string attribute.
pub fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
    }
}

/// One batch: `spans` in one scope (none named) of a resource with these attributes, as an SDK sends
/// a service's spans.
pub fn batch(
    resource: Vec<KeyValue>,
    spans: Vec<diamond_wire::proto::otlp::Span>,
) -> diamond_wire::proto::otlp::ResourceSpans {
    use diamond_wire::proto::otlp::{ResourceSpans, ScopeSpans};
    ResourceSpans {
        resource: Some(Resource {
            attributes: resource,
            dropped_attributes_count: 0,
        }),
        scope_spans: vec![ScopeSpans {
            scope: None,
            spans,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

/// The attribute's value as a string.
pub fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref())
}

/// `service.name` of a resource, or [`UNKNOWN_SERVICE`].
pub fn service_name(r: Option<&Resource>) -> String {
    r.and_then(|r| get(&r.attributes, "service.name"))
        .and_then(value_string)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| UNKNOWN_SERVICE.to_owned())
}
