//! The resource and length caps the SOAP parser enforces, with every default in one place.

/// Caps applied while parsing an envelope. Every violation is a
/// [`SoapError`](super::SoapError) whose fault code the session answers with.
///
/// The string caps count characters (as XML Schema `maxLength` does) and
/// default to the `maxLength` of the CWMP schema for that element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest envelope accepted, in bytes (fault 9004 beyond it).
    pub max_envelope_bytes: usize,
    /// Deepest element nesting accepted; a CWMP message needs 7 levels.
    pub max_depth: usize,
    /// Most XML nodes (elements, text including indentation, comments) the
    /// parser may build; each costs roughly 50 bytes, so the default caps the
    /// tree near 10 MB. A 10,000-parameter GetParameterValuesResponse needs
    /// about 50,000.
    pub max_nodes: u32,
    /// Most entries in any one array (ParameterList, ParameterNames, …).
    pub max_list_items: usize,
    /// `CommandKey` (schema: 32).
    pub command_key_len: usize,
    /// `ParameterKey` (schema: 32).
    pub parameter_key_len: usize,
    /// Parameter and object names and paths (schema: 256).
    pub parameter_name_len: usize,
    /// Transfer URLs of Download, Upload and ScheduleDownload, and their
    /// Success/Failure URLs (schema: 256).
    pub url_len: usize,
    /// Deployment unit and autonomous transfer URLs (schema: 1024).
    pub long_url_len: usize,
    /// `Username`, `Password` (schema: 256).
    pub credential_len: usize,
    /// `FileType` (schema: 64).
    pub file_type_len: usize,
    /// `TargetFileName` (schema: 256).
    pub target_file_name_len: usize,
    /// A parameter `Value` (schema: unbounded; TR-181 strings and base64
    /// values go up to 64 KiB).
    pub value_len: usize,
    /// Any other string the schema leaves unbounded (`cwmp:ID`,
    /// `FaultString`, voucher text, …).
    pub text_len: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_envelope_bytes: 4 * 1024 * 1024,
            max_depth: 24,
            max_nodes: 200_000,
            max_list_items: 32_768,
            command_key_len: 32,
            parameter_key_len: 32,
            parameter_name_len: 256,
            url_len: 256,
            long_url_len: 1024,
            credential_len: 256,
            file_type_len: 64,
            target_file_name_len: 256,
            value_len: 65_536,
            text_len: 65_536,
        }
    }
}
