//! The fake's option contracts: OCC symbols, the `OptionContract` objects of the Trading API, and
//! a generated chain around a price.

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::ids;

/// Call or put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    /// A call.
    Call,
    /// A put.
    Put,
}

impl OptionKind {
    /// `call` / `put`, as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Call => "call",
            Self::Put => "put",
        }
    }
}

/// One listed option contract (multiplier 100, American style, active).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeContract {
    /// OCC symbol, e.g. `SPY250620C00550000`.
    pub symbol: String,
    /// Underlying symbol, e.g. `SPY`.
    pub underlying: String,
    /// Last trading day.
    pub expiration: NaiveDate,
    /// Call or put.
    pub kind: OptionKind,
    /// Strike price.
    pub strike: Decimal,
}

impl FakeContract {
    /// The contract on `underlying` expiring on `expiration` at `strike`, with its OCC symbol.
    pub fn new(underlying: &str, expiration: NaiveDate, kind: OptionKind, strike: Decimal) -> Self {
        let cp = match kind {
            OptionKind::Call => 'C',
            OptionKind::Put => 'P',
        };
        let mills = (strike * Decimal::ONE_THOUSAND).trunc();
        let symbol = format!("{underlying}{}{cp}{mills:0>8}", expiration.format("%y%m%d"));
        Self { symbol, underlying: underlying.to_owned(), expiration, kind, strike }
    }

    /// The `OptionContract` object of `GET /v2/options/contracts`.
    pub(super) fn to_json(&self) -> Value {
        let kind = match self.kind {
            OptionKind::Call => "Call",
            OptionKind::Put => "Put",
        };
        let name = format!(
            "{} {} {} {} {} {kind}",
            self.underlying,
            self.expiration.format("%b"),
            self.expiration.day(),
            self.expiration.year(),
            self.strike.normalize(),
        );
        json!({
            "id": ids::asset_id(&self.symbol),
            "symbol": self.symbol,
            "name": name,
            "status": "active",
            "tradable": true,
            "expiration_date": self.expiration.to_string(),
            "root_symbol": self.underlying,
            "underlying_symbol": self.underlying,
            "underlying_asset_id": ids::asset_id(&self.underlying),
            "type": self.kind.as_str(),
            "style": "american",
            "strike_price": self.strike.normalize().to_string(),
            "multiplier": "100",
            "size": "100",
            "open_interest": null,
            "open_interest_date": null,
            "close_price": null,
            "close_price_date": null,
        })
    }
}

/// A chain on `underlying`: for every expiration, calls and puts at `strikes_each_side` strikes
/// below and above `price` (rounded down to a multiple of `step`), `step` apart.
pub fn chain_around(
    underlying: &str,
    price: Decimal,
    expirations: &[NaiveDate],
    strikes_each_side: u32,
    step: Decimal,
) -> Vec<FakeContract> {
    let atm = (price / step).floor() * step;
    let mut out = Vec::new();
    for &expiration in expirations {
        for kind in [OptionKind::Call, OptionKind::Put] {
            let side = i64::from(strikes_each_side);
            for k in -side..=side {
                let strike = atm + step * Decimal::from(k);
                if strike > Decimal::ZERO {
                    out.push(FakeContract::new(underlying, expiration, kind, strike));
                }
            }
        }
    }
    out
}

/// Whether `symbol` is shaped like an OCC option symbol (root, `yymmdd`, `C`/`P`, 8 digits).
pub(super) fn is_occ(symbol: &str) -> bool {
    let b = symbol.as_bytes();
    if b.len() < 16 || b.len() > 21 {
        return false;
    }
    let tail = &b[b.len() - 15..];
    tail[..6].iter().all(u8::is_ascii_digit)
        && matches!(tail[6], b'C' | b'P')
        && tail[7..].iter().all(u8::is_ascii_digit)
        && b[..b.len() - 15].iter().all(u8::is_ascii_uppercase)
}
