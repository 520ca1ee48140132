//! OPC UA node ids as the configuration writes them, checked when the configuration is read
//! and resolved by the OPC UA source against the server's namespace table.

use std::str::FromStr;

use opcua::types::NodeId;

/// A node id as configured: `ns=<index>;<id>` or `nsu=<namespace URI>;<id>`, where `<id>` is
/// `i=`, `s=`, `g=` or `b=` (OPC UA Part 6, 5.3.1.10). The URI form survives a server that
/// renumbers its namespaces.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRef {
    pub namespace_uri: Option<String>,
    pub node: NodeId,
}

pub fn parse_node_id(s: &str) -> Result<NodeRef, String> {
    if let Some(rest) = s.strip_prefix("nsu=") {
        let (uri, id) = rest
            .split_once(';')
            .ok_or("expected nsu=<uri>;<i|s|g|b>=<id>")?;
        if uri.is_empty() {
            return Err("empty namespace URI".into());
        }
        let node =
            NodeId::from_str(id).map_err(|_| format!("`{id}` is not i=, s=, g= or b=<id>"))?;
        return Ok(NodeRef {
            namespace_uri: Some(uri.to_string()),
            node,
        });
    }
    let node = NodeId::from_str(s)
        .map_err(|_| "expected ns=<index>;<i|s|g|b>=<id> or nsu=<uri>;...".to_string())?;
    Ok(NodeRef {
        namespace_uri: None,
        node,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_parse_in_both_forms() {
        let r = parse_node_id("ns=2;s=Spindle.ActSpeed").unwrap();
        assert_eq!(
            (r.namespace_uri, r.node),
            (None, NodeId::new(2, "Spindle.ActSpeed"))
        );
        let r = parse_node_id("nsu=urn:x:y;i=42").unwrap();
        assert_eq!(
            (r.namespace_uri.as_deref(), r.node),
            (Some("urn:x:y"), NodeId::new(0, 42u32))
        );
        assert!(parse_node_id("Spindle.ActSpeed").is_err());
        assert!(parse_node_id("nsu=urn:x").is_err());
    }
}
