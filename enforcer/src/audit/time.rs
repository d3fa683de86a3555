//! Instants as RFC 3339 UTC text with milliseconds
//! (`2026-12-01T09:41:07.123Z`), and the `--since` forms: an RFC 3339 time
//! or an age (`90s`, `10m`, `2h`, `1d`, `1w`).
//!
//! The calendar arithmetic is the proleptic Gregorian one (days to a civil
//! date and back, after Howard Hinnant's public-domain formulas), so no
//! date crate is needed for a format this narrow.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant, in milliseconds since 1970-01-01T00:00:00Z. Serialises as
/// RFC 3339 UTC text with milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    millis: i64,
}

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;

impl Timestamp {
    /// The instant `millis` milliseconds after the Unix epoch (negative:
    /// before it).
    pub fn from_unix_millis(millis: i64) -> Timestamp {
        Timestamp { millis }
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_millis(self) -> i64 {
        self.millis
    }

    /// Now, from the real-time clock (the epoch itself if the clock is set
    /// before 1970).
    pub fn now() -> Timestamp {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
            });
        Timestamp { millis }
    }

    /// This instant moved back by `age` (saturating).
    pub fn minus(self, age: Duration) -> Timestamp {
        let age = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
        Timestamp {
            millis: self.millis.saturating_sub(age),
        }
    }

    /// Parses RFC 3339 date-time text: `YYYY-MM-DDTHH:MM:SS`, an optional
    /// fraction of a second (digits past milliseconds are cut), then `Z` or
    /// an offset `±HH:MM`. `t`, `z` and a space for `T` are accepted, as
    /// RFC 3339 allows. Leap seconds (`:60`) are refused.
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, String> {
        let bad = |why: &str| {
            format!("{text:?} is not an RFC 3339 time such as 2026-12-01T09:00:00Z: {why}")
        };
        let bytes = text.as_bytes();
        if bytes.len() < 19 || !text.is_ascii() {
            return Err(bad("too short"));
        }
        let digits = |range: std::ops::Range<usize>, what: &str| -> Result<i64, String> {
            let part = &text[range];
            if !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(&format!("the {what} is not a number")));
            }
            part.parse().map_err(|_| bad(&format!("bad {what}")))
        };
        let separator = |at: usize, expected: &[u8], what: &str| -> Result<(), String> {
            if expected.contains(&bytes[at]) {
                Ok(())
            } else {
                Err(bad(&format!("expected {what} at byte {at}")))
            }
        };
        let year = digits(0..4, "year")?;
        separator(4, b"-", "'-'")?;
        let month = digits(5..7, "month")?;
        separator(7, b"-", "'-'")?;
        let day = digits(8..10, "day")?;
        separator(10, b"Tt ", "'T'")?;
        let hour = digits(11..13, "hour")?;
        separator(13, b":", "':'")?;
        let minute = digits(14..16, "minute")?;
        separator(16, b":", "':'")?;
        let second = digits(17..19, "second")?;
        if !(1..=12).contains(&month) {
            return Err(bad("the month must be 01 to 12"));
        }
        if day < 1 || day > days_in_month(year, month) {
            return Err(bad(&format!("{year:04}-{month:02} has no day {day:02}")));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(bad(
                "the time of day is out of range (leap seconds are refused)",
            ));
        }
        let mut at = 19;
        let mut millis = 0;
        if bytes.get(at) == Some(&b'.') {
            let start = at + 1;
            at = start;
            while at < bytes.len() && bytes[at].is_ascii_digit() {
                at += 1;
            }
            if at == start {
                return Err(bad("a '.' must be followed by digits"));
            }
            let fraction = &text[start..at.min(start + 3)];
            millis = fraction.parse::<i64>().map_err(|_| bad("bad fraction"))?
                * 10_i64.pow(3 - fraction.len() as u32);
        }
        let offset_minutes = match &text[at..] {
            "Z" | "z" => 0,
            zone if zone.len() == 6 && (zone.starts_with('+') || zone.starts_with('-')) => {
                separator(at + 3, b":", "':' in the offset")?;
                let hours = digits(at + 1..at + 3, "offset hour")?;
                let minutes = digits(at + 4..at + 6, "offset minute")?;
                if hours > 23 || minutes > 59 {
                    return Err(bad("the offset is out of range"));
                }
                let sign = if zone.starts_with('-') { -1 } else { 1 };
                sign * (hours * 60 + minutes)
            }
            _ => return Err(bad("it must end in Z or an offset such as +02:00")),
        };
        let days = days_from_civil(year, month, day);
        let local = days * DAY_MS + ((hour * 60 + minute) * 60 + second) * 1000 + millis;
        Ok(Timestamp {
            millis: local - offset_minutes * 60_000,
        })
    }

    /// Parses a `--since` value: an RFC 3339 time, or an age before `now`
    /// (a number and a unit: `s`, `m`, `h`, `d` or `w`).
    pub fn parse_since(text: &str, now: Timestamp) -> Result<Timestamp, String> {
        if let Some(age) = parse_age(text) {
            return age.map(|age| now.minus(age));
        }
        Timestamp::parse_rfc3339(text)
            .map_err(|why| format!("{why}; or give an age such as 90s, 10m, 2h, 1d"))
    }
}

/// `Some` if `text` looks like an age (digits then one letter): the age,
/// or why it is not one.
fn parse_age(text: &str) -> Option<Result<Duration, String>> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    if number.is_empty() || unit.len() != 1 {
        return None;
    }
    let seconds_per_unit: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => {
            return Some(Err(format!(
                "{text:?}: the unit of an age must be s, m, h, d or w"
            )));
        }
    };
    Some(
        number
            .parse::<u64>()
            .ok()
            .and_then(|value| value.checked_mul(seconds_per_unit))
            .map(Duration::from_secs)
            .ok_or_else(|| format!("{text:?} is too large an age")),
    )
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.millis.div_euclid(DAY_MS);
        let in_day = self.millis.rem_euclid(DAY_MS);
        let (year, month, day) = civil_from_days(days);
        let (seconds, millis) = (in_day / 1000, in_day % 1000);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_index = (month + 9) % 12; // March is 0
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date (year, month, day) `days` after
/// 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).expect("parses")
    }

    #[test]
    fn formats_known_instants() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"), // 2000 is a leap year
            (951_868_800_000, "2000-03-01T00:00:00.000Z"),
            (4_107_456_000_000, "2100-02-28T00:00:00.000Z"),
            (4_107_542_400_000, "2100-03-01T00:00:00.000Z"), // 2100 is not a leap year
            (1_709_164_800_000, "2024-02-29T00:00:00.000Z"),
            (1_796_118_067_123, "2026-12-01T09:41:07.123Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
        ];
        for (millis, text) in cases {
            assert_eq!(Timestamp::from_unix_millis(millis).to_string(), text);
            assert_eq!(at(text).unix_millis(), millis, "{text}");
        }
    }

    #[test]
    fn every_day_of_four_centuries_round_trips() {
        let start = days_from_civil(1900, 1, 1);
        let mut expected = (1900, 1, 1);
        for days in start..start + 146_097 {
            assert_eq!(civil_from_days(days), expected);
            assert_eq!(days_from_civil(expected.0, expected.1, expected.2), days);
            let (year, month, day) = expected;
            expected = if day < days_in_month(year, month) {
                (year, month, day + 1)
            } else if month < 12 {
                (year, month + 1, 1)
            } else {
                (year + 1, 1, 1)
            };
        }
    }

    #[test]
    fn parses_offsets_fractions_and_lower_case() {
        assert_eq!(
            at("2026-12-01T10:41:07.123+01:00"),
            at("2026-12-01T09:41:07.123Z")
        );
        assert_eq!(at("2026-12-01T04:11:07-05:30"), at("2026-12-01T09:41:07Z"));
        assert_eq!(
            at("2026-12-01t09:41:07.1234567z"),
            at("2026-12-01T09:41:07.123Z")
        );
        assert_eq!(at("2026-12-01 09:41:07.5Z").unix_millis() % 1000, 500);
    }

    #[test]
    fn refuses_malformed_times_saying_why() {
        for (text, why) in [
            ("2026-12-01", "too short"),
            ("2026-13-01T00:00:00Z", "month"),
            ("2025-02-29T00:00:00Z", "has no day 29"),
            ("2100-02-29T00:00:00Z", "has no day 29"),
            ("2026-12-01T24:00:00Z", "out of range"),
            ("2026-12-31T23:59:60Z", "leap seconds"),
            ("2026-12-01T09:00:00", "must end in Z"),
            ("2026-12-01T09:00:00+0100", "must end in Z"),
            ("2026-12-01T09:00:00.Z", "followed by digits"),
            ("2026-12-01T09:00:0xZ", "not a number"),
            ("2026-12-01T09:00:00+25:00", "offset is out of range"),
        ] {
            let error = Timestamp::parse_rfc3339(text).expect_err(text);
            assert!(error.contains(why), "{text}: {error}");
        }
        assert!(at("2024-02-29T00:00:00Z").unix_millis() > 0);
    }

    #[test]
    fn since_takes_a_time_or_an_age() {
        let now = at("2026-12-01T09:00:00Z");
        assert_eq!(
            Timestamp::parse_since("2026-11-30T00:00:00Z", now),
            Ok(at("2026-11-30T00:00:00Z"))
        );
        for (age, expected) in [
            ("90s", "2026-12-01T08:58:30Z"),
            ("10m", "2026-12-01T08:50:00Z"),
            ("2h", "2026-12-01T07:00:00Z"),
            ("1d", "2026-11-30T09:00:00Z"),
            ("1w", "2026-11-24T09:00:00Z"),
            ("0s", "2026-12-01T09:00:00Z"),
        ] {
            assert_eq!(Timestamp::parse_since(age, now), Ok(at(expected)), "{age}");
        }
        for (bad, why) in [
            ("10y", "unit of an age"),
            ("99999999999999999999d", "too large"),
            ("yesterday", "RFC 3339"),
            ("", "RFC 3339"),
        ] {
            let error = Timestamp::parse_since(bad, now).expect_err(bad);
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn serialises_as_text() {
        let time = at("2026-12-01T09:41:07.123Z");
        let json = serde_json::to_string(&time).expect("serialises");
        assert_eq!(json, "\"2026-12-01T09:41:07.123Z\"");
        assert_eq!(
            serde_json::from_str::<Timestamp>(&json).expect("parses"),
            time
        );
        assert!(serde_json::from_str::<Timestamp>("\"noon\"").is_err());
    }
}
