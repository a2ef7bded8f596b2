//! Connection profiles end to end: site a runs `weftd`; in site b's
//! namespace a stock client (`wg-quick` with `wireguard-go`, no Weft) is
//! brought up from the configuration `weft profile export` wrote. It
//! reaches a's prefix through a; it does again after a's agent restarts
//! (the client is in a's store); after `weft profile revoke` it cannot.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{Harness, wait_for};

/// The `weft` CLI built beside `weftd` (`cargo build --workspace` builds it).
fn weft_cli() -> PathBuf {
    let weftd = Path::new(env!("CARGO_BIN_EXE_weftd"));
    let cli = weftd.with_file_name("weft");
    assert!(cli.exists(), "{} is missing: build the workspace first", cli.display());
    cli
}

/// Runs the CLI against site `i`'s agent (its unix socket); its stdout.
fn weft(h: &Harness, i: usize, args: &[&str]) -> String {
    let out = Command::new(weft_cli())
        .args(args)
        .arg("--socket")
        .arg(h.socket(i))
        .stdin(Stdio::null())
        .output()
        .expect("run weft");
    assert!(
        out.status.success(),
        "weft {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The stock client: `wg-quick up` in site b's namespace; `wg-quick down`
/// when dropped, passed or not (before the lab deletes the namespace).
struct Client {
    down: Command,
}

impl Client {
    fn up(h: &Harness, conf: &Path) -> Self {
        let mut down = h.lab.command(1, "wg-quick").unwrap();
        down.arg("down").arg(conf).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let client = Self { down };
        let up = h
            .lab
            .command(1, "wg-quick")
            .unwrap()
            .arg("up")
            .arg(conf)
            .env("WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run wg-quick");
        assert!(up.status.success(), "wg-quick up: {}", String::from_utf8_lossy(&up.stderr));
        client
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.down.status();
    }
}

#[test]
fn a_wg_quick_client_from_an_exported_profile_reaches_the_site_until_revoked() {
    let mut h = Harness::new("profiles", 2, 1, "adaptive");
    let a = h.start_agent(0);
    wait_for("a's API", Duration::from_secs(15), || h.get(0, "/api/v1/status"));
    // The interface is named after the profile file: unique per run, as
    // wireguard-go's UAPI socket directory is shared by every namespace.
    let name = format!("wq{}", std::process::id() % 100_000);
    let out_dir = h.dir.join("profiles");
    let out = out_dir.to_str().unwrap();
    let site_a = h.name(0);
    let said = weft(&h, 0, &["profile", "export", &name, "--sites", &site_a, "--out", out]);
    assert!(said.contains("registered at site"), "{said}");
    let conf = out_dir.join(format!("{name}.conf"));
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.contains("Address = 100.96."), "an address from the default pool: {text}");
    let a_key = h.sites[0].public_key.to_base64();
    assert!(text.contains(&format!("PublicKey = {a_key}")), "{text}");
    let png = std::fs::read(out_dir.join(format!("{name}.png"))).unwrap();
    assert_eq!(png[..8], [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a], "the QR code's PNG");
    let listed = weft(&h, 0, &["profile", "list", "--json"]);
    assert!(listed.contains(&name), "{listed}");

    let client = Client::up(&h, &conf);
    let a_overlay = h.overlay(0);
    let t = h.wait_ping(1, a_overlay, Duration::from_secs(20));
    eprintln!("the wg-quick client reached {a_overlay} through a after {t:?}");

    // The registration is in a's store: a restarted agent serves it again,
    // and learns where the client is from its next handshake (the client
    // starts one when its packets go unanswered).
    h.lab.kill(a);
    h.start_agent(0);
    wait_for("a's API after the restart", Duration::from_secs(15), || h.get(0, "/api/v1/status"));
    let t = h.wait_ping(1, a_overlay, Duration::from_secs(45));
    eprintln!("after a's restart the client reached a again after {t:?}");

    let said = weft(&h, 0, &["profile", "revoke", &name]);
    assert!(said.contains("revoked client"), "{said}");
    assert_eq!(h.ping(1, a_overlay, 5), 0, "the revoked client still reaches a");
    let listed = weft(&h, 0, &["profile", "list", "--json"]);
    assert!(!listed.contains(&name), "{listed}");
    drop(client);
}
