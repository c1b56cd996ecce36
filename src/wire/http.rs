//! HTTP/1.1 on the wire: URLs, request and response heads, and the framing of bodies (Content-Length, chunked, close-delimited).
//!
//! A pure codec for the ACS client (`transport::http_client`) and the
//! connection-request server (`transport::conn_request`): heads are parsed
//! from whatever bytes have arrived (`Ok(None)` until the empty line ends the
//! head, an error as soon as a complete line is malformed) and written into a
//! buffer; bodies are decoded incrementally with bounded state. Strict as
//! RFC 9112 wants a recipient to be: token header names directly followed by
//! the colon, no obsolete line folding, no control characters in values,
//! Content-Length values that agree, chunk-size lines of bounded length.

use std::fmt;

/// Header lines accepted in one head; more is [`HeadError::TooManyHeaders`].
pub const MAX_HEADERS: usize = 128;
/// Longest chunk-size or trailer line of a chunked body (extensions included).
const MAX_CHUNK_LINE: usize = 1024;

/// Why a head could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// More header lines than the caller allows.
    TooManyHeaders,
    /// The head breaks the syntax; says where.
    Malformed(&'static str),
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadError::TooManyHeaders => f.write_str("too many header lines"),
            HeadError::Malformed(what) => write!(f, "malformed {what}"),
        }
    }
}

/// Header fields in arrival order, names in lower case, values without surrounding white space.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// The first value of the field `name` (lower case).
    pub fn get(&self, name: &str) -> Option<&str> {
        let (_, value) = self.0.iter().find(|(key, _)| key == name)?;
        Some(value)
    }

    /// Every value of the field `name` (lower case), in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Whether a comma-separated element of any `name` field equals `token` (any case).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.all(name)
            .flat_map(|value| value.split(','))
            .any(|element| element.trim().eq_ignore_ascii_case(token))
    }
}

/// A response's status line and header fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// `HTTP/1.0` (else `HTTP/1.1`).
    pub http10: bool,
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
}

/// A request's line and header fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The path and query of the target (origin form, also from an absolute-form target).
    pub target: String,
    pub http10: bool,
    pub headers: Headers,
}

impl RequestHead {
    /// The target's path, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("/")
    }
}

/// Parses a response head from the start of `input`: `Ok(None)` while incomplete,
/// else the bytes it took (through the empty line) and the head.
pub fn parse_response_head(
    input: &[u8],
    max_headers: usize,
) -> Result<Option<(usize, ResponseHead)>, HeadError> {
    let mut lines = Lines { input, pos: 0 };
    let Some(line) = lines.next_line()? else {
        return Ok(None);
    };
    let bad = HeadError::Malformed("status line");
    let (version, rest) = split_space(line).ok_or(bad)?;
    let http10 = parse_version(version).ok_or(bad)?;
    let (code, reason) = split_space(rest).unwrap_or((rest, b""));
    let status = match code {
        [a, b, c] if code.iter().all(u8::is_ascii_digit) => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return Err(bad),
    };
    if status < 100 || !reason.iter().all(|&b| is_field_byte(b)) {
        return Err(bad);
    }
    let Some(headers) = lines.headers(max_headers)? else {
        return Ok(None);
    };
    let head = ResponseHead {
        http10,
        status,
        reason: String::from_utf8_lossy(reason).into_owned(),
        headers,
    };
    Ok(Some((lines.pos, head)))
}

/// Parses a request head from the start of `input`, like [`parse_response_head`].
pub fn parse_request_head(
    input: &[u8],
    max_headers: usize,
) -> Result<Option<(usize, RequestHead)>, HeadError> {
    let mut lines = Lines { input, pos: 0 };
    let Some(line) = lines.next_line()? else {
        return Ok(None);
    };
    let bad = HeadError::Malformed("request line");
    let (method, rest) = split_space(line).ok_or(bad)?;
    let (target, version) = split_space(rest).ok_or(bad)?;
    let http10 = parse_version(version).ok_or(bad)?;
    if method.is_empty() || !method.iter().all(|&b| is_token_byte(b)) {
        return Err(bad);
    }
    let target = std::str::from_utf8(target).map_err(|_| bad)?;
    if target.is_empty() || !target.bytes().all(is_url_byte) {
        return Err(bad);
    }
    // Absolute form (`http://host/path`): what a server answers is its path and query.
    let target = match split_scheme(target) {
        Some((_, rest)) => match rest.find(['/', '?']) {
            Some(at) => with_slash(rest.get(at..).unwrap_or("")),
            None => "/".to_string(),
        },
        None => target.to_string(),
    };
    let Some(headers) = lines.headers(max_headers)? else {
        return Ok(None);
    };
    let head = RequestHead {
        method: String::from_utf8_lossy(method).into_owned(),
        target,
        http10,
        headers,
    };
    Ok(Some((lines.pos, head)))
}

/// Reads the lines of a head (each ended by CRLF or a bare LF, as recipients may accept).
struct Lines<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Lines<'a> {
    /// The next complete line without its ending; `None` if it has not all arrived.
    fn next_line(&mut self) -> Result<Option<&'a [u8]>, HeadError> {
        let rest = self.input.get(self.pos..).unwrap_or(&[]);
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            return Ok(None);
        };
        let line = rest.get(..end).unwrap_or(&[]);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.contains(&b'\r') {
            return Err(HeadError::Malformed("line ending"));
        }
        self.pos += end + 1;
        Ok(Some(line))
    }

    /// The header lines through the empty line; `None` while incomplete.
    fn headers(&mut self, max_headers: usize) -> Result<Option<Headers>, HeadError> {
        let mut headers = Vec::new();
        // Bounded: each turn consumes a line of the finite input.
        loop {
            let Some(line) = self.next_line()? else {
                return Ok(None);
            };
            if line.is_empty() {
                return Ok(Some(Headers(headers)));
            }
            if headers.len() >= max_headers {
                return Err(HeadError::TooManyHeaders);
            }
            let bad = HeadError::Malformed("header line");
            let colon = line.iter().position(|&b| b == b':').ok_or(bad)?;
            let (name, value) = (line.get(..colon).unwrap_or(&[]), line.get(colon + 1..));
            let value = trim_ows(value.unwrap_or(&[]));
            if name.is_empty()
                || !name.iter().all(|&b| is_token_byte(b))
                || !value.iter().all(|&b| is_field_byte(b))
            {
                return Err(bad);
            }
            headers.push((
                String::from_utf8_lossy(name).to_ascii_lowercase(),
                String::from_utf8_lossy(value).into_owned(),
            ));
        }
    }
}

fn split_space(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = line.iter().position(|&b| b == b' ')?;
    Some((line.get(..at)?, line.get(at + 1..)?))
}

fn parse_version(version: &[u8]) -> Option<bool> {
    match version {
        b"HTTP/1.1" => Some(false),
        b"HTTP/1.0" => Some(true),
        _ => None,
    }
}

fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// `tchar` of RFC 9110: the characters of methods and header names.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A byte a field value or reason phrase may hold: visible, space, tab or obs-text.
fn is_field_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

/// A byte a URL may hold: visible ASCII except the ones RFC 3986 never allows.
fn is_url_byte(b: u8) -> bool {
    (b'!'..=b'~').contains(&b) && !b"\"<>\\^`{|}".contains(&b)
}

/// Whether a header field `name: value` may be sent as it is (no injected lines).
pub fn valid_field(name: &str, value: &str) -> bool {
    !name.is_empty() && name.bytes().all(is_token_byte) && value.bytes().all(is_field_byte)
}

/// Appends a request head (request line, `Host`, the fields given, the empty line) to `out`.
/// The fields must have passed [`valid_field`].
pub fn write_request_head<'a>(
    out: &mut Vec<u8>,
    method: &str,
    url: &Url,
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    for part in [method, " ", url.path.as_str(), " HTTP/1.1\r\nhost: "] {
        out.extend_from_slice(part.as_bytes());
    }
    out.extend_from_slice(url.host_header().as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in fields {
        for part in [name, ": ", value, "\r\n"] {
            out.extend_from_slice(part.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// A parsed `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    /// Lower case, without the brackets of an IPv6 literal.
    pub host: String,
    pub port: u16,
    /// As written in the URL, user information included.
    pub authority: String,
    /// Path and query as sent on the request line (at least `/`), without a fragment.
    pub path: String,
}

impl Url {
    /// Parses a URL this client can reach: `http` or `https`, a host, an optional
    /// numeric port, and nothing a request line cannot carry (spaces, control
    /// characters, non-ASCII).
    pub fn parse(url: &str) -> Option<Url> {
        if !url.bytes().all(is_url_byte) {
            return None;
        }
        let (https, rest) = split_scheme(url)?;
        let rest = rest.split('#').next().unwrap_or("");
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        let host_and_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port_text) = match host_and_port.strip_prefix('[') {
            Some(v6) => {
                let (host, rest) = v6.split_once(']')?;
                if !rest.is_empty() && !rest.starts_with(':') {
                    return None;
                }
                (host, rest.get(1..).unwrap_or(""))
            }
            None => host_and_port.split_once(':').unwrap_or((host_and_port, "")),
        };
        if host.is_empty() || host.contains(['[', ']', '@']) {
            return None;
        }
        let port = match port_text {
            "" if https => 443,
            "" => 80,
            digits if digits.bytes().all(|b| b.is_ascii_digit()) => digits.parse().ok()?,
            _ => return None,
        };
        Some(Url {
            https,
            host: host.to_ascii_lowercase(),
            port,
            authority: authority.to_string(),
            path: with_slash(path),
        })
    }

    /// The `Host` field: the host as written, with the port unless it is the scheme's.
    pub fn host_header(&self) -> &str {
        let host_and_port = self
            .authority
            .rsplit_once('@')
            .map_or(self.authority.as_str(), |(_, h)| h);
        let default = if self.https { ":443" } else { ":80" };
        host_and_port
            .strip_suffix(default)
            .or_else(|| host_and_port.strip_suffix(':'))
            .unwrap_or(host_and_port)
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority, self.path)
    }
}

/// `http://` or `https://` (any case): whether it is https, and what follows.
fn split_scheme(url: &str) -> Option<(bool, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.eq_ignore_ascii_case("https") {
        Some((true, rest))
    } else if scheme.eq_ignore_ascii_case("http") {
        Some((false, rest))
    } else {
        None
    }
}

/// A path (maybe empty, maybe only a query) as an origin-form target.
fn with_slash(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

/// How the body of a message is delimited, and the state of reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyReader {
    /// No body (1xx, 204, 304).
    Empty,
    /// `Content-Length`: this many bytes are still to come.
    Length(u64),
    Chunked(Dechunker),
    /// Until the server closes the connection.
    UntilClose,
}

impl BodyReader {
    /// The framing of a response's body (RFC 9112 section 6.3).
    pub fn for_response(head: &ResponseHead) -> Result<BodyReader, &'static str> {
        if head.status < 200 || matches!(head.status, 204 | 304) {
            return Ok(BodyReader::Empty);
        }
        if !head.http10 && head.headers.has_token("transfer-encoding", "chunked") {
            return Ok(BodyReader::Chunked(Dechunker::default()));
        }
        Ok(match content_length(&head.headers)? {
            Some(len) => BodyReader::Length(len),
            None => BodyReader::UntilClose,
        })
    }

    /// Moves body bytes from `src` to `dst`: (bytes of `src` used, bytes of `dst` filled).
    pub fn read(&mut self, src: &[u8], dst: &mut [u8]) -> Result<(usize, usize), &'static str> {
        let copy = |src: &[u8], dst: &mut [u8], limit: u64| {
            let n = src
                .len()
                .min(dst.len())
                .min(usize::try_from(limit).unwrap_or(usize::MAX));
            if let (Some(to), Some(from)) = (dst.get_mut(..n), src.get(..n)) {
                to.copy_from_slice(from);
            }
            n
        };
        match self {
            BodyReader::Empty => Ok((0, 0)),
            BodyReader::Length(left) => {
                let n = copy(src, dst, *left);
                *left -= n as u64;
                Ok((n, n))
            }
            BodyReader::UntilClose => {
                let n = copy(src, dst, u64::MAX);
                Ok((n, n))
            }
            BodyReader::Chunked(dechunker) => dechunker.read(src, dst),
        }
    }

    /// The whole body has been read (never for [`BodyReader::UntilClose`]: the close tells).
    pub fn is_done(&self) -> bool {
        match self {
            BodyReader::Empty => true,
            BodyReader::Length(left) => *left == 0,
            BodyReader::Chunked(dechunker) => *dechunker == Dechunker::Done,
            BodyReader::UntilClose => false,
        }
    }
}

/// The `Content-Length` of a head: every value and list element must be the same number.
pub fn content_length(headers: &Headers) -> Result<Option<u64>, &'static str> {
    let mut length = None;
    for element in headers.all("content-length").flat_map(|v| v.split(',')) {
        let digits = element.trim_matches([' ', '\t']);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("bad Content-Length");
        }
        let value = digits.parse::<u64>().map_err(|_| "bad Content-Length")?;
        if length.is_some_and(|previous| previous != value) {
            return Err("conflicting Content-Length values");
        }
        length = Some(value);
    }
    Ok(length)
}

/// Where a chunked body's decoder is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Dechunker {
    /// Before a chunk-size line.
    #[default]
    Size,
    /// Inside a chunk: bytes of it still to come.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until the empty one.
    Trailer,
    Done,
}

impl Dechunker {
    /// Decodes what `src` holds into `dst`: (bytes of `src` used, bytes of `dst` filled).
    pub fn read(&mut self, src: &[u8], dst: &mut [u8]) -> Result<(usize, usize), &'static str> {
        let (mut used, mut filled) = (0, 0);
        // Bounded: each turn uses input or stops.
        loop {
            let rest = src.get(used..).unwrap_or(&[]);
            match *self {
                Dechunker::Done => break,
                Dechunker::Data(left) => {
                    let out = dst.get_mut(filled..).unwrap_or(&mut []);
                    let n = rest
                        .len()
                        .min(out.len())
                        .min(usize::try_from(left).unwrap_or(usize::MAX));
                    if n == 0 {
                        break;
                    }
                    if let (Some(to), Some(from)) = (out.get_mut(..n), rest.get(..n)) {
                        to.copy_from_slice(from);
                    }
                    used += n;
                    filled += n;
                    *self = match left - n as u64 {
                        0 => Dechunker::DataEnd,
                        left => Dechunker::Data(left),
                    };
                }
                Dechunker::DataEnd => {
                    match rest {
                        [b'\r', b'\n', ..] => used += 2,
                        [] | [b'\r'] => break,
                        _ => return Err("chunk data not followed by CRLF"),
                    }
                    *self = Dechunker::Size;
                }
                Dechunker::Size | Dechunker::Trailer => {
                    let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
                        if rest.len() > MAX_CHUNK_LINE {
                            return Err("chunk line too long");
                        }
                        break;
                    };
                    if end > MAX_CHUNK_LINE {
                        return Err("chunk line too long");
                    }
                    let line = rest.get(..end).unwrap_or(&[]);
                    used += end + 2;
                    *self = match *self {
                        Dechunker::Size => match chunk_size(line)? {
                            0 => Dechunker::Trailer,
                            size => Dechunker::Data(size),
                        },
                        _ if line.is_empty() => Dechunker::Done,
                        _ => Dechunker::Trailer,
                    };
                }
            }
        }
        Ok((used, filled))
    }
}

/// The size of a chunk-size line (`1a;ext=v`): hexadecimal digits, extensions ignored.
fn chunk_size(line: &[u8]) -> Result<u64, &'static str> {
    let digits = line.split(|&b| b == b';').next().unwrap_or(&[]);
    let digits = trim_ows(digits);
    if digits.is_empty() || digits.len() > 16 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err("bad chunk size");
    }
    Ok(digits.iter().fold(0u64, |size, &b| {
        // Sixteen hex digits at most: no overflow.
        let digit = (b as char).to_digit(16).unwrap_or(0);
        size << 4 | u64::from(digit)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(text: &str) -> Result<Option<(usize, ResponseHead)>, HeadError> {
        parse_response_head(text.as_bytes(), MAX_HEADERS)
    }

    #[test]
    fn parses_response_heads() {
        let text = "HTTP/1.1 200 OK\r\nContent-Length:  5 \r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n\r\nhello";
        let (used, head) = response(text).unwrap().unwrap();
        assert_eq!(used, text.len() - 5);
        assert!(!head.http10);
        assert_eq!((head.status, head.reason.as_str()), (200, "OK"));
        assert_eq!(head.headers.get("content-length"), Some("5"));
        assert_eq!(
            head.headers.all("set-cookie").collect::<Vec<_>>(),
            ["a=1", "b=2"]
        );
        // Bare LF endings, an empty reason, HTTP/1.0.
        let (_, head) = response("HTTP/1.0 204\n\n").unwrap().unwrap();
        assert!(head.http10 && head.status == 204 && head.reason.is_empty());
        // Incomplete heads wait for more.
        for partial in ["", "HTTP/1.1 200 OK", "HTTP/1.1 200 OK\r\nA: b\r\n"] {
            assert_eq!(response(partial), Ok(None), "{partial:?}");
        }
    }

    #[test]
    fn refuses_malformed_response_heads() {
        for bad in [
            "HTTP/2 200 OK\r\n\r\n",
            "HTTP/1.1 20 OK\r\n\r\n",
            "HTTP/1.1 099 x\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "HTTP/1.1  200 OK\r\n\r\n",
            "HTTP/1.1 200 O\x01K\r\n\r\n",
            "HTTP/1.1 200 OK\r\nName : v\r\n\r\n",
            "HTTP/1.1 200 OK\r\nNo colon\r\n\r\n",
            "HTTP/1.1 200 OK\r\n: v\r\n\r\n",
            "HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",
            "HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n",
            "HTTP/1.1 200 OK\r\nA: b\x00\r\n\r\n",
            // An early error is reported before the head is complete.
            "XTTP/1.1 200 OK\r\n",
        ] {
            assert!(
                matches!(response(bad), Err(HeadError::Malformed(_))),
                "{bad:?}"
            );
        }
        let many = format!("HTTP/1.1 200 OK\r\n{}\r\n", "A: b\r\n".repeat(3));
        assert_eq!(
            parse_response_head(many.as_bytes(), 2),
            Err(HeadError::TooManyHeaders)
        );
    }

    #[test]
    fn parses_request_heads() {
        let text = "GET /cr?x=1 HTTP/1.1\r\nHost: cpe\r\nAuthorization: Digest a=b\r\n\r\n";
        let (used, head) = parse_request_head(text.as_bytes(), 8).unwrap().unwrap();
        assert_eq!(used, text.len());
        assert_eq!(
            (head.method.as_str(), head.target.as_str()),
            ("GET", "/cr?x=1")
        );
        assert_eq!(head.path(), "/cr");
        assert_eq!(head.headers.get("authorization"), Some("Digest a=b"));
        let absolute = b"GET http://cpe:7547/cr HTTP/1.0\r\n\r\n";
        let (_, head) = parse_request_head(absolute, 8).unwrap().unwrap();
        assert!(head.http10);
        assert_eq!(head.target, "/cr");
        for bad in [
            "GET /a\"b HTTP/1.1\r\n\r\n",
            "GET /a b HTTP/1.1\r\n\r\n",
            "G(T / HTTP/1.1\r\n\r\n",
            " / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.2\r\n\r\n",
            "GET /\r\n\r\n",
        ] {
            assert!(parse_request_head(bad.as_bytes(), 8).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parses_urls() {
        let url = Url::parse("https://[::1]:8443/acs?x=1#frag").unwrap();
        assert!(url.https);
        assert_eq!((url.host.as_str(), url.port), ("::1", 8443));
        assert_eq!(url.path, "/acs?x=1");
        assert_eq!(url.host_header(), "[::1]:8443");
        let url = Url::parse("HTTP://user@ACS.example:80?q").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("acs.example", 80));
        assert_eq!(url.path, "/?q");
        assert_eq!(url.host_header(), "ACS.example");
        assert_eq!(url.to_string(), "http://user@ACS.example:80/?q");
        for bad in [
            "",
            "ftp://x/",
            "acs.example/path",
            "http://",
            "http://:80/",
            "http://[/x",
            "http://[::1",
            "http://[::1]x/",
            "http://acs.example/\nx",
            "http://acs example/",
            "http://acs.example:99999/",
            "http://acs.example:8o/",
            "http://acs.exämple/",
        ] {
            assert_eq!(Url::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn writes_request_heads() {
        let url = Url::parse("http://acs.example:8080/acs").unwrap();
        let mut out = Vec::new();
        write_request_head(&mut out, "POST", &url, [("content-length", "3")]);
        assert_eq!(
            out,
            b"POST /acs HTTP/1.1\r\nhost: acs.example:8080\r\ncontent-length: 3\r\n\r\n"
        );
        assert!(valid_field("SOAPAction", "\"\""));
        assert!(!valid_field("x", "a\r\nInjected: 1"));
        assert!(!valid_field("a b", "c"));
    }

    #[test]
    fn frames_response_bodies() {
        let framing = |text: &str| {
            let (_, head) = response(text).unwrap().unwrap();
            BodyReader::for_response(&head)
        };
        assert_eq!(
            framing("HTTP/1.1 204 x\r\nContent-Length: 3\r\n\r\n"),
            Ok(BodyReader::Empty)
        );
        assert_eq!(
            framing(
                "HTTP/1.1 200 x\r\nTransfer-Encoding: gzip, Chunked\r\nContent-Length: 3\r\n\r\n"
            ),
            Ok(BodyReader::Chunked(Dechunker::Size))
        );
        assert_eq!(
            framing("HTTP/1.1 200 x\r\nContent-Length: 7, 7\r\ncontent-length: 007\r\n\r\n"),
            Ok(BodyReader::Length(7))
        );
        assert_eq!(
            framing("HTTP/1.0 200 x\r\n\r\n"),
            Ok(BodyReader::UntilClose)
        );
        for bad in ["7, 8", "+7", "0x7", "", "7,", "99999999999999999999"] {
            let text = format!("HTTP/1.1 200 x\r\nContent-Length: {bad}\r\n\r\n");
            assert!(framing(&text).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reads_length_delimited_bodies() {
        let mut reader = BodyReader::Length(4);
        let mut out = [0; 8];
        assert_eq!(reader.read(b"ab", &mut out), Ok((2, 2)));
        assert!(!reader.is_done());
        assert_eq!(reader.read(b"cdEXTRA", &mut out), Ok((2, 2)));
        assert!(reader.is_done());
    }

    #[test]
    fn decodes_chunked_bodies_byte_by_byte_and_at_once() {
        let body = b"4;name=v\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: x\r\n\r\nNEXT";
        let mut out = [0u8; 64];
        let mut reader = Dechunker::default();
        let (used, filled) = reader.read(body, &mut out).unwrap();
        assert_eq!(reader, Dechunker::Done);
        assert_eq!(used, body.len() - 4);
        assert_eq!(&out[..filled], b"Wikipedia in\r\n\r\nchunks.");
        // The same input a byte at a time, into a small output.
        let mut reader = Dechunker::default();
        let (mut pending, mut decoded) = (Vec::new(), Vec::new());
        for &byte in body {
            pending.push(byte);
            let mut small = [0u8; 3];
            let (used, filled) = reader.read(&pending, &mut small).unwrap();
            pending.drain(..used);
            decoded.extend_from_slice(&small[..filled]);
        }
        assert_eq!(reader, Dechunker::Done);
        assert_eq!(decoded, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(pending, b"NEXT");
    }

    #[test]
    fn refuses_malformed_chunks() {
        let mut out = [0u8; 16];
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"-1\r\n",
            b"11111111111111111\r\n",
            b"2\r\nabX\r\n",
        ] {
            assert!(Dechunker::default().read(bad, &mut out).is_err(), "{bad:?}");
        }
        let long = vec![b'1'; MAX_CHUNK_LINE + 10];
        assert!(Dechunker::default().read(&long, &mut out).is_err());
        // The largest size is taken (and only as much as arrives is read).
        let mut reader = Dechunker::default();
        assert_eq!(
            reader.read(b"ffffffffffffffff\r\nab", &mut out),
            Ok((20, 2))
        );
        assert_eq!(reader, Dechunker::Data(u64::MAX - 2));
    }
}
