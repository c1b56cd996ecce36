//! What the log may show of envelopes, URLs and HTTP heads: secrets masked, length bounded, one line.
//!
//! At DEBUG the daemon logs every envelope and HTTP head of a session, and
//! such logs get mailed around. Before a line is formed, the value of every
//! password-like parameter, every `Username`/`Password` element (Download,
//! Upload, ScheduleDownload, ChangeDUState), the user part of URLs and the
//! credentials of `Authorization` headers are replaced by [`MASK`]. The scan
//! works on the raw text, so an ACS message that does not parse is masked
//! too, and it fails safe: a value whose parameter name was cut off by the
//! length bound is masked.

use std::borrow::Cow;

/// What a secret is shown as.
pub const MASK: &str = "***";

/// How many bytes of an envelope the DEBUG log shows (about a syslog line's worth of four).
pub const ENVELOPE_LOG_LIMIT: usize = 4096;

/// How many bytes of an HTTP head the DEBUG log shows.
const HEAD_LOG_LIMIT: usize = 1024;

/// Parameter names (last segment, lower case, trailing digits dropped) ending
/// like this hold secrets: `Password`, `KeyPassphrase`, `PreSharedKey`,
/// `WEPKey`, RADIUS `Secret`, …
const SECRET_ENDINGS: [&str; 8] = [
    "password",
    "passwd",
    "passphrase",
    "secret",
    "key",
    "psk",
    "credentials",
    "token",
];

/// Names ending in `key` that are no secret.
const PUBLIC_KEYS: [&str; 3] = ["parameterkey", "commandkey", "publickey"];

/// Whether the value of parameter `name` must not be logged.
pub fn is_secret_parameter(name: &str) -> bool {
    let last = name.rsplit('.').find(|s| !s.is_empty()).unwrap_or(name);
    let word = last
        .trim()
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .to_ascii_lowercase();
    SECRET_ENDINGS.iter().any(|e| word.ends_with(e)) && !PUBLIC_KEYS.contains(&word.as_str())
}

/// Where the user part (`user:password`) of a URL sits, if it has one.
fn userinfo_range(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://")? + 3;
    let rest = url.get(start..)?;
    let authority = rest
        .find(['/', '?', '#'])
        .and_then(|end| rest.get(..end))
        .unwrap_or(rest);
    let at = authority.rfind('@')?;
    Some((start, start + at))
}

/// A URL with its user part masked: `http://***@host/`.
pub fn url(url: &str) -> Cow<'_, str> {
    match userinfo_range(url) {
        Some((start, end)) => Cow::Owned(format!(
            "{}{MASK}{}",
            url.get(..start).unwrap_or(""),
            url.get(end..).unwrap_or("")
        )),
        None => Cow::Borrowed(url),
    }
}

/// A header value as the log may show it: the credentials of
/// `Authorization`/`Proxy-Authorization` are masked, the scheme kept.
pub fn header_value<'a>(name: &str, value: &'a str) -> Cow<'a, str> {
    if name.eq_ignore_ascii_case("authorization")
        || name.eq_ignore_ascii_case("proxy-authorization")
    {
        let scheme = value.split_whitespace().next().unwrap_or("");
        Cow::Owned(format!("{scheme} {MASK}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// An HTTP request head on one bounded line:
/// `POST http://acs/ HTTP/1.1; user-agent: x; authorization: Digest ***`.
pub fn request_head<'a>(
    method: &str,
    uri: &str,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut line = format!("{method} {} HTTP/1.1", url(uri));
    for (name, value) in headers {
        line.push_str("; ");
        line.push_str(name);
        line.push_str(": ");
        line.push_str(&header_value(name, value));
        if line.len() > HEAD_LOG_LIMIT {
            break;
        }
    }
    one_line(&bounded(&line, HEAD_LOG_LIMIT))
}

/// The first `limit` bytes of `text`, cut on a character boundary.
fn bounded(text: &str, limit: usize) -> Cow<'_, str> {
    if text.len() <= limit {
        return Cow::Borrowed(text);
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(text.get(..end).unwrap_or("").to_owned())
}

/// Control characters (line breaks of a pretty-printed envelope, or an
/// attempt to forge log lines) become spaces: one event, one line.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// An envelope as the DEBUG log shows it: its first [`ENVELOPE_LOG_LIMIT`]
/// bytes, secrets masked, on one line. Not-UTF-8 bytes show as U+FFFD.
pub fn envelope_for_log(body: &[u8]) -> String {
    let shown = body.get(..ENVELOPE_LOG_LIMIT).unwrap_or(body);
    let text = String::from_utf8_lossy(shown);
    one_line(&mask_envelope(&text))
}

/// Logs an envelope at DEBUG the way icwmp does: `OUT: <soap…>` or
/// `IN: <soap…>`, then `Truncated message at N characters` when it was cut.
pub fn debug_envelope(direction: Direction, body: &[u8]) {
    if body.is_empty() || !log::log_enabled!(log::Level::Debug) {
        return;
    }
    let tag = match direction {
        Direction::In => "IN",
        Direction::Out => "OUT",
    };
    log::debug!("{tag}: {}", envelope_for_log(body));
    if body.len() > ENVELOPE_LOG_LIMIT {
        log::debug!("Truncated message at {} characters", body.len());
    }
}

/// Which way an envelope went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the ACS.
    In,
    /// To the ACS.
    Out,
}

/// An element open during the scan.
struct Frame<'a> {
    /// Local name (without the namespace prefix).
    name: &'a str,
    /// Where its content starts.
    content: usize,
    /// The text of its `Name` child (a ParameterValueStruct's name).
    parameter: Option<&'a str>,
    /// Where its `Value` child's content is.
    value: Option<(usize, usize)>,
}

/// The element name at the start of a tag's text, without its prefix.
fn local_name(tag: &str) -> &str {
    let name = tag
        .split(|c: char| c.is_whitespace() || c == '/')
        .next()
        .unwrap_or("");
    name.rsplit(':').next().unwrap_or(name)
}

/// Where the `>` closing the tag that starts at `text[0] == '<'` is, skipping
/// quoted attribute values.
fn tag_end(text: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// `xml` with every secret value masked (see the module's doc).
pub fn mask_envelope(xml: &str) -> String {
    let mut masks: Vec<(usize, usize)> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut at = 0;
    while let Some(offset) = xml.get(at..).and_then(|rest| rest.find('<')) {
        let lt = at + offset;
        let rest = xml.get(lt..).unwrap_or("");
        let skip_to = |end: &str| rest.find(end).map_or(xml.len(), |i| lt + i + end.len());
        if rest.starts_with("<!--") {
            at = skip_to("-->");
            continue;
        }
        if rest.starts_with("<![CDATA[") {
            at = skip_to("]]>");
            continue;
        }
        let Some(gt) = tag_end(rest) else {
            break;
        };
        let tag = rest.get(1..gt).unwrap_or("");
        at = lt + gt + 1;
        if tag.starts_with('?') || tag.starts_with('!') || tag.ends_with('/') {
            continue;
        }
        if let Some(closing) = tag.strip_prefix('/') {
            let name = local_name(closing.trim());
            if let Some(open) = stack.iter().rposition(|f| f.name == name) {
                while stack.len() > open {
                    close(xml, &mut stack, lt, false, &mut masks);
                }
            }
        } else {
            stack.push(Frame {
                name: local_name(tag),
                content: at,
                parameter: None,
                value: None,
            });
        }
    }
    // Elements the text ends inside of (cut by the length bound or malformed).
    while !stack.is_empty() {
        close(xml, &mut stack, xml.len(), true, &mut masks);
    }
    masks.sort_unstable();
    let mut out = String::with_capacity(xml.len());
    let mut copied = 0;
    for (start, end) in masks {
        if start < copied {
            // Nested in (or overlapping) the previous mask: hidden with it.
            copied = copied.max(end);
            continue;
        }
        out.push_str(xml.get(copied..start).unwrap_or(""));
        out.push_str(MASK);
        copied = end;
    }
    out.push_str(xml.get(copied..).unwrap_or(""));
    out
}

/// Closes the innermost open element, its content ending at `end`; records
/// what must be masked. `cut`: the text ended before the element did.
fn close<'a>(
    xml: &'a str,
    stack: &mut Vec<Frame<'a>>,
    end: usize,
    cut: bool,
    masks: &mut Vec<(usize, usize)>,
) {
    let Some(frame) = stack.pop() else {
        return;
    };
    let content = (frame.content, end.max(frame.content));
    let text = xml.get(content.0..content.1).unwrap_or("");
    let name = frame.name;
    if name.eq_ignore_ascii_case("Password") || name.eq_ignore_ascii_case("Username") {
        if !text.trim().is_empty() {
            masks.push(content);
        }
    } else if name.eq_ignore_ascii_case("URL") {
        if let Some((start, end)) = userinfo_range(text) {
            masks.push((content.0 + start, content.0 + end));
        }
    }
    if let Some(value) = frame.value {
        // A value whose name was cut off may be a secret.
        let secret = frame.parameter.map_or(cut, is_secret_parameter);
        if secret && value.1 > value.0 {
            masks.push(value);
        }
    }
    if let Some(parent) = stack.last_mut() {
        if name == "Name" {
            parent.parameter = Some(text.trim());
        } else if name == "Value" {
            parent.value = Some(content);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_parameter_names() {
        for name in [
            "Device.ManagementServer.Password",
            "Device.ManagementServer.ConnectionRequestPassword",
            "Device.WiFi.AccessPoint.1.Security.KeyPassphrase",
            "Device.WiFi.AccessPoint.1.Security.PreSharedKey",
            "Device.WiFi.AccessPoint.1.Security.SAEPassphrase",
            "Device.WiFi.AccessPoint.1.Security.WEPKey",
            "Device.WiFi.AccessPoint.1.Security.RadiusSecret",
            "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.WEPKey.2.WEPKey",
            "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.PreSharedKey.1.KeyPassphrase",
            "Device.Users.User.1.Password",
            "Device.X_IOPSYS_EU_Owsd.Listen.1.Key2",
            "Device.PPP.Interface.1.password",
        ] {
            assert!(is_secret_parameter(name), "{name}");
        }
        for name in [
            "Device.ManagementServer.Username",
            "Device.ManagementServer.ParameterKey",
            "Device.ManagementServer.PeriodicInformInterval",
            "Device.DeviceInfo.SerialNumber",
            "Device.WiFi.SSID.1.SSID",
            "Device.Security.Certificate.1.PublicKey",
            "",
        ] {
            assert!(!is_secret_parameter(name), "{name}");
        }
    }

    #[test]
    fn spv_passwords_are_masked_and_other_values_kept() {
        let xml = r#"<cwmp:SetParameterValues><ParameterList soap-enc:arrayType="cwmp:ParameterValueStruct[3]"><ParameterValueStruct><Name>Device.ManagementServer.Password</Name><Value xsi:type="xsd:string">hunter2</Value></ParameterValueStruct><ParameterValueStruct><Name>Device.WiFi.AccessPoint.1.Security.KeyPassphrase</Name><Value xsi:type="xsd:string"><![CDATA[s3cr</Value>et]]></Value></ParameterValueStruct><ParameterValueStruct><Name>Device.WiFi.SSID.1.SSID</Name><Value xsi:type="xsd:string">OpenWrt</Value></ParameterValueStruct></ParameterList><ParameterKey>k1</ParameterKey></cwmp:SetParameterValues>"#;
        let masked = mask_envelope(xml);
        assert!(!masked.contains("hunter2"), "{masked}");
        assert!(
            !masked.contains("s3cr") && !masked.contains("et]]"),
            "{masked}"
        );
        assert!(masked.contains(r#"<Value xsi:type="xsd:string">***</Value>"#));
        assert!(masked.contains(">OpenWrt</Value>"), "{masked}");
        assert!(
            masked.contains("<ParameterKey>k1</ParameterKey>"),
            "{masked}"
        );
        assert!(masked.contains("<Name>Device.ManagementServer.Password</Name>"));
    }

    #[test]
    fn value_before_name_and_prefixed_elements_are_masked() {
        let xml = "<a:ParameterValueStruct><a:Value>pw1</a:Value>\n<a:Name>X.Secret</a:Name></a:ParameterValueStruct>";
        assert_eq!(
            mask_envelope(xml),
            "<a:ParameterValueStruct><a:Value>***</a:Value>\n<a:Name>X.Secret</a:Name></a:ParameterValueStruct>"
        );
    }

    #[test]
    fn transfer_credentials_and_url_userinfo_are_masked() {
        let xml = "<cwmp:Download><CommandKey>c</CommandKey><FileType>1 Firmware Upgrade Image</FileType><URL>http://fw:pass@files.example/fw.bin</URL><Username>fwuser</Username><Password>fwpass</Password><Password></Password><FileSize>0</FileSize></cwmp:Download>";
        let masked = mask_envelope(xml);
        assert_eq!(
            masked,
            "<cwmp:Download><CommandKey>c</CommandKey><FileType>1 Firmware Upgrade Image</FileType><URL>http://***@files.example/fw.bin</URL><Username>***</Username><Password>***</Password><Password></Password><FileSize>0</FileSize></cwmp:Download>"
        );
    }

    #[test]
    fn text_cut_inside_a_secret_is_masked() {
        // Cut after the value started but before its name was seen.
        let xml = "<ParameterValueStruct><Value>topsecret";
        assert_eq!(mask_envelope(xml), "<ParameterValueStruct><Value>***");
        let xml = "<ParameterValueStruct><Name>A.Password</Name><Value>tops";
        assert_eq!(
            mask_envelope(xml),
            "<ParameterValueStruct><Name>A.Password</Name><Value>***"
        );
        assert_eq!(mask_envelope("<Password>abc"), "<Password>***");
        // A cut inside a tag leaves nothing of the content to show.
        assert_eq!(mask_envelope("<Password>abc</Pass"), "<Password>***");
        // A value whose name is known and harmless stays, even when cut.
        let xml = "<ParameterValueStruct><Name>A.SSID</Name><Value>net";
        assert_eq!(mask_envelope(xml), xml);
    }

    #[test]
    fn attributes_comments_and_odd_input_do_not_confuse_the_scan() {
        let xml = "<?xml version=\"1.0\"?><!-- <Password> --><X a=\"1>2\"><Password k='>'>pw</Password></X>";
        assert_eq!(
            mask_envelope(xml),
            "<?xml version=\"1.0\"?><!-- <Password> --><X a=\"1>2\"><Password k='>'>***</Password></X>"
        );
        for junk in [
            "",
            "<",
            "</>",
            "<<>>",
            "</Password>",
            "<Password/>",
            "a<b",
            "<é>ü</é>",
        ] {
            let _ = mask_envelope(junk);
        }
    }

    #[test]
    fn envelopes_are_bounded_and_on_one_line() {
        let mut body = b"<a>\r\n".to_vec();
        body.extend(std::iter::repeat_n(b'x', 10_000));
        let shown = envelope_for_log(&body);
        assert_eq!(shown.len(), ENVELOPE_LOG_LIMIT);
        assert!(shown.starts_with("<a>  xxx"));
        // A multi-byte character cut by the bound shows as U+FFFD, no panic.
        let mut body = vec![b'a'; ENVELOPE_LOG_LIMIT - 1];
        body.extend("é".as_bytes());
        assert!(envelope_for_log(&body).ends_with('\u{fffd}'));
    }

    #[test]
    fn urls_and_headers() {
        assert_eq!(
            url("http://u:p@acs.example:7547/x@y"),
            "http://***@acs.example:7547/x@y"
        );
        assert_eq!(url("https://acs.example/"), "https://acs.example/");
        assert_eq!(url("not a url"), "not a url");
        assert_eq!(
            header_value("Authorization", "Digest username=\"cpe\", response=\"abc\""),
            "Digest ***"
        );
        assert_eq!(
            header_value("authorization", "Basic dXNlcjpwYXNz"),
            "Basic ***"
        );
        assert_eq!(header_value("content-type", "text/xml"), "text/xml");
        let head = request_head(
            "POST",
            "http://127.0.0.1:7547/acs",
            [
                ("content-length", "12"),
                ("authorization", "Basic dXNlcjpwYXNz"),
            ],
        );
        assert_eq!(
            head,
            "POST http://127.0.0.1:7547/acs HTTP/1.1; content-length: 12; authorization: Basic ***"
        );
        let long = "v".repeat(5000);
        assert!(
            request_head("GET", "http://h/", [("cookie", long.as_str())]).len() <= HEAD_LOG_LIMIT
        );
    }
}
