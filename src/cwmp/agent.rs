//! When sessions happen: triggers merged into one session, periodic and scheduled informs, retry back-off, and the session status ubus reports.
//!
//! Pure: every method takes the wall-clock time (unix seconds) as an
//! argument and the caller supplies randomness for the back-off. The daemon
//! asks [`Agent::poll_at`] when to wake, [`Agent::take_due`] what is due,
//! and brackets each session with [`Agent::begin_session`] and
//! [`Agent::end_session`].

use crate::cwmp::events::{CompletionRpc, Event, EventCode, EventQueue};
use crate::cwmp::retry::{RetryPolicy, SessionRetry};
use crate::cwmp::schedule::{PeriodicInform, RateGate, Schedule, Trigger};

/// How a finished session went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionResult {
    Success,
    Failure,
}

/// One session's times, for the `status` ubus method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub result: Option<SessionResult>,
    pub start: i64,
    pub end: Option<i64>,
}

/// Session counters and times since the daemon started.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SessionStats {
    pub started_at: i64,
    pub last: Option<SessionRecord>,
    pub success: u64,
    pub failure: u64,
}

/// What [`Agent::take_due`] found due.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Due {
    /// Open a session now.
    pub start_session: bool,
    /// The notification throttle reopened: check value changes again.
    pub check_notifications: bool,
}

/// The session scheduler.
#[derive(Debug)]
pub struct Agent {
    queue: EventQueue,
    schedule: Schedule,
    retry: SessionRetry,
    policy: RetryPolicy,
    /// Active value-change sessions at most one per `DefaultActiveNotificationThrottle`.
    throttle: RateGate,
    in_session: bool,
    /// A trigger asks for a session as soon as possible.
    start_asap: bool,
    /// `-g` or ubus asked for GetRPCMethods in the next session.
    get_rpc_methods: bool,
    stats: SessionStats,
    /// The pending ScheduleInforms changed since [`Agent::take_schedule_changed`].
    schedule_changed: bool,
}

impl Agent {
    /// A scheduler over a (loaded) event queue.
    pub fn new(
        queue: EventQueue,
        periodic: PeriodicInform,
        policy: RetryPolicy,
        now: i64,
    ) -> Agent {
        let start_asap = queue.needs_session();
        Agent {
            queue,
            schedule: Schedule::new(periodic, now),
            retry: SessionRetry::default(),
            policy,
            throttle: RateGate::new(0),
            in_session: false,
            start_asap,
            get_rpc_methods: false,
            schedule_changed: false,
            stats: SessionStats {
                started_at: now,
                ..SessionStats::default()
            },
        }
    }

    /// The pending events.
    pub fn queue(&self) -> &EventQueue {
        &self.queue
    }

    /// Session counters and times.
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// Whether a session is running.
    pub fn in_session(&self) -> bool {
        self.in_session
    }

    /// The Inform's RetryCount: failed attempts since the last success.
    pub fn retry_count(&self) -> u32 {
        self.retry.retry_count()
    }

    /// Applies new periodic settings and retry parameters (config reload, SPV).
    pub fn reconfigure(&mut self, periodic: PeriodicInform, policy: RetryPolicy, now: i64) {
        self.schedule.set_periodic(periodic, now);
        self.policy = policy;
    }

    /// Sets `DefaultActiveNotificationThrottle` (seconds, 0: none).
    pub fn set_notification_throttle(&mut self, secs: u32) {
        self.throttle.set_interval(secs);
    }

    /// Queues an event and asks for a session as soon as possible. Returns
    /// false when the queue is full (the event is then dropped and logged by the caller).
    /// A connection request cuts a retry wait short: the ACS is evidently up.
    pub fn trigger(&mut self, event: Event) -> bool {
        if event.code == EventCode::ConnectionRequest {
            self.schedule.set_retry(None);
        }
        let added = self.queue.add(event);
        self.start_asap = true;
        added
    }

    /// Asks for GetRPCMethods in the next session, and for that session.
    pub fn request_rpc_methods(&mut self) {
        self.get_rpc_methods = true;
        self.start_asap = true;
    }

    /// Whether the next session should ask the ACS for its RPC methods; clears the request.
    pub fn take_rpc_methods_request(&mut self) -> bool {
        std::mem::take(&mut self.get_rpc_methods)
    }

    /// An active value change: a `4 VALUE CHANGE` session now, or when the
    /// throttle reopens.
    pub fn value_changed(&mut self, now: i64) {
        if self.throttle.try_pass(now) {
            self.trigger(Event::new(EventCode::ValueChange));
        } else {
            self.queue.add(Event::new(EventCode::ValueChange));
            self.schedule
                .set_notification(Some(self.throttle.next_open(now)));
        }
    }

    /// A passive value change: `4 VALUE CHANGE` rides on the next Inform.
    pub fn passive_value_changed(&mut self) {
        self.queue.add(Event::new(EventCode::ValueChange));
    }

    /// ScheduleInform (A.3.2.10): `M ScheduleInform` and `3 SCHEDULED` at `due`.
    pub fn schedule_inform(
        &mut self,
        due: i64,
        command_key: &str,
    ) -> Result<(), crate::cwmp::fault::FaultCode> {
        self.schedule.add_scheduled_inform(due, command_key)?;
        self.schedule_changed = true;
        Ok(())
    }

    /// Takes up the ScheduleInforms persisted before a restart; those whose
    /// time passed meanwhile come due at the next [`Agent::take_due`].
    pub fn restore_scheduled_informs(&mut self, informs: Vec<(i64, String)>) {
        for (due, command_key) in informs {
            if self
                .schedule
                .add_scheduled_inform(due, &command_key)
                .is_err()
            {
                break;
            }
        }
    }

    /// The pending ScheduleInforms (due time, CommandKey), for persistence.
    pub fn scheduled_informs(&self) -> impl Iterator<Item = (i64, &str)> {
        self.schedule.scheduled_informs()
    }

    /// Whether the pending ScheduleInforms changed (one was accepted, came
    /// due or was cancelled) since the last call: the caller persists them.
    pub fn take_schedule_changed(&mut self) -> bool {
        std::mem::take(&mut self.schedule_changed)
    }

    /// Drops what the previous ACS asked to be done later (its URL changed).
    pub fn forget_acs_requests(&mut self) {
        self.schedule.cancel_scheduled_informs();
        self.schedule_changed = true;
    }

    /// When the daemon must next call [`Agent::take_due`] (unix seconds).
    pub fn poll_at(&self, now: i64) -> Option<i64> {
        if self.in_session {
            // Timers still matter during a session; a session start waits for its end.
            return self.schedule.poll_at().map(|t| t.max(now));
        }
        let scheduled = self.schedule.poll_at();
        if self.start_asap && self.schedule.retry_pending().is_none() {
            return Some(now);
        }
        scheduled
    }

    /// Runs what is due at `now`: periodic and scheduled informs queue their
    /// events; a due retry or pending trigger asks for a session.
    pub fn take_due(&mut self, now: i64) -> Due {
        let mut due = Due::default();
        for trigger in self.schedule.due(now) {
            match trigger {
                Trigger::Periodic => {
                    self.queue.add(Event::new(EventCode::Periodic));
                    self.start_asap = true;
                }
                Trigger::ScheduledInform { command_key } => {
                    self.queue
                        .add(Event::with_key(EventCode::MScheduleInform, &command_key));
                    self.start_asap = true;
                    self.schedule_changed = true;
                }
                Trigger::Retry => self.start_asap = true,
                Trigger::Notification => {
                    due.check_notifications = true;
                    if self
                        .queue
                        .events()
                        .any(|e| e.code == EventCode::ValueChange)
                    {
                        self.throttle.try_pass(now);
                        self.start_asap = true;
                    }
                }
            }
        }
        let waiting_retry = self.schedule.retry_pending().is_some();
        due.start_session = self.start_asap && !self.in_session && !waiting_retry;
        due
    }

    /// A session starts: returns the events of its Inform.
    pub fn begin_session(&mut self, now: i64) -> Vec<Event> {
        self.in_session = true;
        self.start_asap = false;
        self.stats.last = Some(SessionRecord {
            result: None,
            start: now,
            end: None,
        });
        self.queue.for_inform()
    }

    /// The ACS acknowledged the Inform: returns the delivered events.
    pub fn on_inform_acknowledged(&mut self) -> Vec<Event> {
        self.queue.on_inform_acknowledged()
    }

    /// The ACS answered one of the CPE's requests.
    pub fn on_rpc_acknowledged(&mut self, rpc: CompletionRpc, command_key: &str) -> bool {
        self.queue.on_rpc_acknowledged(rpc, command_key)
    }

    /// The session ended. On failure, returns the seconds until the retry
    /// (TR-069 3.2.1.1, randomised by `random`).
    pub fn end_session(&mut self, result: SessionResult, now: i64, random: u32) -> Option<u64> {
        self.in_session = false;
        if let Some(last) = &mut self.stats.last {
            last.result = Some(result);
            last.end = Some(now);
        }
        match result {
            SessionResult::Success => {
                self.stats.success += 1;
                self.retry.on_success();
                self.schedule.set_retry(None);
                if self.queue.needs_session() || self.get_rpc_methods {
                    self.start_asap = true;
                }
                None
            }
            SessionResult::Failure => {
                self.stats.failure += 1;
                self.queue.on_session_failed();
                let wait = self.retry.on_failure(&self.policy, random);
                self.schedule
                    .set_retry(Some(now.saturating_add(wait as i64)));
                self.start_asap = true;
                Some(wait)
            }
        }
    }

    /// When the next session is expected (retry, asap, periodic or scheduled), for `status`.
    pub fn next_session_at(&self, now: i64) -> Option<i64> {
        if let Some(retry) = self.schedule.retry_pending() {
            return Some(retry);
        }
        if self.start_asap {
            return Some(now);
        }
        self.schedule.poll_at()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(queue: EventQueue, periodic: PeriodicInform, now: i64) -> Agent {
        Agent::new(queue, periodic, RetryPolicy::default(), now)
    }

    fn no_periodic() -> PeriodicInform {
        PeriodicInform {
            enable: false,
            interval_secs: 0,
            reference: None,
        }
    }

    fn codes(events: &[Event]) -> Vec<String> {
        events.iter().map(|e| e.code.as_str().to_owned()).collect()
    }

    #[test]
    fn idle_agent_sleeps() {
        let a = agent(EventQueue::new(), no_periodic(), 1000);
        assert_eq!(a.poll_at(1000), None);
    }

    #[test]
    fn triggers_merge_into_one_session() {
        let mut a = agent(EventQueue::new(), no_periodic(), 1000);
        a.trigger(Event::new(EventCode::Boot));
        a.trigger(Event::new(EventCode::ConnectionRequest));
        assert_eq!(a.poll_at(1000), Some(1000));
        assert!(a.take_due(1000).start_session);
        let events = a.begin_session(1000);
        assert_eq!(codes(&events), ["1 BOOT", "6 CONNECTION REQUEST"]);
        // A trigger during the session waits for its end, then starts a new one.
        a.trigger(Event::new(EventCode::ConnectionRequest));
        assert!(!a.take_due(1001).start_session);
        a.on_inform_acknowledged();
        assert_eq!(a.end_session(SessionResult::Success, 1002, 0), None);
        assert!(a.take_due(1002).start_session);
        assert_eq!(codes(&a.begin_session(1002)), ["6 CONNECTION REQUEST"]);
    }

    #[test]
    fn failures_back_off_per_table_and_reset() {
        let mut a = agent(EventQueue::new(), no_periodic(), 0);
        a.trigger(Event::new(EventCode::Boot));
        let mut now = 0;
        let mut waits = Vec::new();
        for _ in 0..3 {
            assert!(a.take_due(now).start_session);
            a.begin_session(now);
            let wait = a
                .end_session(SessionResult::Failure, now, 0)
                .expect("retry wait");
            // Not due before the wait has passed.
            assert!(!a.take_due(now + wait as i64 - 1).start_session);
            waits.push(wait);
            now += wait as i64;
        }
        assert_eq!(waits, [5, 10, 20]);
        assert_eq!(a.retry_count(), 3);
        assert!(a.take_due(now).start_session);
        let events = a.begin_session(now);
        assert_eq!(codes(&events), ["1 BOOT"], "BOOT survives failed sessions");
        a.on_inform_acknowledged();
        a.end_session(SessionResult::Success, now, 0);
        assert_eq!(a.retry_count(), 0);
        assert_eq!(a.stats().failure, 3);
        assert_eq!(a.stats().success, 1);
    }

    #[test]
    fn periodic_inform_fires_on_time() {
        let periodic = PeriodicInform {
            enable: true,
            interval_secs: 60,
            reference: Some(0),
        };
        let mut a = agent(EventQueue::new(), periodic, 30);
        assert_eq!(a.poll_at(30), Some(60));
        assert!(!a.take_due(59).start_session);
        assert!(a.take_due(60).start_session);
        assert_eq!(codes(&a.begin_session(60)), ["2 PERIODIC"]);
        a.on_inform_acknowledged();
        a.end_session(SessionResult::Success, 61, 0);
        assert_eq!(a.poll_at(61), Some(120));
    }

    #[test]
    fn scheduled_inform_carries_its_key() {
        let mut a = agent(EventQueue::new(), no_periodic(), 100);
        a.schedule_inform(130, "key-1").expect("scheduled");
        assert_eq!(a.poll_at(100), Some(130));
        assert!(a.take_due(130).start_session);
        let events = a.begin_session(130);
        assert_eq!(codes(&events), ["3 SCHEDULED", "M ScheduleInform"]);
        assert!(events.iter().any(|e| e.command_key == "key-1"));
    }

    #[test]
    fn scheduled_informs_outlive_a_restart() {
        let mut before = agent(EventQueue::new(), no_periodic(), 100);
        assert!(!before.take_schedule_changed());
        before.schedule_inform(130, "late").expect("scheduled");
        before.schedule_inform(500, "later").expect("scheduled");
        assert!(
            before.take_schedule_changed(),
            "an accepted one is to be saved"
        );
        let saved: Vec<(i64, String)> = before
            .scheduled_informs()
            .map(|(t, k)| (t, k.to_owned()))
            .collect();
        // The daemon was down from 110 to 200: the first one's time passed.
        let mut after = agent(EventQueue::new(), no_periodic(), 200);
        after.restore_scheduled_informs(saved);
        assert!(!after.take_schedule_changed());
        assert_eq!(after.poll_at(200), Some(130), "due at once");
        assert!(after.take_due(200).start_session);
        assert!(after.take_schedule_changed(), "a fired one is to be saved");
        let events = after.begin_session(200);
        assert_eq!(codes(&events), ["3 SCHEDULED", "M ScheduleInform"]);
        assert_eq!(events[1].command_key, "late");
        assert_eq!(
            after.scheduled_informs().collect::<Vec<_>>(),
            [(500, "later")]
        );
    }

    #[test]
    fn active_notifications_are_throttled() {
        let mut a = agent(EventQueue::new(), no_periodic(), 0);
        a.set_notification_throttle(30);
        a.value_changed(0);
        assert!(a.take_due(0).start_session);
        a.begin_session(0);
        a.on_inform_acknowledged();
        a.end_session(SessionResult::Success, 1, 0);
        a.value_changed(10);
        assert_eq!(a.poll_at(10), Some(30), "throttled until the gate reopens");
        assert!(!a.take_due(29).start_session);
        let due = a.take_due(30);
        assert!(due.start_session && due.check_notifications);
        assert_eq!(codes(&a.begin_session(30)), ["4 VALUE CHANGE"]);
    }

    #[test]
    fn get_rpc_methods_request_is_taken_once() {
        let mut a = agent(EventQueue::new(), no_periodic(), 0);
        a.request_rpc_methods();
        assert!(a.take_due(0).start_session);
        assert!(a.take_rpc_methods_request());
        assert!(!a.take_rpc_methods_request());
    }
}
