//! The BulkData service of the loop: collects each enabled profile's parameters at its reporting times and sends the reports over HTTP(S).
//!
//! A report is built in slices, one step per loop turn: one parameter
//! reference collected from the data model, or [`ENCODE_SLICE`] parameters
//! encoded. Reports go out one at a time through the project's non-blocking
//! HTTP client (TLS, Basic/Digest). A failed report is retried with the
//! profile's back-off while the next report is not yet due; then it is
//! retained (up to `NumberOfRetainedFailedReports`, oldest dropped first) and
//! sent again inside the next report. Retained reports of profiles with
//! `PersistAcrossReboot` are kept in `<state_dir>/bulkdata_reports`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use mio::event::Event;

use super::profile::{self, BulkStore, ParameterRef, Profile, MAX_PARAMETER_REFERENCES};
use super::report::{self, Encoding, Item, ItemEncoder, JsonFormat};
use super::schedule;
use crate::cwmp::datetime;
use crate::cwmp::params::XsdType;
use crate::fsutil;
use crate::service::{Context, Service, Tokens};
use crate::transport::http_client::{
    BodySink, HttpClient, HttpConfig, HttpOutcome, Method, Request, RequestBody,
};
use crate::vecmap::VecMap;
use crate::wire::content_coding::Encoder;
use crate::wire::digest::Credentials;

/// Parameters encoded per loop turn.
pub const ENCODE_SLICE: usize = 2_000;
/// Body bytes compressed per loop turn.
const PACK_SLICE: usize = 64 * 1024;
/// Retained reports kept per profile when `NumberOfRetainedFailedReports` is -1.
const MAX_RETAINED: usize = 64;
/// Bytes of retained reports kept per profile; past it the oldest go first.
const MAX_RETAINED_BYTES: usize = 4 << 20;
const REPORTS_FILE: &str = "bulkdata_reports";
const REPORTS_HEADER: &str = "icwmp-bulkdata-reports 1";

/// A report on its way out, with the retained ones it carries.
struct Outbox {
    items: Vec<Item>,
    /// Retries made so far.
    retries: u32,
    /// Unix time of the next attempt.
    due: i64,
}

/// A profile and where it stands.
struct ProfileRun {
    profile: Profile,
    /// Unix time the current reporting intervals are counted from (no TimeReference).
    started: i64,
    next_report: i64,
    retained: VecDeque<Item>,
    outbox: Option<Outbox>,
}

/// A report being built.
struct Build {
    profile: u32,
    encoding: Encoding,
    collected_at_ms: i64,
    references: Vec<ParameterRef>,
    next_reference: usize,
    /// (path, report name, value, type) as collected.
    values: Vec<(String, String, String, XsdType)>,
    encoder: Option<ItemEncoder>,
    encoded: usize,
}

/// A report body being compressed, a slice per loop turn, before it is sent.
struct Packing {
    profile: u32,
    body: Vec<u8>,
    done: usize,
    /// `None`: sent as it is.
    encoder: Option<Encoder>,
    packed: Vec<u8>,
}

/// The BulkData collector; see the module documentation.
pub struct BulkDataCollector {
    tokens: Tokens,
    store: Rc<RefCell<BulkStore>>,
    seen_generation: Option<u64>,
    enabled: bool,
    runs: VecMap<u32, ProfileRun>,
    build: Option<Build>,
    packing: Option<Packing>,
    http: Option<HttpClient>,
    /// The profile whose report is in flight.
    sending: Option<u32>,
    reports_file: Option<PathBuf>,
    /// A monotonic instant and the unix time it stood for (to turn report times into deadlines).
    clock: Option<(Instant, i64)>,
    random_state: u32,
}

impl BulkDataCollector {
    pub fn new(tokens: Tokens, store: Rc<RefCell<BulkStore>>) -> BulkDataCollector {
        BulkDataCollector {
            tokens,
            store,
            seen_generation: None,
            enabled: false,
            runs: VecMap::new(),
            build: None,
            packing: None,
            http: None,
            sending: None,
            reports_file: None,
            clock: None,
            random_state: 0x9e37_79b9,
        }
    }

    fn random(&mut self) -> u32 {
        if let Some(bytes) = crate::transport::random16() {
            return u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        self.random_state ^= self.random_state << 13;
        self.random_state ^= self.random_state >> 17;
        self.random_state ^= self.random_state << 5;
        self.random_state
    }

    fn instant_of(&self, unix: i64) -> Option<Instant> {
        let (base, base_unix) = self.clock?;
        let ahead = u64::try_from(unix.saturating_sub(base_unix)).unwrap_or(0);
        Some(base + Duration::from_secs(ahead))
    }

    /// Rereads the profiles after a change of the store.
    fn refresh(&mut self, unix: i64) {
        let store = self.store.borrow();
        if self.seen_generation == Some(store.generation) {
            return;
        }
        self.seen_generation = Some(store.generation);
        self.enabled = profile::globally_enabled(&store);
        let numbers = store.instances("Profile.");
        let mut runs = VecMap::new();
        for number in numbers {
            let profile = Profile::read(&store, number);
            if !profile.runnable() {
                continue;
            }
            let run = match self.runs.remove(&number) {
                Some(mut run) => {
                    let timing_changed = run.profile.reporting_interval
                        != profile.reporting_interval
                        || run.profile.time_reference != profile.time_reference
                        || !run.profile.enable;
                    if run.profile.encoding.type_name() != profile.encoding.type_name() {
                        // TR-181: a new EncodingType deletes the retained reports.
                        run.retained.clear();
                        run.outbox = None;
                    }
                    if timing_changed {
                        // The first reporting interval begins immediately.
                        run.started = unix;
                        run.next_report = schedule::next_report(
                            unix,
                            profile.reporting_interval,
                            profile.time_reference,
                            unix,
                        );
                    }
                    run.profile = profile;
                    run
                }
                None => ProfileRun {
                    next_report: schedule::next_report(
                        unix,
                        profile.reporting_interval,
                        profile.time_reference,
                        unix,
                    ),
                    started: unix,
                    profile,
                    retained: VecDeque::new(),
                    outbox: None,
                },
            };
            runs.insert(number, run);
        }
        drop(store);
        self.runs = runs;
        if self
            .build
            .as_ref()
            .is_some_and(|b| !self.runs.contains_key(&b.profile))
        {
            self.build = None;
        }
    }

    /// Starts the report of a due profile (one build at a time).
    fn start_due_report(&mut self, unix: i64) {
        if self.build.is_some() || !self.enabled {
            return;
        }
        let due = self
            .runs
            .iter()
            .filter(|(number, run)| {
                run.next_report <= unix
                    && self.sending != Some(**number)
                    && self.packing.as_ref().map(|p| p.profile) != Some(**number)
            })
            .map(|(number, _)| *number)
            .next();
        let Some(number) = due else {
            return;
        };
        let Some(run) = self.runs.get_mut(&number) else {
            return;
        };
        // A report still failing when the next is due is retained with it.
        if let Some(outbox) = run.outbox.take() {
            retain(run, outbox.items);
        }
        run.next_report = schedule::next_report(
            unix,
            run.profile.reporting_interval,
            run.profile.time_reference,
            run.started,
        );
        self.build = Some(Build {
            profile: number,
            encoding: run.profile.encoding.clone(),
            collected_at_ms: unix.saturating_mul(1000),
            references: run.profile.parameters.clone(),
            next_reference: 0,
            values: Vec::new(),
            encoder: None,
            encoded: 0,
        });
    }

    /// One slice of the build under way.
    fn build_step(&mut self, cx: &mut Context) {
        let Some(build) = self.build.as_mut() else {
            return;
        };
        if let Some(reference) = build.references.get(build.next_reference).cloned() {
            build.next_reference += 1;
            if !reference.exclude {
                collect(cx, &reference, &mut build.values);
            }
            return;
        }
        if build.encoder.is_none() {
            let excluded: Vec<&ParameterRef> =
                build.references.iter().filter(|r| r.exclude).collect();
            build
                .values
                .retain(|(path, ..)| !excluded.iter().any(|r| matches(&r.reference, path)));
            if matches!(
                build.encoding,
                Encoding::Json {
                    format: JsonFormat::ObjectHierarchy,
                    ..
                }
            ) {
                build.values.sort_by(|a, b| a.1.cmp(&b.1));
            }
            build.encoder = Some(ItemEncoder::new(&build.encoding, build.collected_at_ms));
            return;
        }
        let end = (build.encoded + ENCODE_SLICE).min(build.values.len());
        if let Some(encoder) = build.encoder.as_mut() {
            for (_, name, value, xsd_type) in build.values.get(build.encoded..end).unwrap_or(&[]) {
                encoder.push(name, value, *xsd_type);
            }
        }
        build.encoded = end;
        if end < build.values.len() {
            return;
        }
        let Some(build) = self.build.take() else {
            return;
        };
        let Some(encoder) = build.encoder else {
            return;
        };
        let item = encoder.finish();
        let unix = cx.unix;
        if let Some(run) = self.runs.get_mut(&build.profile) {
            let mut items: Vec<Item> = run.retained.drain(..).collect();
            items.push(item);
            run.outbox = Some(Outbox {
                items,
                retries: 0,
                due: unix,
            });
        }
    }

    /// Prepares and sends the next report that is due, if the client is free:
    /// the body is compressed a slice per turn, then the request starts.
    fn send_due(&mut self, cx: &mut Context) {
        if self.sending.is_some() {
            return;
        }
        let unix = cx.unix;
        if self.packing.is_none() {
            let Some((number, run)) = self
                .runs
                .iter()
                .find(|(_, run)| run.outbox.as_ref().is_some_and(|o| o.due <= unix))
            else {
                return;
            };
            let items = run.outbox.as_ref().map_or(&[][..], |o| &o.items);
            self.packing = Some(Packing {
                profile: *number,
                body: report::assemble(&run.profile.encoding, items),
                done: 0,
                encoder: run.profile.http.compression.map(Encoder::new),
                packed: Vec::new(),
            });
        }
        let Some(packing) = self.packing.as_mut() else {
            return;
        };
        if let Some(encoder) = packing.encoder.as_mut() {
            let end = (packing.done + PACK_SLICE).min(packing.body.len());
            encoder.write(
                packing.body.get(packing.done..end).unwrap_or(&[]),
                &mut packing.packed,
            );
            packing.done = end;
            if end < packing.body.len() {
                return;
            }
        }
        let Some(mut packing) = self.packing.take() else {
            return;
        };
        let number = packing.profile;
        let body = match packing.encoder.take() {
            Some(encoder) => {
                encoder.finish(&mut packing.packed);
                packing.packed
            }
            None => packing.body,
        };
        let Some(run) = self.runs.get(&number) else {
            return;
        };
        let request = report_request(cx, &run.profile, body);
        let Some(http) = self.http.as_mut() else {
            return;
        };
        let http_settings = &run.profile.http;
        http.set_credentials((!http_settings.username.is_empty()).then(|| Credentials {
            username: http_settings.username.clone(),
            password: http_settings.password.clone(),
        }));
        match http.start(cx.registry, self.tokens.token(0), request, cx.now) {
            Ok(()) => self.sending = Some(number),
            Err(e) => {
                log::warn!("BulkData profile {number}: {e}");
                self.on_failure(number, unix);
            }
        }
    }

    fn on_outcome(&mut self, outcome: HttpOutcome, unix: i64) {
        let Some(number) = self.sending.take() else {
            return;
        };
        if let Some(http) = self.http.as_mut() {
            // One report per connection: collectors are not kept-alive between reports.
            http.clear_cookies();
        }
        match outcome {
            HttpOutcome::Response(response) if (200..300).contains(&response.status) => {
                log::info!(
                    "BulkData profile {number}: report sent ({})",
                    response.status
                );
                if let Some(run) = self.runs.get_mut(&number) {
                    run.outbox = None;
                }
                self.store.borrow_mut().error = false;
                self.save_retained();
            }
            HttpOutcome::Response(response) => {
                log::warn!(
                    "BulkData profile {number}: collector answered {}",
                    response.status
                );
                self.on_failure(number, unix);
            }
            HttpOutcome::Error(e) => {
                log::warn!("BulkData profile {number}: {e}");
                self.on_failure(number, unix);
            }
        }
    }

    /// Retry if allowed before the next report, else retain.
    fn on_failure(&mut self, number: u32, unix: i64) {
        self.store.borrow_mut().error = true;
        let random = self.random();
        let Some(run) = self.runs.get_mut(&number) else {
            return;
        };
        let Some(mut outbox) = run.outbox.take() else {
            return;
        };
        let http = &run.profile.http;
        if http.retry_enable {
            outbox.retries += 1;
            let wait = schedule::retry_wait(
                http.retry_min_wait,
                http.retry_multiplier,
                outbox.retries,
                random,
            );
            let due = unix.saturating_add(i64::try_from(wait).unwrap_or(i64::MAX));
            if due < run.next_report {
                outbox.due = due;
                run.outbox = Some(outbox);
                return;
            }
        }
        retain(run, outbox.items);
        self.save_retained();
    }

    /// Writes the retained reports of the profiles that persist them.
    fn save_retained(&self) {
        let Some(file) = &self.reports_file else {
            return;
        };
        let mut text = String::from(REPORTS_HEADER);
        text.push('\n');
        for (number, run) in &self.runs {
            if !run.profile.http.persist_across_reboot {
                continue;
            }
            let pending = run.outbox.iter().flat_map(|o| o.items.iter());
            for item in run.retained.iter().chain(pending) {
                text.push_str(&format!(
                    "item {number} {} {}\t{}\n",
                    run.profile.encoding.type_name(),
                    escape_tab(&item.header),
                    escape_tab(&item.body)
                ));
            }
        }
        if let Err(e) = fsutil::atomic_write(file, text.as_bytes()) {
            log::warn!("BulkData: cannot save retained reports: {e}");
        }
    }

    /// Loads retained reports saved before a restart.
    fn load_retained(&mut self) {
        let Some(file) = &self.reports_file else {
            return;
        };
        let Ok(text) = std::fs::read_to_string(file) else {
            return;
        };
        let mut lines = text.lines();
        if lines.next() != Some(REPORTS_HEADER) {
            log::warn!("BulkData: {} unreadable, ignored", file.display());
            return;
        }
        for line in lines {
            let mut fields = line.splitn(4, ' ');
            let (Some("item"), Some(number), Some(kind), Some(rest)) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let Some((header, body)) = rest.split_once('\t') else {
                continue;
            };
            let (Ok(number), Some(header), Some(body)) = (
                number.parse::<u32>(),
                profile::unescape(&unescape_tab(header)),
                profile::unescape(&unescape_tab(body)),
            ) else {
                continue;
            };
            if let Some(run) = self.runs.get_mut(&number) {
                if run.profile.encoding.type_name() == kind
                    && run.profile.http.persist_across_reboot
                {
                    run.retained.push_back(Item { header, body });
                }
            }
        }
        for run in self.runs.values_mut() {
            let limit = retain_limit(run.profile.retained);
            while run.retained.len() > limit {
                run.retained.pop_front();
            }
        }
    }
}

fn escape_tab(text: &str) -> String {
    profile::escape(text).replace('\t', "\\t")
}

/// Turns `\t` back into a tab, leaving the other escapes for `profile::unescape`.
fn unescape_tab(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('t') => out.push('\t'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn retain_limit(configured: i32) -> usize {
    usize::try_from(configured).map_or(MAX_RETAINED, |n| n.min(MAX_RETAINED))
}

/// Keeps the newest `NumberOfRetainedFailedReports` of `items` for the next
/// report, and no more than [`MAX_RETAINED_BYTES`] of them.
fn retain(run: &mut ProfileRun, items: Vec<Item>) {
    let limit = retain_limit(run.profile.retained);
    run.retained.extend(items);
    let mut bytes: usize = run.retained.iter().map(item_bytes).sum();
    while run.retained.len() > limit || (bytes > MAX_RETAINED_BYTES && !run.retained.is_empty()) {
        if let Some(dropped) = run.retained.pop_front() {
            bytes = bytes.saturating_sub(item_bytes(&dropped));
        }
    }
}

fn item_bytes(item: &Item) -> usize {
    item.header.len() + item.body.len()
}

/// Whether `path` is selected by `reference` (`*` stands for one instance
/// number; a reference ending in `.` selects everything below it).
pub fn matches(reference: &str, path: &str) -> bool {
    let partial = reference.ends_with('.');
    let mut wanted = reference.trim_end_matches('.').split('.');
    let mut got = path.split('.');
    loop {
        match (wanted.next(), got.next()) {
            (None, None) => return true,
            (None, Some(_)) => return partial,
            (Some(_), None) => return false,
            (Some("*"), Some(segment)) => {
                if segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_digit()) {
                    return false;
                }
            }
            (Some(w), Some(segment)) => {
                if w != segment {
                    return false;
                }
            }
        }
    }
}

/// The name of `path` in the report (TR-069 N.3.1): the path itself when
/// Name is empty; Name for a single parameter; otherwise Name followed by
/// what the path adds after the reference's fixed part (up to its first `*`).
pub fn report_name(reference: &ParameterRef, path: &str) -> String {
    if reference.name.is_empty() {
        return path.to_owned();
    }
    let wildcard = reference.reference.split('.').any(|s| s == "*");
    if !wildcard && !reference.reference.ends_with('.') {
        return reference.name.clone();
    }
    let fixed = match reference.reference.find(".*") {
        Some(at) => reference.reference.get(..=at).unwrap_or(""),
        None => reference.reference.as_str(),
    };
    let rest = path.get(fixed.len()..).unwrap_or("");
    format!("{}.{rest}", reference.name)
}

/// Collects the parameters one reference selects.
fn collect(
    cx: &mut Context,
    reference: &ParameterRef,
    values: &mut Vec<(String, String, String, XsdType)>,
) {
    let query = match reference.reference.find(".*") {
        Some(at) => reference.reference.get(..=at).unwrap_or(""),
        None => reference.reference.as_str(),
    };
    let Ok(found) = cx.dm.get_values(&[query]) else {
        return;
    };
    for value in found {
        if values.len() >= MAX_PARAMETER_REFERENCES {
            log::warn!("BulkData: report capped at {MAX_PARAMETER_REFERENCES} parameters");
            return;
        }
        if matches(&reference.reference, &value.name) {
            let name = report_name(reference, &value.name);
            values.push((value.name, name, value.value, value.xsd_type));
        }
    }
}

/// The HTTP request of a report: method, URL with its Request-URI
/// parameters (N.2.1), headers (N.2.2), and the body (already compressed as configured).
fn report_request(cx: &mut Context, profile: &Profile, body: Vec<u8>) -> Request {
    let http = &profile.http;
    let mut url = http.url.clone();
    for parameter in &http.uri_parameters {
        let value = cx
            .dm
            .get_values(&[parameter.reference.as_str()])
            .ok()
            .and_then(|mut v| v.pop())
            .map(|v| v.value)
            .unwrap_or_default();
        let name = if parameter.name.is_empty() {
            &parameter.reference
        } else {
            &parameter.name
        };
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&percent_encode(name));
        url.push('=');
        url.push_str(&percent_encode(&value));
    }
    let mut headers = vec![(
        "BBF-Report-Format".to_owned(),
        profile.encoding.report_format().to_owned(),
    )];
    if http.use_date_header {
        headers.push(("Date".to_owned(), http_date(cx.unix)));
    }
    if let Some(coding) = http.compression {
        headers.push(("Content-Encoding".to_owned(), coding.token().to_owned()));
    }
    Request {
        method: if http.put { Method::Put } else { Method::Post },
        url,
        headers,
        body: RequestBody::Memory(body),
        content_type: Some(profile.encoding.content_type().to_owned()),
        sink: BodySink::Memory,
    }
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// An RFC 7231 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // `YYYY-MM-DDTHH:MM:SSZ`
    let iso = datetime::format_utc(unix);
    let field = |range: std::ops::Range<usize>| iso.get(range).unwrap_or("");
    let month = field(5..7)
        .parse::<usize>()
        .ok()
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .unwrap_or(&"Jan");
    let weekday = DAYS
        .get(usize::try_from(unix.div_euclid(86_400).rem_euclid(7)).unwrap_or(0))
        .unwrap_or(&"Thu");
    format!(
        "{weekday}, {} {month} {} {} GMT",
        field(8..10),
        field(0..4),
        field(11..19)
    )
}

impl Service for BulkDataCollector {
    fn name(&self) -> &'static str {
        "bulkdata"
    }

    fn configure(&mut self, cx: &mut Context) {
        let capath = &cx.config.acs.https_ssl_capath;
        let config = HttpConfig {
            ssl_capath: (!capath.is_empty()).then(|| capath.clone().into()),
            max_response_body: 64 * 1024,
            ..HttpConfig::default()
        };
        if self.sending.is_none() {
            match HttpClient::new(config) {
                Ok(client) => {
                    if let Some(mut old) = self.http.replace(client) {
                        old.close(cx.registry);
                    }
                }
                Err(e) => log::error!("BulkData HTTP client: {e}"),
            }
        }
        self.clock = Some((cx.now, cx.unix));
        // Settings changed with the `icwmp` CLI take effect at a reload.
        if self.store.borrow_mut().reload_if_changed() {
            log::info!("BulkData settings reread from the state directory");
        }
        let first = self.reports_file.is_none();
        self.reports_file = Some(cx.config.cpe.state_dir.join(REPORTS_FILE));
        self.refresh(cx.unix);
        if first {
            self.load_retained();
        }
    }

    fn ready(&mut self, cx: &mut Context, event: &Event) {
        self.clock = Some((cx.now, cx.unix));
        let outcome = self
            .http
            .as_mut()
            .and_then(|http| http.handle_event(cx.registry, event, cx.now));
        if let Some(outcome) = outcome {
            self.on_outcome(outcome, cx.unix);
        }
    }

    fn poll_at(&self) -> Option<Instant> {
        let (now, _) = self.clock?;
        if self.build.is_some() || self.packing.is_some() {
            return Some(now);
        }
        let mut earliest = self.http.as_ref().and_then(HttpClient::poll_at);
        let mut consider = |at: Option<Instant>| {
            earliest = match (earliest, at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        };
        // A change of the settings shows at the next turn.
        if self.seen_generation != Some(self.store.borrow().generation) {
            consider(Some(now));
        }
        if self.enabled {
            for run in self.runs.values() {
                consider(self.instant_of(run.next_report));
                if self.sending.is_none() {
                    consider(run.outbox.as_ref().and_then(|o| self.instant_of(o.due)));
                }
            }
        }
        earliest
    }

    fn run_due(&mut self, cx: &mut Context) {
        self.clock = Some((cx.now, cx.unix));
        let outcome = self
            .http
            .as_mut()
            .and_then(|http| http.handle_timeout(cx.registry, cx.now));
        if let Some(outcome) = outcome {
            self.on_outcome(outcome, cx.unix);
        }
        self.refresh(cx.unix);
        if !self.enabled {
            self.build = None;
            self.packing = None;
            return;
        }
        // A clock set back: report times more than an interval ahead are recomputed.
        for run in self.runs.values_mut() {
            let interval = i64::from(run.profile.reporting_interval);
            if run.next_report > cx.unix.saturating_add(interval) {
                run.started = cx.unix;
                run.next_report = schedule::next_report(
                    cx.unix,
                    run.profile.reporting_interval,
                    run.profile.time_reference,
                    cx.unix,
                );
            }
        }
        self.build_step(cx);
        self.start_due_report(cx.unix);
        self.send_due(cx);
    }

    fn session_ended(&mut self, cx: &mut Context) {
        self.clock = Some((cx.now, cx.unix));
        self.refresh(cx.unix);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(name: &str, path: &str) -> ParameterRef {
        ParameterRef {
            name: name.into(),
            reference: path.into(),
            exclude: false,
        }
    }

    #[test]
    fn references_match_wildcards_and_partial_paths() {
        assert!(matches(
            "Device.WiFi.Radio.*.Stats.",
            "Device.WiFi.Radio.2.Stats.BytesSent"
        ));
        assert!(!matches(
            "Device.WiFi.Radio.*.Stats.",
            "Device.WiFi.Radio.x.Stats.BytesSent"
        ));
        assert!(!matches(
            "Device.WiFi.Radio.*.Stats.",
            "Device.WiFi.Radio.2.Enable"
        ));
        assert!(matches(
            "Device.DeviceInfo.UpTime",
            "Device.DeviceInfo.UpTime"
        ));
        assert!(!matches(
            "Device.DeviceInfo.UpTime",
            "Device.DeviceInfo.UpTimeX"
        ));
        assert!(!matches("Device.DeviceInfo.Up", "Device.DeviceInfo.UpTime"));
        assert!(matches("Device.", "Device.DeviceInfo.UpTime"));
    }

    #[test]
    fn report_names_follow_the_name_parameter() {
        let path = "Device.WiFi.Radio.2.Stats.BytesSent";
        assert_eq!(
            report_name(&reference("", "Device.WiFi.Radio.*.Stats."), path),
            path
        );
        assert_eq!(
            report_name(&reference("Radio", "Device.WiFi.Radio.*.Stats."), path),
            "Radio.2.Stats.BytesSent"
        );
        assert_eq!(
            report_name(
                &reference("Up", "Device.DeviceInfo.UpTime"),
                "Device.DeviceInfo.UpTime"
            ),
            "Up"
        );
        assert_eq!(
            report_name(
                &reference("DI", "Device.DeviceInfo."),
                "Device.DeviceInfo.UpTime"
            ),
            "DI.UpTime"
        );
    }

    #[test]
    fn http_dates_and_uri_encoding() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(percent_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn retention_keeps_the_newest() {
        assert_eq!(retain_limit(-1), MAX_RETAINED);
        assert_eq!(retain_limit(0), 0);
        assert_eq!(retain_limit(3), 3);
        let mut profile = Profile::read(&BulkStore::in_memory(), 1);
        profile.retained = -1;
        let mut run = ProfileRun {
            profile,
            started: 0,
            next_report: 0,
            retained: VecDeque::new(),
            outbox: None,
        };
        let item = |n: usize, len: usize| Item {
            header: String::new(),
            body: format!("{n}{}", " ".repeat(len)),
        };
        retain(&mut run, (0..3).map(|n| item(n, 10)).collect());
        assert_eq!(run.retained.len(), 3);
        // Big reports: only the newest that fit in the byte budget stay.
        retain(&mut run, (3..8).map(|n| item(n, 1 << 20)).collect());
        let kept: Vec<String> = run
            .retained
            .iter()
            .map(|i| i.body.trim().to_owned())
            .collect();
        assert_eq!(kept, ["5", "6", "7"]);
        run.profile.retained = 1;
        retain(&mut run, vec![item(8, 10)]);
        assert_eq!(run.retained.len(), 1);
        assert_eq!(run.retained[0].body.trim(), "8");
        assert_eq!(
            unescape_tab(&escape_tab("a\tb\\n")),
            profile::escape("a\tb\\n")
        );
    }
}
