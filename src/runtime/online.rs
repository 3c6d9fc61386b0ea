//! `runner validate --online`: for every recipe with a live venue or feed, check against the
//! venue itself — without placing anything — that its credentials authenticate and its symbol
//! exists and trades. Alpaca: `GET /v2/account` and `GET /v2/assets/{symbol}` on the paper
//! endpoint unless the recipe says `environment: live` (or its `endpoints`).
//!
//! Runs after the offline validation passed; each recipe gets one line (`√` or `x`), and any
//! `x` makes the exit code 1. Secret values never appear: a refusal names the secret.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::credentials;
use super::fleet::{FleetSettings, Overrides};
use super::run;
use super::venues::{Role, alpaca_config};
use crate::recipe::model::{BrokerKind, InstrumentKind, ProviderKind};
use crate::recipe::validate::{Input, collect_files, is_fleet_file};
use crate::venue::alpaca::lookups::{self, AssetStatus};

/// Check every recipe under `paths` online; `fleet` as for `runner validate`.
///
/// # Errors
/// The fleet file cannot be used, or the async runtime cannot start.
pub fn validate(paths: &[PathBuf], fleet: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let settings = FleetSettings::resolve(&Overrides { fleet, ..Overrides::default() })?;
    let rt = super::fleet::runtime()?;
    let mut failed = 0;
    let mut checked = 0;
    for input in collect_files(paths) {
        let Input::File(path) = input else { continue };
        if is_fleet_file(&path) {
            continue;
        }
        let line = match rt.block_on(check(&path, &settings.secrets_dir)) {
            Ok(None) => continue,
            Ok(Some(ok)) => format!("√ {}: {ok}", path.display()),
            Err(why) => {
                failed += 1;
                format!("x {}: {why}", path.display())
            }
        };
        checked += 1;
        println!("{line}");
    }
    println!("online: {checked} recipe(s) with a live venue checked, {failed} failed");
    Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// One recipe: `None` when it has no live venue or feed.
async fn check(path: &Path, secrets_dir: &Path) -> Result<Option<String>, String> {
    let p = run::prepare(path).map_err(|e| format!("{e:#}"))?;
    let r = &p.recipe;
    let role = match (r.broker.kind, r.provider.kind) {
        (BrokerKind::Alpaca, _) => Role::Broker,
        (_, ProviderKind::Alpaca) => Role::Provider,
        (BrokerKind::Paper, _) => return Ok(None),
        (kind, _) => {
            return Err(format!(
                "broker.kind: {}: no online check in this build",
                crate::recipe::kind_name(&kind)
            ));
        }
    };
    let creds = credentials::unlock(r, path, secrets_dir).map_err(|e| format!("{e:#}"))?;
    let cfg = alpaca_config(&p, &creds, role).map_err(|e| format!("{e:#}"))?;
    let account = lookups::check_account(&cfg).await.map_err(|e| e.to_string())?;
    let symbol = &r.instrument.underlying;
    match lookups::asset_tradable(&cfg, symbol).await.map_err(|e| e.to_string())? {
        AssetStatus::Tradable => {}
        AssetStatus::NotTradable => return Err(format!("{symbol} is listed at Alpaca but not tradable now")),
        AssetStatus::Unknown => return Err(format!("Alpaca does not know the symbol {symbol}")),
    }
    let options = match (r.instrument.kind, account.options_level) {
        (InstrumentKind::Option, Some(level)) if level < 2 => {
            return Err(format!(
                "the account's options level is {level}; buying calls and puts needs level 2"
            ));
        }
        (InstrumentKind::Option, _) => ", options approved",
        _ => "",
    };
    let status = account.status.as_deref().unwrap_or("status not given");
    let number = account.number.as_deref().unwrap_or("account");
    let blocked = if account.trading_blocked { " — TRADING BLOCKED by Alpaca" } else { "" };
    Ok(Some(format!(
        "alpaca {} {number} authenticated ({status}, buying power {}{options}), {symbol} tradable{blocked}",
        if cfg.trading_url.contains("paper-api") { "paper" } else { "account" },
        account.buying_power.round_dp(2)
    )))
}
