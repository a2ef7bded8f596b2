//! How an `[[ipsec]]` gateway authenticates: a pre-shared key (`psk_file`,
//! the default) or certificates from the mesh CA (`auth = "cert"`):
//!
//! ```toml
//! auth = "cert"
//! cert_file = "ipsec/site-a.pem"    # our certificate (weft ipsec cert)
//! key_file = "ipsec/site-a.key"     # its private key, PKCS#8 PEM
//! ca_file = "ipsec/ca.pem"          # the mesh root: the gateway's must chain to it
//! remote_id = "gw.example.org"      # the gateway's identity (a DNS SAN of its certificate)
//! local_id = "site-a.example.org"   # ours; default: our certificate's first DNS name
//! ```
//!
//! File names are relative to the configuration file; the certificate files
//! must exist when the file is read (the agent reads them when it loads
//! charon, so a restart picks up new ones).

use std::path::{Path, PathBuf};

use toml::Spanned;

use super::validate::Checker;

/// One gateway's authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpsecAuth {
    /// A pre-shared key in this file (read when the agent loads it).
    Psk {
        /// The file holding the key.
        psk_file: PathBuf,
    },
    /// Certificates: ours, and the CA the gateway's must chain to.
    Cert(CertAuth),
}

/// `auth = "cert"`: the files and identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertAuth {
    /// Our certificate (PEM).
    pub cert_file: PathBuf,
    /// Its private key (PEM).
    pub key_file: PathBuf,
    /// The CA certificate(s) (PEM) the gateway's certificate must chain to.
    pub ca_file: PathBuf,
    /// The identity the gateway must prove (matched against its certificate).
    pub remote_id: String,
    /// Our identity; `None`: the first DNS name of our certificate.
    pub local_id: Option<String>,
}

/// The `[[ipsec]]` keys about authentication, as written.
#[derive(Debug, Default)]
pub(super) struct RawAuth<'a> {
    pub(super) auth: Option<&'a Spanned<String>>,
    pub(super) psk_file: Option<&'a Spanned<PathBuf>>,
    pub(super) cert_file: Option<&'a Spanned<PathBuf>>,
    pub(super) key_file: Option<&'a Spanned<PathBuf>>,
    pub(super) ca_file: Option<&'a Spanned<PathBuf>>,
    pub(super) remote_id: Option<&'a Spanned<String>>,
    pub(super) local_id: Option<&'a Spanned<String>>,
}

/// An IKE identity as written: 1 to 255 printable characters, no quotes.
fn id_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= 255 && s.chars().all(|c| !c.is_control() && c != '"')
}

/// Checks the authentication keys of one gateway (errors at `at`, the
/// gateway's name, when a key is missing); `base` starts relative names.
pub(super) fn auth<T>(
    c: &mut Checker<'_>,
    r: &RawAuth<'_>,
    at: &Spanned<T>,
    base: &Path,
) -> Option<IpsecAuth> {
    let cert_keys = [("cert_file", r.cert_file), ("key_file", r.key_file), ("ca_file", r.ca_file)];
    let cert = match r.auth {
        None => r.psk_file.is_none() && cert_keys.iter().any(|(_, v)| v.is_some()),
        Some(a) => match a.get_ref().as_str() {
            "psk" => false,
            "cert" => true,
            other => {
                c.err(a, format!("auth is \"psk\" or \"cert\", not {other:?}"));
                return None;
            }
        },
    };
    if !cert {
        for (key, v) in cert_keys {
            if let Some(v) = v {
                c.err(
                    v,
                    format!("{key} is for auth = \"cert\" (this gateway uses a pre-shared key)"),
                );
            }
        }
        if let Some(v) = r.remote_id.or(r.local_id) {
            c.err(v, "remote_id and local_id are for auth = \"cert\" (with a PSK the identities are the addresses)");
        }
        let Some(f) = r.psk_file else {
            c.err(at, "psk_file is needed (pre-shared key), or auth = \"cert\" with cert_file, key_file, ca_file and remote_id");
            return None;
        };
        return Some(IpsecAuth::Psk { psk_file: base.join(f.get_ref()) });
    }
    if let Some(p) = r.psk_file {
        c.err(p, "psk_file and auth = \"cert\" exclude each other: give one");
    }
    let mut file = |key: &str, v: Option<&Spanned<PathBuf>>| -> Option<PathBuf> {
        let Some(v) = v else {
            c.err(at, format!("{key} is needed with auth = \"cert\""));
            return None;
        };
        let path = base.join(v.get_ref());
        if !path.is_file() {
            c.err(v, format!("no such file: {} (`weft ipsec cert` issues them)", path.display()));
            return None;
        }
        Some(path)
    };
    let cert_file = file("cert_file", r.cert_file);
    let key_file = file("key_file", r.key_file);
    let ca_file = file("ca_file", r.ca_file);
    let mut id = |v: Option<&Spanned<String>>| {
        if let Some(s) = v.filter(|s| !id_ok(s.get_ref())) {
            c.err(s, "an IKE identity is 1 to 255 printable characters without quotes");
        }
        v.map(|s| s.get_ref().clone())
    };
    let remote_id = id(r.remote_id);
    let local_id = id(r.local_id);
    if remote_id.is_none() {
        c.err(
            at,
            "remote_id is needed with auth = \"cert\" (the identity in the gateway's certificate)",
        );
    }
    Some(IpsecAuth::Cert(CertAuth {
        cert_file: cert_file?,
        key_file: key_file?,
        ca_file: ca_file?,
        remote_id: remote_id?,
        local_id,
    }))
}
