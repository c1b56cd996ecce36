//! gzip/deflate bodies from the ACS and file servers, fed in pieces, under a decoded-size cap.
#![no_main]
use icwmp::wire::content_coding::{self, ContentCoding, Decoder};
use libfuzzer_sys::fuzz_target;

/// Small, so a bomb is refused quickly.
const LIMIT: u64 = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let coding = if selector & 1 == 0 {
        ContentCoding::Gzip
    } else {
        ContentCoding::Deflate
    };
    let whole = content_coding::decompress(coding, body, LIMIT);
    if let Ok(decoded) = &whole {
        assert!(decoded.len() as u64 <= LIMIT);
    }
    // The same body in pieces decodes to the same result.
    let mut decoder = Decoder::new(coding, LIMIT);
    let mut out = Vec::new();
    let mut failed = false;
    for piece in body.chunks(usize::from(selector >> 1).max(1)) {
        if decoder.feed(piece, &mut out).is_err() {
            failed = true;
            break;
        }
    }
    if !failed && decoder.finish().is_ok() {
        assert_eq!(whole.ok().as_deref(), Some(out.as_slice()));
    }
});
