//! Faults: what goes wrong, when, and for how long.

use std::time::Duration;

use weft_types::{Ratio, SiteId, UplinkId};

/// One `[[fault]]`: a change to the network at `at`, undone after `duration`
/// (the file's `for`) when one is given.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Unique name: the file's `name`, or `KIND#N` (N = its 1-based position
    /// among the faults).
    pub name: String,
    /// When it starts.
    pub at: Duration,
    /// `for`: how long until it is undone; `None` lasts to the end of the run.
    pub duration: Option<Duration>,
    /// What happens.
    pub kind: FaultKind,
}

impl Fault {
    /// When it is undone, if it is.
    pub fn end(&self) -> Option<Duration> {
        self.duration.map(|d| self.at + d)
    }

    /// When the network stops changing because of this fault: its end when it
    /// has one; for random link failures, the end of the window plus the
    /// longest failure; otherwise its start. `converged-within` assertions
    /// anchored on a fault count from here. Never after `run_end`.
    pub fn settled_at(&self, run_end: Duration) -> Duration {
        let t = match (&self.kind, self.end()) {
            (_, Some(end)) => end,
            (FaultKind::RandomLinkFailures(g), None) => self.at + g.over + g.max_lasting,
            (FaultKind::Flap { .. }, None) => run_end,
            (_, None) => self.at,
        };
        t.min(run_end)
    }
}

/// What a fault does. Uplink lists are sorted, without duplicates, and never
/// empty (`uplink` omitted or `"all"` lists every uplink of the site).
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// `uplink-down`: the uplinks drop everything.
    UplinkDown {
        /// The site.
        site: SiteId,
        /// Its affected uplinks.
        uplinks: Vec<UplinkId>,
    },
    /// `brownout`: the uplinks stay up but lose packets and add delay.
    Brownout {
        /// The site.
        site: SiteId,
        /// Its affected uplinks.
        uplinks: Vec<UplinkId>,
        /// Loss added on top of the link's own.
        loss: Ratio,
        /// Delay added on top of the link's own.
        delay: Duration,
        /// Jitter added on top of the link's own.
        jitter: Duration,
    },
    /// `flap`: from `at`, the uplinks go down for `down` once every `every`,
    /// until the fault's end (or the run's).
    Flap {
        /// The site.
        site: SiteId,
        /// Its affected uplinks.
        uplinks: Vec<UplinkId>,
        /// How long each outage lasts (shorter than `every`).
        down: Duration,
        /// Period of the outages.
        every: Duration,
    },
    /// `partition`: sites in different groups cannot reach each other over
    /// any uplink. The groups cover every site and do not overlap: sites the
    /// file does not list form one more group of their own.
    Partition {
        /// At least two non-empty groups.
        groups: Vec<Vec<SiteId>>,
    },
    /// `crash`: the site's agent stops; it restarts (empty state) when the
    /// fault ends.
    Crash {
        /// The site.
        site: SiteId,
    },
    /// `crash-leader`: whichever controller leads at that instant (believes
    /// it leads; see [`super::Control`]) crashes, site and all; it restarts
    /// when the fault ends. Nothing happens if no controller leads then.
    /// Needs a `[control]` table.
    CrashLeader,
    /// `delay`: extra one-way delay on the uplinks, no loss.
    Delay {
        /// The site.
        site: SiteId,
        /// Its affected uplinks.
        uplinks: Vec<UplinkId>,
        /// Delay added on top of the link's own.
        delay: Duration,
    },
    /// `random-link-failures`: a generator of `uplink-down` faults, expanded
    /// from the seed by [`super::Scenario::faults_for_seed`].
    RandomLinkFailures(RandomLinkFailures),
}

impl FaultKind {
    /// The `kind` a scenario file writes for it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::UplinkDown { .. } => "uplink-down",
            Self::Brownout { .. } => "brownout",
            Self::Flap { .. } => "flap",
            Self::Partition { .. } => "partition",
            Self::Crash { .. } => "crash",
            Self::CrashLeader => "crash-leader",
            Self::Delay { .. } => "delay",
            Self::RandomLinkFailures(_) => "random-link-failures",
        }
    }

    /// The site a single-site fault acts on.
    pub fn site(&self) -> Option<&SiteId> {
        match self {
            Self::UplinkDown { site, .. }
            | Self::Brownout { site, .. }
            | Self::Flap { site, .. }
            | Self::Crash { site }
            | Self::Delay { site, .. } => Some(site),
            Self::Partition { .. } | Self::CrashLeader | Self::RandomLinkFailures(_) => None,
        }
    }

    /// For a partition: whether `a` and `b` are on different sides.
    pub fn separates(&self, a: &SiteId, b: &SiteId) -> bool {
        let Self::Partition { groups } = self else { return false };
        let side = |s: &SiteId| groups.iter().position(|g| g.contains(s));
        side(a) != side(b)
    }
}

/// `random-link-failures`: `count` uplink outages, each starting at a random
/// time in `[at, at + over)` on a random uplink of a random site (among
/// `sites`) and lasting a random time in `[min_lasting, max_lasting]`.
/// Outages may overlap; an uplink is down while any outage covering it lasts.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomLinkFailures {
    /// How many outages.
    pub count: u32,
    /// The window in which they start.
    pub over: Duration,
    /// Shortest outage.
    pub min_lasting: Duration,
    /// Longest outage.
    pub max_lasting: Duration,
    /// Candidate sites (every site unless the file narrows it).
    pub sites: Vec<SiteId>,
}
