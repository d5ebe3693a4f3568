//! Schedule expressions (`rate(...)`, `cron(...)`) and UTC calendar arithmetic.
//!
//! The forms are EventBridge's (`eventbridge/latest/userguide/eb-scheduled-rule-pattern.html`):
//!
//! - `rate(value unit)`: a positive whole number and `minute`/`minutes`, `hour`/`hours`,
//!   `day`/`days`, singular exactly when the value is 1;
//! - `cron(minutes hours day-of-month month day-of-week year)`, in UTC. Each field takes
//!   `*`, a value, `a-b`, lists `a,b`, increments `a/n` / `*/n` / `a-b/n`; months `1-12` or
//!   `JAN-DEC`, days of the week `1-7` = `SUN-SAT` (AWS's numbering, not cron's `0-6`),
//!   years 1970-2199. One of day-of-month and day-of-week must be `?` (any). Day-of-month
//!   also takes `L` (last day), `nW` (the weekday nearest day n) and `LW` (the last weekday);
//!   day-of-week `dL` (the last such day of the month) and `d#n` (the n-th such day).
//!
//! [`Expression::next_after`] gives the next firing time of a cron expression; a rate fires
//! every period from when the edge first saw the rule (AWS starts counting at creation).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A parsed `ScheduleExpression`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expression {
    /// `rate(N unit)`: every this many minutes.
    Rate {
        /// The period in minutes.
        minutes: u64,
    },
    /// `cron(...)`.
    Cron(Box<Cron>),
}

/// The message AWS answers for a schedule it cannot read.
pub const INVALID: &str = "Parameter ScheduleExpression is not valid.";

impl Expression {
    /// Parses a rule's `ScheduleExpression`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Expression, String> {
        let text = text.trim();
        if let Some(body) = text.strip_prefix("rate(").and_then(|t| t.strip_suffix(')')) {
            let mut parts = body.split_whitespace();
            let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(format!("{INVALID} Expected rate(value unit), got {text}"));
            };
            let value: u64 =
                value.parse().ok().filter(|v| *v > 0).ok_or_else(|| {
                    format!("{INVALID} The rate value must be a positive integer")
                })?;
            let (per, singular) = match unit {
                "minute" => (1, true),
                "minutes" => (1, false),
                "hour" => (60, true),
                "hours" => (60, false),
                "day" => (1440, true),
                "days" => (1440, false),
                _ => return Err(format!("{INVALID} Unknown rate unit '{unit}'")),
            };
            if singular != (value == 1) {
                return Err(format!(
                    "{INVALID} The unit must be singular for a value of 1 and plural otherwise"
                ));
            }
            let minutes = value
                .checked_mul(per)
                .ok_or_else(|| format!("{INVALID} The rate is too long"))?;
            return Ok(Expression::Rate { minutes });
        }
        if let Some(body) = text.strip_prefix("cron(").and_then(|t| t.strip_suffix(')')) {
            return Cron::parse(body)
                .map(|c| Expression::Cron(Box::new(c)))
                .map_err(|why| format!("{INVALID} {why}"));
        }
        Err(INVALID.to_string())
    }

    /// The period of a rate expression, with one minute lasting `minute`.
    pub fn period(&self, minute: Duration) -> Option<Duration> {
        match self {
            Expression::Rate { minutes } => {
                Some(minute.saturating_mul(u32::try_from(*minutes).unwrap_or(u32::MAX)))
            }
            Expression::Cron(_) => None,
        }
    }

    /// For a cron expression: the first firing time (seconds since the epoch, UTC) strictly
    /// after `after`, if there is one in its years.
    pub fn next_after(&self, after: i64) -> Option<i64> {
        match self {
            Expression::Cron(c) => c.next_after(after),
            Expression::Rate { .. } => None,
        }
    }
}

/// A parsed AWS cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    dom: DayOfMonth,
    months: Vec<bool>,
    dow: DayOfWeek,
    /// Index 0 = 1970.
    years: Vec<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DayOfMonth {
    Any,
    Days(Vec<bool>),
    Last,
    LastWeekday,
    NearestWeekday(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DayOfWeek {
    Any,
    /// Index 1..=7 = SUN..SAT.
    Days(Vec<bool>),
    /// The last such day (1..=7) of the month.
    Last(u32),
    /// The n-th such day of the month.
    Nth(u32, u32),
}

const FIRST_YEAR: i64 = 1970;
const LAST_YEAR: i64 = 2199;
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Cron {
    /// Parses the six fields inside `cron(...)`.
    pub fn parse(text: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [min, hour, dom, month, dow, year] = fields[..] else {
            return Err(format!(
                "A cron expression has 6 fields (minutes hours day-of-month month day-of-week year), got {}",
                fields.len()
            ));
        };
        let minutes = set(min, 0, 59, &[], "minutes")?;
        let hours = set(hour, 0, 23, &[], "hours")?;
        let months = set(month, 1, 12, &MONTHS, "month")?;
        let years_abs = set(year, FIRST_YEAR as u32, LAST_YEAR as u32, &[], "year")?;
        let years = years_abs[FIRST_YEAR as usize..].to_vec();
        let dom = match dom {
            "?" => DayOfMonth::Any,
            "L" => DayOfMonth::Last,
            "LW" => DayOfMonth::LastWeekday,
            d if d.ends_with('W') => {
                let n: u32 = d[..d.len() - 1]
                    .parse()
                    .ok()
                    .filter(|n| (1..=31).contains(n))
                    .ok_or_else(|| format!("Invalid day-of-month '{d}'"))?;
                DayOfMonth::NearestWeekday(n)
            }
            d => DayOfMonth::Days(set(d, 1, 31, &[], "day-of-month")?),
        };
        let dow = match dow {
            "?" => DayOfWeek::Any,
            d if d.ends_with('L') && d.len() > 1 => {
                DayOfWeek::Last(single(&d[..d.len() - 1], 1, 7, &DAYS, "day-of-week")?)
            }
            d if d.contains('#') => {
                let (day, n) = d.split_once('#').unwrap_or((d, ""));
                let day = single(day, 1, 7, &DAYS, "day-of-week")?;
                let n: u32 = n
                    .parse()
                    .ok()
                    .filter(|n| (1..=5).contains(n))
                    .ok_or_else(|| format!("Invalid day-of-week '{d}'"))?;
                DayOfWeek::Nth(day, n)
            }
            d => DayOfWeek::Days(set(d, 1, 7, &DAYS, "day-of-week")?),
        };
        match (&dom, &dow) {
            (DayOfMonth::Any, DayOfWeek::Any) => {
                return Err("Only one of day-of-month and day-of-week may be '?'".into())
            }
            (DayOfMonth::Any, _) | (_, DayOfWeek::Any) => {}
            _ => {
                return Err("One of day-of-month and day-of-week must be '?'".into());
            }
        }
        Ok(Cron {
            minutes,
            hours,
            dom,
            months,
            dow,
            years,
        })
    }

    /// The first firing time strictly after `after` (seconds since the epoch, UTC).
    pub fn next_after(&self, after: i64) -> Option<i64> {
        // The next whole minute after `after`.
        let start = after.div_euclid(60) * 60 + 60;
        let mut day = start.div_euclid(86_400);
        let mut first_minute = start.rem_euclid(86_400) / 60;
        let last_day = days_from_civil(LAST_YEAR, 12, 31);
        while day <= last_day {
            let (y, m, d) = civil_from_days(day);
            let year_ok = y >= FIRST_YEAR && self.years[(y - FIRST_YEAR) as usize];
            if !year_ok {
                // Skip to the first day of next year.
                day = days_from_civil(y + 1, 1, 1);
                first_minute = 0;
                continue;
            }
            if !self.months[m as usize] {
                day = if m == 12 {
                    days_from_civil(y + 1, 1, 1)
                } else {
                    days_from_civil(y, m + 1, 1)
                };
                first_minute = 0;
                continue;
            }
            if self.day_matches(day, y, m, d) {
                for minute_of_day in first_minute..1440 {
                    let (h, mi) = (minute_of_day / 60, minute_of_day % 60);
                    if self.hours[h as usize] && self.minutes[mi as usize] {
                        return Some(day * 86_400 + minute_of_day * 60);
                    }
                }
            }
            day += 1;
            first_minute = 0;
        }
        None
    }

    fn day_matches(&self, day: i64, y: i64, m: u32, d: u32) -> bool {
        let len = month_length(y, m);
        let weekday = |dd: u32| weekday(day + i64::from(dd) - i64::from(d));
        match &self.dom {
            DayOfMonth::Any => {}
            DayOfMonth::Days(set) => return set[d as usize],
            DayOfMonth::Last => return d == len,
            DayOfMonth::LastWeekday => {
                let mut last = len;
                while !(2..=6).contains(&weekday(last)) {
                    last -= 1;
                }
                return d == last;
            }
            DayOfMonth::NearestWeekday(n) => {
                let n = (*n).min(len);
                let target = match weekday(n) {
                    // Saturday: the Friday before, unless that is in the previous month.
                    7 if n == 1 => n + 2,
                    7 => n - 1,
                    // Sunday: the Monday after, unless that is in the next month.
                    1 if n == len => n - 2,
                    1 => n + 1,
                    _ => n,
                };
                return d == target;
            }
        }
        let wd = weekday(d);
        match &self.dow {
            DayOfWeek::Any => false,
            DayOfWeek::Days(set) => set[wd as usize],
            DayOfWeek::Last(want) => wd == *want && d + 7 > len,
            DayOfWeek::Nth(want, n) => wd == *want && (d - 1) / 7 + 1 == *n,
        }
    }
}

/// One value of a field: a number or a name.
fn single(text: &str, lo: u32, hi: u32, names: &[&str], field: &str) -> Result<u32, String> {
    let upper = text.to_ascii_uppercase();
    if let Some(i) = names.iter().position(|n| *n == upper) {
        return Ok(lo + i as u32);
    }
    text.parse::<u32>()
        .ok()
        .filter(|v| (lo..=hi).contains(v))
        .ok_or_else(|| format!("Invalid {field} value '{text}' (expected {lo}-{hi})"))
}

/// A field's values as flags indexed by value (`0..=hi`).
fn set(text: &str, lo: u32, hi: u32, names: &[&str], field: &str) -> Result<Vec<bool>, String> {
    let mut out = vec![false; hi as usize + 1];
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("Invalid {field} increment '{part}'"))?;
                (r, step)
            }
            None => (part, 1),
        };
        let (from, to) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                single(a, lo, hi, names, field)?,
                single(b, lo, hi, names, field)?,
            )
        } else {
            let v = single(range, lo, hi, names, field)?;
            // `a/n` runs from a to the end of the field.
            (v, if part.contains('/') { hi } else { v })
        };
        if from > to {
            return Err(format!("Invalid {field} range '{part}'"));
        }
        let mut v = from;
        while v <= to {
            out[v as usize] = true;
            v += step;
        }
    }
    Ok(out)
}

/// The AWS day of the week (1 = Sunday ... 7 = Saturday) of a day since the epoch.
fn weekday(day: i64) -> u32 {
    // 1970-01-01 was a Thursday.
    (day + 4).rem_euclid(7) as u32 + 1
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn month_length(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a date (proleptic Gregorian; Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Seconds since the epoch of `t` (negative before it).
pub fn epoch_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// `t` as RFC 3339 in UTC, to the second, as EventBridge writes an event's `time`:
/// `2024-05-01T12:00:00Z`.
pub fn rfc3339(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// Parses an RFC 3339 timestamp (`2024-05-01T12:00:00Z`, `...+02:00`, fractions ignored) to
/// seconds since the epoch.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > i64::from(month_length(y, mo as u32)) {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    Some(days_from_civil(y, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60 + s - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        parse_rfc3339(text).unwrap()
    }

    fn next(expr: &str, after: &str) -> String {
        let e = Expression::parse(expr).unwrap();
        rfc3339(e.next_after(at(after)).unwrap())
    }

    #[test]
    fn calendar_round_trips() {
        for day in [-1000, 0, 1, 59, 365, 11_016, 20_000, 100_000] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(at("2024-02-29T23:59:59Z"), 1_709_251_199);
        assert_eq!(at("2024-03-01T01:00:00.123+01:00"), 1_709_251_200);
        assert_eq!(weekday(0), 5, "1970-01-01 was a Thursday");
        assert_eq!(parse_rfc3339("2024-02-30T00:00:00Z"), None);
    }

    #[test]
    fn rates() {
        assert_eq!(
            Expression::parse("rate(1 minute)"),
            Ok(Expression::Rate { minutes: 1 })
        );
        assert_eq!(
            Expression::parse("rate(5 minutes)"),
            Ok(Expression::Rate { minutes: 5 })
        );
        assert_eq!(
            Expression::parse("rate(2 hours)"),
            Ok(Expression::Rate { minutes: 120 })
        );
        assert_eq!(
            Expression::parse("rate(1 day)"),
            Ok(Expression::Rate { minutes: 1440 })
        );
        for bad in [
            "rate(1 minutes)",
            "rate(2 minute)",
            "rate(0 minutes)",
            "rate(-1 minutes)",
            "rate(5 seconds)",
            "rate(5)",
            "every 5 minutes",
        ] {
            let e = Expression::parse(bad).unwrap_err();
            assert!(e.starts_with(INVALID), "{bad}: {e}");
        }
        let e = Expression::parse("rate(2 minutes)").unwrap();
        assert_eq!(
            e.period(Duration::from_secs(1)),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn cron_next_times() {
        // Every day at 12:00 UTC.
        assert_eq!(
            next("cron(0 12 * * ? *)", "2024-05-01T11:00:00Z"),
            "2024-05-01T12:00:00Z"
        );
        assert_eq!(
            next("cron(0 12 * * ? *)", "2024-05-01T12:00:00Z"),
            "2024-05-02T12:00:00Z"
        );
        // Every 15 minutes.
        assert_eq!(
            next("cron(0/15 * * * ? *)", "2024-05-01T11:50:10Z"),
            "2024-05-01T12:00:00Z"
        );
        // 18:00 Monday to Friday (2024-05-04 is a Saturday).
        assert_eq!(
            next("cron(0 18 ? * MON-FRI *)", "2024-05-03T18:00:00Z"),
            "2024-05-06T18:00:00Z"
        );
        // AWS numbering: 2 = Monday.
        assert_eq!(
            next("cron(0 18 ? * 2 *)", "2024-05-03T18:00:00Z"),
            "2024-05-06T18:00:00Z"
        );
        // 8:00 on the first day of every month.
        assert_eq!(
            next("cron(0 8 1 * ? *)", "2024-05-01T09:00:00Z"),
            "2024-06-01T08:00:00Z"
        );
        // The last day of the month; February of a leap year.
        assert_eq!(
            next("cron(0 0 L * ? *)", "2024-02-01T00:00:00Z"),
            "2024-02-29T00:00:00Z"
        );
        // The last weekday: 2024-08-31 is a Saturday.
        assert_eq!(
            next("cron(0 0 LW * ? *)", "2024-08-01T00:00:00Z"),
            "2024-08-30T00:00:00Z"
        );
        // Nearest weekday to the 15th: 2024-06-15 is a Saturday -> Friday 14th.
        assert_eq!(
            next("cron(0 0 15W * ? *)", "2024-06-01T00:00:00Z"),
            "2024-06-14T00:00:00Z"
        );
        // The third Friday (6#3) and the last Friday (6L) of the month.
        assert_eq!(
            next("cron(0 10 ? * 6#3 *)", "2024-05-01T00:00:00Z"),
            "2024-05-17T10:00:00Z"
        );
        assert_eq!(
            next("cron(0 10 ? * 6L *)", "2024-05-01T00:00:00Z"),
            "2024-05-31T10:00:00Z"
        );
        // Years and month names.
        assert_eq!(
            next("cron(30 6 1 JAN ? 2030)", "2024-05-01T00:00:00Z"),
            "2030-01-01T06:30:00Z"
        );
        assert_eq!(
            Expression::parse("cron(0 0 1 1 ? 2020)")
                .unwrap()
                .next_after(at("2024-01-01T00:00:00Z")),
            None
        );
    }

    #[test]
    fn cron_errors() {
        for bad in [
            "cron(0 12 * * *)",
            "cron(0 12 * * * *)",
            "cron(0 12 ? * ? *)",
            "cron(60 12 * * ? *)",
            "cron(0 24 * * ? *)",
            "cron(0 12 32 * ? *)",
            "cron(0 12 ? * 8 *)",
            "cron(0 12 ? * 0 *)",
            "cron(0 12 ? * 6#6 *)",
            "cron(0/0 12 * * ? *)",
            "cron(5-1 12 * * ? *)",
            "cron(0 12 * FOO ? *)",
        ] {
            let e = Expression::parse(bad).unwrap_err();
            assert!(e.starts_with(INVALID), "{bad}: {e}");
        }
    }
}
