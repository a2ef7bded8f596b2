//! The client's `wg-quick` configuration: written from the sites the
//! agents returned, and read back, so that exporting the same client
//! against a second site's agent adds that site as a second `[Peer]`
//! (keeping the key and address) instead of starting over.
//!
//! Each `[Peer]` carries a `# weft-site NAME own=… reachable=…` line: the
//! site's own prefixes and those reachable through it. A site's own
//! prefixes go to its own peer; each other prefix to the first peer that
//! reaches it, so no two peers claim the same `AllowedIPs` (WireGuard
//! would silently move it to the last one).

use std::fmt::Write as _;

/// What the `PrivateKey` line says when the user supplied only a public key.
pub(crate) const KEY_PLACEHOLDER: &str = "<the client's private key: replace this text>";
/// Keepalive the client sends (through NAT).
pub(crate) const KEEPALIVE_S: u64 = 25;

/// One site as a `[Peer]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SitePeer {
    /// Site id.
    pub(crate) site: String,
    /// Its public key, base64.
    pub(crate) public_key: String,
    /// `HOST:PORT` to dial (the first; wg-quick takes one).
    pub(crate) endpoint: String,
    /// Its own prefixes.
    pub(crate) own: Vec<String>,
    /// Other prefixes reachable through it.
    pub(crate) reachable: Vec<String>,
}

/// A client's whole configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientConfig {
    /// Client name.
    pub(crate) name: String,
    /// Its private key, base64; `None` writes [`KEY_PLACEHOLDER`].
    pub(crate) private_key: Option<String>,
    /// Its overlay address, `A.B.C.D/32`.
    pub(crate) address: String,
    /// The sites, first one first.
    pub(crate) peers: Vec<SitePeer>,
    /// `AllowedIPs` for every peer instead of the computed ones (`--allowed-ips`).
    pub(crate) allowed_override: Option<Vec<String>>,
}

impl ClientConfig {
    /// Adds `peer`, or replaces the peer of the same site.
    pub(crate) fn upsert(&mut self, peer: SitePeer) {
        match self.peers.iter_mut().find(|p| p.site == peer.site) {
            Some(p) => *p = peer,
            None => self.peers.push(peer),
        }
    }

    /// Each peer's `AllowedIPs` (see the module doc), within the
    /// `--allowed-ips` override when there is one.
    pub(crate) fn allowed_ips(&self) -> Vec<Vec<String>> {
        let computed = self.computed_allowed_ips();
        let Some(wanted) = &self.allowed_override else { return computed };
        computed.iter().map(|list| within(list, wanted)).collect()
    }

    /// Each peer's `AllowedIPs` from what the sites offer (their prefixes
    /// as the policy narrowed them).
    fn computed_allowed_ips(&self) -> Vec<Vec<String>> {
        let owned: Vec<&String> = self.peers.iter().flat_map(|p| &p.own).collect();
        let mut given: Vec<String> = Vec::new();
        self.peers
            .iter()
            .map(|p| {
                let mut out = p.own.clone();
                for r in &p.reachable {
                    if !owned.contains(&r) && !given.contains(r) && !out.contains(r) {
                        out.push(r.clone());
                    }
                }
                given.extend(out.iter().cloned());
                out
            })
            .collect()
    }

    /// The `wg-quick` file.
    pub(crate) fn render(&self) -> String {
        let mut s = String::new();
        let _ =
            writeln!(s, "# Weft connection profile of client {} (weft profile export).", self.name);
        let _ = writeln!(s, "# Bring it up with: wg-quick up ./{}.conf", self.name);
        let _ = writeln!(s, "[Interface]");
        let key = self.private_key.as_deref().unwrap_or(KEY_PLACEHOLDER);
        let _ = writeln!(s, "PrivateKey = {key}");
        let _ = writeln!(s, "Address = {}", self.address);
        for (p, allowed) in self.peers.iter().zip(self.allowed_ips()) {
            let _ = writeln!(s, "\n[Peer]");
            let _ = writeln!(
                s,
                "# weft-site {} own={} reachable={}",
                p.site,
                p.own.join(","),
                p.reachable.join(",")
            );
            let _ = writeln!(s, "PublicKey = {}", p.public_key);
            let _ = writeln!(s, "Endpoint = {}", p.endpoint);
            let _ = writeln!(s, "AllowedIPs = {}", allowed.join(", "));
            let _ = writeln!(s, "PersistentKeepalive = {KEEPALIVE_S}");
        }
        s
    }

    /// Reads back a file [`render`](Self::render) wrote (`None` if it is not one).
    pub(crate) fn parse(name: &str, text: &str) -> Option<Self> {
        let mut private_key = None;
        let mut address = None;
        let mut peers: Vec<SitePeer> = Vec::new();
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("# weft-site ") {
                let mut parts = rest.split(' ');
                let site = parts.next()?.to_owned();
                let list = |p: Option<&str>, key: &str| -> Option<Vec<String>> {
                    let v = p?.strip_prefix(key)?;
                    Some(v.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
                };
                let own = list(parts.next(), "own=")?;
                let reachable = list(parts.next(), "reachable=")?;
                peers.push(SitePeer {
                    site,
                    public_key: String::new(),
                    endpoint: String::new(),
                    own,
                    reachable,
                });
                continue;
            }
            let Some((k, v)) = line.split_once('=') else { continue };
            let (k, v) = (k.trim(), v.trim().to_owned());
            match k {
                "PrivateKey" if v != KEY_PLACEHOLDER => private_key = Some(v),
                "Address" => address = Some(v),
                "PublicKey" => peers.last_mut()?.public_key = v,
                "Endpoint" => peers.last_mut()?.endpoint = v,
                _ => {}
            }
        }
        Some(Self {
            name: name.to_owned(),
            private_key,
            address: address?,
            peers,
            allowed_override: None,
        })
    }
}

/// The parts of `offered` inside `wanted`: an offered prefix inside a
/// wanted one stays, a wanted prefix inside an offered one replaces it, the
/// rest goes (a client never gets more than the site offers).
fn within(offered: &[String], wanted: &[String]) -> Vec<String> {
    use weft_types::IpPrefix;
    let inside =
        |a: &IpPrefix, b: &IpPrefix| a.prefix_len() >= b.prefix_len() && b.contains(a.addr());
    let wanted: Vec<IpPrefix> = wanted.iter().filter_map(|w| IpPrefix::parse(w).ok()).collect();
    let mut out: Vec<String> = Vec::new();
    for o in offered {
        let Ok(op) = IpPrefix::parse(o) else { continue };
        for w in &wanted {
            let part = if inside(&op, w) {
                op
            } else if inside(w, &op) {
                *w
            } else {
                continue;
            };
            let part = part.to_string();
            if !out.contains(&part) {
                out.push(part);
            }
        }
    }
    out
}

/// `text` without its comment lines (what the QR code carries).
pub(crate) fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for l in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        out.push_str(l);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(name: &str, own: &[&str], reachable: &[&str]) -> SitePeer {
        SitePeer {
            site: name.into(),
            public_key: format!("{name}-key"),
            endpoint: format!("198.18.0.{}:51820", name.len()),
            own: own.iter().map(|s| (*s).to_owned()).collect(),
            reachable: reachable.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn client(peers: Vec<SitePeer>) -> ClientConfig {
        ClientConfig {
            name: "laptop".into(),
            private_key: Some("cHJpdmF0ZQ==".into()),
            address: "100.96.3.4/32".into(),
            peers,
            allowed_override: None,
        }
    }

    #[test]
    fn one_site_gives_one_peer_with_its_prefixes_and_those_it_reaches() {
        let text = client(vec![site("a", &["10.77.1.0/24"], &["10.77.2.0/24"])]).render();
        assert!(
            text.contains("[Interface]\nPrivateKey = cHJpdmF0ZQ==\nAddress = 100.96.3.4/32\n"),
            "{text}"
        );
        assert!(text.contains("PublicKey = a-key\nEndpoint = 198.18.0.1:51820\n"), "{text}");
        assert!(text.contains("AllowedIPs = 10.77.1.0/24, 10.77.2.0/24\n"), "{text}");
        assert!(text.contains("PersistentKeepalive = 25\n"), "{text}");
        assert_eq!(text.matches("[Peer]").count(), 1);
        let bare = without_comments(&text);
        assert!(!bare.contains('#') && bare.contains("[Interface]\nPrivateKey"), "{bare}");
    }

    #[test]
    fn two_sites_never_claim_the_same_prefix() {
        let c = client(vec![
            site("a", &["10.77.1.0/24"], &["10.77.2.0/24", "10.77.3.0/24"]),
            site("bb", &["10.77.2.0/24"], &["10.77.1.0/24", "10.77.3.0/24"]),
        ]);
        assert_eq!(
            c.allowed_ips(),
            vec![vec!["10.77.1.0/24", "10.77.3.0/24"], vec!["10.77.2.0/24"]],
            "own prefixes to their site, the rest to the first that reaches it"
        );
    }

    #[test]
    fn a_public_key_only_client_gets_a_placeholder_and_an_override_narrows_within_the_offer() {
        let mut c = client(vec![site("a", &["10.77.1.0/24"], &["10.77.2.0/24", "10.77.3.0/25"])]);
        c.private_key = None;
        c.allowed_override = Some(vec!["0.0.0.0/0".into()]);
        let text = c.render();
        assert!(text.contains(&format!("PrivateKey = {KEY_PLACEHOLDER}\n")), "{text}");
        assert!(
            text.contains("AllowedIPs = 10.77.1.0/24, 10.77.2.0/24, 10.77.3.0/25\n"),
            "everything wanted: exactly what the site offers, never more: {text}"
        );
        c.allowed_override =
            Some(vec!["10.77.1.16/28".into(), "10.77.3.0/24".into(), "192.0.2.0/24".into()]);
        assert_eq!(
            c.allowed_ips(),
            vec![vec!["10.77.1.16/28", "10.77.3.0/25"]],
            "inside an offered prefix kept, an offered one inside kept, outside dropped"
        );
    }

    #[test]
    fn a_written_file_reads_back_and_a_second_site_is_added_to_it() {
        let c = client(vec![site("a", &["10.77.1.0/24"], &["10.77.2.0/24"])]);
        let mut back = ClientConfig::parse("laptop", &c.render()).unwrap();
        assert_eq!(back, c);
        back.upsert(site("bb", &["10.77.2.0/24"], &["10.77.1.0/24"]));
        back.upsert(site("a", &["10.77.1.0/24"], &["10.77.2.0/24", "10.77.9.0/24"]));
        assert_eq!(back.peers.len(), 2, "a replaced, bb added");
        let placeholder = ClientConfig { private_key: None, ..c };
        assert_eq!(ClientConfig::parse("laptop", &placeholder.render()).unwrap().private_key, None);
        assert!(ClientConfig::parse("x", "not a profile").is_none());
    }
}
