//! [`NetlinkError`]: what failed, on which interface or prefix, and the errno.

use std::fmt;
use std::io;

/// The rtnetlink operation that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// Opening the rtnetlink socket.
    Open,
    /// Looking up an interface by name (`RTM_GETLINK`).
    GetLink,
    /// Setting an interface up (`RTM_NEWLINK`, `IFF_UP`).
    SetUp,
    /// Setting an interface's MTU (`RTM_NEWLINK`, `IFLA_MTU`).
    SetMtu,
    /// Adding an address (`RTM_NEWADDR`).
    AddAddress,
    /// Adding a route (`RTM_NEWROUTE`).
    AddRoute,
    /// Deleting a route (`RTM_DELROUTE`).
    DelRoute,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Open => "open",
            Op::GetLink => "look up interface",
            Op::SetUp => "set up",
            Op::SetMtu => "set mtu",
            Op::AddAddress => "add address",
            Op::AddRoute => "add route",
            Op::DelRoute => "delete route",
        })
    }
}

/// An rtnetlink request that failed. No variant leaves a request half-applied:
/// the kernel applies each request whole or not at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetlinkError {
    /// The netlink socket could not be opened, or sending or receiving on it
    /// failed; the request may or may not have been applied.
    #[error("rtnetlink socket ({op} {target}): {source}")]
    Socket {
        /// The operation under way.
        op: Op,
        /// What it was about, e.g. `10.1.0.0/16 dev wt0`.
        target: String,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// The kernel refused the request (unknown interface, bad prefix, no
    /// permission, ...); nothing was changed.
    #[error("{op} {target}: {source}")]
    Rejected {
        /// The operation refused.
        op: Op,
        /// What it was about, e.g. `interface "wt0"`.
        target: String,
        /// The errno the kernel returned.
        #[source]
        source: io::Error,
    },
    /// The kernel's reply could not be parsed; the request may or may not have
    /// been applied.
    #[error("{op} {target}: malformed rtnetlink reply: {detail}")]
    Malformed {
        /// The operation under way.
        op: Op,
        /// What it was about.
        target: String,
        /// What was wrong with the reply.
        detail: String,
    },
}

impl NetlinkError {
    /// The operation that failed.
    pub fn op(&self) -> Op {
        match self {
            NetlinkError::Socket { op, .. }
            | NetlinkError::Rejected { op, .. }
            | NetlinkError::Malformed { op, .. } => *op,
        }
    }

    /// The errno, when the failure came with one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Socket { source, .. } | NetlinkError::Rejected { source, .. } => {
                source.raw_os_error()
            }
            NetlinkError::Malformed { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejection_names_the_operation_the_target_and_the_errno() {
        let e = NetlinkError::Rejected {
            op: Op::AddRoute,
            target: "10.1.0.0/16 dev \"wt0\"".into(),
            source: io::Error::from_raw_os_error(libc::ENODEV),
        };
        let s = e.to_string();
        assert!(s.starts_with("add route 10.1.0.0/16 dev \"wt0\": "), "{s}");
        assert!(s.contains("os error 19"), "{s}");
        assert_eq!(e.errno(), Some(libc::ENODEV));
        assert_eq!(e.op(), Op::AddRoute);
    }
}
