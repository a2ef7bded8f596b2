//! The request and response types of Weft's REST API, versioned under `/api/v1`.
//!
//! The agent (`weftd`) serialises these and the CLI (`weft`) deserialises
//! them, so both sides agree by construction; every type also derives its
//! OpenAPI schema ([`utoipa::ToSchema`]) and the agent builds
//! `/api/v1/openapi.json` from the same definitions.
//!
//! What it does not do: no HTTP, no I/O, no clock. Units are in the field
//! names (`_ms`, `_pct`, `_bytes`, `_unix_ms`) so JSON consumers need no docs
//! to read them.
//!
//! # Layout
//! - [`common`]: [`ApiError`], [`Page`], [`Scope`], pagination query.
//! - [`sites`]: [`Site`], [`Peer`], [`Status`].
//! - [`paths`]: [`Path`], [`PathSample`], [`PathTestResult`].
//! - [`flows`]: [`Flow`], [`Route`], [`Topology`], [`Explanation`].
//! - [`events`]: [`Event`] and [`EventKind`], the live event stream.
//! - [`admin`]: [`TokenInfo`], [`AuditRecord`].
//! - [`log`]: [`LogSettings`], [`LogLevelSet`]: the agent's log level at run time.
//! - [`control`]: [`ControlStatus`], [`MeshPolicyStatus`], [`MeshPolicyChange`].
//! - [`shards`]: [`ShardStatus`], [`ShardPlan`], [`ShardSimulate`].
//! - [`mesh`]: [`MeshTokenCreate`], [`MeshToken`], [`MeshRevoke`], [`MeshStatus`].
//! - [`identity`]: [`IdentityList`], [`IdentityRevoke`]: zero-trust workload identities.
//! - [`gtm`]: [`GtmStatus`], [`GtmServiceSpec`], [`GtmShiftStart`], [`GtmExplanation`].
//! - [`registry`]: [`RegistrySite`], [`RegistryService`], [`RegistryChange`].
//! - [`ddos`]: [`DdosStatus`]: flood defence counters, detections, the nftables set.
//! - [`qos`]: [`QosStatus`]: every shaped uplink's scheduler lanes.
//! - [`profiles`]: [`ProfileCreate`], [`Profile`]: stock WireGuard clients a site serves.
//! - [`bgp`]: [`BgpStatus`]: what the BGP speaker announces and learnt.
#![forbid(unsafe_code)]

pub mod admin;
pub mod bgp;
pub mod common;
pub mod control;
pub mod ddos;
pub mod events;
pub mod flows;
pub mod gtm;
pub mod identity;
pub mod ipsec;
pub mod log;
pub mod mesh;
pub mod paths;
pub mod profiles;
pub mod qos;
pub mod registry;
pub mod shards;
pub mod sites;

pub use admin::{AuditRecord, TokenCreate, TokenCreated, TokenInfo};
pub use bgp::{BgpNeighbor, BgpStatus, LearntPrefix, SharedLearntPrefix};
pub use common::{ApiError, ListQuery, Page, Scope};
pub use control::{
    BundleCounters, CanaryStage, ControlAuditRecord, ControlStatus, MeshPolicyChange,
    MeshPolicyInForce, MeshPolicyStatus, RelayLimitsInForce, SitePolicyState,
};
pub use ddos::{DdosBlocked, DdosDestination, DdosDetection, DdosMitigation, DdosStatus};
pub use events::{Event, EventKind};
pub use flows::{
    Candidate, Explanation, Flow, Route, RouteChoice, Topology, TopologyEdge, TopologyNode,
};
pub use gtm::{
    GtmAnnouncement, GtmCandidate, GtmChange, GtmCheck, GtmEndpoint, GtmEndpointState,
    GtmExplanation, GtmService, GtmServiceSpec, GtmShift, GtmShiftLine, GtmShiftStart, GtmStatus,
};
pub use identity::{
    Identity, IdentityCaInit, IdentityChange, IdentityControl, IdentityGrant, IdentityList,
    IdentityRevoke, IdentityRevoked, IdentityService,
};
pub use ipsec::{IpsecClassRoute, IpsecGateway, IpsecStatus};
pub use log::{LogFormat, LogLevel, LogLevelSet, LogSettings};
pub use mesh::{MeshMember, MeshRevocation, MeshRevoke, MeshStatus, MeshToken, MeshTokenCreate};
pub use paths::{Path, PathSample, PathTestRequest, PathTestResult};
pub use profiles::{Profile, ProfileCreate, ProfileRevoked, ProfileSite};
pub use qos::{NewReservation, QosLane, QosStatus, QosUplink, Reservation, ReservationMade};
pub use registry::{
    HealthCheck, HealthCheckKind, LabelChange, RegistryChange, RegistryEvent, RegistryService,
    RegistrySite, ServiceProtocol, ServiceRegistration, SiteRegistration,
};
pub use shards::{ShardController, ShardMove, ShardPlan, ShardSimulate, ShardStatus, ShardVersion};
pub use sites::{Counter, Offload, Peer, Site, SiteState, Status};

/// The prefix every endpoint lives under.
pub const BASE: &str = "/api/v1";
