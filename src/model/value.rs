//! Small values written as text in recipes and on the command line, shared by the components
//! that use them and the recipe that spells them: percentages (`"25%"`), decimal numbers read
//! from YAML numbers, and `string_serde!` for any type whose YAML form is its `Display` /
//! `FromStr` text.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serializer;

/// Implements `Serialize` through `Display` and `Deserialize` through `FromStr`
/// for a type written as a YAML string; `$expecting` says what the string should look like.
macro_rules! string_serde {
    ($ty:ty, $expecting:literal) => {
        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl ::serde::de::Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: ::serde::de::Error>(self, v: &str) -> Result<$ty, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}
pub(crate) use string_serde;

/// The decimal a YAML or JSON float stands for: the shortest text that round-trips the float,
/// which is what the user wrote (`0.65`, never `0.6500000000000000222`).
///
/// # Errors
/// The float has no decimal form (NaN, infinities, beyond `Decimal`'s range).
pub fn decimal_from_f64(v: f64) -> Result<Decimal, String> {
    Decimal::from_str(&v.to_string())
        .or_else(|_| Decimal::from_scientific(&format!("{v:e}")))
        .map_err(|_| format!("{v} is not a representable decimal amount"))
}

/// Writes a decimal as a number: an integer as `i64`, anything else as the `f64` whose
/// shortest text is the decimal's.
///
/// # Errors
/// The serializer's.
pub fn serialize_decimal_number<S: Serializer>(d: Decimal, s: S) -> Result<S::Ok, S::Error> {
    if d.fract().is_zero()
        && let Ok(i) = i64::try_from(d)
    {
        return s.serialize_i64(i);
    }
    let f: f64 = d.to_string().parse().map_err(serde::ser::Error::custom)?;
    s.serialize_f64(f)
}

/// A percentage written `"25%"`; stored as the fraction (0.25).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent(Decimal);

impl Percent {
    /// From a fraction (0.25 for 25 %).
    pub const fn from_fraction(f: Decimal) -> Self {
        Self(f)
    }

    /// The fraction (0.25 for 25 %).
    pub fn fraction(self) -> Decimal {
        self.0
    }

    /// The percentage number (25 for 25 %).
    pub fn percent(self) -> Decimal {
        self.0 * Decimal::ONE_HUNDRED
    }
}

impl FromStr for Percent {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let Some(num) = t.strip_suffix('%') else {
            return Err(format!("`{s}` is not a percentage: write it like \"25%\""));
        };
        let d = Decimal::from_str(num.trim())
            .map_err(|_| format!("`{s}` is not a percentage: write it like \"25%\""))?;
        if d.is_sign_negative() {
            return Err(format!("`{s}` is negative: percentages must be 0% or more"));
        }
        Ok(Self(d / Decimal::ONE_HUNDRED))
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.percent().normalize())
    }
}

string_serde!(Percent, "a percentage such as \"25%\"");

impl JsonSchema for Percent {
    fn schema_name() -> Cow<'static, str> {
        "Percent".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[0-9]+(\\.[0-9]+)?%$",
            "description": "A percentage, written with a percent sign, e.g. \"25%\".",
            "examples": ["25%"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn percent_parses_and_prints() {
        let p: Percent = "25%".parse().unwrap();
        assert_eq!(p.fraction(), dec!(0.25));
        assert_eq!(p.to_string(), "25%");
        assert_eq!("12.5%".parse::<Percent>().unwrap().fraction(), dec!(0.125));
        assert!("25".parse::<Percent>().is_err());
        assert!("-5%".parse::<Percent>().is_err());
    }

    #[test]
    fn floats_are_read_as_written() {
        assert_eq!(decimal_from_f64(0.65), Ok(dec!(0.65)));
        assert_eq!(decimal_from_f64(1e-7), Ok(dec!(0.0000001)));
        assert!(decimal_from_f64(f64::NAN).unwrap_err().contains("not a representable decimal"));
    }
}
