//! The GTM document: global services, their endpoints, and the shifts
//! acting on them. The control plane stores one [`GtmDoc`] and publishes it
//! to every site; DNS sites answer from it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use weft_types::IpPrefix;

use crate::shift::Shift;

/// Most services in one document.
pub const MAX_SERVICES: usize = 256;
/// Most endpoints of one service.
pub const MAX_ENDPOINTS: usize = 64;
/// Most shifts kept (finished ones beyond this are forgotten, oldest first).
pub const MAX_SHIFTS: usize = 64;

/// Why a service or a document was refused. Nothing changes on a refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A name is not a DNS label (`a-z 0-9 -`, 1 to 63, alphanumeric ends).
    #[error(
        "{what} {name:?} is not a DNS label (1 to 63 of a-z 0-9 -, starting and ending alphanumeric)"
    )]
    Label {
        /// What the name names.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A value is out of its range.
    #[error("{0}")]
    Range(String),
    /// Two endpoints of one service share an id.
    #[error("service {service:?} has two endpoints with id {id:?}")]
    DuplicateEndpoint {
        /// The service.
        service: String,
        /// The repeated id.
        id: String,
    },
    /// Too many of something.
    #[error("too many {what} (at most {max})")]
    TooMany {
        /// What.
        what: &'static str,
        /// The limit.
        max: usize,
    },
}

/// Whether `s` is a DNS label Weft accepts for names (lower case).
pub fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn label(what: &'static str, name: &str) -> Result<(), ModelError> {
    if is_label(name) { Ok(()) } else { Err(ModelError::Label { what, name: name.to_owned() }) }
}

/// How an endpoint's health is checked (by DNS sites for answers, by the
/// leader for canary SLO gates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Check {
    /// A TCP connect to the endpoint's address and port.
    Tcp,
    /// An HTTP/1.1 GET of `path`; 2xx and 3xx are healthy, anything else
    /// is an error.
    Http {
        /// Starts with `/`.
        path: String,
    },
}

/// A service's health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// What is checked.
    pub check: Check,
    /// How often, ms (200 to 3 600 000).
    pub interval_ms: u64,
    /// How long one check may take, ms (100 to 60 000, at most the interval).
    pub timeout_ms: u64,
    /// Consecutive failures that make an endpoint unhealthy (1 to 10).
    pub fall: u32,
    /// Consecutive successes that make it healthy again (1 to 10).
    pub rise: u32,
}

impl HealthCheck {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), ModelError> {
        if let Check::Http { path } = &self.check
            && (!path.starts_with('/') || path.len() > 256 || path.chars().any(char::is_whitespace))
        {
            return Err(ModelError::Range(format!(
                "health check path {path:?} must start with / and have no spaces (at most 256 bytes)"
            )));
        }
        if !(200..=3_600_000).contains(&self.interval_ms) {
            return Err(ModelError::Range(
                "health check interval_ms must be 200 to 3600000".into(),
            ));
        }
        if !(100..=60_000).contains(&self.timeout_ms) || self.timeout_ms > self.interval_ms {
            return Err(ModelError::Range(
                "health check timeout_ms must be 100 to 60000 and at most interval_ms".into(),
            ));
        }
        if !(1..=10).contains(&self.fall) || !(1..=10).contains(&self.rise) {
            return Err(ModelError::Range("health check fall and rise must be 1 to 10".into()));
        }
        Ok(())
    }
}

/// One place a global service runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Unique within the service (a DNS label), e.g. `eu-1`.
    pub id: String,
    /// The site it runs at.
    pub site: String,
    /// The region it serves (a DNS label), e.g. `eu`.
    pub region: String,
    /// The address answers name (A or AAAA).
    pub address: IpAddr,
    /// The port health checks use.
    pub port: u16,
    /// Relative share among equally near endpoints (0 to 10 000; 0: no
    /// traffic unless it is the last healthy one).
    pub weight: u32,
    /// Answers per second it should take at most (0: unlimited). Past it,
    /// answers spill to the next nearest endpoint.
    pub capacity_qps: u32,
    /// The version it runs (a DNS label), which canary and blue/green
    /// shifts select by.
    pub version: String,
}

/// A name, served by endpoints in several sites.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalService {
    /// The first label of its name (`app` is `app.ZONE.` on every DNS site).
    pub name: String,
    /// Its endpoints.
    pub endpoints: Vec<Endpoint>,
    /// Answer TTL, seconds (none: the DNS site's default).
    #[serde(default)]
    pub ttl: Option<u32>,
    /// The version that takes traffic outside any shift (none: every
    /// version). A finished canary or blue/green switch sets it.
    #[serde(default)]
    pub serving: Option<String>,
    /// Its health check (none: endpoints are healthy while their site is
    /// reachable).
    #[serde(default)]
    pub check: Option<HealthCheck>,
    /// A prefix announced by anycast from the sites serving it.
    #[serde(default)]
    pub anycast: Option<IpPrefix>,
}

impl GlobalService {
    /// Checks names, ranges and duplicates.
    pub fn validate(&self) -> Result<(), ModelError> {
        label("service name", &self.name)?;
        if self.endpoints.is_empty() {
            return Err(ModelError::Range(format!("service {:?} has no endpoints", self.name)));
        }
        if self.endpoints.len() > MAX_ENDPOINTS {
            return Err(ModelError::TooMany { what: "endpoints", max: MAX_ENDPOINTS });
        }
        let mut ids = BTreeSet::new();
        for e in &self.endpoints {
            label("endpoint id", &e.id)?;
            label("region", &e.region)?;
            label("version", &e.version)?;
            if e.site.is_empty() || e.site.len() > 63 {
                return Err(ModelError::Range(format!(
                    "endpoint {:?}: site must be 1 to 63 bytes",
                    e.id
                )));
            }
            if e.weight > 10_000 {
                return Err(ModelError::Range(format!(
                    "endpoint {:?}: weight must be 0 to 10000",
                    e.id
                )));
            }
            if e.port == 0 {
                return Err(ModelError::Range(format!(
                    "endpoint {:?}: port must be 1 to 65535",
                    e.id
                )));
            }
            if !ids.insert(e.id.as_str()) {
                return Err(ModelError::DuplicateEndpoint {
                    service: self.name.clone(),
                    id: e.id.clone(),
                });
            }
        }
        if let Some(ttl) = self.ttl
            && !(1..=86_400).contains(&ttl)
        {
            return Err(ModelError::Range("ttl must be 1 to 86400 seconds".into()));
        }
        if let Some(v) = &self.serving {
            label("serving version", v)?;
        }
        if let Some(c) = &self.check {
            c.validate()?;
        }
        Ok(())
    }

    /// The versions its endpoints run.
    pub fn versions(&self) -> BTreeSet<&str> {
        self.endpoints.iter().map(|e| e.version.as_str()).collect()
    }
}

/// Everything GTM: what the control plane stores at `/weft/gtm/doc` and
/// publishes to every site.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GtmDoc {
    /// Services by name.
    pub services: BTreeMap<String, GlobalService>,
    /// Shifts, oldest first (finished ones kept for their history, up to
    /// [`MAX_SHIFTS`]).
    pub shifts: Vec<Shift>,
    /// The number the next shift gets.
    #[serde(default)]
    pub next_shift: u64,
}

impl GtmDoc {
    /// Adds or replaces a service.
    pub fn set_service(&mut self, s: GlobalService) -> Result<Option<GlobalService>, ModelError> {
        s.validate()?;
        if !self.services.contains_key(&s.name) && self.services.len() >= MAX_SERVICES {
            return Err(ModelError::TooMany { what: "services", max: MAX_SERVICES });
        }
        Ok(self.services.insert(s.name.clone(), s))
    }

    /// The shift with id `id`.
    pub fn shift(&self, id: &str) -> Option<&Shift> {
        self.shifts.iter().find(|s| s.id == id)
    }

    /// The shift with id `id`, to change it.
    pub fn shift_mut(&mut self, id: &str) -> Option<&mut Shift> {
        self.shifts.iter_mut().find(|s| s.id == id)
    }

    /// Forgets the oldest finished shifts beyond [`MAX_SHIFTS`].
    pub fn trim(&mut self) {
        while self.shifts.len() > MAX_SHIFTS {
            match self.shifts.iter().position(|s| !s.state.is_active(&s.kind)) {
                Some(i) => {
                    self.shifts.remove(i);
                }
                None => break,
            }
        }
    }
}
