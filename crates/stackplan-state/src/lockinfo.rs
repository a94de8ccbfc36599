//! Who takes a lock: enough to find the holder of a stale one, and the
//! heartbeat that tells a live holder from a dead one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use stackplan_core::LockInfo;

/// How often a holder of a lock that outlives its process (S3) rewrites
/// the lock's heartbeat while it holds it.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);

/// A heartbeat younger than this means the holder is alive: three
/// intervals, so two renewals lost to a slow or failing network (or a few
/// seconds of clock skew between machines) do not make a live run look
/// dead.
pub const LOCK_STALE_AFTER: Duration = Duration::from_secs(3 * HEARTBEAT_INTERVAL.as_secs());

/// How old `holder`'s heartbeat is at `now`: `None` when the lock carries
/// none (a local OS lock, or one written before heartbeats existed) or one
/// that cannot be read. A heartbeat from the future (clock skew) is new.
pub fn heartbeat_age(holder: &LockInfo, now: SystemTime) -> Option<Duration> {
    let beat = parse_rfc3339_utc(holder.heartbeat.as_deref()?)?;
    Some(now.duration_since(beat).unwrap_or(Duration::ZERO))
}

/// A lock record for this process doing `operation`.
pub fn new_lock_info(operation: &str) -> LockInfo {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".to_string());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown-host".to_string());
    LockInfo {
        id: uuid::Uuid::new_v4().to_string(),
        operation: operation.to_string(),
        who: format!("{user}@{host}"),
        pid: std::process::id(),
        created: rfc3339_utc(SystemTime::now()),
        // Stamped by the backends that renew it (S3), when they write it.
        heartbeat: None,
    }
}

/// `2026-01-02T03:04:05Z`, without a date-time dependency.
pub fn rfc3339_utc(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The inverse of [`rfc3339_utc`]: `2026-01-02T03:04:05Z` (fractional
/// seconds ignored), or `None` for anything else.
pub fn parse_rfc3339_utc(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let rest = &text[19..];
    let fraction_ok = |f: &str| f.bytes().all(|c| c.is_ascii_digit());
    if !(rest == "Z"
        || rest
            .strip_prefix('.')?
            .strip_suffix('Z')
            .is_some_and(fraction_ok))
    {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Howard Hinnant's days_from_civil, the inverse of civil_from_days.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(rfc3339_utc(t), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn timestamps_read_back_to_the_same_second() {
        for secs in [0, 951_782_400, 1_700_000_000, 4_102_444_799] {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(parse_rfc3339_utc(&rfc3339_utc(t)), Some(t), "{secs}");
        }
        assert_eq!(
            parse_rfc3339_utc("2023-11-14T22:13:20.123Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        for bad in [
            "",
            "unknown",
            "2023-11-14 22:13:20Z",
            "2023-13-14T22:13:20Z",
            "2023-11-14T22:13:20+01:00",
        ] {
            assert_eq!(parse_rfc3339_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn heartbeat_age_is_measured_from_the_last_beat() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_100);
        let mut holder = new_lock_info("apply");
        assert_eq!(heartbeat_age(&holder, now), None);
        holder.heartbeat = Some("2023-11-14T22:13:20Z".into());
        assert_eq!(heartbeat_age(&holder, now), Some(Duration::from_secs(100)));
        // A holder whose clock runs ahead of ours looks new, not negative.
        holder.heartbeat = Some("2023-11-14T22:20:00Z".into());
        assert_eq!(heartbeat_age(&holder, now), Some(Duration::ZERO));
        holder.heartbeat = Some("garbled".into());
        assert_eq!(heartbeat_age(&holder, now), None);
    }
}
