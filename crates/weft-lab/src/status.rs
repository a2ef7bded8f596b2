//! [`LabStatus`]: what `weft lab status` prints.

use std::fmt;

use crate::emulator::control::EmulatorStats;
use crate::state::{EmulatorHost, LabState};

/// A snapshot of a lab: its layout, every link's impairment, the emulator's counters.
#[derive(Clone, Debug, PartialEq)]
pub struct LabStatus {
    /// The lab's state.
    pub state: LabState,
    /// The emulator's counters; `None` if it did not answer.
    pub emulator: Option<EmulatorStats>,
}

impl fmt::Display for LabStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = &self.state;
        let host = match st.emulator {
            EmulatorHost::None => "not started".to_owned(),
            EmulatorHost::Thread { pid } => format!("thread of pid {pid}"),
            EmulatorHost::Process { pid } => format!("pid {pid}"),
        };
        writeln!(
            f,
            "lab {}: {} site(s), internet namespace {}, emulator {host}",
            st.name,
            st.sites.len(),
            st.inet_ns
        )?;
        match &self.emulator {
            Some(e) => writeln!(
                f,
                "emulator: {} received, {} sent, {} lost, {} dropped (down), {} held, {} impaired link(s){}",
                e.received,
                e.sent,
                e.dropped_loss,
                e.dropped_down,
                e.held,
                e.links,
                if st.via_emulator { ", all uplinks diverted" } else { "" }
            )?,
            None => writeln!(f, "emulator: NOT ANSWERING")?,
        }
        let rows: Vec<[String; 6]> = st
            .sites
            .iter()
            .flat_map(|s| {
                s.uplinks.iter().enumerate().map(|(u, up)| {
                    [
                        s.name.clone(),
                        format!("{u}:{}", up.name),
                        s.netns.clone(),
                        format!("{}/{}", up.addr, up.prefix_len),
                        up.gateway.to_string(),
                        up.impairment.to_string(),
                    ]
                })
            })
            .collect();
        let header =
            ["SITE", "UPLINK", "NAMESPACE", "ADDRESS", "GATEWAY", "IMPAIRMENT"].map(String::from);
        let mut widths = header.clone().map(|h| h.len());
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.len());
            }
        }
        for r in std::iter::once(&header).chain(&rows) {
            let line: Vec<String> = r.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
            writeln!(f, "{}", line.join("  ").trim_end())?;
        }
        Ok(())
    }
}
