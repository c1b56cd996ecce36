//! libubox blob/blobmsg TLV codec, and the JSON-like [`Value`] it carries (with JSON text in and out).
//!
//! A blob attribute is a big-endian u32 header (bit 31 "extended", bits 30..24 id, bits 23..0 length
//! including the header but not the padding) followed by its payload, padded with zeros to 4 bytes.
//! A blobmsg attribute is an extended blob attribute whose id is its type and whose payload starts
//! with a name header (u16 length, name, NUL, padding to 4). Decoding never panics and never reads
//! past its input: every malformed byte string is a [`DecodeError`].

use std::fmt;

/// Size of a blob attribute header.
pub const ATTR_HEADER_LEN: usize = 4;
/// Largest length a blob attribute header can express (24 bits).
pub const MAX_ATTR_LEN: usize = LEN_MASK as usize;
/// Deepest nesting of arrays/tables accepted when decoding, encoding or parsing JSON; bounds recursion.
pub const MAX_DEPTH: usize = 32;

const EXTENDED_FLAG: u32 = 0x8000_0000;
const ID_MASK: u32 = 0x7f00_0000;
const ID_SHIFT: u32 = 24;
const LEN_MASK: u32 = 0x00ff_ffff;
/// Size of the fixed part of a blobmsg name header (the u16 name length).
const NAME_LEN_FIELD: usize = 2;

/// Rounds a length up to the 4-byte blob alignment.
pub const fn pad4(len: usize) -> usize {
    (len + 3) & !3
}

/// blobmsg type ids (`enum blobmsg_type`); BOOL shares id 7 with INT8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobmsgType {
    Unspec = 0,
    Array = 1,
    Table = 2,
    String = 3,
    Int64 = 4,
    Int32 = 5,
    Int16 = 6,
    /// INT8, also used for booleans.
    Int8 = 7,
    Double = 8,
}

impl BlobmsgType {
    /// The type for a wire id, if libubox defines it.
    pub fn from_id(id: u8) -> Option<BlobmsgType> {
        Some(match id {
            0 => BlobmsgType::Unspec,
            1 => BlobmsgType::Array,
            2 => BlobmsgType::Table,
            3 => BlobmsgType::String,
            4 => BlobmsgType::Int64,
            5 => BlobmsgType::Int32,
            6 => BlobmsgType::Int16,
            7 => BlobmsgType::Int8,
            8 => BlobmsgType::Double,
            _ => return None,
        })
    }

    /// The wire id.
    pub const fn id(self) -> u8 {
        self as u8
    }
}

/// A JSON-like value as carried by blobmsg (and printed by the `ubus` CLI).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// blobmsg UNSPEC; JSON `null`.
    Null,
    /// blobmsg INT8/BOOL.
    Bool(bool),
    /// blobmsg INT16/INT32/INT64; encoded as INT32 when it fits, else INT64 (as blobmsg_json does).
    Int(i64),
    Double(f64),
    String(String),
    Array(Vec<Value>),
    /// Named members in wire order (duplicates are kept as received).
    Table(Vec<(String, Value)>),
}

impl Value {
    /// Member `key` of a table (the first one with that name).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Table(fields) => field(fields, key),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_table(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Table(fields) => Some(fields),
            _ => None,
        }
    }

    /// Compact JSON, as `blobmsg_format_json` prints it (`{"a":1,"b":"x"}`).
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        write_json(&mut out, self, None);
        out
    }

    /// Indented JSON exactly as the `ubus` CLI prints a reply (tabs, `"key": value`).
    pub fn to_json_pretty(&self) -> String {
        let mut out = String::new();
        write_json(&mut out, self, Some(0));
        out
    }
}

/// The first member named `key` in a list of table members.
pub fn field<'a>(fields: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    fields
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value)
}

/// Why a byte string is not a valid blob/blobmsg encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// An attribute (or its padding) runs past the end of its container.
    Truncated,
    /// An attribute header claims a length smaller than the header itself.
    BadLength,
    /// A blobmsg name header does not fit or is not NUL-terminated.
    BadName,
    /// A plain blob attribute where a blobmsg attribute (extended bit set) is required.
    NotBlobmsg,
    /// A blobmsg type id libubox does not define.
    UnknownType(u8),
    /// A value whose payload size does not match its type.
    BadValueLength { type_id: u8, len: usize },
    /// A string payload without its terminating NUL.
    UnterminatedString,
    /// Arrays/tables nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("blob attribute runs past its container"),
            DecodeError::BadLength => f.write_str("blob attribute length shorter than its header"),
            DecodeError::BadName => f.write_str("malformed blobmsg name header"),
            DecodeError::NotBlobmsg => f.write_str("plain blob attribute where blobmsg expected"),
            DecodeError::UnknownType(id) => write!(f, "unknown blobmsg type {id}"),
            DecodeError::BadValueLength { type_id, len } => {
                write!(f, "blobmsg type {type_id} with a {len}-byte value")
            }
            DecodeError::UnterminatedString => f.write_str("string without terminating NUL"),
            DecodeError::TooDeep => write!(f, "nesting deeper than {MAX_DEPTH}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a value cannot be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// An attribute would exceed the 24-bit length field.
    TooLong,
    /// A name longer than 65535 bytes.
    NameTooLong,
    /// A string or name containing NUL, which C readers would silently truncate.
    InteriorNul,
    /// Arrays/tables nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooLong => f.write_str("blob attribute longer than 16 MiB"),
            EncodeError::NameTooLong => f.write_str("blobmsg name longer than 65535 bytes"),
            EncodeError::InteriorNul => f.write_str("string contains NUL"),
            EncodeError::TooDeep => write!(f, "nesting deeper than {MAX_DEPTH}"),
        }
    }
}

impl std::error::Error for EncodeError {}

// ---------------------------------------------------------------------------------------------
// Plain blob attributes
// ---------------------------------------------------------------------------------------------

/// One blob attribute viewed in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr<'a> {
    /// 7-bit id (a ubus attribute id, or a blobmsg type when `extended`).
    pub id: u8,
    pub extended: bool,
    /// The payload without header and padding.
    pub payload: &'a [u8],
}

/// Iterates the attributes packed in `data` (a container's payload); yields an error once and
/// stops if the data is malformed. Every attribute, including the last, must carry its padding.
pub fn attrs(data: &[u8]) -> Attrs<'_> {
    Attrs { rest: data }
}

/// Iterator returned by [`attrs`].
pub struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let result = split_attr(self.rest);
        match result {
            Ok((attr, rest)) => {
                self.rest = rest;
                Some(Ok(attr))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

fn split_attr(data: &[u8]) -> Result<(Attr<'_>, &[u8]), DecodeError> {
    let header = read_u32(data, 0).ok_or(DecodeError::Truncated)?;
    let len = (header & LEN_MASK) as usize;
    if len < ATTR_HEADER_LEN {
        return Err(DecodeError::BadLength);
    }
    let payload = data
        .get(ATTR_HEADER_LEN..len)
        .ok_or(DecodeError::Truncated)?;
    let rest = data.get(pad4(len)..).ok_or(DecodeError::Truncated)?;
    let attr = Attr {
        id: ((header & ID_MASK) >> ID_SHIFT) as u8,
        extended: header & EXTENDED_FLAG != 0,
        payload,
    };
    Ok((attr, rest))
}

/// Reads the single attribute that makes up `data` exactly (a frame's top-level container).
pub fn single_attr(data: &[u8]) -> Result<Attr<'_>, DecodeError> {
    let (attr, _padding) = split_attr(data)?;
    Ok(attr)
}

fn read_u32(data: &[u8], at: usize) -> Option<u32> {
    let bytes = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

impl Attr<'_> {
    /// The payload as a big-endian u32 (ubus OBJID, OBJTYPE, TARGET).
    pub fn as_u32(&self) -> Result<u32, DecodeError> {
        match self.payload {
            [a, b, c, d] => Ok(u32::from_be_bytes([*a, *b, *c, *d])),
            _ => Err(DecodeError::BadValueLength {
                type_id: self.id,
                len: self.payload.len(),
            }),
        }
    }

    /// The payload as a single byte (ubus ACTIVE, NO_REPLY).
    pub fn as_u8(&self) -> Result<u8, DecodeError> {
        match self.payload {
            [a] => Ok(*a),
            _ => Err(DecodeError::BadValueLength {
                type_id: self.id,
                len: self.payload.len(),
            }),
        }
    }

    /// The payload as a NUL-terminated string (ubus OBJPATH, METHOD, USER, GROUP).
    pub fn as_string(&self) -> Result<String, DecodeError> {
        c_string(self.payload)
    }
}

/// A NUL-terminated payload as text; like C readers, stops at the first NUL; bytes that are not
/// UTF-8 are replaced rather than failing the whole message.
fn c_string(payload: &[u8]) -> Result<String, DecodeError> {
    match payload.split_last() {
        Some((0, _)) => {
            let text = payload.split(|b| *b == 0).next().unwrap_or_default();
            Ok(String::from_utf8_lossy(text).into_owned())
        }
        _ => Err(DecodeError::UnterminatedString),
    }
}

fn header_word(id: u8, extended: bool, len: usize) -> Result<[u8; 4], EncodeError> {
    if len > MAX_ATTR_LEN {
        return Err(EncodeError::TooLong);
    }
    let mut word = ((u32::from(id) << ID_SHIFT) & ID_MASK) | len as u32;
    if extended {
        word |= EXTENDED_FLAG;
    }
    Ok(word.to_be_bytes())
}

fn pad_to_4(out: &mut Vec<u8>) {
    out.resize(pad4(out.len()), 0);
}

/// Appends a plain blob attribute with `payload`, padded.
pub fn put_attr(out: &mut Vec<u8>, id: u8, payload: &[u8]) -> Result<(), EncodeError> {
    let header = header_word(id, false, ATTR_HEADER_LEN + payload.len())?;
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
    pad_to_4(out);
    Ok(())
}

/// Appends a u32 attribute (ubus OBJID and friends; also INT32 STATUS via `as u32`).
pub fn put_u32(out: &mut Vec<u8>, id: u8, value: u32) -> Result<(), EncodeError> {
    put_attr(out, id, &value.to_be_bytes())
}

/// Appends a one-byte attribute.
pub fn put_u8(out: &mut Vec<u8>, id: u8, value: u8) -> Result<(), EncodeError> {
    put_attr(out, id, &[value])
}

/// Appends a NUL-terminated string attribute.
pub fn put_string(out: &mut Vec<u8>, id: u8, text: &str) -> Result<(), EncodeError> {
    if text.as_bytes().contains(&0) {
        return Err(EncodeError::InteriorNul);
    }
    let header = header_word(id, false, ATTR_HEADER_LEN + text.len() + 1)?;
    out.extend_from_slice(&header);
    out.extend_from_slice(text.as_bytes());
    out.push(0);
    pad_to_4(out);
    Ok(())
}

/// Starts a nested plain blob attribute; returns the mark to pass to [`nest_end`].
pub fn nest_start(out: &mut Vec<u8>, id: u8) -> NestMark {
    let start = out.len();
    out.extend_from_slice(&[id & 0x7f, 0, 0, 0]);
    NestMark { start }
}

/// Where a nested attribute started.
#[derive(Debug)]
#[must_use = "a nested attribute must be closed with nest_end"]
pub struct NestMark {
    start: usize,
}

/// Closes a nested attribute: its length covers everything appended since [`nest_start`].
pub fn nest_end(out: &mut Vec<u8>, mark: NestMark) -> Result<(), EncodeError> {
    pad_to_4(out);
    let len = out.len().saturating_sub(mark.start);
    let id = out.get(mark.start).copied().unwrap_or(0);
    let header = header_word(id, false, len)?;
    if let Some(slot) = out.get_mut(mark.start..mark.start + ATTR_HEADER_LEN) {
        slot.copy_from_slice(&header);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// blobmsg attributes
// ---------------------------------------------------------------------------------------------

/// Appends one named blobmsg attribute (`name` is empty for array elements).
pub fn put_value(out: &mut Vec<u8>, name: &str, value: &Value) -> Result<(), EncodeError> {
    put_value_at(out, name, value, 0)
}

/// Appends table members as a bare list of named blobmsg attributes (a ubus DATA payload).
pub fn put_fields(out: &mut Vec<u8>, fields: &[(String, Value)]) -> Result<(), EncodeError> {
    for (name, value) in fields {
        put_value_at(out, name, value, 1)?;
    }
    Ok(())
}

fn put_value_at(
    out: &mut Vec<u8>,
    name: &str,
    value: &Value,
    depth: usize,
) -> Result<(), EncodeError> {
    if depth > MAX_DEPTH {
        return Err(EncodeError::TooDeep);
    }
    let name_len = u16::try_from(name.len()).map_err(|_| EncodeError::NameTooLong)?;
    if name.as_bytes().contains(&0) {
        return Err(EncodeError::InteriorNul);
    }
    let start = out.len();
    out.extend_from_slice(&[0; ATTR_HEADER_LEN]);
    out.extend_from_slice(&name_len.to_be_bytes());
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad_to_4(out);
    let kind = match value {
        Value::Null => BlobmsgType::Unspec,
        Value::Bool(b) => {
            out.push(u8::from(*b));
            BlobmsgType::Int8
        }
        Value::Int(i) => match i32::try_from(*i) {
            Ok(small) => {
                out.extend_from_slice(&small.to_be_bytes());
                BlobmsgType::Int32
            }
            Err(_) => {
                out.extend_from_slice(&i.to_be_bytes());
                BlobmsgType::Int64
            }
        },
        Value::Double(d) => {
            out.extend_from_slice(&d.to_bits().to_be_bytes());
            BlobmsgType::Double
        }
        Value::String(s) => {
            if s.as_bytes().contains(&0) {
                return Err(EncodeError::InteriorNul);
            }
            out.extend_from_slice(s.as_bytes());
            out.push(0);
            BlobmsgType::String
        }
        Value::Array(items) => {
            for item in items {
                put_value_at(out, "", item, depth + 1)?;
            }
            BlobmsgType::Array
        }
        Value::Table(fields) => {
            for (member, item) in fields {
                put_value_at(out, member, item, depth + 1)?;
            }
            BlobmsgType::Table
        }
    };
    let header = header_word(kind.id(), true, out.len() - start)?;
    if let Some(slot) = out.get_mut(start..start + ATTR_HEADER_LEN) {
        slot.copy_from_slice(&header);
    }
    pad_to_4(out);
    Ok(())
}

/// Decodes a bare list of named blobmsg attributes (a ubus DATA payload) into table members.
pub fn decode_fields(data: &[u8]) -> Result<Vec<(String, Value)>, DecodeError> {
    decode_list(data, 1)
}

/// Decodes one blobmsg attribute into its name and value.
pub fn decode_attr(attr: Attr<'_>) -> Result<(String, Value), DecodeError> {
    decode_at(attr, 0)
}

fn decode_list(data: &[u8], depth: usize) -> Result<Vec<(String, Value)>, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    attrs(data).map(|attr| decode_at(attr?, depth)).collect()
}

fn decode_at(attr: Attr<'_>, depth: usize) -> Result<(String, Value), DecodeError> {
    if !attr.extended {
        return Err(DecodeError::NotBlobmsg);
    }
    let name_len = match attr.payload {
        [high, low, ..] => usize::from(u16::from_be_bytes([*high, *low])),
        _ => return Err(DecodeError::BadName),
    };
    let name_end = NAME_LEN_FIELD + name_len;
    if attr.payload.get(name_end) != Some(&0) {
        return Err(DecodeError::BadName);
    }
    let value_bytes = attr
        .payload
        .get(pad4(name_end + 1)..)
        .ok_or(DecodeError::BadName)?;
    // Like C readers, the name ends at its first NUL even if the length field says more.
    let name_bytes = attr
        .payload
        .get(NAME_LEN_FIELD..=name_end)
        .unwrap_or_default();
    let name = c_string(name_bytes)?;
    let kind = BlobmsgType::from_id(attr.id).ok_or(DecodeError::UnknownType(attr.id))?;
    let bad_len = DecodeError::BadValueLength {
        type_id: attr.id,
        len: value_bytes.len(),
    };
    let value = match kind {
        BlobmsgType::Unspec => Value::Null,
        BlobmsgType::Int8 => match value_bytes {
            [b] => Value::Bool(*b != 0),
            _ => return Err(bad_len),
        },
        BlobmsgType::Int16 => match value_bytes {
            [a, b] => Value::Int(i64::from(i16::from_be_bytes([*a, *b]))),
            _ => return Err(bad_len),
        },
        BlobmsgType::Int32 => match value_bytes {
            [a, b, c, d] => Value::Int(i64::from(i32::from_be_bytes([*a, *b, *c, *d]))),
            _ => return Err(bad_len),
        },
        BlobmsgType::Int64 => {
            Value::Int(i64::from_be_bytes(eight_bytes(value_bytes).ok_or(bad_len)?))
        }
        BlobmsgType::Double => Value::Double(f64::from_bits(u64::from_be_bytes(
            eight_bytes(value_bytes).ok_or(bad_len)?,
        ))),
        BlobmsgType::String => Value::String(c_string(value_bytes)?),
        BlobmsgType::Array => {
            let items = decode_list(value_bytes, depth + 1)?;
            Value::Array(items.into_iter().map(|(_, item)| item).collect())
        }
        BlobmsgType::Table => Value::Table(decode_list(value_bytes, depth + 1)?),
    };
    Ok((name, value))
}

fn eight_bytes(bytes: &[u8]) -> Option<[u8; 8]> {
    bytes.try_into().ok()
}

// ---------------------------------------------------------------------------------------------
// JSON text
// ---------------------------------------------------------------------------------------------

fn write_separator(out: &mut String, indent: Option<usize>) {
    if let Some(level) = indent {
        out.push('\n');
        out.extend(std::iter::repeat_n('\t', level));
    }
}

fn write_json(out: &mut String, value: &Value, indent: Option<usize>) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        // libubox prints doubles with "%lf"; JSON has no NaN/infinity, so those become null.
        Value::Double(d) if d.is_finite() => out.push_str(&format!("{d:.6}")),
        Value::Double(_) => out.push_str("null"),
        Value::String(s) => write_json_string(out, s),
        Value::Array(items) => {
            write_list(out, indent, '[', ']', items.iter().map(|item| ("", item)));
        }
        Value::Table(fields) => {
            write_list(
                out,
                indent,
                '{',
                '}',
                fields.iter().map(|(name, item)| (name.as_str(), item)),
            );
        }
    }
}

fn write_list<'a>(
    out: &mut String,
    indent: Option<usize>,
    open: char,
    close: char,
    members: impl Iterator<Item = (&'a str, &'a Value)>,
) {
    let inner = indent.map(|level| level + 1);
    out.push(open);
    write_separator(out, inner);
    for (index, (name, item)) in members.enumerate() {
        if index > 0 {
            out.push(',');
            write_separator(out, inner);
        }
        // Like libubox, a member with an empty name is printed without one.
        if !name.is_empty() {
            write_json_string(out, name);
            out.push_str(if indent.is_some() { ": " } else { ":" });
        }
        write_json(out, item, inner);
    }
    write_separator(out, indent);
    out.push(close);
}

/// Escapes like libubox's `blobmsg_format_string`: `"` `\` and control characters only.
fn write_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Why JSON text could not be parsed; `offset` is the byte position of the problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    pub offset: usize,
    pub kind: JsonErrorKind,
}

/// The kinds of [`JsonError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonErrorKind {
    UnexpectedEnd,
    UnexpectedCharacter,
    BadEscape,
    BadNumber,
    ControlCharacterInString,
    TooDeep,
    TrailingCharacters,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            JsonErrorKind::UnexpectedEnd => "unexpected end of input",
            JsonErrorKind::UnexpectedCharacter => "unexpected character",
            JsonErrorKind::BadEscape => "invalid escape sequence",
            JsonErrorKind::BadNumber => "invalid number",
            JsonErrorKind::ControlCharacterInString => "control character in string",
            JsonErrorKind::TooDeep => "nesting too deep",
            JsonErrorKind::TrailingCharacters => "characters after the value",
        };
        write!(f, "JSON: {what} at byte {}", self.offset)
    }
}

impl std::error::Error for JsonError {}

/// Parses one JSON value (RFC 8259). Integers that fit i64 become [`Value::Int`], other numbers
/// [`Value::Double`]; object members keep their order.
pub fn parse_json(text: &str) -> Result<Value, JsonError> {
    let mut parser = JsonParser { text, pos: 0 };
    let value = parser.value(0)?;
    parser.skip_whitespace();
    if parser.pos != text.len() {
        return Err(parser.error(JsonErrorKind::TrailingCharacters));
    }
    Ok(value)
}

struct JsonParser<'a> {
    text: &'a str,
    pos: usize,
}

impl JsonParser<'_> {
    fn error(&self, kind: JsonErrorKind) -> JsonError {
        JsonError {
            offset: self.pos,
            kind,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), JsonError> {
        match self.peek() {
            Some(b) if b == byte => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => Err(self.error(JsonErrorKind::UnexpectedCharacter)),
            None => Err(self.error(JsonErrorKind::UnexpectedEnd)),
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, JsonError> {
        if self
            .text
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(word))
        {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error(JsonErrorKind::UnexpectedCharacter))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error(JsonErrorKind::TooDeep));
        }
        self.skip_whitespace();
        match self.peek() {
            None => Err(self.error(JsonErrorKind::UnexpectedEnd)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b'[') => self.array(depth),
            Some(b'{') => self.object(depth),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error(JsonErrorKind::UnexpectedCharacter)),
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.expect(b'[')?;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                Some(_) => return Err(self.error(JsonErrorKind::UnexpectedCharacter)),
                None => return Err(self.error(JsonErrorKind::UnexpectedEnd)),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.expect(b'{')?;
        let mut fields = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Table(fields));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.error(match self.peek() {
                    None => JsonErrorKind::UnexpectedEnd,
                    Some(_) => JsonErrorKind::UnexpectedCharacter,
                }));
            }
            let name = self.string()?;
            self.skip_whitespace();
            self.expect(b':')?;
            let item = self.value(depth + 1)?;
            fields.push((name, item));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Table(fields));
                }
                Some(_) => return Err(self.error(JsonErrorKind::UnexpectedCharacter)),
                None => return Err(self.error(JsonErrorKind::UnexpectedEnd)),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .ok_or(self.error(JsonErrorKind::BadEscape))?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.error(JsonErrorKind::BadEscape));
        }
        let code =
            u32::from_str_radix(digits, 16).map_err(|_| self.error(JsonErrorKind::BadEscape))?;
        self.pos += 4;
        Ok(code)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let run_start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // The run stops only at ASCII bytes, so it ends on a char boundary.
            out.push_str(self.text.get(run_start..self.pos).unwrap_or_default());
            match self.peek() {
                None => return Err(self.error(JsonErrorKind::UnexpectedEnd)),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escape = self
                        .peek()
                        .ok_or(self.error(JsonErrorKind::UnexpectedEnd))?;
                    self.pos += 1;
                    match escape {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape()?),
                        _ => {
                            self.pos -= 1;
                            return Err(self.error(JsonErrorKind::BadEscape));
                        }
                    }
                }
                Some(_) => return Err(self.error(JsonErrorKind::ControlCharacterInString)),
            }
        }
    }

    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let first = self.hex4()?;
        let code = if (0xd800..0xdc00).contains(&first) {
            if self.text.get(self.pos..self.pos + 2) != Some("\\u") {
                return Err(self.error(JsonErrorKind::BadEscape));
            }
            self.pos += 2;
            let second = self.hex4()?;
            if !(0xdc00..0xe000).contains(&second) {
                return Err(self.error(JsonErrorKind::BadEscape));
            }
            0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
        } else {
            first
        };
        char::from_u32(code).ok_or(self.error(JsonErrorKind::BadEscape))
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        let int_digits = self.digits();
        if int_digits == 0 || (int_digits > 1 && self.text.as_bytes().get(int_start) == Some(&b'0'))
        {
            return Err(self.error(JsonErrorKind::BadNumber));
        }
        let mut integral = true;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            integral = false;
            if self.digits() == 0 {
                return Err(self.error(JsonErrorKind::BadNumber));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            integral = false;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.error(JsonErrorKind::BadNumber));
            }
        }
        let literal = self.text.get(start..self.pos).unwrap_or_default();
        if integral {
            if let Ok(i) = literal.parse::<i64>() {
                return Ok(Value::Int(i));
            }
        }
        literal
            .parse::<f64>()
            .map(Value::Double)
            .map_err(|_| JsonError {
                offset: start,
                kind: JsonErrorKind::BadNumber,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(fields: &[(&str, Value)]) -> Value {
        Value::Table(
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    fn encode_one(name: &str, value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        put_value(&mut out, name, value).unwrap();
        out
    }

    #[test]
    fn golden_int32_named_a() {
        let bytes = encode_one("a", &Value::Int(1));
        assert_eq!(bytes, [0x85, 0, 0, 0x0c, 0, 1, b'a', 0, 0, 0, 0, 1]);
        let attr = single_attr(&bytes).unwrap();
        assert_eq!(decode_attr(attr).unwrap(), ("a".to_string(), Value::Int(1)));
    }

    #[test]
    fn golden_string_msg_hi_has_one_pad_byte() {
        let bytes = encode_one("msg", &Value::String("hi".into()));
        assert_eq!(
            bytes,
            [0x83, 0, 0, 0x0f, 0, 3, b'm', b's', b'g', 0, 0, 0, b'h', b'i', 0, 0]
        );
        assert_eq!(
            decode_fields(&bytes).unwrap(),
            vec![("msg".to_string(), Value::String("hi".into()))]
        );
    }

    #[test]
    fn golden_int32_named_id() {
        let bytes = encode_one("id", &Value::Int(1));
        assert_eq!(
            bytes,
            [0x85, 0, 0, 0x10, 0, 2, b'i', b'd', 0, 0, 0, 0, 0, 0, 0, 1]
        );
    }

    #[test]
    fn every_type_round_trips() {
        let value = table(&[
            ("null", Value::Null),
            ("t", Value::Bool(true)),
            ("f", Value::Bool(false)),
            ("small", Value::Int(-5)),
            ("big", Value::Int(1 << 40)),
            ("min", Value::Int(i64::MIN)),
            ("pi", Value::Double(3.25)),
            ("s", Value::String("héllo \"x\"".into())),
            ("empty", Value::String(String::new())),
            (
                "arr",
                Value::Array(vec![
                    Value::Int(1),
                    Value::String("x".into()),
                    Value::Array(vec![]),
                ]),
            ),
            ("tbl", table(&[("inner", Value::Bool(true))])),
        ]);
        let bytes = encode_one("root", &value);
        assert_eq!(bytes.len() % 4, 0);
        let (name, back) = decode_attr(single_attr(&bytes).unwrap()).unwrap();
        assert_eq!(name, "root");
        assert_eq!(back, value);
    }

    #[test]
    fn wire_type_ids_match_libubox() {
        let cases = [
            (Value::Null, 0x80),
            (Value::Array(vec![]), 0x81),
            (Value::Table(vec![]), 0x82),
            (Value::String("x".into()), 0x83),
            (Value::Int(1 << 33), 0x84),
            (Value::Int(7), 0x85),
            (Value::Bool(true), 0x87),
            (Value::Double(1.0), 0x88),
        ];
        for (value, first_byte) in cases {
            assert_eq!(encode_one("", &value)[0], first_byte, "{value:?}");
        }
    }

    #[test]
    fn int16_and_int8_values_decode() {
        let int16 = [0x86, 0, 0, 0x0a, 0, 0, 0, 0, 0xff, 0xfe, 0, 0];
        assert_eq!(
            decode_attr(single_attr(&int16).unwrap()).unwrap().1,
            Value::Int(-2)
        );
        let int8 = [0x87, 0, 0, 0x09, 0, 0, 0, 0, 5, 0, 0, 0];
        assert_eq!(
            decode_attr(single_attr(&int8).unwrap()).unwrap().1,
            Value::Bool(true)
        );
    }

    #[test]
    fn malformed_inputs_are_typed_errors() {
        let ok = encode_one("a", &Value::Int(1));
        // Header claims more than there is.
        assert_eq!(decode_fields(&ok[..8]), Err(DecodeError::Truncated));
        // Length below the header size.
        assert_eq!(decode_fields(&[0x85, 0, 0, 2]), Err(DecodeError::BadLength));
        // Plain blob attribute inside a blobmsg list.
        assert_eq!(
            decode_fields(&[0x05, 0, 0, 4]),
            Err(DecodeError::NotBlobmsg)
        );
        // Unknown type 9.
        assert_eq!(
            decode_fields(&[0x89, 0, 0, 8, 0, 0, 0, 0]),
            Err(DecodeError::UnknownType(9))
        );
        // INT32 with a 2-byte value.
        assert_eq!(
            decode_fields(&[0x85, 0, 0, 10, 0, 0, 0, 0, 1, 2, 0, 0]),
            Err(DecodeError::BadValueLength { type_id: 5, len: 2 })
        );
        // Name not NUL-terminated.
        assert_eq!(
            decode_fields(&[0x85, 0, 0, 12, 0, 1, b'a', b'b', 0, 0, 0, 1]),
            Err(DecodeError::BadName)
        );
        // String without its NUL.
        assert_eq!(
            decode_fields(&[0x83, 0, 0, 9, 0, 0, 0, 0, b'x', 0, 0, 0]),
            Err(DecodeError::UnterminatedString)
        );
        // Last attribute missing its padding.
        assert_eq!(
            decode_fields(&[0x83, 0, 0, 9, 0, 0, 0, 0, b'x']),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn nesting_beyond_the_limit_is_rejected_both_ways() {
        let mut deep = Value::Null;
        for _ in 0..MAX_DEPTH + 2 {
            deep = Value::Array(vec![deep]);
        }
        assert_eq!(
            put_value(&mut Vec::new(), "", &deep),
            Err(EncodeError::TooDeep)
        );
        // Hand-build a too-deep array chain: each level is a header plus a 4-byte empty name.
        let levels = MAX_DEPTH + 4;
        let mut bytes = Vec::new();
        for level in 0..levels {
            let len = 8 * (levels - level);
            bytes.extend_from_slice(&[0x81, 0, (len >> 8) as u8, len as u8, 0, 0, 0, 0]);
        }
        assert_eq!(decode_fields(&bytes), Err(DecodeError::TooDeep));
    }

    #[test]
    fn encoding_rejects_nul_and_long_names() {
        assert_eq!(
            put_value(&mut Vec::new(), "a\0b", &Value::Null),
            Err(EncodeError::InteriorNul)
        );
        assert_eq!(
            put_value(&mut Vec::new(), "a", &Value::String("x\0".into())),
            Err(EncodeError::InteriorNul)
        );
        let long = "n".repeat(70_000);
        assert_eq!(
            put_value(&mut Vec::new(), &long, &Value::Null),
            Err(EncodeError::NameTooLong)
        );
    }

    #[test]
    fn plain_blob_helpers_pad_and_nest() {
        let mut out = Vec::new();
        let mark = nest_start(&mut out, 0);
        put_string(&mut out, 2, "test").unwrap();
        nest_end(&mut out, mark).unwrap();
        assert_eq!(
            out,
            [0, 0, 0, 0x10, 2, 0, 0, 9, b't', b'e', b's', b't', 0, 0, 0, 0]
        );
        let outer = single_attr(&out).unwrap();
        let inner: Vec<_> = attrs(outer.payload).collect::<Result<_, _>>().unwrap();
        assert_eq!(inner.len(), 1);
        assert_eq!(inner[0].id, 2);
        assert_eq!(inner[0].as_string().unwrap(), "test");
    }

    #[test]
    fn pretty_json_matches_the_ubus_cli() {
        let reply = table(&[
            ("status", Value::Int(1)),
            ("info", Value::String("Session started".into())),
        ]);
        assert_eq!(
            reply.to_json_pretty(),
            "{\n\t\"status\": 1,\n\t\"info\": \"Session started\"\n}"
        );
        let nested = table(&[(
            "cwmp",
            table(&[("acs_url", Value::String("http://a:7547".into()))]),
        )]);
        assert_eq!(
            nested.to_json_pretty(),
            "{\n\t\"cwmp\": {\n\t\t\"acs_url\": \"http://a:7547\"\n\t}\n}"
        );
        assert_eq!(
            reply.to_json(),
            "{\"status\":1,\"info\":\"Session started\"}"
        );
        let arr = Value::Array(vec![
            Value::Int(1),
            Value::Bool(false),
            Value::Double(0.5),
            Value::Null,
        ]);
        assert_eq!(arr.to_json(), "[1,false,0.500000,null]");
        assert_eq!(
            Value::String("a\"b\\c\n\u{1}".into()).to_json(),
            "\"a\\\"b\\\\c\\n\\u0001\""
        );
    }

    #[test]
    fn json_parser_accepts_rfc8259() {
        let v = parse_json(
            " {\"a\": [1, -2.5e1, true, null, \"x\\u00e9\\ud83d\\ude00\\/\"], \"b\": {}} ",
        )
        .unwrap();
        assert_eq!(
            v,
            table(&[
                (
                    "a",
                    Value::Array(vec![
                        Value::Int(1),
                        Value::Double(-25.0),
                        Value::Bool(true),
                        Value::Null,
                        Value::String("xé😀/".into()),
                    ])
                ),
                ("b", Value::Table(vec![])),
            ])
        );
        assert_eq!(
            parse_json("99999999999999999999").unwrap(),
            Value::Double(1e20)
        );
        let pretty = v.to_json_pretty();
        assert_eq!(parse_json(&pretty).unwrap().to_json(), v.to_json());
    }

    #[test]
    fn json_parser_rejects_garbage_with_offsets() {
        let cases: &[(&str, JsonErrorKind)] = &[
            ("", JsonErrorKind::UnexpectedEnd),
            ("{", JsonErrorKind::UnexpectedEnd),
            ("[1,]", JsonErrorKind::UnexpectedCharacter),
            ("01", JsonErrorKind::BadNumber),
            ("1.", JsonErrorKind::BadNumber),
            ("\"\\x\"", JsonErrorKind::BadEscape),
            ("\"\\ud800\"", JsonErrorKind::BadEscape),
            ("\"a\nb\"", JsonErrorKind::ControlCharacterInString),
            ("true false", JsonErrorKind::TrailingCharacters),
            ("{1:2}", JsonErrorKind::UnexpectedCharacter),
            ("nul", JsonErrorKind::UnexpectedCharacter),
        ];
        for (text, kind) in cases {
            assert_eq!(parse_json(text).map_err(|e| e.kind), Err(*kind), "{text:?}");
        }
        let deep = "[".repeat(MAX_DEPTH + 5);
        assert_eq!(
            parse_json(&deep).map_err(|e| e.kind),
            Err(JsonErrorKind::TooDeep)
        );
    }

    /// Deterministic xorshift PRNG so the fuzz-style tests are reproducible.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn fuzz_random_and_mutated_bytes_never_panic() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let sample = table(&[
            ("a", Value::Int(1)),
            ("s", Value::String("text".into())),
            (
                "arr",
                Value::Array(vec![
                    Value::Bool(true),
                    Value::Double(2.0),
                    table(&[("x", Value::Null)]),
                ]),
            ),
            ("big", Value::Int(1 << 50)),
        ]);
        let mut seed = Vec::new();
        put_fields(&mut seed, sample.as_table().unwrap()).unwrap();
        let mut decoded_ok = 0;
        for round in 0..20_000 {
            let bytes: Vec<u8> = if round % 2 == 0 {
                let len = rng.below(64);
                (0..len).map(|_| rng.next() as u8).collect()
            } else {
                let mut bytes = seed.clone();
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(bytes.len());
                    match rng.below(3) {
                        0 => bytes[at] = rng.next() as u8,
                        1 => bytes[at] ^= 1 << rng.below(8),
                        _ => bytes.truncate(at),
                    }
                    if bytes.is_empty() {
                        break;
                    }
                }
                bytes
            };
            if let Ok(fields) = decode_fields(&bytes) {
                decoded_ok += 1;
                // Whatever decodes must re-encode and decode to the same value.
                let mut again = Vec::new();
                if put_fields(&mut again, &fields).is_ok() {
                    let back = decode_fields(&again).unwrap();
                    assert_eq!(Value::Table(back).to_json(), Value::Table(fields).to_json());
                }
            }
            let _ = attrs(&bytes).count();
            let _ = single_attr(&bytes).and_then(decode_attr);
        }
        assert!(decoded_ok > 0, "mutations should sometimes stay valid");
    }

    #[test]
    fn fuzz_json_parser_never_panics() {
        let mut rng = XorShift(12345);
        let seed =
            "{\"a\": [1, -2.5e3, true, null, \"x\\u00e9\\ud83d\\ude00\"], \"b\": {\"c\": \"d\"}}";
        let alphabet = b"{}[],:\"\\0123456789.eE+-tfnul \tabc\xc3\xa9";
        for _ in 0..20_000 {
            let mut bytes = seed.as_bytes().to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(bytes.len() + 1);
                let c = alphabet[rng.below(alphabet.len())];
                match rng.below(3) {
                    0 if at < bytes.len() => bytes[at] = c,
                    1 => bytes.insert(at, c),
                    _ => bytes.truncate(at),
                }
            }
            if let Ok(text) = std::str::from_utf8(&bytes) {
                if let Ok(value) = parse_json(text) {
                    let _ = parse_json(&value.to_json_pretty());
                }
            }
        }
    }
}
