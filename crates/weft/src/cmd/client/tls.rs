//! The client side of HTTPS to a remote agent: rustls (ring), trusting only
//! the certificates given with `--ca` (there is no system store to fall back
//! on: an agent's API certificate is the operator's own).

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// A TLS client connection to `addr` (`HOST:PORT`) trusting the PEM
/// certificates in `ca`.
pub(super) fn connection(addr: &str, ca: &Path) -> io::Result<rustls::ClientConnection> {
    let bad = |m: String| io::Error::new(io::ErrorKind::InvalidInput, m);
    if ca.as_os_str().is_empty() {
        return Err(bad(
            "https:// needs --ca FILE: the agent's certificate or the CA that signed it".into(),
        ));
    }
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca)
        .map_err(|e| bad(format!("reading {}: {e}", ca.display())))?;
    for c in certs {
        let c = c.map_err(|e| bad(format!("{} is not PEM: {e}", ca.display())))?;
        roots.add(c).map_err(|e| bad(format!("{}: {e}", ca.display())))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::other(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let host = host_of(addr);
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| bad(format!("{host:?} is not a host name or address")))?;
    rustls::ClientConnection::new(Arc::new(config), name)
        .map_err(|e| io::Error::other(e.to_string()))
}

/// The host part of `HOST:PORT` (`[v6]:port` too).
fn host_of(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    addr.rsplit_once(':').map_or(addr, |(h, _)| h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_the_address_without_its_port() {
        assert_eq!(host_of("10.0.0.1:7420"), "10.0.0.1");
        assert_eq!(host_of("[fd00::1]:7420"), "fd00::1");
        assert_eq!(host_of("agent.example:443"), "agent.example");
    }

    #[test]
    fn https_without_a_ca_file_says_what_is_missing() {
        let e = connection("10.0.0.1:7420", Path::new("")).unwrap_err();
        assert!(e.to_string().contains("--ca"), "{e}");
    }
}
