//! A real prosody XMPP server on a loopback port of its own, and a blocking XMPP client that plays the ACS's side.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use icwmp::wire::scram::plain_response;
use icwmp::wire::xmpp::{emit, parse_stanza, Frame, IqKind, IqPayload, Stanza, StreamFramer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use super::pki::TestPki;

/// The prosody binary, if installed.
pub fn prosody_binary() -> Option<PathBuf> {
    ["/usr/bin/prosody", "/usr/sbin/prosody"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A prosody process with its own config, data, certificate and log in a temp directory.
pub struct Prosody {
    pub dir: PathBuf,
    pub port: u16,
    pub pki: TestPki,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Prosody {
    /// Starts prosody with `accounts` (user, password) on `localhost`; `None` if it is not installed.
    pub fn start(tag: &str, accounts: &[(&str, &str)]) -> Option<Prosody> {
        prosody_binary()?;
        let dir = std::env::temp_dir().join(format!("icwmp-prosody-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let accounts_dir = dir.join("data/localhost/accounts");
        std::fs::create_dir_all(&accounts_dir).expect("prosody dirs");
        let pki = TestPki::generate(&format!("xmpp-{tag}"), "DNS:localhost");
        for name in ["server.pem", "server.key"] {
            std::fs::copy(pki.dir.join(name), dir.join(name)).expect("certificate");
        }
        for (user, password) in accounts {
            std::fs::write(
                accounts_dir.join(format!("{user}.dat")),
                format!("return {{\n\t[\"password\"] = \"{password}\";\n}};\n"),
            )
            .expect("account");
        }
        let port = free_port();
        let template = include_str!("../prosody.cfg.lua");
        let config = template
            .replace("@DIR@", &dir.display().to_string())
            .replace("@PORT@", &port.to_string());
        std::fs::write(dir.join("prosody.cfg.lua"), config).expect("prosody config");
        let mut prosody = Prosody {
            dir,
            port,
            pki,
            child: None,
        };
        prosody.run();
        Some(prosody)
    }

    /// Starts (again) the process and waits until it accepts connections.
    pub fn run(&mut self) {
        let binary = prosody_binary().expect("prosody");
        let child = Command::new(binary)
            .arg("--config")
            .arg(self.dir.join("prosody.cfg.lua"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prosody");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "prosody did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the process (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while !matches!(child.try_wait(), Ok(Some(_))) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prosody.log")).unwrap_or_default()
    }

    pub fn ca_cert(&self) -> &Path {
        &self.pki.ca_cert
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

enum Transport {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Transport {
    fn write_all(&mut self, data: &[u8]) {
        match self {
            Transport::Plain(s) => s.write_all(data).expect("write"),
            Transport::Tls(s) => s.write_all(data).expect("write"),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> usize {
        match self {
            Transport::Plain(s) => s.read(buf).expect("read"),
            Transport::Tls(s) => s.read(buf).expect("read"),
        }
    }
}

/// A blocking XMPP client (STARTTLS, SASL PLAIN, bind) for the ACS's account.
pub struct XmppTestClient {
    transport: Transport,
    framer: StreamFramer,
    pub jid: String,
}

impl XmppTestClient {
    /// Logs in as `user@localhost/resource`.
    pub fn login(prosody: &Prosody, user: &str, password: &str, resource: &str) -> XmppTestClient {
        let socket = TcpStream::connect(("127.0.0.1", prosody.port)).expect("connect");
        socket
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut client = XmppTestClient {
            transport: Transport::Plain(socket.try_clone().expect("clone")),
            framer: StreamFramer::new(),
            jid: String::new(),
        };
        client.send(&emit::stream_open("localhost"));
        assert!(matches!(client.next(), Stanza::Features(f) if f.starttls));
        client.send(&emit::starttls());
        assert_eq!(client.next(), Stanza::TlsProceed);
        let roots = {
            let mut store = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(prosody.ca_cert()).expect("ca") {
                store.add(cert.expect("ca cert")).expect("root");
            }
            store
        };
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = ServerName::try_from("localhost").expect("name");
        let tls = rustls::ClientConnection::new(Arc::new(config), name).expect("tls");
        client.transport = Transport::Tls(Box::new(rustls::StreamOwned::new(tls, socket)));
        client.framer.restart();
        client.send(&emit::stream_open("localhost"));
        assert!(
            matches!(client.next(), Stanza::Features(f) if f.mechanisms.iter().any(|m| m == "PLAIN"))
        );
        client.send(&emit::sasl_auth("PLAIN", &plain_response(user, password)));
        assert!(matches!(client.next(), Stanza::SaslSuccess(_)), "ACS login");
        client.framer.restart();
        client.send(&emit::stream_open("localhost"));
        assert!(matches!(client.next(), Stanza::Features(f) if f.bind));
        client.send(&emit::bind("b1", resource));
        match client.next() {
            Stanza::Iq(iq) => match iq.payload {
                IqPayload::Bound(jid) => client.jid = jid,
                other => panic!("bind: {other:?}"),
            },
            other => panic!("bind: {other:?}"),
        }
        client.send(emit::presence());
        client
    }

    pub fn send(&mut self, text: &str) {
        self.transport.write_all(text.as_bytes());
    }

    /// The next stanza (stream headers skipped).
    pub fn next(&mut self) -> Stanza {
        parse_stanza(&self.next_raw()).expect("stanza")
    }

    /// The next stanza's bytes.
    pub fn next_raw(&mut self) -> Vec<u8> {
        let mut buf = [0u8; 4096];
        loop {
            match self.framer.next_frame().expect("frame") {
                Some(Frame::Stanza(bytes)) => return bytes,
                Some(Frame::StreamOpen(_)) => continue,
                Some(Frame::StreamClose) => panic!("server closed the stream"),
                None => {}
            }
            let n = self.transport.read(&mut buf);
            assert!(n > 0, "connection closed");
            self.framer.push(&buf[..n]);
        }
    }

    /// Sends a connection-request IQ to `to` and returns the raw answer with its id.
    pub fn connection_request(
        &mut self,
        to: &str,
        id: &str,
        username: &str,
        password: &str,
    ) -> (IqKind, String) {
        self.send(&format!(
            "<iq type='get' id='{id}' to='{to}'><connectionRequest xmlns='urn:broadband-forum-org:cwmp:xmppConnReq-1-0'><username>{username}</username><password>{password}</password></connectionRequest></iq>"
        ));
        loop {
            let raw = self.next_raw();
            if let Ok(Stanza::Iq(iq)) = parse_stanza(&raw) {
                if iq.id == id {
                    return (iq.kind, String::from_utf8_lossy(&raw).into_owned());
                }
            }
        }
    }
}
