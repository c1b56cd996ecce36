//! One realistic message of every CWMP RPC, request and response, both directions, for the SOAP codec tests.

use icwmp::cwmp::fault::{Fault, FaultCode, ParameterFault};
use icwmp::cwmp::params::{
    ParameterAttribute, ParameterInfo, ParameterValue, SetParameterAttribute, XsdType,
};
use icwmp::wire::soap::{
    AllQueuedTransfer, AutonomousOpResult, AutonomousTransferComplete, ChangeDuState, DateTime,
    DeviceId, Download, DuOperation, DuState, DuStateChangeComplete, Event, FaultStruct,
    FileTypeArg, Inform, InstallOp, Kicked, OpResult, OptionInfo, QueuedTransfer, Rpc,
    ScheduleDownload, Status, TimeWindow, TransferComplete, TransferResponse, TransferState,
    UninstallOp, UpdateOp, Upload,
};

/// A validated time for the samples.
pub fn time(text: &str) -> DateTime {
    DateTime::parse(text).expect("sample time is xsd:dateTime")
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn op_result() -> OpResult {
    OpResult {
        uuid: "5bd9e1d2-8c1b-4f3e-9a57-0c7f3a1e2b44".to_owned(),
        deployment_unit_ref: "Device.SoftwareModules.DeploymentUnit.1".to_owned(),
        version: "1.2.3".to_owned(),
        current_state: DuState::Installed,
        resolved: true,
        execution_unit_ref_list: "Device.SoftwareModules.ExecutionUnit.1".to_owned(),
        start_time: time("2024-05-01T12:00:00Z"),
        complete_time: time("2024-05-01T12:00:07Z"),
        fault: FaultStruct::default(),
    }
}

/// Messages the CPE sends: its own requests and its responses to the ACS.
pub fn cpe_messages() -> Vec<Rpc> {
    vec![
        Rpc::GetRpcMethods,
        Rpc::Inform(Inform {
            device_id: DeviceId {
                manufacturer: "iopsys & friends <test>".to_owned(),
                oui: "0022AA".to_owned(),
                product_class: "EX400".to_owned(),
                serial_number: "S/N 0001".to_owned(),
            },
            events: vec![
                Event {
                    event_code: "1 BOOT".to_owned(),
                    command_key: String::new(),
                },
                Event {
                    event_code: "M Reboot".to_owned(),
                    command_key: "reboot-42".to_owned(),
                },
            ],
            max_envelopes: 1,
            current_time: DateTime::from_unix(1_714_564_800),
            retry_count: 0,
            parameter_list: vec![
                ParameterValue::new("Device.RootDataModelVersion", "2.19", XsdType::String),
                ParameterValue::new(
                    "Device.DeviceInfo.HardwareVersion",
                    "a&b<c>\"d'",
                    XsdType::String,
                ),
                ParameterValue::new("Device.DeviceInfo.UpTime", "3600", XsdType::UnsignedInt),
                ParameterValue::new(
                    "Device.ManagementServer.ConnectionRequestURL",
                    "http://192.0.2.1:7547/c1d2",
                    XsdType::String,
                ),
            ],
        }),
        Rpc::TransferComplete(TransferComplete {
            command_key: "fw-2024.05".to_owned(),
            fault: FaultStruct {
                code: Some(FaultCode::DownloadFailure),
                text: "Download failure".to_owned(),
            },
            start_time: time("2024-05-01T12:00:00Z"),
            complete_time: time("2024-05-01T12:03:10Z"),
        }),
        Rpc::AutonomousTransferComplete(AutonomousTransferComplete {
            announce_url: String::new(),
            transfer_url: "http://files.example.com/cfg.bin".to_owned(),
            is_download: true,
            file_type: "3 Vendor Configuration File".to_owned(),
            file_size: 4096,
            target_file_name: "cfg.bin".to_owned(),
            fault: FaultStruct::default(),
            start_time: time("2024-05-01T12:00:00Z"),
            complete_time: time("2024-05-01T12:00:02Z"),
        }),
        Rpc::DuStateChangeComplete(DuStateChangeComplete {
            results: vec![
                op_result(),
                OpResult {
                    current_state: DuState::Failed,
                    resolved: false,
                    fault: FaultStruct {
                        code: Some(FaultCode::UnknownExecutionEnvironment),
                        text: "Unknown execution environment".to_owned(),
                    },
                    ..op_result()
                },
            ],
            command_key: "du-1".to_owned(),
        }),
        Rpc::AutonomousDuStateChangeComplete {
            results: vec![AutonomousOpResult {
                result: OpResult {
                    current_state: DuState::Uninstalled,
                    ..op_result()
                },
                operation_performed: "Uninstall".to_owned(),
            }],
        },
        Rpc::RequestDownload {
            file_type: "1 Firmware Upgrade Image".to_owned(),
            file_type_args: vec![FileTypeArg {
                name: "Version".to_owned(),
                value: "2024.05".to_owned(),
            }],
        },
        Rpc::Kicked(Kicked {
            command: "Kicked".to_owned(),
            referer: "http://portal.example.com/".to_owned(),
            arg: "user=1&plan=2".to_owned(),
            next: "http://portal.example.com/next".to_owned(),
        }),
        Rpc::GetRpcMethodsResponse {
            method_list: strings(&[
                "GetRPCMethods",
                "SetParameterValues",
                "GetParameterValues",
                "GetParameterNames",
                "Download",
            ]),
        },
        Rpc::SetParameterValuesResponse {
            status: Status::Pending,
        },
        Rpc::GetParameterValuesResponse {
            parameter_list: vec![
                ParameterValue::new("Device.DeviceInfo.UpTime", "3600", XsdType::UnsignedInt),
                ParameterValue::new("Device.WiFi.Radio.1.Enable", "true", XsdType::Boolean),
                ParameterValue::new(
                    "Device.Time.CurrentLocalTime",
                    "2024-05-01T12:00:00Z",
                    XsdType::DateTime,
                ),
                ParameterValue::new("Device.X_IOPSYS_EU_Test.Int", "-5", XsdType::Int),
                ParameterValue::new("Device.X_IOPSYS_EU_Test.Long", "-9000000000", XsdType::Long),
                ParameterValue::new(
                    "Device.X_IOPSYS_EU_Test.ULong",
                    "9000000000",
                    XsdType::UnsignedLong,
                ),
                ParameterValue::new("Device.X_IOPSYS_EU_Test.Blob", "aGVsbG8=", XsdType::Base64),
                ParameterValue::new("Device.X_IOPSYS_EU_Test.Hex", "00ff", XsdType::HexBinary),
                ParameterValue::new(
                    "Device.X_IOPSYS_EU_Test.Text",
                    " spaced\tand\nnew line\r\n",
                    XsdType::String,
                ),
                ParameterValue::new("Device.X_IOPSYS_EU_Test.Empty", "", XsdType::String),
            ],
        },
        Rpc::GetParameterNamesResponse {
            parameter_list: vec![
                ParameterInfo {
                    name: "Device.DeviceInfo.".to_owned(),
                    writable: false,
                },
                ParameterInfo {
                    name: "Device.DeviceInfo.ProvisioningCode".to_owned(),
                    writable: true,
                },
            ],
        },
        Rpc::SetParameterAttributesResponse,
        Rpc::GetParameterAttributesResponse {
            parameter_list: vec![ParameterAttribute {
                name: "Device.DeviceInfo.SoftwareVersion".to_owned(),
                notification: 2,
                access_list: strings(&["Subscriber"]),
            }],
        },
        Rpc::AddObjectResponse {
            instance_number: 3,
            status: Status::Applied,
        },
        Rpc::DeleteObjectResponse {
            status: Status::Applied,
        },
        Rpc::RebootResponse,
        Rpc::DownloadResponse(TransferResponse {
            status: Status::Pending,
            start_time: DateTime::unknown(),
            complete_time: DateTime::unknown(),
        }),
        Rpc::ScheduleDownloadResponse,
        Rpc::UploadResponse(TransferResponse {
            status: Status::Applied,
            start_time: time("2024-05-01T12:00:00Z"),
            complete_time: time("2024-05-01T12:00:01.5+02:00"),
        }),
        Rpc::FactoryResetResponse,
        Rpc::GetQueuedTransfersResponse {
            transfer_list: vec![QueuedTransfer {
                command_key: "fw-2024.05".to_owned(),
                state: TransferState::InProgress,
            }],
        },
        Rpc::GetAllQueuedTransfersResponse {
            transfer_list: vec![AllQueuedTransfer {
                command_key: "fw-2024.05".to_owned(),
                state: TransferState::NotYetStarted,
                is_download: true,
                file_type: "1 Firmware Upgrade Image".to_owned(),
                file_size: 16_777_216,
                target_file_name: String::new(),
            }],
        },
        Rpc::CancelTransferResponse,
        Rpc::ScheduleInformResponse,
        Rpc::ChangeDuStateResponse,
        Rpc::SetVouchersResponse,
        Rpc::GetOptionsResponse {
            option_list: vec![OptionInfo {
                option_name: "X_Premium".to_owned(),
                voucher_sn: 17,
                state: 3,
                mode: 1,
                start_date: time("2024-01-01T00:00:00Z"),
                expiration_date: Some(time("2025-01-01T00:00:00Z")),
                is_transferable: false,
            }],
        },
        Rpc::Fault(Fault {
            code: FaultCode::InvalidArguments,
            text: "Invalid arguments".to_owned(),
            parameter_faults: vec![
                ParameterFault {
                    name: "Device.ManagementServer.PeriodicInformInterval".to_owned(),
                    code: FaultCode::InvalidParameterValue,
                    text: "Invalid parameter value".to_owned(),
                },
                ParameterFault {
                    name: "Device.DeviceInfo.UpTime".to_owned(),
                    code: FaultCode::NonWritableParameter,
                    text: "Attempt to set a non-writable parameter".to_owned(),
                },
            ],
        }),
        Rpc::Fault(Fault::new(FaultCode::MethodNotSupported)),
    ]
}

/// Messages the ACS sends: its requests and its responses to the CPE's requests.
pub fn acs_messages() -> Vec<Rpc> {
    vec![
        Rpc::GetRpcMethods,
        Rpc::SetParameterValues {
            parameter_list: vec![
                ParameterValue::new(
                    "Device.ManagementServer.PeriodicInformInterval",
                    "300",
                    XsdType::UnsignedInt,
                ),
                ParameterValue::new(
                    "Device.ManagementServer.PeriodicInformEnable",
                    "1",
                    XsdType::Boolean,
                ),
                ParameterValue::new("Device.WiFi.SSID.1.SSID", "café & <bar>", XsdType::String),
            ],
            parameter_key: "pk-7".to_owned(),
        },
        Rpc::GetParameterValues {
            parameter_names: strings(&["Device.DeviceInfo.", "Device.ManagementServer.URL"]),
        },
        Rpc::GetParameterNames {
            parameter_path: "Device.".to_owned(),
            next_level: true,
        },
        Rpc::SetParameterAttributes {
            parameter_list: vec![SetParameterAttribute {
                name: "Device.DeviceInfo.SoftwareVersion".to_owned(),
                notification_change: true,
                notification: 2,
                access_list_change: false,
                access_list: Vec::new(),
            }],
        },
        Rpc::GetParameterAttributes {
            parameter_names: strings(&["Device.DeviceInfo.SoftwareVersion"]),
        },
        Rpc::AddObject {
            object_name: "Device.NAT.PortMapping.".to_owned(),
            parameter_key: "pk-8".to_owned(),
        },
        Rpc::DeleteObject {
            object_name: "Device.NAT.PortMapping.3.".to_owned(),
            parameter_key: String::new(),
        },
        Rpc::Reboot {
            command_key: "reboot-42".to_owned(),
        },
        Rpc::Download(Download {
            command_key: "fw-2024.05".to_owned(),
            file_type: "1 Firmware Upgrade Image".to_owned(),
            url: "https://files.example.com/fw.bin?a=1&b=2".to_owned(),
            username: "cpe".to_owned(),
            password: "s3cr&t".to_owned(),
            file_size: 16_777_216,
            target_file_name: String::new(),
            delay_seconds: 0,
            success_url: String::new(),
            failure_url: String::new(),
        }),
        Rpc::ScheduleDownload(ScheduleDownload {
            command_key: "fw-night".to_owned(),
            file_type: "1 Firmware Upgrade Image".to_owned(),
            url: "http://files.example.com/fw.bin".to_owned(),
            username: String::new(),
            password: String::new(),
            file_size: 0,
            target_file_name: String::new(),
            time_window_list: vec![
                TimeWindow {
                    window_start: 0,
                    window_end: 3600,
                    window_mode: "1 At Any Time".to_owned(),
                    user_message: String::new(),
                    max_retries: -1,
                },
                TimeWindow {
                    window_start: 7200,
                    window_end: 10800,
                    window_mode: "4 Confirmation Needed".to_owned(),
                    user_message: "Upgrade now?".to_owned(),
                    max_retries: 3,
                },
            ],
        }),
        Rpc::Upload(Upload {
            command_key: "log-1".to_owned(),
            file_type: "2 Vendor Log File".to_owned(),
            url: "http://files.example.com/upload".to_owned(),
            username: String::new(),
            password: String::new(),
            delay_seconds: 5,
        }),
        Rpc::FactoryReset,
        Rpc::GetQueuedTransfers,
        Rpc::GetAllQueuedTransfers,
        Rpc::CancelTransfer {
            command_key: "fw-night".to_owned(),
        },
        Rpc::ScheduleInform {
            delay_seconds: 60,
            command_key: "si-1".to_owned(),
        },
        Rpc::ChangeDuState(ChangeDuState {
            operations: vec![
                DuOperation::Install(InstallOp {
                    url: "http://files.example.com/app.ipk".to_owned(),
                    uuid: Some("5bd9e1d2-8c1b-4f3e-9a57-0c7f3a1e2b44".to_owned()),
                    username: None,
                    password: None,
                    execution_env_ref: Some("Device.SoftwareModules.ExecEnv.1".to_owned()),
                }),
                DuOperation::Update(UpdateOp {
                    uuid: Some("5bd9e1d2-8c1b-4f3e-9a57-0c7f3a1e2b44".to_owned()),
                    version: Some("1.2.4".to_owned()),
                    url: None,
                    username: Some("u".to_owned()),
                    password: Some("p".to_owned()),
                }),
                DuOperation::Uninstall(UninstallOp {
                    uuid: "5bd9e1d2-8c1b-4f3e-9a57-0c7f3a1e2b44".to_owned(),
                    version: None,
                    execution_env_ref: None,
                }),
            ],
            command_key: "du-1".to_owned(),
        }),
        Rpc::SetVouchers {
            voucher_list: strings(&["aGVsbG8gd29ybGQ=", "Zm9v"]),
        },
        Rpc::GetOptions {
            option_name: String::new(),
        },
        Rpc::InformResponse { max_envelopes: 1 },
        Rpc::TransferCompleteResponse,
        Rpc::AutonomousTransferCompleteResponse,
        Rpc::DuStateChangeCompleteResponse,
        Rpc::AutonomousDuStateChangeCompleteResponse,
        Rpc::RequestDownloadResponse,
        Rpc::KickedResponse {
            next_url: "http://portal.example.com/done".to_owned(),
        },
        Rpc::GetRpcMethodsResponse {
            method_list: strings(&["Inform", "GetRPCMethods", "TransferComplete"]),
        },
        Rpc::Fault(Fault::new(FaultCode::AcsRetryRequest)),
    ]
}
