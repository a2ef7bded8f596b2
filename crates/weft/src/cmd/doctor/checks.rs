//! The host checks of `weft doctor`, one function each, and the pure parts
//! they share (capability masks, certificate expiry) that the tests drive.

use std::fs;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs, UdpSocket};
use std::path::Path;
use std::process::Command;

use weft_layout::mesh::{MESH_DIR, SEEDS, SITE_CERT};
use weft_mesh::identity::SiteCert;
use weft_mesh::identity::wire::base64url_decode;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Ready.
    Ok,
    /// Works, but worth a look (or could not be told).
    Warn,
    /// Weft will not run (or not well) until it is fixed.
    Fail,
}

/// One check's result: what was looked at, what was found, what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Check {
    pub(crate) name: &'static str,
    pub(crate) outcome: Outcome,
    pub(crate) found: String,
    /// What to do about a warning or failure.
    pub(crate) fix: Option<String>,
}

fn ok(name: &'static str, found: impl Into<String>) -> Check {
    Check { name, outcome: Outcome::Ok, found: found.into(), fix: None }
}

fn bad(name: &'static str, outcome: Outcome, found: impl Into<String>, fix: &str) -> Check {
    Check { name, outcome, found: found.into(), fix: Some(fix.to_owned()) }
}

/// The capabilities weftd needs: (bit, name, what for).
pub(crate) const NEEDED_CAPS: [(u32, &str, &str); 3] = [
    (12, "CAP_NET_ADMIN", "the TUN device, routes, nftables, socket buffers"),
    (13, "CAP_NET_RAW", "binding uplinks to their devices"),
    (10, "CAP_NET_BIND_SERVICE", "DNS on port 53"),
];

/// The needed capabilities missing from an effective set (`CapEff:` of
/// `/proc/self/status`, hex).
pub(crate) fn missing_caps(status: &str) -> Result<Vec<&'static str>, String> {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .ok_or("no CapEff line in /proc/self/status")?;
    let mask = u64::from_str_radix(hex.trim(), 16).map_err(|e| format!("CapEff {hex:?}: {e}"))?;
    Ok(NEEDED_CAPS.iter().filter(|(bit, ..)| mask & (1 << bit) == 0).map(|c| c.1).collect())
}

/// `weftd` opens `/dev/net/tun` to make its interface.
pub(crate) fn tun() -> Check {
    const N: &str = "TUN";
    match fs::OpenOptions::new().read(true).write(true).open("/dev/net/tun") {
        Ok(_) => ok(N, "/dev/net/tun opens read-write"),
        Err(e) => bad(
            N,
            Outcome::Fail,
            format!("/dev/net/tun: {e}"),
            "load the tun module (modprobe tun) or, in a container, pass /dev/net/tun through",
        ),
    }
}

/// Network namespaces (the lab and the tests; the agent runs in one).
pub(crate) fn netns() -> Check {
    const N: &str = "network namespaces";
    if Path::new("/proc/self/ns/net").exists() {
        ok(N, "supported (/proc/self/ns/net)")
    } else {
        bad(N, Outcome::Warn, "no /proc/self/ns/net", "a kernel with CONFIG_NET_NS (labs need it)")
    }
}

/// The capabilities of this process (run `weft doctor` as weftd runs).
pub(crate) fn capabilities(status: &str) -> Check {
    const N: &str = "capabilities";
    match missing_caps(status) {
        Ok(m) if m.is_empty() => ok(N, "CAP_NET_ADMIN, CAP_NET_RAW, CAP_NET_BIND_SERVICE"),
        Ok(m) => bad(
            N,
            Outcome::Fail,
            format!("missing {}", m.join(", ")),
            "run weftd as root or through weftd.service (it grants exactly these)",
        ),
        Err(e) => bad(N, Outcome::Warn, e, "check /proc is mounted"),
    }
}

/// Whether the clock is synchronised (certificates and tokens carry times).
pub(crate) fn clock() -> Check {
    const N: &str = "clock";
    let out = Command::new("timedatectl")
        .args(["show", "--property=NTPSynchronized", "--value"])
        .output();
    match out {
        Ok(o) if o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "yes" => {
            ok(N, "synchronised (timedatectl)")
        }
        Ok(o) if o.status.success() => bad(
            N,
            Outcome::Fail,
            "not synchronised (timedatectl: NTPSynchronized=no)",
            "enable NTP (timedatectl set-ntp true): certificates and join tokens carry times",
        ),
        _ if Path::new("/run/systemd/timesync/synchronized").exists() => {
            ok(N, "synchronised (systemd-timesyncd)")
        }
        _ => bad(
            N,
            Outcome::Warn,
            "cannot tell (no timedatectl answer)",
            "make sure an NTP client keeps this clock right",
        ),
    }
}

/// Whether `port` is free for weftd (`tcp` or `udp`).
pub(crate) fn port(proto: &str, addr: SocketAddr) -> Check {
    const N: &str = "ports";
    let bound = match proto {
        "tcp" => TcpListener::bind(addr).map(drop),
        _ => UdpSocket::bind(addr).map(drop),
    };
    match bound {
        Ok(()) => ok(N, format!("{proto} {addr} is free")),
        Err(e) => bad(
            N,
            Outcome::Fail,
            format!("{proto} {addr}: {e}"),
            "stop what holds the port (ss -lunpt), or give weftd another in its configuration",
        ),
    }
}

/// Whether the state directory exists (or can be made) and takes a write.
pub(crate) fn state_dir(dir: &Path) -> Check {
    const N: &str = "state directory";
    let probe = dir.join(".weft-doctor");
    let written = fs::create_dir_all(dir).and_then(|()| {
        let mut f = fs::File::create(&probe)?;
        f.write_all(b"ok")?;
        f.sync_all()
    });
    let _ = fs::remove_file(&probe);
    match written {
        Ok(()) => ok(N, format!("{} is writable", dir.display())),
        Err(e) => bad(
            N,
            Outcome::Fail,
            format!("{}: {e}", dir.display()),
            "create it writable by root (weftd.service's StateDirectory= does), or set state_dir",
        ),
    }
}

/// How long a certificate valid until `not_after` has left at `now`, as a check.
pub(crate) fn expiry(not_after: u64, now: u64) -> (Outcome, String) {
    const DAY: u64 = 86_400;
    if not_after <= now {
        (Outcome::Fail, format!("expired {} h ago", (now - not_after) / 3600))
    } else if not_after - now < DAY {
        (Outcome::Warn, format!("expires in {} h", (not_after - now) / 3600))
    } else {
        (Outcome::Ok, format!("valid for {} more days", (not_after - now) / DAY))
    }
}

/// The site certificate in the state directory, if the site is in a mesh.
pub(crate) fn certificate(dir: &Path, now: u64) -> Check {
    const N: &str = "certificate";
    let path = dir.join(MESH_DIR).join(SITE_CERT);
    let Ok(text) = fs::read_to_string(&path) else {
        return ok(N, format!("none at {} (not in a mesh yet)", path.display()));
    };
    let cert = base64url_decode(text.trim())
        .map_err(|e| e.to_string())
        .and_then(|b| SiteCert::decode(&b).map_err(|e| e.to_string()));
    match cert {
        Ok(c) => {
            let (outcome, found) = expiry(c.body.not_after, now);
            let found = format!("site {} serial {}: {found}", c.body.site, c.body.serial);
            match outcome {
                Outcome::Ok => ok(N, found),
                o => bad(
                    N,
                    o,
                    found,
                    "a running weftd renews it; if it expired, enrol again (weftd --join)",
                ),
            }
        }
        Err(e) => bad(N, Outcome::Fail, format!("{}: {e}", path.display()), "enrol again"),
    }
}

/// Each seed the site enrolled with (or named): it resolves and a route
/// leads to it. (UDP tells no more without the mesh protocol.)
pub(crate) fn seeds(dir: &Path, named: &[String]) -> Vec<Check> {
    const N: &str = "seeds";
    let mut list: Vec<String> = named.to_vec();
    if list.is_empty()
        && let Ok(text) = fs::read_to_string(dir.join(MESH_DIR).join(SEEDS))
    {
        list = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    }
    if list.is_empty() {
        return vec![ok(N, "none to check (not enrolled; --seed HOST:PORT names one)")];
    }
    list.iter()
        .map(|s| {
            let routed = s
                .to_socket_addrs()
                .map_err(|e| format!("does not resolve: {e}"))
                .and_then(|mut a| a.next().ok_or_else(|| "resolves to nothing".to_owned()))
                .and_then(|a| {
                    let any: SocketAddr =
                        if a.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
                    let sock = UdpSocket::bind(any).map_err(|e| e.to_string())?;
                    sock.connect(a).map_err(|e| format!("no route: {e}"))?;
                    Ok(a)
                });
            match routed {
                Ok(a) => ok(N, format!("{s} resolves to {a} and a route leads there")),
                Err(e) => {
                    bad(N, Outcome::Fail, format!("{s}: {e}"), "check DNS and the uplinks' routes")
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_missing_network_capabilities_are_named() {
        let all = "Name:\tweftd\nCapEff:\t0000000000003400\n";
        assert_eq!(missing_caps(all), Ok(vec![]));
        let none = "CapEff:\t0000000000000000\n";
        assert_eq!(
            missing_caps(none),
            Ok(vec!["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE"])
        );
        assert_eq!(
            missing_caps("CapEff:\t0000000000001000\n"),
            Ok(vec!["CAP_NET_RAW", "CAP_NET_BIND_SERVICE"])
        );
        assert!(missing_caps("nothing").is_err());
        assert_eq!(capabilities(none).outcome, Outcome::Fail);
    }

    #[test]
    fn a_certificate_fails_once_expired_and_warns_on_its_last_day() {
        assert_eq!(expiry(1000, 1000 + 7200), (Outcome::Fail, "expired 2 h ago".into()));
        assert_eq!(expiry(1000 + 3 * 3600, 1000), (Outcome::Warn, "expires in 3 h".into()));
        assert_eq!(expiry(1000 + 10 * 86_400, 1000).0, Outcome::Ok);
    }

    #[test]
    fn a_state_directory_that_cannot_be_written_fails_and_says_what_to_do() {
        let file = std::env::temp_dir().join(format!("weft-doctor-{}", std::process::id()));
        fs::write(&file, "not a directory").unwrap();
        let c = state_dir(&file.join("state"));
        fs::remove_file(&file).unwrap();
        assert_eq!(c.outcome, Outcome::Fail, "{c:?}");
        assert!(c.fix.is_some_and(|f| f.contains("StateDirectory")));
        let dir = std::env::temp_dir().join(format!("weft-doctor-ok-{}", std::process::id()));
        assert_eq!(state_dir(&dir).outcome, Outcome::Ok);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_port_in_use_fails() {
        let held = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = held.local_addr().unwrap();
        assert_eq!(port("udp", addr).outcome, Outcome::Fail);
        drop(held);
        assert_eq!(port("udp", addr).outcome, Outcome::Ok);
    }

    #[test]
    fn an_unresolvable_seed_fails() {
        let c = seeds(Path::new("/nonexistent"), &["no-port-given".to_owned()]);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].outcome, Outcome::Fail, "{c:?}");
        let c = seeds(Path::new("/nonexistent"), &["127.0.0.1:7946".to_owned()]);
        assert_eq!(c[0].outcome, Outcome::Ok, "{c:?}");
    }
}
