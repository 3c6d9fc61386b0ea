//! Market-data objects as Alpaca writes them: prices and sizes as JSON numbers (written from the
//! decimals' text, so no binary floating point is involved), RFC 3339 times with nanoseconds.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::state::{Print, Touch, ts};

/// A JSON object under construction, written as text.
pub(super) struct Obj(String);

impl Obj {
    pub fn new() -> Self {
        Self(String::from("{"))
    }

    fn key(&mut self, k: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        let _ = write!(self.0, "{}:", serde_json::Value::from(k));
    }

    /// A string field.
    pub fn str(mut self, k: &str, v: &str) -> Self {
        self.key(k);
        self.0.push_str(&serde_json::Value::from(v).to_string());
        self
    }

    /// A number field.
    pub fn num(mut self, k: &str, v: Decimal) -> Self {
        self.key(k);
        self.0.push_str(&v.normalize().to_string());
        self
    }

    /// A field holding JSON text as is.
    pub fn raw(mut self, k: &str, json: &str) -> Self {
        self.key(k);
        self.0.push_str(json);
        self
    }

    /// A time field.
    pub fn time(self, k: &str, t: DateTime<Utc>) -> Self {
        self.str(k, &ts(t))
    }

    pub fn end(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

/// A stock trade (`T`/`S` first when `stream` is set: the stream's `t` message; else the REST
/// `trade` object).
pub(super) fn stock_trade(stream: Option<&str>, id: u64, p: &Print) -> String {
    let o = match stream {
        Some(symbol) => Obj::new().str("T", "t").str("S", symbol),
        None => Obj::new(),
    };
    o.num("i", Decimal::from(id))
        .str("x", "V")
        .num("p", p.price)
        .num("s", p.size)
        .time("t", p.ts)
        .raw("c", r#"["@"]"#)
        .str("z", "C")
        .end()
}

/// A stock quote (the stream's `q` message with `stream`, else the REST `quote` object).
pub(super) fn stock_quote(stream: Option<&str>, q: &Touch) -> String {
    let o = match stream {
        Some(symbol) => Obj::new().str("T", "q").str("S", symbol),
        None => Obj::new(),
    };
    o.str("bx", "V")
        .num("bp", q.bid)
        .num("bs", q.bid_size)
        .str("ax", "V")
        .num("ap", q.ask)
        .num("as", q.ask_size)
        .time("t", q.ts)
        .raw("c", r#"["R"]"#)
        .str("z", "C")
        .end()
}

/// A minute bar, the stream's `b` message.
pub(super) fn stock_bar(symbol: &str, bar: &super::FakeBar, t: DateTime<Utc>) -> String {
    Obj::new()
        .str("T", "b")
        .str("S", symbol)
        .num("o", bar.open)
        .num("h", bar.high)
        .num("l", bar.low)
        .num("c", bar.close)
        .num("v", bar.volume)
        .time("t", t)
        .end()
}

/// An option quote of the Market Data API (`latestQuote`).
pub(super) fn option_quote(q: &Touch) -> String {
    Obj::new()
        .num("ap", q.ask)
        .num("as", q.ask_size)
        .str("ax", "C")
        .num("bp", q.bid)
        .num("bs", q.bid_size)
        .str("bx", "C")
        .str("c", "A")
        .time("t", q.ts)
        .end()
}

/// An option trade of the Market Data API (`latestTrade`).
pub(super) fn option_trade(p: &Print) -> String {
    Obj::new().str("c", "I").num("p", p.price).num("s", p.size).time("t", p.ts).str("x", "C").end()
}

/// `{"k1":v1,"k2":v2}` from already-written values.
pub(super) fn map<'a>(entries: impl IntoIterator<Item = (&'a str, String)>) -> String {
    entries.into_iter().fold(Obj::new(), |o, (k, v)| o.raw(k, &v)).end()
}
