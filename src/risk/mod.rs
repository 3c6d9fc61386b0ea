//! Risk gate (per-agent limits, fleet guardrails) and the US compliance rulebook.
