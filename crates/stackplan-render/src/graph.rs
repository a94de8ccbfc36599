//! The resource graph as Graphviz DOT or Mermaid. Both take sorted nodes
//! and edges, so the output is the same on every run.

use std::fmt::Write;

use stackplan_core::{ResourceAddr, ResourceMode};

/// A node of the graph as the renderers see it.
#[derive(Debug, Clone)]
pub struct Node {
    pub addr: ResourceAddr,
    pub mode: ResourceMode,
}

/// Graphviz DOT: lookups are dashed, stateful resources are drawn bold.
pub fn dot(name: &str, nodes: &[Node], edges: &[(ResourceAddr, ResourceAddr)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", name.replace('"', "\\\""));
    out.push_str("  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n");
    for n in nodes {
        let mut attrs = Vec::new();
        if n.mode == ResourceMode::Lookup {
            attrs.push("style=dashed");
        } else if n.addr.kind.is_stateful() {
            attrs.push("style=bold");
        }
        let attrs = if attrs.is_empty() {
            String::new()
        } else {
            format!(" [{}]", attrs.join(", "))
        };
        let _ = writeln!(out, "  \"{}\"{attrs};", n.addr);
    }
    for (from, to) in edges {
        let _ = writeln!(out, "  \"{from}\" -> \"{to}\";");
    }
    out.push_str("}\n");
    out
}

/// A Mermaid flowchart, which GitHub renders inside Markdown. Node ids
/// are positional because Mermaid ids cannot hold `.` or `[`.
pub fn mermaid(nodes: &[Node], edges: &[(ResourceAddr, ResourceAddr)]) -> String {
    let mut out = String::from("flowchart LR\n");
    let id = |addr: &ResourceAddr| {
        nodes
            .iter()
            .position(|n| &n.addr == addr)
            .map(|i| format!("n{i}"))
            .unwrap_or_default()
    };
    for (i, n) in nodes.iter().enumerate() {
        let (open, close) = match n.mode {
            ResourceMode::Lookup => ("[/", "/]"),
            ResourceMode::Managed if n.addr.kind.is_stateful() => ("[(", ")]"),
            ResourceMode::Managed => ("[", "]"),
        };
        let _ = writeln!(out, "  n{i}{open}\"{}\"{close}", n.addr);
    }
    for (from, to) in edges {
        let _ = writeln!(out, "  {} --> {}", id(from), id(to));
    }
    out
}

#[cfg(test)]
mod tests {
    use stackplan_core::ResourceKind;

    use super::*;

    fn nodes() -> (Vec<Node>, Vec<(ResourceAddr, ResourceAddr)>) {
        let vpc = ResourceAddr::new(ResourceKind::Ec2Vpc, "main");
        let eks = ResourceAddr::new(ResourceKind::EksCluster, "main");
        let role = ResourceAddr::new(ResourceKind::IamRole, "eks_cluster");
        (
            vec![
                Node {
                    addr: vpc.clone(),
                    mode: ResourceMode::Lookup,
                },
                Node {
                    addr: eks.clone(),
                    mode: ResourceMode::Managed,
                },
                Node {
                    addr: role.clone(),
                    mode: ResourceMode::Managed,
                },
            ],
            vec![(vpc, eks.clone()), (role, eks)],
        )
    }

    #[test]
    fn dot_marks_lookups_dashed_and_stateful_bold() {
        let (n, e) = nodes();
        insta::assert_snapshot!(dot("demo", &n, &e), @r#"
        digraph "demo" {
          rankdir=LR;
          node [shape=box, fontname="Helvetica"];
          "ec2_vpc.main" [style=dashed];
          "eks_cluster.main" [style=bold];
          "iam_role.eks_cluster";
          "ec2_vpc.main" -> "eks_cluster.main";
          "iam_role.eks_cluster" -> "eks_cluster.main";
        }
        "#);
    }

    #[test]
    fn mermaid_uses_positional_ids_and_shapes() {
        let (n, e) = nodes();
        insta::assert_snapshot!(mermaid(&n, &e), @r#"
        flowchart LR
          n0[/"ec2_vpc.main"/]
          n1[("eks_cluster.main")]
          n2["iam_role.eks_cluster"]
          n0 --> n1
          n2 --> n1
        "#);
    }
}
