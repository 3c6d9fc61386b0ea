//! The signals that stop `runner up` cleanly: SIGINT (Ctrl-C) and SIGTERM (what systemd,
//! docker and `timeout` send). Either one cancels open orders, flattens, writes the report and
//! journals the run as stopped; the process then exits 0.
//!
//! What belongs here: waiting for those signals. What a stop does is the driver's job
//! ([`super::fleet`]).

/// Wait for SIGINT or SIGTERM; returns why the run stops: `interrupted` (SIGINT) or
/// `terminated` (SIGTERM). `None` when no handler could be installed (the signal then keeps its
/// default action). Installing the handlers replaces the default action (ending the process)
/// from then on.
pub async fn stop_requested() -> Option<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return tokio::signal::ctrl_c().await.ok().map(|()| "interrupted"),
        };
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.ok().map(|()| "interrupted"),
            got = term.recv() => got.map(|()| "terminated"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.ok().map(|()| "interrupted")
    }
}
