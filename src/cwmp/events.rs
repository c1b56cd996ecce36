//! Inform event codes (TR-069 Table 7) and the queue that keeps them until the ACS has acknowledged them.
//!
//! The rules, each at the function that applies it:
//! - cumulative behaviour (Table 7): numbered codes appear once per Inform,
//!   `M <method>` codes once per occurrence with their CommandKey;
//! - completion (3.7.1.5): most events are done when the InformResponse
//!   arrives; those announcing an ACS-bound RPC (7/M Download/M Upload/
//!   M ScheduleDownload, 10, 11/M ChangeDUState, 12, 9, 5) stay until that
//!   RPC's response arrives, and are re-sent in every Inform until then;
//! - retry (3.7.1.5, icwmp's table): after a failed session every event is
//!   kept for the retry except `6 CONNECTION REQUEST`; across a reboot BOOT,
//!   VALUE CHANGE, DIAGNOSTICS COMPLETE and CONNECTION REQUEST are dropped
//!   (the reboot brings its own BOOT, value changes are re-detected);
//! - `0 BOOTSTRAP` (Table 7: first contact or new ACS URL) discards every
//!   undelivered event except `1 BOOT`: they were meant for the old ACS;
//! - `14 HEARTBEAT` travels in an Inform of its own (icwmp does the same).
//!
//! The queue persists as versioned text ([`EventQueue::to_bytes`]) that the
//! daemon writes with `fsutil::atomic_write` before each session and after
//! each acknowledgement.

use std::fmt;

use crate::quoted::Quoted;
use crate::records::{escape_into, unescape};

/// The most events one Inform carries (cwmp-1-x.xsd: `EventStruct` maxOccurs 64).
pub const MAX_INFORM_EVENTS: usize = 64;

/// The most events the queue holds; beyond this [`EventQueue::add`] refuses,
/// so an ACS that never acknowledges cannot grow the state file without bound.
pub const MAX_QUEUED_EVENTS: usize = 1024;

/// The longest EventCode string (cwmp-1-x.xsd: `EventCode` is string(64)).
const MAX_CODE_LEN: usize = 64;

/// First line of the persisted queue; the number is the format version.
const FILE_HEADER: &str = "icwmp-events 1";

/// An Inform event code of TR-069 Table 7.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EventCode {
    Bootstrap,
    Boot,
    Periodic,
    Scheduled,
    ValueChange,
    Kicked,
    ConnectionRequest,
    TransferComplete,
    DiagnosticsComplete,
    RequestDownload,
    AutonomousTransferComplete,
    DuStateChangeComplete,
    AutonomousDuStateChangeComplete,
    Wakeup,
    Heartbeat,
    MReboot,
    MScheduleInform,
    MDownload,
    MScheduleDownload,
    MUpload,
    MChangeDuState,
    /// A vendor event, the whole `X <OUI> <event>` text.
    Vendor(String),
}

/// The ACS-bound RPC whose successful response completes an event
/// (TR-069 3.7.1.5, "Required successful response for completion").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompletionRpc {
    TransferComplete,
    AutonomousTransferComplete,
    DuStateChangeComplete,
    AutonomousDuStateChangeComplete,
    RequestDownload,
    Kicked,
}

/// Every standard code in Table 7 order; the index is the order in an Inform.
const STANDARD_CODES: [EventCode; 21] = [
    EventCode::Bootstrap,
    EventCode::Boot,
    EventCode::Periodic,
    EventCode::Scheduled,
    EventCode::ValueChange,
    EventCode::Kicked,
    EventCode::ConnectionRequest,
    EventCode::TransferComplete,
    EventCode::DiagnosticsComplete,
    EventCode::RequestDownload,
    EventCode::AutonomousTransferComplete,
    EventCode::DuStateChangeComplete,
    EventCode::AutonomousDuStateChangeComplete,
    EventCode::Wakeup,
    EventCode::Heartbeat,
    EventCode::MReboot,
    EventCode::MScheduleInform,
    EventCode::MDownload,
    EventCode::MScheduleDownload,
    EventCode::MUpload,
    EventCode::MChangeDuState,
];

impl EventCode {
    /// The EventCode string as it goes on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            EventCode::Bootstrap => "0 BOOTSTRAP",
            EventCode::Boot => "1 BOOT",
            EventCode::Periodic => "2 PERIODIC",
            EventCode::Scheduled => "3 SCHEDULED",
            EventCode::ValueChange => "4 VALUE CHANGE",
            EventCode::Kicked => "5 KICKED",
            EventCode::ConnectionRequest => "6 CONNECTION REQUEST",
            EventCode::TransferComplete => "7 TRANSFER COMPLETE",
            EventCode::DiagnosticsComplete => "8 DIAGNOSTICS COMPLETE",
            EventCode::RequestDownload => "9 REQUEST DOWNLOAD",
            EventCode::AutonomousTransferComplete => "10 AUTONOMOUS TRANSFER COMPLETE",
            EventCode::DuStateChangeComplete => "11 DU STATE CHANGE COMPLETE",
            EventCode::AutonomousDuStateChangeComplete => "12 AUTONOMOUS DU STATE CHANGE COMPLETE",
            EventCode::Wakeup => "13 WAKEUP",
            EventCode::Heartbeat => "14 HEARTBEAT",
            EventCode::MReboot => "M Reboot",
            EventCode::MScheduleInform => "M ScheduleInform",
            EventCode::MDownload => "M Download",
            EventCode::MScheduleDownload => "M ScheduleDownload",
            EventCode::MUpload => "M Upload",
            EventCode::MChangeDuState => "M ChangeDUState",
            EventCode::Vendor(text) => text,
        }
    }

    /// The code for a wire string. Vendor codes must read `X <OUI> <event>`
    /// with a six-digit upper-case hex OUI (TR-069 Table 7) and fit string(64).
    pub fn parse(text: &str) -> Result<EventCode, EventError> {
        if let Some(code) = STANDARD_CODES.iter().find(|code| code.as_str() == text) {
            return Ok(code.clone());
        }
        let vendor_ok = text.len() <= MAX_CODE_LEN
            && text.strip_prefix("X ").is_some_and(|rest| {
                let mut parts = rest.splitn(2, ' ');
                let oui = parts.next().unwrap_or_default();
                let event = parts.next().unwrap_or_default();
                oui.len() == 6
                    && oui.bytes().all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F'))
                    && !event.trim().is_empty()
                    && !event.chars().any(char::is_control)
            });
        if vendor_ok {
            Ok(EventCode::Vendor(text.to_owned()))
        } else {
            Err(EventError::UnknownCode(text.to_owned()))
        }
    }

    /// Table 7 cumulative behaviour: `M <method>` codes are "Multiple" (one
    /// entry per occurrence, each with its CommandKey); every other code is
    /// "Single" (at most once per Inform, however often it happened).
    pub fn is_multiple(&self) -> bool {
        matches!(
            self,
            EventCode::MReboot
                | EventCode::MScheduleInform
                | EventCode::MDownload
                | EventCode::MScheduleDownload
                | EventCode::MUpload
                | EventCode::MChangeDuState
        )
    }

    /// The RPC whose response completes this event, or `None` when the
    /// InformResponse does (TR-069 3.7.1.5). Such events are only ever sent
    /// together with that RPC in the same session.
    pub fn completed_by(&self) -> Option<CompletionRpc> {
        match self {
            EventCode::TransferComplete
            | EventCode::MDownload
            | EventCode::MScheduleDownload
            | EventCode::MUpload => Some(CompletionRpc::TransferComplete),
            EventCode::AutonomousTransferComplete => {
                Some(CompletionRpc::AutonomousTransferComplete)
            }
            EventCode::DuStateChangeComplete | EventCode::MChangeDuState => {
                Some(CompletionRpc::DuStateChangeComplete)
            }
            EventCode::AutonomousDuStateChangeComplete => {
                Some(CompletionRpc::AutonomousDuStateChangeComplete)
            }
            EventCode::RequestDownload => Some(CompletionRpc::RequestDownload),
            EventCode::Kicked => Some(CompletionRpc::Kicked),
            _ => None,
        }
    }

    /// The single code that must accompany this `M` code in an Inform
    /// (Table 7): M Reboot with 1 BOOT, M ScheduleInform with 3 SCHEDULED,
    /// the transfer methods with 7 TRANSFER COMPLETE, M ChangeDUState with
    /// 11 DU STATE CHANGE COMPLETE.
    pub fn companion(&self) -> Option<EventCode> {
        match self {
            EventCode::MReboot => Some(EventCode::Boot),
            EventCode::MScheduleInform => Some(EventCode::Scheduled),
            EventCode::MDownload | EventCode::MScheduleDownload | EventCode::MUpload => {
                Some(EventCode::TransferComplete)
            }
            EventCode::MChangeDuState => Some(EventCode::DuStateChangeComplete),
            _ => None,
        }
    }

    /// Whether the event is kept for the retry after a failed session
    /// (3.7.1.5): all are, except 6 CONNECTION REQUEST, since the ACS that
    /// asked for the session will ask again if it still wants one.
    pub fn retried_after_failure(&self) -> bool {
        *self != EventCode::ConnectionRequest
    }

    /// Whether an undelivered event outlives a reboot (icwmp's
    /// EVENT_RETRY_AFTER_REBOOT): BOOT is replaced by the new boot's own,
    /// value changes are detected again after the reboot, diagnostics
    /// results do not survive it, and connection requests are never retried.
    pub fn survives_reboot(&self) -> bool {
        !matches!(
            self,
            EventCode::Boot
                | EventCode::ValueChange
                | EventCode::DiagnosticsComplete
                | EventCode::ConnectionRequest
        )
    }

    /// Position in an Inform: Table 7 order, vendor codes last.
    fn rank(&self) -> usize {
        STANDARD_CODES
            .iter()
            .position(|code| code == self)
            .unwrap_or(STANDARD_CODES.len())
    }
}

impl fmt::Display for EventCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event as it goes into the Inform's `Event` list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub code: EventCode,
    /// The CommandKey of the method an `M` code reports; empty otherwise.
    pub command_key: String,
}

/// The longest CommandKey an EventStruct carries (cwmp schema: string(32)).
pub const MAX_COMMAND_KEY_CHARS: usize = 32;

impl Event {
    /// An event without a CommandKey.
    pub fn new(code: EventCode) -> Event {
        Event {
            code,
            command_key: String::new(),
        }
    }

    /// An event carrying the CommandKey of the method it reports. The schema
    /// allows [`MAX_COMMAND_KEY_CHARS`] characters and the SOAP parser takes
    /// no more from the ACS, so a longer key can only come from a damaged
    /// state file (`reboot_key`): it is cut there, and every Inform stays valid.
    pub fn with_key(code: EventCode, command_key: &str) -> Event {
        let end = command_key
            .char_indices()
            .nth(MAX_COMMAND_KEY_CHARS)
            .map_or(command_key.len(), |(at, _)| at);
        Event {
            code,
            command_key: command_key.get(..end).unwrap_or_default().to_owned(),
        }
    }
}

/// Event code parsing and queue file errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventError {
    /// Not a Table 7 code nor a well-formed `X <OUI> <event>`.
    UnknownCode(String),
    /// The queue file does not start with a recognised header line.
    BadHeader,
    /// A queue file line (1-based) cannot be read.
    BadLine { line: usize, reason: &'static str },
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventError::UnknownCode(code) => write!(f, "unknown event code {}", Quoted(code)),
            EventError::BadHeader => write!(f, "event queue file has no '{FILE_HEADER}' header"),
            EventError::BadLine { line, reason } => {
                write!(f, "event queue file line {line}: {reason}")
            }
        }
    }
}

impl std::error::Error for EventError {}

/// Where a queued event stands in the current session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delivery {
    /// Not in the Inform of the current session (new, or from an earlier one).
    Pending,
    /// In the Inform just sent; waiting for the InformResponse.
    InFlight,
    /// The InformResponse came; waiting for the response to its RPC.
    AwaitingRpc,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    event: Event,
    delivery: Delivery,
    /// RPC responses still owed for single codes completed by an RPC without
    /// an `M` companion (5, 9, 10, 12): one per occurrence. Unused (0) otherwise.
    outstanding: u32,
}

/// The pending Inform events, in Inform order (Table 7 order, `M` codes in
/// arrival order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventQueue {
    entries: Vec<Entry>,
}

/// Which events the start of the daemon adds, see [`start_events`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartFacts<'a> {
    /// The ACS URL that last received a delivered 0 BOOTSTRAP; `None` on the
    /// first start, after a factory reset, or when that record was lost.
    pub last_bootstrap_url: Option<&'a str>,
    /// The ACS URL now configured.
    pub acs_url: &'a str,
    /// Whether the system (not just the daemon) has just booted.
    pub system_boot: bool,
    /// The CommandKey of a Reboot RPC accepted before this start, if any.
    pub reboot_command_key: Option<&'a str>,
}

/// The outcome of [`start_events`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartEvents {
    /// Events to [`EventQueue::add`], in this order.
    pub events: Vec<Event>,
    /// The ACS is new: requests of the old ACS still pending (ScheduleInform,
    /// ScheduleDownload, scheduled transfers) are to be cancelled, as icwmp does.
    pub acs_changed: bool,
}

/// The events the daemon queues when it starts (TR-069 Table 7):
/// `0 BOOTSTRAP` on first contact or whenever the ACS URL differs from the
/// one last bootstrapped; `1 BOOT` after a system boot or an accepted Reboot;
/// `M Reboot` with its CommandKey after a Reboot ordered by the same ACS
/// (a new ACS never asked for it). Call [`EventQueue::on_reboot`] first
/// when `system_boot` is set.
pub fn start_events(facts: &StartFacts<'_>) -> StartEvents {
    let acs_changed = facts.last_bootstrap_url != Some(facts.acs_url);
    let mut events = Vec::new();
    if acs_changed {
        events.push(Event::new(EventCode::Bootstrap));
    }
    if facts.system_boot || facts.reboot_command_key.is_some() {
        events.push(Event::new(EventCode::Boot));
    }
    if let (Some(key), false) = (facts.reboot_command_key, acs_changed) {
        events.push(Event::with_key(EventCode::MReboot, key));
    }
    StartEvents {
        events,
        acs_changed,
    }
}

impl EventQueue {
    /// An empty queue.
    pub fn new() -> EventQueue {
        EventQueue::default()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The number of queued events.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The queued events in Inform order (for status reports).
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.entries.iter().map(|entry| &entry.event)
    }

    /// Whether some event has not been sent in this session's Inform, so a
    /// (further) session is needed.
    pub fn needs_session(&self) -> bool {
        self.entries.iter().any(|e| e.delivery == Delivery::Pending)
    }

    /// Queues an event by the Table 7 rules. Returns `false` if the queue is
    /// full ([`MAX_QUEUED_EVENTS`]) and the event was dropped.
    ///
    /// - `0 BOOTSTRAP` first discards every queued event except `1 BOOT`.
    /// - A single code already waiting to be sent is not queued twice (for
    ///   RPC-completed 5/9/10/12 one more RPC response is owed instead). A
    ///   single code that recurs after its Inform went out is queued anew
    ///   for the next Inform, except 7 and 11, which stay as long as any of
    ///   their `M` codes does.
    /// - `M` codes are queued once per occurrence and bring their companion
    ///   single code along ([`EventCode::companion`]).
    pub fn add(&mut self, event: Event) -> bool {
        if event.code == EventCode::Bootstrap {
            self.entries.retain(|e| e.event.code == EventCode::Boot);
        }
        // The companion follows the same single-code rules, so it is queued
        // again when the one already queued has gone out in this session.
        if let Some(companion) = event.code.companion() {
            if !self.add(Event::new(companion)) {
                return false;
            }
        }
        let counted = Self::is_counted(&event.code);
        if !event.code.is_multiple() {
            let tracked_by_m = matches!(
                event.code,
                EventCode::TransferComplete | EventCode::DuStateChangeComplete
            );
            let same = self.entries.iter_mut().find(|e| {
                e.event.code == event.code
                    && (counted || tracked_by_m || e.delivery == Delivery::Pending)
            });
            if let Some(existing) = same {
                if counted {
                    existing.outstanding = existing.outstanding.saturating_add(1);
                }
                return true;
            }
        }
        if self.entries.len() >= MAX_QUEUED_EVENTS {
            return false;
        }
        let rank = event.code.rank();
        let at = self
            .entries
            .iter()
            .position(|e| e.event.code.rank() > rank)
            .unwrap_or(self.entries.len());
        self.entries.insert(
            at,
            Entry {
                event,
                delivery: Delivery::Pending,
                outstanding: u32::from(counted),
            },
        );
        true
    }

    /// Single codes completed by an RPC that no `M` code tracks: their entry
    /// counts the RPC responses still owed.
    fn is_counted(code: &EventCode) -> bool {
        matches!(
            code,
            EventCode::Kicked
                | EventCode::RequestDownload
                | EventCode::AutonomousTransferComplete
                | EventCode::AutonomousDuStateChangeComplete
        )
    }

    /// The Event list of the next Inform, at most [`MAX_INFORM_EVENTS`]; every
    /// event returned is marked as sent. All queued events go out, including
    /// those sent before whose RPC was never acknowledged (3.7.1.5: they are
    /// repeated until completed). `14 HEARTBEAT` goes alone, once nothing
    /// else is queued. Events beyond the cap wait for the next session.
    pub fn for_inform(&mut self) -> Vec<Event> {
        self.merge_repeats();
        let heartbeat_only = self
            .entries
            .iter()
            .all(|e| e.event.code == EventCode::Heartbeat);
        let mut events = Vec::new();
        for entry in &mut self.entries {
            if events.len() >= MAX_INFORM_EVENTS {
                break;
            }
            if (entry.event.code == EventCode::Heartbeat) == heartbeat_only {
                entry.delivery = Delivery::InFlight;
                events.push(entry.event.clone());
            }
        }
        events
    }

    /// The InformResponse arrived (3.7.1.5): events completed by it are
    /// removed and returned (the daemon records the ACS URL when
    /// `0 BOOTSTRAP` is among them); those owing an RPC now wait for it.
    pub fn on_inform_acknowledged(&mut self) -> Vec<Event> {
        let mut delivered = Vec::new();
        self.entries.retain_mut(|entry| {
            if entry.delivery != Delivery::InFlight {
                return true;
            }
            if entry.event.code.completed_by().is_some() {
                entry.delivery = Delivery::AwaitingRpc;
                return true;
            }
            delivered.push(entry.event.clone());
            false
        });
        delivered
    }

    /// The response to an ACS-bound RPC arrived (3.7.1.5): removes the `M`
    /// event with that CommandKey (sent ones first), the companion 7 or 11
    /// once none of its `M` codes is left, and one owed response of a
    /// counted code (5, 9, 10, 12). Returns whether anything matched.
    pub fn on_rpc_acknowledged(&mut self, rpc: CompletionRpc, command_key: &str) -> bool {
        let matches_m = |e: &Entry| {
            e.event.code.is_multiple()
                && e.event.code.completed_by() == Some(rpc)
                && e.event.command_key == command_key
        };
        let m_index = self
            .entries
            .iter()
            .position(|e| matches_m(e) && e.delivery != Delivery::Pending)
            .or_else(|| self.entries.iter().position(matches_m));
        let mut matched = false;
        if let Some(index) = m_index {
            self.entries.remove(index);
            matched = true;
        }
        let m_left = self
            .entries
            .iter()
            .any(|e| e.event.code.is_multiple() && e.event.code.completed_by() == Some(rpc));
        self.entries.retain_mut(|entry| {
            if entry.event.code.is_multiple() || entry.event.code.completed_by() != Some(rpc) {
                return true;
            }
            if Self::is_counted(&entry.event.code) {
                matched = true;
                entry.outstanding = entry.outstanding.saturating_sub(1);
                return entry.outstanding > 0;
            }
            if m_left {
                return true;
            }
            matched = true;
            false
        });
        matched
    }

    /// The session failed before completing (3.7.1.5 retry rules): events
    /// that are not retried and were sent are dropped, everything else waits
    /// for the retry.
    pub fn on_session_failed(&mut self) {
        self.entries.retain_mut(|entry| {
            let sent = entry.delivery != Delivery::Pending;
            entry.delivery = Delivery::Pending;
            !sent || entry.event.code.retried_after_failure()
        });
        self.merge_repeats();
    }

    /// The system rebooted: drops the undelivered events that do not outlive
    /// a reboot ([`EventCode::survives_reboot`]).
    pub fn on_reboot(&mut self) {
        self.entries.retain(|e| e.event.code.survives_reboot());
        for entry in &mut self.entries {
            entry.delivery = Delivery::Pending;
        }
    }

    /// A single code may be queued twice when it recurred after its Inform
    /// went out; before the next Inform the two become one.
    fn merge_repeats(&mut self) {
        let mut kept: Vec<Entry> = Vec::with_capacity(self.entries.len());
        for entry in self.entries.drain(..) {
            let code = &entry.event.code;
            if code.is_multiple() || !kept.iter().any(|k| k.event.code == *code) {
                kept.push(entry);
            }
        }
        self.entries = kept;
    }

    /// The queue as versioned text: a header line, then one line per event,
    /// `code<TAB>command key<TAB>owed RPC responses`, with `%`, control
    /// characters and DEL written as `%XX`. `6 CONNECTION REQUEST` is left out
    /// since it is never retried.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut text = String::with_capacity(32 + self.entries.len() * 32);
        text.push_str(FILE_HEADER);
        text.push('\n');
        for entry in &self.entries {
            if !entry.event.code.retried_after_failure() {
                continue;
            }
            escape_into(&mut text, entry.event.code.as_str());
            text.push('\t');
            escape_into(&mut text, &entry.event.command_key);
            text.push('\t');
            text.push_str(&entry.outstanding.to_string());
            text.push('\n');
        }
        text.into_bytes()
    }

    /// Reads what [`to_bytes`](Self::to_bytes) wrote. Any defect is an error
    /// (the daemon sets the file aside) rather than a silently shorter queue.
    pub fn from_bytes(bytes: &[u8]) -> Result<EventQueue, EventError> {
        let text = std::str::from_utf8(bytes).map_err(|_| EventError::BadHeader)?;
        let mut lines = text.split_terminator('\n');
        if lines.next() != Some(FILE_HEADER) {
            return Err(EventError::BadHeader);
        }
        let mut queue = EventQueue::new();
        for (index, line) in lines.enumerate() {
            let bad = |reason| EventError::BadLine {
                line: index + 2,
                reason,
            };
            let mut fields = line.split('\t');
            let (Some(code), Some(key), Some(owed), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(bad("expected three tab-separated fields"));
            };
            let code =
                EventCode::parse(&unescape(code).ok_or_else(|| bad("bad %-escape in code"))?)
                    .map_err(|_| bad("unknown event code"))?;
            let command_key = unescape(key).ok_or_else(|| bad("bad %-escape in command key"))?;
            if command_key.chars().count() > MAX_COMMAND_KEY_CHARS {
                return Err(bad("command key longer than 32 characters"));
            }
            let outstanding: u32 = owed.parse().map_err(|_| bad("bad response count"))?;
            // Counted codes owe at least one response, all others none.
            if Self::is_counted(&code) != (outstanding > 0) {
                return Err(bad("response count does not fit the event code"));
            }
            if queue.entries.len() >= MAX_QUEUED_EVENTS {
                return Err(bad("more events than the queue holds"));
            }
            if queue
                .entries
                .last()
                .is_some_and(|last| last.event.code.rank() > code.rank())
            {
                return Err(bad("events out of Inform order"));
            }
            queue.entries.push(Entry {
                event: Event { code, command_key },
                delivery: Delivery::Pending,
                outstanding,
            });
        }
        queue.merge_repeats();
        Ok(queue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(events: &[Event]) -> Vec<&str> {
        events.iter().map(|e| e.code.as_str()).collect()
    }

    fn queued(queue: &EventQueue) -> Vec<String> {
        queue
            .events()
            .map(|e| {
                if e.command_key.is_empty() {
                    e.code.as_str().to_owned()
                } else {
                    format!("{}/{}", e.code, e.command_key)
                }
            })
            .collect()
    }

    #[test]
    fn standard_codes_round_trip() {
        for code in STANDARD_CODES {
            assert_eq!(EventCode::parse(code.as_str()), Ok(code.clone()));
            assert_eq!(code.to_string(), code.as_str());
        }
        assert_eq!(
            EventCode::parse("12 AUTONOMOUS DU STATE CHANGE COMPLETE"),
            Ok(EventCode::AutonomousDuStateChangeComplete)
        );
        assert_eq!(
            EventCode::parse("M ChangeDUState"),
            Ok(EventCode::MChangeDuState)
        );
    }

    #[test]
    fn vendor_codes_need_an_oui_and_an_event() {
        let vendor = EventCode::parse("X 00256D FIRMWARE READY").expect("vendor");
        assert_eq!(vendor, EventCode::Vendor("X 00256D FIRMWARE READY".into()));
        assert_eq!(vendor.as_str(), "X 00256D FIRMWARE READY");
        assert!(!vendor.is_multiple());
        assert_eq!(vendor.completed_by(), None);
        for bad in [
            "X 00256d EVENT",
            "X 00256 EVENT",
            "X 00256D",
            "X 00256D ",
            "X 00256D A\tB",
            "Y 00256D EVENT",
            "15 NEW EVENT",
            "0 bootstrap",
            "M Foo",
            "",
        ] {
            assert_eq!(
                EventCode::parse(bad),
                Err(EventError::UnknownCode(bad.into())),
                "{bad:?}"
            );
        }
        let long = format!("X 00256D {}", "E".repeat(60));
        assert!(EventCode::parse(&long).is_err());
    }

    #[test]
    fn table_7_properties() {
        let multiple: Vec<&str> = STANDARD_CODES
            .iter()
            .filter(|c| c.is_multiple())
            .map(|c| c.as_str())
            .collect();
        assert_eq!(
            multiple,
            [
                "M Reboot",
                "M ScheduleInform",
                "M Download",
                "M ScheduleDownload",
                "M Upload",
                "M ChangeDUState"
            ]
        );
        let not_retried: Vec<&EventCode> = STANDARD_CODES
            .iter()
            .filter(|c| !c.retried_after_failure())
            .collect();
        assert_eq!(not_retried, [&EventCode::ConnectionRequest]);
        let lost_on_reboot: Vec<&EventCode> = STANDARD_CODES
            .iter()
            .filter(|c| !c.survives_reboot())
            .collect();
        assert_eq!(
            lost_on_reboot,
            [
                &EventCode::Boot,
                &EventCode::ValueChange,
                &EventCode::ConnectionRequest,
                &EventCode::DiagnosticsComplete
            ]
        );
        use CompletionRpc as R;
        let expected = [
            (EventCode::TransferComplete, Some(R::TransferComplete)),
            (EventCode::MDownload, Some(R::TransferComplete)),
            (EventCode::MScheduleDownload, Some(R::TransferComplete)),
            (EventCode::MUpload, Some(R::TransferComplete)),
            (
                EventCode::AutonomousTransferComplete,
                Some(R::AutonomousTransferComplete),
            ),
            (
                EventCode::DuStateChangeComplete,
                Some(R::DuStateChangeComplete),
            ),
            (EventCode::MChangeDuState, Some(R::DuStateChangeComplete)),
            (
                EventCode::AutonomousDuStateChangeComplete,
                Some(R::AutonomousDuStateChangeComplete),
            ),
            (EventCode::RequestDownload, Some(R::RequestDownload)),
            (EventCode::Kicked, Some(R::Kicked)),
            (EventCode::Bootstrap, None),
            (EventCode::MReboot, None),
            (EventCode::MScheduleInform, None),
            (EventCode::ConnectionRequest, None),
        ];
        for (code, rpc) in expected {
            assert_eq!(code.completed_by(), rpc, "{code}");
        }
        // Every M code that waits for an RPC has a companion waiting for the same RPC.
        for code in STANDARD_CODES.iter().filter(|c| c.is_multiple()) {
            let companion = code.companion().expect("every M code has a companion");
            assert_eq!(companion.completed_by(), code.completed_by(), "{code}");
        }
    }

    #[test]
    fn singles_merge_multiples_accumulate_in_table_order() {
        let mut queue = EventQueue::new();
        assert!(queue.add(Event::new(EventCode::ValueChange)));
        assert!(queue.add(Event::with_key(EventCode::MDownload, "fw1")));
        assert!(queue.add(Event::new(EventCode::Periodic)));
        assert!(queue.add(Event::new(EventCode::Periodic)));
        assert!(queue.add(Event::with_key(EventCode::MUpload, "log")));
        assert!(queue.add(Event::with_key(EventCode::MDownload, "fw2")));
        assert!(queue.add(Event::new(EventCode::Vendor("X 00256D PING".into()))));
        assert!(queue.add(Event::new(EventCode::Vendor("X 00256D PING".into()))));
        assert!(queue.add(Event::new(EventCode::ValueChange)));
        assert_eq!(
            queued(&queue),
            [
                "2 PERIODIC",
                "4 VALUE CHANGE",
                "7 TRANSFER COMPLETE",
                "M Download/fw1",
                "M Download/fw2",
                "M Upload/log",
                "X 00256D PING"
            ]
        );
    }

    #[test]
    fn bootstrap_discards_all_but_boot() {
        let mut queue = EventQueue::new();
        queue.add(Event::new(EventCode::Boot));
        queue.add(Event::new(EventCode::Periodic));
        queue.add(Event::with_key(EventCode::MScheduleInform, "old-acs"));
        queue.add(Event::with_key(EventCode::MDownload, "old-acs"));
        queue.add(Event::new(EventCode::Bootstrap));
        assert_eq!(queued(&queue), ["0 BOOTSTRAP", "1 BOOT"]);
        // Events after the BOOTSTRAP are for the new ACS and stay.
        queue.add(Event::new(EventCode::ValueChange));
        assert_eq!(queued(&queue), ["0 BOOTSTRAP", "1 BOOT", "4 VALUE CHANGE"]);
    }

    #[test]
    fn inform_response_completes_inform_events_only() {
        let mut queue = EventQueue::new();
        queue.add(Event::new(EventCode::Boot));
        queue.add(Event::with_key(EventCode::MReboot, "rb"));
        queue.add(Event::with_key(EventCode::MDownload, "fw"));
        assert!(queue.needs_session());
        let inform = queue.for_inform();
        assert_eq!(
            codes(&inform),
            ["1 BOOT", "7 TRANSFER COMPLETE", "M Reboot", "M Download"]
        );
        assert_eq!(inform[2].command_key, "rb");
        assert!(!queue.needs_session());
        let delivered = queue.on_inform_acknowledged();
        assert_eq!(codes(&delivered), ["1 BOOT", "M Reboot"]);
        assert_eq!(queued(&queue), ["7 TRANSFER COMPLETE", "M Download/fw"]);
        assert!(!queue.on_rpc_acknowledged(CompletionRpc::TransferComplete, "other"));
        assert!(!queue.on_rpc_acknowledged(CompletionRpc::DuStateChangeComplete, "fw"));
        assert!(queue.on_rpc_acknowledged(CompletionRpc::TransferComplete, "fw"));
        assert!(queue.is_empty());
    }

    #[test]
    fn transfer_complete_stays_while_any_transfer_is_unacknowledged() {
        let mut queue = EventQueue::new();
        queue.add(Event::with_key(EventCode::MDownload, "a"));
        queue.add(Event::with_key(EventCode::MScheduleDownload, "b"));
        queue.for_inform();
        queue.on_inform_acknowledged();
        assert!(queue.on_rpc_acknowledged(CompletionRpc::TransferComplete, "a"));
        assert_eq!(
            queued(&queue),
            ["7 TRANSFER COMPLETE", "M ScheduleDownload/b"]
        );
        // A transfer finishing mid-session is queued for the next Inform.
        queue.add(Event::with_key(EventCode::MUpload, "c"));
        assert!(queue.needs_session());
        assert!(queue.on_rpc_acknowledged(CompletionRpc::TransferComplete, "b"));
        assert_eq!(queued(&queue), ["7 TRANSFER COMPLETE", "M Upload/c"]);
        assert_eq!(
            codes(&queue.for_inform()),
            ["7 TRANSFER COMPLETE", "M Upload"]
        );
        queue.on_inform_acknowledged();
        assert!(queue.on_rpc_acknowledged(CompletionRpc::TransferComplete, "c"));
        assert!(queue.is_empty());
    }

    #[test]
    fn du_state_change_complete_follows_its_m_code() {
        let mut queue = EventQueue::new();
        queue.add(Event::with_key(EventCode::MChangeDuState, "du"));
        assert_eq!(
            codes(&queue.for_inform()),
            ["11 DU STATE CHANGE COMPLETE", "M ChangeDUState"]
        );
        assert!(queue.on_inform_acknowledged().is_empty());
        assert!(queue.on_rpc_acknowledged(CompletionRpc::DuStateChangeComplete, "du"));
        assert!(queue.is_empty());
    }

    #[test]
    fn autonomous_events_count_owed_responses() {
        let mut queue = EventQueue::new();
        queue.add(Event::new(EventCode::AutonomousTransferComplete));
        queue.add(Event::new(EventCode::AutonomousTransferComplete));
        assert_eq!(
            codes(&queue.for_inform()),
            ["10 AUTONOMOUS TRANSFER COMPLETE"]
        );
        queue.on_inform_acknowledged();
        assert!(queue.on_rpc_acknowledged(CompletionRpc::AutonomousTransferComplete, ""));
        assert_eq!(queue.len(), 1);
        assert!(queue.on_rpc_acknowledged(CompletionRpc::AutonomousTransferComplete, ""));
        assert!(queue.is_empty());
        assert!(!queue.on_rpc_acknowledged(CompletionRpc::AutonomousTransferComplete, ""));
    }

    #[test]
    fn events_recurring_mid_session_go_in_the_next_inform() {
        let mut queue = EventQueue::new();
        queue.add(Event::with_key(EventCode::MScheduleInform, "one"));
        assert_eq!(
            codes(&queue.for_inform()),
            ["3 SCHEDULED", "M ScheduleInform"]
        );
        // After the Inform went out, the periodic timer fires and another
        // ScheduleInform comes due: both need another Inform.
        queue.add(Event::new(EventCode::Periodic));
        queue.add(Event::with_key(EventCode::MScheduleInform, "two"));
        assert_eq!(
            codes(&queue.on_inform_acknowledged()),
            ["3 SCHEDULED", "M ScheduleInform"]
        );
        assert!(queue.needs_session());
        assert_eq!(
            queued(&queue),
            ["2 PERIODIC", "3 SCHEDULED", "M ScheduleInform/two"]
        );
    }

    #[test]
    fn failed_session_keeps_all_but_the_sent_connection_request() {
        let mut queue = EventQueue::new();
        queue.add(Event::new(EventCode::ConnectionRequest));
        queue.add(Event::new(EventCode::Periodic));
        queue.add(Event::with_key(EventCode::MDownload, "fw"));
        queue.for_inform();
        // The InformResponse came, the TransferComplete never got its response.
        queue.on_inform_acknowledged();
        queue.add(Event::new(EventCode::ConnectionRequest));
        queue.add(Event::new(EventCode::ValueChange));
        queue.on_session_failed();
        assert_eq!(
            queued(&queue),
            [
                "4 VALUE CHANGE",
                "6 CONNECTION REQUEST",
                "7 TRANSFER COMPLETE",
                "M Download/fw"
            ]
        );
        // Failing before the InformResponse: the sent CONNECTION REQUEST goes.
        queue.for_inform();
        queue.on_session_failed();
        assert_eq!(
            queued(&queue),
            ["4 VALUE CHANGE", "7 TRANSFER COMPLETE", "M Download/fw"]
        );
        assert!(queue.needs_session());
    }

    #[test]
    fn repeats_merge_when_a_session_fails() {
        let mut queue = EventQueue::new();
        queue.add(Event::new(EventCode::Periodic));
        queue.for_inform();
        queue.add(Event::new(EventCode::Periodic));
        assert_eq!(queue.len(), 2);
        queue.on_session_failed();
        assert_eq!(queued(&queue), ["2 PERIODIC"]);
    }

    #[test]
    fn heartbeat_travels_alone() {
        let mut queue = EventQueue::new();
        queue.add(Event::new(EventCode::Heartbeat));
        queue.add(Event::new(EventCode::Periodic));
        assert_eq!(codes(&queue.for_inform()), ["2 PERIODIC"]);
        queue.on_inform_acknowledged();
        assert!(queue.needs_session());
        assert_eq!(codes(&queue.for_inform()), ["14 HEARTBEAT"]);
        queue.on_inform_acknowledged();
        assert!(queue.is_empty());
        assert!(queue.for_inform().is_empty());
    }

    #[test]
    fn inform_carries_at_most_64_events() {
        let mut queue = EventQueue::new();
        for n in 0..70 {
            assert!(queue.add(Event::with_key(EventCode::MDownload, &n.to_string())));
        }
        let inform = queue.for_inform();
        assert_eq!(inform.len(), MAX_INFORM_EVENTS);
        assert_eq!(inform[0].code, EventCode::TransferComplete);
        assert!(queue.needs_session());
        queue.on_inform_acknowledged();
        for n in 0..63 {
            assert!(queue.on_rpc_acknowledged(CompletionRpc::TransferComplete, &n.to_string()));
        }
        let next = queue.for_inform();
        assert_eq!(next.len(), 8);
        assert_eq!(next[0].code, EventCode::TransferComplete);
        assert_eq!(next[1].command_key, "63");
    }

    #[test]
    fn queue_size_is_bounded() {
        let mut queue = EventQueue::new();
        for n in 0..MAX_QUEUED_EVENTS - 1 {
            assert!(queue.add(Event::with_key(EventCode::MUpload, &n.to_string())));
        }
        assert_eq!(queue.len(), MAX_QUEUED_EVENTS);
        assert!(!queue.add(Event::with_key(EventCode::MUpload, "full")));
        // A single code already queued still merges.
        assert!(queue.add(Event::new(EventCode::TransferComplete)));
        assert!(!queue.add(Event::new(EventCode::Periodic)));
        assert_eq!(queue.len(), MAX_QUEUED_EVENTS);
    }

    #[test]
    fn reboot_drops_what_does_not_outlive_it() {
        let mut queue = EventQueue::new();
        for code in STANDARD_CODES.iter().filter(|c| !c.is_multiple()) {
            queue.add(Event::new(code.clone()));
        }
        queue.add(Event::with_key(EventCode::MReboot, "rb"));
        queue.for_inform();
        queue.on_reboot();
        assert!(queue.events().all(|e| e.code.survives_reboot()));
        // 15 single codes and M Reboot, less the four lost on reboot.
        assert_eq!(queue.len(), 15 + 1 - 4);
        assert!(queue.needs_session());
    }

    #[test]
    fn command_keys_are_bounded_as_the_schema_says() {
        let long = "é".repeat(1 << 20);
        let event = Event::with_key(EventCode::MReboot, &long);
        assert_eq!(event.command_key, "é".repeat(MAX_COMMAND_KEY_CHARS));
        let start = start_events(&StartFacts {
            last_bootstrap_url: Some("http://acs/"),
            acs_url: "http://acs/",
            system_boot: false,
            reboot_command_key: Some(&long),
        });
        assert!(start
            .events
            .iter()
            .all(|e| e.command_key.chars().count() <= MAX_COMMAND_KEY_CHARS));
        let mut queue = EventQueue::new();
        queue.add(Event::with_key(EventCode::MReboot, &"k".repeat(32)));
        let fits = String::from_utf8(queue.to_bytes()).expect("text");
        assert!(EventQueue::from_bytes(fits.as_bytes()).is_ok(), "{fits}");
        let file = fits.replace(&"k".repeat(32), &"k".repeat(33));
        assert!(
            matches!(
                EventQueue::from_bytes(file.as_bytes()),
                Err(EventError::BadLine { reason, .. }) if reason.contains("longer than 32")
            ),
            "{file}"
        );
    }

    #[test]
    fn persistence_round_trips_odd_keys() {
        let mut queue = EventQueue::new();
        queue.add(Event::new(EventCode::Bootstrap));
        queue.add(Event::new(EventCode::ConnectionRequest));
        queue.add(Event::new(EventCode::AutonomousTransferComplete));
        queue.add(Event::new(EventCode::AutonomousTransferComplete));
        queue.add(Event::with_key(
            EventCode::MDownload,
            "tab\there\nnew%line\r\u{7f}é",
        ));
        queue.add(Event::with_key(EventCode::MReboot, ""));
        queue.add(Event::new(EventCode::Vendor(
            "X ABCDEF SOMETHING HAPPENED".into(),
        )));
        let bytes = queue.to_bytes();
        let text = std::str::from_utf8(&bytes).expect("utf-8");
        assert!(text.starts_with("icwmp-events 1\n0 BOOTSTRAP\t\t0\n"));
        assert!(text.contains("M Download\ttab%09here%0Anew%25line%0D%7Fé\t0\n"));
        assert!(!text.contains("CONNECTION REQUEST"));
        let restored = EventQueue::from_bytes(&bytes).expect("round trip");
        queue.on_session_failed();
        let mut expected = queue.clone();
        expected
            .entries
            .retain(|e| e.event.code != EventCode::ConnectionRequest);
        assert_eq!(restored, expected);
        assert_eq!(restored.to_bytes(), bytes);
        assert_eq!(
            EventQueue::from_bytes(b"icwmp-events 1\n"),
            Ok(EventQueue::new())
        );
    }

    #[test]
    fn corrupt_files_are_typed_errors() {
        let bad_line = |line, reason| Err(EventError::BadLine { line, reason });
        assert_eq!(EventQueue::from_bytes(b""), Err(EventError::BadHeader));
        assert_eq!(
            EventQueue::from_bytes(b"icwmp-events 2\n"),
            Err(EventError::BadHeader)
        );
        assert_eq!(
            EventQueue::from_bytes(b"\xff\xfe"),
            Err(EventError::BadHeader)
        );
        let cases: [(&[u8], _); 8] = [
            (
                b"icwmp-events 1\n2 PERIODIC\t\n",
                bad_line(2, "expected three tab-separated fields"),
            ),
            (
                b"icwmp-events 1\n2 PERIODIC\t\t0\t\n",
                bad_line(2, "expected three tab-separated fields"),
            ),
            (
                b"icwmp-events 1\n2 PERIODIC\t\t0\n\n",
                bad_line(3, "expected three tab-separated fields"),
            ),
            (
                b"icwmp-events 1\n99 NEW\t\t0\n",
                bad_line(2, "unknown event code"),
            ),
            (
                b"icwmp-events 1\nM Download\tk%4\t0\n",
                bad_line(2, "bad %-escape in command key"),
            ),
            (
                b"icwmp-events 1\n2 PERIODIC\t\t-1\n",
                bad_line(2, "bad response count"),
            ),
            (
                b"icwmp-events 1\n2 PERIODIC\t\t1\n",
                bad_line(2, "response count does not fit the event code"),
            ),
            (
                b"icwmp-events 1\n2 PERIODIC\t\t0\n1 BOOT\t\t0\n",
                bad_line(3, "events out of Inform order"),
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(
                EventQueue::from_bytes(bytes),
                expected,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        assert_eq!(
            EventQueue::from_bytes(b"icwmp-events 1\n10 AUTONOMOUS TRANSFER COMPLETE\t\t0\n"),
            bad_line(2, "response count does not fit the event code")
        );
    }

    #[test]
    fn mutated_files_never_panic() {
        let mut queue = EventQueue::new();
        queue.add(Event::new(EventCode::Bootstrap));
        queue.add(Event::new(EventCode::Kicked));
        queue.add(Event::with_key(EventCode::MDownload, "k%\t"));
        queue.add(Event::new(EventCode::Vendor("X 00256D A B".into())));
        let original = queue.to_bytes();
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..5_000 {
            let mut bytes = original.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % bytes.len() as u64) as usize;
                match next() % 3 {
                    0 => bytes[at] = next() as u8,
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, b"\t\n%0 "[(next() % 5) as usize]),
                }
            }
            if let Ok(parsed) = EventQueue::from_bytes(&bytes) {
                assert!(EventQueue::from_bytes(&parsed.to_bytes()).is_ok());
            }
        }
    }

    #[test]
    fn start_events_follow_table_7() {
        let facts = StartFacts {
            last_bootstrap_url: None,
            acs_url: "http://acs:7547",
            system_boot: true,
            reboot_command_key: None,
        };
        let first = start_events(&facts);
        assert!(first.acs_changed);
        assert_eq!(codes(&first.events), ["0 BOOTSTRAP", "1 BOOT"]);

        let restart = start_events(&StartFacts {
            last_bootstrap_url: Some("http://acs:7547"),
            system_boot: false,
            ..facts
        });
        assert!(!restart.acs_changed);
        assert!(restart.events.is_empty());

        let rebooted = start_events(&StartFacts {
            last_bootstrap_url: Some("http://acs:7547"),
            reboot_command_key: Some("reboot-42"),
            ..facts
        });
        assert_eq!(codes(&rebooted.events), ["1 BOOT", "M Reboot"]);
        assert_eq!(rebooted.events[1].command_key, "reboot-42");

        let moved = start_events(&StartFacts {
            last_bootstrap_url: Some("http://old-acs"),
            system_boot: false,
            reboot_command_key: Some("reboot-42"),
            ..facts
        });
        assert!(moved.acs_changed);
        assert_eq!(codes(&moved.events), ["0 BOOTSTRAP", "1 BOOT"]);
    }

    #[test]
    fn daemon_start_sequence() {
        // Before the reboot: a value change and a download result were queued.
        let mut before = EventQueue::new();
        before.add(Event::new(EventCode::ValueChange));
        before.add(Event::with_key(EventCode::MDownload, "fw"));
        let saved = before.to_bytes();

        let mut queue = EventQueue::from_bytes(&saved).expect("saved queue");
        queue.on_reboot();
        let start = start_events(&StartFacts {
            last_bootstrap_url: Some("http://acs"),
            acs_url: "http://acs",
            system_boot: true,
            reboot_command_key: Some("k"),
        });
        for event in start.events {
            assert!(queue.add(event));
        }
        assert_eq!(
            queued(&queue),
            [
                "1 BOOT",
                "7 TRANSFER COMPLETE",
                "M Reboot/k",
                "M Download/fw"
            ]
        );
    }
}
