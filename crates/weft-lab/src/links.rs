//! Applying an impairment to one uplink: the divert rules that send its packets
//! through the emulator, the emulator's per-uplink setting, and `tbf` for rate.
//!
//! Diverting uplink `s{S}u{U}` (site address `A`) adds, in the internet namespace:
//!
//! ```text
//! ip rule add iif s{S}u{U} lookup 100 pref 200   # from the site, into the TUN
//! ip rule add to A/32 lookup 100 pref 200        # towards the site, into the TUN
//! ```
//!
//! Table 100 holds `default dev wanem0`; the rule `iif wanem0 lookup main pref 100`
//! (added at build) forwards what the emulator writes back normally. A change is
//! ordered so nothing slips past: the emulator learns the new impairment before the
//! rules divert traffic to it, and the rules go before the emulator forgets it.

use crate::addressing::DIVERT_TABLE;
use crate::emulator::control::{self, Request};
use crate::error::Result;
use crate::impairment::Impairment;
use crate::netsetup::PREF_DIVERT;
use crate::state::LabState;
use crate::sys;

/// Sets uplink `u` of site `s` to `imp` and saves the state. Indices must be valid.
pub(crate) fn apply(state: &mut LabState, s: usize, u: usize, imp: Impairment) -> Result<()> {
    imp.validate()?;
    let old = state.sites[s].uplinks[u].impairment;
    if old.rate != imp.rate {
        set_rate(state, s, u, imp.rate)?;
    }
    let socket = state.control_socket();
    let divert = state.via_emulator || imp.needs_emulator();
    let addr = state.sites[s].uplinks[u].addr;
    let was_diverted = state.sites[s].uplinks[u].diverted;
    if divert {
        control::call(&socket, &Request::Set { addr, impairment: imp })?;
        if !was_diverted {
            divert_rules(state, s, u, "add")?;
        }
    } else {
        if was_diverted {
            divert_rules(state, s, u, "del")?;
        }
        control::call(&socket, &Request::Set { addr, impairment: Impairment::NONE })?;
    }
    let up = &mut state.sites[s].uplinks[u];
    up.diverted = divert;
    up.impairment = imp;
    state.save()
}

fn divert_rules(state: &LabState, s: usize, u: usize, verb: &str) -> Result<()> {
    let up = &state.sites[s].uplinks[u];
    let script = format!(
        "rule {verb} iif {} lookup {DIVERT_TABLE} pref {PREF_DIVERT}\nrule {verb} to {}/32 lookup {DIVERT_TABLE} pref {PREF_DIVERT}\n",
        up.inet_if, up.addr
    );
    sys::ip_batch(Some(&state.inet_ns), &script)
}

/// `tbf` burst for a rate: 10 ms worth of bytes, at least two full frames.
pub(crate) fn tbf_burst(bps: u64) -> u64 {
    (bps / 8 / 100).max(3028)
}

fn set_rate(
    state: &LabState,
    s: usize,
    u: usize,
    rate: Option<weft_types::Bandwidth>,
) -> Result<()> {
    let site = &state.sites[s];
    let up = &site.uplinks[u];
    for (ns, dev) in [(&site.netns, &up.name), (&state.inet_ns, &up.inet_if)] {
        match rate {
            Some(r) => {
                let (rate, burst) = (format!("{}bit", r.bps()), tbf_burst(r.bps()).to_string());
                sys::run(
                    "tc",
                    &[
                        "-n", ns, "qdisc", "replace", "dev", dev, "root", "tbf", "rate", &rate,
                        "burst", &burst, "latency", "50ms",
                    ],
                )?;
            }
            None => {
                sys::run("tc", &["-n", ns, "qdisc", "del", "dev", dev, "root"])?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tbf_bursts_hold_ten_milliseconds_and_at_least_two_frames() {
        assert_eq!(tbf_burst(50_000_000), 62_500);
        assert_eq!(tbf_burst(64_000), 3028);
    }
}
