//! Integration tests of the non-blocking HTTP client against loopback servers.

mod support;

use support::http_server;
use support::pki::TestPki;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_server::{Loop, Recorded, Reply, TestServer, UdpPinger};
use icwmp::transport::http_client::{
    BodySink, HttpClient, HttpConfig, HttpError, HttpOutcome, Method, Request, RequestBody,
    Response, ResponseBody,
};
use icwmp::wire::digest::{Credentials, DigestServer, Verdict};

fn client(config: HttpConfig) -> Loop {
    Loop::new(HttpClient::new(config).unwrap())
}

fn creds() -> Credentials {
    Credentials {
        username: "acs-user".into(),
        password: "acs-pass".into(),
    }
}

fn with_creds() -> HttpConfig {
    HttpConfig {
        credentials: Some(creds()),
        ..HttpConfig::default()
    }
}

fn response(outcome: HttpOutcome) -> Response {
    match outcome {
        HttpOutcome::Response(response) => response,
        HttpOutcome::Error(err) => panic!("expected a response, got {err}"),
    }
}

fn error(outcome: HttpOutcome) -> HttpError {
    match outcome {
        HttpOutcome::Error(err) => err,
        HttpOutcome::Response(response) => panic!("expected an error, got {}", response.status),
    }
}

fn memory(body: &ResponseBody) -> &[u8] {
    match body {
        ResponseBody::Memory(data) => data,
        ResponseBody::File { .. } => panic!("expected a memory body"),
    }
}

fn echo(request: &Recorded) -> Reply {
    Reply::ok(&request.body)
}

#[test]
fn keep_alive_carries_three_posts_on_one_connection() {
    let server = TestServer::start(echo);
    let mut lp = client(HttpConfig::default());
    for i in 0..3 {
        let body = format!("<soap>{i}</soap>").into_bytes();
        let got = response(lp.run(Request::post(&server.url("/acs"), "text/xml", body.clone())));
        assert_eq!(got.status, 200);
        assert_eq!(memory(&got.body), &body[..]);
    }
    let recorded = server.recorded();
    assert_eq!(recorded.len(), 3);
    assert!(recorded
        .iter()
        .all(|r| r.connection == recorded[0].connection));
    assert_eq!(recorded[0].header("content-type"), Some("text/xml"));
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[test]
fn empty_post_sends_content_length_zero() {
    let server = TestServer::start(|_| Reply::status(204, b""));
    let mut lp = client(HttpConfig::default());
    let got = response(lp.run(Request::post(&server.url("/"), "text/xml", Vec::new())));
    assert_eq!(got.status, 204);
    assert_eq!(server.recorded()[0].header("content-length"), Some("0"));
}

#[test]
fn cookies_are_echoed_until_cleared() {
    let server = TestServer::start(|request| {
        if request.header("cookie").is_none() {
            Reply::ok(b"first")
                .with_header("set-cookie", "session=s1; Path=/")
                .with_header("set-cookie", "lb=node2")
        } else {
            Reply::ok(b"again")
        }
    });
    let mut lp = client(HttpConfig::default());
    response(lp.run(Request::post(
        &server.url("/acs"),
        "text/xml",
        b"a".to_vec(),
    )));
    response(lp.run(Request::post(
        &server.url("/acs"),
        "text/xml",
        b"b".to_vec(),
    )));
    lp.client.clear_cookies();
    response(lp.run(Request::post(
        &server.url("/acs"),
        "text/xml",
        b"c".to_vec(),
    )));
    let recorded = server.recorded();
    assert_eq!(recorded[0].header("cookie"), None);
    assert_eq!(recorded[1].header("cookie"), Some("session=s1; lb=node2"));
    assert_eq!(recorded[2].header("cookie"), None);
}

#[test]
fn server_closing_idle_keep_alive_is_reconnected_transparently() {
    let server = TestServer::start(|request| Reply::ok(&request.body).closing_silently());
    let mut lp = client(HttpConfig::default());
    for i in 0..3u8 {
        let got = response(lp.run(Request::post(&server.url("/"), "text/xml", vec![i; 10])));
        assert_eq!(memory(&got.body), &[i; 10]);
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 3);
}

#[test]
fn basic_auth_answers_401_and_resends_body() {
    let expected = format!(
        "Basic {}",
        "YWNzLXVzZXI6YWNzLXBhc3M=" // acs-user:acs-pass
    );
    let server = TestServer::start(move |request| {
        if request.header("authorization") == Some(expected.as_str()) {
            Reply::ok(b"welcome")
        } else {
            Reply::status(401, b"who?").with_header("www-authenticate", "Basic realm=\"acs\"")
        }
    });
    let mut lp = client(with_creds());
    let got = response(lp.run(Request::post(
        &server.url("/acs"),
        "text/xml",
        b"<Inform/>".to_vec(),
    )));
    assert_eq!(got.status, 200);
    let recorded = server.recorded();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[1].body, b"<Inform/>");
    // The next request of the session authenticates up front.
    response(lp.run(Request::post(
        &server.url("/acs"),
        "text/xml",
        b"next".to_vec(),
    )));
    assert_eq!(server.recorded().len(), 3);
}

/// A server that checks Digest with the crate's own verifier, offering one algorithm.
fn digest_server(algorithm: &'static str, password: &'static str) -> TestServer {
    let verifier = Arc::new(Mutex::new(DigestServer::new(
        "acs",
        Duration::from_secs(60),
        8,
        false,
        [9; 16],
    )));
    let counter = AtomicUsize::new(0);
    TestServer::start(move |request| {
        let mut verifier = verifier.lock().unwrap();
        let expected = Credentials {
            username: "acs-user".into(),
            password: password.into(),
        };
        if let Some(authorization) = request.header("authorization") {
            let verdict = verifier.verify(
                authorization,
                &request.method,
                &request.path,
                &expected,
                Instant::now(),
            );
            if verdict == Verdict::Accepted {
                return Reply::ok(&request.body);
            }
        }
        let n = counter.fetch_add(1, Ordering::SeqCst) as u8;
        let challenge = verifier
            .challenge([n; 16], Instant::now(), false)
            .into_iter()
            .find(|value| value.contains(&format!("algorithm={algorithm},")))
            .unwrap();
        Reply::status(401, b"").with_header("www-authenticate", &challenge)
    })
}

#[test]
fn digest_md5_and_sha256_answer_401_and_resend_body() {
    for algorithm in ["MD5", "SHA-256"] {
        let server = digest_server(algorithm, "acs-pass");
        let mut lp = client(with_creds());
        let body = b"<Inform>digest</Inform>".to_vec();
        let got = response(lp.run(Request::post(
            &server.url("/acs?x=1"),
            "text/xml",
            body.clone(),
        )));
        assert_eq!(got.status, 200, "{algorithm}");
        assert_eq!(memory(&got.body), &body[..]);
        let recorded = server.recorded();
        assert_eq!(recorded.len(), 2, "{algorithm}");
        assert_eq!(recorded[1].body, body);
        let authorization = recorded[1].header("authorization").unwrap();
        assert!(
            authorization.contains(&format!("algorithm={algorithm}")),
            "{authorization}"
        );
        assert!(authorization.contains("nc=00000001"), "{authorization}");
        // The server retires a nonce after one use, so the preemptive answer of the
        // next request (nc=2) is refused and answered afresh: still one outcome.
        let got = response(lp.run(Request::post(
            &server.url("/acs?x=1"),
            "text/xml",
            b"2".to_vec(),
        )));
        assert_eq!(got.status, 200);
        let recorded = server.recorded();
        assert!(recorded[2]
            .header("authorization")
            .unwrap()
            .contains("nc=00000002"));
    }
}

#[test]
fn wrong_password_gives_auth_failed_after_second_401() {
    let server = digest_server("MD5", "other-pass");
    let mut lp = client(with_creds());
    let err = error(lp.run(Request::post(
        &server.url("/acs"),
        "text/xml",
        b"x".to_vec(),
    )));
    assert_eq!(err, HttpError::AuthFailed);
    assert_eq!(server.recorded().len(), 2);
}

#[test]
fn missing_credentials_give_auth_failed() {
    let server = digest_server("MD5", "acs-pass");
    let mut lp = client(HttpConfig::default());
    let err = error(lp.run(Request::post(
        &server.url("/acs"),
        "text/xml",
        b"x".to_vec(),
    )));
    assert_eq!(err, HttpError::AuthFailed);
}

#[test]
fn redirects_resend_post_and_keep_cookies() {
    let server = TestServer::start(|request| match request.path.as_str() {
        "/acs" => Reply::status(302, b"")
            .with_header("location", "/acs2")
            .with_header("set-cookie", "sid=7"),
        "/acs2" => Reply::status(307, b"").with_header("location", "/final"),
        _ => Reply::ok(&request.body),
    });
    let mut lp = client(HttpConfig::default());
    let got = response(lp.run(Request::post(
        &server.url("/acs"),
        "text/xml",
        b"<Inform/>".to_vec(),
    )));
    assert_eq!(got.status, 200);
    assert_eq!(memory(&got.body), b"<Inform/>");
    assert_eq!(got.url, server.url("/final"));
    let recorded = server.recorded();
    assert_eq!(recorded.len(), 3);
    assert!(recorded
        .iter()
        .all(|r| r.method == "POST" && r.body == b"<Inform/>"));
    assert_eq!(recorded[2].header("cookie"), Some("sid=7"));
}

#[test]
fn redirect_loop_stops_after_five() {
    let server = TestServer::start(|_| Reply::status(301, b"").with_header("location", "/again"));
    let mut lp = client(HttpConfig::default());
    let err = error(lp.run(Request::get(&server.url("/start"))));
    assert_eq!(err, HttpError::TooManyRedirects);
    assert_eq!(server.recorded().len(), 6);
}

#[test]
fn silent_server_times_out() {
    let server = TestServer::start(|_| Reply::Hang);
    let mut lp = client(HttpConfig {
        idle_timeout: Duration::from_millis(300),
        ..HttpConfig::default()
    });
    let err = error(lp.run(Request::post(&server.url("/"), "text/xml", b"x".to_vec())));
    assert_eq!(err, HttpError::Timeout("waiting for the response"));
}

#[test]
fn refused_connection_is_a_connect_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut lp = client(HttpConfig::default());
    let err = error(lp.run(Request::get(&format!("http://127.0.0.1:{port}/"))));
    assert!(matches!(err, HttpError::Connect(_)), "{err}");
}

#[test]
fn invalid_url_and_busy_are_refused_at_start() {
    let server = TestServer::start(|_| Reply::Hang);
    let mut lp = client(HttpConfig::default());
    let registry = lp.poll.registry();
    let now = Instant::now();
    let bad = lp
        .client
        .start(registry, http_server::CLIENT, Request::get("ftp://x/"), now);
    assert!(matches!(bad, Err(HttpError::InvalidUrl(_))));
    lp.client
        .start(
            registry,
            http_server::CLIENT,
            Request::get(&server.url("/")),
            now,
        )
        .unwrap();
    let busy = lp.client.start(
        registry,
        http_server::CLIENT,
        Request::get(&server.url("/")),
        now,
    );
    assert_eq!(busy, Err(HttpError::Busy));
    lp.client.close(lp.poll.registry());
    assert!(!lp.client.is_busy());
}

#[test]
fn response_over_the_cap_is_refused() {
    let server = TestServer::start(|_| Reply::ok(&vec![b'x'; 2048]));
    let mut lp = client(HttpConfig {
        max_response_body: 1024,
        ..HttpConfig::default()
    });
    let err = error(lp.run(Request::get(&server.url("/big"))));
    assert_eq!(err, HttpError::ResponseTooLarge);
    // Exactly at the cap is fine.
    let server = TestServer::start(|_| Reply::ok(&vec![b'x'; 1024]));
    let got = response(lp.run(Request::get(&server.url("/fits"))));
    assert_eq!(memory(&got.body).len(), 1024);
}

#[test]
fn download_streams_to_file_and_upload_reads_file_with_100_continue() {
    let dir = std::env::temp_dir().join(format!("icwmp-http-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let upload = dir.join("upload.bin");
    std::fs::write(&upload, &payload).unwrap();
    let served = payload.clone();
    let server = TestServer::start_with_continue(move |request| {
        if request.method == "PUT" {
            Reply::status(if request.body == served { 201 } else { 400 }, b"")
        } else {
            Reply::ok(&served)
        }
    });
    let mut lp = client(HttpConfig {
        max_response_body: 1024,
        ..HttpConfig::default()
    });
    let target = dir.join("download.bin");
    let got = response(lp.run(Request {
        method: Method::Get,
        url: server.url("/firmware.bin"),
        headers: Vec::new(),
        body: RequestBody::Empty,
        content_type: None,
        sink: BodySink::File(target.clone()),
    }));
    assert_eq!(
        got.body,
        ResponseBody::File {
            path: target.clone(),
            len: payload.len() as u64
        }
    );
    assert_eq!(std::fs::read(&target).unwrap(), payload);
    let got = response(lp.run(Request {
        method: Method::Put,
        url: server.url("/upload"),
        headers: vec![("x-transfer".into(), "1".into())],
        body: RequestBody::File(upload),
        content_type: Some("application/octet-stream".into()),
        sink: BodySink::Memory,
    }));
    assert_eq!(got.status, 201);
    let put = server
        .recorded()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    assert_eq!(put.header("expect"), Some("100-continue"));
    assert_eq!(put.header("x-transfer"), Some("1"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn disabled_100_continue_never_sends_expect() {
    let server = TestServer::start(echo);
    let mut lp = client(HttpConfig {
        http_disable_100continue: true,
        ..HttpConfig::default()
    });
    let big = vec![7u8; 200_000];
    let got = response(lp.run(Request::post(&server.url("/"), "text/xml", big.clone())));
    assert_eq!(memory(&got.body), &big[..]);
    assert_eq!(server.recorded()[0].header("expect"), None);
}

#[test]
fn expect_100_without_server_support_sends_body_after_timer() {
    // The plain server never sends 100 Continue: the client must go on after its timer.
    let server = TestServer::start(|request| Reply::ok(&request.body[..10]));
    let mut lp = client(HttpConfig {
        continue_timeout: Duration::from_millis(50),
        ..HttpConfig::default()
    });
    let big = vec![3u8; 100_000];
    let got = response(lp.run(Request::post(&server.url("/"), "text/xml", big)));
    assert_eq!(memory(&got.body), &[3u8; 10]);
}

#[test]
fn tls_verifies_roots_and_host_names() {
    let pki = TestPki::generate("client", "DNS:localhost");
    let server = TestServer::start_tls(pki.server_config.clone(), echo);
    let port = server.addr.port();
    let verified = HttpConfig {
        ssl_capath: Some(pki.ca_cert.clone()),
        ..HttpConfig::default()
    };
    let mut lp = client(verified.clone());
    for i in 0..2u8 {
        let got = response(lp.run(Request::post(
            &format!("https://localhost:{port}/acs"),
            "text/xml",
            vec![i; 5000],
        )));
        assert_eq!(memory(&got.body), &[i; 5000]);
    }
    // The certificate names only "localhost".
    let mut lp = client(verified);
    let err = error(lp.run(Request::get(&format!("https://127.0.0.1:{port}/"))));
    assert!(
        matches!(&err, HttpError::Tls(detail) if detail.contains("not valid for name")),
        "{err}"
    );
    // Untrusted CA (the directory holds only unrelated certificates).
    let other = TestPki::generate("other", "DNS:localhost");
    let mut lp = client(HttpConfig {
        ssl_capath: Some(other.ca_cert.clone()),
        ..HttpConfig::default()
    });
    let err = error(lp.run(Request::get(&format!("https://localhost:{port}/"))));
    assert!(
        matches!(&err, HttpError::Tls(detail) if detail.contains("UnknownIssuer") || detail.contains("unknown issuer")),
        "{err}"
    );
    // insecure_enable=1: anything goes.
    let mut lp = client(HttpConfig {
        insecure_enable: true,
        ..HttpConfig::default()
    });
    let got = response(lp.run(Request::get(&format!("https://127.0.0.1:{port}/x"))));
    assert_eq!(got.status, 200);
}

#[test]
fn udp_socket_keeps_being_served_during_sessions() {
    let payload = vec![0x5au8; 8 * 1024 * 1024];
    let served = payload.clone();
    let server = TestServer::start(move |request| match request.path.as_str() {
        "/big" => Reply::ok(&served),
        _ => Reply::ok(&request.body),
    });
    let mut lp = client(HttpConfig {
        max_response_body: 16 * 1024 * 1024,
        ..HttpConfig::default()
    });
    let udp = lp.add_udp_echo();
    let pinger = UdpPinger::start(udp);
    let started = Instant::now();
    let mut round_trips = 0;
    while round_trips < 200 || started.elapsed() < Duration::from_millis(300) {
        response(lp.run(Request::post(
            &server.url("/acs"),
            "text/xml",
            vec![1; 2000],
        )));
        round_trips += 1;
    }
    let echoed_before = lp.udp_echoed;
    let got = response(lp.run(Request::get(&server.url("/big"))));
    assert_eq!(memory(&got.body).len(), payload.len());
    let (worst, sent, answered) = pinger.finish();
    println!("worst UDP stall during sessions: {worst:?} ({answered}/{sent} pings answered)");
    assert!(
        echoed_before > 0,
        "UDP was not served during the POST round trips"
    );
    assert!(answered > 0);
}
