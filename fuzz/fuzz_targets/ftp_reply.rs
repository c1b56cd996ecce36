//! FTP server replies (any split into reads) and FTP URLs from Download/Upload requests.
#![no_main]
use icwmp::wire::ftp::{self, FtpUrl, ReplyReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = ReplyReader::new();
    for chunk in data.chunks(7) {
        match reader.push(chunk) {
            Ok(replies) => {
                for reply in replies {
                    let _ = ftp::parse_pasv(&reply.text);
                    let _ = ftp::parse_epsv(&reply.text);
                }
            }
            Err(_) => break,
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = FtpUrl::parse(text);
    }
});
