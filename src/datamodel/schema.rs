//! Decoding of the generated data model tables: path lookup, children, types, access and value checks.
//!
//! The tables (written by `tools/gen_datamodel.py`) hold the model as a tree in
//! depth-first order, every node as `[name, class, end]`:
//! - `name` indexes the string pool: `POOL` cut at `POOL_OFFSETS`, which are
//!   stored modulo 65536; `POOL_PAGES` lists the first offset index of every
//!   further 64 KiB of pool text;
//! - `class` indexes `CLASSES`, the distinct `[flags, constraint]` pairs;
//! - `flags`: bits 0–3 base type, 4–5 kind (parameter, object, table, instance),
//!   6 writable (parameter readWrite, table/instance createable), 7 forcedInform,
//!   8–9 activeNotify (normal, forceEnabled, forceDefaultEnabled, canDeny), 10 list-valued;
//! - `constraint` is 0 or 1 + an index into `CONSTRAINTS`, rows of
//!   `[min_len, max_len, list_max_len, range_set + 1, enum_set + 1, default + 1]`
//!   (0 = absent; no model has a maximum length of 0);
//! - `end` is the index just past the node's subtree, so children are found by
//!   hopping from subtree to subtree.
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
    pool_offsets: &'static [u16],
    pool_pages: &'static [u16],
    nodes: &'static [[u16; 3]],
    classes: &'static [[u16; 2]],
    constraints: &'static [[u16; 6]],
    range_sets: &'static [[u16; 2]],
    ranges: &'static [[i128; 2]],
    enum_sets: &'static [[u16; 2]],
    enum_values: &'static [u16],
    counts: [usize; 4],
}

static TR181: Tables = Tables {
    pool: tr181::POOL,
    pool_offsets: &tr181::POOL_OFFSETS,
    pool_pages: &tr181::POOL_PAGES,
    nodes: &tr181::NODES,
    classes: &tr181::CLASSES,
    constraints: &tr181::CONSTRAINTS,
    range_sets: &tr181::RANGE_SETS,
    ranges: &tr181::RANGES,
    enum_sets: &tr181::ENUM_SETS,
    enum_values: &tr181::ENUM_VALUES,
    counts: [
        tr181::OBJECT_COUNT,
        tr181::TABLE_COUNT,
        tr181::PARAMETER_COUNT,
        tr181::WRITABLE_PARAMETER_COUNT,
    ],
};

static TR098: Tables = Tables {
    pool: tr098::POOL,
    pool_offsets: &tr098::POOL_OFFSETS,
    pool_pages: &tr098::POOL_PAGES,
    nodes: &tr098::NODES,
    classes: &tr098::CLASSES,
    constraints: &tr098::CONSTRAINTS,
    range_sets: &tr098::RANGE_SETS,
    ranges: &tr098::RANGES,
    enum_sets: &tr098::ENUM_SETS,
    enum_values: &tr098::ENUM_VALUES,
    counts: [
        tr098::OBJECT_COUNT,
        tr098::TABLE_COUNT,
        tr098::PARAMETER_COUNT,
        tr098::WRITABLE_PARAMETER_COUNT,
    ],
};

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
    row: [u16; 6],
}

impl Constraints {
    /// Minimum length of a (list item) string.
    pub fn min_len(&self) -> usize {
        self.row[0] as usize
    }

    /// Maximum length of a (list item) string.
    pub fn max_len(&self) -> Option<usize> {
        (self.row[1] != 0).then_some(usize::from(self.row[1]))
    }

    /// Maximum length of a whole list-valued string.
    pub fn list_max_len(&self) -> Option<usize> {
        (self.row[2] != 0).then_some(usize::from(self.row[2]))
    }

    /// The allowed inclusive ranges of a numeric value; empty means any.
    pub fn ranges(&self) -> impl Iterator<Item = (i128, i128)> + 'static {
        let tables = self.schema.tables;
        let set = self.row[3]
            .checked_sub(1)
            .and_then(|i| tables.range_sets.get(i as usize))
            .copied()
            .unwrap_or([0, 0]);
        let start = set[0] as usize;
        let len = set[1] as usize;
        (start..start + len).filter_map(move |i| tables.ranges.get(i).map(|r| (r[0], r[1])))
    }

    /// The enumerated values; empty means any.
    pub fn enumeration(&self) -> impl Iterator<Item = &'static str> + 'static {
        let schema = self.schema;
        let set = self.row[4]
            .checked_sub(1)
            .and_then(|i| schema.tables.enum_sets.get(i as usize))
            .copied()
            .unwrap_or([0, 0]);
        let start = set[0] as usize;
        let len = set[1] as usize;
        (start..start + len).filter_map(move |i| {
            schema
                .tables
                .enum_values
                .get(i)
                .map(|s| schema.string(*s as usize))
        })
    }

    /// The default value the model defines, if any.
    pub fn default_value(&self) -> Option<&'static str> {
        self.row[5]
            .checked_sub(1)
            .map(|i| self.schema.string(i as usize))
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
        self.tables.nodes.len()
    }

    /// Objects (single and multi-instance), multi-instance objects, parameters and
    /// writable parameters as counted by the generator.
    pub fn counts(&self) -> [usize; 4] {
        self.tables.counts
    }

    /// The root object (`Device` or `InternetGatewayDevice`).
    pub fn root(&self) -> NodeId {
        NodeId(0)
    }

    /// The root object's name.
    pub fn root_name(&self) -> &'static str {
        self.name(self.root())
    }

    /// Where string `index` starts in the pool.
    fn pool_offset(&self, index: usize) -> Option<usize> {
        let low = usize::from(*self.tables.pool_offsets.get(index)?);
        let page = self
            .tables
            .pool_pages
            .iter()
            .take_while(|first| usize::from(**first) <= index)
            .count();
        Some(page << 16 | low)
    }

    fn string(&self, index: usize) -> &'static str {
        match (self.pool_offset(index), self.pool_offset(index + 1)) {
            (Some(start), Some(end)) => self.tables.pool.get(start..end).unwrap_or(""),
            _ => "",
        }
    }

    /// The node's `[name, flags, constraint, end]`.
    fn row(&self, node: NodeId) -> [u16; 4] {
        let Some(&[name, class, end]) = self.tables.nodes.get(node.0 as usize) else {
            return [0; 4];
        };
        let [flags, constraint] = self
            .tables
            .classes
            .get(usize::from(class))
            .copied()
            .unwrap_or([0, 0]);
        [name, flags, constraint, end]
    }

    /// The node's own name segment (`{i}` for an instance template).
    pub fn name(&self, node: NodeId) -> &'static str {
        self.string(self.row(node)[0] as usize)
    }

    pub fn node_kind(&self, node: NodeId) -> NodeKind {
        match (self.row(node)[1] >> 4) & 3 {
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
        match self.row(node)[1] & 0xF {
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
        self.row(node)[1] & (1 << 6) != 0
    }

    pub fn forced_inform(&self, node: NodeId) -> bool {
        self.row(node)[1] & (1 << 7) != 0
    }

    pub fn active_notify(&self, node: NodeId) -> ActiveNotify {
        match (self.row(node)[1] >> 8) & 3 {
            1 => ActiveNotify::ForceEnabled,
            2 => ActiveNotify::ForceDefaultEnabled,
            3 => ActiveNotify::CanDeny,
            _ => ActiveNotify::Normal,
        }
    }

    /// A comma-separated list-valued parameter.
    pub fn is_list(&self, node: NodeId) -> bool {
        self.row(node)[1] & (1 << 10) != 0
    }

    pub fn constraints(&self, node: NodeId) -> Constraints {
        let row = (self.row(node)[2] as usize)
            .checked_sub(1)
            .and_then(|i| self.tables.constraints.get(i))
            .copied()
            .unwrap_or([0; 6]);
        Constraints { schema: *self, row }
    }

    /// The direct children: parameters first, then objects.
    pub fn children(&self, node: NodeId) -> Children {
        Children {
            schema: *self,
            next: node.0 as usize + 1,
            end: self.row(node)[3] as usize,
        }
    }

    /// The node indices of the node's whole subtree, itself included.
    pub fn subtree(&self, node: NodeId) -> std::ops::Range<usize> {
        let start = node.0 as usize;
        start..(self.row(node)[3] as usize).max(start + 1)
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
        self.next = (self.schema.row(node)[3] as usize).max(self.next + 1);
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
    fn pool_strings_decode_across_64k_pages() {
        for kind in [ModelKind::Tr181, ModelKind::Tr098] {
            let s = Schema::new(kind);
            let count = s.tables.pool_offsets.len() - 1;
            let joined: String = (0..count).map(|i| s.string(i)).collect();
            assert_eq!(joined, s.tables.pool);
        }
        // TR-181's pool is past 64 KiB, so its last names use the page table.
        let s = Schema::new(ModelKind::Tr181);
        assert!(s.tables.pool.len() > 0x10000 && !s.tables.pool_pages.is_empty());
        let xmpp = s.lookup("Device.XMPP.Connection.{i}.Stats.TransmittedErrorMessages");
        let xmpp = xmpp.expect("a late name");
        assert_eq!(s.name(xmpp), "TransmittedErrorMessages");
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
