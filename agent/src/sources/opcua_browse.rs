//! `agent browse`: walks a CNC's OPC UA address space from the Objects folder, bounded by a node
//! limit and a depth limit, and reads what a person mapping tags needs: each node's id in the
//! `nsu=` form (which survives a server that renumbers its namespaces), its browse path, and for
//! variables the data type, access level and current value. `opcua_draft.rs` turns the result
//! into a draft configuration.
//!
//! Read-only: Browse, BrowseNext and Read services, nothing else.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use opcua::client::Session;
use opcua::types::{
    AttributeId, BrowseDescription, BrowseDirection, BrowseResultMask, ByteString, DataValue,
    EUInformation, NodeClass, NodeId, ObjectId, QualifiedName, ReadValueId, ReferenceTypeId,
    TimestampsToReturn, Variant,
};

use crate::config::Device;

/// How far the walk goes.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Nodes listed at most; the walk stops there and says so.
    pub max_nodes: usize,
    /// Levels below the Objects folder; nodes at this depth are listed but not browsed.
    pub max_depth: usize,
}

/// One object or variable found.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: NodeId,
    /// Browse names from the Objects folder down, `Objects` first.
    pub path: Vec<String>,
    pub class: NodeClass,
    /// The type definition as (namespace URI, identifier such as `i=22`).
    pub type_definition: (String, String),
    /// Variables: the data type's browse name (`Double`, `Int32`, `ChannelState`, ...).
    pub data_type: Option<String>,
    /// Variables: the AccessLevel attribute (bit 0 read, bit 1 write).
    pub access_level: Option<u8>,
    /// Variables: the value read, or why it could not be read.
    pub value: Option<std::result::Result<Variant, String>>,
}

impl Node {
    pub fn path_text(&self) -> String {
        self.path.join("/")
    }

    /// `read`, `read/write`, `write` or `none`, from the AccessLevel bits (OPC 10000-3, 8.57).
    pub fn access_text(&self) -> &'static str {
        match self.access_level.map(|a| (a & 1 != 0, a & 2 != 0)) {
            Some((true, true)) => "read/write",
            Some((true, false)) => "read",
            Some((false, true)) => "write",
            Some((false, false)) => "none",
            None => "",
        }
    }

    /// The value for people: numbers and text as they are, structures by name, long things cut.
    pub fn value_text(&self) -> String {
        match &self.value {
            None => String::new(),
            Some(Err(e)) => format!("({e})"),
            Some(Ok(v)) => variant_text(v),
        }
    }

    /// An `EngineeringUnits` property's unit (its DisplayName), when this node is one.
    pub fn engineering_units(&self) -> Option<String> {
        match &self.value {
            Some(Ok(Variant::ExtensionObject(eo))) => eo
                .inner_as::<EUInformation>()
                .map(|eu| eu.display_name.text.as_ref().to_string()),
            _ => None,
        }
    }
}

/// What the walk found.
#[derive(Debug, Clone, Default)]
pub struct AddressSpace {
    pub nodes: Vec<Node>,
    /// The server's namespace table, by index.
    pub namespaces: Vec<String>,
    /// Why the walk ended before the whole tree was seen, if it did.
    pub stopped: Vec<String>,
}

impl AddressSpace {
    /// A node id in the `nsu=<uri>;<id>` form (namespace 0 as `ns=0;...`: it never moves).
    pub fn node_text(&self, id: &NodeId) -> String {
        node_text(&self.namespaces, id)
    }

    /// The walk as text for a terminal: one entry per node, path first.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            let _ = writeln!(out, "{}", n.path_text());
            match n.class {
                NodeClass::Variable => {
                    let _ = writeln!(
                        out,
                        "    {}  Variable  {}  {}  {}",
                        self.node_text(&n.id),
                        n.data_type.as_deref().unwrap_or("?"),
                        n.access_text(),
                        n.value_text()
                    );
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "    {}  Object  type {}",
                        self.node_text(&n.id),
                        type_text(&n.type_definition)
                    );
                }
            }
        }
        let variables = self
            .nodes
            .iter()
            .filter(|n| n.class == NodeClass::Variable)
            .count();
        let _ = writeln!(
            out,
            "\n{} nodes ({} variables, {} objects) in {} namespaces:",
            self.nodes.len(),
            variables,
            self.nodes.len() - variables,
            self.namespaces.len()
        );
        for (i, ns) in self.namespaces.iter().enumerate() {
            let _ = writeln!(out, "  ns={i}  {ns}");
        }
        for s in &self.stopped {
            let _ = writeln!(out, "{s}");
        }
        out
    }
}

fn type_text((uri, id): &(String, String)) -> String {
    if uri == OPC_UA_NAMESPACE {
        format!("ns=0;{id}")
    } else {
        format!("nsu={uri};{id}")
    }
}

/// The namespace of OPC UA itself (index 0 on every server).
pub const OPC_UA_NAMESPACE: &str = "http://opcfoundation.org/UA/";

pub fn node_text(namespaces: &[String], id: &NodeId) -> String {
    match (id.namespace, namespaces.get(usize::from(id.namespace))) {
        (0, _) => format!("ns=0;{}", id.identifier),
        (_, Some(uri)) => format!("nsu={uri};{}", id.identifier),
        // A namespace the server's table does not list: the index is all there is.
        (ns, None) => format!("ns={ns};{}", id.identifier),
    }
}

fn variant_text(v: &Variant) -> String {
    let text = match v {
        Variant::String(s) => format!("{:?}", s.as_ref()),
        Variant::LocalizedText(t) => format!("{:?}", t.text.as_ref()),
        Variant::ExtensionObject(eo) => match eo.inner_as::<EUInformation>() {
            Some(eu) => format!("EUInformation {:?}", eu.display_name.text.as_ref()),
            None => "(structure)".to_string(),
        },
        Variant::Array(a) => format!("(array of {})", a.values.len()),
        Variant::Empty => "(empty)".to_string(),
        other => other.to_string(),
    };
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(77).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// Browse requests carry this many nodes at a time (servers limit it; 50 is well inside the
/// limits of the CNC servers and embedded stacks this runs against).
const NODES_PER_BROWSE: usize = 50;
/// Read requests carry this many attributes at a time.
const ATTRIBUTES_PER_READ: usize = 150;

/// Walks the address space of a connected session.
pub async fn walk(session: &Arc<Session>, limits: Limits) -> Result<AddressSpace> {
    let map = session
        .read_namespace_array()
        .await
        .map_err(|e| anyhow!("reading the namespace table: {e}"))?;
    let mut namespaces = vec![String::new(); map.known_namespaces().len()];
    for (uri, i) in map.known_namespaces() {
        if let Some(slot) = namespaces.get_mut(usize::from(*i)) {
            *slot = uri.clone();
        }
    }
    let mut space = AddressSpace {
        namespaces,
        ..AddressSpace::default()
    };

    let objects: NodeId = ObjectId::ObjectsFolder.into();
    // The Server object (diagnostics, capabilities) is large and says nothing about the machine.
    let server: NodeId = ObjectId::Server.into();
    let mut seen: HashSet<NodeId> = HashSet::from([objects.clone(), server]);
    let mut queue: VecDeque<(NodeId, Vec<String>, usize)> =
        VecDeque::from([(objects, vec!["Objects".to_string()], 0)]);
    let mut not_expanded = 0usize;
    'walk: while !queue.is_empty() {
        let batch: Vec<_> = queue.drain(..NODES_PER_BROWSE.min(queue.len())).collect();
        let found = browse_children(session, &batch).await?;
        for ((_, parent_path, depth), children) in batch.iter().zip(found) {
            for r in children {
                let id = r.node_id.node_id.clone();
                if r.node_id.server_index != 0 || !seen.insert(id.clone()) {
                    continue;
                }
                if space.nodes.len() >= limits.max_nodes {
                    space.stopped.push(format!(
                        "stopped at the node limit ({}): raise --max-nodes to see more",
                        limits.max_nodes
                    ));
                    break 'walk;
                }
                let mut path = parent_path.clone();
                path.push(r.browse_name.name.as_ref().to_string());
                let td = &r.type_definition.node_id;
                let td_uri = if r.type_definition.namespace_uri.is_null() {
                    space
                        .namespaces
                        .get(usize::from(td.namespace))
                        .cloned()
                        .unwrap_or_else(|| format!("ns={}", td.namespace))
                } else {
                    r.type_definition.namespace_uri.as_ref().to_string()
                };
                space.nodes.push(Node {
                    id: id.clone(),
                    path: path.clone(),
                    class: r.node_class,
                    type_definition: (td_uri, td.identifier.to_string()),
                    data_type: None,
                    access_level: None,
                    value: None,
                });
                if depth + 1 < limits.max_depth {
                    queue.push_back((id, path, depth + 1));
                } else {
                    not_expanded += 1;
                }
            }
        }
    }
    if not_expanded > 0 {
        space.stopped.push(format!(
            "{not_expanded} nodes at depth {} were not browsed further: raise --max-depth to see below them",
            limits.max_depth
        ));
    }
    read_variables(session, &mut space).await?;
    // By path: a tree a person reads top-down, and the same order on every run.
    space.nodes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(space)
}

/// The forward hierarchical references (objects and variables) of each node, following
/// continuation points.
async fn browse_children(
    session: &Arc<Session>,
    batch: &[(NodeId, Vec<String>, usize)],
) -> Result<Vec<Vec<opcua::types::ReferenceDescription>>> {
    let descriptions: Vec<BrowseDescription> = batch
        .iter()
        .map(|(id, _, _)| BrowseDescription {
            node_id: id.clone(),
            browse_direction: BrowseDirection::Forward,
            reference_type_id: ReferenceTypeId::HierarchicalReferences.into(),
            include_subtypes: true,
            node_class_mask: NodeClass::Object as u32 | NodeClass::Variable as u32,
            result_mask: BrowseResultMask::All as u32,
        })
        .collect();
    let results = session
        .browse(&descriptions, 1000, None)
        .await
        .map_err(|e| anyhow!("browse: {e}"))?;
    let mut out = Vec::with_capacity(batch.len());
    for r in results {
        let mut refs = r.references.unwrap_or_default();
        let mut cp: ByteString = r.continuation_point;
        while !cp.is_null_or_empty() {
            let next = session
                .browse_next(false, std::slice::from_ref(&cp))
                .await
                .map_err(|e| anyhow!("browse next: {e}"))?;
            let Some(n) = next.into_iter().next() else {
                break;
            };
            refs.extend(n.references.unwrap_or_default());
            cp = n.continuation_point;
        }
        out.push(refs);
    }
    Ok(out)
}

/// Value, data type and access level of every variable; the data types' names.
async fn read_variables(session: &Arc<Session>, space: &mut AddressSpace) -> Result<()> {
    let vars: Vec<usize> = (0..space.nodes.len())
        .filter(|&i| space.nodes[i].class == NodeClass::Variable)
        .collect();
    let attributes = [
        AttributeId::Value,
        AttributeId::DataType,
        AttributeId::AccessLevel,
    ];
    let nodes = &space.nodes;
    let ids: Vec<ReadValueId> = vars
        .iter()
        .flat_map(|&i| {
            attributes
                .iter()
                .map(move |a| ReadValueId::new(nodes[i].id.clone(), *a))
        })
        .collect();
    let values = read_all(session, &ids).await?;
    let mut type_ids: Vec<NodeId> = Vec::new();
    for (k, &i) in vars.iter().enumerate() {
        let [value, data_type, access] = [&values[3 * k], &values[3 * k + 1], &values[3 * k + 2]];
        let node = &mut space.nodes[i];
        node.value = Some(match (&value.status, &value.value) {
            (Some(s), _) if !s.is_good() => Err(s.to_string()),
            (_, Some(v)) => Ok(v.clone()),
            (_, None) => Err("no value".to_string()),
        });
        if let Some(Variant::NodeId(t)) = &data_type.value {
            type_ids.push((**t).clone());
            node.data_type = Some(t.to_string());
        }
        node.access_level = match access.value {
            Some(Variant::Byte(b)) => Some(b),
            _ => None,
        };
    }
    // The data types by name: one read of their BrowseNames.
    type_ids.sort_by_key(|t| t.to_string());
    type_ids.dedup();
    let names = read_all(
        session,
        &type_ids
            .iter()
            .map(|t| ReadValueId::new(t.clone(), AttributeId::BrowseName))
            .collect::<Vec<_>>(),
    )
    .await?;
    let by_id: HashMap<String, String> = type_ids
        .iter()
        .zip(names)
        .filter_map(|(t, dv)| match dv.value {
            Some(Variant::QualifiedName(q)) => Some((t.to_string(), name_of(&q))),
            _ => None,
        })
        .collect();
    for n in &mut space.nodes {
        if let Some(t) = &n.data_type {
            if let Some(name) = by_id.get(t) {
                n.data_type = Some(name.clone());
            }
        }
    }
    Ok(())
}

fn name_of(q: &QualifiedName) -> String {
    q.name.as_ref().to_string()
}

async fn read_all(session: &Arc<Session>, ids: &[ReadValueId]) -> Result<Vec<DataValue>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(ATTRIBUTES_PER_READ) {
        let values = session
            .read(chunk, TimestampsToReturn::Neither, 0.0)
            .await
            .map_err(|e| anyhow!("read: {e}"))?;
        if values.len() != chunk.len() {
            return Err(anyhow!(
                "read: {} results for {} attributes",
                values.len(),
                chunk.len()
            ));
        }
        out.extend(values);
    }
    Ok(out)
}

/// Connects to the device's endpoint (as the agent would, with its security and trust list),
/// walks the address space and closes the session.
pub async fn browse(device: &Device, limits: Limits) -> Result<AddressSpace> {
    let mut open = super::opcua::open(device).await?;
    let result = match open.up(device).await {
        Ok(()) => walk(&open.session, limits).await,
        Err(e) => Err(e),
    };
    open.close(device).await;
    result
}
