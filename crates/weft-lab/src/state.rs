//! What a running lab is made of, as written to `/run/weft-lab/<lab>/state.json`.
//!
//! The state file is written *before* anything is created and updated as the lab
//! changes, so `down` can remove a half-built lab and a second process (the CLI)
//! can attach to a lab another one built.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{LabError, Result};
use crate::impairment::Impairment;

/// Directory holding one sub-directory per lab.
pub const STATE_ROOT: &str = "/run/weft-lab";

/// The state directory of a lab.
pub fn state_dir(lab: &str) -> PathBuf {
    Path::new(STATE_ROOT).join(lab)
}

/// The whole lab.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabState {
    /// The lab name; every namespace name starts with it.
    pub name: String,
    /// The internet namespace, where the emulator runs.
    pub inet_ns: String,
    /// Every uplink is diverted through the emulator, even when clean.
    pub via_emulator: bool,
    /// The sites, by index.
    pub sites: Vec<SiteState>,
    /// Where the emulator runs.
    pub emulator: EmulatorHost,
    /// PIDs of processes the lab started in its sites (killed by `down`).
    #[serde(default)]
    pub pids: Vec<u32>,
}

/// Where the emulator of a lab runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EmulatorHost {
    /// Not started (yet).
    None,
    /// A thread of the process with this PID (a test); it ends with that process.
    Thread {
        /// The owning process.
        pid: u32,
    },
    /// A daemon process of its own.
    Process {
        /// Its PID.
        pid: u32,
    },
}

/// One site.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SiteState {
    /// The site name.
    pub name: String,
    /// Its namespace.
    pub netns: String,
    /// Its uplinks, by index.
    pub uplinks: Vec<UplinkState>,
}

/// One uplink of a site.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UplinkState {
    /// The uplink name, also its interface name inside the site.
    pub name: String,
    /// The site's address on it.
    pub addr: Ipv4Addr,
    /// The gateway address (internet namespace end).
    pub gateway: Ipv4Addr,
    /// Prefix length of the uplink subnet.
    pub prefix_len: u8,
    /// The veth end's name in the internet namespace.
    pub inet_if: String,
    /// The current impairment.
    pub impairment: Impairment,
    /// Its packets are routed through the emulator now.
    pub diverted: bool,
}

impl LabState {
    /// Path of this lab's state file.
    pub fn path(&self) -> PathBuf {
        state_dir(&self.name).join("state.json")
    }

    /// Path of this lab's emulator control socket.
    pub fn control_socket(&self) -> PathBuf {
        state_dir(&self.name).join("control.sock")
    }

    /// Every namespace of the lab, internet namespace first.
    pub fn namespaces(&self) -> Vec<String> {
        std::iter::once(self.inet_ns.clone())
            .chain(self.sites.iter().map(|s| s.netns.clone()))
            .collect()
    }

    /// Writes the state file (atomically, through a temporary file).
    pub fn save(&self) -> Result<()> {
        let dir = state_dir(&self.name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| LabError::io(format!("creating {}", dir.display()), e))?;
        let path = self.path();
        let tmp = dir.join("state.json.tmp");
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| LabError::State { path: path.clone(), message: e.to_string() })?;
        std::fs::write(&tmp, text)
            .map_err(|e| LabError::io(format!("writing {}", tmp.display()), e))?;
        std::fs::rename(&tmp, &path)
            .map_err(|e| LabError::io(format!("writing {}", path.display()), e))
    }

    /// Reads the state file of lab `name`.
    pub fn load(name: &str) -> Result<Self> {
        let path = state_dir(name).join("state.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(LabError::NoSuchLab { name: name.to_owned(), path });
            }
            Err(e) => return Err(LabError::io(format!("reading {}", path.display()), e)),
        };
        serde_json::from_str(&text).map_err(|e| LabError::State { path, message: e.to_string() })
    }

    /// Names of all labs with a state directory.
    pub fn list() -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(STATE_ROOT)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("state.json").exists())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }
}
