//! File transfers end to end: the real `icwmpd` against the loopback ACS, a loopback HTTP(S) file server and vsftpd.

mod support;

use std::path::Path;
use std::time::Duration;

use icwmp::cwmp::fault::FaultCode;
use icwmp::wire::soap::{
    Download, Rpc, ScheduleDownload, TimeWindow, TransferComplete, TransferState, Upload,
};
use support::acs::{AcsOptions, SessionScript, TestAcs};
use support::daemon::{temp_dir, wait_until, write_config, TestDaemon};
use support::files::{FileServer, FileServerOptions, Vsftpd};
use support::pki::TestPki;

const WAIT: Duration = Duration::from_secs(30);

fn one_session(requests: Vec<Rpc>) -> AcsOptions {
    AcsOptions {
        sessions: vec![SessionScript {
            requests,
            ..SessionScript::default()
        }],
        ..AcsOptions::default()
    }
}

/// A config whose apply and upload commands are plain shell commands in `dir`,
/// speaking CWMP 1.4 (ScheduleDownload and CancelTransfer are 1.2 methods).
fn configure(dir: &Path, acs: &TestAcs, acs_extra: &str) {
    let d = dir.display();
    let cpe = format!(
        "\toption amd_version '5'\n\
         \toption exec_download '1'\n\
         \toption firmware_apply_command 'cp {{file}} {d}/flashed'\n\
         \toption vendor_config_apply_command 'cp {{file}} {d}/config-applied'\n\
         \toption config_upload_command 'printf config-backup > {{file}}'\n\
         \toption log_upload_command 'printf log-lines > {{file}}'\n\
         \toption transfer_timeout '5'\n"
    );
    write_config(dir, &acs.url(), acs_extra, &cpe);
}

fn download(key: &str, file_type: &str, url: &str, size: usize) -> Rpc {
    Rpc::Download(Download {
        command_key: key.into(),
        file_type: file_type.into(),
        url: url.into(),
        file_size: size as u32,
        ..Download::default()
    })
}

const CONFIG_TYPE: &str = "3 Vendor Configuration File";

/// Every TransferComplete the ACS received, in order.
fn transfer_completes(acs: &TestAcs) -> Vec<TransferComplete> {
    acs.sessions()
        .iter()
        .flat_map(|s| s.posts.clone())
        .filter_map(|p| match p.envelope?.body? {
            Rpc::TransferComplete(tc) => Some(tc),
            _ => None,
        })
        .collect()
}

fn wait_completes(acs: &TestAcs, count: usize) -> Vec<TransferComplete> {
    wait_until(WAIT, || transfer_completes(acs).len() >= count);
    let all = transfer_completes(acs);
    assert!(
        all.len() >= count,
        "{count} TransferCompletes expected: {all:#?}"
    );
    all
}

fn fault_of(all: &[TransferComplete], key: &str) -> Option<u32> {
    all.iter()
        .find(|tc| tc.command_key == key)
        .unwrap_or_else(|| panic!("no TransferComplete for {key}: {all:#?}"))
        .fault
        .code
        .map(|c| c.code())
}

fn fault_response(rpc: &Rpc) -> Option<u32> {
    match rpc {
        Rpc::Fault(f) => Some(f.code.code()),
        _ => None,
    }
}

#[test]
fn http_download_applies_the_file_and_queue_lists_and_cancel_work() {
    let files = FileServer::start(FileServerOptions::default());
    let content = b"config payload\n".repeat(1000);
    files.add("/cfg.tar.gz", content.clone());
    let later = download("later", "1 Firmware Upgrade Image", &files.url("/fw"), 0);
    let Rpc::Download(mut later) = later else {
        unreachable!()
    };
    later.delay_seconds = 3600;
    let requests = vec![
        Rpc::ScheduleDownload(ScheduleDownload {
            command_key: "sched".into(),
            file_type: CONFIG_TYPE.into(),
            url: files.url("/cfg.tar.gz"),
            time_window_list: vec![TimeWindow {
                window_start: 3600,
                window_end: 7200,
                window_mode: "1 At Any Time".into(),
                user_message: String::new(),
                max_retries: -1,
            }],
            ..ScheduleDownload::default()
        }),
        Rpc::Download(later),
        Rpc::Upload(Upload {
            command_key: "up".into(),
            file_type: "2 Vendor Log File".into(),
            url: files.url("/log"),
            delay_seconds: 3600,
            ..Upload::default()
        }),
        Rpc::GetQueuedTransfers,
        Rpc::GetAllQueuedTransfers,
        Rpc::CancelTransfer {
            command_key: "later".into(),
        },
        Rpc::CancelTransfer {
            command_key: "up".into(),
        },
        Rpc::CancelTransfer {
            command_key: "nope".into(),
        },
        download("tftp", CONFIG_TYPE, "tftp://127.0.0.1/x", 0),
        Rpc::GetAllQueuedTransfers,
        download("cfg", CONFIG_TYPE, &files.url("/cfg.tar.gz"), content.len()),
    ];
    let acs = TestAcs::start(one_session(requests));
    let dir = temp_dir("tr-http");
    configure(&dir, &acs, "");
    let daemon = TestDaemon::start(&dir, &[]);
    let all = wait_completes(&acs, 1);
    let responses = acs.sessions()[0].responses.clone();
    assert_eq!(responses.len(), 11, "{responses:#?}");
    assert!(matches!(responses[0], Rpc::ScheduleDownloadResponse));
    assert!(
        matches!(&responses[1], Rpc::DownloadResponse(r) if r.status == icwmp::wire::soap::Status::Pending)
    );
    match &responses[3] {
        Rpc::GetQueuedTransfersResponse { transfer_list } => {
            let keys: Vec<(&str, TransferState)> = transfer_list
                .iter()
                .map(|t| (t.command_key.as_str(), t.state))
                .collect();
            assert_eq!(
                keys,
                [
                    ("sched", TransferState::NotYetStarted),
                    ("later", TransferState::NotYetStarted)
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    match &responses[4] {
        Rpc::GetAllQueuedTransfersResponse { transfer_list } => {
            assert_eq!(transfer_list.len(), 3);
            let up = &transfer_list[2];
            assert_eq!(up.command_key, "up");
            assert!(!up.is_download);
            assert_eq!(up.file_type, "2 Vendor Log File");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(responses[5], Rpc::CancelTransferResponse));
    assert!(matches!(responses[6], Rpc::CancelTransferResponse));
    assert_eq!(fault_response(&responses[7]), Some(9003));
    assert_eq!(fault_response(&responses[8]), Some(9013));
    match &responses[9] {
        Rpc::GetAllQueuedTransfersResponse { transfer_list } => {
            let keys: Vec<&str> = transfer_list
                .iter()
                .map(|t| t.command_key.as_str())
                .collect();
            assert_eq!(keys, ["sched"]);
        }
        other => panic!("{other:?}"),
    }

    let tc = all
        .iter()
        .find(|tc| tc.command_key == "cfg")
        .expect("cfg reported");
    assert_eq!(tc.fault.code, None);
    assert!(!tc.start_time.is_unknown() && !tc.complete_time.is_unknown());
    assert!(tc.start_time.as_str() <= tc.complete_time.as_str());
    assert_eq!(
        std::fs::read(dir.join("config-applied")).expect("applied"),
        content
    );
    let session = acs
        .sessions()
        .into_iter()
        .find(|s| {
            s.posts.iter().any(|p| {
                matches!(
                    p.envelope.as_ref().and_then(|e| e.body.as_ref()),
                    Some(Rpc::TransferComplete(_))
                )
            })
        })
        .expect("the reporting session");
    let inform = session.inform().expect("Inform");
    let events: Vec<(&str, &str)> = inform
        .events
        .iter()
        .map(|e| (e.event_code.as_str(), e.command_key.as_str()))
        .collect();
    assert!(events.contains(&("7 TRANSFER COMPLETE", "")), "{events:?}");
    assert!(events.contains(&("M Download", "cfg")), "{events:?}");
    // The scheduled download waits for its window; nothing else is reported.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(transfer_completes(&acs).len(), 1);
    assert!(daemon.stop().success());
}

#[test]
fn https_firmware_is_reported_after_the_boot() {
    let dir = temp_dir("tr-https");
    let pki = TestPki::generate("files", "IP:127.0.0.1");
    let ca = pki.ca_cert.clone();
    let files = FileServer::start(FileServerOptions {
        tls: Some(pki.server_config.clone()),
        ..FileServerOptions::default()
    });
    let image = vec![0x5a; 300_000];
    files.add("/fw.bin", image.clone());
    let acs = TestAcs::start(one_session(vec![download(
        "fw",
        "1 Firmware Upgrade Image",
        &files.url("/fw.bin"),
        image.len(),
    )]));
    configure(
        &dir,
        &acs,
        &format!("\toption https_ssl_capath '{}'\n", ca.display()),
    );
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(
        wait_until(WAIT, || dir.join("flashed").exists()),
        "image applied: {}",
        daemon.log()
    );
    assert_eq!(std::fs::read(dir.join("flashed")).expect("flashed"), image);
    // Nothing is reported before the reboot.
    assert!(acs.wait_sessions(1, WAIT));
    std::thread::sleep(Duration::from_millis(500));
    assert!(transfer_completes(&acs).is_empty());
    assert!(daemon.stop().success());

    let daemon = TestDaemon::start(&dir, &["-b"]);
    let all = wait_completes(&acs, 1);
    assert_eq!(fault_of(&all, "fw"), None);
    let boot = acs.sessions().last().cloned().expect("boot session");
    let codes = boot.event_codes();
    for code in ["1 BOOT", "7 TRANSFER COMPLETE", "M Download"] {
        assert!(codes.contains(&code.to_owned()), "{codes:?}");
    }
    assert!(daemon.stop().success());
}

#[test]
fn http_failures_map_to_their_fault_codes() {
    let files = FileServer::start(FileServerOptions {
        basic_auth: Some(("user".into(), "secret".into())),
        ..FileServerOptions::default()
    });
    files.add("/f", b"0123456789".to_vec());
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let with_credentials = |key: &str, url: String, size: usize, password: &str| {
        Rpc::Download(Download {
            command_key: key.into(),
            file_type: CONFIG_TYPE.into(),
            url,
            username: "user".into(),
            password: password.into(),
            file_size: size as u32,
            ..Download::default()
        })
    };
    let requests = vec![
        with_credentials("size", files.url("/f"), 11, "secret"),
        with_credentials("auth", files.url("/f"), 10, "wrong"),
        with_credentials("missing", files.url("/none"), 0, "secret"),
        download(
            "unreachable",
            CONFIG_TYPE,
            &format!("http://127.0.0.1:{closed_port}/f"),
            0,
        ),
        with_credentials("good", files.url("/f"), 10, "secret"),
    ];
    let acs = TestAcs::start(one_session(requests));
    let dir = temp_dir("tr-fail");
    configure(&dir, &acs, "");
    let daemon = TestDaemon::start(&dir, &[]);
    let all = wait_completes(&acs, 5);
    assert_eq!(fault_of(&all, "size"), Some(9018));
    assert_eq!(fault_of(&all, "auth"), Some(9012));
    assert_eq!(fault_of(&all, "missing"), Some(9016));
    assert_eq!(fault_of(&all, "unreachable"), Some(9015));
    assert_eq!(fault_of(&all, "good"), None);
    let failed = all
        .iter()
        .find(|tc| tc.command_key == "size")
        .expect("size");
    assert!(!failed.fault.text.is_empty());
    assert!(daemon.stop().success());
}

#[test]
fn uploads_put_the_produced_files() {
    let files = FileServer::start(FileServerOptions::default());
    let upload = |key: &str, file_type: &str, path: &str| {
        Rpc::Upload(Upload {
            command_key: key.into(),
            file_type: file_type.into(),
            url: files.url(path),
            ..Upload::default()
        })
    };
    let requests = vec![
        upload("cfg", "1 Vendor Configuration File", "/up/cfg"),
        upload("log", "2 Vendor Log File", "/up/log"),
        upload("indexed", "4 Vendor Log File 2", "/up/x"),
    ];
    let acs = TestAcs::start(one_session(requests));
    let dir = temp_dir("tr-upload");
    configure(&dir, &acs, "");
    let daemon = TestDaemon::start(&dir, &[]);
    let all = wait_completes(&acs, 2);
    assert_eq!(fault_of(&all, "cfg"), None);
    assert_eq!(fault_of(&all, "log"), None);
    let mut puts = files.puts();
    puts.sort();
    assert_eq!(
        puts,
        [
            ("/up/cfg".to_owned(), b"config-backup".to_vec()),
            ("/up/log".to_owned(), b"log-lines".to_vec())
        ]
    );
    assert_eq!(fault_response(&acs.sessions()[0].responses[2]), Some(9011));
    let codes: Vec<String> = acs
        .sessions()
        .iter()
        .flat_map(|s| s.event_codes())
        .collect();
    assert!(codes.contains(&"M Upload".to_owned()), "{codes:?}");
    assert!(daemon.stop().success());
}

#[test]
fn ftp_downloads_and_uploads_through_vsftpd() {
    let dir = temp_dir("tr-ftp");
    let Some(ftp) = Vsftpd::start(&dir) else {
        return;
    };
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(ftp.root.join("cfg.bin"), &content).expect("ftp file");
    let requests = vec![
        download("ftp-ok", CONFIG_TYPE, &ftp.url("/cfg.bin"), content.len()),
        download("ftp-size", CONFIG_TYPE, &ftp.url("/cfg.bin"), 5),
        download("ftp-missing", CONFIG_TYPE, &ftp.url("/none.bin"), 0),
        Rpc::Download(Download {
            command_key: "ftp-auth".into(),
            file_type: CONFIG_TYPE.into(),
            url: ftp.url("/cfg.bin"),
            username: "someone".into(),
            password: "wrong".into(),
            ..Download::default()
        }),
        Rpc::Upload(Upload {
            command_key: "ftp-up".into(),
            file_type: "2 Vendor Log File".into(),
            url: ftp.url("/upload/log.txt"),
            ..Upload::default()
        }),
    ];
    let acs = TestAcs::start(one_session(requests));
    configure(&dir, &acs, "");
    let daemon = TestDaemon::start(&dir, &[]);
    let all = wait_completes(&acs, 5);
    assert_eq!(fault_of(&all, "ftp-ok"), None, "{}", daemon.log());
    assert_eq!(
        std::fs::read(dir.join("config-applied")).expect("applied"),
        content
    );
    assert_eq!(fault_of(&all, "ftp-size"), Some(9018));
    assert_eq!(fault_of(&all, "ftp-missing"), Some(9016));
    assert_eq!(fault_of(&all, "ftp-auth"), Some(9012));
    assert_eq!(fault_of(&all, "ftp-up"), None, "{}", daemon.log());
    assert_eq!(
        std::fs::read(ftp.root.join("upload/log.txt")).expect("stored"),
        b"log-lines"
    );
    assert!(daemon.stop().success());
}

#[test]
fn a_running_transfer_cannot_be_cancelled() {
    let files = FileServer::start(FileServerOptions {
        throttle: Some((16 * 1024, Duration::from_millis(40), 1)),
        ..FileServerOptions::default()
    });
    let content = vec![7u8; 640 * 1024];
    files.add("/slow", content.clone());
    let requests = vec![
        download("slow", CONFIG_TYPE, &files.url("/slow"), content.len()),
        Rpc::GetParameterValues {
            parameter_names: vec!["Device.DeviceInfo.UpTime".into()],
        },
        Rpc::GetQueuedTransfers,
        Rpc::CancelTransfer {
            command_key: "slow".into(),
        },
    ];
    let acs = TestAcs::start(one_session(requests));
    let dir = temp_dir("tr-cancel");
    configure(&dir, &acs, "");
    let daemon = TestDaemon::start(&dir, &[]);
    let all = wait_completes(&acs, 1);
    let responses = acs.sessions()[0].responses.clone();
    match &responses[2] {
        Rpc::GetQueuedTransfersResponse { transfer_list } => {
            assert_eq!(transfer_list[0].state, TransferState::InProgress);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fault_response(&responses[3]),
        Some(FaultCode::CancelNotPermitted.code())
    );
    assert_eq!(fault_of(&all, "slow"), None);
    assert!(daemon.stop().success());
}

#[test]
fn a_download_interrupted_by_a_crash_restarts_and_is_reported_once() {
    let files = FileServer::start(FileServerOptions {
        throttle: Some((16 * 1024, Duration::from_millis(40), 1)),
        ..FileServerOptions::default()
    });
    let content = vec![3u8; 1024 * 1024];
    files.add("/big", content.clone());
    let acs = TestAcs::start(one_session(vec![download(
        "big",
        CONFIG_TYPE,
        &files.url("/big"),
        content.len(),
    )]));
    let dir = temp_dir("tr-crash");
    configure(&dir, &acs, "");
    let daemon = TestDaemon::start(&dir, &[]);
    assert!(
        wait_until(WAIT, || !files.gets().is_empty()),
        "download started"
    );
    let state = std::fs::read_to_string(dir.join("icwmpd/transfers")).expect("queue file");
    assert!(state.contains("\trunning\t"), "{state}");
    daemon.kill9();

    let daemon = TestDaemon::start(&dir, &[]);
    let all = wait_completes(&acs, 1);
    assert_eq!(fault_of(&all, "big"), None, "{}", daemon.log());
    assert_eq!(files.gets().len(), 2, "downloaded again from scratch");
    assert_eq!(
        std::fs::read(dir.join("config-applied")).expect("applied"),
        content
    );
    // The acknowledgement must reach the daemon before it stops (else it reports again, rightly).
    assert!(acs.wait_sessions(acs.sessions().len(), WAIT));
    assert!(daemon.stop().success());

    // Another restart reports nothing more.
    let sessions = acs.sessions().len();
    let daemon = TestDaemon::start(&dir, &["-b"]);
    assert!(acs.wait_sessions(sessions + 1, WAIT));
    assert!(daemon.stop().success());
    let reports: Vec<TransferComplete> = transfer_completes(&acs)
        .into_iter()
        .filter(|tc| tc.command_key == "big")
        .collect();
    assert_eq!(reports.len(), 1, "{reports:#?}");
}
