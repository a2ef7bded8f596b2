//! The agent's own charon: its directory (`STATE_DIR/ipsec`), its
//! `strongswan.conf`, and the process, started in a private mount
//! namespace (charon's pid file is compiled in as `/run/charon.pid`, so the
//! directory's `run/` is bind-mounted over `/run`) and killed with the
//! thread that started it (`PR_SET_PDEATHSIG`). charon runs in the
//! directory and names its files relative to it: the state directory may
//! itself be under `/run` (labs), which the bind mount hides from paths.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::engine::Engine;

/// Debian's path of the IKE daemon.
pub(crate) const CHARON: &str = "/usr/lib/ipsec/charon";
/// The device the tunnels' traffic is routed into: the TUN device charon's
/// `kernel-libipsec` creates (ESP in userspace), or the XFRM interface the
/// agent makes (ESP in the kernel).
pub(crate) const DEVICE: &str = "ipsec0";

/// Where one agent's charon lives.
#[derive(Debug, Clone)]
pub(crate) struct Dir(pub(crate) PathBuf);

impl Dir {
    /// The VICI socket.
    pub(crate) fn vici(&self) -> PathBuf {
        self.0.join("charon.vici")
    }

    /// charon's log.
    pub(crate) fn log(&self) -> PathBuf {
        self.0.join("charon.log")
    }

    /// Writes `strongswan.conf`: the plugins (ESP in userspace through
    /// `kernel-libipsec`, or the kernel's through `kernel-netlink`), no
    /// routes of charon's own (the agent routes), the log and the VICI
    /// socket in this directory.
    pub(crate) fn write_conf(&self, engine: Engine) -> Result<PathBuf> {
        std::fs::create_dir_all(self.0.join("run"))
            .with_context(|| format!("creating {}", self.0.display()))?;
        let text = render(engine);
        let path = self.0.join("strongswan.conf");
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Starts charon and waits (up to 10 s) for its VICI socket.
    pub(crate) fn spawn(&self, engine: Engine) -> Result<Child> {
        self.write_conf(engine)?;
        if engine == Engine::Kernel {
            super::engine::make_interface()?;
        }
        let _ = std::fs::remove_file(self.vici());
        let out =
            std::fs::File::create(self.0.join("stdout.log")).context("charon's stdout log")?;
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("cd \"$1\" && mount --bind \"$1/run\" /run && exec \"$2\" --use-syslog no")
            .arg("sh")
            .arg(&self.0)
            .arg(CHARON)
            .current_dir(&self.0)
            .env("STRONGSWAN_CONF", "strongswan.conf")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        weft_dataplane::sys::die_with_parent(&mut cmd);
        let mut child = cmd
            .spawn()
            .context("starting charon (strongSwan: apt-get install strongswan-charon libcharon-extra-plugins)")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.vici().exists() {
                return Ok(child);
            }
            if let Ok(Some(status)) = child.try_wait() {
                bail!("charon exited at start ({status}); its log: {}", self.log().display());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        bail!("charon opened no VICI socket within 10 s; its log: {}", self.log().display())
    }
}

fn render(engine: Engine) -> String {
    let (comment, libipsec) = match engine {
        Engine::Userspace => (
            format!(
                "ESP in userspace over the TUN device {DEVICE} (kernel-libipsec before kernel-netlink)"
            ),
            "kernel-libipsec ",
        ),
        Engine::Kernel => {
            (format!("ESP in the kernel (XFRM), SAs bound to the XFRM interface {DEVICE}"), "")
        }
    };
    format!(
        "# written by weftd: the agent's own charon ([[ipsec]])
charon {{
  # {comment}; openssl: Ed25519 certificates and PKCS#8 keys (RFC 8420)
  load = random nonce openssl aes sha1 sha2 hmac gmp pem pkcs1 pkcs8 x509 pubkey constraints kdf {libipsec}kernel-netlink socket-default vici
  # weftd routes the gateways' prefixes itself, in the main table (into {DEVICE} or to a
  # WireGuard site); kernel-libipsec still puts a route into charon's table, so that
  # table is looked up only after main (its rule's priority is past main's 32766)
  install_routes = no
  routing_table = 220
  routing_table_prio = 32800
  install_virtual_ip = no
  filelog {{
    log {{
      path = charon.log
      flush_line = yes
      time_format = %H:%M:%S
      default = 1
      ike = 1
      net = 0
    }}
  }}
  plugins {{
    vici {{
      socket = unix://charon.vici
    }}
    kernel-libipsec {{
      allow_peer_ts = no
    }}
  }}
}}
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_conf_puts_the_socket_and_log_in_the_directory_and_installs_no_routes() {
        let text = render(Engine::Userspace);
        assert!(text.contains("socket = unix://charon.vici"), "relative to charon's directory");
        assert!(text.contains("path = charon.log"));
        assert!(text.contains("install_routes = no"));
        assert!(text.contains("routing_table_prio = 32800"), "charon's table after main");
        assert!(text.contains(" kernel-libipsec kernel-netlink "));
        assert!(text.contains(" pkcs8 "), "Ed25519 keys in PKCS#8");
        let kernel = render(Engine::Kernel);
        let load = kernel.lines().find(|l| l.trim().starts_with("load =")).unwrap();
        assert!(!load.contains("kernel-libipsec"), "{load}");
        assert!(load.contains(" kdf kernel-netlink "), "{load}");
    }
}
