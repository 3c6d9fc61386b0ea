//! One-off reads for the runtime and `runner validate --online`: the account, whether a symbol
//! trades, the latest stock quote, the listed option contracts and their quotes. Each goes
//! through the account's request budget and the error rules of `super::http` and places
//! nothing.

use std::sync::Arc;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::config::AlpacaConfig;
use super::http::{Api, Failure, Rest};
use super::wire;
use crate::model::{Money, Price, Qty, Timestamp};
use crate::options::OptionRight;
use crate::venue::VenueError;

/// Contracts per page of `/v2/options/contracts` (Alpaca allows up to 10 000).
const CONTRACT_PAGE: u32 = 1000;
/// Snapshots per page of `/v1beta1/options/snapshots`.
const SNAPSHOT_PAGE: u32 = 1000;
/// Most pages read in one listing.
const MAX_PAGES: usize = 100;

/// What `GET /v2/account` says, in short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSummary {
    /// The account number (`PA…` on paper).
    pub number: Option<String>,
    /// `ACTIVE`, …
    pub status: Option<String>,
    /// `USD`.
    pub currency: Option<String>,
    /// Cash.
    pub cash: Money,
    /// Buying power.
    pub buying_power: Money,
    /// Equity.
    pub equity: Money,
    /// Whether Alpaca refuses trades for the account.
    pub trading_blocked: bool,
    /// The options approval level, if Alpaca says.
    pub options_level: Option<u8>,
}

/// Whether a symbol can be traded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetStatus {
    /// Listed and tradable.
    Tradable,
    /// Listed, not tradable now.
    NotTradable,
    /// Alpaca does not know it.
    Unknown,
}

/// The latest top of book of a stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockQuote {
    /// Best bid.
    pub bid: Price,
    /// Size at the bid.
    pub bid_size: Qty,
    /// Best ask.
    pub ask: Price,
    /// Size at the ask.
    pub ask_size: Qty,
    /// Quote time.
    pub ts: Timestamp,
}

/// One listed option contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedContract {
    /// OCC symbol without padding (`SPY241122C00590000`).
    pub occ: String,
    /// The underlying's ticker.
    pub underlying: String,
    /// Expiration date.
    pub expiration: NaiveDate,
    /// Strike.
    pub strike: Price,
    /// Call or put.
    pub right: OptionRight,
    /// Whether it can be traded now.
    pub tradable: bool,
    /// Shares per contract.
    pub multiplier: Decimal,
}

/// Which contracts to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractQuery {
    /// The underlying's ticker.
    pub underlying: String,
    /// First expiration date.
    pub expiry_from: NaiveDate,
    /// Last expiration date.
    pub expiry_to: NaiveDate,
    /// Lowest strike.
    pub strike_min: Option<Price>,
    /// Highest strike.
    pub strike_max: Option<Price>,
    /// Calls or puts only.
    pub right: Option<OptionRight>,
}

/// An option's latest quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionQuote {
    /// OCC symbol without padding.
    pub occ: String,
    /// Best bid.
    pub bid: Price,
    /// Best ask.
    pub ask: Price,
    /// Quote time.
    pub ts: Timestamp,
}

/// Which snapshots to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snapshots<'a> {
    /// Every contract of an underlying.
    Underlying(&'a str),
    /// These contracts (OCC symbols).
    Symbols(&'a [String]),
}

fn rest(cfg: &AlpacaConfig) -> Result<Rest, VenueError> {
    Rest::new(Arc::new(cfg.clone()))
}

/// Authenticate and read the account (`GET /v2/account`).
///
/// # Errors
/// Refused keys (the message names the secret), an unreachable or failing Alpaca.
pub async fn check_account(cfg: &AlpacaConfig) -> Result<AccountSummary, VenueError> {
    let rest = rest(cfg)?;
    let a: wire::Account =
        rest.get(Api::Trading, "/v2/account", &[]).await.map_err(|f| rest.venue_error(&f))?;
    Ok(AccountSummary {
        number: a.account_number,
        status: a.status,
        currency: a.currency,
        cash: a.cash,
        buying_power: a.buying_power,
        equity: a.equity,
        trading_blocked: a.trading_blocked.unwrap_or(false),
        options_level: a.options_approved_level,
    })
}

/// Whether `symbol` (a ticker, or an OCC symbol without padding) can be traded.
///
/// # Errors
/// Refused keys, an unreachable or failing Alpaca.
pub async fn asset_tradable(cfg: &AlpacaConfig, symbol: &str) -> Result<AssetStatus, VenueError> {
    let rest = rest(cfg)?;
    let option = symbol.parse::<crate::options::OptionContract>().is_ok();
    let path =
        if option { format!("/v2/options/contracts/{symbol}") } else { format!("/v2/assets/{symbol}") };
    match rest.get::<wire::Asset>(Api::Trading, &path, &[]).await {
        Ok(a) if a.tradable => Ok(AssetStatus::Tradable),
        Ok(_) => Ok(AssetStatus::NotTradable),
        Err(Failure::Status { status: 404 | 422, .. }) => Ok(AssetStatus::Unknown),
        Err(f) => Err(rest.venue_error(&f)),
    }
}

/// The latest quote of a stock (`GET /v2/stocks/{symbol}/quotes/latest`).
///
/// # Errors
/// Refused keys, an unknown symbol, an unreachable or failing Alpaca.
pub async fn latest_quote(cfg: &AlpacaConfig, symbol: &str) -> Result<StockQuote, VenueError> {
    let rest = rest(cfg)?;
    let path = format!("/v2/stocks/{symbol}/quotes/latest");
    let q: wire::LatestQuote = rest.get(Api::Data, &path, &[]).await.map_err(|f| rest.venue_error(&f))?;
    let q = q.quote;
    Ok(StockQuote { bid: q.bid, bid_size: q.bid_size, ask: q.ask, ask_size: q.ask_size, ts: wire::ts(q.ts) })
}

/// The listed contracts of `q` (`GET /v2/options/contracts`, every page), active ones only.
///
/// # Errors
/// Refused keys, an unreachable or failing Alpaca, a contract that cannot be read.
pub async fn option_contracts(
    cfg: &AlpacaConfig,
    q: &ContractQuery,
) -> Result<Vec<ListedContract>, VenueError> {
    let rest = rest(cfg)?;
    let mut query = vec![
        ("underlying_symbols", q.underlying.clone()),
        ("expiration_date_gte", q.expiry_from.to_string()),
        ("expiration_date_lte", q.expiry_to.to_string()),
        ("limit", CONTRACT_PAGE.to_string()),
    ];
    query.extend(q.strike_min.map(|s| ("strike_price_gte", s.to_string())));
    query.extend(q.strike_max.map(|s| ("strike_price_lte", s.to_string())));
    query.extend(q.right.map(|r| ("type", r.to_string())));
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut page_query = query.clone();
        page_query.extend(token.take().map(|t| ("page_token", t)));
        let page: wire::OptionContracts = rest
            .get(Api::Trading, "/v2/options/contracts", &page_query)
            .await
            .map_err(|f| rest.venue_error(&f))?;
        for c in page.option_contracts {
            out.push(listed(c)?);
        }
        match page.next_page_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok(out),
        }
    }
    Err(VenueError::Terminal(format!(
        "Alpaca's option chain of {} has more than {MAX_PAGES} pages",
        q.underlying
    )))
}

fn listed(c: wire::OptionContract) -> Result<ListedContract, VenueError> {
    let right = match c.right.as_str() {
        "call" => OptionRight::Call,
        "put" => OptionRight::Put,
        other => {
            let other = crate::text::printable(other);
            return Err(VenueError::Terminal(format!(
                "option contract {}: unknown type `{other}`",
                c.symbol
            )));
        }
    };
    Ok(ListedContract {
        multiplier: c.multiplier.or(c.size).unwrap_or(Decimal::ONE_HUNDRED),
        occ: c.symbol,
        underlying: c.underlying_symbol,
        expiration: c.expiration_date,
        strike: c.strike_price,
        right,
        tradable: c.tradable,
    })
}

/// The latest quotes of options (`GET /v1beta1/options/snapshots/{underlying}` or
/// `/v1beta1/options/snapshots?symbols=…`, every page); contracts without a quote are left out.
///
/// # Errors
/// Refused keys, an unreachable or failing Alpaca.
pub async fn option_snapshots(
    cfg: &AlpacaConfig,
    which: Snapshots<'_>,
) -> Result<Vec<OptionQuote>, VenueError> {
    let rest = rest(cfg)?;
    let (path, mut query) = match which {
        Snapshots::Underlying(u) => (format!("/v1beta1/options/snapshots/{u}"), Vec::new()),
        Snapshots::Symbols(s) => ("/v1beta1/options/snapshots".to_owned(), vec![("symbols", s.join(","))]),
    };
    query.push(("limit", SNAPSHOT_PAGE.to_string()));
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut page_query = query.clone();
        page_query.extend(token.take().map(|t| ("page_token", t)));
        let page: wire::OptionSnapshots =
            rest.get(Api::Data, &path, &page_query).await.map_err(|f| rest.venue_error(&f))?;
        out.extend(page.snapshots.into_iter().filter_map(|(occ, s)| {
            let q = s.latest_quote?;
            Some(OptionQuote { occ, bid: q.bid, ask: q.ask, ts: wire::ts(q.ts) })
        }));
        match page.next_page_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok(out),
        }
    }
    Err(VenueError::Terminal(format!("Alpaca's option snapshots have more than {MAX_PAGES} pages")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn a_listed_contract_reads_alpacas_fields() {
        let c: wire::OptionContract = serde_json::from_str(
            r#"{"id":"u","symbol":"SPY250620C00550000","name":"SPY Jun 20 2025 550 Call","status":"active",
                "tradable":true,"expiration_date":"2025-06-20","root_symbol":"SPY","underlying_symbol":"SPY",
                "type":"call","style":"american","strike_price":"550","size":"100","open_interest":"1234"}"#,
        )
        .unwrap();
        let l = listed(c).unwrap();
        assert_eq!(
            (l.occ.as_str(), l.strike, l.right, l.multiplier),
            ("SPY250620C00550000", dec!(550), OptionRight::Call, dec!(100))
        );
        assert_eq!(l.expiration, NaiveDate::from_ymd_opt(2025, 6, 20).unwrap());
        let odd: wire::OptionContract = serde_json::from_str(
            r#"{"symbol":"X","underlying_symbol":"X","expiration_date":"2025-06-20","strike_price":"1","type":"straddle"}"#,
        )
        .unwrap();
        assert!(listed(odd).is_err());
    }

    #[test]
    fn snapshots_keep_the_quote_of_each_contract() {
        let page: wire::OptionSnapshots = serde_json::from_str(
            r#"{"next_page_token":null,"snapshots":{"AAPL240426C00162500":{"impliedVolatility":0.33,
               "latestQuote":{"ap":4.3,"as":91,"ax":"B","bp":4.15,"bs":16,"bx":"C","c":"A","t":"2024-04-22T19:59:59.992734208Z"}},
               "AAPL240426C00165000":{"latestTrade":{"p":1,"s":1,"t":"2024-04-22T19:57:32.589554432Z"}}}}"#,
        )
        .unwrap();
        let q = page.snapshots["AAPL240426C00162500"].latest_quote.unwrap();
        assert_eq!((q.bid, q.ask), (dec!(4.15), dec!(4.3)));
        assert!(page.snapshots["AAPL240426C00165000"].latest_quote.is_none());
    }
}
