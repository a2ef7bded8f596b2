//! Who a member is: its metadata ([`MemberInfo`]) and the foca identity
//! wrapping it ([`MemberId`]).
//!
//! The metadata travels *inside* the identity. SWIM identities are carried in
//! every header and every membership update, so a member that joins late learns
//! the metadata of everyone from the ordinary feed, with no second
//! dissemination protocol (foca's custom broadcasts are spread a bounded number
//! of times and never reach members that join later). The price is size: an
//! identity is about 90 bytes on the wire, so a 1400-byte datagram carries
//! about a dozen updates. Metadata changes are identity changes: a member bumps
//! [`MemberInfo::generation`] and foca renames it everywhere.

use std::net::SocketAddr;
use std::sync::Arc;

use weft_types::{PublicKey, SiteId};

/// The role a site plays in the mesh.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// An ordinary site (branch, region, homelab).
    Site,
    /// A hub that other sites prefer to route through.
    Hub,
    /// A relay for sites that cannot reach each other directly.
    Relay,
}

impl Role {
    pub(crate) fn to_wire(self) -> u8 {
        match self {
            Self::Site => 0,
            Self::Hub => 1,
            Self::Relay => 2,
        }
    }

    pub(crate) fn from_wire(b: u8) -> Option<Self> {
        match b {
            0 => Some(Self::Site),
            1 => Some(Self::Hub),
            2 => Some(Self::Relay),
            _ => None,
        }
    }
}

/// What every member tells the mesh about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    /// The site's mesh-wide name; the key of membership.
    pub site: SiteId,
    /// Restart counter: persist it and bump it on every start, so a restarted
    /// site wins over its old identity and its datagram counters start above
    /// the ones peers remember. Foca's `renew` bumps it when the cluster
    /// declared this site down.
    pub generation: u32,
    /// The site's role.
    pub role: Role,
    /// Region name (at most 255 bytes).
    pub region: String,
    /// Cluster name (at most 255 bytes).
    pub cluster: String,
    /// Agent version (at most 255 bytes).
    pub version: String,
    /// Where this member receives gossip datagrams.
    pub gossip: SocketAddr,
    /// WireGuard endpoints, one per uplink (at most [`MemberInfo::MAX_ENDPOINTS`]).
    pub endpoints: Vec<SocketAddr>,
    /// The site's WireGuard public key.
    pub wg_public_key: PublicKey,
}

impl MemberInfo {
    /// Most endpoints one member may announce.
    pub const MAX_ENDPOINTS: usize = 16;
    /// Longest region, cluster or version string, in bytes.
    pub const MAX_TEXT: usize = 255;

    /// A member of role [`Role::Site`] with empty text fields and no endpoints.
    pub fn new(site: SiteId, gossip: SocketAddr, wg_public_key: PublicKey) -> Self {
        Self {
            site,
            generation: 0,
            role: Role::Site,
            region: String::new(),
            cluster: String::new(),
            version: String::new(),
            gossip,
            endpoints: Vec::new(),
            wg_public_key,
        }
    }

    /// Why this metadata cannot be sent, if it cannot.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        if self.region.len() > Self::MAX_TEXT {
            return Err("region longer than 255 bytes");
        }
        if self.cluster.len() > Self::MAX_TEXT {
            return Err("cluster longer than 255 bytes");
        }
        if self.version.len() > Self::MAX_TEXT {
            return Err("version longer than 255 bytes");
        }
        if self.endpoints.len() > Self::MAX_ENDPOINTS {
            return Err("more than 16 endpoints");
        }
        Ok(())
    }
}

/// A member as foca sees it: cheap to clone (shared metadata). The gossip
/// address is kept inline because foca finds members by a linear scan over
/// `addr()`; reading it without chasing the pointer keeps that scan in cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberId {
    addr: SocketAddr,
    info: Arc<MemberInfo>,
}

impl MemberId {
    pub(crate) fn new(info: MemberInfo) -> Self {
        Self { addr: info.gossip, info: Arc::new(info) }
    }

    /// The member's metadata.
    pub fn info(&self) -> &MemberInfo {
        &self.info
    }

    pub(crate) fn shared(&self) -> Arc<MemberInfo> {
        Arc::clone(&self.info)
    }

    pub(crate) fn into_shared(self) -> Arc<MemberInfo> {
        self.info
    }
}

impl foca::Identity for MemberId {
    /// The gossip address: foca accepts an announcement addressed to any
    /// identity with our address, which is what lets `join` name a seed by
    /// address alone. The signed site id is checked separately on every
    /// datagram.
    type Addr = SocketAddr;

    /// A site declared down comes back with the next generation.
    fn renew(&self) -> Option<Self> {
        let mut next = (*self.info).clone();
        next.generation = next.generation.checked_add(1)?;
        Some(Self::new(next))
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.info.generation > adversary.info.generation
    }
}
