//! Small value types used by recipes, each with its YAML spelling and JSON Schema:
//! percentages (`"25%"`), money (decimal numbers), sizes (`"50%"` or a unit count),
//! timeframes (`"5m"`), clock times (`"15:55"`), strikes (`atm`, `otm:2`, `delta:0.30`)
//! and replay speeds (`max`, `60x`).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveTime;
use rust_decimal::Decimal;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// Implements `Serialize` through `Display` and `Deserialize` through `FromStr`
/// for a type written as a YAML string.
macro_rules! string_serde {
    ($ty:ty, $expecting:literal) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl de::Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
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
        // Emit a number: integers as i64, others as f64 (shortest round-trip text).
        if self.0.fract().is_zero()
            && let Ok(i) = i64::try_from(self.0)
        {
            return s.serialize_i64(i);
        }
        let f: f64 = self.0.to_string().parse().map_err(serde::ser::Error::custom)?;
        s.serialize_f64(f)
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
                // The shortest text that round-trips the float is what the user wrote.
                Decimal::from_str(&v.to_string())
                    .or_else(|_| Decimal::from_scientific(&format!("{v:e}")))
                    .map(Money)
                    .map_err(|_| E::custom(format!("{v} is not a representable decimal amount")))
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
            Self::Units(u) => Money(*u).serialize(s),
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
                Money::deserialize(de::value::F64Deserializer::<E>::new(v)).map(|m| Size::Units(m.0))
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

/// A candle timeframe such as `1s`, `30s`, `5m`, `1h`, `4h` (from 1 second to 4 hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timeframe {
    seconds: u32,
}

impl Timeframe {
    /// The longest allowed timeframe, in seconds (4 hours).
    pub const MAX_SECONDS: u32 = 4 * 3600;

    /// From a number of seconds (1 ..= 14400).
    pub fn from_seconds(seconds: u32) -> Option<Self> {
        (1..=Self::MAX_SECONDS).contains(&seconds).then_some(Self { seconds })
    }

    /// Length in seconds.
    pub fn seconds(self) -> u32 {
        self.seconds
    }

    /// Length in nanoseconds.
    pub fn nanos(self) -> i64 {
        i64::from(self.seconds) * 1_000_000_000
    }
}

impl FromStr for Timeframe {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a timeframe: write a number and a unit s, m or h, e.g. \"5m\"");
        let t = s.trim();
        let unit = t.chars().last().ok_or_else(bad)?;
        let n: u32 = t[..t.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
        let mult = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
        n.checked_mul(mult)
            .and_then(Self::from_seconds)
            .ok_or_else(|| format!("`{s}` is out of range: timeframes go from 1s to 4h"))
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.seconds;
        if s.is_multiple_of(3600) {
            write!(f, "{}h", s / 3600)
        } else if s.is_multiple_of(60) {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

string_serde!(Timeframe, "a timeframe such as \"5m\"");

impl JsonSchema for Timeframe {
    fn schema_name() -> Cow<'static, str> {
        "Timeframe".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[1-9][0-9]*[smh]$",
            "description": "Candle length: a number and a unit s, m or h, from 1s to 4h.",
            "examples": ["1s", "5m", "1h"]
        })
    }
}

/// A wall-clock time in the exchange time zone, written `"HH:MM"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockTime(pub NaiveTime);

impl FromStr for ClockTime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let ok = t.len() == 5 && t.as_bytes()[2] == b':';
        let parsed = if ok { NaiveTime::parse_from_str(t, "%H:%M").ok() } else { None };
        parsed
            .map(Self)
            .ok_or_else(|| format!("`{s}` is not a time: write it as \"HH:MM\" (24-hour), e.g. \"15:55\""))
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%H:%M"))
    }
}

string_serde!(ClockTime, "a time such as \"15:55\"");

impl JsonSchema for ClockTime {
    fn schema_name() -> Cow<'static, str> {
        "ClockTime".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$",
            "description": "A time of day in the exchange time zone, \"HH:MM\" (24-hour).",
            "examples": ["09:30", "15:55"]
        })
    }
}

/// Which option strike to trade, relative to the underlying price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strike {
    /// The strike nearest the underlying price.
    Atm,
    /// N strikes in the money.
    Itm(u32),
    /// N strikes out of the money.
    Otm(u32),
    /// The strike whose absolute delta is nearest this value (0 < delta < 1).
    Delta(Decimal),
}

impl Strike {
    /// The most strikes `itm:N` / `otm:N` may move from the money.
    pub const MAX_STRIKES_AWAY: u32 = 1000;
}

impl FromStr for Strike {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a strike choice: use atm, itm:N, otm:N or delta:0.30");
        let t = s.trim();
        if t == "atm" {
            return Ok(Self::Atm);
        }
        let (k, v) = t.split_once(':').ok_or_else(bad)?;
        match k {
            "itm" | "otm" => {
                let n: u32 = v.parse().map_err(|_| bad())?;
                if n > Self::MAX_STRIKES_AWAY {
                    return Err(format!("`{s}`: {n} strikes away is further than any chain lists"));
                }
                Ok(if k == "itm" { Self::Itm(n) } else { Self::Otm(n) })
            }
            "delta" => {
                let d = Decimal::from_str(v).map_err(|_| bad())?;
                if d > Decimal::ZERO && d < Decimal::ONE {
                    Ok(Self::Delta(d))
                } else {
                    Err(format!("`{s}`: delta must be between 0 and 1, e.g. delta:0.30"))
                }
            }
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Strike {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Atm => f.write_str("atm"),
            Self::Itm(n) => write!(f, "itm:{n}"),
            Self::Otm(n) => write!(f, "otm:{n}"),
            Self::Delta(d) => write!(f, "delta:{d}"),
        }
    }
}

string_serde!(Strike, "a strike choice such as atm, itm:2, otm:1 or delta:0.30");

impl JsonSchema for Strike {
    fn schema_name() -> Cow<'static, str> {
        "Strike".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^(atm|itm:[0-9]+|otm:[0-9]+|delta:0?\\.[0-9]+)$",
            "description": "Strike selection: atm, itm:N or otm:N (N strikes in/out of the money), or delta:D (nearest absolute delta).",
            "examples": ["atm", "otm:2", "delta:0.30"]
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
    fn timeframe_bounds() {
        assert_eq!("5m".parse::<Timeframe>().unwrap().seconds(), 300);
        assert_eq!("4h".parse::<Timeframe>().unwrap().seconds(), 14_400);
        assert_eq!("90s".parse::<Timeframe>().unwrap().to_string(), "90s");
        assert!("5h".parse::<Timeframe>().is_err());
        assert!("0s".parse::<Timeframe>().is_err());
        assert!("5d".parse::<Timeframe>().is_err());
        assert!("m".parse::<Timeframe>().is_err());
    }

    #[test]
    fn strike_forms() {
        assert_eq!("atm".parse::<Strike>().unwrap(), Strike::Atm);
        assert_eq!("otm:2".parse::<Strike>().unwrap(), Strike::Otm(2));
        assert_eq!("delta:0.30".parse::<Strike>().unwrap(), Strike::Delta(dec!(0.30)));
        assert!("delta:1.5".parse::<Strike>().is_err());
        assert!("near".parse::<Strike>().is_err());
    }

    #[test]
    fn clock_time_and_speed() {
        assert_eq!("15:55".parse::<ClockTime>().unwrap().to_string(), "15:55");
        assert!("3:55".parse::<ClockTime>().is_err());
        assert!("25:00".parse::<ClockTime>().is_err());
        assert_eq!("60x".parse::<Speed>().unwrap(), Speed::Times(dec!(60)));
        assert_eq!("max".parse::<Speed>().unwrap(), Speed::Max);
        assert!("fast".parse::<Speed>().is_err());
    }
}
