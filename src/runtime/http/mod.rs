//! The dashboard, the JSON API and `/metrics` of `runner up --http ADDR`: an axum server in
//! the same process, over the [`super::hub::Hub`].
//!
//! What belongs here: resolving where to serve and the control token ([`prepare`]), and the
//! server ([`serve`]). Reads are open on loopback; every control needs
//! `Authorization: Bearer <token>`; serving on any other address needs a configured token.

mod api;
mod openapi;
mod rows;
mod sse;

pub use openapi::document as openapi_document;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use super::RunError;
use super::hub::Hub;
use crate::recipe::model::HttpSettings;

/// The environment variable holding the control token (wins over the fleet file's vault entry).
pub const TOKEN_ENV: &str = "RUNNER_HTTP_TOKEN";

/// Who may use the controls: the bearer token (from the vault or `RUNNER_HTTP_TOKEN`).
#[derive(Clone)]
pub struct Auth {
    /// The token every control call must carry as `Authorization: Bearer …`.
    pub token: SecretString,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth { token: [redacted] }")
    }
}

impl Auth {
    /// Whether `header` (the `Authorization` value) carries the token; compared in constant
    /// time.
    pub fn allows(&self, header: Option<&str>) -> bool {
        let Some(given) = header.and_then(|h| h.strip_prefix("Bearer ")) else { return false };
        let want = self.token.expose_secret().as_bytes();
        let given = given.trim().as_bytes();
        if want.len() != given.len() {
            return false;
        }
        want.iter().zip(given).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// Where the token came from, for the start-up line (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `RUNNER_HTTP_TOKEN`.
    Env,
    /// The vault entry the fleet file names.
    Vault(String),
    /// Made at start (loopback only) and written, mode 0600, to this file.
    Generated(std::path::PathBuf),
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Env => write!(f, "control token from {TOKEN_ENV}"),
            Self::Vault(name) => write!(f, "control token from the vault ({name})"),
            Self::Generated(p) => write!(f, "control token in {}, made for this run", p.display()),
        }
    }
}

/// Bind `listen` (`--http` wins over the fleet file's `http.listen`) and find the control
/// token: `RUNNER_HTTP_TOKEN`, else the fleet file's vault entry (key `token`), else — on a
/// loopback address only — a random one written to `<state_dir>/http.token` (0600). Binding
/// anything but loopback without a configured token is refused.
pub fn prepare(
    listen: &str,
    settings: Option<&HttpSettings>,
    secrets_dir: &Path,
    state_dir: &Path,
) -> anyhow::Result<(std::net::TcpListener, Auth, TokenSource)> {
    let addr: SocketAddr = listen.parse().map_err(|_| {
        RunError::unusable(format!("--http {listen}: not an address (HOST:PORT, e.g. 127.0.0.1:8787)"))
    })?;
    let configured = match std::env::var(TOKEN_ENV) {
        Ok(t) if !t.trim().is_empty() => Some((SecretString::from(t.trim().to_owned()), TokenSource::Env)),
        _ => match settings.and_then(|s| s.credentials.as_deref()) {
            Some(name) => {
                let map = crate::secrets::load(secrets_dir, name)
                    .map_err(|e| RunError::refused(format!("http.credentials `{name}`: {e}")))?;
                let token = map
                    .get("token")
                    .map(|v| v.expose().trim().to_owned())
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        RunError::refused(format!(
                            "http.credentials `{name}` has no `token` (set it with `runner secrets set {name} token`)"
                        ))
                    })?;
                Some((SecretString::from(token), TokenSource::Vault(name.to_owned())))
            }
            None => None,
        },
    };
    let (token, source) = match configured {
        Some(c) => c,
        None if addr.ip().is_loopback() => {
            let token = random_token();
            let path = state_dir.join("http.token");
            crate::files::create_private_dir_all(state_dir)
                .and_then(|()| crate::report::write_atomic(&path, token.as_bytes()))
                .map_err(|e| RunError::unusable(format!("cannot write {}: {e}", path.display())))?;
            (SecretString::from(token), TokenSource::Generated(path))
        }
        None => {
            return Err(RunError::refused(format!(
                "--http {addr} is not a loopback address: set {TOKEN_ENV} or the fleet file's \
                 http.credentials so the dashboard's controls need a token"
            ))
            .into());
        }
    };
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| RunError::unusable(format!("--http {addr}: cannot listen: {e}")))?;
    listener.set_nonblocking(true).map_err(|e| RunError::unusable(format!("--http {addr}: {e}")))?;
    Ok((listener, Auth { token }, source))
}

/// 32 random bytes, hex.
fn random_token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// How long a stopping server waits for open connections (event streams end at once).
const DRAIN: std::time::Duration = std::time::Duration::from_secs(3);

/// Serve the dashboard, the API, the controls and `/metrics` of `hub` until `stop` turns true.
/// On a listener that is not loopback, every route but the page and its assets needs the token.
pub async fn serve(
    listener: tokio::net::TcpListener,
    hub: Arc<Hub>,
    auth: Auth,
    stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let loopback = listener.local_addr()?.ip().is_loopback();
    let state = api::AppState {
        journal: Some(hub.journal().to_path_buf()),
        runs_dir: hub.runs_dir.clone(),
        hub: Some(hub),
        auth: Some(auth),
        reads_need_token: !loopback,
        stop: stop.clone(),
    };
    run(listener, api::router(state), stop).await
}

/// Serve finished runs only (`runner report --serve`): the page, `/api/runs` and
/// `/api/runs/{id}` from `runs_dir` (and the journal's run list), no agents and no controls.
/// With `token`, every route but the page and its assets needs it.
pub async fn serve_runs(
    listener: tokio::net::TcpListener,
    runs_dir: PathBuf,
    journal: Option<PathBuf>,
    token: Option<Auth>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let state = api::AppState {
        hub: None,
        runs_dir,
        journal,
        reads_need_token: token.is_some(),
        auth: token,
        stop: stop.clone(),
    };
    run(listener, api::router(state), stop).await
}

async fn run(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut stopped = stop.clone();
    let stopping = async move {
        while !*stopped.borrow_and_update() {
            if stopped.changed().await.is_err() {
                break;
            }
        }
    };
    let server = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(stopping);
    // A client that holds its connection open does not hold the process: after the stop, open
    // connections get DRAIN to finish.
    let drained = async move {
        while !*stop.borrow_and_update() {
            if stop.changed().await.is_err() {
                break;
            }
        }
        tokio::time::sleep(DRAIN).await;
    };
    tokio::select! {
        r = server => r,
        () = drained => Ok(()),
    }
}
