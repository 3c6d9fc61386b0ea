//! `runner validate`, `runner show` and `runner schema`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::{CmdResult, ExitError, GlobalArgs};

use super::diagnostics::{Diagnostic, Severity};
use super::schema::{SchemaKind, docs_markdown, schema_text};
use super::validate::{FileReport, ValidateOptions, validate_paths};

/// Arguments of `runner validate`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Every file is checked in passes: YAML syntax, JSON Schema, typed load, semantic checks, then \
checks across all recipes (unique agent names, one broker account per agent, credentials \
resolve to secrets/NAME.sops.yaml, fleet limits). Files named runner.yaml are fleet files; \
if none is given, runner.yaml is looked for from the current directory up to the project root.

Every input is checked even when another cannot be read: an unreadable file or directory \
(missing, dangling symlink, permission denied) is reported like any other problem. A directory \
holding no recipes is an error. Notes (e.g. no key here to open a secret) never fail.

Exit codes: 0 all valid, 1 a file is invalid (or has warnings with --deny-warnings, or a \
directory holds no recipes), 2 usage error or a path that cannot be read (after reporting \
everything else).")]
pub struct ValidateArgs {
    /// Recipe files or directories (searched recursively for *.yaml and *.yml).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Treat warnings as errors (notes, such as "no key here to open this secret", are
    /// still only shown).
    #[arg(long)]
    pub deny_warnings: bool,
    /// The fleet file to use (default: runner.yaml among PATHS, else found at the project root).
    #[arg(long, value_name = "FILE")]
    pub fleet: Option<PathBuf>,
    /// Do not look for runner.yaml outside PATHS.
    #[arg(long, conflicts_with = "fleet")]
    pub no_fleet: bool,
    /// Also decrypt referenced secrets in memory and check that the values the adapters need
    /// are present and non-empty. Needs a key: a secret no key here opens is then an error.
    #[arg(long)]
    pub check_secrets: bool,
    /// Also check each recipe with a live venue against the venue itself, placing nothing:
    /// its credentials authenticate (decrypted in memory) and its symbol exists and trades.
    /// Alpaca's paper endpoint unless the recipe says `environment: live`.
    #[arg(long)]
    pub online: bool,
}

/// Output format of `runner validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Per-file report with source lines and carets, then a summary.
    Human,
    /// A JSON array of {file, line, column, severity, code, message, hint}.
    Json,
}

/// Arguments of `runner show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The recipe to print.
    pub recipe: PathBuf,
}

/// Arguments of `runner schema`.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Check instead of writing: exit 1 when the committed schemas/*.json or docs/recipes.md
    /// differ from what the recipe types generate.
    #[arg(long)]
    pub check: bool,
    /// Project root holding schemas/, docs/ and recipes/ (default: current directory).
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
}

/// Run `runner validate`.
pub fn validate(args: ValidateArgs, _g: &GlobalArgs) -> CmdResult {
    let opts = ValidateOptions {
        fleet: args.fleet.clone(),
        no_fleet_discovery: args.no_fleet,
        check_secrets: args.check_secrets,
    };
    let reports = validate_paths(&args.paths, &opts).map_err(|e| ExitError::usage(e.0))?;
    let invalid =
        reports.iter().filter(|r| r.errors() > 0 || (args.deny_warnings && r.warnings() > 0)).count();
    let text = match args.format {
        Format::Json => {
            let all: Vec<&Diagnostic> = reports.iter().flat_map(|r| r.diagnostics.iter()).collect();
            let mut s = serde_json::to_string_pretty(&all)?;
            s.push('\n');
            s
        }
        Format::Human => render_human(&reports, args.deny_warnings),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    let unreadable: Vec<&str> = reports.iter().filter(|r| r.unreadable).map(|r| r.file.as_str()).collect();
    if !unreadable.is_empty() {
        return Err(ExitError::usage(format!("cannot read {}", unreadable.join(", "))).into());
    }
    Ok(if invalid > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// The human report: one status line per file (`√` ok, `~` warnings, `x` errors), the
/// diagnostics under it, then a summary line. Notes are counted but never make a file
/// invalid.
pub fn render_human(reports: &[FileReport], deny_warnings: bool) -> String {
    let mut s = String::new();
    let (mut ok, mut warned, mut bad, mut errs, mut warns, mut notes) = (0, 0, 0, 0, 0, 0);
    for r in reports {
        let (e, w, n) = (r.errors(), r.warnings(), r.notes());
        errs += e;
        warns += w;
        notes += n;
        let kind = match r.kind {
            SchemaKind::Recipe => "",
            SchemaKind::Fleet => " (fleet)",
        };
        if e > 0 || (deny_warnings && w > 0) {
            bad += 1;
            s.push_str(&format!("x {}{kind}: {}\n", r.file, counts(e, w, n)));
        } else if w > 0 {
            warned += 1;
            s.push_str(&format!("~ {}{kind}: {}\n", r.file, counts(e, w, n)));
        } else {
            ok += 1;
            let note = match n {
                0 => String::new(),
                1 => ": 1 note".to_string(),
                n => format!(": {n} notes"),
            };
            s.push_str(&format!("√ {}{kind}{note}\n", r.file));
        }
        for d in &r.diagnostics {
            for line in d.render().lines() {
                s.push_str("  ");
                s.push_str(line);
                s.push('\n');
            }
        }
    }
    let files = reports.len();
    s.push_str(&format!(
        "\n{files} file{}: {ok} ok, {warned} with warnings, {bad} invalid ({})\n",
        if files == 1 { "" } else { "s" },
        counts(errs, warns, notes)
    ));
    s
}

fn counts(e: usize, w: usize, n: usize) -> String {
    let p = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let notes = if n > 0 { format!(", {}", p(n, "note")) } else { String::new() };
    format!("{}, {}{notes}", p(e, "error"), p(w, "warning"))
}

/// Load a recipe to run it (`runner up`, `runner backtest`): every check `runner validate`
/// makes on one file must pass (warnings and notes are allowed). An invalid recipe fails
/// (exit 1) with the diagnostics rendered as `validate` renders them; a file that cannot be
/// read is an I/O error (exit 2).
pub fn load_for_run(path: &Path) -> Result<crate::recipe::Recipe, ExitError> {
    super::load_recipe(path).map_err(|e| {
        if e.diagnostics.is_empty() {
            ExitError::usage(e.rendered)
        } else {
            ExitError::failed(format!("{} is not valid:\n{}", path.display(), e.rendered))
        }
    })
}

/// Run `runner show`.
pub fn show(args: ShowArgs, _g: &GlobalArgs) -> CmdResult {
    let rep =
        super::validate::check_file(&args.recipe, SchemaKind::Recipe).map_err(|e| ExitError::usage(e.0))?;
    let errors: Vec<&Diagnostic> = rep.diagnostics.iter().filter(|d| d.severity == Severity::Error).collect();
    let Some(recipe) = rep.recipe.as_ref().filter(|_| errors.is_empty()) else {
        let mut err = std::io::stderr().lock();
        for d in &rep.diagnostics {
            let _ = err.write_all(d.render().as_bytes());
        }
        return Err(ExitError::failed(format!("{} is not a valid recipe", args.recipe.display())).into());
    };
    // Credentials are names of secrets (never values), so the recipe prints as is, with the
    // defaults the engine applies to its kinds filled in.
    let yaml = serde_saphyr::to_string(&recipe.resolved())
        .map_err(|e| anyhow::anyhow!("cannot print the recipe: {e}"))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "# {} resolved, defaults filled in", args.recipe.display())?;
    out.write_all(yaml.as_bytes())?;
    if !yaml.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The generated files: (path relative to the project root, contents).
pub fn generated_files(root: &Path) -> Vec<(PathBuf, String)> {
    let examples = ExampleIndex::load(
        &[root.join("recipes"), root.join("examples")],
        &root.join(super::validate::FLEET_FILE),
    );
    vec![
        (PathBuf::from("schemas/recipe.schema.json"), schema_text(SchemaKind::Recipe)),
        (PathBuf::from("schemas/fleet.schema.json"), schema_text(SchemaKind::Fleet)),
        (PathBuf::from("docs/recipes.md"), docs_markdown(&|k, p| examples.get(k, p))),
    ]
}

/// Example values by JSON pointer, from the shipped recipes (`recipes/`, then `examples/`)
/// and fleet file.
struct ExampleIndex {
    recipe: std::collections::HashMap<String, String>,
    fleet: std::collections::HashMap<String, String>,
}

impl ExampleIndex {
    fn load(dirs: &[PathBuf], fleet: &Path) -> Self {
        let mut idx = Self { recipe: Default::default(), fleet: Default::default() };
        let files = dirs.iter().flat_map(|dir| {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            files.retain(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"));
            files.sort();
            files
        });
        for f in files {
            if let Ok(t) = super::load::read_source(&f).map(|s| s.text)
                && let Ok(v) = super::load::from_str_limited::<serde_json::Value>(&t)
            {
                flatten("", &v, &mut idx.recipe);
            }
        }
        if let Ok(t) = super::load::read_source(fleet).map(|s| s.text)
            && let Ok(v) = super::load::from_str_limited::<serde_json::Value>(&t)
        {
            flatten("", &v, &mut idx.fleet);
        }
        idx
    }

    fn get(&self, kind: SchemaKind, ptr: &str) -> Option<String> {
        match kind {
            SchemaKind::Recipe => self.recipe.get(ptr).cloned(),
            SchemaKind::Fleet => self.fleet.get(ptr).cloned(),
        }
    }
}

fn flatten(ptr: &str, v: &serde_json::Value, out: &mut std::collections::HashMap<String, String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                flatten(&format!("{ptr}/{}", super::load::escape_pointer(k)), x, out);
            }
        }
        serde_json::Value::String(s) if !s.contains('\n') && s.len() <= 60 => {
            out.entry(ptr.to_string()).or_insert_with(|| s.clone());
        }
        serde_json::Value::String(_) | serde_json::Value::Array(_) | serde_json::Value::Null => {}
        other => {
            out.entry(ptr.to_string()).or_insert_with(|| other.to_string());
        }
    }
}

/// Run `runner schema`.
pub fn schema(args: SchemaArgs, _g: &GlobalArgs) -> CmdResult {
    let files = generated_files(&args.root);
    if args.check {
        let stale: Vec<String> = files
            .iter()
            .filter(|(p, text)| {
                std::fs::read_to_string(args.root.join(p)).ok().as_deref() != Some(text.as_str())
            })
            .map(|(p, _)| p.display().to_string())
            .collect();
        if stale.is_empty() {
            println!("schemas and docs are up to date");
            return Ok(ExitCode::SUCCESS);
        }
        return Err(ExitError::failed(format!(
            "stale generated files: {}; run `runner schema` (cargo run -- schema) and commit them",
            stale.join(", ")
        ))
        .into());
    }
    for (p, text) in files {
        let full = args.root.join(&p);
        write_atomic(&full, text.as_bytes())
            .map_err(|e| ExitError::usage(format!("cannot write {}: {e}", full.display())))?;
        println!("wrote {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Write a file atomically: a temp file in the same directory, fsync, rename.
fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
