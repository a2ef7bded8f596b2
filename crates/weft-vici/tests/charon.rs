//! weft-vici against the real charon (strongSwan 5.9, Debian `strongswan-charon`
//! and `strongswan-swanctl`, installed by `scripts/install-deps.sh`).
//!
//! Each charon runs in a network namespace of its own (a fresh one from
//! `unshare --net`, or one of a [`Pair`] of namespaces joined by a veth) and
//! a private mount namespace: its own directory for strongswan.conf (found
//! through `STRONGSWAN_CONF`), the VICI socket and the log, and that
//! directory's `run/` bind-mounted over `/run` for charon's compiled-in pid
//! file. Nothing of the host changes; charons are killed, namespaces and
//! directories removed when the test ends, failed or not. Needs root (CI
//! runs as root).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use weft_vici::{Client, Error, Message, SiteToSite, check_success, parse_list_sa};

const CHARON: &str = "/usr/lib/ipsec/charon";

/// A charon of the test's own; killed and its directory removed on drop.
struct Charon {
    child: Child,
    dir: PathBuf,
}

impl Charon {
    /// A charon alone in a fresh network namespace (only `lo`).
    fn start(name: &str) -> Charon {
        Charon::start_in(name, None)
    }

    /// A charon in the named network namespace, or in a fresh one.
    fn start_in(name: &str, netns: Option<&str>) -> Charon {
        let uid = Command::new("id").arg("-u").output().expect("id -u");
        assert_eq!(
            String::from_utf8_lossy(&uid.stdout).trim(),
            "0",
            "the charon test needs root (unshare, mount; CI runs as root)"
        );
        assert!(
            Path::new(CHARON).exists(),
            "{CHARON} missing: run scripts/install-deps.sh (strongswan-charon)"
        );
        let dir = std::env::temp_dir().join(format!("weft-vici-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("run")).unwrap();
        let conf = format!(
            // kernel-libipsec: ESP in userspace over TUN (this kernel has no ESP)
            "charon {{\n  load = random nonce openssl pem pkcs1 x509 pubkey kdf kernel-libipsec kernel-netlink socket-default vici\n  \
             filelog {{\n    log {{\n      path = {d}/charon.log\n      default = 1\n    }}\n  }}\n  \
             plugins {{\n    vici {{\n      socket = unix://{d}/charon.vici\n    }}\n  }}\n}}\n",
            d = dir.display()
        );
        std::fs::write(dir.join("strongswan.conf"), conf).unwrap();
        let mut cmd = if let Some(ns) = netns {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "unshare"]);
            c
        } else {
            let mut c = Command::new("unshare");
            c.arg("--net");
            c
        };
        let child = cmd
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(r#"mount --bind "$1" /run && exec "$2" --use-syslog no"#)
            .arg("sh")
            .arg(dir.join("run"))
            .arg(CHARON)
            .env("STRONGSWAN_CONF", dir.join("strongswan.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("unshare");
        let c = Charon { child, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !c.socket().exists() {
            assert!(
                Instant::now() < deadline,
                "charon made no VICI socket in 10 s; log:\n{}",
                c.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        c
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("charon.vici")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("charon.log")).unwrap_or_default()
    }

    fn client(&self) -> Client {
        Client::connect(self.socket()).expect("connect to charon's VICI socket")
    }
}

impl Drop for Charon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A site-to-site connection as a weftd would load it: PSK, one child
/// between two /32s, AES-GCM.
fn gateway_conn(proposal: &str) -> Message {
    Message::new().with_section(
        "gw",
        Message::new()
            .with_value("version", "2")
            .with_list("remote_addrs", ["192.0.2.1"])
            .with_list("proposals", [proposal])
            .with_value("encap", "yes")
            .with_section(
                "local",
                Message::new().with_value("auth", "psk").with_value("id", "site-a"),
            )
            .with_section("remote", Message::new().with_value("auth", "psk").with_value("id", "gw"))
            .with_section(
                "children",
                Message::new().with_section(
                    "net",
                    Message::new()
                        .with_list("local_ts", ["10.99.0.1/32"])
                        .with_list("remote_ts", ["10.99.0.2/32"])
                        .with_list("esp_proposals", ["aes256gcm16"]),
                ),
            ),
    )
}

#[test]
fn charon_answers_version_over_vici() {
    let charon = Charon::start("version");
    let mut c = charon.client();
    let v = c.call("version", &Message::new()).unwrap();
    assert_eq!(v.value_str("daemon"), Some("charon"), "{v:?}");
    assert!(v.value_str("version").is_some_and(|s| s.starts_with("5.")), "{v:?}");
    let stats = c.call("stats", &Message::new()).unwrap();
    assert!(stats.section("ikesas").is_some(), "{stats:?}");
    assert!(matches!(c.call("no-such-command", &Message::new()), Err(Error::UnknownCommand(_))));
    // the connection is still usable after an unknown command
    assert!(c.call("version", &Message::new()).is_ok());
}

#[test]
fn a_connection_loaded_over_vici_is_listed_and_a_bad_one_refused() {
    let charon = Charon::start("conns");
    let mut c = charon.client();

    check_success(&c.call("load-conn", &gateway_conn("aes256gcm16-prfsha256-x25519")).unwrap())
        .unwrap();
    let psk = Message::new()
        .with_value("type", "IKE")
        .with_value("data", "a shared secret of the test")
        .with_list("owners", ["site-a", "gw"]);
    check_success(&c.call("load-shared", &psk).unwrap()).unwrap();

    let conns = c.call("get-conns", &Message::new()).unwrap();
    assert_eq!(conns.list("conns").unwrap(), [b"gw".to_vec()], "{conns:?}");

    // list-conns streams one list-conn event per connection before its answer
    let (events, _) = c.call_streaming("list-conns", "list-conn", &Message::new()).unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let gw = events[0].section("gw").expect("the gw connection");
    assert_eq!(gw.list("remote_addrs").unwrap(), [b"192.0.2.1".to_vec()]);
    let child = gw.section("children").and_then(|ch| ch.section("net")).expect("child net");
    assert_eq!(child.list("remote-ts").unwrap(), [b"10.99.0.2/32".to_vec()], "{child:?}");

    // no SA yet: list-sas streams nothing
    let (sas, _) = c.call_streaming("list-sas", "list-sa", &Message::new()).unwrap();
    assert!(sas.is_empty(), "{sas:?}");

    // charon refuses a proposal it cannot parse, with a message
    let refused = check_success(&c.call("load-conn", &gateway_conn("not-a-cipher")).unwrap());
    assert!(matches!(&refused, Err(Error::Refused(m)) if !m.is_empty()), "{refused:?}");

    check_success(&c.call("unload-conn", &Message::new().with_value("name", "gw")).unwrap())
        .unwrap();
    let conns = c.call("get-conns", &Message::new()).unwrap();
    assert!(conns.list("conns").unwrap_or_default().is_empty(), "{conns:?}");
}

/// Two network namespaces joined by a veth pair, 192.0.2.1/24 and
/// 192.0.2.2/24, each with an inner address on `lo` (10.99.0.1, 10.99.0.2);
/// deleted on drop.
struct Pair {
    ns: [String; 2],
}

impl Pair {
    fn new(name: &str) -> Pair {
        let pid = std::process::id();
        let ns = [format!("wv{pid}{name}a"), format!("wv{pid}{name}b")];
        let pair = Pair { ns: ns.clone() };
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("ip");
            assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        for n in &ns {
            ip(&["netns", "add", n]);
        }
        let veth = format!("wv{pid}{name}");
        ip(&[
            "-n", &ns[0], "link", "add", &veth, "type", "veth", "peer", "name", "peer", "netns",
            &ns[1],
        ]);
        for (i, (n, dev)) in ns.iter().zip([veth.as_str(), "peer"]).enumerate() {
            ip(&["-n", n, "addr", "add", &format!("192.0.2.{}/24", i + 1), "dev", dev]);
            ip(&["-n", n, "link", "set", dev, "up"]);
            ip(&["-n", n, "link", "set", "lo", "up"]);
            ip(&["-n", n, "addr", "add", &format!("10.99.0.{}/32", i + 1), "dev", "lo"]);
        }
        pair
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for n in &self.ns {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

/// Side `i` (0 or 1) of the site-to-site connection between the two
/// namespaces of a [`Pair`].
fn side(i: usize) -> SiteToSite {
    let (me, peer) = (i + 1, 2 - i);
    SiteToSite::new("gw", &format!("192.0.2.{me}"), &format!("192.0.2.{peer}"))
        .with_ids(&format!("side{me}"), &format!("side{peer}"))
        .with_ts([format!("10.99.0.{me}/32")], [format!("10.99.0.{peer}/32")])
}

#[test]
fn two_charons_driven_only_over_vici_build_an_sa_that_carries_pings() {
    let pair = Pair::new("sa");
    let charons =
        [Charon::start_in("sa-a", Some(&pair.ns[0])), Charon::start_in("sa-b", Some(&pair.ns[1]))];
    let mut clients: Vec<Client> = charons.iter().map(Charon::client).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        check_success(&c.call("load-conn", &side(i).load_conn()).unwrap()).unwrap();
        check_success(
            &c.call("load-shared", &side(i).load_psk("the pair's shared secret")).unwrap(),
        )
        .unwrap();
    }

    // the responder watches its CHILD_SAs come up, as weftd would to mark a path
    let mut watcher = charons[1].client();
    watcher.register("child-updown").unwrap();

    clients[0].set_timeout(Duration::from_secs(15)).unwrap();
    let answer = clients[0].call("initiate", &side(0).initiate(Duration::from_secs(10))).unwrap();
    check_success(&answer)
        .unwrap_or_else(|e| panic!("initiate: {e}\n{}\n{}", charons[0].log(), charons[1].log()));

    let (name, up) = watcher.next_event().unwrap();
    assert_eq!(name, "child-updown");
    assert_eq!(up.value_str("up"), Some("yes"), "{up:?}");

    let ping = Command::new("ip")
        .args(["netns", "exec", &pair.ns[0], "ping", "-n", "-c", "3", "-i", "0.2", "-W", "2"])
        .args(["-I", "10.99.0.1", "10.99.0.2"])
        .output()
        .unwrap();
    assert!(
        ping.status.success(),
        "ping through the SA: {}",
        String::from_utf8_lossy(&ping.stdout)
    );

    // the responder's listing shows the SA established and the echoes counted in
    let (events, _) = clients[1].call_streaming("list-sas", "list-sa", &Message::new()).unwrap();
    let sas: Vec<_> = events.iter().flat_map(parse_list_sa).collect();
    assert_eq!(sas.len(), 1, "{events:?}");
    assert!(sas[0].is_established(), "{sas:?}");
    assert_eq!(sas[0].remote_host.as_deref(), Some("192.0.2.1"));
    let child =
        sas[0].installed_child("gw").unwrap_or_else(|| panic!("no installed child: {sas:?}"));
    assert!(child.packets_in >= 3 && child.bytes_in > 0, "{child:?}");
    assert_eq!(child.remote_ts, ["10.99.0.1/32"]);

    // unloaded and terminated over VICI, it is gone on both sides
    for (i, c) in clients.iter_mut().enumerate() {
        check_success(&c.call("unload-conn", &side(i).unload_conn()).unwrap()).unwrap();
    }
    let term = Message::new().with_value("ike", "gw").with_value("timeout", "5000");
    check_success(&clients[0].call("terminate", &term).unwrap()).unwrap();
    let (sas, _) = clients[1].call_streaming("list-sas", "list-sa", &Message::new()).unwrap();
    assert!(sas.is_empty(), "{sas:?}");
}
