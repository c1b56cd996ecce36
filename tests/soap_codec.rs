//! SOAP codec behaviour: round trips of every message, envelopes as real ACSs write them, and rejection of bad input.

mod soap_samples;

use icwmp::cwmp::fault::{FaultCode, ParameterFault};
use icwmp::cwmp::params::{ParameterValue, XsdType};
use icwmp::wire::soap::{
    emit, parse, CwmpVersion, DuOperation, Envelope, Header, Limits, Rpc, SoapError, SoapErrorKind,
};

fn emitted(envelope: &Envelope, version: CwmpVersion) -> Vec<u8> {
    let mut out = Vec::new();
    emit(envelope, version, &mut out).expect("emit");
    out
}

fn parsed(xml: &str) -> Envelope {
    match parse(xml.as_bytes(), &Limits::default()) {
        Ok(envelope) => envelope,
        Err(error) => panic!("parse failed: {error}\n{xml}"),
    }
}

fn rejected(xml: &[u8], limits: &Limits) -> SoapError {
    match parse(xml, limits) {
        Ok(envelope) => panic!("accepted: {envelope:?}"),
        Err(error) => error,
    }
}

/// The version a parser reports for an envelope emitted in `version`.
fn namespace_version(version: CwmpVersion) -> CwmpVersion {
    CwmpVersion::from_namespace(version.namespace()).expect("our namespaces parse")
}

#[test]
fn every_message_round_trips_in_every_version_that_defines_it() {
    let all = soap_samples::cpe_messages()
        .into_iter()
        .chain(soap_samples::acs_messages());
    let mut checked = 0;
    for (index, rpc) in all.enumerate() {
        for version in [
            CwmpVersion::V1_0,
            CwmpVersion::V1_1,
            CwmpVersion::V1_2,
            CwmpVersion::V1_4,
        ] {
            if rpc.min_version() > version {
                continue;
            }
            let mut envelope = Envelope::new(format!("rt-{index}"), rpc.clone());
            let xml = emitted(&envelope, version);
            let back = parse(&xml, &Limits::default())
                .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&xml)));
            envelope.cwmp_version = Some(namespace_version(version));
            assert_eq!(back, envelope, "{}", String::from_utf8_lossy(&xml));
            checked += 1;
        }
    }
    assert!(checked > 200, "{checked}");
}

#[test]
fn headers_and_empty_body_round_trip() {
    let envelope = Envelope {
        header: Header {
            id: Some("id with <&> and spaces ".to_owned()),
            hold_requests: Some(true),
            no_more_requests: Some(false),
            session_timeout: Some(90),
            supported_cwmp_versions: Some("1.0,1.4".to_owned()),
            use_cwmp_version: Some("1.4".to_owned()),
        },
        body: None,
        cwmp_version: Some(CwmpVersion::V1_2),
    };
    let xml = emitted(&envelope, CwmpVersion::V1_4);
    assert_eq!(parse(&xml, &Limits::default()), Ok(envelope));

    let bare = Envelope::default();
    let xml = emitted(&bare, CwmpVersion::V1_0);
    let text = String::from_utf8(xml.clone()).expect("utf-8");
    assert!(
        text.ends_with("<SOAP-ENV:Body/></SOAP-ENV:Envelope>"),
        "{text}"
    );
    assert!(!text.contains("Header"), "{text}");
    assert_eq!(parse(&xml, &Limits::default()), Ok(bare));
}

#[test]
fn special_characters_are_escaped_and_read_back() {
    let value = "a&b<c>\"d'";
    let envelope = Envelope::new(
        "1",
        Rpc::GetParameterValuesResponse {
            parameter_list: vec![ParameterValue::new(
                "Device.DeviceInfo.Description",
                value,
                XsdType::String,
            )],
        },
    );
    let xml = String::from_utf8(emitted(&envelope, CwmpVersion::V1_0)).expect("utf-8");
    assert!(
        xml.contains("<Value xsi:type=\"xsd:string\">a&amp;b&lt;c&gt;\"d'</Value>"),
        "{xml}"
    );
    let Some(Rpc::GetParameterValuesResponse { parameter_list }) = parsed(&xml).body else {
        panic!("not a GPV response");
    };
    assert_eq!(parameter_list[0].value, value);
}

#[test]
fn emit_appends_to_the_buffer() {
    let mut out = b"prefix".to_vec();
    emit(
        &Envelope::new("1", Rpc::RebootResponse),
        CwmpVersion::V1_0,
        &mut out,
    )
    .expect("emit");
    assert!(out.starts_with(b"prefix<?xml"));
}

const GENIEACS_GPV: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soap-env:Envelope xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">19e8a3c4b1f</cwmp:ID></soap-env:Header><soap-env:Body><cwmp:GetParameterValues><ParameterNames soap-enc:arrayType="xsd:string[2]"><string>Device.DeviceInfo.SoftwareVersion</string><string>Device.ManagementServer.</string></ParameterNames></cwmp:GetParameterValues></soap-env:Body></soap-env:Envelope>"#;

#[test]
fn parses_genieacs_style() {
    let envelope = parsed(GENIEACS_GPV);
    assert_eq!(envelope.header.id.as_deref(), Some("19e8a3c4b1f"));
    assert_eq!(envelope.cwmp_version, Some(CwmpVersion::V1_0));
    assert_eq!(
        envelope.body,
        Some(Rpc::GetParameterValues {
            parameter_names: vec![
                "Device.DeviceInfo.SoftwareVersion".to_owned(),
                "Device.ManagementServer.".to_owned(),
            ],
        })
    );
}

#[test]
fn parses_axiros_style_with_indentation_and_types() {
    let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<SOAP-ENV:Envelope
    xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:SOAP-ENC="http://schemas.xmlsoap.org/soap/encoding/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:cwmp="urn:dslforum-org:cwmp-1-1"
    SOAP-ENV:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">
  <SOAP-ENV:Header>
    <cwmp:ID SOAP-ENV:mustUnderstand="1">AXS-000042</cwmp:ID>
  </SOAP-ENV:Header>
  <SOAP-ENV:Body>
    <cwmp:SetParameterValues>
      <ParameterList SOAP-ENC:arrayType="cwmp:ParameterValueStruct[3]">
        <ParameterValueStruct>
          <Name>Device.ManagementServer.PeriodicInformInterval</Name>
          <Value xsi:type="xsd:unsignedInt">300</Value>
        </ParameterValueStruct>
        <ParameterValueStruct>
          <Name>Device.ManagementServer.PeriodicInformEnable</Name>
          <Value xsi:type="xsd:boolean">true</Value>
        </ParameterValueStruct>
        <ParameterValueStruct>
          <Name>Device.WiFi.SSID.1.SSID</Name>
          <Value xsi:type="xsd:string"> guest net </Value>
        </ParameterValueStruct>
      </ParameterList>
      <ParameterKey>axs-17</ParameterKey>
    </cwmp:SetParameterValues>
  </SOAP-ENV:Body>
</SOAP-ENV:Envelope>
"#;
    let envelope = parsed(xml);
    assert_eq!(envelope.header.id.as_deref(), Some("AXS-000042"));
    assert_eq!(envelope.cwmp_version, Some(CwmpVersion::V1_1));
    assert_eq!(
        envelope.body,
        Some(Rpc::SetParameterValues {
            parameter_list: vec![
                ParameterValue::new(
                    "Device.ManagementServer.PeriodicInformInterval",
                    "300",
                    XsdType::UnsignedInt
                ),
                ParameterValue::new(
                    "Device.ManagementServer.PeriodicInformEnable",
                    "true",
                    XsdType::Boolean
                ),
                ParameterValue::new("Device.WiFi.SSID.1.SSID", " guest net ", XsdType::String),
            ],
            parameter_key: "axs-17".to_owned(),
        })
    );
}

#[test]
fn parses_other_prefixes_default_namespaces_comments_and_cdata() {
    let xml = r#"<!-- sent by a test ACS -->
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
 <soap:Header><!-- id follows -->
  <ns1:ID xmlns:ns1="urn:dslforum-org:cwmp-1-2" soap:mustUnderstand="true">
  7</ns1:ID>
  <x:Trace xmlns:x="urn:example:trace">ignored</x:Trace>
 </soap:Header>
 <soap:Body>
  <SetParameterValues xmlns="urn:dslforum-org:cwmp-1-2">
   <ParameterList>
    <ParameterValueStruct><!-- untyped values are strings -->
     <Name> Device.Users.User.1.Password </Name>
     <Value><![CDATA[p<a>ss&]]><!-- split -->word</Value>
    </ParameterValueStruct>
    <ParameterValueStruct>
     <Name>Device.Time.NTPServer1</Name>
     <Value xmlns:t="http://www.w3.org/2001/XMLSchema" xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:type="t:string">pool.ntp.org</Value>
    </ParameterValueStruct>
   </ParameterList>
   <ParameterKey/>
  </SetParameterValues>
 </soap:Body>
</soap:Envelope>"#;
    let envelope = parsed(xml);
    // The ID is kept verbatim: it must be echoed exactly.
    assert_eq!(envelope.header.id.as_deref(), Some("\n  7"));
    assert_eq!(envelope.cwmp_version, Some(CwmpVersion::V1_2));
    assert_eq!(
        envelope.body,
        Some(Rpc::SetParameterValues {
            parameter_list: vec![
                ParameterValue::new(
                    "Device.Users.User.1.Password",
                    "p<a>ss&word",
                    XsdType::String
                ),
                ParameterValue::new("Device.Time.NTPServer1", "pool.ntp.org", XsdType::String),
            ],
            parameter_key: String::new(),
        })
    );
}

#[test]
fn parses_empty_bodies_and_holding() {
    let empty = parsed(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body/></soap:Envelope>"#,
    );
    assert_eq!(empty, Envelope::default());

    let holding = parsed(
        r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0">
  <soapenv:Header><cwmp:HoldRequests soapenv:mustUnderstand="1">1</cwmp:HoldRequests></soapenv:Header>
  <soapenv:Body>
  </soapenv:Body>
</soapenv:Envelope>"#,
    );
    assert_eq!(holding.header.hold_requests, Some(true));
    assert_eq!(holding.body, None);
    assert_eq!(holding.cwmp_version, Some(CwmpVersion::V1_0));
}

#[test]
fn missing_optional_elements_take_defaults() {
    let xml = r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap-env:Body><cwmp:Download><CommandKey>k</CommandKey><FileType>1 Firmware Upgrade Image</FileType><URL>http://acs.example.com/fw.bin</URL></cwmp:Download></soap-env:Body></soap-env:Envelope>"#;
    let envelope = parsed(xml);
    assert_eq!(envelope.header, Header::default());
    let Some(Rpc::Download(download)) = envelope.body else {
        panic!("not a Download");
    };
    assert_eq!(download.command_key, "k");
    assert_eq!(download.url, "http://acs.example.com/fw.bin");
    assert_eq!((download.file_size, download.delay_seconds), (0, 0));
    assert!(download.username.is_empty() && download.target_file_name.is_empty());
    assert!(download.success_url.is_empty() && download.failure_url.is_empty());
}

#[test]
fn parses_acs_fault_and_version_negotiation() {
    let fault = parsed(
        r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">3</cwmp:ID></soap-env:Header><soap-env:Body><soap-env:Fault><faultcode>Server</faultcode><faultstring>CWMP fault</faultstring><detail><cwmp:Fault><FaultCode>8005</FaultCode><FaultString>Retry request</FaultString></cwmp:Fault></detail></soap-env:Fault></soap-env:Body></soap-env:Envelope>"#,
    );
    let Some(Rpc::Fault(fault_body)) = &fault.body else {
        panic!("not a fault");
    };
    assert_eq!(fault_body.code, FaultCode::AcsRetryRequest);
    assert_eq!(fault.cwmp_version, Some(CwmpVersion::V1_2));

    let spv_fault = parsed(
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="urn:dslforum-org:cwmp-1-0"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>CWMP fault</faultstring><detail><c:Fault><FaultCode>9003</FaultCode><SetParameterValuesFault><ParameterName>Device.X</ParameterName><FaultCode>9005</FaultCode></SetParameterValuesFault></c:Fault></detail></s:Fault></s:Body></s:Envelope>"#,
    );
    let Some(Rpc::Fault(spv_fault)) = spv_fault.body else {
        panic!("not a fault");
    };
    assert_eq!(spv_fault.text, "Invalid arguments");
    assert_eq!(
        spv_fault.parameter_faults,
        vec![ParameterFault {
            name: "Device.X".to_owned(),
            code: FaultCode::InvalidParameterName,
            text: "Invalid parameter name".to_owned(),
        }]
    );

    let response = parsed(
        r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">1</cwmp:ID><cwmp:UseCWMPVersion soap-env:mustUnderstand="1">1.4</cwmp:UseCWMPVersion></soap-env:Header><soap-env:Body><cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse></soap-env:Body></soap-env:Envelope>"#,
    );
    assert_eq!(response.header.use_cwmp_version.as_deref(), Some("1.4"));
    assert_eq!(
        response.body,
        Some(Rpc::InformResponse { max_envelopes: 1 })
    );
}

#[test]
fn accepts_the_nonexistent_cwmp_1_4_urn_as_1_4() {
    let envelope = parsed(
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-4"><s:Body><cwmp:GetRPCMethods/></s:Body></s:Envelope>"#,
    );
    assert_eq!(envelope.cwmp_version, Some(CwmpVersion::V1_4));
    assert_eq!(envelope.body, Some(Rpc::GetRpcMethods));
}

#[test]
fn change_du_state_reads_operation_types() {
    let xml = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cwmp="urn:dslforum-org:cwmp-1-2" xmlns:other="urn:dslforum-org:cwmp-1-2"><s:Body><cwmp:ChangeDUState><Operations xsi:type="other:UninstallOpStruct"><UUID>5bd9e1d2-8c1b-4f3e-9a57-0c7f3a1e2b44</UUID></Operations></cwmp:ChangeDUState></s:Body></s:Envelope>"#;
    let Some(Rpc::ChangeDuState(change)) = parsed(xml).body else {
        panic!("not ChangeDUState");
    };
    assert!(matches!(&change.operations[..], [DuOperation::Uninstall(op)] if op.version.is_none()));
    assert_eq!(change.command_key, "");

    let untyped = xml.replace(" xsi:type=\"other:UninstallOpStruct\"", "");
    let error = rejected(untyped.as_bytes(), &Limits::default());
    assert_eq!(
        error.kind,
        SoapErrorKind::InvalidValue {
            element: "Operations"
        }
    );
}

// ---- rejections ----

fn reboot_with_key(key: &str) -> String {
    format!(
        r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">r1</cwmp:ID></soap-env:Header><soap-env:Body><cwmp:Reboot><CommandKey>{key}</CommandKey></cwmp:Reboot></soap-env:Body></soap-env:Envelope>"#
    )
}

#[test]
fn rejects_malformed_and_truncated_xml() {
    let limits = Limits::default();
    for xml in [
        "",
        "not xml",
        "<a><b></a>",
        "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>",
        "<soap:Envelope><soap:Body/></soap:Envelope>",
        &GENIEACS_GPV[..GENIEACS_GPV.len() / 2],
        &GENIEACS_GPV[..GENIEACS_GPV.len() - 1],
    ] {
        let error = rejected(xml.as_bytes(), &limits);
        assert!(
            matches!(error.kind, SoapErrorKind::Malformed(_)),
            "{xml}: {error}"
        );
        assert_eq!(error.fault_code(), FaultCode::InvalidArguments);
    }
    let error = rejected(b"<a>\xff\xfe</a>", &limits);
    assert_eq!(error.kind, SoapErrorKind::NotUtf8);
    // A control character XML 1.0 does not allow, even as a reference.
    let error = rejected(reboot_with_key("a&#1;b").as_bytes(), &limits);
    assert!(matches!(error.kind, SoapErrorKind::Malformed(_)), "{error}");
}

#[test]
fn rejects_non_soap_documents() {
    let limits = Limits::default();
    for xml in [
        "<Envelope><Body/></Envelope>",
        r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body/></env:Envelope>"#,
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header/></soap:Envelope>"#,
    ] {
        let error = rejected(xml.as_bytes(), &limits);
        assert_eq!(error.kind, SoapErrorKind::NotSoapEnvelope, "{xml}");
    }
}

#[test]
fn rejects_oversized_envelopes() {
    let limits = Limits {
        max_envelope_bytes: 100,
        ..Limits::default()
    };
    let error = rejected(GENIEACS_GPV.as_bytes(), &limits);
    assert_eq!(
        error.kind,
        SoapErrorKind::TooLarge {
            size: GENIEACS_GPV.len(),
            limit: 100
        }
    );
    assert_eq!(error.fault_code(), FaultCode::ResourcesExceeded);
}

#[test]
fn rejects_doctype_and_entities() {
    let billion_laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&lol2;</soap:Body></soap:Envelope>"#;
    let error = rejected(billion_laughs.as_bytes(), &Limits::default());
    assert_eq!(error.kind, SoapErrorKind::Doctype);
    assert_eq!(error.fault_code(), FaultCode::InvalidArguments);

    let external = r#"<!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>"#;
    let error = rejected(external.as_bytes(), &Limits::default());
    assert_eq!(error.kind, SoapErrorKind::Doctype);

    let undeclared = reboot_with_key("&secret;");
    let error = rejected(undeclared.as_bytes(), &Limits::default());
    assert!(matches!(error.kind, SoapErrorKind::Malformed(_)), "{error}");
}

#[test]
fn rejects_wrong_namespaces() {
    for namespace in ["urn:dslforum-org:cwmp-2-0", "urn:example:cwmp", ""] {
        let xml = reboot_with_key("k")
            .replace("<cwmp:Reboot>", &format!("<Reboot xmlns=\"{namespace}\">"));
        let xml = xml.replace("</cwmp:Reboot>", "</Reboot>");
        let error = rejected(xml.as_bytes(), &Limits::default());
        assert_eq!(
            error.kind,
            SoapErrorKind::WrongNamespace {
                namespace: namespace.to_owned()
            }
        );
        assert_eq!(error.id.as_deref(), Some("r1"));
        assert_eq!(error.method.as_deref(), Some("Reboot"));
    }
}

#[test]
fn command_key_is_capped_at_32_characters() {
    let limits = Limits::default();
    let key = "é".repeat(32);
    let Some(Rpc::Reboot { command_key }) = parsed(&reboot_with_key(&key)).body else {
        panic!("not a Reboot");
    };
    assert_eq!(command_key, key);

    let error = rejected(reboot_with_key(&"k".repeat(33)).as_bytes(), &limits);
    assert_eq!(
        error.kind,
        SoapErrorKind::TooLong {
            element: "CommandKey",
            max: 32
        }
    );
    assert_eq!(error.fault_code(), FaultCode::InvalidArguments);
    assert_eq!(error.id.as_deref(), Some("r1"));
    assert_eq!(error.method.as_deref(), Some("Reboot"));
}

fn gpv_of(count: usize) -> String {
    let names: String = (0..count)
        .map(|i| format!("<string>Device.X.{i}.</string>"))
        .collect();
    GENIEACS_GPV.replace(
        "<string>Device.DeviceInfo.SoftwareVersion</string><string>Device.ManagementServer.</string>",
        &names,
    )
}

#[test]
fn rejects_too_many_parameters_and_nodes() {
    let limits = Limits {
        max_list_items: 10,
        ..Limits::default()
    };
    assert!(parse(gpv_of(10).as_bytes(), &limits).is_ok());
    let error = rejected(gpv_of(11).as_bytes(), &limits);
    assert_eq!(
        error.kind,
        SoapErrorKind::TooManyItems {
            element: "ParameterNames",
            max: 10
        }
    );
    assert_eq!(error.fault_code(), FaultCode::ResourcesExceeded);

    let limits = Limits {
        max_nodes: 100,
        ..Limits::default()
    };
    let error = rejected(gpv_of(100).as_bytes(), &limits);
    assert_eq!(error.kind, SoapErrorKind::TooManyNodes { limit: 100 });
    assert_eq!(error.fault_code(), FaultCode::ResourcesExceeded);
}

#[test]
fn rejects_deep_nesting() {
    let limits = Limits::default();
    let depth = limits.max_depth;
    let nested = format!("{}{}", "<x>".repeat(depth), "</x>".repeat(depth));
    let xml = reboot_with_key(&nested);
    let error = rejected(xml.as_bytes(), &limits);
    assert_eq!(error.kind, SoapErrorKind::TooDeep { limit: depth });
    assert_eq!(error.fault_code(), FaultCode::ResourcesExceeded);

    // Nesting is checked before anything else, even far deeper than any stack.
    let deep = format!("{}{}", "<x>".repeat(100_000), "</x>".repeat(100_000));
    let error = rejected(deep.as_bytes(), &limits);
    assert_eq!(error.kind, SoapErrorKind::TooDeep { limit: depth });
}

#[test]
fn unknown_method_keeps_name_and_id() {
    let xml = reboot_with_key("k")
        .replace("cwmp:Reboot>", "cwmp:X_ACME_Frobnicate>")
        .replace("cwmp:Reboot>", "cwmp:X_ACME_Frobnicate>");
    let error = rejected(xml.as_bytes(), &Limits::default());
    assert_eq!(error.kind, SoapErrorKind::UnknownMethod);
    assert_eq!(error.method.as_deref(), Some("X_ACME_Frobnicate"));
    assert_eq!(error.id.as_deref(), Some("r1"));
    assert_eq!(error.fault_code(), FaultCode::MethodNotSupported);
}

#[test]
fn rejects_invalid_content() {
    let limits = Limits::default();
    let cases: [(String, SoapErrorKind, FaultCode); 7] = [
        (
            reboot_with_key("k").replace(
                "</cwmp:Reboot>",
                "</cwmp:Reboot><cwmp:FactoryReset/>",
            ),
            SoapErrorKind::MultipleRpcs,
            FaultCode::InvalidArguments,
        ),
        (
            GENIEACS_GPV.replace(
                "<string>Device.DeviceInfo.SoftwareVersion</string>",
                "<string>Device.<b/>X</string>",
            ),
            SoapErrorKind::InvalidValue {
                element: "ParameterNames",
            },
            FaultCode::InvalidArguments,
        ),
        (
            GENIEACS_GPV.replace("ParameterNames", "ParameterNamez"),
            SoapErrorKind::Missing {
                element: "ParameterNames",
            },
            FaultCode::InvalidArguments,
        ),
        (
            reboot_with_key("k").replace(
                "<soap-env:Header>",
                "<soap-env:Header><x:Secure xmlns:x=\"urn:x\" soap-env:mustUnderstand=\"1\"/>",
            ),
            SoapErrorKind::MustUnderstand {
                header: "Secure".to_owned(),
            },
            FaultCode::InvalidArguments,
        ),
        (
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="urn:dslforum-org:cwmp-1-0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><s:Body><c:SetParameterValues><ParameterList><ParameterValueStruct><Name>Device.A</Name><Value xsi:type="xsd:float">1.5</Value></ParameterValueStruct></ParameterList><ParameterKey/></c:SetParameterValues></s:Body></s:Envelope>"#.to_owned(),
            SoapErrorKind::UnknownType {
                xsi_type: "xsd:float".to_owned(),
            },
            FaultCode::InvalidParameterType,
        ),
        (
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="urn:dslforum-org:cwmp-1-0"><s:Body><c:GetParameterNames><ParameterPath>Device.</ParameterPath><NextLevel>yes</NextLevel></c:GetParameterNames></s:Body></s:Envelope>"#.to_owned(),
            SoapErrorKind::InvalidValue {
                element: "NextLevel",
            },
            FaultCode::InvalidArguments,
        ),
        (
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="urn:dslforum-org:cwmp-1-0"><s:Body><c:SetParameterAttributes><ParameterList><SetParameterAttributesStruct><Name>Device.A</Name><NotificationChange>1</NotificationChange><Notification>7</Notification><AccessListChange>0</AccessListChange><AccessList/></SetParameterAttributesStruct></ParameterList></c:SetParameterAttributes></s:Body></s:Envelope>"#.to_owned(),
            SoapErrorKind::InvalidValue {
                element: "Notification",
            },
            FaultCode::InvalidArguments,
        ),
    ];
    for (xml, kind, code) in cases {
        let error = rejected(xml.as_bytes(), &limits);
        assert_eq!(error.kind, kind, "{xml}");
        assert_eq!(error.fault_code(), code, "{xml}");
    }
}

#[test]
fn rejects_unknown_fault_codes() {
    let xml = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="urn:dslforum-org:cwmp-1-0"><s:Body><s:Fault><faultcode>Server</faultcode><faultstring>CWMP fault</faultstring><detail><c:Fault><FaultCode>8850</FaultCode><FaultString>vendor</FaultString></c:Fault></detail></s:Fault></s:Body></s:Envelope>"#;
    let error = rejected(xml.as_bytes(), &Limits::default());
    assert_eq!(error.kind, SoapErrorKind::UnknownFaultCode { code: 8850 });
    assert_eq!(error.method.as_deref(), Some("Fault"));
}

/// xorshift64*: a deterministic generator, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

#[test]
fn parse_never_panics_on_mutated_envelopes() {
    const MARKUP: &[u8] = b"<>/&;:=\"' ![]-?xX0";
    let samples: Vec<Vec<u8>> = soap_samples::cpe_messages()
        .into_iter()
        .chain(soap_samples::acs_messages())
        .map(|rpc| emitted(&Envelope::new("m", rpc), CwmpVersion::V1_2))
        .collect();
    let limits = Limits::default();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0;
    for round in 0..20_000 {
        let mut xml = samples[round % samples.len()].clone();
        for _ in 0..1 + rng.below(4) {
            if xml.is_empty() {
                break;
            }
            let at = rng.below(xml.len());
            match rng.below(4) {
                0 => xml[at] = MARKUP[rng.below(MARKUP.len())],
                1 => xml[at] = rng.next() as u8,
                2 => {
                    xml.remove(at);
                }
                _ => xml.truncate(at.max(1)),
            }
        }
        if parse(&xml, &limits).is_ok() {
            accepted += 1;
        }
    }
    // Some mutations only touch text and stay valid; most must be refused.
    assert!(accepted < 20_000, "{accepted}");
}

#[test]
fn any_string_either_round_trips_or_is_refused() {
    const PIECES: &[&str] = &[
        "a", " ", "&", "<", ">", "\"", "'", "\r", "\n", "\t", "\r\n", "]]>", "&amp;", "é",
        "\u{FFFD}", "\u{FFFE}", "\u{FFFF}", "\u{1}", "\u{7f}", "\u{85}", "😀", "\u{EFFF}",
    ];
    let mut rng = Rng(0x0123_4567_89AB_CDEF);
    let (mut refused, mut round_tripped) = (0, 0);
    for _ in 0..5_000 {
        let value: String = (0..rng.below(12))
            .map(|_| PIECES[rng.below(PIECES.len())])
            .collect();
        let envelope = Envelope::new(
            "v",
            Rpc::GetParameterValuesResponse {
                parameter_list: vec![ParameterValue::new(
                    "Device.A",
                    value.clone(),
                    XsdType::String,
                )],
            },
        );
        let mut out = Vec::new();
        match emit(&envelope, CwmpVersion::V1_0, &mut out) {
            Err(error) => {
                assert!(value
                    .chars()
                    .any(|c| c == '\u{1}' || c == '\u{FFFE}' || c == '\u{FFFF}'));
                assert_eq!(error.fault_code(), FaultCode::InvalidParameterValue);
                assert!(out.is_empty());
                refused += 1;
            }
            Ok(()) => {
                let Some(Rpc::GetParameterValuesResponse { parameter_list }) =
                    parse(&out, &Limits::default())
                        .expect("emitted XML parses")
                        .body
                else {
                    panic!("not a GPV response");
                };
                assert_eq!(parameter_list[0].value, value);
                round_tripped += 1;
            }
        }
    }
    assert!(refused > 0 && round_tripped > 0);
}
