//! Loopback file servers for transfer tests: an HTTP(S) server with Basic auth, throttling and PUT, a test CA made with the `openssl` CLI, and vsftpd started on a private port.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use icwmp::wire::digest::{basic_authorization, Credentials};

/// How the HTTP file server behaves.
#[derive(Clone, Debug, Default)]
pub struct FileServerOptions {
    /// Demand HTTP Basic with this user and password.
    pub basic_auth: Option<(String, String)>,
    /// Serve HTTPS with this configuration (see `super::pki`).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Send GET bodies in chunks of this size with this pause between them,
    /// for the first `count` GETs only.
    pub throttle: Option<(usize, Duration, usize)>,
}

#[derive(Default)]
struct Shared {
    files: HashMap<String, Vec<u8>>,
    puts: Vec<(String, Vec<u8>)>,
    /// Paths of GETs that started sending a body.
    gets: Vec<String>,
}

/// The running HTTP(S) file server.
pub struct FileServer {
    addr: SocketAddr,
    https: bool,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
}

impl FileServer {
    pub fn start(options: FileServerOptions) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind file server");
        let addr = listener.local_addr().expect("address");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let tls = options.tls.clone();
        let https = tls.is_some();
        {
            let (shared, stop) = (shared.clone(), stop.clone());
            let options = Arc::new(options);
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (shared, options, tls, stop) =
                        (shared.clone(), options.clone(), tls.clone(), stop.clone());
                    std::thread::spawn(move || {
                        let _ = conn.set_read_timeout(Some(Duration::from_secs(20)));
                        match tls {
                            Some(config) => {
                                let Ok(session) = rustls::ServerConnection::new(config) else {
                                    return;
                                };
                                let mut stream = rustls::StreamOwned::new(session, conn);
                                serve(&mut stream, &shared, &options, &stop);
                                stream.conn.send_close_notify();
                                let _ = stream.flush();
                            }
                            None => {
                                let mut stream = conn;
                                serve(&mut stream, &shared, &options, &stop);
                                let _ = stream.shutdown(Shutdown::Both);
                            }
                        }
                    });
                }
            });
        }
        FileServer {
            addr,
            https,
            shared,
            stop,
        }
    }

    /// Serves `content` at `path` (starting with `/`).
    pub fn add(&self, path: &str, content: Vec<u8>) {
        self.shared
            .lock()
            .expect("state")
            .files
            .insert(path.to_owned(), content);
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    /// Bodies received by PUT, in order.
    pub fn puts(&self) -> Vec<(String, Vec<u8>)> {
        self.shared.lock().expect("state").puts.clone()
    }

    /// Paths whose GET started sending a body, in order.
    pub fn gets(&self) -> Vec<String> {
        self.shared.lock().expect("state").gets.clone()
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// One request per connection (the server answers `Connection: close`).
fn serve<S: Read + Write>(
    stream: &mut S,
    shared: &Mutex<Shared>,
    options: &FileServerOptions,
    stop: &AtomicBool,
) {
    let mut reader = BufReader::new(&mut *stream);
    let Some(super::http_wire::RequestHead {
        method,
        target: path,
        headers,
    }) = super::http_wire::read_request_head(&mut reader)
    else {
        return;
    };
    let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let expects_continue = header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let authorized = match &options.basic_auth {
        None => true,
        Some((user, password)) => {
            let creds = Credentials {
                username: user.clone(),
                password: password.clone(),
            };
            header("authorization") == Some(basic_authorization(&creds))
        }
    };
    // The body is read through the same buffered reader as the head.
    let mut body = Vec::new();
    if method == "PUT" && authorized {
        if expects_continue {
            let _ = reader.get_mut().write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
            let _ = reader.get_mut().flush();
        }
        if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
            body.resize(len, 0);
            if reader.read_exact(&mut body).is_err() {
                return;
            }
        } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            let Some(chunked) = super::http_wire::read_chunked(&mut reader) else {
                return;
            };
            body = chunked;
        }
    }
    drop(reader);
    let respond = |stream: &mut S, status: &str, extra: &str, body: &[u8]| {
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
        let _ = stream.flush();
    };
    if !authorized {
        return respond(
            stream,
            "401 Unauthorized",
            "WWW-Authenticate: Basic realm=\"files\"\r\n",
            b"",
        );
    }
    match method.as_str() {
        "GET" => {
            let (content, throttle) = {
                let mut state = shared.lock().expect("state");
                let Some(content) = state.files.get(&path).cloned() else {
                    drop(state);
                    return respond(stream, "404 Not Found", "", b"");
                };
                let earlier = state.gets.len();
                state.gets.push(path.clone());
                let throttle = options.throttle.filter(|(_, _, count)| earlier < *count);
                (content, throttle)
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                content.len()
            );
            if stream.write_all(head.as_bytes()).is_err() {
                return;
            }
            match throttle {
                None => {
                    let _ = stream.write_all(&content);
                }
                Some((chunk, pause, _)) => {
                    for piece in content.chunks(chunk.max(1)) {
                        if stop.load(Ordering::SeqCst) || stream.write_all(piece).is_err() {
                            return;
                        }
                        let _ = stream.flush();
                        std::thread::sleep(pause);
                    }
                }
            }
            let _ = stream.flush();
        }
        "PUT" => {
            shared.lock().expect("state").puts.push((path, body));
            respond(stream, "201 Created", "", b"");
        }
        _ => respond(stream, "405 Method Not Allowed", "", b""),
    }
}

/// vsftpd serving `root` anonymously on a loopback port, with `root/upload` writable.
pub struct Vsftpd {
    child: Child,
    pub port: u16,
    pub root: PathBuf,
}

/// The vsftpd binary, if installed.
pub fn vsftpd_binary() -> Option<PathBuf> {
    ["/usr/sbin/vsftpd", "/usr/bin/vsftpd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

impl Vsftpd {
    /// Starts vsftpd from the config template in tests/vsftpd.conf; `None`
    /// (with a note printed) when vsftpd is not installed or cannot start.
    pub fn start(dir: &Path) -> Option<Vsftpd> {
        let Some(binary) = vsftpd_binary() else {
            println!("NOTE: vsftpd is not installed; FTP tests skipped");
            return None;
        };
        let root = dir.join("ftp-root");
        let empty = dir.join("ftp-empty");
        std::fs::create_dir_all(root.join("upload")).expect("ftp root");
        std::fs::create_dir_all(&empty).expect("secure chroot dir");
        // vsftpd refuses a writable anonymous root; uploads go to a subdirectory.
        let chmod = |path: &Path, mode: u32| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        };
        chmod(&root, 0o755);
        chmod(&empty, 0o755);
        chmod(&root.join("upload"), 0o777);
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let template = include_str!("../vsftpd.conf");
        let config = template
            .replace("@PORT@", &port.to_string())
            .replace("@ROOT@", &root.display().to_string())
            .replace("@EMPTY@", &empty.display().to_string())
            .replace("@LOG@", &dir.join("vsftpd.log").display().to_string());
        let config_path = dir.join("vsftpd.conf");
        std::fs::write(&config_path, config).expect("vsftpd config");
        let child = Command::new(binary)
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let server = Vsftpd { child, port, root };
        let up = super::daemon::wait_until(Duration::from_secs(5), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        if !up {
            println!("NOTE: vsftpd did not start; FTP tests skipped");
            return None;
        }
        Some(server)
    }

    pub fn url(&self, path: &str) -> String {
        format!("ftp://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Vsftpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
