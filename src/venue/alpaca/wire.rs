//! Alpaca's JSON, as it arrives: orders, account, positions, activities, `trade_updates`
//! frames, market-data stream messages, option contracts and snapshots.
//!
//! Only the fields the client uses are read; everything else (and every field Alpaca may drop,
//! such as `pattern_day_trader`) is ignored. Trading API decimals arrive as strings; market-data
//! prices and sizes arrive as JSON numbers and are read through their shortest round-trip text,
//! which is the text as written (`501.26` stays `501.26`, never `501.2599…`).

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::model::{Qty, Side, Timestamp};

/// An order (`/v2/orders`, and inside every `trade_updates` event).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Order {
    /// Alpaca's id.
    pub id: String,
    /// Ours (or one Alpaca made up, for a replacement).
    #[serde(default)]
    pub client_order_id: String,
    /// `new`, `partially_filled`, `filled`, `canceled`, `replaced`, …
    pub status: String,
    /// Ticker or OCC symbol.
    #[serde(default)]
    pub symbol: String,
    /// Ordered quantity (`null` for notional orders).
    #[serde(default)]
    pub qty: Option<Decimal>,
    /// Executed so far.
    #[serde(default)]
    pub filled_qty: Qty,
    /// Average price of what executed.
    #[serde(default)]
    pub filled_avg_price: Option<Decimal>,
    /// Buy or sell.
    pub side: Side,
    /// `market`, `limit`, `stop`, `stop_limit`, `trailing_stop`.
    #[serde(rename = "type", default)]
    pub order_type: String,
    /// Limit price.
    #[serde(default)]
    pub limit_price: Option<Decimal>,
    /// Stop price.
    #[serde(default)]
    pub stop_price: Option<Decimal>,
    /// The order this one replaced.
    #[serde(default)]
    pub replaces: Option<String>,
    /// The order that replaced this one.
    #[serde(default)]
    pub replaced_by: Option<String>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Order {
    /// Quantity still working: ordered minus executed.
    pub fn leaves(&self) -> Qty {
        (self.qty.unwrap_or_default() - self.filled_qty).max(Decimal::ZERO)
    }
}

/// `GET /v2/account` (every field but the money is optional, and ignored here).
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    /// The account number (`PA…` on paper).
    #[serde(default)]
    pub account_number: Option<String>,
    /// `ACTIVE`, …
    #[serde(default)]
    pub status: Option<String>,
    /// `USD`.
    #[serde(default)]
    pub currency: Option<String>,
    /// Cash.
    pub cash: Decimal,
    /// Buying power.
    pub buying_power: Decimal,
    /// Equity.
    pub equity: Decimal,
    /// Trading refused for the account.
    #[serde(default)]
    pub trading_blocked: Option<bool>,
    /// Options approval level (0–3).
    #[serde(default)]
    pub options_approved_level: Option<u8>,
}

/// One of `GET /v2/positions`.
#[derive(Debug, Clone, Deserialize)]
pub struct Position {
    /// Ticker or OCC symbol.
    pub symbol: String,
    /// Quantity (negative for a short on Alpaca; `side` says so too).
    pub qty: Qty,
    /// Average entry price.
    pub avg_entry_price: Decimal,
    /// `long` or `short`.
    #[serde(default)]
    pub side: Option<String>,
}

impl Position {
    /// The signed quantity: > 0 long, < 0 short.
    pub fn signed_qty(&self) -> Qty {
        if self.side.as_deref() == Some("short") { -self.qty.abs() } else { self.qty }
    }
}

/// One execution of `GET /v2/account/activities/FILL`.
#[derive(Debug, Clone, Deserialize)]
pub struct FillActivity {
    /// The activity's id (also the next page's token).
    pub id: String,
    /// Alpaca's id of the order.
    pub order_id: String,
    /// Executed quantity.
    pub qty: Qty,
    /// Execution price.
    pub price: Decimal,
    /// Quantity still working after it.
    #[serde(default)]
    pub leaves_qty: Qty,
    /// When.
    pub transaction_time: DateTime<Utc>,
}

/// A `trade_updates` stream frame: `{"stream": …, "data": …}`.
#[derive(Debug, Deserialize)]
pub struct StreamFrame {
    /// `authorization`, `listening` or `trade_updates`.
    pub stream: String,
    /// The payload.
    #[serde(default)]
    pub data: serde_json::Value,
}

/// An `authorization` frame's payload.
#[derive(Debug, Deserialize)]
pub struct Authorization {
    /// `authorized` or `unauthorized`.
    pub status: String,
}

/// A `trade_updates` event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TradeUpdate {
    /// `new`, `fill`, `partial_fill`, `canceled`, …
    pub event: String,
    /// The execution's id (fills).
    #[serde(default)]
    pub execution_id: Option<String>,
    /// When it happened.
    #[serde(default)]
    pub timestamp: Option<DateTime<Utc>>,
    /// This execution's price (fills).
    #[serde(default)]
    pub price: Option<Decimal>,
    /// This execution's quantity (fills).
    #[serde(default)]
    pub qty: Option<Qty>,
    /// The order after the event.
    pub order: Order,
}

/// One message of the stocks stream (every frame is an array of them).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "T")]
pub enum DataMessage {
    /// `connected`, `authenticated`.
    #[serde(rename = "success")]
    Success {
        /// Which.
        msg: String,
    },
    /// An error frame.
    #[serde(rename = "error")]
    Error {
        /// 400–409, 500.
        code: u16,
        /// Alpaca's words.
        #[serde(default)]
        msg: String,
    },
    /// The subscription now in force.
    #[serde(rename = "subscription")]
    Subscription,
    /// A trade.
    #[serde(rename = "t")]
    Trade {
        /// Ticker.
        #[serde(rename = "S")]
        symbol: String,
        /// Price.
        #[serde(rename = "p")]
        price: Decimal,
        /// Size.
        #[serde(rename = "s")]
        size: Decimal,
        /// Exchange time.
        #[serde(rename = "t")]
        ts: DateTime<Utc>,
    },
    /// A quote.
    #[serde(rename = "q")]
    Quote {
        /// Ticker.
        #[serde(rename = "S")]
        symbol: String,
        /// Bid price.
        #[serde(rename = "bp")]
        bid: Decimal,
        /// Bid size.
        #[serde(rename = "bs")]
        bid_size: Decimal,
        /// Ask price.
        #[serde(rename = "ap")]
        ask: Decimal,
        /// Ask size.
        #[serde(rename = "as")]
        ask_size: Decimal,
        /// Exchange time.
        #[serde(rename = "t")]
        ts: DateTime<Utc>,
    },
    /// A minute bar.
    #[serde(rename = "b")]
    Bar {
        /// Ticker.
        #[serde(rename = "S")]
        symbol: String,
        /// Open.
        #[serde(rename = "o")]
        open: Decimal,
        /// High.
        #[serde(rename = "h")]
        high: Decimal,
        /// Low.
        #[serde(rename = "l")]
        low: Decimal,
        /// Close.
        #[serde(rename = "c")]
        close: Decimal,
        /// Volume.
        #[serde(rename = "v")]
        volume: Decimal,
        /// Start of the minute.
        #[serde(rename = "t")]
        ts: DateTime<Utc>,
    },
    /// Daily and updated bars, statuses, corrections, cancels, and anything newer.
    #[serde(other)]
    Other,
}

/// One contract of `GET /v2/options/contracts`.
#[derive(Debug, Clone, Deserialize)]
pub struct OptionContract {
    /// OCC symbol without padding.
    pub symbol: String,
    /// The underlying's ticker.
    pub underlying_symbol: String,
    /// Expiration date.
    pub expiration_date: NaiveDate,
    /// Strike.
    pub strike_price: Decimal,
    /// `call` or `put`.
    #[serde(rename = "type")]
    pub right: String,
    /// Whether it can be traded now.
    #[serde(default)]
    pub tradable: bool,
    /// Shares per contract.
    #[serde(default)]
    pub multiplier: Option<Decimal>,
    /// Shares per contract (older payloads).
    #[serde(default)]
    pub size: Option<Decimal>,
}

/// A page of `GET /v2/options/contracts`.
#[derive(Debug, Deserialize)]
pub struct OptionContracts {
    /// The contracts.
    pub option_contracts: Vec<OptionContract>,
    /// The next page, if any.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// A quote in Market Data REST answers (`latestQuote`, `quote`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct RestQuote {
    /// Bid price.
    #[serde(rename = "bp")]
    pub bid: Decimal,
    /// Bid size.
    #[serde(rename = "bs", default)]
    pub bid_size: Decimal,
    /// Ask price.
    #[serde(rename = "ap")]
    pub ask: Decimal,
    /// Ask size.
    #[serde(rename = "as", default)]
    pub ask_size: Decimal,
    /// Quote time.
    #[serde(rename = "t")]
    pub ts: DateTime<Utc>,
}

/// `GET /v2/stocks/{symbol}/quotes/latest`.
#[derive(Debug, Deserialize)]
pub struct LatestQuote {
    /// The quote.
    pub quote: RestQuote,
}

/// One option's snapshot.
#[derive(Debug, Deserialize)]
pub struct OptionSnapshot {
    /// The latest quote, if the contract has one.
    #[serde(rename = "latestQuote", default)]
    pub latest_quote: Option<RestQuote>,
}

/// A page of `GET /v1beta1/options/snapshots…`.
#[derive(Debug, Deserialize)]
pub struct OptionSnapshots {
    /// By OCC symbol.
    #[serde(default)]
    pub snapshots: std::collections::BTreeMap<String, OptionSnapshot>,
    /// The next page, if any.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// `GET /v2/assets/{symbol}`.
#[derive(Debug, Deserialize)]
pub struct Asset {
    /// Whether it can be traded.
    #[serde(default)]
    pub tradable: bool,
}

/// An error body: `{"code": 40010001, "message": "…"}`.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    /// Alpaca's words.
    pub message: String,
}

/// A chrono time as a [`Timestamp`].
pub fn ts(t: DateTime<Utc>) -> Timestamp {
    Timestamp::from_datetime(&t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn stream_numbers_keep_the_digits_as_written() {
        let frame = r#"[{"T":"q","S":"AMD","bx":"U","bp":87.66,"bs":1,"ax":"Q","ap":501.26,"as":4,
            "t":"2021-02-22T15:51:45.335689322Z","c":["R"],"z":"C"},
            {"T":"b","S":"SPY","o":388.985,"h":389.13,"l":388.975,"c":389.12,"v":49378,"t":"2021-02-22T19:15:00Z"},
            {"T":"t","i":96921,"S":"AAPL","x":"D","p":126.55,"s":1,"t":"2021-02-22T15:51:44.208Z","c":["@","I"],"z":"C"},
            {"T":"d","S":"SPY","o":1,"h":1,"l":1,"c":1,"v":1,"t":"2021-02-16T04:00:00Z"},
            {"T":"s","S":"AAPL","sc":"H","sm":"Trading Halt","t":"2021-02-22T19:15:00Z","z":"C"}]"#;
        let msgs: Vec<DataMessage> = serde_json::from_str(frame).expect("parses");
        let DataMessage::Quote { bid, ask, ts, .. } = &msgs[0] else { panic!("{:?}", msgs[0]) };
        assert_eq!((bid.to_string(), ask.to_string()), ("87.66".into(), "501.26".into()));
        assert_eq!(ts.timestamp_subsec_nanos(), 335_689_322);
        let DataMessage::Bar { open, low, volume, .. } = &msgs[1] else { panic!("{:?}", msgs[1]) };
        assert_eq!(
            (open.to_string(), low.to_string(), *volume),
            ("388.985".into(), "388.975".into(), dec!(49378))
        );
        assert!(matches!(&msgs[2], DataMessage::Trade { price, .. } if price.to_string() == "126.55"));
        assert_eq!(msgs[3..], [DataMessage::Other, DataMessage::Other]);
    }

    #[test]
    fn an_account_without_the_day_trading_fields_parses() {
        let a: Account = serde_json::from_str(
            r#"{"id":"x","status":"ACTIVE","currency":"USD","cash":"100000.5","buying_power":"200000",
                "equity":"100010","portfolio_value":"100010","some_new_field":{"a":1}}"#,
        )
        .expect("parses");
        assert_eq!((a.cash, a.buying_power, a.equity), (dec!(100000.5), dec!(200000), dec!(100010)));
        let old: Account = serde_json::from_str(
            r#"{"cash":"1","buying_power":"2","equity":"3","pattern_day_trader":false,"daytrade_count":0}"#,
        )
        .expect("parses");
        assert_eq!(old.equity, dec!(3));
    }

    #[test]
    fn a_short_position_is_negative_however_alpaca_signs_it() {
        let p: Position =
            serde_json::from_str(r#"{"symbol":"SPY","qty":"10","side":"short","avg_entry_price":"500.1"}"#)
                .unwrap();
        assert_eq!(p.signed_qty(), dec!(-10));
        let p: Position =
            serde_json::from_str(r#"{"symbol":"SPY","qty":"-10","side":"short","avg_entry_price":"500.1"}"#)
                .unwrap();
        assert_eq!(p.signed_qty(), dec!(-10));
    }
}
