//! What a lab consists of: sites, their uplinks and each uplink's initial
//! impairment; built from counts or read from a TOML file.
//!
//! ```toml
//! name = "demo"              # optional; --name overrides it
//! via_emulator = false       # optional; divert every uplink through the emulator
//!
//! [[site]]
//! name = "paris"
//! uplinks = 2                # shorthand: clean uplinks u0, u1
//!
//! [[site]]
//! name = "tokyo"
//! [[site.uplink]]
//! name = "fiber"
//! delay = "5ms"
//! rate = "100mbit"
//! [[site.uplink]]
//! name = "lte"
//! delay = "40ms"
//! jitter = "5ms"
//! loss = "1%"
//! down = false
//! ```
//!
//! Sites without a name are called `a`, `b`, `c`, … (`s27`, `s28`, … after `z`);
//! uplinks without a name `u0`, `u1`, ….

use std::path::Path;

use serde::Deserialize;

use crate::addressing::{MAX_SITES, MAX_UPLINKS};
use crate::error::{LabError, Result};
use crate::impairment::{Impairment, LinkChange};

/// Longest lab name, so namespace names stay readable.
pub const MAX_LAB_NAME: usize = 24;
/// Longest site name.
pub const MAX_SITE_NAME: usize = 24;

/// The shape of a lab.
#[derive(Clone, Debug, PartialEq)]
pub struct Topology {
    /// The lab name from the file, if it gave one.
    pub name: Option<String>,
    /// Divert every uplink through the emulator even when clean (for measuring it).
    pub via_emulator: bool,
    /// The sites, in order (index 0 first).
    pub sites: Vec<SiteSpec>,
}

/// One site of a [`Topology`].
#[derive(Clone, Debug, PartialEq)]
pub struct SiteSpec {
    /// The site name; its namespace is `<lab>-<name>`.
    pub name: String,
    /// Its uplinks, in order (index 0 first).
    pub uplinks: Vec<UplinkSpec>,
}

/// One uplink of a [`SiteSpec`].
#[derive(Clone, Debug, PartialEq)]
pub struct UplinkSpec {
    /// The uplink name; also its interface name inside the site.
    pub name: String,
    /// The impairment applied when the lab comes up.
    pub impairment: Impairment,
}

/// The default name of site `i`: `a` … `z`, then `s27`, `s28`, ….
pub fn default_site_name(i: usize) -> String {
    if i < 26 { char::from(b'a' + i as u8).to_string() } else { format!("s{}", i + 1) }
}

/// The default name of uplink `i`: `u0`, `u1`, ….
pub fn default_uplink_name(i: usize) -> String {
    format!("u{i}")
}

impl Topology {
    /// `sites` sites named `a`, `b`, … with `uplinks` clean uplinks each.
    pub fn uniform(sites: usize, uplinks: usize) -> Result<Self> {
        let t = Self {
            name: None,
            via_emulator: false,
            sites: (0..sites)
                .map(|s| SiteSpec {
                    name: default_site_name(s),
                    uplinks: (0..uplinks)
                        .map(|u| UplinkSpec {
                            name: default_uplink_name(u),
                            impairment: Impairment::NONE,
                        })
                        .collect(),
                })
                .collect(),
        };
        t.validate()?;
        Ok(t)
    }

    /// Reads a topology file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| LabError::TopologyFile {
            path: path.to_owned(),
            message: format!("cannot read: {e}"),
        })?;
        Self::from_toml(&text)
            .map_err(|message| LabError::TopologyFile { path: path.to_owned(), message })
    }

    /// Parses a topology from TOML text; the error message carries line:column.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let file: TopologyFile = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|s| line_col(text, s.start)).unwrap_or_default();
            format!("{at}{}", e.message())
        })?;
        let mut sites = Vec::new();
        for (s, site) in file.site.into_iter().enumerate() {
            let name = site.name.unwrap_or_else(|| default_site_name(s));
            let mut uplinks = Vec::new();
            if let Some(n) = site.uplinks {
                if !site.uplink.is_empty() {
                    return Err(format!(
                        "site {name:?}: give either `uplinks = N` or [[site.uplink]] tables, not both"
                    ));
                }
                uplinks.extend((0..n).map(|u| UplinkSpec {
                    name: default_uplink_name(u),
                    impairment: Impairment::NONE,
                }));
            }
            for (u, up) in site.uplink.into_iter().enumerate() {
                let impairment = up.impairment(text)?;
                uplinks.push(UplinkSpec {
                    name: up.name.unwrap_or_else(|| default_uplink_name(u)),
                    impairment,
                });
            }
            sites.push(SiteSpec { name, uplinks });
        }
        let t = Self { name: file.name, via_emulator: file.via_emulator, sites };
        t.validate().map_err(|e| e.to_string())?;
        Ok(t)
    }

    /// Checks counts and names.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(LabError::InvalidTopology(m));
        if self.sites.is_empty() {
            return bad("a lab needs at least one site".into());
        }
        if self.sites.len() > MAX_SITES {
            return bad(format!("{} sites; the address plan allows {MAX_SITES}", self.sites.len()));
        }
        if let Some(name) = &self.name {
            validate_lab_name(name)?;
        }
        for (i, site) in self.sites.iter().enumerate() {
            validate_site_name(&site.name)?;
            if self.sites[..i].iter().any(|o| o.name == site.name) {
                return bad(format!("two sites are named {:?}", site.name));
            }
            if site.uplinks.is_empty() {
                return bad(format!("site {:?} has no uplinks; it needs at least one", site.name));
            }
            if site.uplinks.len() > MAX_UPLINKS {
                return bad(format!(
                    "site {:?} has {} uplinks; the address plan allows {MAX_UPLINKS}",
                    site.name,
                    site.uplinks.len()
                ));
            }
            for (j, up) in site.uplinks.iter().enumerate() {
                validate_uplink_name(&up.name)?;
                if site.uplinks[..j].iter().any(|o| o.name == up.name) {
                    return bad(format!(
                        "site {:?} has two uplinks named {:?}",
                        site.name, up.name
                    ));
                }
                up.impairment.validate()?;
            }
        }
        Ok(())
    }
}

fn check_label(what: &'static str, name: &str, max: usize) -> Result<()> {
    let err = |reason: String| Err(LabError::InvalidName { what, name: name.to_owned(), reason });
    if name.is_empty() || name.len() > max {
        return err(format!("must be 1 to {max} bytes long"));
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        || name.starts_with('-')
        || name.ends_with('-')
    {
        return err("use lowercase letters, digits and '-' (not at either end)".into());
    }
    Ok(())
}

/// Checks a lab name: 1–24 bytes of `a-z`, `0-9`, `-`.
pub fn validate_lab_name(name: &str) -> Result<()> {
    check_label("lab", name, MAX_LAB_NAME)
}

/// Checks a site name: 1–24 bytes of `a-z`, `0-9`, `-`, and not `inet`.
pub fn validate_site_name(name: &str) -> Result<()> {
    check_label("site", name, MAX_SITE_NAME)?;
    if name == "inet" {
        return Err(LabError::InvalidName {
            what: "site",
            name: name.into(),
            reason: "`inet` is the internet namespace's suffix".into(),
        });
    }
    Ok(())
}

/// Checks an uplink name: it becomes an interface name, so 1–15 bytes, not `lo`.
pub fn validate_uplink_name(name: &str) -> Result<()> {
    check_label("uplink", name, 15)?;
    if name == "lo" {
        return Err(LabError::InvalidName {
            what: "uplink",
            name: name.into(),
            reason: "`lo` is the loopback".into(),
        });
    }
    Ok(())
}

fn line_col(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{line}:{col}: ")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopologyFile {
    name: Option<String>,
    #[serde(default)]
    via_emulator: bool,
    #[serde(default)]
    site: Vec<SiteFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteFile {
    name: Option<String>,
    uplinks: Option<usize>,
    #[serde(default)]
    uplink: Vec<UplinkFile>,
}

type Field = Option<toml::Spanned<String>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UplinkFile {
    name: Option<String>,
    delay: Field,
    jitter: Field,
    loss: Field,
    rate: Field,
    #[serde(default)]
    down: bool,
}

impl UplinkFile {
    fn impairment(&self, text: &str) -> Result<Impairment, String> {
        let fields = [&self.delay, &self.jitter, &self.loss, &self.rate];
        let val = |f: &Field| f.as_ref().map(|s| s.get_ref().clone());
        let change = LinkChange {
            delay: val(&self.delay),
            jitter: val(&self.jitter),
            loss: val(&self.loss),
            rate: val(&self.rate),
            down: Some(self.down),
            clear: true,
        };
        change.apply(Impairment::NONE).map_err(|e| {
            // Point at the offending value.
            let field = match &e {
                LabError::InvalidImpairment { field, .. } => *field,
                _ => "",
            };
            let idx = ["delay", "jitter", "loss", "rate"].iter().position(|f| *f == field);
            let at = idx
                .and_then(|i| fields[i].as_ref())
                .map(|s| line_col(text, s.span().start))
                .unwrap_or_default();
            format!("{at}{e}")
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn uniform_topologies_get_default_names() {
        let t = Topology::uniform(3, 2).unwrap();
        let names: Vec<_> = t.sites.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(t.sites[2].uplinks[1].name, "u1");
        assert_eq!(default_site_name(26), "s27");
    }

    #[test]
    fn impossible_counts_are_refused() {
        assert!(matches!(Topology::uniform(0, 1), Err(LabError::InvalidTopology(_))));
        assert!(matches!(Topology::uniform(2, 0), Err(LabError::InvalidTopology(_))));
        assert!(matches!(Topology::uniform(255, 1), Err(LabError::InvalidTopology(_))));
        assert!(matches!(Topology::uniform(2, 64), Err(LabError::InvalidTopology(_))));
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(validate_lab_name("Lab").is_err());
        assert!(validate_lab_name("-x").is_err());
        assert!(validate_lab_name(&"x".repeat(25)).is_err());
        assert!(validate_lab_name("t-1a").is_ok());
        assert!(validate_site_name("inet").is_err());
        assert!(validate_uplink_name("a-very-long-uplink").is_err());
        assert!(validate_uplink_name("lo").is_err());
    }

    #[test]
    fn a_topology_file_names_sites_uplinks_and_impairments() {
        let t = Topology::from_toml(
            r#"
name = "demo"
[[site]]
name = "paris"
uplinks = 2
[[site]]
[[site.uplink]]
name = "fiber"
delay = "5ms"
[[site.uplink]]
name = "lte"
delay = "40ms"
jitter = "5ms"
loss = "1%"
rate = "20mbit"
down = true
"#,
        )
        .unwrap();
        assert_eq!(t.name.as_deref(), Some("demo"));
        assert_eq!(t.sites[0].uplinks.len(), 2);
        assert_eq!(t.sites[1].name, "b");
        let lte = &t.sites[1].uplinks[1];
        assert_eq!(lte.name, "lte");
        assert_eq!(lte.impairment.delay, Duration::from_millis(40));
        assert!(lte.impairment.down);
        assert_eq!(lte.impairment.rate.map(weft_types::Bandwidth::bps), Some(20_000_000));
    }

    #[test]
    fn topology_file_errors_say_where() {
        let err = Topology::from_toml("[[site]]\n[[site.uplink]]\ndelay = \"-4ms\"\n").unwrap_err();
        assert!(err.starts_with("3:9: invalid delay"), "{err}");
        let err = Topology::from_toml("[[site]]\nuplinkz = 2\n").unwrap_err();
        assert!(err.starts_with("2:1: "), "{err}");
        let err = Topology::from_toml(
            "[[site]]\nname = \"x\"\nuplinks = 1\n[[site]]\nname = \"x\"\nuplinks = 1\n",
        )
        .unwrap_err();
        assert!(err.contains("two sites"), "{err}");
    }
}
