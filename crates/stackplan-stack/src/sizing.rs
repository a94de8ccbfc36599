//! Worker sizes for `[milvus] sizing = { vectors, dim, index }`.
//!
//! The model, with its sources, is documented in the README ("Sizing").
//! In short: the query nodes hold the loaded index in memory, so their
//! memory is the index's in-memory size with 2x headroom for growing
//! segments, compaction and search buffers; data nodes buffer inserts and
//! flush them, so they scale with half the raw data; index nodes build one
//! sealed segment (1 GiB, Milvus's `dataCoord.segment.maxSize`) at a time.
//! CPU follows the 1 vCPU : 4 GiB ratio of the m6i nodes the reference
//! deployment runs on, except that graph indexes (HNSW) are CPU-bound to
//! build and get 1 vCPU : 2 GiB on the index nodes.

use crate::model::NodeResources;

/// The index types the model knows how to size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexType {
    Flat,
    IvfFlat,
    IvfSq8,
    IvfPq,
    Hnsw,
    DiskAnn,
}

impl IndexType {
    pub const NAMES: &'static [&'static str] =
        &["FLAT", "IVF_FLAT", "IVF_SQ8", "IVF_PQ", "HNSW", "DISKANN"];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "FLAT" => IndexType::Flat,
            "IVF_FLAT" => IndexType::IvfFlat,
            "IVF_SQ8" => IndexType::IvfSq8,
            "IVF_PQ" => IndexType::IvfPq,
            "HNSW" => IndexType::Hnsw,
            "DISKANN" => IndexType::DiskAnn,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IndexType::Flat => "FLAT",
            IndexType::IvfFlat => "IVF_FLAT",
            IndexType::IvfSq8 => "IVF_SQ8",
            IndexType::IvfPq => "IVF_PQ",
            IndexType::Hnsw => "HNSW",
            IndexType::DiskAnn => "DISKANN",
        }
    }

    /// In-memory size of the index for `raw` bytes of float32 vectors.
    fn loaded_bytes(self, raw: f64, vectors: f64, dim: f64) -> f64 {
        match self {
            // The vectors themselves (IVF adds centroids: negligible).
            IndexType::Flat | IndexType::IvfFlat => raw,
            // One byte per dimension instead of four.
            IndexType::IvfSq8 => raw / 4.0,
            // dim/4 sub-quantizers of 8 bits each: dim/4 bytes per vector.
            IndexType::IvfPq => vectors * (dim / 4.0),
            // The vectors plus the layer-0 graph: 2*M neighbour ids of 4
            // bytes with Milvus's default M = 16.
            IndexType::Hnsw => raw + vectors * 2.0 * 16.0 * 4.0,
            // DiskANN keeps PQ codes in memory and the graph on disk.
            IndexType::DiskAnn => raw / 4.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SizingInput {
    pub vectors: u64,
    pub dim: u32,
    pub index: IndexType,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sizing {
    pub query_node: NodeResources,
    pub data_node: NodeResources,
    pub index_node: NodeResources,
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
/// Largest query node the model plans; beyond it, more replicas.
const MAX_QUERY_NODE_GIB: u64 = 32;
/// Milvus's default sealed segment size (`dataCoord.segment.maxSize`).
const SEGMENT_GIB: f64 = 1.0;

fn pow2_gib(gib: f64, min: u64) -> u64 {
    (gib.ceil() as u64).max(min).next_power_of_two()
}

fn node(replicas: u32, cpu: u64, memory_gib: u64) -> NodeResources {
    NodeResources {
        replicas,
        cpu: cpu.to_string(),
        memory: format!("{memory_gib}Gi"),
    }
}

impl SizingInput {
    pub fn compute(&self) -> Sizing {
        let vectors = self.vectors as f64;
        let dim = f64::from(self.dim);
        let raw = vectors * dim * 4.0;

        let loaded_gib = self.index.loaded_bytes(raw, vectors, dim) / GIB;
        let query_total = pow2_gib(loaded_gib * 2.0, 2);
        let (query_replicas, query_gib) = if query_total > MAX_QUERY_NODE_GIB {
            (query_total.div_ceil(MAX_QUERY_NODE_GIB), MAX_QUERY_NODE_GIB)
        } else {
            (1, query_total)
        };

        let data_gib = pow2_gib(raw / GIB * 0.5, 4).min(32);

        let index_ratio = self.index.loaded_bytes(raw, vectors, dim) / raw.max(1.0);
        let index_gib = pow2_gib(SEGMENT_GIB * (1.0 + index_ratio) * 2.0, 4);
        let index_cpu = match self.index {
            IndexType::Hnsw | IndexType::DiskAnn => index_gib / 2,
            _ => index_gib / 4,
        };

        Sizing {
            query_node: node(query_replicas as u32, (query_gib / 4).max(1), query_gib),
            data_node: node(1, (data_gib / 4).max(1), data_gib),
            index_node: node(1, index_cpu.max(1), index_gib),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(vectors: u64, dim: u32, index: IndexType) -> Sizing {
        SizingInput {
            vectors,
            dim,
            index,
        }
        .compute()
    }

    fn show(n: &NodeResources) -> String {
        format!("{}x {} cpu / {}", n.replicas, n.cpu, n.memory)
    }

    #[test]
    fn reference_case_matches_the_milvus_sizing_tool() {
        // 1M x 1024-dim, HNSW: the reference deployment's section 6.
        let s = size(1_000_000, 1024, IndexType::Hnsw);
        assert_eq!(show(&s.query_node), "1x 2 cpu / 8Gi");
        assert_eq!(show(&s.data_node), "1x 1 cpu / 4Gi");
        assert_eq!(show(&s.index_node), "1x 4 cpu / 8Gi");
    }

    #[test]
    fn compressed_indexes_need_smaller_query_nodes() {
        let hnsw = size(10_000_000, 768, IndexType::Hnsw);
        let sq8 = size(10_000_000, 768, IndexType::IvfSq8);
        let pq = size(10_000_000, 768, IndexType::IvfPq);
        assert_eq!(show(&hnsw.query_node), "2x 8 cpu / 32Gi");
        assert_eq!(show(&sq8.query_node), "1x 4 cpu / 16Gi");
        assert_eq!(show(&pq.query_node), "1x 1 cpu / 4Gi");
    }

    #[test]
    fn large_collections_scale_out_query_nodes_not_up() {
        let s = size(100_000_000, 1024, IndexType::Hnsw);
        assert_eq!(s.query_node.memory, "32Gi");
        assert_eq!(s.query_node.replicas, 32);
        assert_eq!(s.data_node.memory, "32Gi");
    }

    #[test]
    fn tiny_collections_get_the_floor_sizes() {
        let s = size(10_000, 128, IndexType::IvfFlat);
        assert_eq!(show(&s.query_node), "1x 1 cpu / 2Gi");
        assert_eq!(show(&s.data_node), "1x 1 cpu / 4Gi");
        assert_eq!(show(&s.index_node), "1x 1 cpu / 4Gi");
    }
}
