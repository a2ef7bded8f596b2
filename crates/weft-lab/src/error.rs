//! The one error type of the crate.

use std::path::PathBuf;

/// Why a lab operation failed.
///
/// Grouped by who is at fault: the environment (not root, missing tools), the caller
/// (bad names, bad values, unknown sites), the system commands the lab runs, and the
/// emulator. Every variant says what was wrong in its message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    // --- environment -------------------------------------------------------------
    /// The process is not root (labs need `CAP_NET_ADMIN` and `CAP_SYS_ADMIN`).
    /// Nothing was created.
    #[error("weft-lab needs root (effective uid is {euid}); run as root, e.g. with sudo")]
    NotRoot {
        /// The effective user id found.
        euid: u32,
    },
    /// The kernel or the environment does not offer network namespaces, veth or TUN.
    /// Nothing was created.
    #[error("no network namespace support here: {0}")]
    NoNamespaceSupport(String),
    /// A program the lab runs (`ip`, `tc`, ...) is not installed. Nothing was created.
    #[error("`{tool}` is not installed (Debian package {package}); run scripts/install-deps.sh")]
    MissingTool {
        /// The program.
        tool: &'static str,
        /// The Debian package providing it.
        package: &'static str,
    },

    // --- caller ------------------------------------------------------------------
    /// A lab of this name already exists (its namespaces or state directory are
    /// present). Nothing was created; `weft lab down --name NAME` removes the old one.
    #[error(
        "lab {name:?} already exists ({evidence}); remove it with `weft lab down --name {name}`"
    )]
    AlreadyExists {
        /// The lab name.
        name: String,
        /// What was found (a namespace or a state directory).
        evidence: String,
    },
    /// No lab of this name is running (no state file).
    #[error("no lab named {name:?} (no {path})")]
    NoSuchLab {
        /// The lab name.
        name: String,
        /// The state file that was looked for.
        path: PathBuf,
    },
    /// A lab, site or uplink name is malformed.
    #[error("invalid {what} name {name:?}: {reason}")]
    InvalidName {
        /// "lab", "site" or "uplink".
        what: &'static str,
        /// The offered name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The topology is impossible (no sites, too many uplinks, duplicate names, ...).
    #[error("invalid topology: {0}")]
    InvalidTopology(String),
    /// A topology file could not be read or parsed; the message carries line and column.
    #[error("{path}: {message}")]
    TopologyFile {
        /// The file.
        path: PathBuf,
        /// What was wrong, and where.
        message: String,
    },
    /// No site has this name or index.
    #[error("unknown site {site:?}; the lab's sites are {known}")]
    UnknownSite {
        /// What was asked for.
        site: String,
        /// The sites that exist, comma separated.
        known: String,
    },
    /// The site has no uplink of this index.
    #[error("uplink {index} is out of range: site {site:?} has {count} uplink(s), indexed from 0")]
    UplinkOutOfRange {
        /// The site.
        site: String,
        /// The index asked for.
        index: usize,
        /// How many uplinks the site has.
        count: usize,
    },
    /// The site has no uplink of this name.
    #[error("site {site:?} has no uplink named {uplink:?}; its uplinks are {known}")]
    UnknownUplink {
        /// The site.
        site: String,
        /// The name asked for.
        uplink: String,
        /// The uplinks that exist, comma separated.
        known: String,
    },
    /// An impairment value is impossible (negative delay, loss above 100 %, ...).
    /// The link was left unchanged.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidImpairment {
        /// "delay", "jitter", "loss" or "rate".
        field: &'static str,
        /// The offered value.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A `SITE:UPLINK` link reference did not parse.
    #[error("invalid link {0:?}: expected SITE:UPLINK, e.g. a:0 or paris:lte")]
    InvalidLinkRef(String),

    // --- system ------------------------------------------------------------------
    /// A command the lab ran failed. The lab may be half built: `down` removes it.
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        cmd: String,
        /// Its exit status.
        status: String,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// A system call or file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The lab's state file is unreadable.
    #[error("lab state {path}: {message}")]
    State {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },

    // --- emulator ------------------------------------------------------------------
    /// The WAN emulator did not start, did not answer, or refused a request.
    #[error("WAN emulator: {0}")]
    Emulator(String),
}

impl LabError {
    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = LabError> = std::result::Result<T, E>;
