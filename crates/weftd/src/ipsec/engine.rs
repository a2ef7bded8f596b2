//! Where ESP runs: in the kernel (XFRM, charon's `kernel-netlink`, an XFRM
//! interface `ipsec0` the SAs are bound to by interface id) when the kernel
//! has ESP and XFRM interfaces, otherwise in userspace (charon's
//! `kernel-libipsec` over its TUN device `ipsec0`). Either way the agent
//! routes the remote prefixes into `ipsec0` and probes through it.
//!
//! The choice is [`choose`] (pure); [`probe`] asks the kernel, by adding an
//! ESP SA and an XFRM interface in a throwaway network namespace (the
//! `xfrm_stat` file alone says nothing: a kernel may have XFRM without ESP).

use std::process::{Command, Stdio};

use super::charon::DEVICE;

/// The engine charon runs ESP with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Engine {
    /// Kernel XFRM (`kernel-netlink`), SAs bound to the XFRM interface.
    Kernel,
    /// charon's `kernel-libipsec` (a TUN device, ESP in userspace).
    Userspace,
}

impl Engine {
    /// Its name in the API and logs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Engine::Kernel => "kernel",
            Engine::Userspace => "userspace",
        }
    }
}

/// The interface id the SAs and the XFRM interface share (kernel engine).
pub(crate) const IF_ID: u32 = 0x7765;

/// What the kernel can do, as [`probe`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct KernelIpsec {
    /// An ESP SA could be added (ESP in the kernel).
    pub(crate) esp: bool,
    /// An XFRM interface could be made (route-based IPsec).
    pub(crate) xfrm_interface: bool,
}

/// The engine for a kernel that can do `k`: the kernel's when it has both
/// ESP and XFRM interfaces, userspace otherwise.
pub(crate) fn choose(k: KernelIpsec) -> Engine {
    if k.esp && k.xfrm_interface { Engine::Kernel } else { Engine::Userspace }
}

/// Asks the kernel, in a new network namespace that dies with the command.
pub(crate) fn probe() -> KernelIpsec {
    let esp = "ip xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x100 mode tunnel \
               enc 'cbc(aes)' 0x000102030405060708090a0b0c0d0e0f \
               auth 'hmac(sha256)' 0x000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f";
    let xfrmi = "ip link add weftprobe type xfrm if_id 1";
    KernelIpsec { esp: in_new_netns(esp), xfrm_interface: in_new_netns(xfrmi) }
}

/// Makes the XFRM interface [`DEVICE`] (kernel engine), up; one left by
/// an earlier charon is kept.
pub(crate) fn make_interface() -> anyhow::Result<()> {
    use anyhow::Context as _;
    let id = IF_ID.to_string();
    let exists = Command::new("ip")
        .args(["link", "show", DEVICE])
        .output()
        .is_ok_and(|o| o.status.success());
    for args in [
        &["link", "add", DEVICE, "type", "xfrm", "if_id", &id][..],
        &["link", "set", DEVICE, "up"][..],
    ] {
        if exists && args[1] == "add" {
            continue;
        }
        let out = Command::new("ip").args(args).output().context("running ip")?;
        if !out.status.success() {
            anyhow::bail!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
        }
    }
    Ok(())
}

fn in_new_netns(script: &str) -> bool {
    Command::new("unshare")
        .args(["--net", "sh", "-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_runs_esp_only_with_both_esp_and_xfrm_interfaces() {
        let k = |esp, xfrm_interface| choose(KernelIpsec { esp, xfrm_interface });
        assert_eq!(k(true, true), Engine::Kernel);
        assert_eq!(k(true, false), Engine::Userspace, "no interface to route into");
        assert_eq!(k(false, true), Engine::Userspace, "XFRM without ESP (this lab's kernel)");
        assert_eq!(k(false, false), Engine::Userspace);
        assert_eq!(Engine::Kernel.name(), "kernel");
    }
}
