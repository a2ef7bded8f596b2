//! The state of each BGP session as BIRD reports it (`birdc show
//! protocols`), for `GET /api/v1/bgp` and `weft bgp status`: BIRD's
//! protocol state and its info column (`up: Established`, `start: Active
//! Socket: Connection refused`, `down: Error: ...`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Neighbor name → session state, from `show protocols` output: the lines
/// of protocols `bgp_NAME` of type `BGP` (others, banners and anything
/// unexpected are skipped; never a panic).
pub(crate) fn parse_sessions(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let name = words.first()?.strip_prefix("bgp_")?;
            if words.get(1) != Some(&"BGP") || name.is_empty() {
                return None;
            }
            let state = words.get(3)?;
            let info = words.get(5..).unwrap_or_default().join(" ");
            let session =
                if info.is_empty() { (*state).to_owned() } else { format!("{state}: {info}") };
            Some((name.to_owned(), session))
        })
        .collect()
}

/// The sessions of the BIRD at `socket`; empty when it does not answer.
pub(crate) fn read(socket: &Path) -> BTreeMap<String, String> {
    let Ok(out) = Command::new("birdc").arg("-s").arg(socket).args(["show", "protocols"]).output()
    else {
        return BTreeMap::new();
    };
    if !out.status.success() {
        return BTreeMap::new();
    }
    parse_sessions(&String::from_utf8_lossy(&out.stdout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bgp_protocol_gives_its_state_and_info() {
        let text = "BIRD 2.0.12 ready.\nName       Proto      Table      State  Since         Info\ndevice1    Device     ---        up     18:02:00.852  \nbgp_dc1    BGP        ---        up     18:02:00.859  Established   \nbgp_dc2    BGP        ---        start  18:02:00.859  Active        Socket: Connection refused\nbgp_off    BGP        ---        down   18:02:00.852  \nweft_mesh  Static     master4    up     18:02:00.852  \n";
        let s = parse_sessions(text);
        assert_eq!(s.len(), 3, "{s:?}");
        assert_eq!(s["dc1"], "up: Established");
        assert_eq!(s["dc2"], "start: Active Socket: Connection refused");
        assert_eq!(s["off"], "down");
    }

    #[test]
    fn garbage_gives_no_sessions_and_no_panic() {
        for text in
            ["", "bgp_", "bgp_x BGP", "bgp_ BGP --- up t x", "bgp_x Static --- up", "\u{0}é"]
        {
            assert!(parse_sessions(text).is_empty(), "{text:?}");
        }
    }
}
