//! Where Weft keeps things, shared by the agent (`weftd`) and the CLI
//! (`weft`).
//!
//! Both binaries must agree on the state directory's layout (the API socket,
//! the admin token, the mesh files), on the default ports and on the lab
//! configurations the CLI writes for the agent to read. The CLI talks to the
//! agent over its API and does not link it; what both need lives here.
//!
//! What it does not do: no sockets, no async runtime, no database, no agent
//! logic. It does not parse site configurations (the agent does) and it
//! reads and writes only the CA files of `STATE_DIR/mesh/` (and the
//! identity files of `STATE_DIR/zt/`, and IPsec certificates where asked) itself; the
//! agent's own mesh files (site key, certificate, enroller ledger,
//! generation, seeds) are the agent's, written through [`mesh::MeshDir`].
//!
//! # Layout
//! - this module: the state directory's default and names
//!   ([`DEFAULT_STATE_DIR`], [`API_SOCKET`], [`TOKEN_FILE`]) and the default
//!   ports ([`DEFAULT_API_PORT`], [`DEFAULT_API`], [`DEFAULT_MESH_PORT`]).
//! - [`mesh`]: `STATE_DIR/mesh/`: its file names, owner-only atomic writes,
//!   and the mesh CA files ([`mesh::init_ca`] for `weft ca init`).
//! - [`ipsec`]: IPsec host certificates from the mesh CA (`weft ipsec cert`).
//! - [`labgen`]: keys and site configurations for a namespace lab.
//! - [`zt`]: `STATE_DIR/zt/`: the zero-trust identity material (root,
//!   intermediate, revocations) and SVID files for workloads.
#![forbid(unsafe_code)]

pub mod ipsec;
pub mod labgen;
pub mod mesh;
pub mod zt;

/// Default state directory (policy versions, audit log, API token, API
/// socket, mesh files).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/weft";
/// The API's unix socket, in the state directory.
pub const API_SOCKET: &str = "api.sock";
/// The admin token (`bootstrap`), in the state directory.
pub const TOKEN_FILE: &str = "api.token";
/// Default TCP port of the local API.
pub const DEFAULT_API_PORT: u16 = 7420;
/// Default local API address (inside the site's namespace).
pub const DEFAULT_API: &str = "127.0.0.1:7420";
/// Default UDP port of the gossip and enrolment socket (`[mesh] listen`).
pub const DEFAULT_MESH_PORT: u16 = 7946;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_api_address_is_loopback_on_the_default_port() {
        let addr: std::net::SocketAddr = DEFAULT_API.parse().unwrap();
        assert!(addr.ip().is_loopback());
        assert_eq!(addr.port(), DEFAULT_API_PORT);
    }
}
