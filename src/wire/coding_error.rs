//! Why an HTTP body could not be decoded: the one error type of `content_coding`, with or without the `compression` feature.

use std::fmt;

/// Why a body could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodingError {
    /// A `Content-Encoding` we do not implement.
    Unsupported(String),
    /// The compressed data is malformed or truncated.
    Corrupt(&'static str),
    /// It expands past the decoder's limit.
    TooLarge,
}

impl fmt::Display for CodingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodingError::Unsupported(coding) => write!(f, "unsupported Content-Encoding {coding}"),
            CodingError::Corrupt(why) => write!(f, "corrupt compressed body: {why}"),
            CodingError::TooLarge => write!(f, "compressed body expands past the size limit"),
        }
    }
}

impl std::error::Error for CodingError {}
