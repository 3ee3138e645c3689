//! Human durations in config files: "500ms", "30s", "5m", "2h", or combinations like "1m30s".

use std::time::Duration;

/// Parses a duration, or explains what is accepted. jiff's "friendly" format does the parsing
/// (so "1m30s", "1m 30s", "90 seconds" and ISO 8601 "PT90S" all work); rollpilot only adds the
/// messages an operator needs: a bare number is refused (seconds or minutes?) and so is a
/// negative length.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration; write e.g. \"30s\", \"5m\", \"500ms\"".into());
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{s}` has a number without a unit; write e.g. \"{t}s\""));
    }
    let d: jiff::SignedDuration = t.parse().map_err(|_| {
        format!("`{s}` is not a duration; write a number and a unit (ms, s, m, h), e.g. \"30s\", \"5m\", \"1m30s\"")
    })?;
    Duration::try_from(d).map_err(|_| format!("`{s}` is negative; write a length of time such as \"30s\""))
}

/// Formats a duration the way it would be written in a config ("1m30s").
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 && ms > 0 {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("30").unwrap_err().contains("without a unit"));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5 minutes"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("5 parsecs").unwrap_err().contains("not a duration"));
        assert!(parse_duration("-5s").unwrap_err().contains("negative"));
        assert!(parse_duration("99999999999999999999h").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
