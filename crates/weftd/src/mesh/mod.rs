//! The zero-touch mesh in the agent: enrolment, the mesh thread driving the
//! sans-IO [`weft_mesh::node`] over the gossip socket, and the files that
//! keep a site's identity across restarts.

pub(crate) mod ctl;
pub(crate) mod driver;
pub mod files;
pub(crate) mod learnt;
pub(crate) mod start;
