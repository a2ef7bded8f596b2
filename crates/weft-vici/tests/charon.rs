//! weft-vici against the real charon (strongSwan 5.9, Debian `strongswan-charon`
//! and `strongswan-swanctl`, installed by `scripts/install-deps.sh`).
//!
//! Each test starts its own charon in a fresh network and mount namespace
//! (`unshare --net --mount`): its own directory for strongswan.conf (found
//! through `STRONGSWAN_CONF`), the VICI socket and the log, and that
//! directory's `run/` bind-mounted over `/run` for charon's compiled-in pid
//! file. Nothing of the host changes; the charon is killed and the directory
//! removed when the test ends, failed or not. Needs root (CI runs as root).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use weft_vici::{Client, Error, Message, check_success};

const CHARON: &str = "/usr/lib/ipsec/charon";

/// A charon of the test's own; killed and its directory removed on drop.
struct Charon {
    child: Child,
    dir: PathBuf,
}

impl Charon {
    fn start(name: &str) -> Charon {
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
            "charon {{\n  load = random nonce openssl pem pkcs1 x509 pubkey kdf kernel-netlink socket-default vici\n  \
             filelog {{\n    log {{\n      path = {d}/charon.log\n      default = 1\n    }}\n  }}\n  \
             plugins {{\n    vici {{\n      socket = unix://{d}/charon.vici\n    }}\n  }}\n}}\n",
            d = dir.display()
        );
        std::fs::write(dir.join("strongswan.conf"), conf).unwrap();
        let child = Command::new("unshare")
            .args(["--net", "--mount", "--propagation", "private", "sh", "-c"])
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
