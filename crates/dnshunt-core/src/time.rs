//! Event time: UTC milliseconds since the Unix epoch.
//!
//! Sysmon writes `UtcTime` as `2019-06-25 14:09:41.467`; Winlogbeat 6 rewrites it as
//! `2019-06-25T14:09:41.467Z`; EVTX `SystemTime` carries seven fractional digits. One small
//! parser handles all of them without allocating, because it runs once per event.

use std::fmt;

use serde::{Serialize, Serializer};

/// A point in time, UTC, millisecond precision (Sysmon's own precision).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// Parses `YYYY-MM-DD[ T]HH:MM:SS[.fraction][Z|+HH:MM]`, or a bare date `YYYY-MM-DD`.
    ///
    /// Fractions beyond milliseconds are truncated. An offset is applied, so the result is UTC.
    pub fn parse(text: &str) -> Option<Timestamp> {
        let b = text.trim().as_bytes();
        if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let year = digits(&b[0..4])? as i64;
        let month = digits(&b[5..7])?;
        let day = digits(&b[8..10])?;
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        let mut ms = days_from_civil(year, month, day) * 86_400_000;
        let rest = &b[10..];
        if rest.is_empty() {
            return Some(Timestamp(ms));
        }
        if rest.len() < 9 || !(rest[0] == b' ' || rest[0] == b'T' || rest[0] == b't') {
            return None;
        }
        if rest[3] != b':' || rest[6] != b':' {
            return None;
        }
        let hour = digits(&rest[1..3])?;
        let minute = digits(&rest[4..6])?;
        let second = digits(&rest[7..9])?;
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        ms += (hour as i64 * 3600 + minute as i64 * 60 + second as i64) * 1000;
        let mut tail = &rest[9..];
        if let Some((&b'.', frac)) = tail.split_first() {
            let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            let mut millis = 0i64;
            for i in 0..3 {
                millis = millis * 10 + frac.get(i).filter(|_| i < n).map_or(0, |c| (c - b'0') as i64);
            }
            ms += millis;
            tail = &frac[n..];
        }
        match tail {
            [] | [b'Z'] | [b'z'] => Some(Timestamp(ms)),
            // `+03:00`, or `+0300` as Suricata writes it.
            [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2] | [sign @ (b'+' | b'-'), oh1, oh2, om1, om2] => {
                let offset = (digits(&[*oh1, *oh2])? * 60 + digits(&[*om1, *om2])?) as i64 * 60_000;
                Some(Timestamp(if *sign == b'+' { ms - offset } else { ms + offset }))
            }
            _ => None,
        }
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl fmt::Display for Timestamp {
    /// RFC 3339 with milliseconds: `2019-06-25T14:09:41.467Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400_000);
        let rem = self.0.rem_euclid(86_400_000);
        let (y, m, d) = civil_from_days(days);
        let (h, rem) = (rem / 3_600_000, rem % 3_600_000);
        let (min, rem) = (rem / 60_000, rem % 60_000);
        let (s, ms) = (rem / 1000, rem % 1000);
        write!(f, "{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{ms:03}Z")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expected: &str) {
        let ts = Timestamp::parse(input).unwrap_or_else(|| panic!("{input} did not parse"));
        assert_eq!(ts.to_string(), expected);
    }

    #[test]
    fn sysmon_and_rfc3339_forms() {
        check("2020-10-22 05:54:21.349", "2020-10-22T05:54:21.349Z");
        check("2019-06-25T14:09:41.467Z", "2019-06-25T14:09:41.467Z");
        check("2019-06-25T14:09:41.4680000Z", "2019-06-25T14:09:41.468Z");
        check("2019-06-25T14:09:41Z", "2019-06-25T14:09:41.000Z");
        check("2019-06-25T16:09:41.5+02:00", "2019-06-25T14:09:41.500Z");
        // Suricata's EVE: microseconds and an offset without a colon.
        check("2022-05-08T11:22:03.482667+0300", "2022-05-08T08:22:03.482Z");
        check("1970-01-01", "1970-01-01T00:00:00.000Z");
        check("2024-02-29 23:59:59.999", "2024-02-29T23:59:59.999Z");
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "-", "2019-13-01", "2019-06-25 14:09", "yesterday", "2019-06-25X14:09:41", "2019-06-25 14:09:41.Z"] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn round_trips_over_a_wide_range() {
        // Years 0001 to 9999: the range four-digit RFC 3339 years can spell.
        for days in (-719_000i64..2_900_000).step_by(997) {
            let ts = Timestamp(days * 86_400_000 + 12_345_678);
            assert_eq!(Timestamp::parse(&ts.to_string()), Some(ts));
        }
    }
}
