//! How big an order or a position is: a percentage of the allocation or a number of units, as
//! a recipe writes it (`"50%"`, `100`).

use std::borrow::Cow;
use std::fmt;

use rust_decimal::Decimal;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use crate::model::Percent;
use crate::model::value::{decimal_from_f64, serialize_decimal_number};

/// An order or position size: a percentage of the allocation (`"50%"`) or a number of
/// units (shares, contracts or coins), e.g. `100`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// A fraction of the agent's allocation.
    Percent(Percent),
    /// A fixed number of units.
    Units(Decimal),
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Percent(p) => p.fmt(f),
            Self::Units(u) => write!(f, "{}", u.normalize()),
        }
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Percent(p) => p.serialize(s),
            Self::Units(u) => serialize_decimal_number(*u, s),
        }
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a percentage of the allocation such as \"50%\" or a number of units such as 100")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Size, E> {
                Ok(Size::Units(Decimal::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size::Units(Decimal::from(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Size, E> {
                decimal_from_f64(v).map(Size::Units).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Size, E> {
                v.parse::<Percent>().map(Size::Percent).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Size {
    fn schema_name() -> Cow<'static, str> {
        "Size".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A percentage of the allocation (\"50%\") or a number of units (100).",
            "anyOf": [
                { "type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?%$" },
                { "type": "number", "exclusiveMinimum": 0 }
            ]
        })
    }
}
