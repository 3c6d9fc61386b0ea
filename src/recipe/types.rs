//! Small value types used by recipes, each with its YAML spelling and JSON Schema:
//! percentages (`"25%"`), money (decimal numbers), sizes (`"50%"` or a unit count),
//! timeframes (`"5m"`), clock times (`"15:55"`), strikes (`atm`, `otm:2`, `delta:0.30`)
//! and replay speeds (`max`, `60x`).
//!
//! The types a component works with are defined by that component and re-exported here:
//! [`Percent`] (shared, in `model`), [`Size`] (`decision`), [`Timeframe`] and [`ClockTime`]
//! (`market::session`), [`Strike`] (`options`). Money and replay speeds are the recipe's own.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

pub use crate::decision::Size;
pub use crate::market::session::{ClockTime, Timeframe};
pub use crate::model::Percent;
use crate::model::string_serde;
use crate::model::value::{decimal_from_f64, serialize_decimal_number};
pub use crate::options::Strike;

/// An amount of money or a price, written as a decimal number (`50000`, `0.65`).
/// Parsed from its text, never through binary floating point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(pub Decimal);

impl Money {
    /// The decimal value.
    pub fn value(self) -> Decimal {
        self.0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.normalize())
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_decimal_number(self.0, s)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Money;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal number such as 50000 or 0.65")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Money, E> {
                Ok(Money(Decimal::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Money, E> {
                Ok(Money(Decimal::from(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Money, E> {
                decimal_from_f64(v).map(Money).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Money, E> {
                Decimal::from_str(v.trim())
                    .map(Money)
                    .map_err(|_| E::custom(format!("`{v}` is not a decimal number")))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Money {
    fn schema_name() -> Cow<'static, str> {
        "Money".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "number",
            "description": "A decimal amount in the account currency, e.g. 50000 or 0.65."
        })
    }
}

/// A quantity of the traded instrument (shares, contracts or coins), written as a decimal
/// number (`0.00000001`). Parsed from its text, never through binary floating point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Quantity(pub Decimal);

impl Quantity {
    /// The decimal value.
    pub fn value(self) -> Decimal {
        self.0
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.normalize())
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_decimal_number(self.0, s)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Money::deserialize(d).map(|m| Self(m.0))
    }
}

impl JsonSchema for Quantity {
    fn schema_name() -> Cow<'static, str> {
        "Quantity".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "A quantity of the instrument (shares, contracts or coins), e.g. 0.00000001."
        })
    }
}

/// How fast a replay runs: `max` (as fast as possible) or a multiple of real time (`60x`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speed {
    /// No pacing.
    Max,
    /// Real time multiplied by this factor.
    Times(Decimal),
}

impl FromStr for Speed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t == "max" {
            return Ok(Self::Max);
        }
        let bad = || format!("`{s}` is not a speed: use max or a multiple such as 1x or 60x");
        let n = Decimal::from_str(t.strip_suffix('x').ok_or_else(bad)?).map_err(|_| bad())?;
        if n <= Decimal::ZERO {
            return Err(bad());
        }
        Ok(Self::Times(n))
    }
}

impl fmt::Display for Speed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Max => f.write_str("max"),
            Self::Times(n) => write!(f, "{}x", n.normalize()),
        }
    }
}

string_serde!(Speed, "a replay speed such as max or 60x");

impl JsonSchema for Speed {
    fn schema_name() -> Cow<'static, str> {
        "Speed".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^(max|[0-9]+(\\.[0-9]+)?x)$",
            "description": "Replay pacing: max (as fast as possible) or a multiple of real time such as 60x.",
            "examples": ["max", "60x"]
        })
    }
}

/// A short duration written with its unit: `500ms`, `5s`, `2m` (at most an hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Age(pub std::time::Duration);

impl FromStr for Age {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let bad = || format!("`{s}` is not a duration: use a number with ms, s or m, such as 500ms or 5s");
        let (num, unit_ms) = if let Some(n) = t.strip_suffix("ms") {
            (n, 1)
        } else if let Some(n) = t.strip_suffix('s') {
            (n, 1_000)
        } else if let Some(n) = t.strip_suffix('m') {
            (n, 60_000)
        } else {
            return Err(bad());
        };
        let n: u64 = num.parse().map_err(|_| bad())?;
        let ms = n.checked_mul(unit_ms).filter(|ms| (1..=3_600_000).contains(ms)).ok_or_else(bad)?;
        Ok(Self(std::time::Duration::from_millis(ms)))
    }
}

impl fmt::Display for Age {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(60_000) {
            write!(f, "{}m", ms / 60_000)
        } else if ms.is_multiple_of(1_000) {
            write!(f, "{}s", ms / 1_000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

string_serde!(Age, "a duration such as 500ms, 5s or 1m");

impl JsonSchema for Age {
    fn schema_name() -> Cow<'static, str> {
        "Age".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[0-9]+(ms|s|m)$",
            "description": "A duration with its unit, from 1ms to 60m: 500ms, 5s, 1m.",
            "examples": ["5s", "500ms"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn age_parses_and_prints() {
        assert_eq!("5s".parse::<Age>().unwrap().0, std::time::Duration::from_secs(5));
        assert_eq!("500ms".parse::<Age>().unwrap().to_string(), "500ms");
        assert_eq!("120s".parse::<Age>().unwrap().to_string(), "2m");
        for bad in ["5", "0s", "61m", "-1s", "1h", "s"] {
            assert!(bad.parse::<Age>().is_err(), "{bad}");
        }
    }

    #[test]
    fn speed_parses_and_prints() {
        assert_eq!("60x".parse::<Speed>().unwrap(), Speed::Times(dec!(60)));
        assert_eq!("max".parse::<Speed>().unwrap(), Speed::Max);
        assert_eq!(Speed::Times(dec!(1.50)).to_string(), "1.5x");
        assert!("fast".parse::<Speed>().is_err());
        assert!("0x".parse::<Speed>().is_err());
    }

    #[test]
    fn quantity_reads_small_decimals_exactly() {
        let q: Quantity = serde_json::from_str("0.00000001").unwrap();
        assert_eq!(q, Quantity(dec!(0.00000001)));
        assert_eq!(q.to_string(), "0.00000001");
    }

    #[test]
    fn money_reads_numbers_as_written() {
        let m: Money = serde_json::from_str("0.65").unwrap();
        assert_eq!(m, Money(dec!(0.65)));
        assert_eq!(serde_json::to_string(&Money(dec!(50000))).unwrap(), "50000");
        assert_eq!(serde_json::to_string(&Money(dec!(0.65))).unwrap(), "0.65");
    }
}
