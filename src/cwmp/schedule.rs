//! When the next session is due: periodic and scheduled Informs, the retry timer, and "at most one per interval" gates.
//!
//! Times are unix seconds passed in by the caller (wall clock, since
//! PeriodicInformTime and scheduled Informs are absolute times); nothing here
//! reads a clock.

use crate::cwmp::datetime::UNKNOWN_TIME;
use crate::cwmp::events::MAX_COMMAND_KEY_CHARS;
use crate::cwmp::fault::FaultCode;
use crate::records::{parse_lines, push_line, RecordError};

/// The most ScheduleInform requests kept at once; more are refused with
/// 9004 Resources exceeded rather than grown without bound.
pub const MAX_SCHEDULED_INFORMS: usize = 64;

/// Default minimum spacing of accepted Connection Requests. TR-069 3.2.2 asks
/// the CPE to limit how many it accepts in a period (refusing with HTTP 503);
/// it names no figure. One per 5 s never hinders an ACS, which sends one
/// request and waits for the session, yet caps how often a flood makes the
/// CPE open a session.
pub const DEFAULT_CONNECTION_REQUEST_INTERVAL_SECS: u32 = 5;

/// The periodic Inform parameters (ManagementServer.PeriodicInform*).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeriodicInform {
    /// `PeriodicInformEnable`.
    pub enable: bool,
    /// `PeriodicInformInterval`, seconds; 0 disables as well.
    pub interval_secs: u32,
    /// `PeriodicInformTime` in unix seconds; `None` for the Unknown Time.
    pub reference: Option<i64>,
}

impl PeriodicInform {
    /// Reads a configured PeriodicInformTime: both the Unknown Time
    /// (0001-01-01T00:00:00Z) and 0 (icwmp's UCI "unset") mean "no reference".
    pub fn reference_from_unix(secs: i64) -> Option<i64> {
        (secs != 0 && secs != UNKNOWN_TIME).then_some(secs)
    }

    /// The first periodic Inform strictly after `now`, or `None` when
    /// periodic Informs are off. With a reference, Informs fall on
    /// `reference + k·interval` for any integer k, so the reference may lie in
    /// the past or the future (TR-181 PeriodicInformTime). Without one the CPE
    /// picks the phase: one interval from `now`.
    pub fn next_after(&self, now: i64) -> Option<i64> {
        if !self.enable || self.interval_secs == 0 {
            return None;
        }
        let interval = i128::from(self.interval_secs);
        let next = match self.reference {
            None => i128::from(now) + interval,
            Some(reference) => {
                let reference = i128::from(reference);
                let elapsed = i128::from(now) - reference;
                reference + (elapsed.div_euclid(interval) + 1) * interval
            }
        };
        Some(i64::try_from(next).unwrap_or(i64::MAX))
    }
}

/// When pending passive lightweight notifications go out next (TR-069
/// Annex M; TR-181 ManagementServer.LightweightNotificationTrigger*): the
/// first `trigger_time + k·interval` strictly after `now`, the time setting
/// only the phase; 0 or the Unknown Time lets the CPE pick it (one interval
/// from `now`). `None` when the interval is 0 (they then wait for an active one).
pub fn lightweight_trigger_after(interval_secs: u32, trigger_time: i64, now: i64) -> Option<i64> {
    PeriodicInform {
        enable: true,
        interval_secs,
        reference: PeriodicInform::reference_from_unix(trigger_time),
    }
    .next_after(now)
}

/// The due time of a ScheduleInform (TR-069 A.4.1.4): `DelaySeconds` from
/// now. DelaySeconds is unsignedInt[1:], so 0 is a 9003 Invalid arguments fault.
pub fn scheduled_inform_due(now: i64, delay_secs: u32) -> Result<i64, FaultCode> {
    if delay_secs == 0 {
        return Err(FaultCode::InvalidArguments);
    }
    Ok(now.saturating_add(i64::from(delay_secs)))
}

/// The header of the persisted ScheduleInform list.
const SCHEDULED_INFORMS_HEADER: &str = "icwmp-scheduled-informs 1";

/// The pending ScheduleInforms as versioned text: a header line, then
/// `due unix seconds<TAB>CommandKey` per line, so an acknowledged
/// ScheduleInform survives a restart or a crash.
pub fn scheduled_informs_to_bytes<'a>(informs: impl Iterator<Item = (i64, &'a str)>) -> Vec<u8> {
    let mut text = String::from(SCHEDULED_INFORMS_HEADER);
    text.push('\n');
    for (due, key) in informs {
        push_line(&mut text, &[&due.to_string(), key]);
    }
    text.into_bytes()
}

/// Reads [`scheduled_informs_to_bytes`] back; a line that the ACS could
/// not have caused (bad time, over-long key, too many entries) makes the
/// whole file unreadable.
pub fn scheduled_informs_from_bytes(bytes: &[u8]) -> Result<Vec<(i64, String)>, RecordError> {
    let mut informs = Vec::new();
    for (line, fields) in parse_lines(bytes, SCHEDULED_INFORMS_HEADER)? {
        let bad = |reason| RecordError::BadLine { line, reason };
        let [due, key] = <[String; 2]>::try_from(fields).map_err(|_| bad("expected two fields"))?;
        let due = due.parse::<i64>().map_err(|_| bad("bad due time"))?;
        if key.chars().count() > MAX_COMMAND_KEY_CHARS {
            return Err(bad("command key longer than 32 characters"));
        }
        if informs.len() >= MAX_SCHEDULED_INFORMS {
            return Err(bad("more scheduled informs than are kept"));
        }
        informs.push((due, key));
    }
    Ok(informs)
}

/// Why a session is due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The periodic Inform time came (queue `2 PERIODIC`).
    Periodic,
    /// A ScheduleInform came due (queue `3 SCHEDULED` and `M ScheduleInform`).
    ScheduledInform { command_key: String },
    /// The back-off after a failed session ended.
    Retry,
    /// A value change held back by the active notification throttle may go now.
    Notification,
}

/// The pending timed triggers of the session engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    periodic: PeriodicInform,
    periodic_at: Option<i64>,
    /// (due time, CommandKey), ordered by due time, then arrival.
    scheduled_informs: Vec<(i64, String)>,
    retry_at: Option<i64>,
    notification_at: Option<i64>,
}

impl Schedule {
    /// A schedule with only the periodic Inform armed.
    pub fn new(periodic: PeriodicInform, now: i64) -> Schedule {
        Schedule {
            periodic,
            periodic_at: periodic.next_after(now),
            scheduled_informs: Vec::new(),
            retry_at: None,
            notification_at: None,
        }
    }

    /// New periodic parameters; the phase restarts from them (a changed
    /// PeriodicInformTime or Interval resets the intervals).
    pub fn set_periodic(&mut self, periodic: PeriodicInform, now: i64) {
        self.periodic = periodic;
        self.periodic_at = periodic.next_after(now);
    }

    /// The next periodic Inform, if enabled (for status reports).
    pub fn next_periodic(&self) -> Option<i64> {
        self.periodic_at
    }

    /// Adds a ScheduleInform due at `due` ([`scheduled_inform_due`]); several
    /// may be pending, each reported with its own CommandKey.
    pub fn add_scheduled_inform(&mut self, due: i64, command_key: &str) -> Result<(), FaultCode> {
        if self.scheduled_informs.len() >= MAX_SCHEDULED_INFORMS {
            return Err(FaultCode::ResourcesExceeded);
        }
        let at = self
            .scheduled_informs
            .iter()
            .position(|(time, _)| *time > due)
            .unwrap_or(self.scheduled_informs.len());
        self.scheduled_informs
            .insert(at, (due, command_key.to_owned()));
        Ok(())
    }

    /// The pending ScheduleInforms (due time, CommandKey), for persistence.
    pub fn scheduled_informs(&self) -> impl Iterator<Item = (i64, &str)> {
        self.scheduled_informs
            .iter()
            .map(|(time, key)| (*time, key.as_str()))
    }

    /// Drops every pending ScheduleInform: requests of a previous ACS die
    /// with the BOOTSTRAP to a new one.
    pub fn cancel_scheduled_informs(&mut self) {
        self.scheduled_informs.clear();
    }

    /// Arms (or with `None` disarms) the retry timer.
    pub fn set_retry(&mut self, at: Option<i64>) {
        self.retry_at = at;
    }

    /// When the pending retry is due, if one is.
    pub fn retry_pending(&self) -> Option<i64> {
        self.retry_at
    }

    /// Arms (or with `None` disarms) the timer of a throttled value change.
    pub fn set_notification(&mut self, at: Option<i64>) {
        self.notification_at = at;
    }

    /// The earliest pending trigger time; `None` when nothing is pending.
    pub fn poll_at(&self) -> Option<i64> {
        [
            self.periodic_at,
            self.scheduled_informs.first().map(|(time, _)| *time),
            self.retry_at,
            self.notification_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Removes and returns the triggers due at `now`, and re-arms the
    /// periodic Inform. Missed periods (the device slept, the loop was late)
    /// give one Periodic, not one per period. If the clock was set back so
    /// far that the pending periodic time lies more than an interval ahead,
    /// that time is re-derived from `now`, so a clock step cannot silence
    /// periodic Informs.
    pub fn due(&mut self, now: i64) -> Vec<Trigger> {
        let mut due = Vec::new();
        if let Some(at) = self.periodic_at {
            if at <= now {
                due.push(Trigger::Periodic);
                self.periodic_at = self.periodic.next_after(now);
            } else if at - now > i64::from(self.periodic.interval_secs) {
                self.periodic_at = self.periodic.next_after(now);
            }
        }
        let ready = self
            .scheduled_informs
            .iter()
            .take_while(|(time, _)| *time <= now)
            .count();
        due.extend(
            self.scheduled_informs
                .drain(..ready)
                .map(|(_, command_key)| Trigger::ScheduledInform { command_key }),
        );
        if self.retry_at.is_some_and(|at| at <= now) {
            self.retry_at = None;
            due.push(Trigger::Retry);
        }
        if self.notification_at.is_some_and(|at| at <= now) {
            self.notification_at = None;
            due.push(Trigger::Notification);
        }
        due
    }
}

/// "At most one per interval": the active notification throttle
/// (ManagementServer.DefaultActiveNotificationThrottle: at most one
/// value-change session per N seconds) and the Connection Request limit of
/// TR-069 3.2.2. Any seconds clock works; a monotonic one suits best. A clock
/// that went backwards opens the gate rather than closing it for the size of
/// the step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateGate {
    interval_secs: u32,
    last_pass: Option<i64>,
}

impl RateGate {
    /// A gate letting one pass per `interval_secs`; 0 never closes.
    pub fn new(interval_secs: u32) -> RateGate {
        RateGate {
            interval_secs,
            last_pass: None,
        }
    }

    /// Changes the interval, keeping the time of the last pass.
    pub fn set_interval(&mut self, interval_secs: u32) {
        self.interval_secs = interval_secs;
    }

    /// The earliest time a pass is allowed (at or before `now` when open).
    pub fn next_open(&self, now: i64) -> i64 {
        match self.last_pass {
            Some(last) if last <= now => last.saturating_add(i64::from(self.interval_secs)),
            _ => now,
        }
    }

    /// Whether a pass is allowed at `now`.
    pub fn is_open(&self, now: i64) -> bool {
        self.next_open(now) <= now
    }

    /// Lets one pass at `now` if the gate is open, and then closes it for an interval.
    pub fn try_pass(&mut self, now: i64) -> bool {
        let open = self.is_open(now);
        if open {
            self.last_pass = Some(now);
        }
        open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u32 = 3600;

    fn periodic(interval_secs: u32, reference: Option<i64>) -> PeriodicInform {
        PeriodicInform {
            enable: true,
            interval_secs,
            reference,
        }
    }

    #[test]
    fn periodic_without_reference_is_one_interval_away() {
        assert_eq!(periodic(HOUR, None).next_after(1000), Some(1000 + 3600));
        let off = PeriodicInform {
            enable: false,
            ..periodic(HOUR, None)
        };
        assert_eq!(off.next_after(1000), None);
        assert_eq!(periodic(0, Some(5)).next_after(1000), None);
    }

    #[test]
    fn periodic_aligns_to_past_and_future_references() {
        // Reference 2020-01-01T00:00:00Z, daily Informs.
        let day = periodic(86_400, Some(1_577_836_800));
        let now = 1_577_836_800 + 10 * 86_400 + 5;
        assert_eq!(day.next_after(now), Some(1_577_836_800 + 11 * 86_400));
        // Exactly on a slot: the next one, so a fired slot is not repeated.
        assert_eq!(
            day.next_after(1_577_836_800 + 3 * 86_400),
            Some(1_577_836_800 + 4 * 86_400)
        );
        // A reference in the future still sets the phase, not a first date.
        let future = periodic(HOUR, Some(1_000_000));
        assert_eq!(future.next_after(10), Some(1_000_000 - 277 * 3600));
        assert_eq!(future.next_after(999_999), Some(1_000_000));
        // Far-away references neither overflow nor panic.
        assert_eq!(
            periodic(u32::MAX, Some(i64::MIN)).next_after(i64::MAX),
            Some(i64::MAX)
        );
        assert!(periodic(7, Some(i64::MAX)).next_after(i64::MIN).is_some());
    }

    #[test]
    fn reference_reads_unknown_time_and_zero_as_unset() {
        assert_eq!(PeriodicInform::reference_from_unix(0), None);
        assert_eq!(PeriodicInform::reference_from_unix(UNKNOWN_TIME), None);
        assert_eq!(PeriodicInform::reference_from_unix(86_400), Some(86_400));
    }

    #[test]
    fn scheduled_informs_round_trip_and_damage_is_refused() {
        let mut schedule = Schedule::new(periodic(HOUR, None), 0);
        schedule.add_scheduled_inform(200, "b\tkey").expect("add");
        schedule.add_scheduled_inform(100, "").expect("add");
        let bytes = scheduled_informs_to_bytes(schedule.scheduled_informs());
        assert_eq!(
            scheduled_informs_from_bytes(&bytes).expect("read back"),
            [(100, String::new()), (200, "b\tkey".to_owned())]
        );
        let header = SCHEDULED_INFORMS_HEADER;
        for bad in [
            format!("{header}\nsoon\tk\n"),
            format!("{header}\n5\n"),
            format!("{header}\n5\t{}\n", "k".repeat(33)),
            format!("{header}\n{}", "1\tk\n".repeat(MAX_SCHEDULED_INFORMS + 1)),
            "other 1\n".to_owned(),
        ] {
            assert!(
                scheduled_informs_from_bytes(bad.as_bytes()).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn lightweight_triggers_follow_interval_and_phase() {
        assert_eq!(lightweight_trigger_after(0, 0, 1000), None, "disabled");
        assert_eq!(lightweight_trigger_after(60, 0, 1000), Some(1060));
        assert_eq!(
            lightweight_trigger_after(60, UNKNOWN_TIME, 1000),
            Some(1060)
        );
        // Midnight phase, daily: the very next midnight, even for a future reference.
        let midnight = 1_700_006_400;
        assert_eq!(
            lightweight_trigger_after(86_400, midnight + 10 * 86_400, midnight + 5),
            Some(midnight + 86_400)
        );
    }

    #[test]
    fn schedule_inform_delay() {
        assert_eq!(scheduled_inform_due(100, 60), Ok(160));
        assert_eq!(
            scheduled_inform_due(100, 0),
            Err(FaultCode::InvalidArguments)
        );
        assert_eq!(scheduled_inform_due(i64::MAX, 1), Ok(i64::MAX));
    }

    #[test]
    fn schedule_reports_triggers_in_time_order() {
        let mut schedule = Schedule::new(periodic(100, Some(0)), 1_000);
        assert_eq!(schedule.poll_at(), Some(1_100));
        schedule.add_scheduled_inform(1_050, "b").expect("room");
        schedule.add_scheduled_inform(1_020, "a").expect("room");
        schedule.add_scheduled_inform(1_050, "c").expect("room");
        schedule.set_retry(Some(1_030));
        assert_eq!(schedule.poll_at(), Some(1_020));
        assert!(schedule.due(1_019).is_empty());
        assert_eq!(
            schedule.due(1_020),
            [Trigger::ScheduledInform {
                command_key: "a".into()
            }]
        );
        assert_eq!(schedule.poll_at(), Some(1_030));
        assert_eq!(
            schedule.due(1_060),
            [
                Trigger::ScheduledInform {
                    command_key: "b".into()
                },
                Trigger::ScheduledInform {
                    command_key: "c".into()
                },
                Trigger::Retry
            ]
        );
        assert_eq!(schedule.scheduled_informs().count(), 0);
        assert_eq!(schedule.poll_at(), Some(1_100));
        assert_eq!(schedule.due(1_100), [Trigger::Periodic]);
        assert_eq!(schedule.poll_at(), Some(1_200));
    }

    #[test]
    fn missed_periods_give_one_periodic() {
        let mut schedule = Schedule::new(periodic(100, Some(0)), 0);
        assert_eq!(schedule.due(1_050), [Trigger::Periodic]);
        assert_eq!(schedule.next_periodic(), Some(1_100));
    }

    #[test]
    fn clock_set_back_rederives_the_periodic_time() {
        // Booted at the epoch before NTP: no reference, so the phase is local.
        let mut schedule = Schedule::new(periodic(600, None), 1_700_000_000);
        assert_eq!(schedule.poll_at(), Some(1_700_000_600));
        assert!(schedule.due(1_000).is_empty());
        assert_eq!(schedule.poll_at(), Some(1_600));
        // Moving forward within one interval changes nothing.
        assert!(schedule.due(1_200).is_empty());
        assert_eq!(schedule.poll_at(), Some(1_600));
    }

    #[test]
    fn periodic_changes_restart_the_phase_and_can_disable() {
        let mut schedule = Schedule::new(periodic(100, Some(0)), 1_000);
        schedule.set_periodic(periodic(100, Some(30)), 1_000);
        assert_eq!(schedule.poll_at(), Some(1_030));
        schedule.set_periodic(
            PeriodicInform {
                enable: false,
                ..periodic(100, Some(30))
            },
            1_000,
        );
        assert_eq!(schedule.poll_at(), None);
        assert!(schedule.due(i64::MAX).is_empty());
    }

    #[test]
    fn scheduled_informs_are_bounded_and_cancellable() {
        let mut schedule = Schedule::new(periodic(0, None), 0);
        for n in 0..MAX_SCHEDULED_INFORMS {
            schedule
                .add_scheduled_inform(n as i64, "k")
                .expect("below the limit");
        }
        assert_eq!(
            schedule.add_scheduled_inform(5, "over"),
            Err(FaultCode::ResourcesExceeded)
        );
        schedule.cancel_scheduled_informs();
        assert_eq!(schedule.poll_at(), None);
    }

    #[test]
    fn notification_timer_fires_once() {
        let mut schedule = Schedule::new(periodic(0, None), 0);
        schedule.set_notification(Some(40));
        assert_eq!(schedule.poll_at(), Some(40));
        assert_eq!(schedule.due(45), [Trigger::Notification]);
        assert!(schedule.due(50).is_empty());
        schedule.set_retry(Some(60));
        schedule.set_retry(None);
        assert_eq!(schedule.poll_at(), None);
    }

    #[test]
    fn gate_lets_one_pass_per_interval() {
        let mut gate = RateGate::new(30);
        assert!(gate.try_pass(100));
        assert!(!gate.is_open(101));
        assert_eq!(gate.next_open(101), 130);
        assert!(!gate.try_pass(129));
        // A refused attempt does not push the opening back.
        assert_eq!(gate.next_open(129), 130);
        assert!(gate.try_pass(130));
        assert_eq!(gate.next_open(131), 160);
    }

    #[test]
    fn gate_with_zero_interval_never_closes() {
        let mut gate = RateGate::new(0);
        assert!(gate.try_pass(5));
        assert!(gate.try_pass(5));
        gate.set_interval(10);
        assert!(!gate.try_pass(6));
        assert!(gate.try_pass(15));
    }

    #[test]
    fn gate_opens_when_the_clock_goes_back() {
        let mut gate = RateGate::new(DEFAULT_CONNECTION_REQUEST_INTERVAL_SECS);
        assert!(gate.try_pass(1_700_000_000));
        assert!(gate.try_pass(1_000));
        assert!(!gate.try_pass(1_001));
        assert!(RateGate::new(u32::MAX).try_pass(i64::MAX));
    }
}
