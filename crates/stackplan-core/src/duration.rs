//! Durations as helm's `--timeout` takes them (Go's `time.ParseDuration`),
//! in the units a wait is measured in: `90s`, `10m`, `1h30m`.

/// The whole seconds `text` says, or why it is not such a duration.
pub fn duration_secs(text: &str) -> Result<u64, String> {
    if text.is_empty() {
        return Err("is empty".into());
    }
    let mut total = 0u64;
    let mut rest = text;
    while !rest.is_empty() {
        // ASCII digits and units only: every slice below is at a
        // character boundary.
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "is not a duration like \"10m\" or \"90s\": `{text}`"
            ));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("is too long: `{text}`"))?;
        rest = &rest[digits..];
        let unit = match rest.chars().next() {
            Some('h') => 3600,
            Some('m') => 60,
            Some('s') => 1,
            _ => {
                return Err(format!(
                    "needs a unit after each whole number, h, m or s: `{text}`"
                ));
            }
        };
        rest = &rest[1..];
        total = total.saturating_add(n.saturating_mul(unit));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_minutes_and_seconds_add_up() {
        assert_eq!(duration_secs("90s"), Ok(90));
        assert_eq!(duration_secs("10m"), Ok(600));
        assert_eq!(duration_secs("1h30m"), Ok(5400));
        for bad in ["", "10", "1.5h", "10ms", "ten", "5m é"] {
            assert!(duration_secs(bad).is_err(), "{bad}");
        }
    }
}
