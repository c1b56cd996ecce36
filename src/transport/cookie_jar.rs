//! Session cookie jar for the ACS client: remembers `Set-Cookie` values and builds `Cookie` headers.
//!
//! Deliberately simple (RFC 6265 subset): cookies live for one CWMP session only,
//! so `Expires` is ignored; `Max-Age<=0` deletes; `Domain`, `Path` and `Secure` are
//! honoured with plain suffix/prefix matching.

/// One stored cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cookie {
    name: String,
    value: String,
    /// Lower-case host or domain the cookie applies to.
    domain: String,
    /// `true` when no `Domain` attribute was given: exact host match only.
    host_only: bool,
    path: String,
    secure: bool,
}

impl Cookie {
    fn matches(&self, host: &str, path: &str, https: bool) -> bool {
        if self.secure && !https {
            return false;
        }
        let domain_ok = if self.host_only {
            host == self.domain
        } else {
            host == self.domain
                || (host.ends_with(&self.domain)
                    && host
                        .len()
                        .checked_sub(self.domain.len() + 1)
                        .and_then(|dot| host.as_bytes().get(dot))
                        == Some(&b'.'))
        };
        domain_ok && path_matches(&self.path, path)
    }
}

/// RFC 6265 section 5.1.4 path-match.
fn path_matches(cookie_path: &str, request_path: &str) -> bool {
    request_path == cookie_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/')
                || request_path.as_bytes().get(cookie_path.len()) == Some(&b'/')))
}

/// RFC 6265 section 5.1.4 default-path of a request path.
fn default_path(request_path: &str) -> String {
    match request_path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(at) => request_path.get(..at).unwrap_or("/").to_string(),
    }
}

/// Cookies remembered during one session.
#[derive(Debug, Default, Clone)]
pub struct CookieJar {
    cookies: Vec<Cookie>,
}

/// Upper bound on stored cookies, so a hostile server cannot grow memory.
const MAX_COOKIES: usize = 64;

impl CookieJar {
    pub fn new() -> CookieJar {
        CookieJar::default()
    }

    /// Remember one `Set-Cookie` value received from `host` for a request to `request_path`.
    pub fn store(&mut self, set_cookie: &str, host: &str, request_path: &str) {
        let host = host.to_ascii_lowercase();
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
            return;
        };
        let name = name.trim();
        if name.is_empty() {
            return;
        }
        let mut cookie = Cookie {
            name: name.to_string(),
            value: value.trim().to_string(),
            domain: host.clone(),
            host_only: true,
            path: default_path(request_path),
            secure: false,
        };
        let mut delete = false;
        for attribute in parts {
            let (key, val) = match attribute.split_once('=') {
                Some((key, val)) => (key.trim(), val.trim()),
                None => (attribute.trim(), ""),
            };
            if key.eq_ignore_ascii_case("domain") && !val.is_empty() {
                let domain = val.trim_start_matches('.').to_ascii_lowercase();
                let suffix_ok = host == domain
                    || host
                        .strip_suffix(&domain)
                        .is_some_and(|prefix| prefix.ends_with('.'));
                if !suffix_ok {
                    // A server may not set cookies for a domain it does not belong to.
                    return;
                }
                cookie.domain = domain;
                cookie.host_only = false;
            } else if key.eq_ignore_ascii_case("path") && val.starts_with('/') {
                cookie.path = val.to_string();
            } else if key.eq_ignore_ascii_case("secure") {
                cookie.secure = true;
            } else if key.eq_ignore_ascii_case("max-age") {
                delete = val.parse::<i64>().is_ok_and(|age| age <= 0);
            }
        }
        self.cookies.retain(|old| {
            !(old.name == cookie.name && old.domain == cookie.domain && old.path == cookie.path)
        });
        if !delete {
            if self.cookies.len() >= MAX_COOKIES {
                self.cookies.remove(0);
            }
            self.cookies.push(cookie);
        }
    }

    /// The `Cookie` header value for a request, if any cookie applies.
    pub fn header_for(&self, host: &str, path: &str, https: bool) -> Option<String> {
        let host = host.to_ascii_lowercase();
        let mut matching: Vec<&Cookie> = self
            .cookies
            .iter()
            .filter(|cookie| cookie.matches(&host, path, https))
            .collect();
        if matching.is_empty() {
            return None;
        }
        // Longer paths first, as RFC 6265 section 5.4 asks.
        matching.sort_by_key(|cookie| std::cmp::Reverse(cookie.path.len()));
        let pairs: Vec<String> = matching
            .iter()
            .map(|cookie| format!("{}={}", cookie.name, cookie.value))
            .collect();
        Some(pairs.join("; "))
    }

    /// Forget everything (end of the CWMP session).
    pub fn clear(&mut self) {
        self.cookies.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_and_returns_session_cookies() {
        let mut jar = CookieJar::new();
        jar.store("session=abc; Path=/; HttpOnly", "acs.example", "/acs");
        jar.store("route=r1", "acs.example", "/acs/x");
        assert_eq!(
            jar.header_for("ACS.example", "/acs/y", false).as_deref(),
            Some("route=r1; session=abc")
        );
        assert_eq!(
            jar.header_for("acs.example", "/", false).as_deref(),
            Some("session=abc")
        );
        assert_eq!(jar.header_for("other.example", "/", false), None);
    }

    #[test]
    fn replaces_and_deletes() {
        let mut jar = CookieJar::new();
        jar.store("a=1; Path=/", "h", "/");
        jar.store("a=2; Path=/", "h", "/");
        assert_eq!(jar.header_for("h", "/", false).as_deref(), Some("a=2"));
        jar.store("a=; Path=/; Max-Age=0", "h", "/");
        assert!(jar.is_empty());
    }

    #[test]
    fn domain_secure_and_foreign_domains() {
        let mut jar = CookieJar::new();
        jar.store("d=1; Domain=.example.com; Path=/", "acs.example.com", "/");
        jar.store("s=1; Secure; Path=/", "acs.example.com", "/");
        jar.store("evil=1; Domain=attacker.net", "acs.example.com", "/");
        assert_eq!(
            jar.header_for("cr.example.com", "/", false).as_deref(),
            Some("d=1")
        );
        assert_eq!(jar.header_for("badexample.com", "/", true), None);
        assert_eq!(
            jar.header_for("acs.example.com", "/", true).as_deref(),
            Some("d=1; s=1")
        );
        jar.clear();
        assert_eq!(jar.header_for("acs.example.com", "/", true), None);
    }

    #[test]
    fn ignores_garbage() {
        let mut jar = CookieJar::new();
        for bad in ["", "noequals", "=v", ";;;", "a=b; Domain="] {
            jar.store(bad, "h", "/");
        }
        assert_eq!(jar.header_for("h", "/", false).as_deref(), Some("a=b"));
    }

    #[test]
    fn path_matching_follows_rfc6265() {
        assert!(path_matches("/acs", "/acs"));
        assert!(path_matches("/acs", "/acs/x"));
        assert!(path_matches("/acs/", "/acs/x"));
        assert!(!path_matches("/acs", "/acsx"));
        assert_eq!(default_path("/a/b/c"), "/a/b");
        assert_eq!(default_path("/a"), "/");
    }
}
