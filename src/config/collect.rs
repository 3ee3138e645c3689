//! Every deserialization error of a config in one pass. serde stops at the first value of the
//! wrong type, so an operator fixing a file would meet its mistakes one run at a time. Here the
//! file is deserialized, the entry that failed is blanked out (spaces, so every byte offset and
//! so every `file:line:col` stays true), and the rest is deserialized again, until it succeeds or
//! nothing more can be learned. Errors that only follow from a blanked entry (the "missing field"
//! of a key removed for being wrong) are not reported twice.

use super::ConfigError;
use super::raw::RawConfig;

/// How many entries are blanked at most before giving up on finding more.
const MAX_ROUNDS: usize = 64;

/// The outcome: the config as far as it could be read (from the source with the bad entries
/// blanked), and every error found on the way, in file order.
pub(super) struct Collected {
    /// The deserialized config, when the blanked source deserialized in the end.
    pub raw: Option<RawConfig>,
    /// Each problem, located in the original source.
    pub errors: Vec<ConfigError>,
    /// Keys blanked for being wrong (their later "missing" errors are consequences).
    pub removed: Vec<String>,
}

/// The key of the `key = value` entry a line starts with (last dotted part), if any.
fn key_on_line(line: &str) -> Option<String> {
    let (k, _) = line.split_once('=')?;
    let k = k.trim();
    if k.is_empty() || k.starts_with('[') || k.starts_with('#') {
        return None;
    }
    Some(k.rsplit('.').next().unwrap_or(k).trim().trim_matches('"').to_string())
}

/// The field name a "missing field `x`" message names.
fn missing_field(msg: &str) -> Option<&str> {
    let rest = msg.strip_prefix("missing field `")?;
    rest.split('`').next()
}

/// Replaces the whole lines holding `start..end` with spaces (newlines kept).
fn blank_lines(text: &mut [u8], start: usize, end: usize) -> bool {
    let len = text.len();
    let start = start.min(len);
    let end = end.max(start + 1).min(len);
    let from = text[..start].iter().rposition(|b| *b == b'\n').map(|i| i + 1).unwrap_or(0);
    let to = text[end.saturating_sub(1).max(from)..]
        .iter()
        .position(|b| *b == b'\n')
        .map(|i| i + end.saturating_sub(1).max(from))
        .unwrap_or(len);
    let mut changed = false;
    for b in &mut text[from..to] {
        if *b != b' ' && *b != b'\n' && *b != b'\r' {
            *b = b' ';
            changed = true;
        }
    }
    changed
}

/// The table whose header line holds byte `at`: its byte range up to the next header, and its
/// name (the last dotted part, as a "missing field" of the parent would name it).
fn table_at(text: &[u8], at: usize) -> Option<(usize, usize, String)> {
    let s = std::str::from_utf8(text).ok()?;
    let at = at.min(s.len());
    let from = s[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let header = s[from..].lines().next()?.trim();
    if !header.starts_with('[') {
        return None;
    }
    let name = header.trim_matches(|c| c == '[' || c == ']').trim();
    let name = name.rsplit('.').next().unwrap_or(name).trim().trim_matches('"').to_string();
    let body = from + s[from..].find('\n').map(|i| i + 1).unwrap_or(s.len() - from);
    let mut to = s.len();
    let mut pos = body;
    for line in s[body..].split_inclusive('\n') {
        if line.trim_start().starts_with('[') {
            to = pos;
            break;
        }
        pos += line.len();
    }
    Some((from, to.max(from + 1), name))
}

/// Deserializes `source`, collecting every error (see the module documentation).
pub(super) fn deserialize_all(source: &str, origin: &str) -> Collected {
    let mut errors = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    let first = match toml::from_str::<RawConfig>(source) {
        Ok(raw) => return Collected { raw: Some(raw), errors, removed },
        Err(e) => e,
    };
    // A TOML syntax error leaves nothing reliable to read further: report it alone.
    if source.parse::<toml::Table>().is_err() {
        errors.push(super::from_toml_error(source, origin, &first));
        return Collected { raw: None, errors, removed };
    }
    let mut text = source.as_bytes().to_vec();
    let mut err = first;
    for _ in 0..MAX_ROUNDS {
        let msg = err.message().trim().to_string();
        let skip = missing_field(&msg).is_some_and(|f| removed.iter().any(|r| r == f));
        if !skip {
            errors.push(super::from_toml_error(source, origin, &err));
        }
        // A missing field is located at its table's header: blanking only that line would move
        // the table's other keys to the top level and report them as unknown. The whole table
        // goes instead (its other mistakes were already reported), and the rest of the file is
        // read on; a missing field located anywhere else ends the search.
        if missing_field(&msg).is_some() {
            let Some(span) = err.span() else { break };
            let Some((from, to, name)) = table_at(&text, span.start) else { break };
            removed.push(name);
            if !blank_lines(&mut text, from, to) {
                break;
            }
            let Ok(next) = String::from_utf8(text.clone()) else { break };
            match toml::from_str::<RawConfig>(&next) {
                Ok(raw) => return Collected { raw: Some(raw), errors, removed },
                Err(e) => err = e,
            }
            continue;
        }
        let Some(span) = err.span() else { break };
        let line_start = source[..span.start.min(source.len())].rfind('\n').map(|i| i + 1).unwrap_or(0);
        let line = source[line_start..].lines().next().unwrap_or_default();
        if let Some(k) = key_on_line(line) {
            removed.push(k);
        }
        if let Some(f) = missing_field(&msg) {
            removed.push(f.to_string());
        }
        if !blank_lines(&mut text, span.start, span.end) {
            break;
        }
        let Ok(next) = String::from_utf8(text.clone()) else { break };
        if next.parse::<toml::Table>().is_err() {
            // Blanking broke the syntax (an entry inside a multi-line value): stop here.
            break;
        }
        match toml::from_str::<RawConfig>(&next) {
            Ok(raw) => return Collected { raw: Some(raw), errors, removed },
            Err(e) => err = e,
        }
    }
    Collected { raw: None, errors, removed }
}
