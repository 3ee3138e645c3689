//! Reading a cluster description from TOML into a validated [`Cluster`].
//!
//! Every error names the file, line and column, the field, the bad value and what is allowed,
//! because the operator reading it is about to run an upgrade and must fix the file quickly.

mod collect;
pub mod duration;
pub mod observed_file;
pub mod position;
mod raw;
mod validate;

pub use validate::plain_remote_path;

use crate::model::Cluster;
use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a config file, located precisely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file as the operator named it.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// Dotted path of the field (e.g. `groups[1].hosts[0].address`).
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
    /// The source line, for a caret display.
    pub source_line: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}: {}", self.file, self.line, self.col, self.field, self.message)
    }
}

impl ConfigError {
    /// The error with the offending line and a caret under the column.
    pub fn render_with_source(&self) -> String {
        let mut s = self.to_string();
        if !self.source_line.is_empty() {
            let gutter = format!("{:>4} | ", self.line);
            s.push('\n');
            s.push_str(&gutter);
            s.push_str(&self.source_line);
            s.push('\n');
            s.push_str(&" ".repeat(gutter.len() + self.col.saturating_sub(1)));
            s.push('^');
        }
        s
    }
}

/// All problems found in one file (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}; check the path given with -c")]
    Read {
        /// The path as given.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is larger than any cluster description needs: refused before it is read whole
    /// (a wrong path to a log or a disk image must not hang or exhaust the machine).
    #[error("config {path} is {size}, over the {limit} limit for a cluster description; check the path given with -c")]
    TooLarge {
        /// The path as given.
        path: PathBuf,
        /// Its size, for the operator.
        size: String,
        /// The limit, for the operator.
        limit: String,
    },
    /// The file was read but is not a valid cluster description.
    #[error("{0}")]
    Invalid(ConfigErrors),
}

impl LoadError {
    /// The problems, with source lines and carets, for a terminal.
    pub fn render(&self) -> String {
        match self {
            LoadError::Read { .. } | LoadError::TooLarge { .. } => crate::sanitize::clean_line(&self.to_string()),
            // Source lines and bad values are the file's text: shown, never obeyed.
            LoadError::Invalid(es) => crate::sanitize::clean_text(
                &es.0.iter().map(|e| e.render_with_source()).collect::<Vec<_>>().join("\n\n"),
            ),
        }
    }
}

/// Reads and validates a cluster config file. Relative paths in it (identity, ssh config,
/// known_hosts) are taken relative to the file's directory.
pub fn load(path: &Path) -> Result<Cluster, LoadError> {
    let source = read_bounded(path)?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse_str(&source, &path.display().to_string(), &base).map_err(LoadError::Invalid)
}

/// Largest config file accepted: real cluster descriptions are a few KB.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Reads a config file, refusing one over [`MAX_CONFIG_BYTES`] without reading it whole (the
/// bound also holds for a file that grows or a device that never ends).
fn read_bounded(path: &Path) -> Result<String, LoadError> {
    use std::io::Read;
    let read_err = |source| LoadError::Read { path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let too_large = |size: u64| LoadError::TooLarge {
        path: path.to_path_buf(),
        size: crate::sanitize::size(size),
        limit: crate::sanitize::size(MAX_CONFIG_BYTES),
    };
    if let Ok(m) = file.metadata()
        && m.is_file()
        && m.len() > MAX_CONFIG_BYTES
    {
        return Err(too_large(m.len()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes).map_err(read_err)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(LoadError::TooLarge {
            path: path.to_path_buf(),
            size: format!("more than {}", crate::sanitize::size(MAX_CONFIG_BYTES)),
            limit: crate::sanitize::size(MAX_CONFIG_BYTES),
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        read_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()),
        ))
    })
}

/// Validates config text; `origin` names it in errors, `base` resolves relative paths. Every
/// error is reported at once: a value of the wrong type does not hide the mistakes after it.
pub fn parse_str(source: &str, origin: &str, base: &Path) -> Result<Cluster, ConfigErrors> {
    let collected = collect::deserialize_all(source, origin);
    let Some(raw) = collected.raw else { return Err(ConfigErrors(collected.errors)) };
    if collected.errors.is_empty() {
        return validate::validate(raw, source, origin, base);
    }
    // The rest of the file, validated too; a finding about a blanked entry is a consequence.
    let mut errors = collected.errors;
    if let Err(ConfigErrors(more)) = validate::validate(raw, source, origin, base) {
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        let consequence = |e: &ConfigError| {
            collected.removed.iter().any(|k| {
                e.field.rsplit('.').next().is_some_and(|last| last == k || last.starts_with(&format!("{k}[")))
                    || e.message.contains(&format!("`{k}`"))
            }) || lines.contains(&e.line)
        };
        let kept: Vec<ConfigError> = more.into_iter().filter(|e| !consequence(e)).collect();
        errors.extend(kept);
    }
    errors.sort_by_key(|e| (e.line, e.col));
    Err(ConfigErrors(errors))
}

/// Builds an error at a byte offset of the source.
pub(crate) fn error_at(
    source: &str,
    origin: &str,
    offset: usize,
    field: impl Into<String>,
    message: impl Into<String>,
) -> ConfigError {
    let (line, col) = position::line_col(source, offset);
    ConfigError {
        file: origin.to_string(),
        line,
        col,
        field: field.into(),
        message: message.into(),
        source_line: position::line_text(source, offset).to_string(),
    }
}

fn from_toml_error(source: &str, origin: &str, e: &toml::de::Error) -> ConfigError {
    let offset = e.span().map(|s| s.start).unwrap_or(0);
    let msg = e.message().trim().replace('\n', " ");
    // serde names an unknown field in its message; otherwise the key on the line is the field.
    let field = position::key_path_at(source, offset).unwrap_or_else(|| "(file)".to_string());
    let msg = if msg.starts_with("unknown field") {
        let hint = suggest(&msg).map(|s| format!("did you mean `{s}`? ")).unwrap_or_default();
        format!("{msg} ({hint}fields are case-sensitive; see the config reference in README.md)")
    } else {
        msg.replace("expected u16", "expected a port number from 1 to 65535")
            .replace("expected i64", "expected a whole number")
            .replace("expected a string", "expected a quoted string")
    };
    error_at(source, origin, offset, field, msg)
}

/// For "unknown field `tagret`, expected one of `name`, `target`...", the closest expected name.
fn suggest(msg: &str) -> Option<String> {
    let mut parts = msg.split('`');
    let bad = parts.nth(1)?.to_string();
    let expected: Vec<&str> = msg.split_once("expected")?.1.split('`').skip(1).step_by(2).collect();
    expected
        .into_iter()
        .map(|e| (strsim::levenshtein(&bad, e), e))
        .filter(|(d, e)| *d <= 2.max(e.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, e)| e.to_string())
}
