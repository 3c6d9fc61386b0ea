//! Brokers: the paper broker. Orders and their events are in [`crate::model::order`].

pub mod paper;
