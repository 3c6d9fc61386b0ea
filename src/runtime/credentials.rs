//! Credentials for a run: the secrets a recipe names, decrypted once, at start, in memory.
//!
//! What belongs here: turning a recipe's `provider.credentials` / `broker.credentials` into
//! decrypted [`SecretMap`]s held for the life of the run, with the keys each adapter needs
//! checked up front. Values never leave memory and never reach a log line or an error.

use std::path::Path;

use super::RunError;
use crate::recipe::{Recipe, kind_name};
use crate::secrets::SecretMap;

/// The decrypted secrets one agent's adapters use. Dropping it wipes them.
#[derive(Debug, Default)]
pub struct Credentials {
    /// (role, secret name, values): role is `provider`, `broker` or `signals`.
    pub loaded: Vec<(&'static str, String, SecretMap)>,
}

impl Credentials {
    /// The values for `role` (`provider` or `broker`), if the recipe names a secret for it.
    pub fn get(&self, role: &str) -> Option<&SecretMap> {
        self.loaded.iter().find(|(r, _, _)| *r == role).map(|(_, _, m)| m)
    }

    /// The secret's name and values for `role`, if the recipe names one.
    pub fn named(&self, role: &str) -> Option<(&str, &SecretMap)> {
        self.loaded.iter().find(|(r, _, _)| *r == role).map(|(_, n, m)| (n.as_str(), m))
    }
}

/// Decrypt every secret `recipe` names from `secrets_dir` (a name resolves to
/// `secrets_dir/NAME.sops.yaml`, else to the placeholder demo file, with a warning: see
/// [`crate::secrets::store::resolve`]) and check that the keys its adapters need are there
/// and non-empty. `file` names the recipe in errors.
pub fn unlock(recipe: &Recipe, file: &Path, secrets_dir: &Path) -> anyhow::Result<Credentials> {
    let mut creds = Credentials::default();
    let signals = recipe.algorithm.signals.as_ref().and_then(|s| s.credentials.as_deref());
    let wanted = [
        ("provider", recipe.provider.credentials.as_deref(), kind_name(&recipe.provider.kind)),
        ("broker", recipe.broker.credentials.as_deref(), kind_name(&recipe.broker.kind)),
        ("signals", signals, "redis".to_owned()),
    ];
    for (role, name, kind) in wanted {
        let Some(name) = name else { continue };
        if let Some((_, _, map)) = creds.loaded.iter().find(|(_, n, _)| n == name) {
            // One secret shared by provider and broker is decrypted once.
            let map = map.clone();
            creds.loaded.push((role, name.to_owned(), map));
            continue;
        }
        if crate::secrets::store::resolve(secrets_dir, name).is_ok_and(|r| r.demo) {
            tracing::warn!(
                secret = name,
                "credentials `{name}` are the placeholder demo values in {}/demo: put your own in with \
                 `runner secrets set {name} …`",
                secrets_dir.display()
            );
        }
        let map = crate::secrets::load(secrets_dir, name).map_err(|e| {
            RunError::refused(format!("{}: credentials `{name}` for the {kind} {role}: {e}", file.display()))
        })?;
        let missing: Vec<&str> = crate::secrets::required_keys(&kind)
            .iter()
            .copied()
            .filter(|k| map.get(k).is_none_or(|v| v.expose().trim().is_empty()))
            .collect();
        if !missing.is_empty() {
            return Err(RunError::refused(format!(
                "{}: credentials `{name}` lack {} needed by the {kind} {role} (set them with `runner secrets set {name} {}`)",
                file.display(),
                missing.join(", "),
                missing.join(" ")
            ))
            .into());
        }
        tracing::info!(secret = name, role, "Credentials decrypted.");
        creds.loaded.push((role, name.to_owned(), map));
    }
    Ok(creds)
}
