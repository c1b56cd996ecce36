//! The ACS side of the loop: one CWMP session driven over the non-blocking HTTP client.
//!
//! [`AcsLink`] joins the pure [`Session`] machine to the [`HttpClient`]: each
//! HTTP answer is fed to the session, each envelope the session returns is
//! POSTed on the same kept-alive connection. Cookies live for one session;
//! a redirect moves the rest of the session to the new URL (TR-069 3.4.5).

use std::time::Instant;

use log::info;
use mio::event::Event;
use mio::{Registry, Token};

use crate::cwmp::session::{Acknowledged, AcsRequestHandler, Action, Session, SessionError};
use crate::redact::{self, Direction};
use crate::transport::http_client::{
    HttpClient, HttpConfig, HttpError, HttpOutcome, Request, RequestBody, ResponseBody,
};
use crate::wire::soap::{CwmpVersion, Inform, Limits, Rpc};

/// Content type of the CPE's envelopes.
const SOAP_CONTENT_TYPE: &str = "text/xml; charset=\"utf-8\"";

/// A session in progress and the HTTP client that carries it.
pub struct AcsLink {
    http: HttpClient,
    token: Token,
    session: Option<Session>,
    /// Where this session's POSTs go (changes on a redirect).
    url: String,
    /// CPE requests the last session could not send (held by the ACS).
    unsent: Vec<Rpc>,
}

/// Everything a session starts with.
#[derive(Clone, Debug)]
pub struct SessionOpening {
    pub url: String,
    pub inform: Inform,
    /// The CPE's own requests (TransferComplete, GetRPCMethods, …), in order.
    pub cpe_requests: Vec<Rpc>,
    /// The highest version to offer.
    pub version: CwmpVersion,
    /// Seconds the ACS may take to answer (`SessionTimeout`).
    pub session_timeout: u32,
}

/// How a session attempt ended.
#[derive(Debug)]
pub enum LinkError {
    Http(HttpError),
    Session(SessionError),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Http(e) => write!(f, "HTTP: {e}"),
            LinkError::Session(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for LinkError {}

impl AcsLink {
    /// A link whose connection is registered under `token`.
    pub fn new(config: HttpConfig, token: Token) -> Result<AcsLink, HttpError> {
        Ok(AcsLink {
            http: HttpClient::new(config)?,
            token,
            session: None,
            url: String::new(),
            unsent: Vec::new(),
        })
    }

    /// The CPE requests the last session ended without sending.
    pub fn take_unsent(&mut self) -> Vec<Rpc> {
        std::mem::take(&mut self.unsent)
    }

    /// Whether a session is running.
    pub fn busy(&self) -> bool {
        self.session.is_some()
    }

    /// Opens a session: POSTs the Inform.
    pub fn start(
        &mut self,
        registry: &Registry,
        opening: SessionOpening,
        now: Instant,
    ) -> Result<(), LinkError> {
        self.url = opening.url;
        let (session, action) = Session::start(
            opening.inform,
            opening.cpe_requests,
            opening.version,
            Some(opening.session_timeout),
            Limits::default(),
        );
        self.session = Some(session);
        match action {
            Action::Post(body) => {
                info!("Send the Inform RPC message to the ACS");
                self.post(registry, body, now)
                    .inspect_err(|_| self.finish(registry))
            }
            Action::Done(result) => {
                self.finish(registry);
                result.map_err(LinkError::Session)
            }
        }
    }

    fn post(&mut self, registry: &Registry, body: Vec<u8>, now: Instant) -> Result<(), LinkError> {
        let mut request = Request::post(&self.url, SOAP_CONTENT_TYPE, Vec::new());
        if body.is_empty() {
            info!("Send empty message to the ACS");
            request.content_type = None;
            request.body = RequestBody::Empty;
        } else {
            redact::debug_envelope(Direction::Out, &body);
            request.headers.push(("SOAPAction".into(), String::new()));
            request.body = RequestBody::Memory(body);
        }
        self.http
            .start(registry, self.token, request, now)
            .map_err(LinkError::Http)
    }

    /// When the link next needs [`AcsLink::handle_timeout`].
    pub fn poll_at(&self) -> Option<Instant> {
        self.http.poll_at()
    }

    /// Handles readiness of the link's socket. Returns the session's end, if it ended.
    pub fn handle_event(
        &mut self,
        registry: &Registry,
        event: &Event,
        now: Instant,
        handler: &mut dyn AcsRequestHandler,
        acks: &mut Vec<Acknowledged>,
    ) -> Option<Result<(), LinkError>> {
        let outcome = self.http.handle_event(registry, event, now)?;
        self.on_outcome(registry, outcome, now, handler, acks)
    }

    /// Runs the link's timers (connect, idle). Returns the session's end, if it ended.
    pub fn handle_timeout(
        &mut self,
        registry: &Registry,
        now: Instant,
        handler: &mut dyn AcsRequestHandler,
        acks: &mut Vec<Acknowledged>,
    ) -> Option<Result<(), LinkError>> {
        let outcome = self.http.handle_timeout(registry, now)?;
        self.on_outcome(registry, outcome, now, handler, acks)
    }

    fn on_outcome(
        &mut self,
        registry: &Registry,
        outcome: HttpOutcome,
        now: Instant,
        handler: &mut dyn AcsRequestHandler,
        acks: &mut Vec<Acknowledged>,
    ) -> Option<Result<(), LinkError>> {
        let session = self.session.as_mut()?;
        let response = match outcome {
            HttpOutcome::Response(response) => response,
            HttpOutcome::Error(e) => {
                self.finish(registry);
                return Some(Err(LinkError::Http(e)));
            }
        };
        if response.url != self.url {
            info!(
                "ACS redirected the session to {}",
                redact::url(&response.url)
            );
            self.url = response.url.clone();
        }
        let body = match &response.body {
            ResponseBody::Memory(bytes) => bytes.as_slice(),
            ResponseBody::File { .. } => &[],
        };
        if response.status == 204 {
            info!("Receive HTTP 204 No Content");
        }
        redact::debug_envelope(Direction::In, body);
        let action = session.on_response(response.status, body, handler, acks);
        match action {
            Action::Post(next) => match self.post(registry, next, now) {
                Ok(()) => None,
                Err(e) => {
                    self.finish(registry);
                    Some(Err(e))
                }
            },
            Action::Done(result) => {
                self.finish(registry);
                Some(result.map_err(LinkError::Session))
            }
        }
    }

    /// Ends the session: its cookies die with it and the CPE closes the
    /// connection (TR-069 3.2.2: the session ends with its TCP connection).
    fn finish(&mut self, registry: &Registry) {
        if let Some(mut session) = self.session.take() {
            self.unsent = session.take_unsent();
        }
        self.http.clear_cookies();
        self.http.close(registry);
    }
}
