//! Workload attestation: who is on the other end of the Workload API socket
//! (the kernel's `SO_PEERCRED`: uid, gid, pid; the executable from
//! `/proc/PID/exe`), and which configured identities that caller gets.

use std::path::PathBuf;

use weft_identity::SpiffeId;

/// The connecting process, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Its user id.
    pub uid: u32,
    /// Its group id.
    pub gid: u32,
    /// Its process id, when the kernel gave one.
    pub pid: Option<i32>,
    /// Its executable, when readable.
    pub exe: Option<PathBuf>,
}

impl Caller {
    /// The caller of `stream`.
    pub fn of(stream: &tokio::net::UnixStream) -> std::io::Result<Self> {
        let cred = stream.peer_cred()?;
        let pid = cred.pid();
        let exe = pid.and_then(|p| std::fs::read_link(format!("/proc/{p}/exe")).ok());
        Ok(Self { uid: cred.uid(), gid: cred.gid(), pid, exe })
    }
}

/// A `[[zerotrust.workload]]` entry: the identity and the selectors a caller
/// must all match (at least one is given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadRule {
    /// The SPIFFE ID it gets.
    pub id: SpiffeId,
    /// Required user id.
    pub uid: Option<u32>,
    /// Required group id.
    pub gid: Option<u32>,
    /// Required executable.
    pub path: Option<PathBuf>,
}

impl WorkloadRule {
    /// Whether `c` matches every selector of this rule.
    pub fn matches(&self, c: &Caller) -> bool {
        self.uid.is_none_or(|u| u == c.uid)
            && self.gid.is_none_or(|g| g == c.gid)
            && self.path.as_ref().is_none_or(|p| c.exe.as_ref() == Some(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_matches_only_callers_with_every_selector() {
        let rule = WorkloadRule {
            id: SpiffeId::parse("spiffe://t/web").unwrap(),
            uid: Some(1000),
            gid: None,
            path: Some(PathBuf::from("/usr/bin/web")),
        };
        let web = Caller { uid: 1000, gid: 5, pid: Some(1), exe: Some("/usr/bin/web".into()) };
        assert!(rule.matches(&web));
        assert!(!rule.matches(&Caller { uid: 0, ..web.clone() }));
        assert!(!rule.matches(&Caller { exe: Some("/bin/sh".into()), ..web.clone() }));
        assert!(!rule.matches(&Caller { exe: None, ..web }));
    }
}
