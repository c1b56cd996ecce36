//! Validates every message the SOAP codec emits, both directions, with xmllint against the strict CWMP envelope schema.

mod soap_samples;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use icwmp::wire::soap::{emit, CwmpVersion, Envelope, Header, Rpc};

fn spec_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/spec")
}

/// Whether validation can run: xmllint installed and the BBF schemas beside the project.
fn xmllint_available() -> bool {
    if !spec_dir().join("catalog.xml").exists() {
        println!("../shared/spec not found: skipping schema validation");
        return false;
    }
    let installed = Command::new("xmllint").arg("--version").output().is_ok();
    if !installed {
        println!("xmllint not installed: skipping schema validation");
    }
    installed
}

/// A scratch directory for this test run, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("icwmp-soap-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn envelope_bytes(envelope: &Envelope, version: CwmpVersion) -> Vec<u8> {
    let mut out = Vec::new();
    emit(envelope, version, &mut out).expect("sample emits");
    out
}

/// Runs xmllint once over all files against the strict envelope schema;
/// returns the names of those that failed and the tool's report.
fn validate(files: &[PathBuf]) -> (Vec<String>, String) {
    validate_against("cwmp-envelope-strict.xsd", files)
}

/// Like [`validate`], against another schema of the spec folder.
fn validate_against(schema: &str, files: &[PathBuf]) -> (Vec<String>, String) {
    let spec = spec_dir();
    let output = Command::new("xmllint")
        .env("XML_CATALOG_FILES", spec.join("catalog.xml"))
        .arg("--nonet")
        .arg("--noout")
        .arg("--schema")
        .arg(spec.join(schema))
        .args(files)
        .output()
        .expect("run xmllint");
    let report = String::from_utf8_lossy(&output.stderr).into_owned();
    let failed = files
        .iter()
        .filter_map(|file| {
            let shown = file.display().to_string();
            let validated = report
                .lines()
                .any(|line| line == format!("{shown} validates"));
            (!validated).then_some(shown)
        })
        .collect();
    let report = report
        .lines()
        .filter(|line| !line.contains("parser warning") && !line.ends_with(" validates"))
        .collect::<Vec<_>>()
        .join("\n");
    (failed, report)
}

/// Every message in every namespace whose schema defines it, plus the
/// header variants, written to files named after what they hold.
fn write_all(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut write = |name: String, bytes: Vec<u8>| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write sample");
        files.push(path);
    };
    let samples = soap_samples::cpe_messages()
        .into_iter()
        .map(|rpc| ("cpe", rpc))
        .chain(
            soap_samples::acs_messages()
                .into_iter()
                .map(|rpc| ("acs", rpc)),
        );
    for (index, (side, rpc)) in samples.enumerate() {
        for version in [CwmpVersion::V1_0, CwmpVersion::V1_1, CwmpVersion::V1_2] {
            if rpc.min_version() > version {
                continue;
            }
            let name = format!(
                "{index:02}-{side}-{}-{}.xml",
                rpc.method_name(),
                version.as_str()
            );
            let envelope = Envelope::new(format!("id-{index}"), rpc.clone());
            write(name, envelope_bytes(&envelope, version));
        }
    }

    // CWMP 1.4 headers: the CPE's Inform and the ACS's InformResponse.
    let inform = soap_samples::cpe_messages()
        .into_iter()
        .find(|rpc| matches!(rpc, Rpc::Inform(_)))
        .expect("an Inform sample");
    let cpe_header = Envelope {
        header: Header {
            id: Some("1".to_owned()),
            session_timeout: Some(60),
            supported_cwmp_versions: Some("1.0,1.1,1.2,1.3,1.4".to_owned()),
            ..Header::default()
        },
        body: Some(inform),
        cwmp_version: None,
    };
    write(
        "headers-cpe-1.4.xml".to_owned(),
        envelope_bytes(&cpe_header, CwmpVersion::V1_4),
    );
    let acs_header = Envelope {
        header: Header {
            id: Some("1".to_owned()),
            hold_requests: Some(false),
            use_cwmp_version: Some("1.4".to_owned()),
            ..Header::default()
        },
        body: Some(Rpc::InformResponse { max_envelopes: 1 }),
        cwmp_version: None,
    };
    write(
        "headers-acs-1.4.xml".to_owned(),
        envelope_bytes(&acs_header, CwmpVersion::V1_4),
    );
    // The ACS's empty body, holding requests.
    let empty = Envelope {
        header: Header {
            hold_requests: Some(true),
            ..Header::default()
        },
        body: None,
        cwmp_version: None,
    };
    write(
        "empty-body-1.0.xml".to_owned(),
        envelope_bytes(&empty, CwmpVersion::V1_0),
    );
    files
}

#[test]
fn every_emitted_message_validates_against_the_strict_schema() {
    if !xmllint_available() {
        return;
    }
    let scratch = Scratch::new("schema");
    let files = write_all(&scratch.0);
    assert!(files.len() > 100, "only {} samples", files.len());
    let (failed, report) = validate(&files);
    // SOAP_SAMPLES_DIR=<existing dir> keeps the emitted samples for reading.
    if let Ok(keep) = std::env::var("SOAP_SAMPLES_DIR") {
        for file in &files {
            let _ = std::fs::copy(
                file,
                Path::new(&keep).join(file.file_name().unwrap_or_default()),
            );
        }
    }
    assert!(failed.is_empty(), "invalid: {failed:#?}\n{report}");
}

#[test]
fn the_schema_rejects_what_it_should() {
    // Guards the test above: xmllint must really check the files.
    if !xmllint_available() {
        return;
    }
    let scratch = Scratch::new("negative");
    let good = envelope_bytes(
        &Envelope::new("1", Rpc::InformResponse { max_envelopes: 1 }),
        CwmpVersion::V1_2,
    );
    let good = String::from_utf8(good).expect("utf-8");
    let misspelt = scratch.0.join("misspelt.xml");
    std::fs::write(&misspelt, good.replace("InformResponse", "InformRespons")).expect("write");
    let wrong_ns = scratch.0.join("wrong-ns.xml");
    std::fs::write(&wrong_ns, good.replace("cwmp-1-2", "cwmp-1-4")).expect("write");
    let (failed, _) = validate(&[misspelt, wrong_ns]);
    assert_eq!(failed.len(), 2);
}

#[test]
fn samples_cover_every_rpc_of_the_schema() {
    let schema = std::fs::read_to_string(spec_dir().join("cwmp-1-2.xsd"));
    let Ok(schema) = schema else {
        println!("spec dir not found: skipping the coverage check");
        return;
    };
    // Top-level element declarations are indented by two spaces.
    let declared: BTreeSet<&str> = schema
        .lines()
        .filter_map(|line| line.strip_prefix("  <xs:element name=\""))
        .filter_map(|rest| rest.split('"').next())
        .filter(|name| !matches!(*name, "ID" | "HoldRequests"))
        .collect();
    assert_eq!(declared.len(), 55, "{declared:?}");
    let sampled: BTreeSet<&str> = soap_samples::cpe_messages()
        .iter()
        .chain(soap_samples::acs_messages().iter())
        .map(Rpc::method_name)
        .collect();
    let missing: Vec<_> = declared.difference(&sampled).collect();
    assert!(missing.is_empty(), "no sample for {missing:?}");
}

#[test]
fn lightweight_notifications_validate_against_their_schema() {
    use icwmp::cwmp::params::{ParameterValue, XsdType};
    use icwmp::wire::lwn;
    if !xmllint_available() {
        return;
    }
    let scratch = Scratch::new("lwn");
    let header = lwn::Header {
        timestamp: 1_700_000_000,
        username: "cpe&user",
        cnonce: "4f2a",
        oui: "00D09E",
        product_class: "Router",
        serial_number: "S/N 1",
    };
    let params = [
        ParameterValue::new("Device.DeviceInfo.UpTime", "42", XsdType::UnsignedInt),
        ParameterValue::new(
            "Device.WiFi.SSID.1.SSID",
            "caf\u{e9} <guest>",
            XsdType::String,
        ),
    ];
    let file = scratch.0.join("lwn.xml");
    std::fs::write(&file, lwn::emit(&header, &params).expect("emits")).expect("write");
    let (failed, report) = validate_against("cwmp-UDPLightweightNotification-1-0.xsd", &[file]);
    assert!(failed.is_empty(), "{report}");
}

/// Answers each ACS request with the sample response of its method, and
/// lists a queued Upload among the transfers.
struct SampleHandler;

impl icwmp::cwmp::session::AcsRequestHandler for SampleHandler {
    fn handle(&mut self, request: Rpc) -> Result<Rpc, icwmp::cwmp::fault::Fault> {
        let wanted = format!("{}Response", request.method_name());
        let mut response = soap_samples::cpe_messages()
            .into_iter()
            .find(|rpc| rpc.method_name() == wanted)
            .unwrap_or_else(|| panic!("no sample {wanted}"));
        if let Rpc::GetAllQueuedTransfersResponse { transfer_list } = &mut response {
            let mut upload = transfer_list[0].clone();
            upload.is_download = false;
            upload.file_type = "2 Vendor Log File".to_owned();
            transfer_list.push(upload);
        }
        Ok(response)
    }
}

/// Every POST of a whole session at `version` in which the CPE has every
/// sample request to send and the ACS asks every sample request.
fn session_posts(version: CwmpVersion) -> Vec<Vec<u8>> {
    use icwmp::cwmp::session::{Action, Session};
    use icwmp::wire::soap::Limits;
    let cpe = soap_samples::cpe_messages();
    let inform = cpe
        .iter()
        .find_map(|rpc| match rpc {
            Rpc::Inform(inform) => Some(inform.clone()),
            _ => None,
        })
        .expect("an Inform sample");
    let requests: Vec<Rpc> = cpe
        .iter()
        .filter(|rpc| {
            matches!(
                rpc,
                Rpc::GetRpcMethods
                    | Rpc::TransferComplete(_)
                    | Rpc::AutonomousTransferComplete(_)
                    | Rpc::DuStateChangeComplete(_)
                    | Rpc::AutonomousDuStateChangeComplete { .. }
                    | Rpc::RequestDownload { .. }
                    | Rpc::Kicked(_)
            )
        })
        .cloned()
        .collect();
    let mut acs_requests: Vec<Rpc> = soap_samples::acs_messages()
        .into_iter()
        .filter(|rpc| !rpc.method_name().ends_with("Response") && rpc.method_name() != "Fault")
        .collect();
    acs_requests.reverse();
    let acs_responses = soap_samples::acs_messages();
    let (mut session, mut action) =
        Session::start(inform, requests, version, Some(60), Limits::default());
    let mut posts = Vec::new();
    let mut handler = SampleHandler;
    // The ACS answers in the negotiated version's namespace.
    let reply = |rpc: Rpc| envelope_bytes(&Envelope::new("acs", rpc), version);
    let mut informed = false;
    for _ in 0..200 {
        let body = match action {
            Action::Post(body) => body,
            Action::Done(result) => {
                assert!(result.is_ok(), "{result:?}");
                return posts;
            }
        };
        let answer = if body.is_empty() {
            acs_requests.pop().map(reply)
        } else {
            let envelope = icwmp::wire::soap::parse(&body, &Limits::default()).expect("parses");
            posts.push(body);
            let name = envelope.body.as_ref().map_or("", Rpc::method_name);
            if !informed {
                informed = true;
                Some(reply(Rpc::InformResponse { max_envelopes: 1 }))
            } else if let Some(response) = acs_responses
                .iter()
                .find(|r| r.method_name() == format!("{name}Response"))
            {
                Some(reply(response.clone()))
            } else {
                // The CPE answered an ACS request: the ACS sends the next one.
                acs_requests.pop().map(reply)
            }
        };
        let mut acks = Vec::new();
        action = match answer {
            Some(answer) => session.on_response(200, &answer, &mut handler, &mut acks),
            None => session.on_response(204, b"", &mut handler, &mut acks),
        };
    }
    panic!("the session did not end");
}

#[test]
fn every_message_of_a_session_validates_whatever_version_was_negotiated() {
    if !xmllint_available() {
        return;
    }
    let scratch = Scratch::new("session-versions");
    let mut files = Vec::new();
    for version in [CwmpVersion::V1_0, CwmpVersion::V1_1, CwmpVersion::V1_2] {
        for (index, post) in session_posts(version).into_iter().enumerate() {
            let file = scratch
                .0
                .join(format!("{}-{index:02}.xml", version.as_str()));
            std::fs::write(&file, post).expect("write");
            files.push(file);
        }
    }
    assert!(files.len() > 60, "only {} messages", files.len());
    let (failed, report) = validate(&files);
    assert!(failed.is_empty(), "invalid: {failed:#?}\n{report}");
}
