//! `[control]`: the controller sites and the store's site.

use std::collections::BTreeSet;

use toml::Spanned;
use weft_types::SiteId;

use super::check::Checker;
use super::raw::RawControl;
use crate::scenario::{Control, Topology};

pub(crate) fn control(
    c: &mut Checker<'_>,
    topology: &Topology,
    raw: &Spanned<RawControl>,
) -> Option<Control> {
    let raw = raw.get_ref();
    let mut controllers: Vec<SiteId> = Vec::new();
    let mut ok = true;
    if raw.controllers.get_ref().is_empty() {
        c.err(raw.controllers.span(), "`controllers` lists at least one site");
        ok = false;
    }
    let mut seen = BTreeSet::new();
    for t in raw.controllers.get_ref() {
        match c.site(t, topology) {
            Some(s) if !seen.insert(s.clone()) => {
                c.err(t.span(), format!("controller {s} is listed twice"));
                ok = false;
            }
            Some(s) => controllers.push(s),
            None => ok = false,
        }
    }
    let store = c.site(&raw.store, topology);
    if let Some(s) = &store
        && controllers.contains(s)
    {
        c.err(raw.store.span(), format!("the store's site {s} is also a controller: use another"));
        ok = false;
    }
    let store = store?;
    ok.then_some(Control { controllers, store })
}
