//! Black-Scholes(-Merton) pricing for European options: price, delta, gamma, vega, theta and
//! implied volatility.
//!
//! SPY options are American. For the short-dated calls and puts the runner trades, the early
//! exercise premium is small, and we state the simplification rather than run a lattice.
//! The model works in `f64` (it is a model, not money). Prices cross into `Decimal` only
//! through [`to_tick`](crate::options::pricing::to_tick), rounded to the contract's tick, before they reach the order path.
//!
//! Time is ACT/365 calendar time to the contract's last trading time ([`years_between`](crate::options::pricing::years_between)).

use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::{Decimal, RoundingStrategy};

use super::OptionsError;
use super::occ::OptionRight;
use crate::model::{Price, Timestamp};

/// Seconds in the ACT/365 year used for time to expiry.
const SECONDS_PER_YEAR: f64 = 365.0 * 86_400.0;

/// 1/√(2π).
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// The standard normal density φ(x).
pub fn norm_pdf(x: f64) -> f64 {
    INV_SQRT_2PI * (-0.5 * x * x).exp()
}

/// The standard normal distribution function Φ(x), accurate to about 1e-15 relative.
///
/// For |x| ≤ 3 it sums the everywhere-convergent series Φ(x) = ½ + φ(x)·Σ x^(2n+1)/(2n+1)!!
/// (all terms of one sign, so no cancellation inside the sum); beyond that it evaluates the
/// Laplace continued fraction for the Mills ratio, Q(x) = φ(x)/(x + 1/(x + 2/(x + 3/(x + …)))),
/// which keeps full relative accuracy in the far tail.
pub fn norm_cdf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < -3.0 {
        upper_tail(-x)
    } else if x > 3.0 {
        1.0 - upper_tail(x)
    } else {
        let x2 = x * x;
        let mut term = x;
        let mut sum = x;
        let mut k = 1.0;
        while term.abs() > 1e-17 * sum.abs() {
            k += 2.0;
            term *= x2 / k;
            sum += term;
        }
        0.5 + norm_pdf(x) * sum
    }
}

/// Q(x) = 1 − Φ(x) for x ≥ 3 by the continued fraction, evaluated bottom-up.
fn upper_tail(x: f64) -> f64 {
    if x.is_infinite() {
        return 0.0;
    }
    // 200 levels are ample at x = 3 (the slowest case here) for double precision.
    let mut t = x;
    for k in (1..=200).rev() {
        t = x + f64::from(k) / t;
    }
    norm_pdf(x) / t
}

/// ACT/365 years from `from` to `until` (negative if `until` is earlier).
pub fn years_between(from: Timestamp, until: Timestamp) -> f64 {
    // i64 nanoseconds → f64 seconds: exact to well below a microsecond for any real date.
    (until.0 - from.0) as f64 / 1e9 / SECONDS_PER_YEAR
}

/// The inputs of one Black-Scholes-Merton valuation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BsInputs {
    /// Underlying price S (> 0).
    pub spot: f64,
    /// Strike K (> 0).
    pub strike: f64,
    /// Time to expiry in years T (≤ 0 means at expiry: the value is intrinsic).
    pub years: f64,
    /// Continuously compounded risk-free rate r.
    pub rate: f64,
    /// Continuous dividend yield q (0 for none).
    pub dividend_yield: f64,
    /// Volatility σ (> 0), annualised.
    pub vol: f64,
}

/// A price and its sensitivities. Units: `vega` per 1.00 of volatility (divide by 100 for a
/// vol point), `theta` per year (divide by 365 for a calendar day).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Greeks {
    /// Option value per share.
    pub price: f64,
    /// ∂V/∂S.
    pub delta: f64,
    /// ∂²V/∂S².
    pub gamma: f64,
    /// ∂V/∂σ.
    pub vega: f64,
    /// ∂V/∂t (calendar time passing), per year.
    pub theta: f64,
}

impl BsInputs {
    /// Checks the inputs are finite and in range; the valuation functions call this.
    pub fn check(&self) -> Result<(), OptionsError> {
        let all = [self.spot, self.strike, self.years, self.rate, self.dividend_yield, self.vol];
        if all.iter().any(|v| !v.is_finite()) {
            return Err(OptionsError::BadPricingInput(format!("non-finite input in {self:?}")));
        }
        if self.spot <= 0.0 || self.strike <= 0.0 {
            return Err(OptionsError::BadPricingInput(format!(
                "spot {} and strike {} must be positive",
                self.spot, self.strike
            )));
        }
        if self.vol <= 0.0 {
            return Err(OptionsError::BadPricingInput(format!("volatility {} must be positive", self.vol)));
        }
        Ok(())
    }

    /// The value of a call or put per share.
    pub fn price(&self, right: OptionRight) -> Result<f64, OptionsError> {
        Ok(self.greeks(right)?.price)
    }

    /// Price and greeks of a call or put. At or after expiry (T ≤ 0) the price is intrinsic,
    /// delta is 1/0 (−1/0 for puts; ½ exactly at the money) and the other greeks are 0.
    pub fn greeks(&self, right: OptionRight) -> Result<Greeks, OptionsError> {
        self.check()?;
        let Self { spot: s, strike: k, years: t, rate: r, dividend_yield: q, vol } = *self;
        if t <= 0.0 {
            let (price, delta) = match right {
                OptionRight::Call => ((s - k).max(0.0), step(s - k)),
                OptionRight::Put => ((k - s).max(0.0), -step(k - s)),
            };
            return Ok(Greeks { price, delta, gamma: 0.0, vega: 0.0, theta: 0.0 });
        }
        let sqrt_t = t.sqrt();
        let d1 = ((s / k).ln() + (r - q + 0.5 * vol * vol) * t) / (vol * sqrt_t);
        let d2 = d1 - vol * sqrt_t;
        let df_q = (-q * t).exp();
        let df_r = (-r * t).exp();
        let pdf1 = norm_pdf(d1);
        let gamma = df_q * pdf1 / (s * vol * sqrt_t);
        let vega = s * df_q * pdf1 * sqrt_t;
        let decay = -s * df_q * pdf1 * vol / (2.0 * sqrt_t);
        let g = match right {
            OptionRight::Call => Greeks {
                price: s * df_q * norm_cdf(d1) - k * df_r * norm_cdf(d2),
                delta: df_q * norm_cdf(d1),
                gamma,
                vega,
                theta: decay - r * k * df_r * norm_cdf(d2) + q * s * df_q * norm_cdf(d1),
            },
            OptionRight::Put => Greeks {
                price: k * df_r * norm_cdf(-d2) - s * df_q * norm_cdf(-d1),
                delta: -df_q * norm_cdf(-d1),
                gamma,
                vega,
                theta: decay + r * k * df_r * norm_cdf(-d2) - q * s * df_q * norm_cdf(-d1),
            },
        };
        Ok(g)
    }

    /// The volatility at which the model price equals `price` (bisection on [1e-4, 5], to 1e-10).
    /// Errors when `price` is outside the model's range (below the lower no-arbitrage bound or
    /// above the upper one), since no volatility reproduces it.
    pub fn implied_vol(&self, right: OptionRight, price: f64) -> Result<f64, OptionsError> {
        let (mut lo, mut hi) = (1e-4, 5.0);
        let at = |v: f64| Self { vol: v, ..*self }.price(right);
        let (p_lo, p_hi) = (at(lo)?, at(hi)?);
        if !price.is_finite() || price < p_lo || price > p_hi {
            return Err(OptionsError::BadPricingInput(format!(
                "price {price} outside the model range [{p_lo}, {p_hi}] for {right} K={}",
                self.strike
            )));
        }
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if at(mid)? < price {
                lo = mid;
            } else {
                hi = mid;
            }
            if hi - lo < 1e-10 {
                break;
            }
        }
        Ok(0.5 * (lo + hi))
    }
}

/// 1 above zero, 0 below, ½ at zero.
fn step(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        0.0
    } else {
        0.5
    }
}

/// A model value as a `Decimal` rounded to `tick` with `strategy` (e.g. nearest, down for bids,
/// up for asks). Errors on a non-finite value or a non-positive tick.
pub fn to_tick(value: f64, tick: Price, strategy: RoundingStrategy) -> Result<Price, OptionsError> {
    if tick <= Decimal::ZERO {
        return Err(OptionsError::BadPricingInput(format!("tick {tick} must be positive")));
    }
    let d = Decimal::from_f64(value).ok_or_else(|| {
        OptionsError::BadPricingInput(format!("model value {value} is not a finite number"))
    })?;
    Ok(round_to_tick(d, tick, strategy))
}

/// `price` rounded to a multiple of `tick` (> 0) with `strategy`.
pub fn round_to_tick(price: Price, tick: Price, strategy: RoundingStrategy) -> Price {
    ((price / tick).round_dp_with_strategy(0, strategy) * tick).normalize()
}

/// A `Decimal` as `f64` for the model (prices are far inside f64's exact range).
pub fn to_f64(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}
