//! A full disk under a running agent: site a's state directory is a small
//! tmpfs (mounted by the test, always unmounted). With the disk filled, a
//! policy apply fails with 507 `storage_full` (saying so, no internals)
//! and changes nothing, the API still
//! answers reads, and the data plane keeps forwarding (pings a → b before,
//! during and after); once space returns, the same apply succeeds.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::support::{Harness, wait_for};

/// The tmpfs mount, unmounted however the test ends.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Self {
        std::fs::create_dir_all(at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "weft-full-disk"])
            .arg(at)
            .status()
            .unwrap();
        assert!(ok.success(), "mounting a tmpfs at {}", at.display());
        Self(at.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn post_policy(socket: &Path, text: &str) -> (u16, Value) {
    let out = std::process::Command::new("curl")
        .args(["-s", "--max-time", "10", "-w", "\n%{http_code}", "--data-binary", text])
        .arg("--unix-socket")
        .arg(socket)
        .arg("http://weft/api/v1/policy")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (json, code) = text.trim_end().rsplit_once('\n').unwrap_or(("", text.trim()));
    (code.parse().unwrap_or(0), serde_json::from_str(json).unwrap_or(Value::Null))
}

const POLICY: &str = "[policy]\nname = \"after-the-disk-filled\"\ndefault = \"allow\"\n";

#[test]
fn a_full_disk_fails_writes_clearly_keeps_forwarding_and_recovers() {
    let mut h = Harness::new("disk", 2, 1, "adaptive");
    let state = h.sites[0].state_dir.clone();
    let _mount = Tmpfs::mount(&state, "16m");
    h.start_agent(0);
    h.start_agent(1);
    let b = h.overlay(1);
    h.wait_ping(0, b, Duration::from_secs(20));
    let before = h.ping(0, b, 5);
    assert!(before >= 4, "forwarding before: {before}/5");

    // Fill the disk.
    let _ = std::process::Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", state.join("fill").display()))
        .stderr(std::process::Stdio::null())
        .status();
    let socket = h.socket(0);
    let (code, body) = post_policy(&socket, POLICY);
    assert!(code >= 400, "an apply on a full disk was acknowledged: {code} {body}");
    eprintln!("the apply on a full disk: {code} {body}");
    assert_eq!((code, body["code"].as_str()), (507, Some("storage_full")), "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("state directory is full"), "{body}");
    assert!(!message.contains("SQL") && !message.contains(&state.display().to_string()), "{body}");
    let during = h.ping(0, b, 5);
    assert!(during >= 4, "forwarding with the disk full: {during}/5");
    assert!(h.get(0, "/api/v1/status").is_some(), "the API stopped answering reads");
    let versions = h.get(0, "/api/v1/policy/versions").unwrap();
    assert!(!versions.to_string().contains("after-the-disk-filled"), "a refused apply was stored");

    // Space returns: the same apply goes through.
    std::fs::remove_file(state.join("fill")).unwrap();
    let (code, body) = wait_for("an apply once space returned", Duration::from_secs(10), || {
        let r = post_policy(&socket, POLICY);
        (r.0 == 200).then_some(r)
    });
    assert_eq!(code, 200, "{body}");
    let after = h.ping(0, b, 5);
    assert!(after >= 4, "forwarding after: {after}/5");
    eprintln!(
        "forwarding a -> b: {before}/5 before, {during}/5 with the disk full, {after}/5 after"
    );
}
