//! The data model engine: TR-069 Annex A RPC semantics (GPV, GPN, SPV, GPA, SPA, AddObject, DeleteObject) over the schema and the providers.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use crate::cwmp::fault::{Fault, FaultCode, ParameterFault};
use crate::cwmp::params::{
    Notification, ParameterAttribute, ParameterInfo, ParameterValue, SetParameterAttribute, XsdType,
};
use crate::datamodel::config::SharedUci;
use crate::datamodel::path::{self, Segment};
use crate::datamodel::provider::{ApplyStatus, Provider};
use crate::datamodel::runtime::SharedRuntime;
use crate::datamodel::schema::{ActiveNotify, NodeId, NodeKind, Schema};
use crate::datamodel::state::{DmState, StateError};

const NO_OWNER: u8 = u8::MAX;
const UNLIMITED: u32 = u32::MAX;
/// Most entries one GetParameterValues, GetParameterNames or
/// GetParameterAttributes response may hold; a request that would give
/// more is refused with 9004 (Resources exceeded).
pub const MAX_RESPONSE_ENTRIES: usize = 32_768;
/// The only AccessList entry TR-069 defines.
pub const SUBSCRIBER: &str = "Subscriber";

/// 9004 when a response would hold more than [`MAX_RESPONSE_ENTRIES`] entries.
fn check_response_size(entries: usize) -> Result<(), Fault> {
    if entries > MAX_RESPONSE_ENTRIES {
        return Err(Fault::with_text(
            FaultCode::ResourcesExceeded,
            format!("more than {MAX_RESPONSE_ENTRIES} entries in one response"),
        ));
    }
    Ok(())
}

/// How instances appear in the names the engine returns (TR-069 3.6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InstanceMode {
    /// `Device.IP.Interface.1.`
    #[default]
    InstanceNumber,
    /// `Device.IP.Interface.[cpe-1].`
    InstanceAlias,
}

impl InstanceMode {
    /// Parses `cpe.instance_mode` / ManagementServer.InstanceMode values.
    pub fn from_name(name: &str) -> Option<InstanceMode> {
        match name {
            "InstanceNumber" => Some(InstanceMode::InstanceNumber),
            "InstanceAlias" => Some(InstanceMode::InstanceAlias),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            InstanceMode::InstanceNumber => "InstanceNumber",
            InstanceMode::InstanceAlias => "InstanceAlias",
        }
    }
}

/// Per-session addressing options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Accept `[alias]` segments in request paths.
    pub alias_based_addressing: bool,
    pub instance_mode: InstanceMode,
    /// TR-069 amendment in use (`cpe.amd_version`); lightweight notification
    /// values 3–6 exist from Amendment 5 on.
    pub amendment: u32,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            alias_based_addressing: false,
            instance_mode: InstanceMode::InstanceNumber,
            amendment: 2,
        }
    }
}

/// One entry of a SetParameterValues request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetValue<'a> {
    pub name: &'a str,
    pub value: &'a str,
    /// The `xsi:type` the ACS gave, if any.
    pub xsd_type: Option<XsdType>,
}

/// Parameters whose value changed since the previous check, by notification kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValueChanges {
    /// Notification 1, 4 or 6: reported in the next Inform.
    pub passive: Vec<ParameterValue>,
    /// Notification 2: an Inform with `4 VALUE CHANGE` is due now.
    pub active: Vec<ParameterValue>,
    /// Notification 3 or 4: reported in the next lightweight notification.
    pub lightweight_passive: Vec<ParameterValue>,
    /// Notification 5 or 6: a lightweight notification is due now.
    pub lightweight_active: Vec<ParameterValue>,
}

impl ValueChanges {
    pub fn is_empty(&self) -> bool {
        self.passive.is_empty()
            && self.active.is_empty()
            && self.lightweight_passive.is_empty()
            && self.lightweight_active.is_empty()
    }
}

/// The `DeviceIdStruct` of an Inform.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceId {
    pub manufacturer: String,
    pub oui: String,
    pub product_class: String,
    pub serial_number: String,
}

/// Why a provider could not be registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// The prefix is not a path of the schema.
    UnknownPrefix(String),
    /// The prefix lies inside a table no provider serves, so nobody lists its instances.
    UnservedTable(String),
    TooManyProviders,
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::UnknownPrefix(p) => write!(f, "{p}: not in the schema"),
            RegisterError::UnservedTable(p) => write!(f, "{p}: inside a table nobody serves"),
            RegisterError::TooManyProviders => f.write_str("too many providers"),
        }
    }
}

impl std::error::Error for RegisterError {}

/// A resolved request path.
struct Target {
    node: NodeId,
    /// Instance-numbered path, the form providers and attributes use.
    internal: String,
    /// The path as shown to the ACS (aliases in InstanceAlias mode).
    external: String,
}

/// A node occurrence found by walking the instantiated tree.
struct Item {
    node: NodeId,
    internal: String,
    /// Only set when it differs from `internal` (InstanceAlias mode).
    external: Option<String>,
}

impl Item {
    fn external(&self) -> &str {
        self.external.as_deref().unwrap_or(&self.internal)
    }

    fn into_external(self) -> String {
        self.external.unwrap_or(self.internal)
    }
}

/// The data model: schema, providers registered on prefixes, attributes and
/// the value-change cache.
pub struct DataModel {
    schema: Schema,
    options: Options,
    providers: Vec<Box<dyn Provider>>,
    /// Provider index serving each schema node, `NO_OWNER` if none.
    owner: Vec<u8>,
    /// Whether a node is served or lies above a served node.
    live: Vec<bool>,
    state: DmState,
    last_values: HashMap<String, String>,
    /// The nodes of [`FORCED_ACTIVE_EXTRAS`] in this schema.
    forced_active: Vec<NodeId>,
    /// `last_values` changed since [`DataModel::take_baseline_changed`].
    baseline_changed: bool,
    /// The UCI packages behind the providers, whose commits need a reload.
    uci: Option<SharedUci>,
    /// The run-time cache the daemon fills from ubus replies.
    runtime: Option<SharedRuntime>,
}

impl DataModel {
    /// An engine over `schema` with the given persisted state.
    pub fn new(schema: Schema, options: Options, state: DmState) -> DataModel {
        let nodes = schema.node_count();
        let root = schema.root_name();
        let forced_active = FORCED_ACTIVE_EXTRAS
            .iter()
            .filter_map(|name| schema.lookup(&format!("{root}.{name}")))
            .collect();
        DataModel {
            schema,
            options,
            providers: Vec::new(),
            owner: vec![NO_OWNER; nodes],
            live: vec![false; nodes],
            state,
            last_values: HashMap::new(),
            forced_active,
            baseline_changed: false,
            uci: None,
            runtime: None,
        }
    }

    /// An engine whose state lives in `state_file`. A corrupt file is set aside
    /// and reported in the second value; the engine then starts empty.
    pub fn open(
        schema: Schema,
        options: Options,
        state_file: &Path,
    ) -> (DataModel, Option<StateError>) {
        match DmState::load(state_file) {
            Ok(state) => (DataModel::new(schema, options, state), None),
            Err(err) => (
                DataModel::new(schema, options, DmState::empty_at(state_file)),
                Some(err),
            ),
        }
    }

    pub fn schema(&self) -> Schema {
        self.schema
    }

    /// Names the UCI backend the providers write through, so that
    /// `take_changed_packages` can tell which services to reload.
    pub fn attach_uci(&mut self, uci: SharedUci) {
        self.uci = Some(uci);
    }

    /// Names the run-time cache providers read, for the daemon to fill.
    pub fn attach_runtime(&mut self, runtime: SharedRuntime) {
        self.runtime = Some(runtime);
    }

    /// The run-time cache, when the model serves run-time state from ubus.
    pub fn runtime_state(&self) -> Option<SharedRuntime> {
        self.runtime.clone()
    }

    /// The UCI packages committed since the last call, each once: after a
    /// session the daemon reloads each package's service once.
    pub fn take_changed_packages(&mut self) -> Vec<String> {
        match &self.uci {
            Some(uci) => uci.borrow_mut().take_committed(),
            None => Vec::new(),
        }
    }

    pub fn options(&self) -> Options {
        self.options
    }

    /// Changes the addressing options (e.g. after the ACS set InstanceMode).
    pub fn set_options(&mut self, options: Options) {
        self.options = options;
    }

    /// Serves the subtrees at `prefixes` (schema paths such as
    /// `Device.DeviceInfo.` or `Device.IP.Interface.`) with `provider`. A later
    /// registration takes over the nodes of an earlier one it overlaps, so
    /// register general prefixes before specific ones.
    pub fn register(
        &mut self,
        prefixes: &[&str],
        provider: Box<dyn Provider>,
    ) -> Result<(), RegisterError> {
        let index = u8::try_from(self.providers.len())
            .ok()
            .filter(|i| *i != NO_OWNER)
            .ok_or(RegisterError::TooManyProviders)?;
        let mut marks = Vec::new();
        let mut prefixes = prefixes.to_vec();
        prefixes.sort_by_key(|p| p.len());
        for prefix in prefixes {
            let (ancestors, node) = self.schema_chain(prefix)?;
            // A table this same registration serves counts as served.
            let table_unserved = ancestors.iter().any(|a| {
                self.schema.node_kind(*a) == NodeKind::Table
                    && self.owner.get(a.0 as usize) == Some(&NO_OWNER)
                    && !marks.iter().any(|(_, n): &(Vec<NodeId>, NodeId)| {
                        self.schema.subtree(*n).contains(&(a.0 as usize))
                    })
            });
            if table_unserved {
                return Err(RegisterError::UnservedTable((*prefix).to_owned()));
            }
            marks.push((ancestors, node));
        }
        for (ancestors, node) in marks {
            for a in ancestors {
                if let Some(l) = self.live.get_mut(a.0 as usize) {
                    *l = true;
                }
            }
            for i in self.schema.subtree(node) {
                if let (Some(o), Some(l)) = (self.owner.get_mut(i), self.live.get_mut(i)) {
                    *o = index;
                    *l = true;
                }
            }
        }
        self.providers.push(provider);
        Ok(())
    }

    /// The ancestors of a schema path's node and the node itself.
    fn schema_chain(&self, prefix: &str) -> Result<(Vec<NodeId>, NodeId), RegisterError> {
        let unknown = || RegisterError::UnknownPrefix(prefix.to_owned());
        let body = prefix.strip_suffix('.').unwrap_or(prefix);
        let mut segments = body.split('.');
        if segments.next() != Some(self.schema.root_name()) {
            return Err(unknown());
        }
        let mut node = self.schema.root();
        let mut ancestors = Vec::new();
        for segment in segments {
            let child = self.schema.child(node, segment).ok_or_else(unknown)?;
            ancestors.push(node);
            node = child;
        }
        Ok((ancestors, node))
    }

    fn owner_of(&self, node: NodeId) -> Option<usize> {
        match self.owner.get(node.0 as usize) {
            Some(&NO_OWNER) | None => None,
            Some(&o) => Some(o as usize),
        }
    }

    fn is_live(&self, node: NodeId) -> bool {
        self.live.get(node.0 as usize).copied().unwrap_or(false)
    }

    fn provider(&mut self, node: NodeId) -> Option<&mut Box<dyn Provider>> {
        let owner = self.owner_of(node)?;
        self.providers.get_mut(owner)
    }

    fn get_raw(&mut self, node: NodeId, internal: &str) -> Option<String> {
        self.provider(node)?.get(internal)
    }

    fn instances(&mut self, table: NodeId, internal: &str) -> Vec<u32> {
        match self.provider(table) {
            Some(p) => p.instances(internal),
            None => Vec::new(),
        }
    }

    /// The Alias of instance `instance_internal` (`….3.`), if the instance has one.
    fn alias_of(&mut self, instance_node: NodeId, instance_internal: &str) -> Option<String> {
        let alias_node = self.schema.child(instance_node, "Alias")?;
        let path = format!("{instance_internal}Alias");
        self.get_raw(alias_node, &path).filter(|a| !a.is_empty())
    }

    fn instance_template(&self, table: NodeId) -> Option<NodeId> {
        self.schema.children(table).next()
    }

    /// Resolves a parsed path to a served node; every failure is 9005.
    fn resolve(&mut self, segments: &[Segment<'_>], partial: bool) -> Result<Target, Fault> {
        let invalid = || Fault::new(FaultCode::InvalidParameterName);
        let mut iter = segments.iter();
        match iter.next() {
            Some(Segment::Name(root)) if *root == self.schema.root_name() => {}
            _ => return Err(invalid()),
        }
        let mut node = self.schema.root();
        let mut internal = format!("{}.", self.schema.root_name());
        let mut external = internal.clone();
        if !self.is_live(node) {
            return Err(invalid());
        }
        for segment in iter {
            if self.schema.node_kind(node) == NodeKind::Parameter {
                return Err(invalid());
            }
            if self.schema.node_kind(node) == NodeKind::Table {
                let template = self.instance_template(node).ok_or_else(invalid)?;
                let numbers = self.instances(node, &internal);
                let number = match segment {
                    Segment::Number(n) if numbers.contains(n) => *n,
                    Segment::Alias(a) if self.options.alias_based_addressing => {
                        let mut found = None;
                        for n in numbers {
                            let path = format!("{internal}{n}.");
                            if self.alias_of(template, &path).as_deref() == Some(*a) {
                                found = Some(n);
                                break;
                            }
                        }
                        found.ok_or_else(invalid)?
                    }
                    _ => return Err(invalid()),
                };
                let instance_path = format!("{internal}{number}.");
                let shown = self.shown_instance(template, &instance_path, number);
                internal = instance_path;
                external.push_str(&shown);
                external.push('.');
                node = template;
                continue;
            }
            let name = match segment {
                Segment::Name(name) => *name,
                _ => return Err(invalid()),
            };
            node = self.schema.child(node, name).ok_or_else(invalid)?;
            if !self.is_live(node) {
                return Err(invalid());
            }
            internal.push_str(name);
            external.push_str(name);
            if self.schema.node_kind(node) != NodeKind::Parameter {
                internal.push('.');
                external.push('.');
            }
        }
        let is_param = self.schema.node_kind(node) == NodeKind::Parameter;
        if is_param == partial {
            return Err(invalid());
        }
        Ok(Target {
            node,
            internal,
            external,
        })
    }

    fn resolve_str(&mut self, name: &str) -> Result<Target, Fault> {
        let parsed = path::parse(name)?;
        if parsed.segments.is_empty() {
            return Ok(self.root_target());
        }
        self.resolve(&parsed.segments, parsed.partial)
    }

    fn root_target(&self) -> Target {
        let root = format!("{}.", self.schema.root_name());
        Target {
            node: self.schema.root(),
            internal: root.clone(),
            external: root,
        }
    }

    /// The instance segment as shown: its alias in InstanceAlias mode.
    fn shown_instance(&mut self, template: NodeId, instance_internal: &str, number: u32) -> String {
        if self.options.instance_mode == InstanceMode::InstanceAlias {
            if let Some(alias) = self.alias_of(template, instance_internal) {
                return format!("[{alias}]");
            }
        }
        number.to_string()
    }

    /// Walks the instantiated tree below the object, table or instance `node`,
    /// `levels` deep, appending parameters (and objects unless `params_only`).
    fn collect(
        &mut self,
        node: NodeId,
        internal: &mut String,
        external: &mut String,
        levels: u32,
        params_only: bool,
        out: &mut Vec<Item>,
    ) {
        if levels == 0 {
            return;
        }
        let alias_mode = self.options.instance_mode == InstanceMode::InstanceAlias;
        if self.schema.node_kind(node) == NodeKind::Table {
            let Some(template) = self.instance_template(node) else {
                return;
            };
            for number in self.instances(node, internal) {
                crate::slices::pause_point();
                let (ilen, elen) = (internal.len(), external.len());
                internal.push_str(&number.to_string());
                internal.push('.');
                if alias_mode {
                    let shown = self.shown_instance(template, internal, number);
                    external.push_str(&shown);
                    external.push('.');
                }
                if !params_only {
                    out.push(self.item(template, internal, external));
                }
                self.collect(template, internal, external, levels - 1, params_only, out);
                internal.truncate(ilen);
                external.truncate(elen);
            }
            return;
        }
        for child in self.schema.children(node) {
            if !self.is_live(child) {
                continue;
            }
            crate::slices::pause_point();
            let name = self.schema.name(child);
            let (ilen, elen) = (internal.len(), external.len());
            internal.push_str(name);
            if alias_mode {
                external.push_str(name);
            }
            if self.schema.node_kind(child) == NodeKind::Parameter {
                if self.owner_of(child).is_some() {
                    out.push(self.item(child, internal, external));
                }
            } else {
                internal.push('.');
                if alias_mode {
                    external.push('.');
                }
                if !params_only {
                    out.push(self.item(child, internal, external));
                }
                self.collect(child, internal, external, levels - 1, params_only, out);
            }
            internal.truncate(ilen);
            external.truncate(elen);
        }
    }

    fn item(&self, node: NodeId, internal: &str, external: &str) -> Item {
        let alias_mode = self.options.instance_mode == InstanceMode::InstanceAlias;
        Item {
            node,
            internal: internal.to_owned(),
            external: alias_mode.then(|| external.to_owned()),
        }
    }

    /// All parameters at or below a target (the target itself if it is one).
    fn parameters_of(&mut self, target: Target, params_only: bool) -> Vec<Item> {
        let mut out = Vec::new();
        if self.schema.is_parameter(target.node) {
            out.push(Item {
                node: target.node,
                external: (target.external != target.internal).then_some(target.external),
                internal: target.internal,
            });
            return out;
        }
        let (mut internal, mut external) = (target.internal, target.external);
        self.collect(
            target.node,
            &mut internal,
            &mut external,
            UNLIMITED,
            params_only,
            &mut out,
        );
        out
    }

    fn value_of(&mut self, item: Item) -> Option<ParameterValue> {
        let value = self.get_raw(item.node, &item.internal)?;
        let xsd_type = self.schema.xsd_type(item.node);
        Some(ParameterValue {
            name: item.into_external(),
            value,
            xsd_type,
        })
    }

    /// GetParameterValues: full names give one value, partial names every
    /// served parameter below; any unknown or unserved name faults the call
    /// with 9005. A name given twice is answered once; more than
    /// [`MAX_RESPONSE_ENTRIES`] values fault it with 9004.
    pub fn get_values(&mut self, names: &[&str]) -> Result<Vec<ParameterValue>, Fault> {
        let mut values = Vec::new();
        let mut asked = std::collections::HashSet::with_capacity(names.len());
        for name in names {
            if !asked.insert(*name) {
                continue;
            }
            let target = self.resolve_str(name)?;
            if self.schema.is_parameter(target.node) {
                let item = Item {
                    node: target.node,
                    internal: target.internal,
                    external: Some(target.external),
                };
                let value = self
                    .value_of(item)
                    .ok_or(Fault::new(FaultCode::InvalidParameterName))?;
                values.push(value);
            } else {
                for item in self.parameters_of(target, true) {
                    crate::slices::pause_point();
                    if let Some(value) = self.value_of(item) {
                        values.push(value);
                    }
                }
            }
            check_response_size(values.len())?;
        }
        Ok(values)
    }

    fn writable_item(&mut self, node: NodeId, internal: &str) -> bool {
        match self.schema.node_kind(node) {
            NodeKind::Object => false,
            NodeKind::Table => {
                self.schema.writable(node)
                    && self.provider(node).is_some_and(|p| p.creatable(internal))
            }
            NodeKind::Instance => {
                let table = table_of(internal);
                self.schema.writable(node)
                    && self
                        .provider(node)
                        .is_some_and(|p| p.creatable(table) && p.deletable(internal))
            }
            NodeKind::Parameter => {
                self.schema.writable(node)
                    && self.provider(node).is_some_and(|p| p.writable(internal))
            }
        }
    }

    fn info_of(&mut self, item: Item) -> Option<ParameterInfo> {
        if self.schema.is_parameter(item.node) && self.get_raw(item.node, &item.internal).is_none()
        {
            return None;
        }
        let writable = self.writable_item(item.node, &item.internal);
        Some(ParameterInfo {
            name: item.into_external(),
            writable,
        })
    }

    /// GetParameterNames with the NextLevel rules of TR-069 A.3.2.3.
    pub fn get_names(&mut self, path: &str, next_level: bool) -> Result<Vec<ParameterInfo>, Fault> {
        let parsed = path::parse(path)?;
        let mut items = Vec::new();
        if parsed.segments.is_empty() {
            let root = self.root_target();
            if !self.is_live(root.node) {
                return Err(Fault::new(FaultCode::InvalidParameterName));
            }
            items.push(Item {
                node: root.node,
                internal: root.internal.clone(),
                external: None,
            });
            if !next_level {
                items.extend(self.parameters_of(root, false));
            }
        } else {
            let target = self.resolve(&parsed.segments, parsed.partial)?;
            if self.schema.is_parameter(target.node) {
                if next_level {
                    return Err(Fault::new(FaultCode::InvalidArguments));
                }
                items = self.parameters_of(target, false);
            } else if next_level {
                let (mut internal, mut external) = (target.internal, target.external);
                self.collect(
                    target.node,
                    &mut internal,
                    &mut external,
                    1,
                    false,
                    &mut items,
                );
            } else {
                items.push(Item {
                    node: target.node,
                    internal: target.internal.clone(),
                    external: (target.external != target.internal).then(|| target.external.clone()),
                });
                items.extend(self.parameters_of(target, false));
            }
        }
        check_response_size(items.len())?;
        let mut infos = Vec::with_capacity(items.len());
        for item in items {
            crate::slices::pause_point();
            let is_param = self.schema.is_parameter(item.node);
            match self.info_of(item) {
                Some(info) => infos.push(info),
                // A named parameter that its provider does not serve does not exist.
                None if is_param && !parsed.partial => {
                    return Err(Fault::new(FaultCode::InvalidParameterName))
                }
                None => {}
            }
        }
        Ok(infos)
    }

    /// Checks one SPV entry; returns its node, instance-numbered path and canonical value.
    fn check_set(&mut self, entry: &SetValue<'_>) -> Result<(NodeId, String, String), FaultCode> {
        let parsed = path::parse(entry.name).map_err(|_| FaultCode::InvalidParameterName)?;
        if parsed.partial {
            return Err(FaultCode::InvalidParameterName);
        }
        let target = self.resolve(&parsed.segments, false).map_err(|f| f.code)?;
        let node = target.node;
        if self.get_raw(node, &target.internal).is_none() {
            return Err(FaultCode::InvalidParameterName);
        }
        if !self.writable_item(node, &target.internal) {
            return Err(FaultCode::NonWritableParameter);
        }
        if entry
            .xsd_type
            .is_some_and(|t| t != self.schema.xsd_type(node))
        {
            return Err(FaultCode::InvalidParameterType);
        }
        let value = self.schema.validate(node, entry.value)?;
        if self.schema.name(node) == "Alias" {
            self.check_new_alias(&target.internal, &value)?;
        }
        Ok((node, target.internal, value))
    }

    /// An Alias must be valid and unique among its table's instances.
    fn check_new_alias(&mut self, alias_path: &str, alias: &str) -> Result<(), FaultCode> {
        if !path::is_valid_alias(alias) {
            return Err(FaultCode::InvalidParameterValue);
        }
        let instance = alias_path.strip_suffix("Alias").unwrap_or(alias_path);
        let table = table_of(instance);
        let Some(table_node) = self.schema_node_of(table) else {
            return Ok(());
        };
        if self.alias_taken(table_node, table, alias, instance) {
            return Err(FaultCode::InvalidParameterValue);
        }
        Ok(())
    }

    fn alias_taken(&mut self, table_node: NodeId, table: &str, alias: &str, except: &str) -> bool {
        let Some(template) = self.instance_template(table_node) else {
            return false;
        };
        for number in self.instances(table_node, table) {
            let instance = format!("{table}{number}.");
            if instance != except && self.alias_of(template, &instance).as_deref() == Some(alias) {
                return true;
            }
        }
        false
    }

    /// The schema node of an instance-numbered path.
    fn schema_node_of(&self, internal: &str) -> Option<NodeId> {
        let body = internal.strip_suffix('.').unwrap_or(internal);
        let mut segments = body.split('.');
        if segments.next() != Some(self.schema.root_name()) {
            return None;
        }
        let mut node = self.schema.root();
        for segment in segments {
            node = if segment.bytes().all(|b| b.is_ascii_digit()) {
                self.instance_template(node)?
            } else {
                self.schema.child(node, segment)?
            };
        }
        Some(node)
    }

    /// SetParameterValues, all or nothing: every entry is checked against the
    /// schema and the providers first; only if all pass are they staged and
    /// committed, and the ParameterKey is updated.
    pub fn set_values(
        &mut self,
        entries: &[SetValue<'_>],
        parameter_key: &str,
    ) -> Result<ApplyStatus, Fault> {
        let mut checked = Vec::with_capacity(entries.len());
        let mut faults = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let duplicate = entries[..i].iter().any(|e| e.name == entry.name);
            let result = if duplicate {
                Err(FaultCode::InvalidArguments)
            } else {
                self.check_set(entry)
            };
            match result {
                Ok(ok) => checked.push(ok),
                Err(code) => faults.push(ParameterFault {
                    name: entry.name.to_owned(),
                    code,
                    text: code.text().to_owned(),
                }),
            }
        }
        if !faults.is_empty() {
            let mut fault = Fault::new(FaultCode::InvalidArguments);
            fault.parameter_faults = faults;
            return Err(fault);
        }
        let mut touched: Vec<usize> = Vec::new();
        for (node, internal, value) in &checked {
            let Some(owner) = self.owner_of(*node) else {
                continue;
            };
            if !touched.contains(&owner) {
                touched.push(owner);
            }
            let staged = match self.providers.get_mut(owner) {
                Some(p) => p.set(internal, value),
                None => Err(FaultCode::InternalError),
            };
            if let Err(code) = staged {
                self.abort(&touched);
                let name = entries
                    .iter()
                    .zip(&checked)
                    .find(|(_, c)| &c.1 == internal)
                    .map(|(e, _)| e.name.to_owned())
                    .unwrap_or_else(|| internal.clone());
                let mut fault = Fault::new(FaultCode::InvalidArguments);
                fault.parameter_faults.push(ParameterFault {
                    name,
                    code,
                    text: code.text().to_owned(),
                });
                return Err(fault);
            }
        }
        let mut status = ApplyStatus::Applied;
        for (i, owner) in touched.iter().enumerate() {
            let result = match self.providers.get_mut(*owner) {
                Some(p) => p.commit(),
                None => Err(Fault::new(FaultCode::InternalError)),
            };
            match result {
                Ok(s) => status = status.max(s),
                Err(fault) => {
                    self.abort(touched.get(i + 1..).unwrap_or(&[]));
                    return Err(fault);
                }
            }
        }
        for (node, internal, _) in &checked {
            if self.effective_notification(*node, internal) != 0 {
                if let Some(now) = self.get_raw(*node, internal) {
                    self.last_values.insert(internal.clone(), now);
                    self.baseline_changed = true;
                }
            }
        }
        Ok(status.max(self.set_parameter_key(parameter_key)))
    }

    fn abort(&mut self, owners: &[usize]) {
        for owner in owners {
            if let Some(p) = self.providers.get_mut(*owner) {
                p.abort();
            }
        }
    }

    /// Stores the ParameterKey after a successful SPV, AddObject or DeleteObject.
    fn set_parameter_key(&mut self, key: &str) -> ApplyStatus {
        let path = format!("{}.ManagementServer.ParameterKey", self.schema.root_name());
        let Some(node) = self.schema.lookup(&path) else {
            return ApplyStatus::Applied;
        };
        let Some(provider) = self.provider(node) else {
            return ApplyStatus::Applied;
        };
        if provider.set(&path, key).is_err() {
            provider.abort();
            log::warn!("ParameterKey could not be stored");
            return ApplyStatus::Applied;
        }
        match provider.commit() {
            Ok(status) => status,
            Err(fault) => {
                log::warn!("ParameterKey could not be stored: {fault}");
                ApplyStatus::Applied
            }
        }
    }

    /// The schema's active-notification rule, with [`FORCED_ACTIVE_EXTRAS`] forced.
    fn active_notify(&self, node: NodeId) -> ActiveNotify {
        if self.forced_active.contains(&node) {
            ActiveNotify::ForceEnabled
        } else {
            self.schema.active_notify(node)
        }
    }

    fn default_notification(&self, node: NodeId) -> Notification {
        match self.active_notify(node) {
            ActiveNotify::ForceEnabled | ActiveNotify::ForceDefaultEnabled => 2,
            ActiveNotify::Normal | ActiveNotify::CanDeny => 0,
        }
    }

    fn effective_notification(&self, node: NodeId, internal: &str) -> Notification {
        self.state
            .notifications
            .get(internal)
            .copied()
            .unwrap_or_else(|| self.default_notification(node))
    }

    /// GetParameterAttributes; partial names give every parameter below.
    pub fn get_attributes(&mut self, names: &[&str]) -> Result<Vec<ParameterAttribute>, Fault> {
        let mut out = Vec::new();
        let mut asked = std::collections::HashSet::with_capacity(names.len());
        for name in names {
            if !asked.insert(*name) {
                continue;
            }
            check_response_size(out.len())?;
            let target = self.resolve_str(name)?;
            let named_param = self.schema.is_parameter(target.node);
            for item in self.parameters_of(target, true) {
                if self.get_raw(item.node, &item.internal).is_none() {
                    if named_param {
                        return Err(Fault::new(FaultCode::InvalidParameterName));
                    }
                    continue;
                }
                let notification = self.effective_notification(item.node, &item.internal);
                let access_list = if self.state.subscriber.contains(&item.internal) {
                    vec![SUBSCRIBER.to_owned()]
                } else {
                    Vec::new()
                };
                out.push(ParameterAttribute {
                    name: item.into_external(),
                    notification,
                    access_list,
                });
            }
        }
        check_response_size(out.len())?;
        Ok(out)
    }

    /// SetParameterAttributes: checks every entry first, then applies all and
    /// persists them. Forced-active parameters refuse anything but 2 (9009).
    pub fn set_attributes(&mut self, attrs: &[SetParameterAttribute]) -> Result<(), Fault> {
        let max_notification = if self.options.amendment >= 5 { 6 } else { 2 };
        let mut changes = Vec::new();
        for attr in attrs {
            if attr.notification_change && attr.notification > max_notification {
                return Err(Fault::with_text(
                    FaultCode::InvalidArguments,
                    format!("notification {} not supported", attr.notification),
                ));
            }
            if attr.access_list_change && attr.access_list.iter().any(|a| a != SUBSCRIBER) {
                return Err(Fault::with_text(
                    FaultCode::InvalidArguments,
                    "AccessList may only hold Subscriber",
                ));
            }
            let target = self.resolve_str(&attr.name)?;
            let named_param = self.schema.is_parameter(target.node);
            for item in self.parameters_of(target, true) {
                if named_param && self.get_raw(item.node, &item.internal).is_none() {
                    return Err(Fault::new(FaultCode::InvalidParameterName));
                }
                let forced = self.active_notify(item.node) == ActiveNotify::ForceEnabled;
                if attr.notification_change && forced && attr.notification != 2 {
                    return Err(Fault::with_text(
                        FaultCode::NotificationRejected,
                        format!("{}: active notification is forced", item.external()),
                    ));
                }
                changes.push((item, attr));
            }
        }
        for (item, attr) in changes {
            if attr.notification_change {
                let was_on = self.effective_notification(item.node, &item.internal) != 0;
                if attr.notification == self.default_notification(item.node) {
                    self.state.notifications.remove(&item.internal);
                } else {
                    self.state
                        .notifications
                        .insert(item.internal.clone(), attr.notification);
                }
                // Watched already: a change not yet reported stays to be reported.
                if attr.notification != 0 && !was_on {
                    if let Some(now) = self.get_raw(item.node, &item.internal) {
                        self.last_values.insert(item.internal.clone(), now);
                        self.baseline_changed = true;
                    }
                }
            }
            if attr.access_list_change {
                if attr.access_list.is_empty() {
                    self.state.subscriber.remove(&item.internal);
                } else {
                    self.state.subscriber.insert(item.internal.clone());
                }
            }
        }
        self.save_state()
    }

    fn save_state(&self) -> Result<(), Fault> {
        self.state
            .save()
            .map_err(|e| Fault::with_text(FaultCode::InternalError, format!("saving state: {e}")))
    }

    /// AddObject on a writable table path (`Device.X.Table.` or, with
    /// alias-based addressing, `Device.X.Table.[alias].`). Instance numbers are
    /// never reused, even across restarts.
    pub fn add_object(
        &mut self,
        path: &str,
        parameter_key: &str,
    ) -> Result<(u32, ApplyStatus), Fault> {
        let parsed = path::parse(path)?;
        if !parsed.partial || parsed.segments.is_empty() {
            return Err(Fault::new(FaultCode::InvalidParameterName));
        }
        let (segments, wanted_alias) = match parsed.segments.split_last() {
            Some((Segment::Alias(alias), rest)) if self.options.alias_based_addressing => {
                (rest, Some(*alias))
            }
            _ => (parsed.segments.as_slice(), None),
        };
        let target = self.resolve(segments, true)?;
        if self.schema.node_kind(target.node) != NodeKind::Table {
            return Err(Fault::new(FaultCode::InvalidParameterName));
        }
        if !self.writable_item(target.node, &target.internal) {
            return Err(Fault::with_text(
                FaultCode::InvalidArguments,
                "object is not createable",
            ));
        }
        let template = self
            .instance_template(target.node)
            .ok_or(Fault::new(FaultCode::InternalError))?;
        let existing = self.instances(target.node, &target.internal);
        let counter = self
            .state
            .counters
            .get(&target.internal)
            .copied()
            .unwrap_or(0);
        let number = existing
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            .max(counter)
            .checked_add(1)
            .ok_or(Fault::new(FaultCode::ResourcesExceeded))?;
        let alias = if self.schema.child(template, "Alias").is_some() {
            let alias = match wanted_alias {
                Some(a) => {
                    let taken = self.alias_taken(target.node, &target.internal, a, "");
                    if !path::is_valid_alias(a) || taken {
                        return Err(Fault::with_text(
                            FaultCode::InvalidParameterValue,
                            format!("alias {a} unusable"),
                        ));
                    }
                    a.to_owned()
                }
                None => format!("cpe-{number}"),
            };
            Some(alias)
        } else if wanted_alias.is_some() {
            return Err(Fault::new(FaultCode::InvalidParameterName));
        } else {
            None
        };
        let provider = self
            .provider(target.node)
            .ok_or(Fault::new(FaultCode::InvalidParameterName))?;
        let status = provider
            .add_instance(&target.internal, number, alias.as_deref())
            .map_err(Fault::new)?;
        self.state.counters.insert(target.internal, number);
        self.save_state()?;
        Ok((number, status.max(self.set_parameter_key(parameter_key))))
    }

    /// DeleteObject of an instance path (`Device.X.Table.3.` or `….[alias].`).
    pub fn delete_object(&mut self, path: &str, parameter_key: &str) -> Result<ApplyStatus, Fault> {
        let target = self.resolve_str(path)?;
        if self.schema.node_kind(target.node) != NodeKind::Instance {
            return Err(Fault::new(FaultCode::InvalidParameterName));
        }
        if !self.writable_item(target.node, &target.internal) {
            return Err(Fault::with_text(
                FaultCode::InvalidArguments,
                "object is not deletable",
            ));
        }
        let provider = self
            .provider(target.node)
            .ok_or(Fault::new(FaultCode::InvalidParameterName))?;
        let status = provider
            .delete_instance(&target.internal)
            .map_err(Fault::new)?;
        self.state.forget_below(&target.internal);
        self.last_values
            .retain(|p, _| !p.starts_with(target.internal.as_str()));
        self.baseline_changed = true;
        self.save_state()?;
        Ok(status.max(self.set_parameter_key(parameter_key)))
    }

    /// The value last seen of each parameter with notification on (by
    /// internal path): what [`DataModel::check_changes`] compares against.
    pub fn notification_baseline(&self) -> &HashMap<String, String> {
        &self.last_values
    }

    /// Takes up a baseline persisted before a restart, so the next check
    /// reports what changed while the daemon was down.
    pub fn restore_notification_baseline(&mut self, baseline: HashMap<String, String>) {
        self.last_values = baseline;
    }

    /// Whether the baseline changed (a check, or the ACS setting values or
    /// notifications) since the last call: the caller persists it.
    pub fn take_baseline_changed(&mut self) -> bool {
        std::mem::take(&mut self.baseline_changed)
    }

    /// Compares every parameter with notification on against the value seen
    /// last time. A parameter not seen before is only recorded; values the ACS set are
    /// recorded when set and so never reported back.
    pub fn check_changes(&mut self) -> ValueChanges {
        let mut changes = ValueChanges::default();
        let root = self.root_target();
        if !self.is_live(root.node) {
            return changes;
        }
        let mut seen = HashMap::with_capacity(self.last_values.len());
        for item in self.parameters_of(root, true) {
            let notification = self.effective_notification(item.node, &item.internal);
            if notification == 0 {
                continue;
            }
            let Some(value) = self.get_raw(item.node, &item.internal) else {
                continue;
            };
            let changed = self
                .last_values
                .get(&item.internal)
                .is_some_and(|old| *old != value);
            if changed {
                let pv = ParameterValue::new(
                    item.external(),
                    value.clone(),
                    self.schema.xsd_type(item.node),
                );
                if matches!(notification, 1 | 4 | 6) {
                    changes.passive.push(pv.clone());
                }
                if notification == 2 {
                    changes.active.push(pv.clone());
                }
                if matches!(notification, 3 | 4) {
                    changes.lightweight_passive.push(pv.clone());
                }
                if matches!(notification, 5 | 6) {
                    changes.lightweight_active.push(pv);
                }
            }
            seen.insert(item.internal, value);
        }
        if seen != self.last_values {
            self.last_values = seen;
            self.baseline_changed = true;
        }
        changes
    }

    /// The parameters every Inform carries: the schema's forcedInform
    /// parameters plus the device identity and ACS-connection parameters,
    /// sorted by name; parameters no provider serves are left out.
    pub fn inform_parameters(&mut self) -> Vec<ParameterValue> {
        let root_name = self.schema.root_name();
        let mut names = Vec::new();
        let mut stack = vec![(self.schema.root(), format!("{root_name}."))];
        while let Some((node, prefix)) = stack.pop() {
            for child in self.schema.children(node) {
                let name = self.schema.name(child);
                match self.schema.node_kind(child) {
                    NodeKind::Parameter if self.schema.forced_inform(child) => {
                        names.push(format!("{prefix}{name}"))
                    }
                    NodeKind::Object => stack.push((child, format!("{prefix}{name}."))),
                    _ => {}
                }
            }
        }
        for extra in INFORM_EXTRAS {
            names.push(format!("{root_name}.{extra}"));
        }
        names.sort();
        names.dedup();
        let mut values = Vec::new();
        for name in names {
            let Some(node) = self.schema.lookup(&name) else {
                continue;
            };
            if let Some(value) = self.get_raw(node, &name) {
                values.push(ParameterValue::new(name, value, self.schema.xsd_type(node)));
            }
        }
        values
    }

    /// The Inform's ParameterList for a session delivering `events`: the
    /// parameters of `inform_parameters` plus those the ACS listed in
    /// ManagementServer.InformParameter.{i} for one of these events.
    pub fn inform_parameters_for(&mut self, events: &[&str]) -> Vec<ParameterValue> {
        let mut values = self.inform_parameters();
        let table = format!(
            "{}.ManagementServer.InformParameter.",
            self.schema.root_name()
        );
        let Some(table_node) = self.schema_node_of(&table) else {
            return values;
        };
        let Some(template) = self.instance_template(table_node) else {
            return values;
        };
        let mut patterns = Vec::new();
        for n in self.instances(table_node, &table) {
            let mut field = |name: &str| {
                let node = self.schema.child(template, name)?;
                self.get_raw(node, &format!("{table}{n}.{name}"))
            };
            let enabled = field("Enable").is_some_and(|v| v == "1" || v == "true");
            let pattern = field("ParameterName").unwrap_or_default();
            let list = field("EventList").unwrap_or_default();
            let wanted: Vec<&str> = list
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .collect();
            let due = if wanted.is_empty() {
                events.iter().any(|e| *e != "4 VALUE CHANGE")
            } else {
                wanted.iter().any(|w| events.contains(w))
            };
            if enabled && due && !pattern.is_empty() {
                patterns.push(pattern);
            }
        }
        for pattern in patterns {
            for value in self.matching_values(&pattern) {
                if !values.iter().any(|v| v.name == value.name) {
                    values.push(value);
                }
            }
        }
        values
    }

    /// The values an InformParameter pattern names: a path (partial or not)
    /// whose instance numbers may be `*`. A pattern naming nothing gives nothing.
    fn matching_values(&mut self, pattern: &str) -> Vec<ParameterValue> {
        let Some(star) = pattern.find(".*.").or_else(|| pattern.find(".*")) else {
            return self.get_values(&[pattern]).unwrap_or_default();
        };
        let prefix = pattern.get(..=star).unwrap_or(pattern);
        let wanted: Vec<&str> = pattern.split('.').collect();
        let partial = pattern.ends_with('.');
        let mut found = self.get_values(&[prefix]).unwrap_or_default();
        found.retain(|v| {
            let got: Vec<&str> = v.name.split('.').collect();
            let fits = if partial {
                got.len() >= wanted.len()
            } else {
                got.len() == wanted.len()
            };
            fits && wanted.iter().zip(&got).all(|(w, g)| {
                w == g
                    || (*w == "*" && !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()))
                    || (partial && w.is_empty())
            })
        });
        found
    }

    /// The `DeviceIdStruct` fields from DeviceInfo (empty when not served).
    pub fn device_id(&mut self) -> DeviceId {
        let root = self.schema.root_name();
        let mut field = |name: &str| {
            let path = format!("{root}.DeviceInfo.{name}");
            self.schema
                .lookup(&path)
                .and_then(|node| self.get_raw(node, &path))
                .unwrap_or_default()
        };
        DeviceId {
            manufacturer: field("Manufacturer"),
            oui: field("ManufacturerOUI"),
            product_class: field("ProductClass"),
            serial_number: field("SerialNumber"),
        }
    }
}

/// Parameters added to the Inform besides the schema's forcedInform ones
/// (icwmp's list: DeviceIdStruct fields and the ACS connection parameters,
/// the UDP connection-request address and NAT state the ACS needs for
/// connection requests through NAT, TR-069 Annex G, and TR-098's default WAN
/// connection address, which TR-098 ACSs read first).
pub const INFORM_EXTRAS: [&str; 12] = [
    "DeviceInfo.Manufacturer",
    "DeviceInfo.ManufacturerOUI",
    "DeviceInfo.ModelName",
    "DeviceInfo.ProductClass",
    "DeviceInfo.SerialNumber",
    "DeviceInfo.SpecVersion",
    "ManagementServer.ConnReqJabberID",
    "ManagementServer.ConnReqXMPPConnection",
    "ManagementServer.NATDetected",
    "ManagementServer.ParameterKey",
    "ManagementServer.UDPConnectionRequestAddress",
    "WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.ExternalIPAddress",
];

/// Parameters notified actively whatever their attribute says, beyond the
/// schema's `forceEnabled` ones: TR-111 Part 2 has the CPE report a new UDP
/// connection-request address (and with it the NAT state) to the ACS at once.
const FORCED_ACTIVE_EXTRAS: [&str; 2] = [
    "ManagementServer.NATDetected",
    "ManagementServer.UDPConnectionRequestAddress",
];

/// The table path of an instance path (`A.T.3.` → `A.T.`).
fn table_of(instance: &str) -> &str {
    let body = instance.strip_suffix('.').unwrap_or(instance);
    match body.rfind('.') {
        Some(i) => instance.get(..=i).unwrap_or(instance),
        None => instance,
    }
}
