//! Signals from a Redis stream, read with a consumer group (to be written).

use std::time::Duration;

use tokio::sync::mpsc;

use super::{FieldMap, SignalInput};

/// Where and how to read a stream.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://` or `rediss://` URL, without a password (that comes from the vault).
    pub url: String,
    /// The password, from the recipe's secret.
    pub password: Option<secrecy::SecretString>,
    /// The stream key, e.g. `nvda`.
    pub stream: String,
    /// The consumer group.
    pub group: String,
    /// This consumer's name in the group.
    pub consumer: String,
    /// Which fields carry what.
    pub fields: FieldMap,
    /// Entries pending this long with another consumer are claimed (`XAUTOCLAIM`).
    pub claim_idle: Duration,
}

/// Read the stream in a task until `tx` closes.
pub fn spawn(cfg: RedisConfig, tx: mpsc::Sender<SignalInput>) -> tokio::task::JoinHandle<()> {
    let _ = cfg;
    tokio::spawn(async move {
        tx.closed().await;
    })
}
