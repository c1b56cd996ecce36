//! HTTP content codings in a build without the `compression` feature: the interface of `content_coding.rs` with no coding to pick.
//!
//! [`ContentCoding`] has no values, so every `Option<ContentCoding>` is
//! `None`: requests go out and reports are sent uncompressed, `Accept-Encoding`
//! is never offered, and a `Content-Encoding` other than identity is refused
//! as unsupported. The encoder and decoder exist only as types; nothing can
//! make one.

/// A content coding the CPE understands: none in this build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentCoding {}

impl ContentCoding {
    /// The coding's token in `Content-Encoding` / `Accept-Encoding`.
    pub fn token(self) -> &'static str {
        match self {}
    }

    /// `Ok(None)` for identity (or no value); any coding is unsupported.
    pub fn from_header(value: &str) -> Result<Option<ContentCoding>, CodingError> {
        let value = value.trim();
        if value.is_empty() || value.eq_ignore_ascii_case("identity") {
            return Ok(None);
        }
        Err(CodingError::Unsupported(value.to_owned()))
    }

    /// No data model name (`GZIP`, `Deflate`) names a coding of this build.
    pub fn from_name(_name: &str) -> Option<ContentCoding> {
        None
    }
}

/// The data model names of the codings this build has: none.
pub const SUPPORTED_NAMES: &str = "";

pub use super::coding_error::CodingError;

/// A streaming compressor of a coding; none can be made in this build.
pub struct Encoder(ContentCoding);

impl Encoder {
    pub fn new(coding: ContentCoding) -> Encoder {
        Encoder(coding)
    }

    pub fn write(&mut self, _input: &[u8], _out: &mut Vec<u8>) {
        match self.0 {}
    }

    pub fn finish(self, _out: &mut Vec<u8>) {
        match self.0 {}
    }
}

/// Compresses `data` in one piece (unreachable: there is no coding).
pub fn compress(coding: ContentCoding, _data: &[u8]) -> Vec<u8> {
    match coding {}
}

/// A streaming decompressor of a coding; none can be made in this build.
pub struct Decoder(ContentCoding);

impl Decoder {
    pub fn new(coding: ContentCoding, _limit: u64) -> Decoder {
        Decoder(coding)
    }

    pub fn feed(&mut self, _input: &[u8], _out: &mut Vec<u8>) -> Result<usize, CodingError> {
        match self.0 {}
    }

    pub fn finish(&self) -> Result<(), CodingError> {
        match self.0 {}
    }
}

/// Decompresses a whole body at once (unreachable: there is no coding).
pub fn decompress(
    coding: ContentCoding,
    _data: &[u8],
    _limit: u64,
) -> Result<Vec<u8>, CodingError> {
    match coding {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_identity_is_accepted_and_no_name_names_a_coding() {
        assert_eq!(ContentCoding::from_header(" identity "), Ok(None));
        assert_eq!(ContentCoding::from_header(""), Ok(None));
        assert_eq!(
            ContentCoding::from_header("gzip"),
            Err(CodingError::Unsupported("gzip".to_owned()))
        );
        assert_eq!(ContentCoding::from_name("GZIP"), None);
        assert_eq!(SUPPORTED_NAMES, "");
    }
}
