//! rustls configurations of the zero-trust proxy (ring provider): the
//! server side asks for (or requires) an X509-SVID from the caller and
//! verifies its chain against the trust bundle; the client side presents its
//! own SVID and accepts a backend only if its chain verifies *and* its SPIFFE
//! ID is the one expected (SVIDs carry no DNS names, so the usual host-name
//! check is replaced by the SPIFFE ID check the X509-SVID specification asks).

use std::sync::Arc;

use anyhow::{Context, Result};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    CryptoProvider, ring, verify_tls12_signature, verify_tls13_signature,
};
use tokio_rustls::rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use tokio_rustls::rustls::{
    ClientConfig, DigitallySignedStruct, Error as TlsError, RootCertStore, ServerConfig,
    SignatureScheme,
};
use weft_identity::{SpiffeId, Svid};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// The trust bundle as a rustls root store (one or more mesh roots: during a
/// CA rotation the old and the new root are both trusted).
pub fn roots(bundle: &[Vec<u8>]) -> Result<Arc<RootCertStore>> {
    let mut store = RootCertStore::empty();
    for der in bundle {
        store.add(CertificateDer::from(der.clone())).context("adding a trust bundle root")?;
    }
    Ok(Arc::new(store))
}

fn chain_and_key(svid: &Svid) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let chain = svid.chain.iter().map(|c| CertificateDer::from(c.clone())).collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(svid.key_pkcs8.clone()));
    (chain, key)
}

/// A server presenting `svid`. With `require_client`, callers without a
/// verified SVID are refused in the handshake (the sidecar); without it they
/// may connect anonymously and policy decides (the ingress gateway).
pub fn server_config(
    svid: &Svid,
    bundle: &[Vec<u8>],
    require_client: bool,
) -> Result<Arc<ServerConfig>> {
    let builder = WebPkiClientVerifier::builder_with_provider(roots(bundle)?, provider());
    let builder = if require_client { builder } else { builder.allow_unauthenticated() };
    let verifier = builder.build().context("building the client verifier")?;
    let (chain, key) = chain_and_key(svid);
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .context("loading the SVID into the server")?;
    Ok(Arc::new(cfg))
}

/// A server with a plain certificate chain for external clients (no client
/// certificates asked), e.g. a public certificate of the ingress names.
pub fn external_server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>> {
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("loading the ingress certificate")?;
    Ok(Arc::new(cfg))
}

/// A client presenting `svid` that accepts only a server whose SVID chains
/// to `bundle` and names `expect`.
pub fn client_config(
    svid: &Svid,
    bundle: &[Vec<u8>],
    expect: SpiffeId,
) -> Result<Arc<ClientConfig>> {
    let verifier =
        Arc::new(SpiffeServerVerifier { roots: roots(bundle)?, provider: provider(), expect });
    let (chain, key) = chain_and_key(svid);
    let cfg = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(chain, key)
        .context("loading the SVID into the client")?;
    Ok(Arc::new(cfg))
}

/// A client without an SVID (an anonymous caller of a gateway) that still
/// accepts only a server whose SVID chains to `bundle` and names `expect`.
pub fn anonymous_client_config(bundle: &[Vec<u8>], expect: SpiffeId) -> Result<Arc<ClientConfig>> {
    let verifier =
        Arc::new(SpiffeServerVerifier { roots: roots(bundle)?, provider: provider(), expect });
    let cfg = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// Verifies a server's X509-SVID: chain to the bundle, then SPIFFE ID.
#[derive(Debug)]
struct SpiffeServerVerifier {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    expect: SpiffeId,
}

impl ServerCertVerifier for SpiffeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        tokio_rustls::rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        let id = weft_identity::san::spiffe_id(end_entity)
            .map_err(|e| TlsError::General(format!("backend SVID: {e}")))?;
        if id != self.expect {
            return Err(TlsError::General(format!("backend is {id}, expected {}", self.expect)));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
