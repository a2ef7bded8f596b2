//! `NAME.swanctl.conf` for a client that is an `IPsec` peer (`weft profile
//! export NAME --ipsec`): strongSwan's `swanctl` format, one `IKEv2`
//! connection per site of the profile, the site as the remote end, the
//! client's pool address as its local traffic selector and the prefixes
//! that site gives the client (the same `AllowedIPs` as the `wg-quick`
//! file) as the remote ones; pre-shared key authentication, one key per
//! client, kept across exports (read back from the existing file).
//!
//! The key is also sent to the site with the registration (`ipsec_psk`):
//! the site's agent has its charon answer the client with a responder
//! connection `weft-client-NAME` (`weftd`'s `ipsec::clients`), which
//! narrows `remote_ts` to that site's own prefixes (docs/hybrid.md,
//! "The site answers the IPsec client").

use std::fmt::Write as _;

use super::render::ClientConfig;

/// IKE proposal: AES-GCM, SHA-256 PRF, X25519 (as `scripts/ipsec-lab.sh`).
pub(crate) const IKE_PROPOSALS: &str = "aes256gcm16-prfsha256-x25519";
/// ESP proposal.
pub(crate) const ESP_PROPOSALS: &str = "aes256gcm16";

/// The file for `config` with pre-shared key `psk` (hex, no `0x`).
pub(crate) fn render(config: &ClientConfig, psk: &str) -> String {
    let mut s = String::new();
    let name = &config.name;
    let _ = writeln!(
        s,
        "# Weft connection profile of IPsec client {name} (weft profile export --ipsec)."
    );
    let _ = writeln!(
        s,
        "# Load it into the client's charon with: swanctl --load-all --file ./{name}.swanctl.conf"
    );
    let _ =
        writeln!(s, "# The client's address {} must be on one of its interfaces.", config.address);
    let _ = writeln!(s, "connections {{");
    for (p, allowed) in config.peers.iter().zip(config.allowed_ips()) {
        let host = endpoint_host(&p.endpoint);
        let _ = writeln!(s, "  weft-{} {{", p.site);
        let _ = writeln!(s, "    version = 2");
        let _ = writeln!(s, "    remote_addrs = {host}");
        let _ = writeln!(s, "    proposals = {IKE_PROPOSALS}");
        let _ = writeln!(s, "    encap = yes");
        let _ = writeln!(s, "    dpd_delay = 10s");
        let _ = writeln!(s, "    local {{\n      auth = psk\n      id = {name}\n    }}");
        let _ = writeln!(s, "    remote {{\n      auth = psk\n      id = {}\n    }}", p.site);
        let _ = writeln!(s, "    children {{");
        let _ = writeln!(s, "      weft-{} {{", p.site);
        let _ = writeln!(s, "        local_ts = {}", config.address);
        let _ = writeln!(s, "        remote_ts = {}", allowed.join(","));
        let _ = writeln!(s, "        esp_proposals = {ESP_PROPOSALS}");
        let _ = writeln!(s, "        start_action = trap");
        let _ = writeln!(s, "        dpd_action = restart");
        let _ = writeln!(s, "      }}\n    }}\n  }}");
    }
    let _ = writeln!(s, "}}");
    let _ = writeln!(s, "secrets {{");
    for p in &config.peers {
        let _ = writeln!(
            s,
            "  ike-weft-{} {{\n    id-client = {name}\n    id-site = {}\n    secret = 0x{psk}\n  }}",
            p.site, p.site
        );
    }
    let _ = writeln!(s, "}}");
    s
}

/// The pre-shared key of a file [`render`] wrote (hex, no `0x`).
pub(crate) fn read_psk(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let hex = l.trim().strip_prefix("secret = 0x")?;
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| hex.to_owned())
    })
}

/// A new pre-shared key: 32 bytes from the kernel's random generator, hex.
pub(crate) fn new_psk() -> std::io::Result<String> {
    use std::io::Read as _;
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    let mut hex = String::with_capacity(64);
    for b in key {
        let _ = write!(hex, "{b:02x}");
    }
    Ok(hex)
}

/// `HOST` of `HOST:PORT` (IKE uses its own ports, 500 and 4500), brackets
/// of an IPv6 address removed.
fn endpoint_host(endpoint: &str) -> &str {
    let host = endpoint.rsplit_once(':').map_or(endpoint, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

#[cfg(test)]
mod tests {
    use super::super::render::SitePeer;
    use super::*;

    fn config() -> ClientConfig {
        let site = |name: &str, ep: &str, own: &str, reach: &[&str]| SitePeer {
            site: name.into(),
            public_key: format!("{name}-key"),
            endpoint: ep.into(),
            own: vec![own.into()],
            reachable: reach.iter().map(|s| (*s).to_owned()).collect(),
        };
        ClientConfig {
            name: "gw".into(),
            private_key: None,
            address: "100.96.3.4/32".into(),
            peers: vec![
                site("a", "198.18.1.2:51820", "10.77.1.0/24", &["10.77.3.0/24"]),
                site("b", "[2001:db8::2]:51820", "10.77.2.0/24", &["10.77.3.0/24"]),
            ],
            allowed_override: None,
        }
    }

    #[test]
    fn each_site_is_an_ikev2_connection_with_the_clients_allowed_prefixes_as_remote_ts() {
        let psk = new_psk().unwrap();
        let text = render(&config(), &psk);
        assert!(
            text.contains("  weft-a {\n    version = 2\n    remote_addrs = 198.18.1.2\n"),
            "{text}"
        );
        assert!(text.contains("remote_addrs = 2001:db8::2\n"), "{text}");
        assert!(
            text.contains(
                "local_ts = 100.96.3.4/32\n        remote_ts = 10.77.1.0/24,10.77.3.0/24\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("remote_ts = 10.77.2.0/24\n"),
            "a prefix goes to one site only: {text}"
        );
        assert!(text.contains("id = gw\n") && text.contains("id = a\n"), "{text}");
        assert_eq!(text.matches(&format!("secret = 0x{psk}\n")).count(), 2, "{text}");
        assert_eq!(read_psk(&text), Some(psk.clone()), "the key reads back");
        assert_ne!(new_psk().unwrap(), psk, "a new key each time");
        assert_eq!(read_psk("secret = 0x12"), None);
        // Balanced braces (swanctl's parser wants them).
        assert_eq!(text.matches('{').count(), text.matches('}').count());
    }

    /// The file loads into a real charon (strongSwan, from
    /// `scripts/install-deps.sh`): a throwaway one in private network and
    /// mount namespaces (ESP in userspace, `kernel-libipsec`, as this kernel
    /// has none), `swanctl --load-all` over its VICI socket, and the
    /// connections are then listed by charon itself.
    #[test]
    fn a_real_charon_loads_the_file() {
        let charon = std::path::Path::new("/usr/lib/ipsec/charon");
        let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
            s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        });
        if !(root && charon.exists()) {
            assert!(std::env::var_os("CI").is_none(), "CI runs this as root with strongSwan");
            eprintln!("note: needs root and strongSwan's charon; skipped");
            return;
        }
        let dir = std::env::temp_dir().join(format!("weft-swanctl-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("run")).unwrap();
        let d = dir.display();
        let conf = format!(
            "charon {{\n  load = random nonce openssl pem pkcs1 x509 pubkey kdf kernel-libipsec \
             kernel-netlink socket-default vici\n  \
             plugins {{\n    vici {{\n      socket = unix://{d}/charon.vici\n    }}\n  }}\n}}\n\
             swanctl {{\n  load = random nonce pem pkcs1 x509 pubkey\n}}\n"
        );
        std::fs::write(dir.join("strongswan.conf"), conf).unwrap();
        let file = dir.join("gw.swanctl.conf");
        std::fs::write(&file, render(&config(), &new_psk().unwrap())).unwrap();
        let mut child = std::process::Command::new("unshare")
            .args(["--net", "--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount --bind \"$1\" /run && exec \"$2\" --use-syslog no")
            .arg("sh")
            .arg(dir.join("run"))
            .arg(charon)
            .env("STRONGSWAN_CONF", dir.join("strongswan.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let vici = dir.join("charon.vici");
        let swanctl = |args: &[&str]| {
            std::process::Command::new("swanctl")
                .args(args)
                .arg("--uri")
                .arg(format!("unix://{}", vici.display()))
                .env("STRONGSWAN_CONF", dir.join("strongswan.conf"))
                .output()
                .unwrap()
        };
        // The socket exists before charon answers on it: wait for an answer.
        for _ in 0..100 {
            if swanctl(&["--stats"]).status.success() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let load = swanctl(&["--load-all", "--noprompt", "--file", file.to_str().unwrap()]);
        let conns = swanctl(&["--list-conns"]);
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
        let said = String::from_utf8_lossy(&load.stdout).into_owned()
            + &String::from_utf8_lossy(&load.stderr);
        assert!(load.status.success(), "swanctl --load-all: {said}");
        assert!(said.contains("successfully loaded 2 connections"), "{said}");
        assert!(said.contains("loaded ike secret 'ike-weft-b'"), "{said}");
        let listed = String::from_utf8_lossy(&conns.stdout);
        assert!(listed.contains("weft-a: IKEv2") && listed.contains("weft-b: IKEv2"), "{listed}");
        assert!(listed.contains("10.77.1.0/24") && listed.contains("100.96.3.4/32"), "{listed}");
    }
}
