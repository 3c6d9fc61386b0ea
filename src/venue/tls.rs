//! TLS for the venues: rustls on the `ring` crypto provider, installed once per process.
//!
//! reqwest and tokio-tungstenite are built without a provider of their own (the default
//! aws-lc-rs one needs a long C build), so rustls uses the process-wide default, which
//! [`install`] sets. Every venue constructor calls it; calling it again does nothing.

use std::sync::OnceLock;

/// Make `ring` the process's rustls provider, unless one is installed already.
pub fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // `Err` means another provider was installed first: rustls then uses that one.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
