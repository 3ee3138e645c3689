//! Command templates: `{name}` placeholders filled with shell-quoted values.
//!
//! Every substituted value is quoted by rollpilot, so an operator never writes quotes around a
//! placeholder (and the parser refuses one inside quotes, where our quotes would be literal).
//! `{{` and `}}` stand for literal braces.

use std::collections::BTreeMap;
use std::fmt;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Shell text copied as written.
    Lit(String),
    /// A placeholder, replaced by the quoted value of the variable.
    Var(String),
}

/// A parsed command template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    raw: String,
    parts: Vec<Part>,
}

/// Why a template was refused; `offset` is a byte offset into the template text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{` without a closing `}`.
    #[error("`{{` at offset {offset} is not closed by `}}` (write `{{{{` for a literal brace)")]
    Unclosed {
        /// Where the brace is.
        offset: usize,
    },
    /// A lone `}`.
    #[error("`}}` at offset {offset} has no opening `{{` (write `}}}}` for a literal brace)")]
    StrayClose {
        /// Where the brace is.
        offset: usize,
    },
    /// `{}` or `{bad name}`.
    #[error("`{{{name}}}` at offset {offset} is not a variable name (letters, digits, `_`)")]
    BadName {
        /// The text between the braces.
        name: String,
        /// Where it starts.
        offset: usize,
    },
    /// A placeholder inside quotes: our quoting would become literal text.
    #[error("`{{{name}}}` at offset {offset} is inside quotes; remove them, rollpilot quotes every value itself")]
    Quoted {
        /// The variable.
        name: String,
        /// Where it starts.
        offset: usize,
    },
}

impl TemplateError {
    /// Byte offset of the problem inside the template text.
    pub fn offset(&self) -> usize {
        match self {
            TemplateError::Unclosed { offset }
            | TemplateError::StrayClose { offset }
            | TemplateError::BadName { offset, .. }
            | TemplateError::Quoted { offset, .. } => *offset,
        }
    }
}

impl Template {
    /// Parses a template, refusing malformed or quoted placeholders.
    pub fn parse(raw: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let bytes: Vec<char> = raw.chars().collect();
        // Byte offsets for error messages.
        let offsets: Vec<usize> = raw.char_indices().map(|(i, _)| i).collect();
        let mut quote: Option<char> = None;
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            match c {
                '\\' if quote != Some('\'') => {
                    lit.push(c);
                    if let Some(&n) = bytes.get(i + 1) {
                        lit.push(n);
                        i += 1;
                    }
                }
                '\'' | '"' => {
                    match quote {
                        None => quote = Some(c),
                        Some(q) if q == c => quote = None,
                        Some(_) => {}
                    }
                    lit.push(c);
                }
                '{' if bytes.get(i + 1) == Some(&'{') => {
                    lit.push('{');
                    i += 1;
                }
                '}' if bytes.get(i + 1) == Some(&'}') => {
                    lit.push('}');
                    i += 1;
                }
                '}' => return Err(TemplateError::StrayClose { offset: offsets[i] }),
                '{' => {
                    let start = i;
                    let Some(end) = bytes[i + 1..].iter().position(|&b| b == '}').map(|p| p + i + 1) else {
                        return Err(TemplateError::Unclosed { offset: offsets[start] });
                    };
                    let name: String = bytes[i + 1..end].iter().collect();
                    if name.is_empty() || !name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') {
                        return Err(TemplateError::BadName { name, offset: offsets[start] });
                    }
                    if quote.is_some() {
                        return Err(TemplateError::Quoted { name, offset: offsets[start] });
                    }
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Var(name));
                    i = end;
                }
                _ => lit.push(c),
            }
            i += 1;
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template { raw: raw.to_string(), parts })
    }

    /// The text as the operator wrote it.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Names of the variables the template uses, in order of first use.
    pub fn vars(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = Vec::new();
        for p in &self.parts {
            if let Part::Var(v) = p
                && !seen.contains(&v.as_str())
            {
                seen.push(v);
            }
        }
        seen
    }

    /// Fills the placeholders with shell-quoted values; names a variable that has no value.
    pub fn render(&self, vars: &BTreeMap<String, String>) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Var(v) => match vars.get(v) {
                    Some(val) => out.push_str(&shell_quote(val)),
                    None => return Err(v.clone()),
                },
            }
        }
        Ok(out)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Quotes a value for POSIX `sh`: safe characters stay as they are (so rendered commands read
/// naturally), anything else is single-quoted with embedded quotes escaped.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if safe {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn renders_with_quoting() {
        let t = Template::parse("{dir}/server/bin/version.sh -n {host}").unwrap();
        assert_eq!(t.vars(), vec!["dir", "host"]);
        let out = t.render(&vars(&[("dir", "/opt/tc kit"), ("host", "tc-1")])).unwrap();
        assert_eq!(out, "'/opt/tc kit'/server/bin/version.sh -n tc-1");
    }

    #[test]
    fn hostile_values_stay_one_word() {
        let t = Template::parse("echo {x}").unwrap();
        let out = t.render(&vars(&[("x", "a'; rm -rf / #")])).unwrap();
        assert_eq!(out, "echo 'a'\\''; rm -rf / #'");
        let t = Template::parse("echo {x}").unwrap();
        assert_eq!(t.render(&vars(&[("x", "")])).unwrap(), "echo ''");
        assert_eq!(t.render(&vars(&[("x", "$(id)")])).unwrap(), "echo '$(id)'");
    }

    #[test]
    fn literal_braces_and_errors() {
        let t = Template::parse("awk '{{print $1}}' {f}").unwrap();
        assert_eq!(t.render(&vars(&[("f", "x")])).unwrap(), "awk '{print $1}' x");
        assert!(matches!(Template::parse("echo {x"), Err(TemplateError::Unclosed { offset: 5 })));
        assert!(matches!(Template::parse("echo x}"), Err(TemplateError::StrayClose { .. })));
        assert!(matches!(Template::parse("echo {a b}"), Err(TemplateError::BadName { .. })));
        assert!(matches!(Template::parse("echo \"{x}\""), Err(TemplateError::Quoted { .. })));
        assert!(matches!(Template::parse("echo '{x}'"), Err(TemplateError::Quoted { .. })));
        assert!(Template::parse("echo ${HOME}").is_ok(), "parses, but names HOME as a variable");
        assert_eq!(Template::parse("echo ${HOME}").unwrap().vars(), vec!["HOME"]);
    }

    #[test]
    fn missing_variable_is_named() {
        let t = Template::parse("x {nope}").unwrap();
        assert_eq!(t.render(&BTreeMap::new()), Err("nope".to_string()));
    }
}
