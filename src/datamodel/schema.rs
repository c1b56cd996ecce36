//! Decoding of the generated data model tables: path lookup, children, types, access and value checks.
//!
//! The tables (written by `tools/gen_datamodel.py`) hold the model as a tree in
//! depth-first order, a node's parameters before its objects. Rows are packed
//! little-endian into byte arrays, as narrow as each model needs (the widths are
//! generated constants; 3 bytes of padding end each array, so that every row is
//! read as one 32-bit word):
//! - `STRINGS`: every string (names first, then enumeration values and
//!   defaults) as `offset | length << STRING_OFFSET_BITS`, a slice of `POOL`,
//!   in which a string inside another or overlapping its neighbour is stored once;
//! - `NODES`: `name | is_object << NAME_BITS | payload << (NAME_BITS + 1)`, where
//!   `name` indexes `STRINGS` and `payload` is a parameter's class or an object's
//!   row in `OBJECTS`;
//! - `OBJECTS`: `end | class << END_BITS`, `end` being the index just past the
//!   object's subtree (a parameter's subtree is itself), so children are found
//!   by hopping from subtree to subtree;
//! - `CLASSES`, the distinct `flags | constraint << 11` pairs. `flags`: bits 0–3
//!   base type, 4–5 kind (parameter, object, table, instance), 6 writable
//!   (parameter readWrite, table/instance createable), 7 forcedInform, 8–9
//!   activeNotify (normal, forceEnabled, forceDefaultEnabled, canDeny), 10
//!   list-valued; `constraint` is 0 (none) or the offset of a record in `CONSTRAINTS`;
//! - a `CONSTRAINTS` record is a byte of which fields follow (bit 0 min_len,
//!   1 max_len, 2 list_max_len, 3 ranges, 4 enumeration, 5 default), then
//!   those fields as unsigned LEB128 numbers: the lengths; the count of
//!   ranges and each range's two bounds (0 = unbounded, else 1 + the zigzag code
//!   of the bound); the enumeration's start and count in `ENUM_VALUES` (string
//!   indices); the default's string index. No model has a maximum length of 0.
//!
//! A multi-instance object `A.B.{i}.` is two nodes: the table `B` and its
//! instance template `{i}`, whose children are the instance's items.

use crate::cwmp::fault::FaultCode;
use crate::cwmp::params::XsdType;

#[rustfmt::skip]
#[allow(clippy::all)]
#[path = "generated/tr098.rs"]
mod tr098;
#[rustfmt::skip]
#[allow(clippy::all)]
#[path = "generated/tr181.rs"]
mod tr181;

/// The name of the instance template node in schema paths.
pub const INSTANCE: &str = "{i}";

/// Which standard root data model a schema describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// TR-181 `Device:2.19`.
    Tr181,
    /// TR-098 `InternetGatewayDevice:1.14`.
    Tr098,
}

impl ModelKind {
    /// Parses the `cpe.datamodel` option (`tr181`, `tr098`).
    pub fn from_name(name: &str) -> Option<ModelKind> {
        match name {
            "tr181" | "TR181" | "tr-181" => Some(ModelKind::Tr181),
            "tr098" | "TR098" | "tr-098" => Some(ModelKind::Tr098),
            _ => None,
        }
    }
}

/// The generated arrays of one model.
struct Tables {
    pool: &'static str,
    strings: &'static [u8],
    nodes: &'static [u8],
    objects: &'static [u8],
    classes: &'static [u8],
    constraints: &'static [u8],
    enum_values: &'static [u16],
    counts: [usize; 5],
}

// The row layout, shared by all models (the generator sizes it for the largest),
// so the decoder's shifts and masks are constants.
use tr181::{
    CLASS_BYTES, END_BITS, NAME_BITS, NODE_BYTES, OBJECT_BYTES, STRING_BYTES, STRING_OFFSET_BITS,
};
const _: () = assert!(
    tr098::CLASS_BYTES == CLASS_BYTES
        && tr098::END_BITS == END_BITS
        && tr098::NAME_BITS == NAME_BITS
        && tr098::NODE_BYTES == NODE_BYTES
        && tr098::OBJECT_BYTES == OBJECT_BYTES
        && tr098::STRING_BYTES == STRING_BYTES
        && tr098::STRING_OFFSET_BITS == STRING_OFFSET_BITS
);

/// The bits of a class row that hold the flags; the constraint offset follows.
const FLAG_BITS: u32 = 11;

macro_rules! tables {
    ($m:ident) => {
        Tables {
            pool: $m::POOL,
            strings: &$m::STRINGS,
            nodes: &$m::NODES,
            objects: &$m::OBJECTS,
            classes: &$m::CLASSES,
            constraints: &$m::CONSTRAINTS,
            enum_values: &$m::ENUM_VALUES,
            counts: [
                $m::OBJECT_COUNT,
                $m::TABLE_COUNT,
                $m::PARAMETER_COUNT,
                $m::WRITABLE_PARAMETER_COUNT,
                $m::NODE_COUNT,
            ],
        }
    };
}

static TR181: Tables = tables!(tr181);
static TR098: Tables = tables!(tr098);

/// Row `index` of a table of `width`-byte little-endian rows (0 past its end).
/// The generator pads every table with 3 bytes, so each row is read as one u32.
#[inline]
fn packed_row(table: &[u8], width: usize, index: usize) -> u32 {
    let start = index.saturating_mul(width);
    match table.get(start..start.saturating_add(4)) {
        Some(&[a, b, c, d]) => low_bits(u32::from_le_bytes([a, b, c, d]), 8 * width as u32),
        _ => 0,
    }
}

/// The low `bits` bits of `value`.
#[inline]
fn low_bits(value: u32, bits: u32) -> u32 {
    value & u32::MAX.checked_shr(32 - bits).unwrap_or(0)
}

/// An unsigned LEB128 number at `*pos` of a constraint record (0 when cut short).
fn leb128(bytes: &[u8], pos: &mut usize) -> u128 {
    let mut value = 0u128;
    // 19 bytes hold 133 bits: enough for any u128 the generator writes.
    for shift in (0..19).map(|i| i * 7) {
        let Some(&byte) = bytes.get(*pos) else {
            return 0;
        };
        *pos += 1;
        value |= u128::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    value
}

/// A range bound: 0 is `unbounded`, else 1 + the zigzag code of the bound.
fn range_bound(code: u128, unbounded: i128) -> i128 {
    match code.checked_sub(1) {
        None => unbounded,
        Some(z) => (z >> 1) as i128 ^ -((z & 1) as i128),
    }
}

/// A node of the schema tree (index into the model's node table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u16);

/// What a schema node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Parameter,
    /// A single-instance object.
    Object,
    /// A multi-instance object's collection (`Device.IP.Interface.`).
    Table,
    /// The instance template (`Device.IP.Interface.{i}.`).
    Instance,
}

/// The `activeNotify` attribute of a parameter (TR-106).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActiveNotify {
    Normal,
    /// Active notification is always on and cannot be changed.
    ForceEnabled,
    /// Active notification is on by default and may be turned off.
    ForceDefaultEnabled,
    /// The CPE may reject a request to turn active notification on.
    CanDeny,
}

/// Size, range, enumeration and default of a parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Constraints {
    schema: Schema,
    min_len: usize,
    max_len: Option<usize>,
    list_max_len: Option<usize>,
    /// Where the range bounds start in `CONSTRAINTS`, and how many ranges.
    ranges: (usize, usize),
    /// The enumeration's start and count in `ENUM_VALUES`.
    enumeration: (usize, usize),
    default: Option<usize>,
}

impl Constraints {
    /// Decodes the record at `offset` of `CONSTRAINTS` (0: none).
    fn decode(schema: Schema, offset: usize) -> Constraints {
        let mut c = Constraints {
            schema,
            min_len: 0,
            max_len: None,
            list_max_len: None,
            ranges: (0, 0),
            enumeration: (0, 0),
            default: None,
        };
        let bytes = schema.tables.constraints;
        let present = match offset {
            0 => 0,
            _ => bytes.get(offset).copied().unwrap_or(0),
        };
        let mut pos = offset + 1;
        let next = |pos: &mut usize| usize::try_from(leb128(bytes, pos)).unwrap_or(0);
        if present & 1 != 0 {
            c.min_len = next(&mut pos);
        }
        if present & 2 != 0 {
            c.max_len = Some(next(&mut pos));
        }
        if present & 4 != 0 {
            c.list_max_len = Some(next(&mut pos));
        }
        if present & 8 != 0 {
            // Every bound takes at least a byte: a count past the table is cut to it.
            let count = next(&mut pos).min(bytes.len());
            c.ranges = (pos, count);
            for _ in 0..count * 2 {
                leb128(bytes, &mut pos);
            }
        }
        if present & 16 != 0 {
            let start = next(&mut pos);
            c.enumeration = (start, next(&mut pos).min(schema.tables.enum_values.len()));
        }
        if present & 32 != 0 {
            c.default = Some(next(&mut pos));
        }
        c
    }

    /// Minimum length of a (list item) string.
    pub fn min_len(&self) -> usize {
        self.min_len
    }

    /// Maximum length of a (list item) string.
    pub fn max_len(&self) -> Option<usize> {
        self.max_len
    }

    /// Maximum length of a whole list-valued string.
    pub fn list_max_len(&self) -> Option<usize> {
        self.list_max_len
    }

    /// The allowed inclusive ranges of a numeric value; empty means any.
    pub fn ranges(&self) -> impl Iterator<Item = (i128, i128)> + 'static {
        let bytes = self.schema.tables.constraints;
        let (mut pos, count) = self.ranges;
        (0..count).map(move |_| {
            let lo = range_bound(leb128(bytes, &mut pos), i128::MIN);
            (lo, range_bound(leb128(bytes, &mut pos), i128::MAX))
        })
    }

    /// The enumerated values; empty means any.
    pub fn enumeration(&self) -> impl Iterator<Item = &'static str> + 'static {
        let schema = self.schema;
        let (start, len) = self.enumeration;
        (start..start.saturating_add(len)).filter_map(move |i| {
            schema
                .tables
                .enum_values
                .get(i)
                .map(|s| schema.string(*s as usize))
        })
    }

    /// The default value the model defines, if any.
    pub fn default_value(&self) -> Option<&'static str> {
        self.default.map(|i| self.schema.string(i))
    }
}

/// One generated data model, cheap to copy.
#[derive(Clone, Copy)]
pub struct Schema {
    tables: &'static Tables,
    kind: ModelKind,
}

impl PartialEq for Schema {
    fn eq(&self, other: &Schema) -> bool {
        self.kind == other.kind
    }
}
impl Eq for Schema {}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Schema").field(&self.kind).finish()
    }
}

impl Schema {
    /// The schema of a root data model.
    pub fn new(kind: ModelKind) -> Schema {
        let tables = match kind {
            ModelKind::Tr181 => &TR181,
            ModelKind::Tr098 => &TR098,
        };
        Schema { tables, kind }
    }

    pub fn kind(&self) -> ModelKind {
        self.kind
    }

    /// Number of nodes in the tree (tables and instance templates are separate nodes).
    pub fn node_count(&self) -> usize {
        self.tables.counts[4]
    }

    /// Objects (single and multi-instance), multi-instance objects, parameters and
    /// writable parameters as counted by the generator.
    pub fn counts(&self) -> [usize; 4] {
        let [objects, tables, parameters, writable, _] = self.tables.counts;
        [objects, tables, parameters, writable]
    }

    /// The root object (`Device` or `InternetGatewayDevice`).
    pub fn root(&self) -> NodeId {
        NodeId(0)
    }

    /// The root object's name.
    pub fn root_name(&self) -> &'static str {
        self.name(self.root())
    }

    #[inline]
    fn string(&self, index: usize) -> &'static str {
        let row = packed_row(self.tables.strings, STRING_BYTES, index);
        let start = low_bits(row, STRING_OFFSET_BITS) as usize;
        let len = (row >> STRING_OFFSET_BITS) as usize;
        self.tables.pool.get(start..start + len).unwrap_or("")
    }

    /// The node's packed row, if the node exists.
    #[inline]
    fn node_row(&self, node: NodeId) -> Option<u32> {
        let index = node.0 as usize;
        (index < self.node_count()).then(|| packed_row(self.tables.nodes, NODE_BYTES, index))
    }

    /// The object row (`end | class << END_BITS`) of an object's node row.
    #[inline]
    fn object_row(&self, row: u32) -> Option<u32> {
        let object = (row >> (NAME_BITS + 1)) as usize;
        (row >> NAME_BITS & 1 != 0).then(|| packed_row(self.tables.objects, OBJECT_BYTES, object))
    }

    /// The node's class row (`flags | constraint << FLAG_BITS`).
    #[inline]
    fn class_row(&self, node: NodeId) -> u32 {
        let Some(row) = self.node_row(node) else {
            return 0;
        };
        let class = match self.object_row(row) {
            Some(object) => object >> END_BITS,
            None => row >> (NAME_BITS + 1),
        };
        packed_row(self.tables.classes, CLASS_BYTES, class as usize)
    }

    #[inline]
    fn flags(&self, node: NodeId) -> u32 {
        low_bits(self.class_row(node), FLAG_BITS)
    }

    /// The index just past the node's subtree.
    #[inline]
    fn end(&self, node: NodeId) -> usize {
        let Some(row) = self.node_row(node) else {
            return 0;
        };
        match self.object_row(row) {
            Some(object) => low_bits(object, END_BITS) as usize,
            None => node.0 as usize + 1,
        }
    }

    /// The node's own name segment (`{i}` for an instance template).
    pub fn name(&self, node: NodeId) -> &'static str {
        let row = self.node_row(node).unwrap_or(0);
        self.string(low_bits(row, NAME_BITS) as usize)
    }

    pub fn node_kind(&self, node: NodeId) -> NodeKind {
        // A parameter's row says so itself; only objects need their class.
        if self
            .node_row(node)
            .is_some_and(|row| row >> NAME_BITS & 1 == 0)
        {
            return NodeKind::Parameter;
        }
        match (self.flags(node) >> 4) & 3 {
            0 => NodeKind::Parameter,
            1 => NodeKind::Object,
            2 => NodeKind::Table,
            _ => NodeKind::Instance,
        }
    }

    pub fn is_parameter(&self, node: NodeId) -> bool {
        self.node_kind(node) == NodeKind::Parameter
    }

    /// The parameter's base type (objects report `String`).
    pub fn xsd_type(&self, node: NodeId) -> XsdType {
        match self.flags(node) & 0xF {
            1 => XsdType::Int,
            2 => XsdType::UnsignedInt,
            3 => XsdType::Long,
            4 => XsdType::UnsignedLong,
            5 => XsdType::Boolean,
            6 => XsdType::DateTime,
            7 => XsdType::Base64,
            8 => XsdType::HexBinary,
            _ => XsdType::String,
        }
    }

    /// readWrite for a parameter; createable/deletable for a table or instance.
    pub fn writable(&self, node: NodeId) -> bool {
        self.flags(node) & (1 << 6) != 0
    }

    pub fn forced_inform(&self, node: NodeId) -> bool {
        self.flags(node) & (1 << 7) != 0
    }

    pub fn active_notify(&self, node: NodeId) -> ActiveNotify {
        match (self.flags(node) >> 8) & 3 {
            1 => ActiveNotify::ForceEnabled,
            2 => ActiveNotify::ForceDefaultEnabled,
            3 => ActiveNotify::CanDeny,
            _ => ActiveNotify::Normal,
        }
    }

    /// A comma-separated list-valued parameter.
    pub fn is_list(&self, node: NodeId) -> bool {
        self.flags(node) & (1 << 10) != 0
    }

    pub fn constraints(&self, node: NodeId) -> Constraints {
        Constraints::decode(*self, (self.class_row(node) >> FLAG_BITS) as usize)
    }

    /// The direct children: parameters first, then objects.
    pub fn children(&self, node: NodeId) -> Children {
        Children {
            schema: *self,
            next: node.0 as usize + 1,
            end: self.end(node),
        }
    }

    /// The node indices of the node's whole subtree, itself included.
    pub fn subtree(&self, node: NodeId) -> std::ops::Range<usize> {
        let start = node.0 as usize;
        start..self.end(node).max(start + 1)
    }

    /// The child with a given name segment.
    pub fn child(&self, node: NodeId, name: &str) -> Option<NodeId> {
        self.children(node).find(|c| self.name(*c) == name)
    }

    /// The node of a schema path such as `Device.IP.Interface.{i}.Name` or the
    /// object path `Device.IP.Interface.{i}.`; instance numbers must already be
    /// replaced by `{i}`.
    pub fn lookup(&self, path: &str) -> Option<NodeId> {
        let path = path.strip_suffix('.').unwrap_or(path);
        let mut segments = path.split('.');
        let first = segments.next()?;
        if first != self.root_name() {
            return None;
        }
        let mut node = self.root();
        for segment in segments {
            node = self.child(node, segment)?;
        }
        Some(node)
    }

    /// Checks a value against the parameter's type, length, range and
    /// enumeration; returns it in canonical form (booleans as `1`/`0`).
    pub fn validate(&self, node: NodeId, value: &str) -> Result<String, FaultCode> {
        let constraints = self.constraints(node);
        let xsd_type = self.xsd_type(node);
        if self.is_list(node) {
            if let Some(max) = constraints.list_max_len() {
                if value.chars().count() > max {
                    return Err(FaultCode::InvalidParameterValue);
                }
            }
            if value.is_empty() {
                return Ok(String::new());
            }
            let mut items = Vec::new();
            for item in value.split(',') {
                items.push(validate_item(xsd_type, &constraints, item.trim())?);
            }
            return Ok(items.join(","));
        }
        validate_item(xsd_type, &constraints, value)
    }
}

fn validate_item(xsd_type: XsdType, c: &Constraints, value: &str) -> Result<String, FaultCode> {
    let bad = FaultCode::InvalidParameterValue;
    let number = match xsd_type {
        XsdType::String => {
            let len = value.chars().count();
            if len < c.min_len() || c.max_len().is_some_and(|max| len > max) {
                return Err(bad);
            }
            let mut allowed = c.enumeration().peekable();
            if allowed.peek().is_some() && !allowed.any(|e| e == value) {
                return Err(bad);
            }
            return Ok(value.to_owned());
        }
        XsdType::Boolean => {
            return match value {
                "1" | "true" => Ok("1".to_owned()),
                "0" | "false" => Ok("0".to_owned()),
                _ => Err(bad),
            }
        }
        XsdType::DateTime => {
            return if crate::cwmp::datetime::parse(value).is_ok() {
                Ok(value.to_owned())
            } else {
                Err(bad)
            }
        }
        XsdType::Base64 => {
            return if is_base64(value) && len_ok(c, value.len() / 4 * 3) {
                Ok(value.to_owned())
            } else {
                Err(bad)
            }
        }
        XsdType::HexBinary => {
            let hex = value.len() % 2 == 0 && value.bytes().all(|b| b.is_ascii_hexdigit());
            return if hex && len_ok(c, value.len() / 2) {
                Ok(value.to_owned())
            } else {
                Err(bad)
            };
        }
        XsdType::Int => value.parse::<i32>().map(i128::from),
        XsdType::UnsignedInt => value.parse::<u32>().map(i128::from),
        XsdType::Long => value.parse::<i64>().map(i128::from),
        XsdType::UnsignedLong => value.parse::<u64>().map(i128::from),
    };
    let number = number.map_err(|_| bad)?;
    let mut ranges = c.ranges().peekable();
    if ranges.peek().is_some() && !ranges.any(|(lo, hi)| lo <= number && number <= hi) {
        return Err(bad);
    }
    Ok(number.to_string())
}

fn len_ok(c: &Constraints, len: usize) -> bool {
    len >= c.min_len() && c.max_len().is_none_or(|max| len <= max)
}

fn is_base64(value: &str) -> bool {
    let trimmed = value.trim_end_matches('=');
    value.len() % 4 == 0
        && value.len() - trimmed.len() <= 2
        && trimmed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// Iterator over a node's direct children.
pub struct Children {
    schema: Schema,
    next: usize,
    end: usize,
}

impl Iterator for Children {
    type Item = NodeId;

    fn next(&mut self) -> Option<NodeId> {
        if self.next >= self.end {
            return None;
        }
        let node = NodeId(u16::try_from(self.next).ok()?);
        // Hop over the child's subtree; `max` guards against a malformed table looping.
        self.next = self.schema.end(node).max(self.next + 1);
        Some(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(schema: &Schema) -> [usize; 4] {
        let mut counts = [0; 4];
        for i in 0..schema.node_count() {
            let node = NodeId(i as u16);
            match schema.node_kind(node) {
                NodeKind::Object | NodeKind::Instance => counts[0] += 1,
                NodeKind::Table => counts[1] += 1,
                NodeKind::Parameter => {
                    counts[2] += 1;
                    if schema.writable(node) {
                        counts[3] += 1;
                    }
                }
            }
        }
        counts
    }

    #[test]
    fn node_counts_match_spec_minus_dropped_items() {
        // spec/README.md: TR-181 2.19.1 defines 873 objects (444 multi-instance)
        // and 7,343 parameters (2,686 readWrite); 17 objects, 82 parameters and
        // the 123 parameters of dropped objects are deleted or obsoleted.
        let tr181 = Schema::new(ModelKind::Tr181);
        assert_eq!(count(&tr181), [873 - 17, 444 - 8, 7343 - 82 - 123, 2639]);
        assert_eq!(tr181.counts(), count(&tr181));
        // TR-098 1.8: 192 objects (91 multi), 1,801 parameters; 2 objects and
        // 17 parameters dropped.
        let tr098 = Schema::new(ModelKind::Tr098);
        assert_eq!(count(&tr098), [192 - 2, 91 - 1, 1801 - 17, 752]);
        assert_eq!(tr098.root_name(), "InternetGatewayDevice");
    }

    #[test]
    fn strings_are_slices_of_the_pool_and_names_resolve() {
        for kind in [ModelKind::Tr181, ModelKind::Tr098] {
            let s = Schema::new(kind);
            let t = s.tables;
            let count = (t.strings.len() - 3) / STRING_BYTES;
            for i in 0..count {
                let row = packed_row(t.strings, STRING_BYTES, i);
                let start = low_bits(row, STRING_OFFSET_BITS) as usize;
                let end = start + (row >> STRING_OFFSET_BITS) as usize;
                assert!(t.pool.get(start..end).is_some(), "string {i} of {kind:?}");
            }
            // Every node's path leads back to it.
            let mut stack = vec![(s.root(), s.root_name().to_owned())];
            let mut seen = 0;
            while let Some((node, path)) = stack.pop() {
                seen += 1;
                assert_eq!(s.lookup(&path), Some(node), "{path}");
                for child in s.children(node) {
                    stack.push((child, format!("{path}.{}", s.name(child))));
                }
            }
            assert_eq!(seen, s.node_count());
        }
        let s = Schema::new(ModelKind::Tr181);
        let xmpp = s.lookup("Device.XMPP.Connection.{i}.Stats.TransmittedErrorMessages");
        let xmpp = xmpp.expect("a late name");
        assert_eq!(s.name(xmpp), "TransmittedErrorMessages");
    }

    #[test]
    fn constraint_records_decode() {
        let s = Schema::new(ModelKind::Tr181);
        let temp = s
            .lookup("Device.DeviceInfo.TemperatureStatus.TemperatureSensor.{i}.Value")
            .expect("temperature");
        let ranges: Vec<_> = s.constraints(temp).ranges().collect();
        assert_eq!(ranges, vec![(-274, i128::MAX)]);
        assert!(s.validate(temp, "-274").is_ok());
        assert!(s.validate(temp, "-275").is_err());
        let mode = s
            .lookup("Device.ManagementServer.InstanceMode")
            .expect("instance mode");
        let c = s.constraints(mode);
        assert_eq!(
            c.enumeration().collect::<Vec<_>>(),
            ["InstanceNumber", "InstanceAlias"]
        );
        assert_eq!(c.default_value(), Some("InstanceNumber"));
        let version = s.lookup("Device.DeviceInfo.ModelName").expect("model name");
        assert_eq!(s.constraints(version).max_len(), Some(64));
        assert_eq!(s.constraints(version).min_len(), 0);
        assert_eq!(s.constraints(version).ranges().count(), 0);
    }

    #[test]
    fn known_entries() {
        let s = Schema::new(ModelKind::Tr181);
        let serial = s.lookup("Device.DeviceInfo.SerialNumber").expect("serial");
        assert_eq!(s.node_kind(serial), NodeKind::Parameter);
        assert_eq!(s.xsd_type(serial), XsdType::String);
        assert_eq!(s.constraints(serial).max_len(), Some(64));
        assert!(!s.writable(serial));
        // TR-181 marks SerialNumber neither forcedInform nor activeNotify: it
        // reaches the Inform through DeviceIdStruct instead.
        assert!(!s.forced_inform(serial));
        let hw = s.lookup("Device.DeviceInfo.HardwareVersion").expect("hw");
        assert!(s.forced_inform(hw));
        let sw = s.lookup("Device.DeviceInfo.SoftwareVersion").expect("sw");
        assert_eq!(s.active_notify(sw), ActiveNotify::ForceEnabled);
        let url = s
            .lookup("Device.ManagementServer.ConnectionRequestURL")
            .expect("url");
        assert_eq!(s.active_notify(url), ActiveNotify::ForceDefaultEnabled);

        let pii = s
            .lookup("Device.ManagementServer.PeriodicInformInterval")
            .expect("pii");
        assert_eq!(s.xsd_type(pii), XsdType::UnsignedInt);
        assert!(s.writable(pii));
        let ranges: Vec<_> = s.constraints(pii).ranges().collect();
        assert_eq!(ranges, vec![(1, i128::MAX)]);
        assert_eq!(s.validate(pii, "0"), Err(FaultCode::InvalidParameterValue));
        assert_eq!(s.validate(pii, "86400").as_deref(), Ok("86400"));
        assert_eq!(
            s.validate(pii, "4294967296"),
            Err(FaultCode::InvalidParameterValue)
        );

        let table = s.lookup("Device.IP.Interface.").expect("table");
        assert_eq!(s.node_kind(table), NodeKind::Table);
        assert!(s.writable(table));
        let inst = s.lookup("Device.IP.Interface.{i}.").expect("inst");
        assert_eq!(s.node_kind(inst), NodeKind::Instance);
        let names: Vec<_> = s.children(inst).map(|c| s.name(c)).collect();
        assert!(names.contains(&"Enable") && names.contains(&"IPv4Address"));
        assert_eq!(s.lookup("Device.Nope"), None);
        assert_eq!(s.lookup("InternetGatewayDevice."), None);
    }

    #[test]
    fn validates_types_lists_and_enumerations() {
        let s = Schema::new(ModelKind::Tr181);
        let status = s.lookup("Device.IP.Interface.{i}.Status").expect("status");
        assert!(s.constraints(status).enumeration().any(|e| e == "Up"));
        assert!(s.validate(status, "Up").is_ok());
        assert!(s.validate(status, "Sideways").is_err());
        let enable = s.lookup("Device.Time.Enable").expect("enable");
        assert_eq!(s.validate(enable, "true").as_deref(), Ok("1"));
        assert!(s.validate(enable, "yes").is_err());
        let servers = s.lookup("Device.DNS.Client.Server.{i}.DNSServer");
        assert!(servers.is_some());
        let time = s
            .lookup("Device.ManagementServer.PeriodicInformTime")
            .expect("time");
        assert!(s.validate(time, "2024-01-02T03:04:05Z").is_ok());
        assert!(s.validate(time, "2024-01-02T03:04:05.25+01:00").is_ok());
        assert!(s.validate(time, "2024-01-02 03:04:05").is_err());
        let pd = s
            .lookup("Device.IP.Interface.{i}.IPv4Address.{i}.IPAddress")
            .expect("ip");
        assert_eq!(s.constraints(pd).max_len(), Some(15));
        let list = (0..s.node_count())
            .map(|i| NodeId(i as u16))
            .find(|n| s.is_list(*n) && s.xsd_type(*n) == XsdType::UnsignedInt)
            .expect("an unsignedInt list");
        assert!(s.validate(list, "1, 2,3").is_ok());
        assert!(s.validate(list, "1,x").is_err());
    }
}
