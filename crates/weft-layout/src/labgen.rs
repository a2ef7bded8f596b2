//! Site configurations for a lab: one key pair and one `site.toml` per site,
//! every site a static peer of every other over all uplinks.
//!
//! Used by `weft lab up --agents`, the agent's integration tests, the
//! benchmarks and `make demo`. Overlay plan: site `s` (from 0) gets
//! `10.77.{s+1}.1/24` and serves `10.77.{s+1}.0/24`; its TUN device is
//! `{prefix}{s}` (names must differ between namespaces and between labs
//! because the UAPI socket directory is shared); its API listens on `127.0.0.1:7420` in its namespace.
//! Flows map to classes as: udp/5060-5061 realtime, icmp interactive,
//! tcp/873 bulk, everything else best-effort (until a policy is applied).
//! Each site keeps its state (policy versions, audit log, API token) in
//! `{dir}/{site}-state`.

use std::fmt::Write as _;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use weft_types::{PrivateKey, PublicKey};

/// One lab site as the generator needs it.
#[derive(Debug, Clone)]
pub struct LabSite {
    /// Site name (a valid site id, e.g. `a`).
    pub name: String,
    /// Uplinks: name and underlay address, in uplink order.
    pub uplinks: Vec<(String, Ipv4Addr)>,
}

/// Knobs for the generated configurations.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// `[probe] interval`: `adaptive`, `fast` or a duration (`20ms`).
    pub probe_interval: String,
    /// UDP port every uplink binds.
    pub port: u16,
    /// TUN device names are this prefix plus the site index. The UAPI socket
    /// directory is shared by all namespaces, so labs running side by side
    /// need different prefixes (see [`interface_prefix`]).
    pub interface_prefix: String,
    /// A policy file every site starts with (`[policy] file`), if any.
    pub policy_file: Option<PathBuf>,
    /// Zero-touch mesh instead of static peers: no `[[peer]]` sections, a
    /// `[mesh]` section listening on the first uplink's address, port 7946.
    pub mesh: bool,
    /// `capacity` of every uplink (`50mbit`), if given: uplinks are then
    /// shaped by the quality-of-service scheduler.
    pub uplink_capacity: Option<String>,
    /// `[qos] enabled = false` when `false`.
    pub qos: bool,
}

/// A TUN name prefix unique to lab `lab`: `wf` plus up to 9 of its
/// alphanumeric characters (the site index follows; names stay within 15 bytes).
pub fn interface_prefix(lab: &str) -> String {
    let tail: String = lab.chars().filter(char::is_ascii_alphanumeric).collect();
    let keep = tail.len().saturating_sub(9);
    format!("wf{}", &tail[keep..])
}

impl Default for LabOptions {
    fn default() -> Self {
        Self {
            probe_interval: "adaptive".to_owned(),
            port: 51820,
            interface_prefix: "weft".to_owned(),
            policy_file: None,
            mesh: false,
            uplink_capacity: None,
            qos: true,
        }
    }
}

/// What was generated for one site.
#[derive(Debug, Clone)]
pub struct GeneratedSite {
    /// Site name.
    pub name: String,
    /// Path of its `site.toml`.
    pub config: PathBuf,
    /// Its state directory (policy versions, audit log, `api.token`).
    pub state_dir: PathBuf,
    /// Its overlay address.
    pub overlay: Ipv4Addr,
    /// Its TUN device name.
    pub interface: String,
    /// Its public key.
    pub public_key: PublicKey,
}

/// The overlay address of lab site `index`.
pub fn overlay_address(index: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, u8::try_from(index + 1).unwrap_or(u8::MAX), 1)
}

/// Writes keys and configurations for `sites` into `dir`.
pub fn write_configs(
    dir: &Path,
    sites: &[LabSite],
    opts: &LabOptions,
) -> io::Result<Vec<GeneratedSite>> {
    std::fs::create_dir_all(dir)?;
    let keys = sites.iter().map(|_| generate_private_key()).collect::<io::Result<Vec<_>>>()?;
    let mut out = Vec::new();
    for (i, site) in sites.iter().enumerate() {
        let key_file = dir.join(format!("{}.key", site.name));
        write_private(&key_file, &keys[i].to_base64())?;
        let overlay = overlay_address(i);
        let interface = format!("{}{i}", opts.interface_prefix);
        let mut toml = String::new();
        let _ = writeln!(
            toml,
            "[site]\nname = \"{}\"\nprivate_key_file = \"{}.key\"\naddress = \"{overlay}/24\"\nprefixes = [\"10.77.{}.0/24\"]\ninterface = \"{interface}\"\nstate_dir = \"{}-state\"\n",
            site.name,
            site.name,
            i + 1,
            site.name
        );
        for (u, (name, addr)) in site.uplinks.iter().enumerate() {
            let _ = writeln!(
                toml,
                "[[uplink]]\nname = \"{name}\"\nbind = \"{addr}:{}\"\npriority = {}\n",
                opts.port,
                u + 1
            );
            if let Some(c) = &opts.uplink_capacity {
                let _ = writeln!(toml, "capacity = \"{c}\"\n");
            }
        }
        if !opts.qos {
            let _ = writeln!(toml, "[qos]\nenabled = false\n");
        }
        if opts.mesh {
            let addr = site.uplinks.first().map_or(Ipv4Addr::UNSPECIFIED, |(_, a)| *a);
            let _ = writeln!(toml, "[mesh]\nlisten = \"{addr}:{}\"\n", crate::DEFAULT_MESH_PORT);
        }
        for (j, peer) in sites.iter().enumerate().filter(|(j, _)| *j != i && !opts.mesh) {
            let endpoints: Vec<String> =
                peer.uplinks.iter().map(|(_, a)| format!("\"{a}:{}\"", opts.port)).collect();
            let _ = writeln!(
                toml,
                "[[peer]]\nname = \"{}\"\npublic_key = \"{}\"\nprefixes = [\"10.77.{}.0/24\"]\nendpoints = [{}]\n",
                peer.name,
                public_key(&keys[j]).to_base64(),
                j + 1,
                endpoints.join(", ")
            );
        }
        toml.push_str(concat!(
            "[[class]]\nprotocol = \"udp\"\nports = \"5060-5061\"\nclass = \"realtime\"\n\n",
            "[[class]]\nprotocol = \"icmp\"\nclass = \"interactive\"\n\n",
            "[[class]]\nprotocol = \"tcp\"\nports = \"873\"\nclass = \"bulk\"\n\n",
        ));
        let _ = writeln!(toml, "[probe]\ninterval = \"{}\"", opts.probe_interval);
        if let Some(policy) = &opts.policy_file {
            let _ = writeln!(toml, "\n[policy]\nfile = {:?}", policy.display().to_string());
        }
        let config = dir.join(format!("{}.toml", site.name));
        std::fs::write(&config, toml)?;
        out.push(GeneratedSite {
            name: site.name.clone(),
            state_dir: dir.join(format!("{}-state", site.name)),
            config,
            overlay,
            interface,
            public_key: public_key(&keys[i]),
        });
    }
    Ok(out)
}

fn write_private(path: &Path, text: &str) -> io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    writeln!(f, "{text}")
}

/// A new WireGuard private key from the operating system's randomness,
/// clamped as X25519 requires (like `wg genkey`).
fn generate_private_key() -> io::Result<PrivateKey> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        io::Error::other(format!("the operating system refused randomness for a private key: {e}"))
    })?;
    bytes[0] &= 0xf8;
    bytes[31] &= 0x7f;
    bytes[31] |= 0x40;
    Ok(PrivateKey(bytes))
}

/// The X25519 public key of `private` (like `wg pubkey`).
fn public_key(private: &PrivateKey) -> PublicKey {
    let secret = x25519_dalek::StaticSecret::from(private.0);
    PublicKey(x25519_dalek::PublicKey::from(&secret).to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_prefixes_differ_per_lab_and_leave_room_for_the_index() {
        assert_eq!(interface_prefix("demo"), "wfdemo");
        assert_eq!(interface_prefix("wl12345-678"), "wfl12345678");
        assert!(interface_prefix("a-very-long-lab-name-indeed").len() + 3 <= 15);
    }

    #[test]
    fn public_keys_match_the_rfc_7748_test_vector_and_new_keys_are_clamped() {
        let alice = PrivateKey::from_hex(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        )
        .unwrap();
        assert_eq!(
            public_key(&alice).to_hex(),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
        let k = generate_private_key().unwrap();
        assert_eq!((k.0[0] & 7, k.0[31] & 0xc0), (0, 0x40));
        assert_ne!(k, generate_private_key().unwrap());
    }

    #[test]
    fn every_site_gets_a_private_key_and_a_config_naming_every_other_site() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("weft-layout-labgen-{}", std::process::id()));
        let sites: Vec<LabSite> = ["a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(s, n)| LabSite {
                name: (*n).to_owned(),
                uplinks: (0..2)
                    .map(|u| (format!("u{u}"), Ipv4Addr::new(198, 18, s as u8 + 1, 4 * u + 2)))
                    .collect(),
            })
            .collect();
        let generated = write_configs(&dir, &sites, &LabOptions::default()).unwrap();
        assert_eq!(generated.len(), 3);
        for (i, g) in generated.iter().enumerate() {
            let key_file = dir.join(format!("{}.key", g.name));
            let meta = std::fs::metadata(&key_file).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
            let key = std::fs::read_to_string(&key_file).unwrap();
            assert_eq!(public_key(&PrivateKey::from_base64(key.trim()).unwrap()), g.public_key);
            assert_eq!(g.overlay, overlay_address(i));
            assert_eq!(g.interface, format!("weft{i}"));
            assert_eq!(g.state_dir, dir.join(format!("{}-state", g.name)));
            let toml = std::fs::read_to_string(&g.config).unwrap();
            assert_eq!(toml.matches("[[uplink]]").count(), 2, "{toml}");
            assert_eq!(toml.matches("[[peer]]").count(), 2, "{toml}");
            for other in generated.iter().filter(|o| o.name != g.name) {
                assert!(toml.contains(&other.public_key.to_base64()), "{toml}");
            }
            assert!(!toml.contains("[mesh]"), "{toml}");
        }
        let mesh = LabOptions { mesh: true, ..LabOptions::default() };
        let generated = write_configs(&dir, &sites, &mesh).unwrap();
        let toml = std::fs::read_to_string(&generated[1].config).unwrap();
        assert!(toml.contains("[mesh]\nlisten = \"198.18.2.2:7946\"\n"), "{toml}");
        assert!(!toml.contains("[[peer]]"), "{toml}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
