//! A site-to-site IKEv2 connection with a pre-shared key or certificates,
//! turned into the VICI messages that load, start and remove it: what an
//! agent sends charon for one IPsec gateway.
//!
//! ```no_run
//! use std::time::Duration;
//! use weft_vici::{Client, SiteToSite, check_success};
//! let gw = SiteToSite::new("gw1", "198.18.1.2", "203.0.113.7")
//!     .with_ts(["10.77.1.0/24"], ["172.16.0.0/16"]);
//! let mut c = Client::connect("/run/charon.vici")?;
//! check_success(&c.call("load-conn", &gw.load_conn())?)?;
//! check_success(&c.call("load-shared", &gw.load_psk("a long shared secret"))?)?;
//! c.set_timeout(Duration::from_secs(15))?;
//! check_success(&c.call("initiate", &gw.initiate(Duration::from_secs(10)))?)?;
//! # Ok::<(), weft_vici::Error>(())
//! ```

use std::time::Duration;

use crate::wire::Message;

/// How the two ends of a [`SiteToSite`] prove who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// A pre-shared key, loaded with [`SiteToSite::load_psk`].
    Psk,
    /// Certificates (`auth = pubkey`): we send `cert` (PEM or DER; its key
    /// loaded with [`load_key`]), and accept a peer whose certificate chains
    /// to one of `cacerts` and carries its `remote_id`.
    Pubkey {
        /// Our certificate.
        cert: Vec<u8>,
        /// The CA certificates a peer's certificate must chain to.
        cacerts: Vec<Vec<u8>>,
    },
}

/// The argument of `load-key`: a private key in PEM (PKCS#8 or another
/// form charon's plugins read); loading it again is harmless.
pub fn load_key(pem: &str) -> Message {
    Message::new().with_value("type", "any").with_value("data", pem)
}

/// One gateway: IKEv2, PSK or certificates, one CHILD_SA (tunnel mode) between the local and
/// remote traffic selectors. The connection and its child are both named
/// [`SiteToSite::name`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteToSite {
    /// Connection and child name in charon.
    pub name: String,
    /// Our address(es) for IKE (`local_addrs`).
    pub local_addrs: Vec<String>,
    /// The gateway's address(es) or names (`remote_addrs`).
    pub remote_addrs: Vec<String>,
    /// Our IKE identity (default: our first address).
    pub local_id: String,
    /// The gateway's IKE identity (default: its first address).
    pub remote_id: String,
    /// IKE proposals, in order of preference.
    pub proposals: Vec<String>,
    /// ESP proposals, in order of preference.
    pub esp_proposals: Vec<String>,
    /// Our side's prefixes (`local_ts`).
    pub local_ts: Vec<String>,
    /// The gateway's side's prefixes (`remote_ts`).
    pub remote_ts: Vec<String>,
    /// Force ESP in UDP 4500 (needed by charon's userspace `kernel-libipsec`).
    pub encap: bool,
    /// Dead peer detection interval (none: charon's default, off).
    pub dpd_delay: Option<Duration>,
    /// How both ends authenticate.
    pub auth: Auth,
    /// The XFRM interface id the child's SAs and policies carry (route-based
    /// IPsec with kernel ESP); `None`: none.
    pub if_id: Option<u32>,
}

impl SiteToSite {
    /// A connection from `local` to `remote` with the defaults: identities
    /// are the addresses, IKE `aes256gcm16-prfsha256-x25519`, ESP
    /// `aes256gcm16`, UDP encapsulation on, DPD every 10 s, a PSK, and traffic
    /// selectors to be set with [`SiteToSite::with_ts`] (empty: charon's
    /// default, the two hosts' addresses).
    pub fn new(name: &str, local: &str, remote: &str) -> SiteToSite {
        SiteToSite {
            name: name.to_owned(),
            local_addrs: vec![local.to_owned()],
            remote_addrs: vec![remote.to_owned()],
            local_id: local.to_owned(),
            remote_id: remote.to_owned(),
            proposals: vec!["aes256gcm16-prfsha256-x25519".to_owned()],
            esp_proposals: vec!["aes256gcm16".to_owned()],
            local_ts: Vec::new(),
            remote_ts: Vec::new(),
            encap: true,
            dpd_delay: Some(Duration::from_secs(10)),
            auth: Auth::Psk,
            if_id: None,
        }
    }

    /// Binds the child's SAs to the XFRM interface with id `if_id`.
    #[must_use]
    pub fn with_if_id(mut self, if_id: u32) -> SiteToSite {
        self.if_id = Some(if_id);
        self
    }

    /// Authenticates with certificates instead of a PSK (see [`Auth::Pubkey`]).
    #[must_use]
    pub fn with_certs(mut self, cert: Vec<u8>, cacerts: Vec<Vec<u8>>) -> SiteToSite {
        self.auth = Auth::Pubkey { cert, cacerts };
        self
    }

    /// Sets the traffic selectors.
    #[must_use]
    pub fn with_ts<L, R>(mut self, local: L, remote: R) -> SiteToSite
    where
        L: IntoIterator,
        L::Item: Into<String>,
        R: IntoIterator,
        R::Item: Into<String>,
    {
        self.local_ts = local.into_iter().map(Into::into).collect();
        self.remote_ts = remote.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the IKE identities.
    #[must_use]
    pub fn with_ids(mut self, local: &str, remote: &str) -> SiteToSite {
        local.clone_into(&mut self.local_id);
        remote.clone_into(&mut self.remote_id);
        self
    }

    /// The argument of `load-conn` (loading again replaces the connection).
    pub fn load_conn(&self) -> Message {
        let mut child = Message::new();
        if !self.local_ts.is_empty() {
            child = child.with_list("local_ts", &self.local_ts);
        }
        if !self.remote_ts.is_empty() {
            child = child.with_list("remote_ts", &self.remote_ts);
        }
        child = child
            .with_list("esp_proposals", &self.esp_proposals)
            .with_value("mode", "tunnel")
            // the peer gone quiet: start again; the peer closing it: leave it
            // closed (both sides restarting would duel), the agent re-initiates
            .with_value("dpd_action", "restart")
            .with_value("close_action", "none");
        if let Some(id) = self.if_id {
            child = child
                .with_value("if_id_in", id.to_string())
                .with_value("if_id_out", id.to_string());
        }
        let mut conn = Message::new()
            .with_value("version", "2")
            .with_list("local_addrs", &self.local_addrs)
            .with_list("remote_addrs", &self.remote_addrs)
            .with_list("proposals", &self.proposals)
            .with_value("encap", if self.encap { "yes" } else { "no" });
        if let Some(d) = self.dpd_delay {
            conn = conn.with_value("dpd_delay", format!("{}s", d.as_secs().max(1)));
        }
        let (mut local, mut remote) = match &self.auth {
            Auth::Psk => {
                (Message::new().with_value("auth", "psk"), Message::new().with_value("auth", "psk"))
            }
            Auth::Pubkey { cert, cacerts } => (
                Message::new().with_value("auth", "pubkey").with_list("certs", [cert]),
                Message::new().with_value("auth", "pubkey").with_list("cacerts", cacerts),
            ),
        };
        local = local.with_value("id", &self.local_id);
        remote = remote.with_value("id", &self.remote_id);
        let conn = conn
            .with_section("local", local)
            .with_section("remote", remote)
            .with_section("children", Message::new().with_section(&self.name, child));
        Message::new().with_section(&self.name, conn)
    }

    /// The argument of `load-shared`: the PSK for the two identities, under
    /// the unique id `weft-psk-NAME` so that loading it again replaces it.
    pub fn load_psk(&self, secret: &str) -> Message {
        Message::new()
            .with_value("id", format!("weft-psk-{}", self.name))
            .with_value("type", "IKE")
            .with_value("data", secret)
            .with_list("owners", [&self.local_id, &self.remote_id])
    }

    /// The argument of `initiate` for the child, blocking up to `timeout`
    /// (give the client a longer socket timeout).
    pub fn initiate(&self, timeout: Duration) -> Message {
        Message::new()
            .with_value("ike", &self.name)
            .with_value("child", &self.name)
            .with_value("timeout", timeout.as_millis().to_string())
    }

    /// The argument of `unload-conn`.
    pub fn unload_conn(&self) -> Message {
        Message::new().with_value("name", &self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_message_has_charons_shape() {
        let gw = SiteToSite::new("gw1", "198.18.1.2", "203.0.113.7")
            .with_ts(["10.77.1.0/24"], ["172.16.0.0/16", "172.17.0.0/16"])
            .with_ids("site-a", "gw");
        let m = gw.load_conn();
        let conn = m.section("gw1").expect("the connection");
        assert_eq!(conn.value_str("version"), Some("2"));
        assert_eq!(conn.list("remote_addrs").unwrap(), [b"203.0.113.7".to_vec()]);
        assert_eq!(conn.value_str("encap"), Some("yes"));
        assert_eq!(conn.value_str("dpd_delay"), Some("10s"));
        assert_eq!(conn.section("local").unwrap().value_str("id"), Some("site-a"));
        assert_eq!(conn.section("remote").unwrap().value_str("auth"), Some("psk"));
        let child = conn.section("children").unwrap().section("gw1").expect("the child");
        assert_eq!(child.list("remote_ts").unwrap().len(), 2);
        assert_eq!(child.list("esp_proposals").unwrap(), [b"aes256gcm16".to_vec()]);
        // it encodes (names and values fit)
        assert!(m.encode().is_ok());
    }

    #[test]
    fn no_selectors_means_none_sent_and_the_psk_names_both_ids() {
        let gw = SiteToSite::new("gw", "192.0.2.1", "192.0.2.2");
        let child = gw.load_conn();
        let child =
            child.section("gw").unwrap().section("children").unwrap().section("gw").unwrap();
        assert!(child.get("local_ts").is_none() && child.get("remote_ts").is_none());
        let psk = gw.load_psk("s3cret");
        assert_eq!(psk.value_str("id"), Some("weft-psk-gw"));
        assert_eq!(psk.list("owners").unwrap(), [b"192.0.2.1".to_vec(), b"192.0.2.2".to_vec()]);
        let init = gw.initiate(Duration::from_secs(10));
        assert_eq!(init.value_str("timeout"), Some("10000"));
        assert_eq!(init.value_str("child"), Some("gw"));
        assert_eq!(gw.unload_conn().value_str("name"), Some("gw"));
    }

    #[test]
    fn certificate_auth_sends_our_cert_and_pins_the_peers_ca_and_identity() {
        let gw = SiteToSite::new("gw", "192.0.2.1", "192.0.2.2")
            .with_ids("site-a.mesh.test", "gw.mesh.test")
            .with_certs(b"OUR CERT".to_vec(), vec![b"MESH CA".to_vec()]);
        let m = gw.load_conn();
        let conn = m.section("gw").unwrap();
        let local = conn.section("local").unwrap();
        assert_eq!(local.value_str("auth"), Some("pubkey"));
        assert_eq!(local.value_str("id"), Some("site-a.mesh.test"));
        assert_eq!(local.list("certs").unwrap(), [b"OUR CERT".to_vec()]);
        let remote = conn.section("remote").unwrap();
        assert_eq!(remote.value_str("auth"), Some("pubkey"));
        assert_eq!(remote.value_str("id"), Some("gw.mesh.test"));
        assert_eq!(remote.list("cacerts").unwrap(), [b"MESH CA".to_vec()]);
        assert!(remote.get("certs").is_none());
        let child = conn.section("children").unwrap().section("gw").unwrap();
        assert!(child.get("if_id_in").is_none(), "no XFRM interface unless asked");
        let m = gw.with_if_id(30565).load_conn();
        let child = m.section("gw").unwrap().section("children").unwrap().section("gw").unwrap();
        assert_eq!(
            (child.value_str("if_id_in"), child.value_str("if_id_out")),
            (Some("30565"), Some("30565"))
        );
        let key = load_key("-----BEGIN PRIVATE KEY-----");
        assert_eq!(key.value_str("type"), Some("any"));
    }
}
