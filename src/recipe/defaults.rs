//! The defaults applied to optional recipe fields, in one place.
//!
//! Many recipe fields are optional because they only make sense for some kinds (the replay
//! `speed`, the paper broker's `slippage_ticks`, ma-cross-breakout's `breakout_mode`, …), so
//! the model keeps them as `Option` and validation can tell "not written" from "written".
//! What the engine uses when such a field is left out is defined here, and only here:
//!
//! - the constants below are the values; the model's `#[schemars(extend("default" = …))]`
//!   attributes put them in the JSON Schema (and so in `docs/recipes.md`);
//! - the `*_or_default` accessors are what the engine and the validation passes read;
//! - [`Recipe::resolved`] fills every default that applies to the recipe's kinds, for
//!   `runner show`. A default that does not apply to a kind (e.g. `breakout_mode` for a
//!   correlation recipe) is not filled in.

use rust_decimal::Decimal;

use super::model::{
    Algorithm, AlgorithmKind, BreakoutMode, Broker, BrokerKind, Instrument, InstrumentKind, PriceBand,
    PriceBandLimits, Provider, ProviderKind, Recipe, Risk,
};
use super::model::{SignalSourceKind, Signals};
use super::types::{Age, Money, Percent, Quantity, Size, Speed};

/// `provider.speed` (replay): no pacing.
pub const SPEED: Speed = Speed::Max;
/// `provider.price_band` (replay): drop prints more than 0.5 % from the instrument's last
/// accepted price of the past 10 seconds. SPY's off-market prints in `data/` are 0.9 % away;
/// a real move of 0.5 % within seconds is confirmed by the prints that follow (docs/engine.md).
pub const PRICE_BAND: PriceBand = PriceBand::Limits(PriceBandLimits {
    max_deviation: Percent::from_fraction(Decimal::from_parts(5, 0, 0, false, 3)),
    window_seconds: 10,
});
/// `broker.slippage_ticks` (paper): none.
pub const SLIPPAGE_TICKS: u32 = 0;
/// `broker.commission_per_share`, `commission_per_contract`, `commission_per_order` (paper): none.
pub const COMMISSION: Money = Money(Decimal::ZERO);
/// `instrument.implied_vol` (option): the synthetic chain's implied volatility, 16%.
pub const IMPLIED_VOL: Percent = Percent::from_fraction(crate::options::chain::DEFAULT_IMPLIED_VOL);
/// `instrument.rate` (option): the synthetic chain's continuously compounded risk-free rate, 4%
/// a year (set it for the period replayed: ≈0.001 for 2013).
pub const RATE: f64 = crate::options::chain::DEFAULT_RATE;
/// `instrument.quantity_increment` (crypto): one satoshi, the base increment of Coinbase's
/// BTC-USD (shares and option contracts trade in whole units).
pub const QUANTITY_INCREMENT_CRYPTO: Quantity = Quantity(Decimal::from_parts(1, 0, 0, false, 8));
/// `algorithm.breakout_mode` (ma-cross-breakout): a break of the candles' range.
pub const BREAKOUT_MODE: BreakoutMode = BreakoutMode::Range;
/// `algorithm.swing_lookback` (correlation).
pub const SWING_LOOKBACK: u32 = crate::strategy::correlation::DEFAULT_SWING_LOOKBACK;
/// `algorithm.fractal_lookback` (correlation).
pub const FRACTAL_LOOKBACK: u32 = crate::strategy::correlation::DEFAULT_FRACTAL_LOOKBACK;
/// `algorithm.ma_period` (target-position; ma-cross-breakout requires it): 20 candles.
pub const TARGET_POSITION_PERIOD: u32 = 20;
/// `algorithm.tolerance` (target-position): 5%.
pub const TOLERANCE: Percent = Percent::from_fraction(Decimal::from_parts(5, 0, 0, false, 2));
/// `algorithm.signals.max_signal_age` (redis, socket): 5 seconds.
pub const MAX_SIGNAL_AGE: Age = Age(std::time::Duration::from_secs(5));
/// `algorithm.signals` (external-signal): the recorded file `<recipe>.signals.csv`.
pub const SIGNALS: Signals = Signals {
    source: SignalSourceKind::File,
    url: None,
    stream: None,
    group: None,
    fields: None,
    credentials: None,
    path: None,
    max_signal_age: None,
};
/// `risk.entry_size`: the whole allocation.
pub const ENTRY_SIZE: Size = Size::Percent(Percent::from_fraction(Decimal::ONE));

impl Provider {
    /// The replay pacing, [`SPEED`] when not written.
    pub fn speed_or_default(&self) -> Speed {
        self.speed.unwrap_or(SPEED)
    }

    /// The off-market print filter, [`PRICE_BAND`] when not written.
    pub fn price_band_or_default(&self) -> PriceBand {
        self.price_band.unwrap_or(PRICE_BAND)
    }
}

impl Broker {
    /// Paper slippage in ticks, [`SLIPPAGE_TICKS`] when not written.
    pub fn slippage_ticks_or_default(&self) -> u32 {
        self.slippage_ticks.unwrap_or(SLIPPAGE_TICKS)
    }

    /// Commission per share, [`COMMISSION`] when not written.
    pub fn commission_per_share_or_default(&self) -> Money {
        self.commission_per_share.unwrap_or(COMMISSION)
    }

    /// Commission per option contract, [`COMMISSION`] when not written.
    pub fn commission_per_contract_or_default(&self) -> Money {
        self.commission_per_contract.unwrap_or(COMMISSION)
    }

    /// Commission per order, [`COMMISSION`] when not written.
    pub fn commission_per_order_or_default(&self) -> Money {
        self.commission_per_order.unwrap_or(COMMISSION)
    }
}

impl Instrument {
    /// The synthetic option chain's implied volatility, [`IMPLIED_VOL`] when not written.
    pub fn implied_vol_or_default(&self) -> Percent {
        self.implied_vol.unwrap_or(IMPLIED_VOL)
    }

    /// The synthetic option chain's risk-free rate, [`RATE`] when not written.
    pub fn rate_or_default(&self) -> f64 {
        self.rate.unwrap_or(RATE)
    }

    /// The smallest quantity step: 1 for shares and contracts; for crypto the recipe's
    /// `quantity_increment`, [`QUANTITY_INCREMENT_CRYPTO`] when not written.
    pub fn quantity_increment_or_default(&self) -> Decimal {
        match self.kind {
            InstrumentKind::Crypto => self.quantity_increment.unwrap_or(QUANTITY_INCREMENT_CRYPTO).value(),
            InstrumentKind::Equity | InstrumentKind::Option => Decimal::ONE,
        }
    }
}

impl Algorithm {
    /// ma-cross-breakout's confirmation, [`BREAKOUT_MODE`] when not written.
    pub fn breakout_mode_or_default(&self) -> BreakoutMode {
        self.breakout_mode.unwrap_or(BREAKOUT_MODE)
    }

    /// correlation's swing lookback, [`SWING_LOOKBACK`] when not written.
    pub fn swing_lookback_or_default(&self) -> u32 {
        self.swing_lookback.unwrap_or(SWING_LOOKBACK)
    }

    /// correlation's fractal lookback, [`FRACTAL_LOOKBACK`] when not written.
    pub fn fractal_lookback_or_default(&self) -> u32 {
        self.fractal_lookback.unwrap_or(FRACTAL_LOOKBACK)
    }

    /// target-position's period, [`TARGET_POSITION_PERIOD`] when not written.
    pub fn target_position_period(&self) -> u32 {
        self.ma_period.unwrap_or(TARGET_POSITION_PERIOD)
    }

    /// target-position's no-trade band, [`TOLERANCE`] when not written.
    pub fn tolerance_or_default(&self) -> Percent {
        self.tolerance.unwrap_or(TOLERANCE)
    }

    /// external-signal's signals, [`SIGNALS`] (the recorded file) when not written.
    pub fn signals_or_default(&self) -> Signals {
        self.signals.clone().unwrap_or(SIGNALS)
    }
}

impl Recipe {
    /// The recorded signals file an external-signal recipe replays (`algorithm.signals.path`
    /// relative to the recipe file, else `<recipe>.signals.csv` beside it); `None` for other
    /// algorithms and for live signal sources.
    pub fn signal_file(&self, recipe_file: &std::path::Path) -> Option<std::path::PathBuf> {
        if self.algorithm.kind != AlgorithmKind::ExternalSignal {
            return None;
        }
        let sig = self.algorithm.signals_or_default();
        if sig.source != SignalSourceKind::File {
            return None;
        }
        Some(match sig.path {
            Some(p) => recipe_file.parent().unwrap_or(std::path::Path::new("")).join(p),
            None => crate::strategy::external_signal::signal_file_for(recipe_file),
        })
    }
}

impl Signals {
    /// How old a live signal may be, [`MAX_SIGNAL_AGE`] when not written.
    pub fn max_signal_age_or_default(&self) -> std::time::Duration {
        self.max_signal_age.unwrap_or(MAX_SIGNAL_AGE).0
    }
}

impl Risk {
    /// The entry size, [`ENTRY_SIZE`] (the whole allocation) when not written.
    pub fn entry_size_or_default(&self) -> Size {
        self.entry_size.unwrap_or(ENTRY_SIZE)
    }
}

impl Recipe {
    /// The allocation sizes in percent are of: `risk.allocation`, else the paper broker's
    /// `starting_equity` (`None` when neither is written).
    pub fn allocation_or_default(&self) -> Option<Money> {
        self.risk.allocation.or(self.broker.starting_equity)
    }

    /// The recipe with every default that applies to its kinds filled in: what the engine
    /// runs with, as `runner show` prints it. Defaults of other kinds stay unset, so the
    /// result is itself a valid recipe when `self` is.
    pub fn resolved(&self) -> Recipe {
        let mut r = self.clone();
        if r.provider.kind == ProviderKind::Replay {
            r.provider.speed = Some(r.provider.speed_or_default());
            r.provider.price_band = Some(r.provider.price_band_or_default());
        }
        let b = &mut r.broker;
        if b.kind == BrokerKind::Paper {
            b.slippage_ticks = Some(b.slippage_ticks_or_default());
            b.commission_per_order = Some(b.commission_per_order_or_default());
            // The paper broker charges per contract for options and per share otherwise.
            if r.instrument.kind == InstrumentKind::Option {
                b.commission_per_contract = Some(b.commission_per_contract_or_default());
            } else {
                b.commission_per_share = Some(b.commission_per_share_or_default());
            }
        }
        if r.instrument.kind == InstrumentKind::Crypto {
            r.instrument.quantity_increment = Some(Quantity(r.instrument.quantity_increment_or_default()));
        }
        if r.instrument.kind == InstrumentKind::Option {
            r.instrument.implied_vol = Some(r.instrument.implied_vol_or_default());
            r.instrument.rate = Some(r.instrument.rate_or_default());
        }
        let a = &mut r.algorithm;
        match a.kind {
            AlgorithmKind::MaCrossBreakout => a.breakout_mode = Some(a.breakout_mode_or_default()),
            AlgorithmKind::Correlation => {
                a.swing_lookback = Some(a.swing_lookback_or_default());
                a.fractal_lookback = Some(a.fractal_lookback_or_default());
            }
            AlgorithmKind::TargetPosition => {
                a.ma_period = Some(a.target_position_period());
                a.tolerance = Some(a.tolerance_or_default());
            }
            AlgorithmKind::ExternalSignal => {
                let mut sig = a.signals_or_default();
                if sig.source != SignalSourceKind::File {
                    sig.max_signal_age = Some(Age(sig.max_signal_age_or_default()));
                }
                a.signals = Some(sig);
            }
        }
        r.risk.allocation = r.allocation_or_default();
        // A size in percent needs an allocation; without one the engine has nothing to size.
        if r.risk.allocation.is_some() {
            r.risk.entry_size = Some(r.risk.entry_size_or_default());
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::super::schema::{recipe_schema, schema_at};
    use super::*;

    fn recipe(src: &str) -> Recipe {
        crate::recipe::from_yaml_str(src).expect("test recipe loads")
    }

    const BASE: &str = "version: 1\nagent: a\n\
        provider: {kind: replay, path: x.csv}\n\
        broker: {kind: paper, account: p, starting_equity: 1000}\n\
        instrument: {underlying: SPY, kind: equity}\n";

    /// The schema's `default` at `ptr` (the raw property, before resolving `$ref`s).
    fn schema_default(ptr: &str) -> Option<serde_json::Value> {
        let (parent, last) = ptr.rsplit_once('/').expect("a pointer");
        let root = recipe_schema();
        schema_at(root, parent)?.get("properties")?.get(last)?.get("default").cloned()
    }

    #[test]
    fn resolved_fills_what_the_schema_documents_and_only_for_its_kinds() {
        let mac = recipe(&format!(
            "{BASE}algorithm: {{kind: ma-cross-breakout, timeframe: 5m, ma_period: 9, breakout_lookback: 7}}\n"
        ));
        let cor = recipe(&format!(
            "{BASE}algorithm: {{kind: correlation, timeframe: 5m, primary: SPY, correlated: QQQ}}\n"
        ));
        let tp = recipe(&format!("{BASE}algorithm: {{kind: target-position, timeframe: 5m}}\n"));
        let option_base = BASE.replace(
            "{underlying: SPY, kind: equity}",
            "{underlying: SPY, kind: option, expiry: {min_days: 1, max_days: 2}, strike: atm}",
        );
        let opt = recipe(&format!(
            "{option_base}algorithm: {{kind: ma-cross-breakout, timeframe: 5m, ma_period: 9, breakout_lookback: 7}}\n"
        ));
        let cases: [(&Recipe, &[&str], &[&str]); 4] = [
            (
                &mac,
                &[
                    "/provider/speed",
                    "/provider/price_band",
                    "/broker/slippage_ticks",
                    "/broker/commission_per_share",
                    "/broker/commission_per_order",
                    "/algorithm/breakout_mode",
                ],
                &[
                    "/algorithm/swing_lookback",
                    "/algorithm/fractal_lookback",
                    "/algorithm/tolerance",
                    "/instrument/implied_vol",
                    "/broker/commission_per_contract",
                ],
            ),
            (
                &cor,
                &["/algorithm/swing_lookback", "/algorithm/fractal_lookback"],
                &["/algorithm/breakout_mode", "/algorithm/tolerance"],
            ),
            (&tp, &["/algorithm/tolerance"], &["/algorithm/breakout_mode", "/algorithm/swing_lookback"]),
            (
                &opt,
                &["/instrument/implied_vol", "/instrument/rate", "/broker/commission_per_contract"],
                &["/broker/commission_per_share"],
            ),
        ];
        for (r, filled, absent) in cases {
            let before = serde_json::to_value(r).unwrap();
            let after = serde_json::to_value(r.resolved()).unwrap();
            for ptr in filled {
                assert!(before.pointer(ptr).is_none(), "{ptr} written in the test recipe");
                let default = schema_default(ptr).unwrap_or_else(|| panic!("schema has no default at {ptr}"));
                assert_eq!(after.pointer(ptr), Some(&default), "{ptr}: resolved vs schema default");
            }
            for ptr in absent {
                assert!(after.pointer(ptr).is_none(), "{ptr} filled in for another kind");
            }
            // Resolving twice changes nothing, and the result still loads.
            assert_eq!(r.resolved().resolved(), r.resolved());
        }
        let entry = serde_json::to_value(mac.resolved()).unwrap();
        assert_eq!(entry.pointer("/risk/allocation"), Some(&serde_json::json!(1000)));
        assert_eq!(entry.pointer("/risk/entry_size"), schema_default("/risk/entry_size").as_ref());
    }

    #[test]
    fn written_values_win() {
        let r = recipe(&format!(
            "{BASE}algorithm: {{kind: ma-cross-breakout, timeframe: 5m, ma_period: 9, breakout_lookback: 7, breakout_mode: ma-slope}}\n"
        ));
        assert_eq!(r.resolved().algorithm.breakout_mode, Some(BreakoutMode::MaSlope));
        assert_eq!(r.algorithm.breakout_mode_or_default(), BreakoutMode::MaSlope);
    }
}
