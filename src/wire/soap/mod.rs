//! The CWMP SOAP codec: envelopes as bytes to typed [`Envelope`]s and back, with no I/O.
//!
//! [`parse`] reads what an ACS (or, for the loopback test ACS, a CPE) sends,
//! within [`Limits`]; [`emit`] writes any message of either direction in
//! the namespace of a chosen [`CwmpVersion`]. Every error is a
//! [`SoapError`] that names the CWMP fault to answer with.

mod emit;
mod error;
mod limits;
mod parse;
mod time;
mod types;

pub use emit::emit;
pub(crate) use emit::push_escaped;
pub use error::{SoapError, SoapErrorKind};
pub use limits::Limits;
pub use parse::parse;
pub use time::{DateTime, UNKNOWN_TIME};
pub use types::{
    AllQueuedTransfer, AutonomousOpResult, AutonomousTransferComplete, ChangeDuState, CwmpVersion,
    DeviceId, Download, DuOperation, DuState, DuStateChangeComplete, Envelope, Event, FaultStruct,
    FileTypeArg, Header, Inform, InstallOp, Kicked, OpResult, OptionInfo, QueuedTransfer, Rpc,
    ScheduleDownload, Status, TimeWindow, TransferComplete, TransferResponse, TransferState,
    UninstallOp, UpdateOp, Upload,
};
