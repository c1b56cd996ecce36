//! HTTP/1.1 as the ACS client and the connection-request server read it: a
//! response head, its body framing and body (fed in two pieces), a request
//! head and a URL, from the same bytes.
#![no_main]
use icwmp::wire::http::{self, BodyReader, Url};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((used, head))) = http::parse_response_head(data, http::MAX_HEADERS) {
        if let Ok(mut reader) = BodyReader::for_response(&head) {
            let body = data.get(used..).unwrap_or(&[]);
            let (first, second) = body.split_at(body.len() / 2);
            let mut out = [0u8; 64];
            let mut pending = first.to_vec();
            for piece in [second, &[][..]] {
                // Each read uses input or fills output; bounded by the input's length.
                for _ in 0..=pending.len() + 1 {
                    match reader.read(&pending, &mut out) {
                        Ok((0, 0)) | Err(_) => break,
                        Ok((used, filled)) => {
                            assert!(used <= pending.len() && filled <= out.len());
                            pending.drain(..used);
                        }
                    }
                }
                pending.extend_from_slice(piece);
            }
        }
    }
    let _ = http::parse_request_head(data, 32);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(url) = Url::parse(text) {
            assert!(url.path.starts_with('/') && !url.host.is_empty());
            assert_eq!(Url::parse(&url.to_string()).map(|again| again.port), Some(url.port));
        }
    }
});
