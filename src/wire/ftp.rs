//! FTP (RFC 959, 2428, 3659) for file transfers, as pure code: `ftp://` URLs, control-channel replies, and the login → TYPE I → SIZE → PASV/EPSV → RETR/STOR dialogue.
//!
//! The dialogue never touches a socket: the transport feeds it each
//! complete reply and carries out the [`Step`]s it returns (send a command,
//! open the passive data connection, finish). Only passive mode is spoken:
//! the CPE sits behind NAT far more often than the server does.

use std::fmt;

/// The longest reply line accepted; longer is a protocol error.
const MAX_LINE: usize = 4096;
/// The most lines one (multi-line) reply may have.
const MAX_REPLY_LINES: usize = 256;

/// A parsed `ftp://` URL (RFC 1738 3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FtpUrl {
    /// Without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// User and password given in the URL, percent-decoded.
    pub user: Option<String>,
    pub password: Option<String>,
    /// The path as the server gets it: percent-decoded, relative to the
    /// login directory (a leading `%2F` makes it absolute).
    pub path: String,
}

/// Why an FTP URL, reply or dialogue failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FtpError {
    InvalidUrl(String),
    /// A reply that is not `ddd text` or is too long.
    BadReply(String),
    /// 530 and friends: the server refused the login.
    AuthFailed(String),
    /// 550 on SIZE or RETR: no such file (or not accessible).
    NotFound(String),
    /// The server says the transfer broke off (426, 451, …).
    Incomplete(String),
    /// The server's SIZE differs from the expected file size.
    SizeMismatch {
        expected: u64,
        actual: u64,
    },
    /// Any other refusal.
    Refused(String),
}

impl fmt::Display for FtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FtpError::InvalidUrl(url) => write!(f, "invalid FTP URL {url}"),
            FtpError::BadReply(text) => write!(f, "malformed FTP reply: {text}"),
            FtpError::AuthFailed(text) => write!(f, "FTP login refused: {text}"),
            FtpError::NotFound(text) => write!(f, "FTP file not available: {text}"),
            FtpError::Incomplete(text) => write!(f, "FTP transfer incomplete: {text}"),
            FtpError::SizeMismatch { expected, actual } => {
                write!(f, "FTP file is {actual} bytes, expected {expected}")
            }
            FtpError::Refused(text) => write!(f, "FTP server refused: {text}"),
        }
    }
}

impl std::error::Error for FtpError {}

impl FtpUrl {
    /// Parses `ftp://[user[:password]@]host[:port]/path[;type=i]`.
    pub fn parse(url: &str) -> Result<FtpUrl, FtpError> {
        let invalid = || FtpError::InvalidUrl(url.to_owned());
        let scheme_end = url.find("://").ok_or_else(invalid)?;
        if !url
            .get(..scheme_end)
            .is_some_and(|s| s.eq_ignore_ascii_case("ftp"))
        {
            return Err(invalid());
        }
        let rest = url.get(scheme_end + 3..).ok_or_else(invalid)?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (rest.get(..i).unwrap_or(""), rest.get(i + 1..).unwrap_or("")),
            None => (rest, ""),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (
                Some(authority.get(..i).unwrap_or("")),
                authority.get(i + 1..).unwrap_or(""),
            ),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(info) => match info.split_once(':') {
                Some((u, p)) => (
                    Some(crate::records::unescape(u).ok_or_else(invalid)?),
                    Some(crate::records::unescape(p).ok_or_else(invalid)?),
                ),
                None => (
                    Some(crate::records::unescape(info).ok_or_else(invalid)?),
                    None,
                ),
            },
            None => (None, None),
        };
        let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']').ok_or_else(invalid)?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| invalid())?,
                None if after.is_empty() => 21,
                None => return Err(invalid()),
            };
            (host, port)
        } else {
            match hostport.rsplit_once(':') {
                Some((host, port)) => (host, port.parse().map_err(|_| invalid())?),
                None => (hostport, 21),
            }
        };
        if host.is_empty() || port == 0 {
            return Err(invalid());
        }
        let path = path.split(";type=").next().unwrap_or("");
        let path = crate::records::unescape(path).ok_or_else(invalid)?;
        if path.is_empty() || path.ends_with('/') || path.contains(['\r', '\n']) {
            return Err(invalid());
        }
        Ok(FtpUrl {
            host: host.to_ascii_lowercase(),
            port,
            user,
            password,
            path,
        })
    }
}

/// One complete reply: its code and its text (all lines joined with `\n`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub text: String,
}

/// Collects control-channel bytes into complete replies (RFC 959 4.2,
/// multi-line `ddd-` … `ddd ` replies included).
#[derive(Clone, Debug, Default)]
pub struct ReplyReader {
    buf: Vec<u8>,
    /// The code and lines of a multi-line reply under way.
    open: Option<(u16, Vec<String>)>,
}

fn reply_code(line: &str) -> Option<(u16, u8)> {
    let digits = line.get(..3)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let code: u16 = digits.parse().ok()?;
    let sep = line.as_bytes().get(3).copied().unwrap_or(b' ');
    (100..600).contains(&code).then_some((code, sep))
}

impl ReplyReader {
    pub fn new() -> ReplyReader {
        ReplyReader::default()
    }

    /// Adds received bytes; returns the replies they complete, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Reply>, FtpError> {
        self.buf.extend_from_slice(bytes);
        let mut replies = Vec::new();
        while let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
            let raw: Vec<u8> = self.buf.drain(..=end).collect();
            let line = String::from_utf8_lossy(&raw);
            let line = line.trim_end_matches(['\r', '\n']).to_owned();
            if let Some(reply) = self.line(line)? {
                replies.push(reply);
            }
        }
        if self.buf.len() > MAX_LINE {
            return Err(FtpError::BadReply("reply line too long".into()));
        }
        Ok(replies)
    }

    fn line(&mut self, line: String) -> Result<Option<Reply>, FtpError> {
        if let Some((code, lines)) = &mut self.open {
            let ends = reply_code(&line).is_some_and(|(c, sep)| c == *code && sep == b' ');
            lines.push(line);
            if lines.len() > MAX_REPLY_LINES {
                return Err(FtpError::BadReply("reply has too many lines".into()));
            }
            if ends {
                let (code, lines) = self.open.take().unwrap_or_default();
                return Ok(Some(Reply {
                    code,
                    text: lines.join("\n"),
                }));
            }
            return Ok(None);
        }
        let (code, sep) = reply_code(&line).ok_or_else(|| FtpError::BadReply(line.clone()))?;
        if sep == b'-' {
            self.open = Some((code, vec![line]));
            return Ok(None);
        }
        Ok(Some(Reply { code, text: line }))
    }
}

/// The port of a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` reply.
/// The address is ignored: the data connection goes to the control
/// connection's peer (servers behind NAT announce private addresses).
pub fn parse_pasv(text: &str) -> Option<u16> {
    // Past the reply code, the six numbers start at the first digit.
    let after_code = text.get(3..)?;
    let start = after_code.find(|c: char| c.is_ascii_digit())?;
    let inner = after_code.get(start..)?;
    let inner = inner.split(')').next()?.trim_end_matches('.');
    let numbers: Vec<u16> = inner
        .split(',')
        .map(|n| n.trim().parse::<u16>().ok().filter(|v| *v <= 255))
        .collect::<Option<_>>()?;
    match numbers.as_slice() {
        [_, _, _, _, hi, lo] => Some(hi * 256 + lo).filter(|p| *p != 0),
        _ => None,
    }
}

/// The port of a `229 Entering Extended Passive Mode (|||port|)` reply (RFC 2428).
pub fn parse_epsv(text: &str) -> Option<u16> {
    let inner = text.split('(').nth(1)?.split(')').next()?;
    let delimiter = inner.chars().next()?;
    let parts: Vec<&str> = inner.split(delimiter).collect();
    match parts.as_slice() {
        ["", "", "", port, ""] => port.parse().ok().filter(|p| *p != 0),
        _ => None,
    }
}

/// Download or upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Retrieve,
    Store,
}

/// What the transport must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this command line (CRLF is added by [`Step::command_bytes`]).
    Send(String),
    /// Open the data connection to the control peer on this port.
    OpenData(u16),
    /// The server accepted the transfer (150/125): move the data.
    StartData,
    /// The server confirmed the end of the transfer (226/250).
    ServerDone,
    /// The dialogue failed.
    Fail(FtpError),
}

impl Step {
    /// The wire bytes of a [`Step::Send`].
    pub fn command_bytes(command: &str) -> Vec<u8> {
        let mut bytes = command.as_bytes().to_vec();
        bytes.extend_from_slice(b"\r\n");
        bytes
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Greeting,
    User,
    Pass,
    Type,
    Size,
    Passive,
    Transfer,
    Completing,
    Finished,
}

/// The control dialogue of one transfer.
#[derive(Clone, Debug)]
pub struct Dialogue {
    direction: Direction,
    path: String,
    user: String,
    password: String,
    /// FileSize from the request (0: unknown), checked against SIZE.
    expected_size: u64,
    /// Use EPSV (IPv6 control connection) instead of PASV.
    extended: bool,
    stage: Stage,
    /// The size the server announced with SIZE.
    pub server_size: Option<u64>,
}

impl Dialogue {
    /// A dialogue that logs in as `user` (anonymous when empty, RFC 1635).
    pub fn new(
        direction: Direction,
        path: &str,
        user: &str,
        password: &str,
        expected_size: u64,
        extended: bool,
    ) -> Dialogue {
        let (user, password) = if user.is_empty() {
            ("anonymous".to_owned(), "icwmp@".to_owned())
        } else {
            (user.to_owned(), password.to_owned())
        };
        Dialogue {
            direction,
            path: path.to_owned(),
            user,
            password,
            expected_size,
            extended,
            stage: Stage::Greeting,
            server_size: None,
        }
    }

    /// Whether the server has confirmed the transfer's end.
    pub fn finished(&self) -> bool {
        self.stage == Stage::Finished
    }

    fn passive(&mut self) -> Vec<Step> {
        self.stage = Stage::Passive;
        vec![Step::Send(
            if self.extended { "EPSV" } else { "PASV" }.into(),
        )]
    }

    /// Feeds one reply; returns what to do.
    pub fn on_reply(&mut self, reply: &Reply) -> Vec<Step> {
        let code = reply.code;
        let fail = |e: FtpError| vec![Step::Fail(e)];
        let text = || reply.text.clone();
        // Preliminary replies (1xx) only matter when a transfer starts.
        if (100..200).contains(&code) && self.stage != Stage::Transfer {
            return Vec::new();
        }
        match self.stage {
            Stage::Greeting => match code {
                220 => {
                    self.stage = Stage::User;
                    vec![Step::Send(format!("USER {}", self.user))]
                }
                _ => fail(FtpError::Refused(text())),
            },
            Stage::User | Stage::Pass => match code {
                230 | 202 => {
                    self.stage = Stage::Type;
                    vec![Step::Send("TYPE I".into())]
                }
                331 if self.stage == Stage::User => {
                    self.stage = Stage::Pass;
                    vec![Step::Send(format!("PASS {}", self.password))]
                }
                332 | 530 | 331 => fail(FtpError::AuthFailed(text())),
                _ => fail(FtpError::Refused(text())),
            },
            Stage::Type => match code {
                200 if self.direction == Direction::Retrieve => {
                    self.stage = Stage::Size;
                    vec![Step::Send(format!("SIZE {}", self.path))]
                }
                200 => self.passive(),
                _ => fail(FtpError::Refused(text())),
            },
            Stage::Size => match code {
                213 => {
                    let size = reply
                        .text
                        .get(4..)
                        .and_then(|s| s.trim().parse::<u64>().ok());
                    match size {
                        Some(actual) if self.expected_size != 0 && actual != self.expected_size => {
                            fail(FtpError::SizeMismatch {
                                expected: self.expected_size,
                                actual,
                            })
                        }
                        Some(actual) => {
                            self.server_size = Some(actual);
                            self.passive()
                        }
                        None => self.passive(),
                    }
                }
                550 => fail(FtpError::NotFound(text())),
                // SIZE is optional (RFC 3659): go on without it.
                _ => self.passive(),
            },
            Stage::Passive => {
                let port = match code {
                    227 => parse_pasv(&reply.text),
                    229 => parse_epsv(&reply.text),
                    _ => return fail(FtpError::Refused(text())),
                };
                let Some(port) = port else {
                    return fail(FtpError::BadReply(text()));
                };
                self.stage = Stage::Transfer;
                let verb = match self.direction {
                    Direction::Retrieve => "RETR",
                    Direction::Store => "STOR",
                };
                vec![
                    Step::OpenData(port),
                    Step::Send(format!("{verb} {}", self.path)),
                ]
            }
            Stage::Transfer => match code {
                125 | 150 => {
                    self.stage = Stage::Completing;
                    vec![Step::StartData]
                }
                // Some servers skip the preliminary reply for tiny files.
                226 | 250 => {
                    self.stage = Stage::Finished;
                    vec![Step::StartData, Step::ServerDone]
                }
                550 if self.direction == Direction::Retrieve => fail(FtpError::NotFound(text())),
                530 => fail(FtpError::AuthFailed(text())),
                _ => fail(FtpError::Refused(text())),
            },
            Stage::Completing => match code {
                226 | 250 => {
                    self.stage = Stage::Finished;
                    vec![Step::ServerDone]
                }
                421 | 425 | 426 | 451 => fail(FtpError::Incomplete(text())),
                _ => fail(FtpError::Refused(text())),
            },
            Stage::Finished => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, text: &str) -> Reply {
        Reply {
            code,
            text: format!("{code} {text}"),
        }
    }

    #[test]
    fn urls_parse() {
        let url = FtpUrl::parse("ftp://us%40er:p%3Ass@Example.com:2121/dir/file%20a.bin;type=i")
            .expect("valid");
        assert_eq!(url.host, "example.com");
        assert_eq!(url.port, 2121);
        assert_eq!(url.user.as_deref(), Some("us@er"));
        assert_eq!(url.password.as_deref(), Some("p:ss"));
        assert_eq!(url.path, "dir/file a.bin");
        let v6 = FtpUrl::parse("ftp://[::1]/%2Fetc/x").expect("valid");
        assert_eq!(
            (v6.host.as_str(), v6.port, v6.path.as_str()),
            ("::1", 21, "/etc/x")
        );
        for bad in [
            "http://h/x",
            "ftp://h/",
            "ftp:///x",
            "ftp://h:0/x",
            "ftp://h:99999/x",
            "ftp://h/x%0d%0aDELE y",
            "ftp://h/%zz",
            "ftp://[::1/x",
        ] {
            assert!(FtpUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn replies_split_across_reads_and_lines() {
        let mut reader = ReplyReader::new();
        assert_eq!(reader.push(b"220-Welcome\r\n220-more\r").expect("ok"), []);
        let replies = reader.push(b"\n220 ready\r\n331 Please").expect("ok");
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].code, 220);
        assert_eq!(replies[0].text, "220-Welcome\n220-more\n220 ready");
        assert_eq!(
            reader.push(b" specify the password.\n").expect("ok")[0].code,
            331
        );
        assert!(ReplyReader::new().push(b"hello\r\n").is_err());
        assert!(ReplyReader::new().push(&[b'2'; MAX_LINE + 1]).is_err());
        let mut many = ReplyReader::new();
        let mut flood = b"200-x\n".to_vec();
        flood.extend(b"line\n".repeat(MAX_REPLY_LINES + 1));
        assert!(many.push(&flood).is_err());
    }

    #[test]
    fn passive_replies_parse() {
        assert_eq!(
            parse_pasv("227 Entering Passive Mode (127,0,0,1,195,80)."),
            Some(195 * 256 + 80)
        );
        assert_eq!(
            parse_pasv("227 Entering Passive Mode (127,0,0,1,300,80)"),
            None
        );
        assert_eq!(parse_pasv("227 nothing"), None);
        assert_eq!(
            parse_epsv("229 Entering Extended Passive Mode (|||6446|)"),
            Some(6446)
        );
        assert_eq!(parse_epsv("229 (|||x|)"), None);
    }

    #[test]
    fn retrieve_dialogue() {
        let mut d = Dialogue::new(Direction::Retrieve, "f.bin", "", "", 10, false);
        assert_eq!(
            d.on_reply(&reply(220, "hi")),
            [Step::Send("USER anonymous".into())]
        );
        assert_eq!(
            d.on_reply(&reply(331, "pw")),
            [Step::Send("PASS icwmp@".into())]
        );
        assert_eq!(d.on_reply(&reply(230, "in")), [Step::Send("TYPE I".into())]);
        assert_eq!(
            d.on_reply(&reply(200, "ok")),
            [Step::Send("SIZE f.bin".into())]
        );
        assert_eq!(d.on_reply(&reply(213, "10")), [Step::Send("PASV".into())]);
        assert_eq!(d.server_size, Some(10));
        assert_eq!(
            d.on_reply(&reply(227, "Entering Passive Mode (127,0,0,1,0,21)")),
            [Step::OpenData(21), Step::Send("RETR f.bin".into())]
        );
        assert_eq!(d.on_reply(&reply(150, "opening")), [Step::StartData]);
        assert!(!d.finished());
        assert_eq!(d.on_reply(&reply(226, "done")), [Step::ServerDone]);
        assert!(d.finished());
    }

    #[test]
    fn store_dialogue_uses_epsv_and_skips_size() {
        let mut d = Dialogue::new(Direction::Store, "up/log", "u", "p", 0, true);
        d.on_reply(&reply(220, "hi"));
        assert_eq!(d.on_reply(&reply(331, "pw")), [Step::Send("PASS p".into())]);
        d.on_reply(&reply(230, "in"));
        assert_eq!(d.on_reply(&reply(200, "ok")), [Step::Send("EPSV".into())]);
        assert_eq!(
            d.on_reply(&reply(229, "(|||4000|)")),
            [Step::OpenData(4000), Step::Send("STOR up/log".into())]
        );
        assert_eq!(
            d.on_reply(&reply(226, "done")),
            [Step::StartData, Step::ServerDone]
        );
    }

    #[test]
    fn failures_are_typed() {
        let fail = |steps: Vec<Step>| match steps.as_slice() {
            [Step::Fail(e)] => e.clone(),
            other => panic!("{other:?}"),
        };
        let login = |d: &mut Dialogue| {
            d.on_reply(&reply(220, "hi"));
            d.on_reply(&reply(331, "pw"));
        };
        let mut d = Dialogue::new(Direction::Retrieve, "f", "u", "bad", 0, false);
        login(&mut d);
        assert!(matches!(
            fail(d.on_reply(&reply(530, "no"))),
            FtpError::AuthFailed(_)
        ));
        let mut d = Dialogue::new(Direction::Retrieve, "f", "u", "p", 5, false);
        login(&mut d);
        d.on_reply(&reply(230, "in"));
        d.on_reply(&reply(200, "ok"));
        assert_eq!(
            fail(d.on_reply(&reply(213, "7"))),
            FtpError::SizeMismatch {
                expected: 5,
                actual: 7
            }
        );
        let mut d = Dialogue::new(Direction::Retrieve, "f", "u", "p", 0, false);
        login(&mut d);
        d.on_reply(&reply(230, "in"));
        d.on_reply(&reply(200, "ok"));
        assert!(matches!(
            fail(d.on_reply(&reply(550, "no file"))),
            FtpError::NotFound(_)
        ));
        let mut d = Dialogue::new(Direction::Retrieve, "f", "u", "p", 0, false);
        login(&mut d);
        d.on_reply(&reply(230, "in"));
        d.on_reply(&reply(200, "ok"));
        d.on_reply(&reply(502, "no SIZE"));
        d.on_reply(&reply(227, "(127,0,0,1,1,1)"));
        d.on_reply(&reply(150, "go"));
        assert!(matches!(
            fail(d.on_reply(&reply(426, "broken"))),
            FtpError::Incomplete(_)
        ));
        let mut d = Dialogue::new(Direction::Retrieve, "f", "u", "p", 0, false);
        assert!(matches!(
            fail(d.on_reply(&reply(421, "busy"))),
            FtpError::Refused(_)
        ));
    }
}
