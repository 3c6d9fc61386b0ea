//! Trading strategies: pure, synchronous, fed candles and trades, returning signals.
