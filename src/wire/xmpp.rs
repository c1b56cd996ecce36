//! XMPP client stream (RFC 6120): stanza framing, stanza parsing, what the client sends, and the connection-request check of TR-069 Annex K.
//!
//! An XMPP stream is one XML document that never ends while the connection
//! lives, so a whole-document parser cannot read it. [`StreamFramer`] is a
//! small tokenizer that only finds where each top-level element (stanza)
//! ends, with limits on size and depth; each complete stanza is then parsed
//! on its own with roxmltree ([`parse_stanza`]), inside a wrapper element that
//! declares the stream's namespaces. Comments, processing instructions and
//! DTDs are refused as RFC 6120 11.1 requires.

use std::fmt;

use super::digest::{base64_decode, base64_encode, constant_time_eq};

pub const NS_CLIENT: &str = "jabber:client";
pub const NS_STREAMS: &str = "http://etherx.jabber.org/streams";
pub const NS_TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
pub const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
pub const NS_BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
pub const NS_SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
pub const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
pub const NS_PING: &str = "urn:xmpp:ping";
/// The connection-request namespace (`cwmp-xmppConnReq-1-0.xsd`).
pub const NS_CONN_REQ: &str = "urn:broadband-forum-org:cwmp:xmppConnReq-1-0";

/// Largest stanza accepted (the stream is closed beyond it).
pub const MAX_STANZA: usize = 64 * 1024;
/// Largest stream header (or XML declaration, or closing tag).
pub const MAX_HEADER: usize = 4096;
/// Deepest element nesting accepted inside one stanza.
pub const MAX_DEPTH: usize = 32;
/// Most XML nodes in one stanza.
const MAX_NODES: u32 = 2048;

/// Why the stream cannot be read on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// A stanza (or the stream header) grew past [`MAX_STANZA`].
    TooLarge,
    /// Elements nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// XML that RFC 6120 forbids on a stream (comment, PI, DTD).
    Restricted(&'static str),
    /// Not XML as a stream carries it.
    Malformed(&'static str),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge => write!(f, "stanza larger than {MAX_STANZA} bytes"),
            FrameError::TooDeep => write!(f, "elements nested deeper than {MAX_DEPTH}"),
            FrameError::Restricted(what) => write!(f, "restricted XML: {what}"),
            FrameError::Malformed(what) => write!(f, "malformed stream: {what}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// One unit of the incoming stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// The server's `<stream:stream …>` header.
    StreamOpen(StreamHeader),
    /// One complete top-level element, as received.
    Stanza(Vec<u8>),
    /// `</stream:stream>`.
    StreamClose,
}

/// What the stream header says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamHeader {
    pub id: String,
    pub from: String,
    pub version: String,
}

/// Splits the incoming byte stream into frames.
#[derive(Clone, Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
    opened: bool,
    /// The scan of the stanza at the start of `buf`.
    scan: Scan,
    /// The XML declaration was seen (only one may precede the header).
    declared: bool,
}

/// Where `needle` starts in `hay` at or after `from`.
fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The index just past the `>` closing the tag that starts at `start`
/// (quoted attribute values may hold `>`).
fn tag_end(buf: &[u8], start: usize) -> Result<Option<usize>, FrameError> {
    let mut quote = None;
    for (i, &b) in buf.iter().enumerate().skip(start + 1) {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'"' | b'\'' => quote = Some(b),
                b'<' => return Err(FrameError::Malformed("'<' inside a tag")),
                b'>' => return Ok(Some(i + 1)),
                _ => {}
            },
        }
    }
    Ok(None)
}

/// How far the scan of an incomplete stanza got, so more bytes resume it
/// instead of scanning again from the start (every byte is looked at once).
#[derive(Clone, Copy, Debug, Default)]
struct Scan {
    /// The next byte to look at.
    pos: usize,
    depth: usize,
    /// Inside a tag that starts here.
    tag_start: Option<usize>,
    /// Inside a quoted attribute value of that tag.
    quote: Option<u8>,
    cdata: bool,
}

/// Scans the element at the start of `buf` on from `scan`: the end (just past
/// its last `>`) once complete; otherwise `scan` says where to resume.
fn element_end(buf: &[u8], scan: &mut Scan) -> Result<Option<usize>, FrameError> {
    while let Some(&b) = buf.get(scan.pos) {
        let i = scan.pos;
        if scan.cdata {
            if b == b'>' && i >= 2 && buf.get(i - 2..i) == Some(b"]]") {
                scan.cdata = false;
            }
        } else if let Some(start) = scan.tag_start {
            match (scan.quote, b) {
                (Some(q), _) if b == q => scan.quote = None,
                (Some(_), _) => {}
                (None, b'"' | b'\'') => scan.quote = Some(b),
                (None, b'<') => return Err(FrameError::Malformed("'<' inside a tag")),
                (None, b'>') => {
                    scan.tag_start = None;
                    let closing = buf.get(start + 1) == Some(&b'/');
                    let empty = !closing && i > start + 1 && buf.get(i - 1) == Some(&b'/');
                    if closing {
                        scan.depth = scan
                            .depth
                            .checked_sub(1)
                            .ok_or(FrameError::Malformed("end tag without start"))?;
                    } else if !empty {
                        scan.depth += 1;
                        if scan.depth > MAX_DEPTH {
                            return Err(FrameError::TooDeep);
                        }
                    }
                    if scan.depth == 0 {
                        return Ok(Some(i + 1));
                    }
                }
                (None, _) => {}
            }
        } else if b == b'<' {
            let rest = buf.get(i..).unwrap_or_default();
            if rest.len() < 9 && b"<![CDATA[".starts_with(rest) || rest.len() < 2 {
                // Not enough to tell markup apart yet: resume here.
                return Ok(None);
            }
            if rest.starts_with(b"<![CDATA[") {
                scan.cdata = true;
                scan.pos = i + 9;
                continue;
            }
            match rest.get(1) {
                Some(b'!') => return Err(FrameError::Restricted("comment or DTD")),
                Some(b'?') => return Err(FrameError::Restricted("processing instruction")),
                _ => scan.tag_start = Some(i),
            }
        }
        scan.pos = i + 1;
    }
    Ok(None)
}

impl StreamFramer {
    pub fn new() -> StreamFramer {
        StreamFramer::default()
    }

    /// Forgets everything: a new stream starts (after STARTTLS or SASL success).
    pub fn restart(&mut self) {
        self.buf.clear();
        self.opened = false;
        self.declared = false;
        self.scan = Scan::default();
    }

    /// Bytes received and not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Adds received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, `None` until more bytes arrive.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let start = self
            .buf
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(self.buf.len());
        // Whitespace between stanzas is the server's keep-alive: drop it.
        self.buf.drain(..start);
        let buf = &self.buf;
        if buf.is_empty() {
            return Ok(None);
        }
        if buf.first() != Some(&b'<') {
            return Err(FrameError::Malformed("text at stream level"));
        }
        if buf.len() < 2 {
            return Ok(None);
        }
        let result = match buf.get(1) {
            Some(b'?') if !self.opened && !self.declared => match find(buf, 2, b"?>") {
                Some(end) => {
                    self.buf.drain(..end + 2);
                    self.declared = true;
                    // At most one level deep: a second declaration is refused below.
                    return self.next_frame();
                }
                None => None,
            },
            Some(b'?') => return Err(FrameError::Restricted("processing instruction")),
            Some(b'!') => return Err(FrameError::Restricted("comment or DTD")),
            Some(b'/') if self.opened => tag_end(buf, 0)?.map(|end| (Frame::StreamClose, end)),
            Some(b'/') => return Err(FrameError::Malformed("end tag before the stream")),
            _ if !self.opened => match tag_end(buf, 0)? {
                Some(end) => {
                    let header = parse_stream_header(buf.get(..end).unwrap_or_default())?;
                    Some((Frame::StreamOpen(header), end))
                }
                None => None,
            },
            _ => element_end(buf, &mut self.scan)?.map(|end| {
                (
                    Frame::Stanza(buf.get(..end).unwrap_or_default().to_vec()),
                    end,
                )
            }),
        };
        match result {
            Some((frame, end)) => {
                self.scan = Scan::default();
                if matches!(frame, Frame::StreamOpen(_)) {
                    self.opened = true;
                }
                self.buf.drain(..end);
                Ok(Some(frame))
            }
            None if self.buf.len() > MAX_STANZA => Err(FrameError::TooLarge),
            // The declaration, header and closing tag are rescanned as bytes
            // come: a small bound keeps that cheap.
            None if self.buf.first() == Some(&b'<')
                && (!self.opened || self.buf.get(1) == Some(&b'/'))
                && self.buf.len() > MAX_HEADER =>
            {
                Err(FrameError::TooLarge)
            }
            None => Ok(None),
        }
    }
}

/// Parses a stream header (`<stream:stream …>`, not closed).
pub fn parse_stream_header(tag: &[u8]) -> Result<StreamHeader, FrameError> {
    let text = std::str::from_utf8(tag).map_err(|_| FrameError::Malformed("not UTF-8"))?;
    let name_end = text
        .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
        .unwrap_or(text.len());
    let name = text.get(1..name_end).unwrap_or_default();
    if text.ends_with("/>") || !(name == "stream" || name.ends_with(":stream")) {
        return Err(FrameError::Malformed("not a stream header"));
    }
    let document = format!("{text}</{name}>");
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: 64,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(&document, options)
        .map_err(|_| FrameError::Malformed("stream header"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "stream" || root.tag_name().namespace() != Some(NS_STREAMS) {
        return Err(FrameError::Malformed("stream header namespace"));
    }
    let attr = |n: &str| root.attribute(n).unwrap_or_default().to_owned();
    Ok(StreamHeader {
        id: attr("id"),
        from: attr("from"),
        version: attr("version"),
    })
}

/// What the server offers in `<stream:features>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Features {
    pub starttls: bool,
    pub starttls_required: bool,
    pub mechanisms: Vec<String>,
    pub bind: bool,
    /// RFC 3921 session establishment offered and not marked optional.
    pub session_required: bool,
}

/// The kind of an IQ stanza.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IqKind {
    Get,
    Set,
    Result,
    Error,
}

/// A `connectionRequest` element checked against `cwmp-xmppConnReq-1-0.xsd`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnRequestElement {
    /// `username` then `password`, text only, nothing else.
    Valid { username: String, password: String },
    /// The element is there but breaks the schema.
    Invalid(&'static str),
}

/// What an IQ carries that the client acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IqPayload {
    ConnectionRequest(ConnRequestElement),
    /// A bind result's JID.
    Bound(String),
    /// XEP-0199 ping.
    Ping,
    /// No child element.
    Empty,
    /// Anything else (its qualified name, for the log).
    Other(String),
}

/// An IQ stanza.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iq {
    pub kind: IqKind,
    pub id: String,
    pub from: String,
    pub payload: IqPayload,
}

/// One parsed stanza.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stanza {
    Features(Features),
    TlsProceed,
    TlsFailure,
    SaslChallenge(Vec<u8>),
    SaslSuccess(Vec<u8>),
    /// The SASL failure condition (`not-authorized`, …).
    SaslFailure(String),
    /// A stream error's condition; the server closes the stream after it.
    StreamError(String),
    Iq(Iq),
    /// Message, presence or anything else the client ignores (its name).
    Other(String),
}

impl Stanza {
    /// A short name for log lines.
    pub fn name(&self) -> &str {
        match self {
            Stanza::Features(_) => "features",
            Stanza::TlsProceed => "proceed",
            Stanza::TlsFailure => "TLS failure",
            Stanza::SaslChallenge(_) => "SASL challenge",
            Stanza::SaslSuccess(_) => "SASL success",
            Stanza::SaslFailure(_) => "SASL failure",
            Stanza::StreamError(_) => "stream error",
            Stanza::Iq(_) => "iq",
            Stanza::Other(name) => name,
        }
    }
}

impl ConnRequestVerdict {
    /// The answer's name for log lines.
    pub fn name(self) -> &'static str {
        match self {
            ConnRequestVerdict::Accept => "result",
            ConnRequestVerdict::NotAuthorized => "not-authorized",
            ConnRequestVerdict::ServiceUnavailable => "service-unavailable",
            ConnRequestVerdict::BadRequest => "bad-request",
        }
    }
}

/// Why a stanza could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StanzaError {
    NotUtf8,
    Xml(String),
    /// A SASL element whose text is not base64.
    Base64,
    /// An IQ without the `type`/`id` RFC 6120 requires.
    BadIq(&'static str),
}

impl fmt::Display for StanzaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StanzaError::NotUtf8 => write!(f, "stanza is not UTF-8"),
            StanzaError::Xml(e) => write!(f, "stanza is not XML: {e}"),
            StanzaError::Base64 => write!(f, "SASL data is not base64"),
            StanzaError::BadIq(what) => write!(f, "IQ stanza: {what}"),
        }
    }
}

impl std::error::Error for StanzaError {}

type Node<'a, 'i> = roxmltree::Node<'a, 'i>;

fn is(node: Node, ns: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(ns) && node.tag_name().name() == name
}

fn child<'a, 'i>(node: Node<'a, 'i>, ns: &str, name: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|c| is(*c, ns, name))
}

/// The text of an element, all of it (CDATA included).
fn text_of(node: Node) -> String {
    node.children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect()
}

fn sasl_data(node: Node) -> Result<Vec<u8>, StanzaError> {
    let text = text_of(node);
    let text = text.trim();
    if text.is_empty() || text == "=" {
        return Ok(Vec::new());
    }
    base64_decode(text).ok_or(StanzaError::Base64)
}

/// The first defined condition inside an error element (`<not-authorized/>`, …).
fn condition(node: Node) -> String {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() != "text")
        .map(|c| c.tag_name().name().to_owned())
        .unwrap_or_default()
}

/// Checks `connectionRequest` against the schema: a sequence of exactly
/// `username` and `password` (qualified, `xs:string`: no child elements).
fn conn_request(node: Node) -> ConnRequestElement {
    if node
        .children()
        .any(|c| c.is_text() && !c.text().unwrap_or("").trim().is_empty())
    {
        return ConnRequestElement::Invalid("text in connectionRequest");
    }
    let elements: Vec<Node> = node.children().filter(Node::is_element).collect();
    let [username, password] = elements.as_slice() else {
        return ConnRequestElement::Invalid("not exactly username and password");
    };
    if !is(*username, NS_CONN_REQ, "username") || !is(*password, NS_CONN_REQ, "password") {
        return ConnRequestElement::Invalid("expected username then password");
    }
    if username
        .children()
        .chain(password.children())
        .any(|c| c.is_element())
    {
        return ConnRequestElement::Invalid("elements inside username or password");
    }
    ConnRequestElement::Valid {
        username: text_of(*username),
        password: text_of(*password),
    }
}

fn parse_iq(node: Node) -> Result<Iq, StanzaError> {
    let kind = match node.attribute("type") {
        Some("get") => IqKind::Get,
        Some("set") => IqKind::Set,
        Some("result") => IqKind::Result,
        Some("error") => IqKind::Error,
        _ => return Err(StanzaError::BadIq("type")),
    };
    let id = node.attribute("id").ok_or(StanzaError::BadIq("id"))?;
    let first = node.children().find(|c| c.is_element());
    let payload = match first {
        None => IqPayload::Empty,
        Some(c) if is(c, NS_CONN_REQ, "connectionRequest") => {
            IqPayload::ConnectionRequest(conn_request(c))
        }
        Some(c) if is(c, NS_PING, "ping") => IqPayload::Ping,
        Some(c) if is(c, NS_BIND, "bind") => match child(c, NS_BIND, "jid") {
            Some(jid) => IqPayload::Bound(text_of(jid).trim().to_owned()),
            None => IqPayload::Other("bind".to_owned()),
        },
        Some(c) => IqPayload::Other(format!(
            "{{{}}}{}",
            c.tag_name().namespace().unwrap_or(""),
            c.tag_name().name()
        )),
    };
    Ok(Iq {
        kind,
        id: id.to_owned(),
        from: node.attribute("from").unwrap_or_default().to_owned(),
        payload,
    })
}

fn parse_features(node: Node) -> Features {
    let starttls = child(node, NS_TLS, "starttls");
    let session = child(node, NS_SESSION, "session");
    Features {
        starttls: starttls.is_some(),
        starttls_required: starttls.is_some_and(|s| child(s, NS_TLS, "required").is_some()),
        mechanisms: child(node, NS_SASL, "mechanisms")
            .map(|m| {
                m.children()
                    .filter(|c| is(*c, NS_SASL, "mechanism"))
                    .map(|c| text_of(c).trim().to_owned())
                    .collect()
            })
            .unwrap_or_default(),
        bind: child(node, NS_BIND, "bind").is_some(),
        session_required: session.is_some_and(|s| child(s, NS_SESSION, "optional").is_none()),
    }
}

/// Parses one stanza as [`StreamFramer`] delivers it.
pub fn parse_stanza(stanza: &[u8]) -> Result<Stanza, StanzaError> {
    let text = std::str::from_utf8(stanza).map_err(|_| StanzaError::NotUtf8)?;
    // The stream header declared these; the wrapper gives them to the stanza.
    let document = format!("<w xmlns='{NS_CLIENT}' xmlns:stream='{NS_STREAMS}'>{text}</w>");
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(&document, options)
        .map_err(|e| StanzaError::Xml(e.to_string()))?;
    let mut elements = doc.root_element().children().filter(Node::is_element);
    let (Some(node), None) = (elements.next(), elements.next()) else {
        return Err(StanzaError::Xml("not one element".to_owned()));
    };
    let name = node.tag_name().name();
    let ns = node.tag_name().namespace().unwrap_or_default();
    Ok(match (ns, name) {
        (NS_STREAMS, "features") => Stanza::Features(parse_features(node)),
        (NS_STREAMS, "error") => Stanza::StreamError(condition(node)),
        (NS_TLS, "proceed") => Stanza::TlsProceed,
        (NS_TLS, "failure") => Stanza::TlsFailure,
        (NS_SASL, "challenge") => Stanza::SaslChallenge(sasl_data(node)?),
        (NS_SASL, "success") => Stanza::SaslSuccess(sasl_data(node)?),
        (NS_SASL, "failure") => Stanza::SaslFailure(condition(node)),
        (NS_CLIENT, "iq") => Stanza::Iq(parse_iq(node)?),
        _ => Stanza::Other(name.to_owned()),
    })
}

/// Escapes text or an attribute value (quoted with `'`).
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// What the client sends.
pub mod emit {
    use super::*;

    /// Opens the client's stream to `domain`.
    pub fn stream_open(domain: &str) -> String {
        format!(
            "<?xml version='1.0'?><stream:stream to='{}' version='1.0' xmlns='{NS_CLIENT}' xmlns:stream='{NS_STREAMS}'>",
            escape(domain)
        )
    }

    pub fn stream_close() -> &'static str {
        "</stream:stream>"
    }

    pub fn starttls() -> String {
        format!("<starttls xmlns='{NS_TLS}'/>")
    }

    /// `<auth>` with the mechanism's initial response.
    pub fn sasl_auth(mechanism: &str, initial: &[u8]) -> String {
        let data = if initial.is_empty() {
            "=".to_owned()
        } else {
            base64_encode(initial)
        };
        format!(
            "<auth xmlns='{NS_SASL}' mechanism='{}'>{data}</auth>",
            escape(mechanism)
        )
    }

    pub fn sasl_response(data: &[u8]) -> String {
        format!(
            "<response xmlns='{NS_SASL}'>{}</response>",
            base64_encode(data)
        )
    }

    /// Binds `resource` (the server picks one when it is empty).
    pub fn bind(id: &str, resource: &str) -> String {
        let inner = if resource.is_empty() {
            String::new()
        } else {
            format!("<resource>{}</resource>", escape(resource))
        };
        format!(
            "<iq type='set' id='{}'><bind xmlns='{NS_BIND}'>{inner}</bind></iq>",
            escape(id)
        )
    }

    pub fn session(id: &str) -> String {
        format!(
            "<iq type='set' id='{}'><session xmlns='{NS_SESSION}'/></iq>",
            escape(id)
        )
    }

    /// Initial presence: the server then routes IQs to this resource.
    pub fn presence() -> &'static str {
        "<presence/>"
    }

    /// The empty result answering IQ `id` from `to`.
    pub fn iq_result(id: &str, to: &str) -> String {
        format!(
            "<iq type='result' id='{}' to='{}'/>",
            escape(id),
            escape(to)
        )
    }

    /// An IQ error with a defined condition of RFC 6120 8.3.3.
    pub fn iq_error(id: &str, to: &str, error_type: &str, condition: &str) -> String {
        format!(
            "<iq type='error' id='{}' to='{}'><error type='{error_type}'><{condition} xmlns='{NS_STANZAS}'/></error></iq>",
            escape(id),
            escape(to)
        )
    }
}

/// The answer to a connection-request IQ (TR-069 Annex K).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnRequestVerdict {
    /// Empty result; a session follows.
    Accept,
    /// Wrong username or password.
    NotAuthorized,
    /// The sender is not in ConnReqAllowedJabberIDs, or the CPE will not honour the request.
    ServiceUnavailable,
    /// The element breaks the schema.
    BadRequest,
}

impl ConnRequestVerdict {
    /// The IQ answering request `id` from `to`.
    pub fn answer(self, id: &str, to: &str) -> String {
        match self {
            ConnRequestVerdict::Accept => emit::iq_result(id, to),
            ConnRequestVerdict::NotAuthorized => emit::iq_error(id, to, "cancel", "not-authorized"),
            ConnRequestVerdict::ServiceUnavailable => {
                emit::iq_error(id, to, "cancel", "service-unavailable")
            }
            ConnRequestVerdict::BadRequest => emit::iq_error(id, to, "modify", "bad-request"),
        }
    }
}

/// The bare JID (`local@domain`) of a JID.
pub fn bare_jid(jid: &str) -> &str {
    jid.split('/').next().unwrap_or(jid)
}

/// Whether `from` matches an entry of ConnReqAllowedJabberIDs: a full JID
/// matches exactly, a bare one any resource (TR-181). An empty list allows
/// every sender (the credentials still decide).
pub fn jid_allowed(from: &str, allowed: &[String]) -> bool {
    allowed.is_empty()
        || allowed.iter().any(|entry| {
            if entry.contains('/') {
                entry.eq_ignore_ascii_case(from)
            } else {
                entry.eq_ignore_ascii_case(bare_jid(from))
            }
        })
}

/// Decides on a connection request from `from` against the allowed JIDs and
/// the connection-request credentials (ManagementServer.ConnectionRequestUsername/Password).
/// Whether the CPE's limit lets it honour the request is the caller's to add.
pub fn judge_connection_request(
    from: &str,
    element: &ConnRequestElement,
    allowed: &[String],
    username: &str,
    password: &str,
) -> ConnRequestVerdict {
    if !jid_allowed(from, allowed) {
        return ConnRequestVerdict::ServiceUnavailable;
    }
    match element {
        ConnRequestElement::Invalid(_) => ConnRequestVerdict::BadRequest,
        ConnRequestElement::Valid {
            username: u,
            password: p,
        } => {
            let user_ok = constant_time_eq(u.as_bytes(), username.as_bytes());
            let pass_ok = constant_time_eq(p.as_bytes(), password.as_bytes());
            if user_ok && pass_ok && !username.is_empty() {
                ConnRequestVerdict::Accept
            } else {
                ConnRequestVerdict::NotAuthorized
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER_OPEN: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='abc' from='localhost' version='1.0' xml:lang='en'>";

    fn frames(framer: &mut StreamFramer) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(f) = framer.next_frame().expect("frame") {
            out.push(f);
        }
        out
    }

    #[test]
    fn frames_header_stanzas_and_close_across_splits() {
        let mut whole = SERVER_OPEN.to_vec();
        whole.extend_from_slice(b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features> \n");
        whole.extend_from_slice(b"<iq type='get' id='a>b' from='x@y/z'><![CDATA[<no>]]><ping xmlns='urn:xmpp:ping'/></iq>");
        whole.extend_from_slice(b"</stream:stream>");
        // Byte by byte gives the same frames as all at once.
        let mut all = StreamFramer::new();
        all.push(&whole);
        let expected = frames(&mut all);
        assert_eq!(expected.len(), 4);
        let mut bytewise = StreamFramer::new();
        let mut got = Vec::new();
        for b in &whole {
            bytewise.push(std::slice::from_ref(b));
            got.extend(frames(&mut bytewise));
        }
        assert_eq!(got, expected);
        let Frame::StreamOpen(header) = &expected[0] else {
            panic!("no header: {expected:?}");
        };
        assert_eq!(
            (header.id.as_str(), header.from.as_str()),
            ("abc", "localhost")
        );
        assert_eq!(expected[3], Frame::StreamClose);
        let Frame::Stanza(features) = &expected[1] else {
            panic!("no features");
        };
        assert_eq!(
            parse_stanza(features),
            Ok(Stanza::Features(Features {
                starttls: true,
                starttls_required: true,
                ..Features::default()
            }))
        );
        let Frame::Stanza(ping) = &expected[2] else {
            panic!("no ping");
        };
        let Ok(Stanza::Iq(iq)) = parse_stanza(ping) else {
            panic!("not an iq");
        };
        assert_eq!(
            (iq.kind, iq.id.as_str(), iq.payload),
            (IqKind::Get, "a>b", IqPayload::Ping)
        );
    }

    #[test]
    fn refuses_restricted_and_oversized_input() {
        let mut framer = StreamFramer::new();
        framer.push(SERVER_OPEN);
        framer.push(b"<!-- hi -->");
        assert!(frames_result(&mut framer).is_err_and(|e| matches!(e, FrameError::Restricted(_))));

        let mut framer = StreamFramer::new();
        framer.push(b"<!DOCTYPE x [<!ENTITY a 'b'>]>");
        assert!(framer.next_frame().is_err());

        let mut framer = StreamFramer::new();
        framer.push(SERVER_OPEN);
        framer.push(b"<message>");
        framer.push(&vec![b'a'; MAX_STANZA]);
        assert_eq!(frames_result(&mut framer), Err(FrameError::TooLarge));

        let mut framer = StreamFramer::new();
        framer.push(b"<stream:stream a='");
        framer.push(&vec![b'>'; MAX_HEADER]);
        assert_eq!(framer.next_frame(), Err(FrameError::TooLarge));

        let mut framer = StreamFramer::new();
        framer.push(SERVER_OPEN);
        framer.push("<a>".repeat(MAX_DEPTH + 1).as_bytes());
        assert_eq!(frames_result(&mut framer), Err(FrameError::TooDeep));

        let mut framer = StreamFramer::new();
        framer.push("<?xml version='1.0'?>".repeat(3).as_bytes());
        assert!(framer.next_frame().is_err());

        let mut framer = StreamFramer::new();
        framer.push(b"<html>");
        assert!(framer.next_frame().is_err());

        let mut framer = StreamFramer::new();
        framer.push(SERVER_OPEN);
        framer.push(b"text");
        assert!(frames_result(&mut framer).is_err());
    }

    fn frames_result(framer: &mut StreamFramer) -> Result<usize, FrameError> {
        let mut n = 0;
        while framer.next_frame()?.is_some() {
            n += 1;
        }
        Ok(n)
    }

    #[test]
    fn parses_sasl_and_bind() {
        let mechanisms = b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>";
        let Ok(Stanza::Features(f)) = parse_stanza(mechanisms) else {
            panic!("features");
        };
        assert_eq!(f.mechanisms, ["SCRAM-SHA-1", "PLAIN"]);
        assert_eq!(
            parse_stanza(
                b"<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>cj1hYmM=</challenge>"
            ),
            Ok(Stanza::SaslChallenge(b"r=abc".to_vec()))
        );
        assert_eq!(
            parse_stanza(
                b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>"
            ),
            Ok(Stanza::SaslFailure("not-authorized".into()))
        );
        assert_eq!(
            parse_stanza(b"<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>@@</challenge>"),
            Err(StanzaError::Base64)
        );
        let bound = b"<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>cpe@localhost/res</jid></bind></iq>";
        let Ok(Stanza::Iq(iq)) = parse_stanza(bound) else {
            panic!("iq");
        };
        assert_eq!(iq.payload, IqPayload::Bound("cpe@localhost/res".into()));
        assert_eq!(
            parse_stanza(b"<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"),
            Ok(Stanza::StreamError("conflict".into()))
        );
        assert!(matches!(
            parse_stanza(b"<iq id='x'/>"),
            Err(StanzaError::BadIq(_))
        ));
        assert!(parse_stanza(b"<a><b></a>").is_err());
        assert_eq!(
            parse_stanza(b"<presence/>"),
            Ok(Stanza::Other("presence".into()))
        );
    }

    fn conn_request_iq(inner: &str) -> Iq {
        let stanza = format!(
            "<iq type='get' id='cr1' from='acs@localhost/x' to='cpe@localhost/r'><connectionRequest xmlns='urn:broadband-forum-org:cwmp:xmppConnReq-1-0'>{inner}</connectionRequest></iq>"
        );
        match parse_stanza(stanza.as_bytes()) {
            Ok(Stanza::Iq(iq)) => iq,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn connection_request_follows_the_schema() {
        let iq = conn_request_iq("<username>cpe</username><password>s&amp;cret</password>");
        assert_eq!(
            iq.payload,
            IqPayload::ConnectionRequest(ConnRequestElement::Valid {
                username: "cpe".into(),
                password: "s&cret".into()
            })
        );
        for bad in [
            "<password>p</password><username>u</username>",
            "<username>u</username>",
            "<username>u</username><password>p</password><extra/>",
            "<username><b/></username><password>p</password>",
            "hello<username>u</username><password>p</password>",
            "<username xmlns=''>u</username><password>p</password>",
        ] {
            let iq = conn_request_iq(bad);
            assert!(
                matches!(
                    iq.payload,
                    IqPayload::ConnectionRequest(ConnRequestElement::Invalid(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn judges_connection_requests_as_annex_k_says() {
        let valid = |u: &str, p: &str| ConnRequestElement::Valid {
            username: u.into(),
            password: p.into(),
        };
        let allowed = vec!["acs@localhost".to_owned(), "other@x/only".to_owned()];
        let judge = |from: &str, e: &ConnRequestElement| {
            judge_connection_request(from, e, &allowed, "cpe", "secret")
        };
        assert_eq!(
            judge("acs@localhost/any", &valid("cpe", "secret")),
            ConnRequestVerdict::Accept
        );
        assert_eq!(
            judge("other@x/only", &valid("cpe", "secret")),
            ConnRequestVerdict::Accept
        );
        assert_eq!(
            judge("other@x/else", &valid("cpe", "secret")),
            ConnRequestVerdict::ServiceUnavailable
        );
        assert_eq!(
            judge("acs@localhost/any", &valid("cpe", "wrong")),
            ConnRequestVerdict::NotAuthorized
        );
        assert_eq!(
            judge("stranger@localhost/a", &valid("cpe", "wrong")),
            ConnRequestVerdict::ServiceUnavailable
        );
        assert_eq!(
            judge("acs@localhost/a", &ConnRequestElement::Invalid("x")),
            ConnRequestVerdict::BadRequest
        );
        assert_eq!(
            judge_connection_request("a@b", &valid("", ""), &[], "", ""),
            ConnRequestVerdict::NotAuthorized
        );
        assert_eq!(
            ConnRequestVerdict::NotAuthorized.answer("i'd", "acs@localhost/x"),
            "<iq type='error' id='i&apos;d' to='acs@localhost/x'><error type='cancel'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        );
    }

    #[test]
    fn emitted_stanzas_parse_back() {
        for text in [
            emit::starttls(),
            emit::sasl_auth("PLAIN", b"\0u\0p"),
            emit::bind("b1", "cpe<1>"),
            emit::iq_result("r1", "acs@localhost/x"),
        ] {
            assert!(parse_stanza(text.as_bytes()).is_ok(), "{text}");
        }
    }
}
