//! The signals `runner up` handles, installed before anything is journaled.
//!
//! - SIGINT (Ctrl-C), SIGTERM (systemd, docker, `timeout`) and SIGHUP (the terminal or the
//!   SSH session closed) stop the run cleanly: cancel open orders, flatten, write the report,
//!   journal the run as stopped; the process then exits 0.
//! - SIGUSR1 prints every agent's status line to stderr and the run goes on (SIGUSR1 would
//!   otherwise end the process with nothing flattened).
//!
//! [`Signals::install`] replaces the default actions at once, so a signal that arrives while
//! runs are being opened is held until the driver reads it: every run that was begun is ended.
//!
//! What belongs here: catching those signals. What a stop does is the driver's job
//! ([`super::fleet`]).

use std::task::{Context, Poll, Waker};

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Why a run was stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// SIGINT (Ctrl-C).
    Interrupted,
    /// SIGTERM.
    Terminated,
    /// SIGHUP: the controlling terminal or session went away.
    HungUp,
}

impl StopReason {
    /// The word used in outcomes and messages (`stopped: terminated`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Interrupted => "interrupted",
            Self::Terminated => "terminated",
            Self::HungUp => "hangup",
        }
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Stop the run.
    Stop(StopReason),
    /// Print status (SIGUSR1).
    Status,
}

/// The installed handlers.
pub struct Signals {
    int: Signal,
    term: Signal,
    hup: Signal,
    usr1: Signal,
}

impl Signals {
    /// Install the handlers. Must run inside a tokio runtime context (`Runtime::enter`).
    ///
    /// # Errors
    /// A handler could not be installed.
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
        })
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Received> {
        let stops = [
            (&mut self.int, StopReason::Interrupted),
            (&mut self.term, StopReason::Terminated),
            (&mut self.hup, StopReason::HungUp),
        ];
        for (sig, why) in stops {
            if let Poll::Ready(Some(())) = sig.poll_recv(cx) {
                return Poll::Ready(Received::Stop(why));
            }
        }
        match self.usr1.poll_recv(cx) {
            Poll::Ready(Some(())) => Poll::Ready(Received::Status),
            _ => Poll::Pending,
        }
    }

    /// Wait for the next signal.
    pub async fn recv(&mut self) -> Received {
        std::future::poll_fn(|cx| self.poll(cx)).await
    }

    /// A stop signal that has already arrived, if any (does not wait). Status requests that
    /// arrived before are dropped: nothing runs yet.
    pub fn stop_pending(&mut self) -> Option<StopReason> {
        let mut cx = Context::from_waker(Waker::noop());
        while let Poll::Ready(r) = self.poll(&mut cx) {
            if let Received::Stop(why) = r {
                return Some(why);
            }
        }
        None
    }
}
