//! Routing a gateway's remote prefixes into the path chosen for them, with
//! the `ip` command (`ip route replace`, one atomic change per prefix).
//!
//! Why `ip` and not the agent's rtnetlink helper: the change happens once
//! per failover, where a fork costs nothing, and `ip route replace ... src`
//! is exactly what an operator reads back with `ip route`; the helper
//! (`weft_dataplane::sys::Rtnl`) adds and deletes routes on one interface
//! but has no replace and no preferred source.

use std::net::IpAddr;
use std::process::Command;

use anyhow::{Context, Result, bail};
use weft_types::IpPrefix;

use super::charon::DEVICE;
use super::choice::Route;

/// The `ip` arguments that send `prefix` down `route`: into charon's TUN
/// with the site's address as source, or to weft's interface.
pub(crate) fn argv(prefix: IpPrefix, route: Route, weft_if: &str, src: IpAddr) -> Vec<String> {
    let mut v: Vec<String> =
        ["route", "replace", &prefix.to_string(), "dev"].iter().map(|s| (*s).to_owned()).collect();
    match route {
        Route::Ipsec => v.extend([DEVICE.to_owned(), "src".to_owned(), src.to_string()]),
        Route::WireGuard => v.push(weft_if.to_owned()),
    }
    v
}

/// Replaces the routes of `prefixes`.
pub(crate) fn apply(prefixes: &[IpPrefix], route: Route, weft_if: &str, src: IpAddr) -> Result<()> {
    for p in prefixes {
        let args = argv(*p, route, weft_if, src);
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
            argv(p, Route::Ipsec, "weft0", src).join(" "),
            "route replace 10.77.2.0/24 dev ipsec0 src 10.77.1.1"
        );
        assert_eq!(
            argv(p, Route::WireGuard, "weft0", src).join(" "),
            "route replace 10.77.2.0/24 dev weft0"
        );
    }
}
