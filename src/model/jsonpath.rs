//! JSONPath selectors with per-node placeholders (`$.members[?@.name=='{host}'].lag`): one
//! path in the config picks each node's own member out of a cluster-wide JSON listing. The
//! path language itself is RFC 9535 (the `serde_json_path` crate); this only fills values in.

use std::collections::BTreeMap;

/// Fills `{name}` placeholders of a JSONPath with JSON-string-escaped values: inside a quoted
/// string literal the value is escaped for that quote, outside it becomes a double-quoted
/// literal. `{{`/`}}` are literal braces. A value can never change the path's structure.
pub fn fill_json_path(path: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quote.is_some() => {
                out.push(c);
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '\'' | '"' if quote == Some(c) => {
                quote = None;
                out.push(c);
            }
            '\'' | '"' if quote.is_none() => {
                quote = Some(c);
                out.push(c);
            }
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut name = String::new();
                for n in chars.by_ref() {
                    if n == '}' {
                        break;
                    }
                    name.push(n);
                }
                let value = vars.get(&name).ok_or_else(|| format!("`{{{name}}}` has no value for this node"))?;
                let json = serde_json::to_string(value).map_err(|e| e.to_string())?;
                let inner = &json[1..json.len() - 1];
                match quote {
                    None => out.push_str(&json),
                    Some('"') => out.push_str(inner),
                    Some(_) => out.push_str(&inner.replace("\\\"", "\"").replace('\'', "\\'")),
                }
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// The names of the `{name}` placeholders of a JSONPath, for load-time checks.
pub fn json_path_vars(path: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = path.replace("{{", "").replace("}}", "");
    while let Some(i) = rest.find('{') {
        let after = rest[i + 1..].to_string();
        match after.find('}') {
            Some(j) => {
                names.push(after[..j].to_string());
                rest = after[j + 1..].to_string();
            }
            None => break,
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn values_stay_string_literals() {
        let v = vars(&[("host", "pg-1"), ("odd", "a'b\"c")]);
        assert_eq!(fill_json_path("$.m[?@.name=='{host}'].lag", &v).unwrap(), "$.m[?@.name=='pg-1'].lag");
        assert_eq!(fill_json_path("$.m[?@.name=={host}]", &v).unwrap(), "$.m[?@.name==\"pg-1\"]");
        assert_eq!(fill_json_path("$.m[?@.name=='{odd}']", &v).unwrap(), "$.m[?@.name=='a\\'b\"c']");
        assert_eq!(fill_json_path("$.m[?@.name==\"{odd}\"]", &v).unwrap(), "$.m[?@.name==\"a'b\\\"c\"]");
        assert!(fill_json_path("$.m[?@.name=='{nope}']", &v).unwrap_err().contains("{nope}"));
        assert_eq!(json_path_vars("$.m[?@.name=='{host}' && @.x=='{{lit}}']"), vec!["host".to_string()]);
    }

    #[test]
    fn filled_paths_parse_and_select_the_right_member() {
        let doc: serde_json::Value =
            serde_json::from_str(r#"{"members":[{"name":"a'b\"c","lag":1},{"name":"pg-2","lag":2}]}"#).unwrap();
        for p in
            ["$.members[?@.name=='{odd}'].lag", "$.members[?@.name==\"{odd}\"].lag", "$.members[?@.name=={odd}].lag"]
        {
            let filled = fill_json_path(p, &vars(&[("odd", "a'b\"c")])).unwrap();
            let path = serde_json_path::JsonPath::parse(&filled).unwrap();
            assert_eq!(path.query(&doc).all(), vec![&serde_json::json!(1)], "{filled}");
        }
    }
}
