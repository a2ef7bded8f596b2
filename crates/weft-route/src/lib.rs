//! Weft's routing core: where the mesh's links are and which way to go.
//!
//! This crate keeps a link-state database of sites and directed links with
//! their measured metrics, takes compact snapshots of it (CSR adjacency), and
//! runs the path algorithms Weft needs on them: shortest paths by latency,
//! cost or a weighted blend; widest paths (most available bandwidth);
//! lowest-cost paths under a latency bound; ECMP and weighted ECMP next hops;
//! and a primary plus up to three link-disjoint backups. Answers are cached
//! per topology version.
//!
//! What it does not do: no I/O, no clock, no randomness except the seeded
//! generator in [`generate`]. It does not measure links (that is `weft-path`),
//! flood link state between sites (`weft-mesh`), or pick a path per flow from
//! policy (`weft-node`); it answers "which paths exist and how good are they".
//!
//! # Driving it
//! ```
//! use std::time::Duration;
//! use weft_route::{LinkMetrics, Metric, Router};
//! use weft_types::SiteId;
//!
//! let (a, b) = (SiteId::new("a").unwrap(), SiteId::new("b").unwrap());
//! let mut router = Router::new();
//! router.upsert_site(a.clone());
//! router.upsert_site(b.clone());
//! router.upsert_link(&a, &b, LinkMetrics::new(Duration::from_millis(12), 10))?;
//! while let Some(change) = router.poll_change() {
//!     // Forward to whoever reacts to topology changes.
//!     let _ = change;
//! }
//! let route = router.shortest_path(&a, &b, Metric::Latency)?.expect("b is reachable");
//! assert_eq!(route.latency, Duration::from_millis(12));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//! Feed measurement updates with `upsert_link` / `set_link_up` as they come;
//! an update identical to what is stored changes nothing. Query through the
//! [`Router`]; for bulk work, take [`Router::graph`] and call the algorithm
//! functions directly on [`NodeIx`] values.
//!
//! # Layout
//! - [`metrics`]: [`LinkMetrics`] and their validation.
//! - [`lsdb`]: [`LinkStateDb`], versioned, with [`TopologyChange`] events.
//! - [`graph`]: [`Graph`], the CSR snapshot; [`NodeIx`], [`EdgeIx`].
//! - [`spf`]: Dijkstra, generic over the edge weight; [`ShortestPathTree`].
//! - [`blend`]: [`Metric`] and the weighted [`BlendWeights`] score.
//! - [`widest`]: widest (maximum bottleneck) paths.
//! - [`constrained`]: lowest cost within a latency bound.
//! - [`ecmp`]: ECMP next hops and WECMP shares.
//! - [`disjoint`]: k link-disjoint paths (Suurballe/Bhandari).
//! - [`route`]: [`Route`], a path with its end-to-end figures.
//! - [`router`]: [`Router`], by-name queries with a per-version cache.
//! - [`generate`]: seeded random meshes for tests, benchmarks, the simulator.
//! - [`error`]: [`LsdbError`], [`RouteError`].
#![forbid(unsafe_code)]

pub mod blend;
mod cache;
pub mod constrained;
pub mod disjoint;
pub mod ecmp;
pub mod error;
pub mod generate;
pub mod graph;
pub mod lsdb;
pub mod metrics;
pub mod route;
pub mod router;
pub mod spf;
#[cfg(test)]
mod testkit;
pub mod widest;

pub use blend::{BLEND_SCALE, BlendWeights, Metric, blended_tree, blended_weights};
pub use cache::CacheStats;
pub use constrained::{ConstrainedPath, lowest_cost_within};
pub use disjoint::{DisjointPath, MAX_DISJOINT_PATHS, disjoint_paths};
pub use ecmp::{WeightedNextHop, equal_cost_next_hops, weighted_next_hops};
pub use error::{LsdbError, RouteError};
pub use generate::random_mesh;
pub use graph::{EdgeIx, Graph, NodeIx};
pub use lsdb::{LinkStateDb, TopologyChange};
pub use metrics::LinkMetrics;
pub use route::Route;
pub use router::{NextHop, Router};
pub use spf::{ShortestPathTree, shortest_path_tree, spf_cost, spf_latency};
pub use widest::{WidestPath, WidestTree, widest_path, widest_tree};
