//! Options: OCC symbols, chains (real and synthetic), Black-Scholes pricing, contract selection.
