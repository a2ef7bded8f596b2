//! Routing a gateway's remote prefixes to where their packets are handled,
//! with the `ip` command (`ip route replace`, one atomic change per prefix):
//! weft's interface when the gateway has a WireGuard alternative (the send
//! thread steers each class, see [`super::steer`]), charon's tunnel when it
//! is the only path.
//!
//! Why `ip` and not the agent's rtnetlink helper: the change happens once
//! (and again when charon's device comes back), where a fork costs nothing,
//! and `ip route replace ... src`
//! is exactly what an operator reads back with `ip route`; the helper
//! (`weft_dataplane::sys::Rtnl`) adds and deletes routes on one interface
//! but has no replace and no preferred source.

use std::net::IpAddr;
use std::process::Command;

use anyhow::{Context, Result, bail};
use weft_types::IpPrefix;

use super::charon::DEVICE;

/// Where the remote prefixes are routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dev {
    /// Weft's interface: the data plane steers.
    Weft,
    /// charon's TUN device.
    Tunnel,
}

/// The `ip` arguments that route `prefix` to `dev`: into charon's TUN with
/// the site's address as source, or to weft's interface.
pub(crate) fn argv(prefix: IpPrefix, dev: Dev, weft_if: &str, src: IpAddr) -> Vec<String> {
    let mut v: Vec<String> =
        ["route", "replace", &prefix.to_string(), "dev"].iter().map(|s| (*s).to_owned()).collect();
    match dev {
        Dev::Tunnel => v.extend([DEVICE.to_owned(), "src".to_owned(), src.to_string()]),
        Dev::Weft => v.push(weft_if.to_owned()),
    }
    v
}

/// Replaces the routes of `prefixes`.
pub(crate) fn apply(prefixes: &[IpPrefix], dev: Dev, weft_if: &str, src: IpAddr) -> Result<()> {
    for p in prefixes {
        let args = argv(*p, dev, weft_if, src);
        let out = Command::new("ip").args(&args).output().context("running ip")?;
        if !out.status.success() {
            bail!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipsec_routes_name_the_source_and_wireguard_routes_the_weft_interface() {
        let p = IpPrefix::parse("10.77.2.0/24").unwrap();
        let src: IpAddr = "10.77.1.1".parse().unwrap();
        assert_eq!(
            argv(p, Dev::Tunnel, "weft0", src).join(" "),
            "route replace 10.77.2.0/24 dev ipsec0 src 10.77.1.1"
        );
        assert_eq!(
            argv(p, Dev::Weft, "weft0", src).join(" "),
            "route replace 10.77.2.0/24 dev weft0"
        );
    }
}
