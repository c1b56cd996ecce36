//! Conversions between unix seconds and xsd:dateTime text (and the log's date format), with no clock access.
//!
//! TR-069 carries times as xsd:dateTime (Inform CurrentTime, TransferComplete
//! StartTime/CompleteTime, PeriodicInformTime). The "Unknown Time"
//! 0001-01-01T00:00:00Z (TR-106 3.2.1) stands for "no time known". The
//! daemon reads the clock and the local UTC offset and passes them in.

use std::fmt;

/// Unix seconds of the TR-106 Unknown Time, 0001-01-01T00:00:00Z.
pub const UNKNOWN_TIME: i64 = -62_135_596_800;

/// The Unknown Time as it goes on the wire.
pub const UNKNOWN_TIME_TEXT: &str = "0001-01-01T00:00:00Z";

/// Unix seconds of 9999-12-31T23:59:59Z, the last instant a four-digit year can show.
const LAST_FORMATTABLE: i64 = 253_402_300_799;

/// The largest UTC offset xsd:dateTime allows (14:00).
const MAX_OFFSET_SECS: i32 = 14 * 3600;

const SECS_PER_DAY: i64 = 86_400;

/// A parsed xsd:dateTime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    /// The instant in unix seconds (UTC), fraction dropped.
    pub unix_secs: i64,
    /// The fractional second, in nanoseconds (digits past the ninth are ignored).
    pub nanos: u32,
    /// The written offset from UTC in seconds (`Z` is `Some(0)`); `None` when
    /// the text had no zone, in which case `unix_secs` reads it as UTC.
    pub offset_secs: Option<i32>,
}

impl DateTime {
    /// Whether this is the TR-106 Unknown Time.
    pub fn is_unknown(&self) -> bool {
        self.unix_secs == UNKNOWN_TIME
    }
}

/// Why a text is not an xsd:dateTime this parser accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateTimeError {
    /// The text does not have the `YYYY-MM-DDThh:mm:ss` shape.
    Syntax,
    /// A field is out of its range (month 13, February 30, minute 60, ...).
    OutOfRange,
    /// The zone is not `Z` or `±hh:mm` within ±14:00.
    BadZone,
}

impl fmt::Display for DateTimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DateTimeError::Syntax => "not an xsd:dateTime (YYYY-MM-DDThh:mm:ss)",
            DateTimeError::OutOfRange => "xsd:dateTime field out of range",
            DateTimeError::BadZone => "xsd:dateTime zone is not Z or +hh:mm within 14:00",
        })
    }
}

impl std::error::Error for DateTimeError {}

/// Days since 1970-01-01 of a proleptic Gregorian date (era-based day count,
/// valid for every i64 year this module can produce).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let m = i64::from(month);
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Calendar fields of a unix time shifted by `offset_secs`, clamped to years 0001..=9999.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    minute: i64,
    second: i64,
}

fn civil(unix_secs: i64, offset_secs: i32) -> Civil {
    let local = unix_secs
        .saturating_add(i64::from(offset_secs))
        .clamp(UNKNOWN_TIME, LAST_FORMATTABLE);
    let (year, month, day) = civil_from_days(local.div_euclid(SECS_PER_DAY));
    let of_day = local.rem_euclid(SECS_PER_DAY);
    Civil {
        year,
        month,
        day,
        hour: of_day / 3600,
        minute: of_day / 60 % 60,
        second: of_day % 60,
    }
}

/// `YYYY-MM-DDThh:mm:ssZ` (xsd:dateTime in UTC). Times outside years
/// 0001..=9999 are clamped, so the Unknown Time and anything before it give
/// `0001-01-01T00:00:00Z`.
pub fn format_utc(unix_secs: i64) -> String {
    let c = civil(unix_secs, 0);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// `YYYY-MM-DDThh:mm:ss±hh:mm`: the local wall time at `offset_secs` east of
/// UTC, as icwmp writes CurrentLocalTime and its ubus status times
/// (e.g. `2019-12-24T10:21:18+01:00`). The Unknown Time stays
/// `0001-01-01T00:00:00Z` whatever the offset, since it names no instant.
/// Offsets are clamped to ±14:00 and truncated to whole minutes.
pub fn format_with_offset(unix_secs: i64, offset_secs: i32) -> String {
    if unix_secs <= UNKNOWN_TIME {
        return UNKNOWN_TIME_TEXT.to_owned();
    }
    let offset = offset_secs.clamp(-MAX_OFFSET_SECS, MAX_OFFSET_SECS) / 60 * 60;
    let c = civil(unix_secs, offset);
    let sign = if offset < 0 { '-' } else { '+' };
    let abs = offset.unsigned_abs();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}{:02}:{:02}",
        c.year,
        c.month,
        c.day,
        c.hour,
        c.minute,
        c.second,
        sign,
        abs / 3600,
        abs / 60 % 60
    )
}

/// The daemon log's date, `DD-MM-YYYY, hh:mm:ss` in local time (the seed's
/// `24-12-2019, 10:21:18`).
pub fn format_log(unix_secs: i64, offset_secs: i32) -> String {
    let c = civil(unix_secs, offset_secs);
    format!(
        "{:02}-{:02}-{:04}, {:02}:{:02}:{:02}",
        c.day, c.month, c.year, c.hour, c.minute, c.second
    )
}

/// Month abbreviations of the syslog timestamp.
const MONTH_ABBREVIATIONS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The syslog timestamp `Mmm dd hh:mm:ss` in local time (RFC 3164 4.1.2: the
/// day is padded with a space, `Dec  4 09:05:00`).
pub fn format_syslog(unix_secs: i64, offset_secs: i32) -> String {
    let c = civil(unix_secs, offset_secs);
    let month = MONTH_ABBREVIATIONS
        .get(c.month.saturating_sub(1) as usize)
        .copied()
        .unwrap_or("Jan");
    format!(
        "{month} {:>2} {:02}:{:02}:{:02}",
        c.day, c.hour, c.minute, c.second
    )
}

/// A cursor over the ASCII bytes of a dateTime text.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<(), DateTimeError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(DateTimeError::Syntax)
        }
    }

    /// Exactly `count` decimal digits.
    fn digits(&mut self, count: usize) -> Result<u32, DateTimeError> {
        let mut value = 0u32;
        for _ in 0..count {
            match self.peek() {
                Some(b @ b'0'..=b'9') => {
                    value = value * 10 + u32::from(b - b'0');
                    self.pos += 1;
                }
                _ => return Err(DateTimeError::Syntax),
            }
        }
        Ok(value)
    }
}

/// A configured time (`periodic_inform_time`, PeriodicInformTime, the
/// lightweight notification trigger time) as unix seconds: the integer icwmp
/// writes, or an xsd:dateTime. `None` when it is neither; 0 and the Unknown
/// Time stand for "not set" ([`configured_time`] says which).
pub fn parse_unix_or_datetime(text: &str) -> Option<i64> {
    let text = text.trim();
    match text.parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => parse(text).ok().map(|t| t.unix_secs),
    }
}

/// A configured time that is set: `None` for empty, 0, the Unknown Time, or
/// text that is no time at all.
pub fn configured_time(text: &str) -> Option<i64> {
    parse_unix_or_datetime(text).filter(|&secs| secs != 0 && secs != UNKNOWN_TIME)
}

/// Parses an xsd:dateTime: `YYYY-MM-DDThh:mm:ss[.f+][Z|±hh:mm]`, years
/// 0001..=9999 (the range CWMP uses), `24:00:00` as the end of the day
/// (xsd 1.0), fractions of any length. Surrounding whitespace is allowed
/// since xsd collapses it. A missing zone is read as UTC, per TR-069's rule
/// that CWMP times are UTC unless stated otherwise.
pub fn parse(text: &str) -> Result<DateTime, DateTimeError> {
    let mut c = Cursor {
        bytes: text.trim().as_bytes(),
        pos: 0,
    };
    let year = c.digits(4)?;
    c.expect(b'-')?;
    let month = c.digits(2)?;
    c.expect(b'-')?;
    let day = c.digits(2)?;
    c.expect(b'T')?;
    let hour = c.digits(2)?;
    c.expect(b':')?;
    let minute = c.digits(2)?;
    c.expect(b':')?;
    let second = c.digits(2)?;
    let mut nanos = 0u32;
    let mut any_fraction_digit = false;
    if c.peek() == Some(b'.') {
        c.pos += 1;
        let mut scale = 100_000_000u32;
        while let Some(b @ b'0'..=b'9') = c.peek() {
            nanos += u32::from(b - b'0') * scale;
            scale /= 10;
            any_fraction_digit = true;
            c.pos += 1;
        }
        if !any_fraction_digit {
            return Err(DateTimeError::Syntax);
        }
    }
    let offset_secs = match c.peek() {
        None => None,
        Some(b'Z') => {
            c.pos += 1;
            Some(0)
        }
        Some(sign @ (b'+' | b'-')) => {
            c.pos += 1;
            let hours = c.digits(2).map_err(|_| DateTimeError::BadZone)?;
            c.expect(b':').map_err(|_| DateTimeError::BadZone)?;
            let minutes = c.digits(2).map_err(|_| DateTimeError::BadZone)?;
            let secs = (hours * 3600 + minutes * 60) as i32;
            if minutes > 59 || secs > MAX_OFFSET_SECS {
                return Err(DateTimeError::BadZone);
            }
            Some(if sign == b'-' { -secs } else { secs })
        }
        Some(_) => return Err(DateTimeError::Syntax),
    };
    if c.pos != c.bytes.len() {
        return Err(DateTimeError::Syntax);
    }
    let year = i64::from(year);
    let end_of_day = hour == 24 && minute == 0 && second == 0 && nanos == 0;
    if year == 0
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || (hour > 23 && !end_of_day)
        || minute > 59
        || second > 59
    {
        return Err(DateTimeError::OutOfRange);
    }
    let local = days_from_civil(year, month, day) * SECS_PER_DAY
        + i64::from(hour) * 3600
        + i64::from(minute) * 60
        + i64::from(second);
    Ok(DateTime {
        unix_secs: local - i64::from(offset_secs.unwrap_or(0)),
        nanos,
        offset_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_times_take_both_forms() {
        assert_eq!(parse_unix_or_datetime("1704067200"), Some(1_704_067_200));
        assert_eq!(
            parse_unix_or_datetime(" 2024-01-01T00:00:00Z "),
            Some(1_704_067_200)
        );
        assert_eq!(parse_unix_or_datetime("soon"), None);
        assert_eq!(configured_time("2024-01-01T00:00:00Z"), Some(1_704_067_200));
        for unset in ["", "0", "0001-01-01T00:00:00Z", "soon"] {
            assert_eq!(configured_time(unset), None, "{unset}");
        }
    }

    #[test]
    fn formats_utc_known_instants() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(1_577_179_278), "2019-12-24T09:21:18Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(-1), "1969-12-31T23:59:59Z");
        assert_eq!(format_utc(LAST_FORMATTABLE), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn unknown_time_round_trips_and_clamps() {
        assert_eq!(format_utc(UNKNOWN_TIME), UNKNOWN_TIME_TEXT);
        assert_eq!(format_utc(i64::MIN), UNKNOWN_TIME_TEXT);
        assert_eq!(format_utc(i64::MAX), "9999-12-31T23:59:59Z");
        let parsed = parse(UNKNOWN_TIME_TEXT).expect("unknown time parses");
        assert_eq!(parsed.unix_secs, UNKNOWN_TIME);
        assert!(parsed.is_unknown());
        assert_eq!(format_with_offset(UNKNOWN_TIME, 3600), UNKNOWN_TIME_TEXT);
    }

    #[test]
    fn formats_local_offset_like_the_seed() {
        assert_eq!(
            format_with_offset(1_577_179_278, 3600),
            "2019-12-24T10:21:18+01:00"
        );
        assert_eq!(
            format_with_offset(1_577_179_278, -(5 * 3600 + 30 * 60)),
            "2019-12-24T03:51:18-05:30"
        );
        assert_eq!(format_with_offset(0, 0), "1970-01-01T00:00:00+00:00");
        // Sub-minute parts of an offset cannot be written; they are dropped.
        assert_eq!(
            format_with_offset(0, 3600 + 59),
            "1970-01-01T01:00:00+01:00"
        );
        assert_eq!(
            format_with_offset(0, 20 * 3600),
            "1970-01-01T14:00:00+14:00"
        );
    }

    #[test]
    fn formats_the_syslog_date() {
        // 2019-12-04T09:05:07Z, shown one hour east.
        assert_eq!(format_syslog(1_575_450_307, 3600), "Dec  4 10:05:07");
        assert_eq!(format_syslog(1_577_179_278, 3600), "Dec 24 10:21:18");
        assert_eq!(format_syslog(0, 0), "Jan  1 00:00:00");
    }

    #[test]
    fn formats_the_log_date() {
        assert_eq!(format_log(1_577_179_278, 3600), "24-12-2019, 10:21:18");
        assert_eq!(format_log(0, 0), "01-01-1970, 00:00:00");
    }

    #[test]
    fn parses_zones_and_fractions() {
        let utc = parse("2019-12-24T09:21:18Z").expect("utc");
        assert_eq!(utc.unix_secs, 1_577_179_278);
        assert_eq!(utc.offset_secs, Some(0));
        let local = parse("2019-12-24T10:21:18+01:00").expect("offset");
        assert_eq!(local.unix_secs, 1_577_179_278);
        assert_eq!(local.offset_secs, Some(3600));
        let west = parse("2019-12-24T03:51:18-05:30").expect("west");
        assert_eq!(west.unix_secs, 1_577_179_278);
        let frac = parse("2019-12-24T09:21:18.123456789123Z").expect("fraction");
        assert_eq!(frac.unix_secs, 1_577_179_278);
        assert_eq!(frac.nanos, 123_456_789);
        let short = parse(" 2019-12-24T09:21:18.5 ").expect("no zone, whitespace");
        assert_eq!(short.nanos, 500_000_000);
        assert_eq!(short.offset_secs, None);
        assert_eq!(short.unix_secs, 1_577_179_278);
    }

    #[test]
    fn parses_end_of_day_and_leap_days() {
        assert_eq!(
            parse("1999-12-31T24:00:00Z").expect("24:00").unix_secs,
            parse("2000-01-01T00:00:00Z").expect("midnight").unix_secs
        );
        assert!(parse("2000-02-29T00:00:00Z").is_ok());
        assert!(parse("2024-02-29T12:00:00Z").is_ok());
        assert_eq!(
            parse("1900-02-29T00:00:00Z"),
            Err(DateTimeError::OutOfRange)
        );
        assert_eq!(
            parse("2023-02-29T00:00:00Z"),
            Err(DateTimeError::OutOfRange)
        );
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "2019-12-24",
            "2019-12-24 09:21:18Z",
            "19-12-24T09:21:18Z",
            "2019-12-24T09:21Z",
            "2019-12-24T09:21:18.Z",
            "2019-12-24T09:21:18Zjunk",
            "2019-12-24T09:21:18x",
            "2019-1a-24T09:21:18Z",
            "２019-12-24T09:21:18Z",
        ] {
            assert_eq!(parse(bad), Err(DateTimeError::Syntax), "{bad:?}");
        }
        for bad in [
            "0000-01-01T00:00:00Z",
            "2019-13-01T00:00:00Z",
            "2019-00-01T00:00:00Z",
            "2019-04-31T00:00:00Z",
            "2019-12-24T24:00:01Z",
            "2019-12-24T25:00:00Z",
            "2019-12-24T09:60:00Z",
            "2019-12-24T09:21:60Z",
        ] {
            assert_eq!(parse(bad), Err(DateTimeError::OutOfRange), "{bad:?}");
        }
        for bad in [
            "2019-12-24T09:21:18+1:00",
            "2019-12-24T09:21:18+15:00",
            "2019-12-24T09:21:18+01:60",
            "2019-12-24T09:21:18+0100",
        ] {
            assert_eq!(parse(bad), Err(DateTimeError::BadZone), "{bad:?}");
        }
    }

    #[test]
    fn mutated_text_never_panics() {
        let original = b"2019-12-24T10:21:18.250+01:00";
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut bytes = original.to_vec();
            let at = (next() % bytes.len() as u64) as usize;
            bytes[at] = b"0123456789+-:.TZ\xc3 "[(next() % 18) as usize];
            if next() % 2 == 0 {
                bytes.truncate((next() % bytes.len() as u64) as usize);
            }
            let text = String::from_utf8_lossy(&bytes);
            // Offsets can move a parsed time just outside the formattable years.
            let parsed = parse(&text)
                .ok()
                .filter(|p| (UNKNOWN_TIME..=LAST_FORMATTABLE).contains(&p.unix_secs));
            if let Some(parsed) = parsed {
                let again = parse(&format_utc(parsed.unix_secs)).expect("own output parses");
                assert_eq!(again.unix_secs, parsed.unix_secs, "{text}");
            }
        }
    }

    #[test]
    fn civil_conversion_round_trips_over_the_whole_range() {
        let mut secs = UNKNOWN_TIME;
        while secs <= LAST_FORMATTABLE {
            let text = format_utc(secs);
            assert_eq!(parse(&text).expect("own output parses").unix_secs, secs);
            secs += 29 * SECS_PER_DAY + 3_599;
        }
    }
}
