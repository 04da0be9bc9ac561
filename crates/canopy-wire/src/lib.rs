//! One source for every JSON shape Canopy puts on the wire: the bodies the REST API
//! (`canopy serve`) takes and answers, and what `canopy --json` prints. The server serializes
//! these types, `canopy-client` deserializes them, the CLI prints them, and with the `openapi`
//! feature each derives `utoipa::ToSchema`, so the server's OpenAPI document is generated from
//! the very types it sends: the three cannot drift apart.
//!
//! - [`api`]: the REST API's requests and answers.
//! - [`local`]: the shapes of the local `canopy … --json` commands (which predate the API and
//!   keep their own field names: a signature's `zone`, a change's `change`).
//! - [`grammar`]: what a branch name, a revision, a path and the other strings the API takes
//!   look like, as regular expressions for the document and as checks for the server, kept
//!   side by side so that the document promises exactly what the server accepts.
//!
//! This crate does no I/O; it depends on the `canopy` library only to convert its values.

pub mod api;
pub mod grammar;
pub mod local;

use base64::Engine;
use serde::{Deserialize, Serialize};

/// Bytes in JSON: `{"value": "text"}` when they are UTF-8, else `{"value_base64": "..."}`.
/// Flattened into the shapes that carry a value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Content {
    /// The bytes as UTF-8 text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The bytes as base64 (standard alphabet, padded), when they are not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<grammar::Base64>))]
    pub value_base64: Option<String>,
}

impl Content {
    /// The JSON form of `bytes`: text when they are UTF-8, else base64.
    pub fn of(bytes: &[u8]) -> Content {
        match std::str::from_utf8(bytes) {
            Ok(text) => Content::text(text),
            Err(_) => Content {
                value: None,
                value_base64: Some(base64_encode(bytes)),
            },
        }
    }

    /// The JSON form of UTF-8 text.
    pub fn text(text: &str) -> Content {
        Content {
            value: Some(text.to_string()),
            value_base64: None,
        }
    }

    /// The bytes, when exactly one of `value` and `value_base64` is given and the base64 is
    /// valid; the error says what is wrong.
    pub fn bytes(&self) -> Result<Vec<u8>, String> {
        match (&self.value, &self.value_base64) {
            (Some(text), None) => Ok(text.as_bytes().to_vec()),
            (None, Some(b)) => base64_decode(b).map_err(|e| format!("value_base64: {e}")),
            _ => Err("give exactly one of 'value' and 'value_base64'".into()),
        }
    }

    /// Whether neither form is given.
    pub fn is_empty(&self) -> bool {
        self.value.is_none() && self.value_base64.is_none()
    }
}

/// Standard base64, padded: the encoding of every `value_base64`.
pub fn base64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes standard, padded base64 (canonical: no stray bits in the last symbol).
pub fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .map_err(|e| e.to_string())
}

/// Serde helper for a field that is absent, `null` or a value (`Option<Option<T>>`): absent
/// stays absent when serialized, `Some(None)` is written as `null`.
pub mod nullable {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// Serde helpers for whole numbers that also accept a JSON number written with a fraction of
/// zero (`5.0`), which JSON Schema counts as an integer too.
pub mod whole {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer};

    fn number<'de, D: Deserializer<'de>>(d: D) -> Result<serde_json::Number, D::Error> {
        serde_json::Number::deserialize(d)
    }

    pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let n = number(d)?;
        n.as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                    .map(|f| f as i64)
            })
            .ok_or_else(|| D::Error::custom(format!("{n} is not a whole number in range")))
    }

    pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let n = number(d)?;
        n.as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.8e19)
                    .map(|f| f as u64)
            })
            .ok_or_else(|| D::Error::custom(format!("{n} is not a whole number of at least 0 in range")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_may_have_a_zero_fraction() {
        #[derive(Deserialize)]
        struct N {
            #[serde(deserialize_with = "whole::i64")]
            n: i64,
        }
        let n = |s: &str| serde_json::from_str::<N>(s).map(|n| n.n);
        assert_eq!(n(r#"{"n": 5.0}"#).unwrap(), 5);
        assert_eq!(n(r#"{"n": -3}"#).unwrap(), -3);
        assert!(n(r#"{"n": 5.5}"#).is_err());
        assert!(n(r#"{"n": 1e300}"#).is_err());
    }

    #[test]
    fn content_is_text_when_it_can_be() {
        assert_eq!(
            serde_json::to_string(&Content::of(b"hi")).unwrap(),
            r#"{"value":"hi"}"#
        );
        assert_eq!(
            serde_json::to_string(&Content::of(&[0xff, 0])).unwrap(),
            r#"{"value_base64":"/wA="}"#
        );
        assert_eq!(Content::of(&[0xff, 0]).bytes().unwrap(), vec![0xff, 0]);
        let both = Content {
            value: Some("a".into()),
            value_base64: Some("YQ==".into()),
        };
        assert!(both.bytes().unwrap_err().contains("exactly one"));
        let bad = Content {
            value: None,
            value_base64: Some("Zh==".into()),
        };
        assert!(bad.bytes().unwrap_err().starts_with("value_base64:"));
    }
}
