//! Plain record structs the engine hands to the journal (and gets back from rebuild queries).
//!
//! Money, prices and quantities are `Decimal` (stored as exact TEXT); times are
//! `DateTime<Utc>` (stored and hashed as fixed-width RFC 3339 with nanoseconds and `Z`).
//! These types deliberately depend only on `model` ids, not on engine types.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::model::{AccountId, AgentId, ClientOrderId, InstrumentId, Side};

/// Identifier of one run of one agent (`{agent}-{UTC start}-{random}`), assigned by
/// [`super::Journal::begin_run`]; the run's report directory has the same name, and a run that is
/// not journaled (`runner backtest --no-journal`) gets an id of the same shape from [`RunId::new`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub String);

impl RunId {
    /// A new id for a run of `agent` started at `started_at`: the agent, the start to the second
    /// (UTC) and 8 random hex digits, e.g. `spy-9ma-20261202T150320Z-ffe5abb6`.
    pub fn new(agent: &AgentId, started_at: DateTime<Utc>) -> Self {
        Self(format!("{agent}-{}-{:08x}", started_at.format("%Y%m%dT%H%M%SZ"), rand::random::<u32>()))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a run trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// Simulated clock over recorded data.
    Backtest,
    /// Live-style run against a paper broker.
    Paper,
    /// Real money.
    Live,
}

/// What the engine knows when a run starts (input of [`super::Journal::begin_run`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRun {
    /// The agent that runs.
    pub agent: AgentId,
    /// Path of the recipe, as given on the command line.
    pub recipe: String,
    /// Backtest, paper or live.
    pub mode: RunMode,
    /// When the run started.
    #[serde(with = "ts")]
    pub started_at: DateTime<Utc>,
    /// Free-form metadata (runner version, host, recipe digest …); no git needed.
    pub metadata: BTreeMap<String, String>,
}

/// A run as stored: the begin record plus, once ended, its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Run id.
    pub id: RunId,
    /// What was recorded at the start.
    #[serde(flatten)]
    pub begin: NewRun,
    /// When the run ended (absent while running or after a crash).
    #[serde(with = "ts::option")]
    pub ended_at: Option<DateTime<Utc>>,
    /// How it ended (`completed`, `halted`, `error: …`), if it did.
    pub outcome: Option<String>,
}

/// Order type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderType {
    /// Market order.
    Market,
    /// Limit order.
    Limit,
    /// Stop (market) order.
    Stop,
    /// Stop-limit order.
    StopLimit,
}

/// Order status at the time of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Approved by the risk gate, about to be sent.
    Submitted,
    /// Acknowledged by the venue.
    Accepted,
    /// Partly filled.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Canceled.
    Canceled,
    /// Rejected by the venue.
    Rejected,
    /// Expired.
    Expired,
}

/// One state of an order. Every status change is a new record; the latest one wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    /// Deterministic client order id.
    pub client_order_id: ClientOrderId,
    /// Run that placed it, if any.
    pub run: Option<RunId>,
    /// Agent.
    pub agent: AgentId,
    /// Broker account.
    pub account: AccountId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// Order type.
    pub order_type: OrderType,
    /// Ordered quantity.
    pub qty: Decimal,
    /// Limit price (limit and stop-limit orders).
    pub limit_price: Option<Decimal>,
    /// Stop price (stop and stop-limit orders).
    pub stop_price: Option<Decimal>,
    /// Status reached.
    pub status: OrderStatus,
    /// When the order reached this status.
    #[serde(with = "ts")]
    pub time: DateTime<Utc>,
}

/// One execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillRecord {
    /// Execution id (unique per journal).
    pub fill_id: String,
    /// Order it belongs to.
    pub client_order_id: ClientOrderId,
    /// Run, if any.
    pub run: Option<RunId>,
    /// Agent.
    pub agent: AgentId,
    /// Broker account.
    pub account: AccountId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// Filled quantity (positive).
    pub qty: Decimal,
    /// Fill price.
    pub price: Decimal,
    /// Fees and commissions paid (positive).
    pub fee: Decimal,
    /// Execution time.
    #[serde(with = "ts")]
    pub time: DateTime<Utc>,
}

/// A position snapshot; the latest snapshot per (agent, account, instrument) is the position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionRecord {
    /// Run, if any.
    pub run: Option<RunId>,
    /// Agent.
    pub agent: AgentId,
    /// Broker account.
    pub account: AccountId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Signed quantity (negative = short, zero = flat).
    pub qty: Decimal,
    /// Average entry price.
    pub avg_price: Decimal,
    /// Snapshot time.
    #[serde(with = "ts")]
    pub time: DateTime<Utc>,
}

/// A day trade (open and close of the same instrument on one trading date).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayTradeRecord {
    /// Run, if any.
    pub run: Option<RunId>,
    /// Broker account the rule counts against.
    pub account: AccountId,
    /// Agent.
    pub agent: AgentId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Trading date in New York.
    pub trade_date: NaiveDate,
    /// Quantity round-tripped.
    pub qty: Decimal,
    /// When the closing fill happened.
    #[serde(with = "ts")]
    pub time: DateTime<Utc>,
}

/// An order intent refused by our risk gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenialRecord {
    /// Run, if any.
    pub run: Option<RunId>,
    /// Agent.
    pub agent: AgentId,
    /// Broker account.
    pub account: AccountId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side of the refused intent.
    pub side: Side,
    /// Quantity of the refused intent.
    pub qty: Decimal,
    /// Client order id the order would have had, if assigned.
    pub client_order_id: Option<ClientOrderId>,
    /// Stable reason code (`pdt`, `max_position`, …).
    pub reason_code: String,
    /// Human-readable explanation.
    pub message: String,
    /// When it was refused.
    #[serde(with = "ts")]
    pub time: DateTime<Utc>,
}

/// An external signal (a stream entry, a socket message) and what became of it: the orders
/// it caused, or why it was refused. One per (agent, source, signal id): a redelivered entry
/// finds it and is never traded again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalRecord {
    /// Run, if any.
    pub run: Option<RunId>,
    /// Agent.
    pub agent: AgentId,
    /// Where it came from: `redis:<stream>:<group>` or `socket`.
    pub source: String,
    /// The source's id for it (the stream entry id), if it had one.
    pub signal_id: Option<String>,
    /// The ticker as published (empty when the entry had none).
    pub ticker: String,
    /// `buy` or `sell` (empty when the entry could not be read).
    pub direction: String,
    /// Strength in percent.
    pub strength: u8,
    /// `accepted` or `refused`.
    pub status: String,
    /// Why it was refused (stale, malformed, outside the session, the risk gate's reason).
    pub reason: Option<String>,
    /// The client order ids it caused.
    pub orders: Vec<ClientOrderId>,
    /// When it was published.
    #[serde(with = "ts")]
    pub published: DateTime<Utc>,
    /// When the agent took it.
    #[serde(with = "ts")]
    pub time: DateTime<Utc>,
}

/// An operator's action on a running agent (the dashboard, the API): who, what, when, and for
/// a parameter edit the old and new value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlRecord {
    /// Run, if any.
    pub run: Option<RunId>,
    /// Agent (`None` for the fleet).
    pub agent: Option<AgentId>,
    /// `halt`, `resume`, `flatten`, `enable`, `disable`, `set-param`, `fleet-halt`.
    pub action: String,
    /// Who asked (`http 127.0.0.1:53022`).
    pub by: String,
    /// For `set-param`: the recipe key.
    pub key: Option<String>,
    /// For `set-param`: the value before.
    pub old: Option<String>,
    /// For `set-param`: the value asked for.
    pub new: Option<String>,
    /// `applied`, `pending`, or `refused: …`.
    pub result: String,
    /// When.
    #[serde(with = "ts")]
    pub time: DateTime<Utc>,
}

/// Who a halt applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HaltScope {
    /// One agent.
    Agent,
    /// The whole fleet.
    Fleet,
}

/// A trading halt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaltRecord {
    /// Run, if any.
    pub run: Option<RunId>,
    /// Agent or fleet.
    pub scope: HaltScope,
    /// The agent halted (for `Agent` scope).
    pub agent: Option<AgentId>,
    /// Why.
    pub reason: String,
    /// When.
    #[serde(with = "ts")]
    pub time: DateTime<Utc>,
}

/// The end of a run (audited separately from its begin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunEnd {
    pub(crate) id: RunId,
    #[serde(with = "ts")]
    pub(crate) ended_at: DateTime<Utc>,
    pub(crate) outcome: String,
}

/// The begin of a run as audited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunBegin {
    pub(crate) id: RunId,
    #[serde(flatten)]
    pub(crate) begin: NewRun,
}

/// Fixed-width RFC 3339 UTC timestamps (`2013-10-07T13:30:00.000000000Z`): the one text
/// form used in SQLite columns and in hashed JSON, so that it sorts and round-trips exactly.
pub mod ts {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Format a time the way the journal stores it.
    pub fn format(t: &DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::Nanos, true)
    }

    /// Parse a stored time (any RFC 3339 offset is accepted and converted to UTC).
    pub fn parse(s: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
        DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc))
    }

    /// serde `serialize_with`.
    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }

    /// serde `deserialize_with`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }

    /// The same for `Option<DateTime<Utc>>`.
    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serializer};

        /// serde `serialize_with`.
        pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&super::format(t)),
                None => s.serialize_none(),
            }
        }

        /// serde `deserialize_with`.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
            let s = Option::<String>::deserialize(d)?;
            s.map(|s| super::parse(&s).map_err(serde::de::Error::custom)).transpose()
        }
    }
}
