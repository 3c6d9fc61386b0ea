//! The routes of the dashboard server: the page and its assets, the JSON API over the hub and
//! the journal, the controls, `/metrics` and the OpenAPI document.
//!
//! What belongs here: the router ([`router`]), what each route answers, the token check, and
//! the JSON error shape (`{"error": "…"}`) every failure has. Journal reads are in
//! [`super::rows`], the event stream in [`super::sse`], the document in [`super::openapi`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use tokio::sync::watch;

use super::Auth;
use super::rows::{self, Table};
use crate::runtime::hub::{Answer, Control, ControlError, Hub, Positions};

/// The largest request body accepted (a parameter edit is a few dozen bytes).
pub const BODY_LIMIT: usize = 64 * 1024;

/// Rows a journal route returns when `?limit` is not given.
pub const DEFAULT_LIMIT: usize = 500;

/// The most rows a journal route returns, whatever `?limit` asks.
pub const MAX_LIMIT: usize = 100_000;

/// How long a control waits for the agent's task to answer.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// What the routes read.
#[derive(Clone)]
pub struct AppState {
    /// The running fleet (`None` for `runner report --serve`: finished runs only).
    pub hub: Option<Arc<Hub>>,
    /// Finished runs' report directories (`<state_dir>/runs`).
    pub runs_dir: PathBuf,
    /// The journal database, if there is one.
    pub journal: Option<PathBuf>,
    /// The control token (`None`: no controls, and reads are open).
    pub auth: Option<Auth>,
    /// Whether every route but the page and its assets needs the token (a listener that is
    /// not loopback).
    pub reads_need_token: bool,
    /// Turns true when the server stops (ends the event streams).
    pub stop: watch::Receiver<bool>,
}

/// A JSON error answer: `{"error": "…"}` with `status`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    ApiError::new(status, message).into_response()
}

/// A failed request: its status and what went wrong (the body is `{"error": "…"}`).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Error {
            error: String,
        }
        (self.status, axum::Json(Error { error: self.message })).into_response()
    }
}

/// What a route answers.
type Answered = Result<Response, ApiError>;

/// The 401 answer: `WWW-Authenticate: Bearer` and a JSON error.
fn unauthorized() -> Response {
    let mut r = error(
        StatusCode::UNAUTHORIZED,
        "this needs the control token: send `Authorization: Bearer <token>` (RUNNER_HTTP_TOKEN, the \
         vault's http credentials, or the http.token file `runner up` named at start)",
    );
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// Every route.
pub fn router(state: AppState) -> Router {
    let live = state.hub.is_some();
    let mut reads = Router::new()
        .route("/api/runs", get(runs))
        .route("/api/runs/{id}", get(run_by_id))
        .route("/api/openapi.json", get(openapi));
    if live {
        reads = reads
            .route("/api/fleet", get(fleet))
            .route("/api/agents", get(agents))
            .route("/api/agents/{name}", get(agent))
            .route("/api/agents/{name}/run", get(agent_run))
            .route("/api/agents/{name}/orders", get(|s, p, q| journal_rows(s, p, q, Table::Orders)))
            .route("/api/agents/{name}/fills", get(|s, p, q| journal_rows(s, p, q, Table::Fills)))
            .route("/api/agents/{name}/denials", get(|s, p, q| journal_rows(s, p, q, Table::Denials)))
            .route("/api/agents/{name}/controls", get(|s, p, q| journal_rows(s, p, q, Table::Controls)))
            .route("/api/agents/{name}/params", get(|s, c, p| control(s, c, p, Control::Params)))
            .route("/api/events", get(super::sse::events))
            .route("/metrics", get(metrics));
    }
    if state.reads_need_token {
        reads = reads.route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    }
    let mut app = Router::new()
        .route("/", get(|| asset(INDEX_HTML, "text/html; charset=utf-8")))
        .route("/assets/app.js", get(|| asset(APP_JS, "text/javascript; charset=utf-8")))
        .route("/assets/app.css", get(|| asset(APP_CSS, "text/css; charset=utf-8")))
        .merge(reads);
    if live && state.auth.is_some() {
        let controls = Router::new()
            .route("/api/agents/{name}/halt", post(|s, c, p| control(s, c, p, Control::Halt)))
            .route("/api/agents/{name}/resume", post(|s, c, p| control(s, c, p, Control::Resume)))
            .route("/api/agents/{name}/flatten", post(|s, c, p| control(s, c, p, Control::Flatten)))
            .route("/api/agents/{name}/enable", post(|s, c, p| control(s, c, p, Control::Enable)))
            .route("/api/agents/{name}/disable", post(|s, c, p| control(s, c, p, Control::Disable)))
            .route("/api/agents/{name}/params", post(set_param))
            .route("/api/fleet/halt", post(fleet_halt))
            .route("/api/agents/{name}/reload", post(agent_reload))
            .route("/api/fleet/reload", post(fleet_reload))
            .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
        app = app.merge(controls);
    }
    let app = app.fallback(not_found).method_not_allowed_fallback(method_not_allowed);
    // Open reads on loopback only answer a loopback Host: a web page elsewhere that rebinds its
    // own name to 127.0.0.1 (DNS rebinding) cannot read the fleet through the browser.
    let app = if state.reads_need_token { app } else { app.layer(middleware::from_fn(loopback_host)) };
    app.layer(DefaultBodyLimit::max(BODY_LIMIT)).with_state(state)
}

/// Whether a `Host` header names this machine's loopback: `localhost`, `127.0.0.1`, `[::1]`
/// (any port).
pub fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host
            .rsplit_once(':')
            .map_or(host, |(n, port)| if port.chars().all(|c| c.is_ascii_digit()) { n } else { host }),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Refuses (421) a request whose `Host` is not a loopback name (see [`router`]).
async fn loopback_host(req: Request, next: Next) -> Response {
    let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if is_loopback_host(host) {
        next.run(req).await
    } else {
        error(
            StatusCode::MISDIRECTED_REQUEST,
            "this dashboard answers only requests addressed to localhost or a loopback address",
        )
    }
}

/// Refuses a request without the bearer token (401).
async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match &state.auth {
        Some(auth) if auth.allows(header) => next.run(req).await,
        _ => unauthorized(),
    }
}

async fn not_found(method: Method, uri: Uri) -> Response {
    error(StatusCode::NOT_FOUND, format!("no such route: {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    error(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed on {}", uri.path()))
}

/// An embedded asset, never cached stale.
async fn asset(body: &'static str, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

/// The hub of a live server (the routes that need one are only registered with one).
fn hub(state: &AppState) -> Result<&Arc<Hub>, ApiError> {
    state.hub.as_ref().ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no running fleet here"))
}

async fn fleet(State(state): State<AppState>) -> Answered {
    Ok(axum::Json(hub(&state)?.fleet()).into_response())
}

async fn agents(State(state): State<AppState>) -> Answered {
    Ok(axum::Json(hub(&state)?.agents()).into_response())
}

/// The agent's view, or 404.
fn find_agent(state: &AppState, name: &str) -> Result<crate::runtime::hub::AgentView, ApiError> {
    hub(state)?.agents().into_iter().find(|a| a.name == name).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, ControlError::NoSuchAgent(name.to_owned()).to_string())
    })
}

async fn agent(State(state): State<AppState>, Path(name): Path<String>) -> Answered {
    Ok(axum::Json(find_agent(&state, &name)?).into_response())
}

async fn agent_run(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
) -> Answered {
    let h = Arc::clone(hub(&state)?);
    match tokio::time::timeout(CONTROL_TIMEOUT, h.control(&name, Control::View, &format!("http {peer}")))
        .await
    {
        Ok(Ok(Answer::View(view))) => Ok(axum::Json(view).into_response()),
        Ok(Ok(Answer::Done(_) | Answer::Params(_))) => {
            Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the agent answered with no run view"))
        }
        // An agent whose run ended has its view in its report directory.
        Ok(Err(ControlError::Ended(_))) => match find_agent(&state, &name) {
            Ok(a) if !a.run.is_empty() => run_json(&state, &a.run).await,
            _ => Err(ApiError::new(StatusCode::CONFLICT, ControlError::Ended(name).to_string())),
        },
        Ok(Err(e)) => Err(control_error(e, false)),
        Err(_) => Err(timed_out(&name)),
    }
}

fn timed_out(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::GATEWAY_TIMEOUT,
        format!("agent `{name}` did not answer within {} s", CONTROL_TIMEOUT.as_secs()),
    )
}

fn control_error(e: ControlError, param: bool) -> ApiError {
    let status = match &e {
        ControlError::NoSuchAgent(_) => StatusCode::NOT_FOUND,
        ControlError::Refused(_) if param => StatusCode::UNPROCESSABLE_ENTITY,
        ControlError::Ended(_) | ControlError::Refused(_) => StatusCode::CONFLICT,
    };
    ApiError::new(status, e.to_string())
}

/// `?limit=N` (default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]).
fn limit(query: Result<Query<HashMap<String, String>>, QueryRejection>) -> Result<usize, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    match q.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n.min(MAX_LIMIT)),
            _ => Err(ApiError::new(StatusCode::BAD_REQUEST, "limit must be a whole number above 0")),
        },
    }
}

/// The result of a blocking read.
fn blocking<T: Serialize>(read: Result<Result<T, String>, tokio::task::JoinError>) -> Answered {
    match read {
        Ok(Ok(v)) => Ok(axum::Json(v).into_response()),
        Ok(Err(e)) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e)),
        Err(e) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the read failed: {e}"))),
    }
}

async fn journal_rows(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    table: Table,
) -> Answered {
    let limit = limit(query)?;
    let agent = find_agent(&state, &name)?;
    let Some(journal) = state.journal.clone().filter(|_| !agent.run.is_empty()) else {
        return Ok(axum::Json(Vec::<serde_json::Value>::new()).into_response());
    };
    blocking(tokio::task::spawn_blocking(move || rows::of_run(&journal, table, &agent.run, limit)).await)
}

async fn control(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    control: Control,
) -> Answered {
    run_control(&state, peer, &name, control).await
}

async fn run_control(state: &AppState, peer: SocketAddr, name: &str, control: Control) -> Answered {
    let h = Arc::clone(hub(state)?);
    let param = matches!(control, Control::SetParam { .. });
    match tokio::time::timeout(CONTROL_TIMEOUT, h.control(name, control, &format!("http {peer}"))).await {
        Ok(Ok(Answer::Done(record))) => Ok(axum::Json(record).into_response()),
        Ok(Ok(Answer::Params(list))) => Ok(axum::Json(list).into_response()),
        Ok(Ok(Answer::View(_))) => {
            Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the agent answered with a run view"))
        }
        Ok(Err(e)) => Err(control_error(e, param)),
        Err(_) => Err(timed_out(name)),
    }
}

/// `POST /api/agents/{name}/params` with `{"key": "…", "value": …}` (a JSON string, number or
/// boolean).
async fn set_param(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    body: Bytes,
) -> Answered {
    let (key, value) =
        param_edit(&body).map_err(|why| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, why))?;
    run_control(&state, peer, &name, Control::SetParam { key, value }).await
}

/// The key and value text of a parameter edit's body.
pub fn param_edit(body: &[u8]) -> Result<(String, String), String> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("the body must be JSON {{\"key\": \"…\", \"value\": …}}: {e}"))?;
    let key = match v.get("key") {
        Some(serde_json::Value::String(k)) if !k.trim().is_empty() => k.trim().to_owned(),
        _ => return Err("`key` must be a recipe key such as `algorithm.ma_period`".to_owned()),
    };
    let value = match v.get("value") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(n @ serde_json::Value::Number(_)) => n.to_string(),
        Some(serde_json::Value::Bool(b)) => b.to_string(),
        _ => return Err("`value` must be a string, a number or true/false".to_owned()),
    };
    Ok((key, value))
}

async fn fleet_halt(State(state): State<AppState>, ConnectInfo(peer): ConnectInfo<SocketAddr>) -> Answered {
    #[derive(Serialize)]
    struct Halted {
        reason: String,
    }
    let reason = hub(&state)?.halt_fleet(&format!("http {peer}"));
    Ok(axum::Json(Halted { reason }).into_response())
}

/// A reload's `?positions=refuse|flatten|carry` (default `refuse`).
fn positions(query: Result<Query<HashMap<String, String>>, QueryRejection>) -> Result<Positions, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    match q.get("positions").map(String::as_str) {
        None | Some("refuse") => Ok(Positions::Refuse),
        Some("flatten") => Ok(Positions::Flatten),
        Some("carry") => Ok(Positions::Carry),
        Some(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "positions must be refuse, flatten or carry (what a restart does with a held position)",
        )),
    }
}

/// `POST /api/agents/{name}/reload`: the agent reads its recipe file again.
async fn agent_reload(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Answered {
    let positions = positions(query)?;
    run_control(&state, peer, &name, Control::Reload { positions }).await
}

/// `POST /api/fleet/reload`: every agent reads its recipe file again.
async fn fleet_reload(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Answered {
    let positions = positions(query)?;
    #[derive(Serialize)]
    struct Reloaded {
        agent: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        record: Option<super::super::hub::ControlRecord>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    }
    let h = Arc::clone(hub(&state)?);
    let by = format!("http {peer}");
    let answers = tokio::time::timeout(CONTROL_TIMEOUT, h.reload(&by, positions))
        .await
        .map_err(|_| timed_out("the fleet"))?;
    let out: Vec<Reloaded> = answers
        .into_iter()
        .map(|(agent, r)| match r {
            Ok(Answer::Done(record)) => Reloaded { agent, record: Some(record), error: None },
            Ok(_) => Reloaded { agent, record: None, error: Some("unexpected answer".into()) },
            Err(e) => Reloaded { agent, record: None, error: Some(e.to_string()) },
        })
        .collect();
    Ok(axum::Json(out).into_response())
}

async fn metrics(State(state): State<AppState>) -> Answered {
    let h = hub(&state)?;
    let text = h.metrics.render(&h.agents(), &h.loop_lag());
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response())
}

async fn runs(State(state): State<AppState>) -> Answered {
    let (journal, runs_dir) = (state.journal.clone(), state.runs_dir.clone());
    blocking(tokio::task::spawn_blocking(move || rows::runs(journal.as_deref(), &runs_dir)).await)
}

async fn run_by_id(State(state): State<AppState>, Path(id): Path<String>) -> Answered {
    run_json(&state, &id).await
}

/// A finished run's `run.json`, as it is on disk (it is a [`crate::report::view::RunView`]).
async fn run_json(state: &AppState, id: &str) -> Answered {
    if !rows::is_run_id(id) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not a run id (see GET /api/runs)"));
    }
    let id = id.to_owned();
    let (runs_dir, journal) = (state.runs_dir.clone(), state.journal.clone());
    let read = tokio::task::spawn_blocking(move || {
        let file = runs_dir.join(&id).join("run.json");
        match std::fs::read(&file) {
            Ok(bytes) => Ok(([(header::CONTENT_TYPE, "application/json")], bytes).into_response()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let why = if journal.as_deref().is_some_and(|j| rows::journal_has_run(j, &id)) {
                    "the journal has this run, but it has no run view: it is still running, did not \
                     finish, or wrote its report elsewhere (--report-dir)"
                } else {
                    "no such run (see GET /api/runs)"
                };
                Err(ApiError::new(StatusCode::NOT_FOUND, format!("run {id}: {why}")))
            }
            Err(e) => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read {}: {e}", file.display()),
            )),
        }
    });
    read.await.unwrap_or_else(|e| {
        Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the run view read failed: {e}")))
    })
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], super::openapi::document_text()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_pass_the_rebinding_guard() {
        for ok in ["127.0.0.1:8787", "localhost:8787", "LOCALHOST", "[::1]:8787", "127.0.0.2", "localhost"] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example:8787",
            "",
            "10.0.0.1:8787",
            "localhost.evil.example",
            "[::2]:1",
            "127.0.0.1.nip.io",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn a_parameter_edit_takes_a_key_and_a_scalar() {
        let edit = |b: &str| param_edit(b.as_bytes());
        assert_eq!(
            edit(r#"{"key": "algorithm.ma_period", "value": 12}"#),
            Ok(("algorithm.ma_period".into(), "12".into()))
        );
        assert_eq!(
            edit(r#"{"key": "risk.stop_loss", "value": "30%"}"#),
            Ok(("risk.stop_loss".into(), "30%".into()))
        );
        assert_eq!(edit(r#"{"key": "x", "value": true}"#), Ok(("x".into(), "true".into())));
        assert_eq!(edit(r#"{"key": "x", "value": 0.25}"#), Ok(("x".into(), "0.25".into())));
        for bad in [
            r#"{"key": "x", "value": null}"#,
            r#"{"key": "x", "value": [1]}"#,
            r#"{"value": 1}"#,
            r#"{"key": " ", "value": 1}"#,
            "12",
            "not json",
        ] {
            assert!(edit(bad).is_err(), "{bad}");
        }
    }
}
