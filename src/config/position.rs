//! Turning byte spans into the `file:line:col` an operator can jump to.

use std::ops::Range;

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let mut line = 1;
    let mut line_start = 0;
    for (i, b) in source.bytes().enumerate() {
        if i >= offset {
            break;
        }
        if b == b'\n' {
            line += 1;
            line_start = i + 1;
        }
    }
    let col = source.get(line_start..offset).map(|s| s.chars().count()).unwrap_or(0) + 1;
    (line, col)
}

/// The text of the line holding `offset`, for the caret display under an error.
pub fn line_text(source: &str, offset: usize) -> &str {
    let offset = offset.min(source.len());
    let start = source[..offset].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let end = source[offset..].find('\n').map(|i| offset + i).unwrap_or(source.len());
    &source[start..end]
}

/// Best guess at the dotted key path of the value at `offset`: the last `[table]` header above
/// it plus the key on its line. Used for errors that serde reports without naming the field.
pub fn key_path_at(source: &str, offset: usize) -> Option<String> {
    let offset = offset.min(source.len());
    let line = line_text(source, offset).trim();
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    let mut header: Option<String> = None;
    for l in source[..offset].lines().rev() {
        let t = l.trim();
        if let Some(h) = t.strip_prefix("[[").and_then(|r| r.split_once("]]")).map(|(h, _)| h) {
            header = Some(h.trim().to_string());
            break;
        }
        if let Some(h) = t.strip_prefix('[').and_then(|r| r.split_once(']')).map(|(h, _)| h) {
            header = Some(h.trim().to_string());
            break;
        }
    }
    match (header, key) {
        (Some(h), Some(k)) => Some(format!("{h}.{k}")),
        (None, Some(k)) => Some(k),
        (Some(h), None) => Some(h),
        (None, None) => None,
    }
}

/// Where the text of a string value starts, given the span of the whole TOML value (quotes
/// included), and the byte offset inside the text; falls back to the value's start when the
/// source uses escapes that make the mapping uncertain.
pub fn offset_in_string(source: &str, span: &Range<usize>, text: &str, inner: usize) -> usize {
    let Some(src) = source.get(span.clone()) else { return span.start };
    let (skip, body) = if let Some(rest) = src.strip_prefix("\"\"\"").or_else(|| src.strip_prefix("'''")) {
        let nl = if rest.starts_with("\r\n") {
            2
        } else if rest.starts_with('\n') {
            1
        } else {
            0
        };
        (3 + nl, &rest[nl..])
    } else if let Some(rest) = src.strip_prefix('"').or_else(|| src.strip_prefix('\'')) {
        (1, rest)
    } else {
        return span.start;
    };
    match (body.get(..inner), text.get(..inner)) {
        (Some(a), Some(b)) if a == b => span.start + skip + inner,
        _ => span.start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let s = "[cluster]\nname = \"x\"\n\n[ssh]\nport = \"abc\"\n";
        let off = s.find("\"abc\"").unwrap();
        assert_eq!(line_col(s, off), (5, 8));
        assert_eq!(line_text(s, off), "port = \"abc\"");
        assert_eq!(key_path_at(s, off).as_deref(), Some("ssh.port"));
        assert_eq!(line_col(s, 0), (1, 1));
    }

    #[test]
    fn string_offsets() {
        let s = "install = \"tar {x\"";
        let start = s.find('"').unwrap();
        let span = start..s.len();
        assert_eq!(offset_in_string(s, &span, "tar {x", 4), start + 1 + 4);
    }
}
