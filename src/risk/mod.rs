//! Risk gate (per-agent limits, fleet guardrails) and the US compliance rulebook.

/// The US compliance rulebook: PDT / intraday margin, Reg T, cash-account settlement.
pub mod compliance;
