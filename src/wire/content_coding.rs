//! HTTP content codings `gzip` (RFC 1952) and `deflate` (RFC 1950 zlib): a streaming encoder and a size-bounded streaming decoder.
//!
//! The deflate algorithm itself is miniz_oxide's; the gzip framing (header,
//! CRC-32 and length trailer) is done here. The decoder never holds more than
//! one output chunk beyond what its caller has taken, and refuses a stream
//! that expands past its limit (a "zip bomb") as soon as the limit is crossed.

use miniz_oxide::deflate::core::CompressorOxide;
use miniz_oxide::deflate::stream::deflate;
use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

/// Compression level (zlib's default: a good ratio for little time).
const LEVEL: u8 = 6;
/// Output produced per step of the encoder or decoder.
const CHUNK: usize = 16 * 1024;
/// A gzip header (with its optional name, comment and extra field) longer than this is refused.
const MAX_GZIP_HEADER: usize = 8 * 1024;
/// The fixed gzip header this encoder writes: magic, CM=8 (deflate), no flags,
/// no modification time, no extra flags, OS 255 (unknown).
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// A content coding the CPE understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentCoding {
    Gzip,
    /// HTTP's `deflate`: the zlib format (a raw deflate stream is accepted when decoding).
    Deflate,
}

impl ContentCoding {
    /// The coding's token in `Content-Encoding` / `Accept-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            ContentCoding::Gzip => "gzip",
            ContentCoding::Deflate => "deflate",
        }
    }

    /// The coding a `Content-Encoding` value names: `Ok(None)` for identity
    /// (or no value); more than one coding, or one we do not know, is an error.
    pub fn from_header(value: &str) -> Result<Option<ContentCoding>, CodingError> {
        let value = value.trim();
        if value.is_empty() || value.eq_ignore_ascii_case("identity") {
            return Ok(None);
        }
        if value.eq_ignore_ascii_case("gzip") || value.eq_ignore_ascii_case("x-gzip") {
            return Ok(Some(ContentCoding::Gzip));
        }
        if value.eq_ignore_ascii_case("deflate") {
            return Ok(Some(ContentCoding::Deflate));
        }
        Err(CodingError::Unsupported(value.to_owned()))
    }

    /// The coding a data model value names (`GZIP`, `Deflate`: TR-069's
    /// HTTPCompression, TR-181's BulkData HTTP.Compression); `None` for any other.
    pub fn from_name(name: &str) -> Option<ContentCoding> {
        match name {
            "GZIP" => Some(ContentCoding::Gzip),
            "Deflate" => Some(ContentCoding::Deflate),
            _ => None,
        }
    }
}

/// The data model names of the codings this build has, for the
/// `…CompressionSupported` parameters.
pub const SUPPORTED_NAMES: &str = "GZIP,Deflate";

pub use super::coding_error::CodingError;

/// CRC-32 (IEEE 802.3, reflected, as gzip uses it) lookup table, built at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
};

/// Continues the CRC-32 `crc` (0 to start) over `data`.
pub fn crc32_update(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    for &byte in data {
        c = CRC_TABLE[((c ^ u32::from(byte)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// A streaming compressor: feed it pieces with [`Encoder::write`], end with [`Encoder::finish`].
pub struct Encoder {
    coding: ContentCoding,
    compressor: Box<CompressorOxide>,
    crc: u32,
    len: u32,
    started: bool,
}

impl Encoder {
    pub fn new(coding: ContentCoding) -> Encoder {
        let mut compressor = Box::<CompressorOxide>::default();
        let format = match coding {
            ContentCoding::Gzip => DataFormat::Raw,
            ContentCoding::Deflate => DataFormat::Zlib,
        };
        compressor.set_format_and_level(format, LEVEL);
        Encoder {
            coding,
            compressor,
            crc: 0,
            len: 0,
            started: false,
        }
    }

    /// Compresses `input`, appending what is ready to `out`.
    pub fn write(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.start(out);
        if self.coding == ContentCoding::Gzip {
            self.crc = crc32_update(self.crc, input);
            // ISIZE is the length modulo 2^32.
            self.len = self.len.wrapping_add(input.len() as u32);
        }
        self.run(input, out, MZFlush::None);
    }

    /// Ends the stream, appending the rest (and the gzip trailer) to `out`.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        self.start(out);
        self.run(&[], out, MZFlush::Finish);
        if self.coding == ContentCoding::Gzip {
            out.extend_from_slice(&self.crc.to_le_bytes());
            out.extend_from_slice(&self.len.to_le_bytes());
        }
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            if self.coding == ContentCoding::Gzip {
                out.extend_from_slice(&GZIP_HEADER);
            }
        }
    }

    fn run(&mut self, mut input: &[u8], out: &mut Vec<u8>, flush: MZFlush) {
        loop {
            let start = out.len();
            out.resize(start + CHUNK, 0);
            let Some(space) = out.get_mut(start..) else {
                return;
            };
            let result = deflate(&mut self.compressor, input, space, flush);
            out.truncate(start + result.bytes_written);
            input = input.get(result.bytes_consumed..).unwrap_or(&[]);
            let progressed = result.bytes_consumed > 0 || result.bytes_written > 0;
            match result.status {
                Ok(MZStatus::StreamEnd) => return,
                Ok(_) if progressed => {
                    // Without Finish, stop once the input is taken and the output had room.
                    if flush != MZFlush::Finish && input.is_empty() && result.bytes_written < CHUNK
                    {
                        return;
                    }
                }
                _ => return,
            }
        }
    }
}

/// Compresses `data` in one piece.
pub fn compress(coding: ContentCoding, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 4 + 64);
    let mut encoder = Encoder::new(coding);
    encoder.write(data, &mut out);
    encoder.finish(&mut out);
    out
}

/// Where the decoder is in the stream.
#[derive(Debug, PartialEq, Eq)]
enum Stage {
    /// Collecting the gzip header, or the first two bytes of a `deflate` body.
    Header,
    Body,
    /// Collecting the 8-byte gzip trailer.
    Trailer,
    Done,
}

/// A streaming decompressor with an output limit.
pub struct Decoder {
    coding: ContentCoding,
    limit: u64,
    produced: u64,
    stage: Stage,
    /// Header or trailer bytes gathered so far.
    pending: Vec<u8>,
    state: Option<Box<InflateState>>,
    crc: u32,
}

impl Decoder {
    /// A decoder that refuses to produce more than `limit` bytes.
    pub fn new(coding: ContentCoding, limit: u64) -> Decoder {
        Decoder {
            coding,
            limit,
            produced: 0,
            stage: Stage::Header,
            pending: Vec::new(),
            state: None,
            crc: 0,
        }
    }

    /// Decodes from `input`, appending to `out` until this call has added at
    /// least one chunk or the input is used up. Returns how many input bytes
    /// were taken; call again with the rest (after taking what `out` holds).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, CodingError> {
        let mut used = 0;
        let out_start = out.len();
        // Every turn takes input or produces output, or returns.
        loop {
            let rest = input.get(used..).unwrap_or(&[]);
            match self.stage {
                Stage::Header => {
                    if rest.is_empty() {
                        return Ok(used);
                    }
                    let take = rest.len().min(MAX_GZIP_HEADER + 1 - self.pending.len());
                    let before = self.pending.len();
                    self.pending
                        .extend_from_slice(rest.get(..take).unwrap_or(&[]));
                    match self.header_len()? {
                        Some(header_len) => {
                            // Bytes past the header belong to the body; a `deflate`
                            // body keeps its sniffed bytes from earlier calls for the inflater.
                            used += header_len.saturating_sub(before);
                            self.pending.truncate(before.saturating_sub(header_len));
                            self.stage = Stage::Body;
                        }
                        None => {
                            if self.pending.len() > MAX_GZIP_HEADER {
                                return Err(CodingError::Corrupt("gzip header too long"));
                            }
                            used += take;
                        }
                    }
                }
                Stage::Body => {
                    if out.len() - out_start >= CHUNK {
                        return Ok(used);
                    }
                    let Some(state) = self.state.as_mut() else {
                        return Err(CodingError::Corrupt("no inflater"));
                    };
                    let start = out.len();
                    out.resize(start + CHUNK, 0);
                    let space = out.get_mut(start..).unwrap_or(&mut []);
                    let from_pending = !self.pending.is_empty();
                    let source: &[u8] = if from_pending { &self.pending } else { rest };
                    let result = inflate(state, source, space, MZFlush::None);
                    let written = result.bytes_written;
                    out.truncate(start + written);
                    if self.coding == ContentCoding::Gzip {
                        let fresh = out.get(start..).unwrap_or(&[]);
                        self.crc = crc32_update(self.crc, fresh);
                    }
                    self.produced = self.produced.saturating_add(written as u64);
                    if self.produced > self.limit {
                        return Err(CodingError::TooLarge);
                    }
                    if from_pending {
                        let consumed = result.bytes_consumed.min(self.pending.len());
                        self.pending.drain(..consumed);
                    } else {
                        used += result.bytes_consumed;
                    }
                    match result.status {
                        Ok(MZStatus::StreamEnd) => {
                            self.state = None;
                            self.stage = match self.coding {
                                ContentCoding::Gzip => Stage::Trailer,
                                ContentCoding::Deflate => Stage::Done,
                            };
                        }
                        Ok(_) | Err(MZError::Buf) => {
                            if result.bytes_consumed == 0 && written == 0 {
                                // Needs more input than there is.
                                if from_pending && !rest.is_empty() {
                                    self.pending.extend_from_slice(rest);
                                    used += rest.len();
                                    continue;
                                }
                                return Ok(used);
                            }
                        }
                        Err(_) => return Err(CodingError::Corrupt("invalid deflate data")),
                    }
                }
                Stage::Trailer => {
                    if rest.is_empty() {
                        return Ok(used);
                    }
                    let take = rest.len().min(8 - self.pending.len());
                    self.pending
                        .extend_from_slice(rest.get(..take).unwrap_or(&[]));
                    used += take;
                    if self.pending.len() == 8 {
                        let word = |at: usize| {
                            let mut bytes = [0u8; 4];
                            bytes.copy_from_slice(self.pending.get(at..at + 4).unwrap_or(&[0; 4]));
                            u32::from_le_bytes(bytes)
                        };
                        if word(0) != self.crc {
                            return Err(CodingError::Corrupt("gzip CRC-32 mismatch"));
                        }
                        if word(4) != self.produced as u32 {
                            return Err(CodingError::Corrupt("gzip length mismatch"));
                        }
                        self.stage = Stage::Done;
                    }
                }
                Stage::Done => {
                    if rest.is_empty() {
                        return Ok(used);
                    }
                    return Err(CodingError::Corrupt("data after the end of the stream"));
                }
            }
        }
    }

    /// The whole body has been fed: it must have been a complete stream, or
    /// nothing at all (servers label empty bodies with a coding too).
    pub fn finish(&self) -> Result<(), CodingError> {
        let empty = self.stage == Stage::Header && self.pending.is_empty();
        if self.stage == Stage::Done || empty {
            Ok(())
        } else {
            Err(CodingError::Corrupt("truncated"))
        }
    }

    /// Length of the header in `pending` once complete (and the inflater
    /// made for what follows it); `None` while more bytes are needed.
    fn header_len(&mut self) -> Result<Option<usize>, CodingError> {
        let buf = &self.pending;
        match self.coding {
            ContentCoding::Deflate => {
                let (Some(&cmf), Some(&flg)) = (buf.first(), buf.get(1)) else {
                    return Ok(None);
                };
                // RFC 1950 says zlib; some servers send a raw deflate stream instead.
                let zlib = cmf & 0x0f == 8 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0;
                let format = if zlib {
                    DataFormat::Zlib
                } else {
                    DataFormat::Raw
                };
                self.state = Some(InflateState::new_boxed(format));
                Ok(Some(0))
            }
            ContentCoding::Gzip => {
                let Some(len) = gzip_header_len(buf)? else {
                    return Ok(None);
                };
                self.state = Some(InflateState::new_boxed(DataFormat::Raw));
                Ok(Some(len))
            }
        }
    }
}

/// The length of the RFC 1952 header at the start of `buf`, if complete.
fn gzip_header_len(buf: &[u8]) -> Result<Option<usize>, CodingError> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    if buf.len() < 10 {
        if buf.first().is_some_and(|&b| b != 0x1f) || buf.get(1).is_some_and(|&b| b != 0x8b) {
            return Err(CodingError::Corrupt("not gzip"));
        }
        return Ok(None);
    }
    if buf.get(..3) != Some(&[0x1f, 0x8b, 8][..]) {
        return Err(CodingError::Corrupt("not gzip"));
    }
    let flags = buf.get(3).copied().unwrap_or(0);
    if flags & 0xe0 != 0 {
        return Err(CodingError::Corrupt("reserved gzip flags"));
    }
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let (Some(&lo), Some(&hi)) = (buf.get(at), buf.get(at + 1)) else {
            return Ok(None);
        };
        at += 2 + usize::from(u16::from_le_bytes([lo, hi]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let Some(end) = buf
                .get(at..)
                .and_then(|rest| rest.iter().position(|&b| b == 0))
            else {
                return Ok(None);
            };
            at += end + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    Ok((buf.len() >= at).then_some(at))
}

/// Decompresses a whole body at once, bounded by `limit`.
pub fn decompress(coding: ContentCoding, data: &[u8], limit: u64) -> Result<Vec<u8>, CodingError> {
    let mut decoder = Decoder::new(coding, limit);
    let mut out = Vec::new();
    let mut used = 0;
    while used < data.len() {
        let before = (used, out.len());
        used += decoder.feed(data.get(used..).unwrap_or(&[]), &mut out)?;
        if before == (used, out.len()) {
            break;
        }
    }
    decoder.feed(&[], &mut out)?;
    decoder.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        (0..20_000u32)
            .flat_map(|i| format!("Device.Stats.{i}.Bytes={}\n", i * 7).into_bytes())
            .collect()
    }

    #[test]
    fn crc32_matches_the_check_value() {
        assert_eq!(crc32_update(0, b"123456789"), 0xcbf4_3926);
        assert_eq!(
            crc32_update(crc32_update(0, b"12345"), b"6789"),
            0xcbf4_3926
        );
    }

    #[test]
    fn round_trips_both_codings_in_pieces() {
        let data = sample();
        for coding in [ContentCoding::Gzip, ContentCoding::Deflate] {
            let mut encoder = Encoder::new(coding);
            let mut packed = Vec::new();
            for piece in data.chunks(777) {
                encoder.write(piece, &mut packed);
            }
            encoder.finish(&mut packed);
            assert!(packed.len() < data.len() / 4, "{coding:?} compresses");
            assert_eq!(
                packed,
                compress(coding, &data),
                "pieces or whole: same bytes"
            );
            assert_eq!(decompress(coding, &packed, u64::MAX).unwrap(), data);
            // Fed one byte at a time, too.
            let small = compress(coding, &data[..20_000]);
            let mut decoder = Decoder::new(coding, u64::MAX);
            let mut out = Vec::new();
            for byte in &small {
                let mut used = 0;
                while used == 0 {
                    used = decoder.feed(std::slice::from_ref(byte), &mut out).unwrap();
                }
            }
            decoder.feed(&[], &mut out).unwrap();
            decoder.finish().unwrap();
            assert_eq!(out, &data[..20_000]);
        }
    }

    #[test]
    fn gzip_framing_is_rfc_1952() {
        let packed = compress(ContentCoding::Gzip, b"hello");
        assert_eq!(packed.get(..10), Some(&GZIP_HEADER[..]));
        let trailer = &packed[packed.len() - 8..];
        assert_eq!(trailer[..4], crc32_update(0, b"hello").to_le_bytes());
        assert_eq!(trailer[4..], 5u32.to_le_bytes());
        let zlib = compress(ContentCoding::Deflate, b"hello");
        assert_eq!((u16::from(zlib[0]) << 8 | u16::from(zlib[1])) % 31, 0);
    }

    #[test]
    fn accepts_gzip_header_fields_and_raw_deflate() {
        // FEXTRA + FNAME + FCOMMENT + FHCRC, as other gzip writers may send.
        let plain = compress(ContentCoding::Gzip, b"body");
        let mut fancy = vec![
            0x1f,
            0x8b,
            8,
            4 | 8 | 16 | 2,
            0,
            0,
            0,
            0,
            0,
            3,
            2,
            0,
            b'x',
            b'y',
        ];
        fancy.extend_from_slice(b"name\0comment\0\xaa\xbb");
        fancy.extend_from_slice(&plain[10..]);
        assert_eq!(
            decompress(ContentCoding::Gzip, &fancy, 100).unwrap(),
            b"body"
        );
        let raw = miniz_oxide::deflate::compress_to_vec(b"raw body", 6);
        assert_eq!(
            decompress(ContentCoding::Deflate, &raw, 100).unwrap(),
            b"raw body"
        );
    }

    #[test]
    fn refuses_corrupt_truncated_and_oversized_bodies() {
        let data = sample();
        let packed = compress(ContentCoding::Gzip, &data);
        let mut bad_crc = packed.clone();
        let at = bad_crc.len() - 8;
        bad_crc[at] ^= 1;
        assert_eq!(
            decompress(ContentCoding::Gzip, &bad_crc, u64::MAX),
            Err(CodingError::Corrupt("gzip CRC-32 mismatch"))
        );
        assert_eq!(
            decompress(ContentCoding::Gzip, &packed[..packed.len() - 3], u64::MAX),
            Err(CodingError::Corrupt("truncated"))
        );
        assert!(decompress(ContentCoding::Gzip, b"not gzip at all", u64::MAX).is_err());
        assert_eq!(decompress(ContentCoding::Gzip, b"", 10), Ok(Vec::new()));
        assert!(decompress(ContentCoding::Gzip, &packed[..5], u64::MAX).is_err());
        let mut trailing = packed.clone();
        trailing.push(0);
        assert!(decompress(ContentCoding::Gzip, &trailing, u64::MAX).is_err());
        // A zip bomb: 64 MiB of zeros in about 64 KiB, refused at the limit.
        let mut bomb = Vec::new();
        let mut encoder = Encoder::new(ContentCoding::Gzip);
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            encoder.write(&zeros, &mut bomb);
        }
        encoder.finish(&mut bomb);
        assert!(bomb.len() < 128 * 1024);
        assert_eq!(
            decompress(ContentCoding::Gzip, &bomb, 4 << 20),
            Err(CodingError::TooLarge)
        );
    }

    #[test]
    fn parses_content_encoding_values() {
        assert_eq!(
            ContentCoding::from_header(" GZIP "),
            Ok(Some(ContentCoding::Gzip))
        );
        assert_eq!(
            ContentCoding::from_header("x-gzip"),
            Ok(Some(ContentCoding::Gzip))
        );
        assert_eq!(
            ContentCoding::from_header("deflate"),
            Ok(Some(ContentCoding::Deflate))
        );
        assert_eq!(ContentCoding::from_header("identity"), Ok(None));
        assert!(ContentCoding::from_header("br").is_err());
        assert!(ContentCoding::from_header("gzip, gzip").is_err());
    }

    #[test]
    fn random_input_never_panics() {
        let mut seed = 0x2545_f491_u32;
        let packed = compress(ContentCoding::Gzip, &sample()[..4000]);
        for round in 0..300 {
            let mut data = packed.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let at = seed as usize % data.len();
                data[at] = (seed >> 8) as u8;
            }
            data.truncate(seed as usize % data.len() + 1);
            let coding = if round % 2 == 0 {
                ContentCoding::Gzip
            } else {
                ContentCoding::Deflate
            };
            let _ = decompress(coding, &data, 1 << 20);
        }
    }
}
