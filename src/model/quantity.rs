//! Numbers with units, as probes print them and operators write thresholds: replication lag in
//! bytes ("1MiB", "4404019"), seconds since the last contact ("10"). A numeric fact is compared
//! with its threshold and shown with a unit an operator reads at a glance ("lag 4.2 MiB").

use std::fmt;

/// The units a quantity may carry. Binary units (KiB) are powers of 1024, decimal ones (KB) of 1000.
pub const UNITS: &str = "B, KiB, MiB, GiB, TiB, KB, MB, GB, TB, or a plain number";

/// A non-negative number, in bytes when written with a byte unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantity {
    /// The value (bytes when `bytes` is set).
    pub value: f64,
    /// Written with a byte unit: shown back in bytes units.
    pub bytes: bool,
}

/// Why a text is not a quantity; the message names what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// No number at the start.
    #[error("`{0}` is not a number; write a number with an optional unit ({UNITS})")]
    NotANumber(String),
    /// A number followed by an unknown unit.
    #[error("`{unit}` in `{text}` is not a unit; allowed: {UNITS}")]
    BadUnit {
        /// The whole text.
        text: String,
        /// The unit part.
        unit: String,
    },
    /// Below zero: lags and counts are never negative.
    #[error("`{0}` is negative; a threshold or a lag is 0 or more")]
    Negative(String),
}

fn unit_factor(unit: &str) -> Option<f64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "" => return Some(1.0),
        "b" => 1.0,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        _ => return None,
    })
}

impl Quantity {
    /// Reads `"1MiB"`, `"1.5 GB"`, `"4404019"` or `"0"`.
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        let t = text.trim();
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+')).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let value: f64 = num.parse().map_err(|_| QuantityError::NotANumber(t.to_string()))?;
        if !value.is_finite() {
            return Err(QuantityError::NotANumber(t.to_string()));
        }
        if value < 0.0 {
            return Err(QuantityError::Negative(t.to_string()));
        }
        let unit = unit.trim();
        let factor =
            unit_factor(unit).ok_or_else(|| QuantityError::BadUnit { text: t.to_string(), unit: unit.to_string() })?;
        Ok(Quantity { value: value * factor, bytes: !unit.is_empty() })
    }

    /// A number read from a probe, shown in the threshold's units.
    pub fn with_units_of(value: f64, threshold: &Quantity) -> Quantity {
        Quantity { value, bytes: threshold.bytes }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.bytes {
            return if self.value.fract() == 0.0 && self.value.abs() < 1e15 {
                write!(f, "{}", self.value as i64)
            } else {
                write!(f, "{:.1}", self.value)
            };
        }
        let units = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut v = self.value;
        let mut i = 0;
        while v >= 1024.0 && i + 1 < units.len() {
            v /= 1024.0;
            i += 1;
        }
        if i == 0 { write!(f, "{} B", v as i64) } else { write!(f, "{v:.1} {}", units[i]) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_plain_numbers() {
        assert_eq!(Quantity::parse("1MiB").unwrap().value, 1048576.0);
        assert_eq!(Quantity::parse("1.5 KB").unwrap().value, 1500.0);
        assert_eq!(Quantity::parse("2GiB").unwrap().value, 2.0 * 1024.0 * 1024.0 * 1024.0);
        assert_eq!(Quantity::parse("10").unwrap(), Quantity { value: 10.0, bytes: false });
        assert_eq!(Quantity::parse("0 B").unwrap(), Quantity { value: 0.0, bytes: true });
        assert!(matches!(Quantity::parse("1 parsec"), Err(QuantityError::BadUnit { .. })));
        assert!(matches!(Quantity::parse("unknown"), Err(QuantityError::NotANumber(_))));
        assert!(matches!(Quantity::parse("-3"), Err(QuantityError::Negative(_))));
        assert!(matches!(Quantity::parse("NaN"), Err(QuantityError::NotANumber(_))));
    }

    #[test]
    fn shown_in_readable_units() {
        let t = Quantity::parse("1MiB").unwrap();
        assert_eq!(Quantity::with_units_of(4404019.0, &t).to_string(), "4.2 MiB");
        assert_eq!(Quantity::with_units_of(512.0, &t).to_string(), "512 B");
        assert_eq!(Quantity::parse("7").unwrap().to_string(), "7");
    }
}
