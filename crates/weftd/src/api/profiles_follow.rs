//! Clients registered here that the mesh-wide record (`/weft/profiles/
//! clients`) changed: the record is the word on which sites serve a client
//! exported at a controller, so when it is exported again with other
//! sites, each site follows within a second. A client the record no longer
//! names here is forgotten (its peer goes at once, its stored record too,
//! audited as the control plane's); one it still names keeps its session
//! and takes the new list of sites. Only a local record with the same name
//! and key as the mesh-wide one is touched: what the record does not know
//! is this site's own business.

use super::Ctx;
use super::unix_ms;
use crate::agent::{ControlMsg, MeshUpdate};
use crate::controlplane::clients::ClientsDoc;
use crate::store::{NewAudit, ProfileRecord};

/// Brings the clients registered here in step with `doc`'s sites.
pub(super) fn follow_sites(ctx: &Ctx, doc: &ClientsDoc, existing: &[ProfileRecord]) {
    let host = &ctx.profile_host.site;
    for rec in existing {
        let Some(c) = doc.clients.get(&rec.name) else { continue };
        if c.public_key != rec.public_key || c.sites == rec.sites {
            continue;
        }
        if c.sites.contains(host) {
            if let Err(e) = ctx.store.set_profile_sites(&rec.name, &c.sites) {
                crate::log_warn!(Peer, "mesh-wide client {}: its sites: {e:#}", rec.name);
            }
            continue;
        }
        match ctx.store.delete_profile(&rec.name) {
            Ok(Some(_)) => {}
            Ok(None) => continue,
            Err(e) => {
                crate::log_warn!(Peer, "mesh-wide client {}: forgetting it: {e:#}", rec.name);
                continue;
            }
        }
        if let Ok(site) = weft_types::SiteId::new(&rec.name) {
            let down = MeshUpdate::Down { site, reason: "unregistered".to_owned(), now: true };
            let _ = ctx.control.send(ControlMsg::Mesh(down));
        }
        let _ = ctx.store.audit(
            &NewAudit {
                who: format!("control plane ({})", c.actor),
                action: "profile.unregister".to_owned(),
                target: format!("client {}", rec.name),
                before: Some(format!("{} sites {}", rec.address, rec.sites.join(","))),
                after: None,
                detail: rec.public_key.clone(),
            },
            unix_ms(),
        );
        crate::log_info!(
            Peer,
            "mesh-wide client {} is no longer served here (its sites are now {})",
            rec.name,
            c.sites.join(",")
        );
    }
}
