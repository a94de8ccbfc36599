use std::collections::{BTreeMap, BTreeSet};

use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use stackplan_core::{Resource, ResourceAddr};

use crate::EngineError;

/// The dependency DAG of a stack: an edge `a -> b` means `b` needs `a`
/// first (it consumes one of `a`'s outputs, or is ordered after it).
///
/// Every listing it hands out is sorted by address, so nothing that reaches
/// a plan or a rendering depends on insertion or hashing order.
#[derive(Debug, Clone)]
pub struct ResourceGraph {
    graph: DiGraph<ResourceAddr, ()>,
    index: BTreeMap<ResourceAddr, NodeIndex>,
}

impl ResourceGraph {
    /// Builds the graph, refusing duplicates, references to resources that
    /// do not exist, and cycles (each named with every resource on it).
    pub fn build(resources: &[Resource]) -> Result<Self, EngineError> {
        let mut graph = DiGraph::new();
        let mut index = BTreeMap::new();
        let mut sorted: Vec<&Resource> = resources.iter().collect();
        sorted.sort_by(|a, b| a.addr.cmp(&b.addr));
        for r in &sorted {
            if index.contains_key(&r.addr) {
                return Err(EngineError::DuplicateResource(r.addr.clone()));
            }
            index.insert(r.addr.clone(), graph.add_node(r.addr.clone()));
        }
        for r in &sorted {
            let to = index[&r.addr];
            for dep in r.dependencies() {
                let from = *index
                    .get(&dep)
                    .ok_or_else(|| EngineError::MissingDependency {
                        from: r.addr.clone(),
                        to: dep.clone(),
                    })?;
                graph.add_edge(from, to, ());
            }
        }
        let this = ResourceGraph { graph, index };
        this.check_acyclic()?;
        Ok(this)
    }

    fn check_acyclic(&self) -> Result<(), EngineError> {
        let mut cycles: Vec<Vec<ResourceAddr>> = tarjan_scc(&self.graph)
            .into_iter()
            .filter(|scc| scc.len() > 1 || self.graph.contains_edge(scc[0], scc[0]))
            .map(|scc| self.cycle_path(&scc))
            .collect();
        cycles.sort();
        match cycles.into_iter().next() {
            Some(members) => Err(EngineError::Cycle { members }),
            None => Ok(()),
        }
    }

    /// Orders the members of a strongly connected component along one walk
    /// of its edges, starting at the smallest address, so the message reads
    /// as the loop it is (`a -> b -> c -> a`).
    fn cycle_path(&self, scc: &[NodeIndex]) -> Vec<ResourceAddr> {
        let members: BTreeSet<NodeIndex> = scc.iter().copied().collect();
        let start = *scc
            .iter()
            .min_by(|a, b| self.graph[**a].cmp(&self.graph[**b]))
            .expect("a component is never empty");
        let mut path = vec![start];
        let mut seen = BTreeSet::from([start]);
        let mut at = start;
        loop {
            let next = self
                .graph
                .neighbors_directed(at, Direction::Outgoing)
                .filter(|n| members.contains(n))
                .min_by(|a, b| {
                    // Prefer closing the loop, then unvisited members in order.
                    let rank =
                        |n: &NodeIndex| (seen.contains(n) && *n != start, self.graph[*n].clone());
                    rank(a).cmp(&rank(b))
                });
            match next {
                Some(n) if n == start || seen.contains(&n) => {
                    // Visit any member the walk skipped, so every resource on
                    // the cycle is named.
                    for m in scc {
                        if seen.insert(*m) {
                            path.push(*m);
                        }
                    }
                    path.push(start);
                    break;
                }
                Some(n) => {
                    seen.insert(n);
                    path.push(n);
                    at = n;
                }
                None => break,
            }
        }
        path.into_iter().map(|n| self.graph[n].clone()).collect()
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn contains(&self, addr: &ResourceAddr) -> bool {
        self.index.contains_key(addr)
    }

    /// Every address, sorted.
    pub fn addrs(&self) -> impl Iterator<Item = &ResourceAddr> {
        self.index.keys()
    }

    /// Every edge as `(dependency, dependent)`, sorted.
    pub fn edges(&self) -> Vec<(ResourceAddr, ResourceAddr)> {
        let mut edges: Vec<_> = self
            .graph
            .edge_references()
            .map(|e| {
                (
                    self.graph[e.source()].clone(),
                    self.graph[e.target()].clone(),
                )
            })
            .collect();
        edges.sort();
        edges.dedup();
        edges
    }

    /// What `addr` waits for, sorted.
    pub fn dependencies(&self, addr: &ResourceAddr) -> BTreeSet<ResourceAddr> {
        self.neighbors(addr, Direction::Incoming)
    }

    /// What waits for `addr`, sorted.
    pub fn dependents(&self, addr: &ResourceAddr) -> BTreeSet<ResourceAddr> {
        self.neighbors(addr, Direction::Outgoing)
    }

    fn neighbors(&self, addr: &ResourceAddr, dir: Direction) -> BTreeSet<ResourceAddr> {
        self.index
            .get(addr)
            .map(|n| {
                self.graph
                    .neighbors_directed(*n, dir)
                    .map(|m| self.graph[m].clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A topological order (dependencies first) that breaks ties by address,
    /// so it is the same on every run.
    pub fn topo_order(&self) -> Vec<ResourceAddr> {
        let mut indegree: BTreeMap<NodeIndex, usize> = self
            .graph
            .node_indices()
            .map(|n| {
                (
                    n,
                    self.graph
                        .neighbors_directed(n, Direction::Incoming)
                        .count(),
                )
            })
            .collect();
        let mut ready: BTreeSet<(ResourceAddr, NodeIndex)> = indegree
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(n, _)| (self.graph[*n].clone(), *n))
            .collect();
        let mut order = Vec::with_capacity(self.len());
        while let Some((addr, n)) = ready.pop_first() {
            order.push(addr);
            for m in self.graph.neighbors_directed(n, Direction::Outgoing) {
                let d = indegree.get_mut(&m).expect("every node has a degree");
                *d -= 1;
                if *d == 0 {
                    ready.insert((self.graph[m].clone(), m));
                }
            }
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use stackplan_core::{ResourceKind, Value};

    use super::*;

    fn role(name: &str, uses: &[&str]) -> Resource {
        let mut r = Resource::managed(ResourceKind::IamRole, name);
        for u in uses {
            let dep = ResourceAddr::new(ResourceKind::IamRole, *u);
            r.attrs
                .insert(format!("uses_{u}"), Value::reference(&dep, "arn"));
        }
        r
    }

    #[test]
    fn cycle_error_names_every_resource_on_the_cycle() {
        let err = ResourceGraph::build(&[
            role("a", &["c"]),
            role("b", &["a"]),
            role("c", &["b"]),
            role("d", &[]),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "dependency cycle: iam_role.a -> iam_role.b -> iam_role.c -> iam_role.a"
        );
    }

    #[test]
    fn self_reference_is_not_a_cycle() {
        let mut r = role("a", &[]);
        r.attrs
            .insert("me".into(), Value::reference(&r.addr.clone(), "arn"));
        assert!(ResourceGraph::build(&[r]).is_ok());
    }

    #[test]
    fn reference_to_a_missing_resource_is_refused() {
        let err = ResourceGraph::build(&[role("a", &["ghost"])]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`iam_role.a` depends on `iam_role.ghost`, which is not part of the stack"
        );
    }

    #[test]
    fn topological_order_puts_dependencies_first_and_is_stable() {
        let resources = [
            role("z", &[]),
            role("m", &["z"]),
            role("a", &["m"]),
            role("b", &[]),
        ];
        let g = ResourceGraph::build(&resources).unwrap();
        let order: Vec<String> = g.topo_order().iter().map(ToString::to_string).collect();
        assert_eq!(
            order,
            ["iam_role.b", "iam_role.z", "iam_role.m", "iam_role.a"]
        );
        let mut reversed = resources.to_vec();
        reversed.reverse();
        assert_eq!(
            ResourceGraph::build(&reversed).unwrap().topo_order(),
            g.topo_order()
        );
    }
}
