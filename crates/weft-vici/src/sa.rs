//! The state of IKE and CHILD SAs, read from `list-sas`' `list-sa` events:
//! what an agent needs to call an IPsec gateway's path up or down and to
//! count its traffic.
//!
//! A `list-sa` event is one section per IKE_SA (named after its connection)
//! with `state` (`ESTABLISHED`, `CONNECTING`, ...), `remote-host` and a
//! `child-sas` section of CHILD_SAs (named `NAME-UNIQUEID`), each with
//! `name`, `state` (`INSTALLED`, `REKEYING`, ...), `bytes-in`/`-out`,
//! `packets-in`/`-out`, `local-ts`/`remote-ts`. Missing or unparsable
//! counters read as 0; elements that are not sections are skipped.

use crate::wire::{Element, Message};

/// One IKE_SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeSa {
    /// The connection it belongs to.
    pub conn: String,
    /// charon's state name, e.g. `ESTABLISHED`.
    pub state: String,
    /// The peer's address.
    pub remote_host: Option<String>,
    /// Its CHILD_SAs.
    pub children: Vec<ChildSa>,
}

/// One CHILD_SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSa {
    /// The child config's name.
    pub name: String,
    /// charon's state name, e.g. `INSTALLED`.
    pub state: String,
    /// Bytes and packets in and out since it was installed.
    pub bytes_in: u64,
    /// Bytes out.
    pub bytes_out: u64,
    /// Packets in.
    pub packets_in: u64,
    /// Packets out.
    pub packets_out: u64,
    /// Traffic selectors, ours and the peer's.
    pub local_ts: Vec<String>,
    /// The peer's traffic selectors.
    pub remote_ts: Vec<String>,
}

impl IkeSa {
    /// True when IKE is up.
    pub fn is_established(&self) -> bool {
        self.state == "ESTABLISHED"
    }

    /// The first CHILD_SA of this name that carries traffic (installed or
    /// being rekeyed), if any.
    pub fn installed_child(&self, name: &str) -> Option<&ChildSa> {
        self.children
            .iter()
            .find(|c| c.name == name && (c.state == "INSTALLED" || c.state == "REKEYING"))
    }
}

/// The IKE_SAs of a `list-sa` event (usually one per event).
pub fn parse_list_sa(event: &Message) -> Vec<IkeSa> {
    event
        .entries()
        .filter_map(|(conn, e)| match e {
            Element::Section(s) => Some(ike_sa(conn, s)),
            _ => None,
        })
        .collect()
}

fn ike_sa(conn: &str, s: &Message) -> IkeSa {
    let children = s
        .section("child-sas")
        .map(|cs| {
            cs.entries()
                .filter_map(|(_, e)| match e {
                    Element::Section(c) => Some(child_sa(c)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    IkeSa {
        conn: conn.to_owned(),
        state: s.value_str("state").unwrap_or_default().to_owned(),
        remote_host: s.value_str("remote-host").map(str::to_owned),
        children,
    }
}

fn child_sa(c: &Message) -> ChildSa {
    let n = |k: &str| c.value_str(k).and_then(|v| v.parse().ok()).unwrap_or(0);
    let l = |k: &str| {
        c.list(k)
            .unwrap_or_default()
            .iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect()
    };
    ChildSa {
        name: c.value_str("name").unwrap_or_default().to_owned(),
        state: c.value_str("state").unwrap_or_default().to_owned(),
        bytes_in: n("bytes-in"),
        bytes_out: n("bytes-out"),
        packets_in: n("packets-in"),
        packets_out: n("packets-out"),
        local_ts: l("local-ts"),
        remote_ts: l("remote-ts"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(child_state: &str) -> Message {
        Message::new().with_section(
            "gw",
            Message::new()
                .with_value("uniqueid", "1")
                .with_value("state", "ESTABLISHED")
                .with_value("remote-host", "192.0.2.2")
                .with_section(
                    "child-sas",
                    Message::new().with_section(
                        "gw-1",
                        Message::new()
                            .with_value("name", "gw")
                            .with_value("state", child_state)
                            .with_value("bytes-in", "252")
                            .with_value("packets-in", "3")
                            .with_value("bytes-out", "not a number")
                            .with_list("remote-ts", ["10.99.0.2/32"]),
                    ),
                ),
        )
    }

    #[test]
    fn an_established_sa_with_an_installed_child_is_read_with_its_counters() {
        let sas = parse_list_sa(&event("INSTALLED"));
        assert_eq!(sas.len(), 1);
        let sa = &sas[0];
        assert!(sa.is_established());
        assert_eq!(sa.remote_host.as_deref(), Some("192.0.2.2"));
        let child = sa.installed_child("gw").expect("installed");
        assert_eq!((child.bytes_in, child.packets_in), (252, 3));
        assert_eq!(child.bytes_out, 0, "an unparsable counter reads 0");
        assert_eq!(child.remote_ts, ["10.99.0.2/32"]);
        assert!(sa.installed_child("other").is_none());
    }

    #[test]
    fn a_child_being_set_up_carries_nothing_yet_and_junk_is_skipped() {
        let sas = parse_list_sa(&event("INSTALLING"));
        assert!(sas[0].installed_child("gw").is_none());
        let junk =
            Message::new().with_value("not", "a section").with_section("bare", Message::new());
        let sas = parse_list_sa(&junk);
        assert_eq!(sas.len(), 1);
        assert!(!sas[0].is_established());
        assert!(sas[0].children.is_empty());
    }
}
