//! Incremental technical indicators in `Decimal`, O(1) per update.
