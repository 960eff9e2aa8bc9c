//! YAML scalars read as strings, as Prometheus (go-yaml) reads them into string fields: `labels: {tier: 1}`,
//! `regex: 200` and `password: 1234` are accepted there, so they are here.
//!
//! go-yaml keeps the scalar's source text; serde hands us the parsed value, so integers and booleans come
//! back as written but a float is re-printed (`1.50` becomes `1.5`).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A string, or a number or boolean turned into its text.
pub(crate) struct Scalar(pub(crate) String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// For `Option<String>` fields.
pub(crate) fn opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Scalar>::deserialize(d)?.map(|s| s.0))
}

/// For `Option<Vec<String>>` fields.
pub(crate) fn opt_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    Ok(Option::<Vec<Scalar>>::deserialize(d)?.map(|v| v.into_iter().map(|s| s.0).collect()))
}

/// For `Option<BTreeMap<String, String>>` fields (label sets).
pub(crate) fn opt_map<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    Ok(Option::<BTreeMap<String, Scalar>>::deserialize(d)?.map(|m| m.into_iter().map(|(k, v)| (k, v.0)).collect()))
}

/// For `params`.
pub(crate) fn opt_map_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BTreeMap<String, Vec<String>>>, D::Error> {
    Ok(Option::<BTreeMap<String, Vec<Scalar>>>::deserialize(d)?.map(|m| {
        m.into_iter()
            .map(|(k, v)| (k, v.into_iter().map(|s| s.0).collect()))
            .collect()
    }))
}
