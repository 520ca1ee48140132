//! The CNC's OPC UA server: security policy None, anonymous identity, no certificate needed.
//!
//! Address space: an object `Machine` under `Objects`, with child objects `Spindle`,
//! `Channel1`, `Tool` (with `ToolLife`), `Workpiece`, `Axes` (with `X`, `Y`, `Z`), holding the
//! variables of the README as string node ids in the namespace `NAMESPACE_URI`. Every
//! variable has a read callback into the current snapshot, so reads and subscriptions both
//! see the physics as it is now.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use opcua::server::address_space::{AccessLevel, ObjectBuilder, VariableBuilder};
use opcua::server::diagnostics::NamespaceMetadata;
use opcua::server::node_manager::memory::{simple_node_manager, SimpleNodeManager};
use opcua::server::{ServerBuilder, ServerHandle};
use opcua::types::{
    BuildInfo, DataTypeId, DataValue, DateTime, NodeId, ObjectTypeId, UAString, VariableTypeId,
    Variant,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::nodes::{split_node_id, NodeType, Value, NAMESPACE_URI, NODES, OBJECTS};
use crate::Shared;

/// Application URI of the server (must differ from the node namespace URI).
pub const APPLICATION_URI: &str = "urn:green-machining:simulator";

pub(crate) struct OpcUaServer {
    handle: ServerHandle,
    task: JoinHandle<()>,
}

fn to_variant(v: Value) -> Variant {
    match v {
        Value::Double(x) => Variant::from(x),
        Value::Boolean(b) => Variant::from(b),
        Value::String(s) => Variant::from(UAString::from(s)),
        Value::Int32(i) => Variant::from(i),
        Value::UInt32(u) => Variant::from(u),
    }
}

fn data_type(t: NodeType) -> DataTypeId {
    match t {
        NodeType::Double => DataTypeId::Double,
        NodeType::Boolean => DataTypeId::Boolean,
        NodeType::String => DataTypeId::String,
        NodeType::Int32 => DataTypeId::Int32,
        NodeType::UInt32 => DataTypeId::UInt32,
    }
}

impl OpcUaServer {
    /// Binds `addr` (port 0 = any free port), builds the address space and serves.
    /// `host` goes into the advertised endpoint URL. Returns the bound address.
    pub(crate) async fn start(
        addr: SocketAddr,
        host: &str,
        pki_dir: &Path,
        shared: Arc<Shared>,
    ) -> anyhow::Result<(SocketAddr, OpcUaServer)> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding OPC UA listener on {addr}"))?;
        let bound = listener.local_addr()?;

        let (server, handle) = ServerBuilder::new_anonymous("Green machining CNC simulator")
            .application_uri(APPLICATION_URI)
            .product_uri("urn:green-machining:simulator:product")
            .build_info(BuildInfo {
                product_uri: "urn:green-machining:simulator:product".into(),
                manufacturer_name: "green-machining".into(),
                product_name: "CNC simulator".into(),
                software_version: env!("CARGO_PKG_VERSION").into(),
                build_number: "0".into(),
                build_date: DateTime::now(),
            })
            .host(host)
            .port(bound.port())
            // Security policy None needs no application certificate; the PKI directory is
            // a private temporary one so nothing has to be prepared on disk.
            .create_sample_keypair(false)
            .pki_dir(pki_dir)
            // On for the session count (`sessions`; also readable by any client at the standard
            // node Server.ServerDiagnostics.ServerDiagnosticsSummary.CurrentSessionCount).
            .diagnostics_enabled(true)
            .with_node_manager(simple_node_manager(
                NamespaceMetadata {
                    namespace_uri: NAMESPACE_URI.to_owned(),
                    ..Default::default()
                },
                "cnc",
            ))
            .build()
            .map_err(|e| anyhow!("building the OPC UA server: {e}"))?;

        let manager = handle
            .node_managers()
            .get_of_type::<SimpleNodeManager>()
            .ok_or_else(|| anyhow!("OPC UA node manager missing"))?;
        let ns = handle
            .get_namespace_index(NAMESPACE_URI)
            .ok_or_else(|| anyhow!("OPC UA namespace {NAMESPACE_URI} not registered"))?;
        build_address_space(ns, &manager, &shared);

        let task = tokio::spawn(async move {
            if let Err(e) = server.run_with(listener).await {
                tracing::warn!("OPC UA server stopped: {e}");
            }
        });
        Ok((bound, OpcUaServer { handle, task }))
    }

    /// Sessions open on this server now (created and neither closed nor timed out): a client
    /// that drops its connection without closing its session leaves one here until the
    /// session's timeout.
    pub(crate) fn sessions(&self) -> u32 {
        use opcua::types::VariableId;
        let v =
            self.handle.info().diagnostics.get(
                VariableId::Server_ServerDiagnostics_ServerDiagnosticsSummary_CurrentSessionCount,
            );
        match v.and_then(|dv| dv.value) {
            Some(Variant::UInt32(n)) => n,
            _ => 0,
        }
    }

    /// Closes all sessions and the listener; the port is free when this returns.
    pub(crate) async fn stop(mut self) {
        self.handle.cancel();
        if tokio::time::timeout(Duration::from_secs(5), &mut self.task)
            .await
            .is_err()
        {
            tracing::warn!("OPC UA server did not stop within 5 s; aborting it");
            self.task.abort();
            let _ = self.task.await;
        }
    }
}

fn build_address_space(ns: u16, manager: &Arc<SimpleNodeManager>, shared: &Arc<Shared>) {
    let address_space = manager.address_space();
    let mut space = address_space.write();
    let id = |s: &str| NodeId::new(ns, s.to_string());
    for (obj, name, parent) in OBJECTS {
        let b = ObjectBuilder::new(&id(obj), *name, *name)
            .has_type_definition(ObjectTypeId::BaseObjectType);
        let b = match parent {
            None => b.organized_by(NodeId::objects_folder_id()),
            Some(p) => b.component_of(id(p)),
        };
        b.insert(&mut *space);
    }
    let snap = shared.snapshot();
    for def in NODES {
        let (parent, name) = split_node_id(def.id);
        VariableBuilder::new(&id(def.id), name, name)
            .data_type(data_type(def.node_type))
            .value(to_variant((def.get)(&snap.cnc)))
            .access_level(AccessLevel::CURRENT_READ)
            .user_access_level(AccessLevel::CURRENT_READ)
            .component_of(id(parent))
            .has_type_definition(VariableTypeId::BaseDataVariableType)
            .insert(&mut *space);
        let shared = shared.clone();
        let get = def.get;
        manager
            .inner()
            .add_read_callback(id(def.id), move |_range, _timestamps, _max_age| {
                let s = shared.snapshot();
                Ok(DataValue::new_now(to_variant(get(&s.cnc))))
            });
    }
}
