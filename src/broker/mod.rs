//! Brokers: the `Broker` trait and the paper broker.
