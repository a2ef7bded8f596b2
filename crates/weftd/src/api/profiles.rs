//! Connection profiles (`/api/v1/profiles`, scope admin, audited): stock
//! WireGuard clients this site serves as run-time stock peers. Registering
//! stores the client (it survives a restart) and, when this site is one of
//! the client's sites, adds it to the running node. Deleting drops the
//! peer here at once; with `?everywhere=true` (what `weft profile revoke`
//! sends) the client's name also joins the mesh's signed revocation list
//! (through the control plane's leader on a controller, else on the CA
//! holder), which floods to every site: each drops the client and forgets
//! its record (`agent::control`'s `ClientsRevoked`).
//!
//! A client registered with `ipsec_psk` is also an IPsec client: the key
//! is stored with it (never returned, never logged), and
//! [`ipsec_clients`] hands the stored ones to `ipsec::clients`, which has
//! the agent's charon answer them.
//!
//! A client's view lists only the parts of the site's prefixes (and of
//! those it reaches) that the running policy lets the client's address
//! reach: the `AllowedIPs` `weft profile export` writes.

use std::net::IpAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use weft_api::{ApiError, Page, Profile, ProfileCreate, ProfileRevoked, ProfileSite};
use weft_types::{IpPrefix, PublicKey, SiteId};

use super::auth::Caller;
use super::error::{ApiResult, B, Failure, P, Q};
use super::{Ctx, blocking, unix_ms};
use crate::agent::{ControlMsg, MeshUpdate};
use crate::controlplane::clients::{self, ClientsAsk};
use crate::controlplane::records::Ask;
use crate::profiles::allowed::narrow;
use crate::profiles::{derive_address, peer_spec};
use crate::store::{NewAudit, ProfileRecord, ProfileRefused};

/// Most sites one client may name.
const MAX_SITES: usize = 64;

/// Registered clients, by name.
#[utoipa::path(get, path = "/api/v1/profiles", tag = "profiles",
    responses((status = 200, body = Page<Profile>), (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn list(State(ctx): State<Arc<Ctx>>) -> ApiResult<Json<Page<Profile>>> {
    let store = ctx.store.clone();
    let all = blocking(move || store.profiles()).await?;
    let items: Vec<Profile> = all.iter().map(|p| view(&ctx, p)).collect();
    let total = items.len() as u64;
    Ok(Json(Page { items, next_cursor: None, total }))
}

/// One registered client.
#[utoipa::path(get, path = "/api/v1/profiles/{name}", tag = "profiles",
    params(("name" = String, Path, description = "client name", pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", max_length = 63)),
    responses((status = 200, body = Profile), (status = 404, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn show(
    State(ctx): State<Arc<Ctx>>,
    P(name): P<String>,
) -> ApiResult<Json<Profile>> {
    let store = ctx.store.clone();
    let all = blocking(move || store.profiles()).await?;
    let found = all.iter().find(|p| p.name == name);
    found
        .map(|p| Json(view(&ctx, p)))
        .ok_or_else(|| Failure::not_found(format!("no client {name:?}")))
}

/// Registers a client; this site serves it at once if it is one of its sites.
#[utoipa::path(post, path = "/api/v1/profiles", tag = "profiles", request_body = ProfileCreate,
    responses((status = 201, body = Profile), (status = 400, description = "not a JSON object of this shape", body = ApiError),
        (status = 422, description = "a name, key, site or address that is not valid", body = ApiError),
        (status = 409, description = "a name, key or address in use, or the pool is full", body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 413, body = ApiError),
        (status = 503, description = "`mesh`: the control plane has no leader, or did not answer in time", body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn create(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    headers: axum::http::HeaderMap,
    B(body): B,
) -> ApiResult<Response> {
    let req: ProfileCreate =
        serde_json::from_value(super::error::json_object(&body)?).map_err(|e| {
            Failure::bad_request(format!(
                "body must be {{\"name\", \"public_key\", \"sites\", \"address\"?, \"mesh\"?, \"ipsec_psk\"?}}: {e}"
            ))
        })?;
    let key = check(&ctx, &req)?;
    let store = ctx.store.clone();
    let existing = {
        let store = store.clone();
        blocking(move || store.profiles()).await?
    };
    // A client registered mesh-wide stays so when exported again, even
    // with one site left: the record is where its sites change.
    let mesh = req.mesh.unwrap_or_else(|| {
        ctx.plane_ctl.is_some() && registered_mesh_wide(&ctx, &req.name, &key.to_base64())
    });
    if mesh && ctx.plane_ctl.is_none() {
        return Err(super::control::not_a_controller());
    }
    // The same client again keeps its own address: it is not taken.
    let others: Vec<ProfileRecord> = existing
        .iter()
        .filter(|p| !(p.name == req.name && p.public_key == key.to_base64()))
        .cloned()
        .collect();
    let mut taken = taken_prefixes(&ctx, &others, (&req.name, &key.to_base64()));
    taken.extend(mesh_client_addresses(&ctx, &req.name));
    let address = match &req.address {
        Some(a) => {
            let ip = a
                .strip_suffix("/32")
                .unwrap_or(a)
                .parse::<std::net::Ipv4Addr>()
                .map_err(|_| invalid(format!("address {a:?} is not an IPv4 address")))?;
            if let Some(t) = taken.iter().find(|t| t.contains(IpAddr::V4(ip))) {
                return Err(Failure::conflict(format!("address {ip} is in {t}, already in use")));
            }
            ip
        }
        None => derive_address(ctx.profile_host.pool, &key, &taken).ok_or_else(|| {
            Failure::conflict(format!("the client pool {} is full", ctx.profile_host.pool))
        })?,
    };
    let mut sites: Vec<String> = Vec::new();
    for s in &req.sites {
        if !sites.contains(s) {
            sites.push(s.clone());
        }
    }
    let mut record = ProfileRecord {
        name: req.name.clone(),
        public_key: key.to_base64(),
        address: format!("{address}/32"),
        sites,
        created_unix_ms: unix_ms(),
        ipsec_psk: req.ipsec_psk.as_ref().map(|k| k.to_ascii_lowercase()),
    };
    if mesh {
        let ask = Ask::Profile(ClientsAsk::Register {
            name: record.name.clone(),
            public_key: record.public_key.clone(),
            address: record.address.clone(),
            sites: record.sites.clone(),
        });
        let request = super::control::request_id(&headers)?;
        let kv = super::control::submit_raw(&ctx, request, ask, &caller.who).await?;
        let client = clients::answer_of(&kv).map_err(super::control::refused)?;
        // Registered before: it keeps its address everywhere.
        record.address = client.address;
        if let Some(here) = existing.iter().find(|p| p.name == record.name)
            && here.public_key == record.public_key
        {
            let mut answer = view(&ctx, here);
            answer.mesh_sites = mesh_sites(&ctx, &record);
            return Ok((StatusCode::CREATED, Json(answer)).into_response());
        }
    }
    let (rec, who) = (record.clone(), caller.who.clone());
    blocking(move || {
        if let Err(e) = store.insert_profile(&rec) {
            return Ok(Err(match e.downcast_ref::<ProfileRefused>() {
                Some(r) => Failure::conflict(r.to_string()),
                None => Failure::internal(&e),
            }));
        }
        store.audit(
            &NewAudit {
                who,
                action: "profile.register".to_owned(),
                target: format!("client {}", rec.name),
                before: None,
                after: Some(format!(
                    "{} sites {}{}",
                    rec.address,
                    rec.sites.join(","),
                    if rec.ipsec_psk.is_some() { " ipsec" } else { "" }
                )),
                detail: rec.public_key.clone(),
            },
            rec.created_unix_ms,
        )?;
        Ok(Ok(()))
    })
    .await??;
    if record.sites.contains(&ctx.profile_host.site)
        && let Some(spec) = peer_spec(&record)
    {
        let _ = ctx.control.send(ControlMsg::Mesh(MeshUpdate::Up(spec)));
        ctx.wait_for_publication().await;
    }
    let mut answer = view(&ctx, &record);
    if mesh {
        answer.mesh_sites = mesh_sites(&ctx, &record);
    }
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// Whether the mesh-wide record holds client `name` with `public_key`.
fn registered_mesh_wide(ctx: &Ctx, name: &str, public_key: &str) -> bool {
    let doc = ctx.plane.clients.read().map(|c| c.1.clone()).unwrap_or_default();
    doc.clients.get(name).is_some_and(|c| c.public_key == public_key)
}

/// The addresses of clients registered mesh-wide (other than `name`): a
/// new client's address stays out of them.
fn mesh_client_addresses(ctx: &Ctx, name: &str) -> Vec<IpPrefix> {
    let doc = ctx.plane.clients.read().map(|c| c.1.clone()).unwrap_or_default();
    doc.clients
        .iter()
        .filter(|(n, _)| n.as_str() != name)
        .filter_map(|(_, c)| IpPrefix::parse(&c.address).ok())
        .collect()
}

/// The sites of `record` other than this one, as this site sees them
/// (live mesh peers: key, endpoints, own prefixes, and the prefixes
/// reachable through them), narrowed by the running policy like this
/// site's own view.
fn mesh_sites(ctx: &Ctx, record: &ProfileRecord) -> Vec<ProfileSite> {
    let s = ctx.status.get();
    let host = &ctx.profile_host;
    let client = IpPrefix::parse(&record.address).ok();
    let policy = ctx.policy.active();
    let cut = |list: &[IpPrefix]| -> Vec<String> {
        match client {
            Some(c) => {
                narrow(&policy.policy, c.addr(), list).iter().map(ToString::to_string).collect()
            }
            None => list.iter().map(ToString::to_string).collect(),
        }
    };
    let sites = s.peers.iter().filter(|p| !p.gone && !p.removed && !p.client);
    let parse = |v: &[String]| -> Vec<IpPrefix> {
        v.iter().filter_map(|x| IpPrefix::parse(x).ok()).collect()
    };
    record
        .sites
        .iter()
        .filter(|name| **name != host.site)
        .filter_map(|name| {
            let peer = sites.clone().find(|p| p.name == *name)?;
            let own = parse(&peer.prefixes);
            let mut reachable: Vec<IpPrefix> = host.prefixes.clone();
            for other in sites.clone().filter(|p| p.name != *name) {
                for x in parse(&other.prefixes) {
                    if !own.contains(&x) && !reachable.contains(&x) {
                        reachable.push(x);
                    }
                }
            }
            Some(ProfileSite {
                name: name.clone(),
                public_key: peer.public_key.clone(),
                endpoints: peer.endpoints.iter().map(ToString::to_string).collect(),
                prefixes: cut(&own),
                reachable: cut(&reachable),
            })
        })
        .collect()
}

/// Registers here the clients of the mesh-wide record that name this site
/// and are not registered here yet (as an export against this agent would,
/// audited as the control plane's), so they are served; called every
/// second. A revoked name, or one that collides with a peer, is skipped
/// and logged. Clients registered here whose mesh-wide sites changed follow
/// them first (`profiles_follow`): one the record no longer names here is
/// forgotten.
pub(crate) fn sync_mesh_clients(ctx: &Ctx, said: &mut std::collections::BTreeSet<String>) {
    let doc = ctx.plane.clients.read().map(|c| c.1.clone()).unwrap_or_default();
    if doc.clients.is_empty() {
        return;
    }
    let host = &ctx.profile_host;
    let Ok(existing) = ctx.store.profiles() else { return };
    super::profiles_follow::follow_sites(ctx, &doc, &existing);
    let mine: Vec<_> = doc.clients.iter().filter(|(_, c)| c.sites.contains(&host.site)).collect();
    let revoked = ctx.links.revoked.read().map(|r| r.clone()).unwrap_or_default();
    let status = ctx.status.get();
    for (name, c) in mine {
        if existing.iter().any(|p| p.name == *name) || revoked.contains(name.as_str()) {
            continue;
        }
        let clash = status.peers.iter().filter(|p| !p.gone).find(|p| {
            (p.name == *name && !p.client) || (p.public_key == c.public_key && p.name != *name)
        });
        if let Some(p) = clash {
            if said.insert(name.clone()) {
                crate::log_warn!(
                    Peer,
                    "mesh-wide client {name} not served here: it collides with peer {}",
                    p.name
                );
            }
            continue;
        }
        let record = ProfileRecord {
            name: name.clone(),
            public_key: c.public_key.clone(),
            address: c.address.clone(),
            sites: c.sites.clone(),
            created_unix_ms: unix_ms(),
            // the mesh-wide record carries no IPsec key
            ipsec_psk: None,
        };
        if let Err(e) = ctx.store.insert_profile(&record) {
            if said.insert(name.clone()) {
                crate::log_warn!(Peer, "mesh-wide client {name} not served here: {e:#}");
            }
            continue;
        }
        let _ = ctx.store.audit(
            &NewAudit {
                who: format!("control plane ({})", c.actor),
                action: "profile.register".to_owned(),
                target: format!("client {name}"),
                before: None,
                after: Some(format!("{} sites {}", record.address, record.sites.join(","))),
                detail: record.public_key.clone(),
            },
            record.created_unix_ms,
        );
        if let Some(spec) = peer_spec(&record) {
            let _ = ctx.control.send(ControlMsg::Mesh(MeshUpdate::Up(spec)));
        }
        crate::log_info!(Peer, "mesh-wide client {name} ({}) registered here", record.address);
    }
}

/// `?everywhere=` of `DELETE /profiles/{name}`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct RevokeQuery {
    /// Also revoke the client mesh-wide: its name joins the mesh's signed
    /// revocation list (through the leader on a controller, else on the CA
    /// holder), and every site that serves it drops it.
    everywhere: Option<bool>,
}

/// Revokes a client: here (its peer goes at once, its record too) and, with
/// `everywhere=true`, in the whole mesh.
#[utoipa::path(delete, path = "/api/v1/profiles/{name}", tag = "profiles",
    params(("name" = String, Path, description = "client name", pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", max_length = 63), RevokeQuery),
    responses((status = 200, body = ProfileRevoked), (status = 400, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "the name is a site's, not a client's", body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn revoke(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    headers: axum::http::HeaderMap,
    P(name): P<String>,
    Q(q): Q<RevokeQuery>,
) -> ApiResult<Json<ProfileRevoked>> {
    let Ok(site) = SiteId::new(&name) else {
        return Err(Failure::not_found(format!("no client {name:?}")));
    };
    let everywhere = q.everywhere.unwrap_or(false);
    if everywhere {
        // The revocation list names site ids: never let it name a site.
        let s = ctx.status.get();
        let a_site = name == ctx.profile_host.site
            || s.peers.iter().any(|p| p.name == name && !p.client && !p.gone);
        if a_site {
            return Err(Failure::conflict(format!("{name} is a site, not a client")));
        }
    }
    let store = ctx.store.clone();
    let (n, who) = (name.clone(), caller.who.clone());
    let gone = blocking(move || {
        let Some(rec) = store.delete_profile(&n)? else { return Ok(None) };
        store.audit(
            &NewAudit {
                who,
                action: "profile.revoke".to_owned(),
                target: format!("client {n}"),
                before: Some(format!("{} sites {}", rec.address, rec.sites.join(","))),
                after: None,
                detail: rec.public_key.clone(),
            },
            unix_ms(),
        )?;
        Ok(Some(rec))
    })
    .await?;
    if gone.is_some() {
        let down = MeshUpdate::Down { site, reason: "revoked".to_owned(), now: true };
        let _ = ctx.control.send(ControlMsg::Mesh(down));
        ctx.wait_for_publication().await;
    }
    let (mut mesh_list_version, mut mesh_refused) = (None, None);
    if everywhere {
        match super::mesh::revoke_site(&ctx, caller.who.clone(), &headers, name.clone(), true).await
        {
            Ok(r) => mesh_list_version = Some(r.list_version),
            Err(Failure(_, e)) => mesh_refused = Some(format!("{}: {}", e.code, e.message)),
        }
    }
    if gone.is_none() && mesh_list_version.is_none() {
        return Err(Failure::not_found(match mesh_refused {
            Some(why) => format!("no client {name:?} here, and not revoked mesh-wide ({why})"),
            None => format!("no client {name:?}"),
        }));
    }
    let here = gone.map(|g| view(&ctx, &g));
    Ok(Json(ProfileRevoked { name, here, mesh_list_version, mesh_refused }))
}

/// 422 `invalid_profile`: well-formed JSON whose values break the rules.
fn invalid(message: String) -> Failure {
    Failure(StatusCode::UNPROCESSABLE_ENTITY, ApiError::new("invalid_profile", message))
}

/// Checks a registration against the rules and this site's peers; the
/// client's public key.
fn check(ctx: &Ctx, req: &ProfileCreate) -> ApiResult<PublicKey> {
    SiteId::new(&req.name).map_err(|e| invalid(format!("name {:?}: {e}", req.name)))?;
    let key =
        PublicKey::from_base64(&req.public_key).map_err(|e| invalid(format!("public_key: {e}")))?;
    if req.sites.is_empty() || req.sites.len() > MAX_SITES {
        return Err(invalid(format!("sites: 1 to {MAX_SITES} site ids")));
    }
    for s in &req.sites {
        SiteId::new(s).map_err(|e| invalid(format!("site {s:?}: {e}")))?;
    }
    if let Some(k) = &req.ipsec_psk
        && !(k.len() == 64 && k.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        // never echo the key
        return Err(invalid("ipsec_psk: 64 hex digits (32 bytes, no 0x)".to_owned()));
    }
    let host = &ctx.profile_host;
    if key == host.public_key {
        return Err(Failure::conflict("public_key is this site's own"));
    }
    if req.name == host.site {
        return Err(Failure::conflict(format!("{} is this site's name", req.name)));
    }
    if ctx.links.revoked.read().is_ok_and(|r| r.contains(&req.name)) {
        return Err(Failure::conflict(format!(
            "{} is on the mesh's revocation list: a revoked client does not come back; use another name",
            req.name
        )));
    }
    let s = ctx.status.get();
    // The client itself (exported again) is no clash.
    let itself = |p: &&crate::agent::status::PeerStatus| {
        p.client && p.name == req.name && p.public_key == key.to_base64()
    };
    let live = s.peers.iter().filter(|p| !p.gone).filter(|p| !itself(p));
    for p in live {
        if p.name == req.name {
            return Err(Failure::conflict(format!("{} is a peer's name", req.name)));
        }
        if p.public_key == key.to_base64() {
            return Err(Failure::conflict(format!("public_key is peer {}'s", p.name)));
        }
    }
    Ok(key)
}

/// What a client's address must stay out of: this site's prefixes, its
/// peers' (clients' included, but the client `itself` (name, key)
/// exported again) and the stored clients' addresses.
fn taken_prefixes(
    ctx: &Ctx,
    existing: &[ProfileRecord],
    (name, key): (&str, &str),
) -> Vec<IpPrefix> {
    let s = ctx.status.get();
    let mut taken = ctx.profile_host.prefixes.clone();
    let is_itself =
        |p: &crate::agent::status::PeerStatus| p.client && p.name == name && p.public_key == key;
    for p in s.peers.iter().filter(|p| !p.gone && !is_itself(p)) {
        taken.extend(p.prefixes.iter().filter_map(|x| IpPrefix::parse(x).ok()));
    }
    taken.extend(existing.iter().filter_map(|p| IpPrefix::parse(&p.address).ok()));
    taken
}

/// The IPsec clients this site serves (registered with a key, naming this
/// site), as its charon answers them: each may reach this site's own
/// prefixes as its profile lists them (narrowed by the running policy),
/// not the other sites' prefixes its `NAME.swanctl.conf` also asks for.
pub(crate) fn ipsec_clients(ctx: &Ctx) -> anyhow::Result<Vec<crate::ipsec::clients::ClientConn>> {
    let all = ctx.store.profiles()?;
    let parse = |v: &[String]| -> Vec<IpPrefix> {
        v.iter().filter_map(|x| IpPrefix::parse(x).ok()).collect()
    };
    Ok(all
        .iter()
        .filter(|p| p.sites.contains(&ctx.profile_host.site))
        .filter_map(|p| {
            let psk = p.ipsec_psk.clone()?;
            let address = IpPrefix::parse(&p.address).ok()?;
            let v = view(ctx, p);
            // Only this site's own prefixes: charon's userspace ESP
            // (kernel-libipsec) installs a policy's route only when the
            // site has an address inside its local selector, and refuses
            // the whole CHILD_SA otherwise; the client's wider request is
            // narrowed to these.
            let reach = parse(&v.site.prefixes);
            // nothing to reach: no connection (charon would default to
            // the site's IKE address)
            if reach.is_empty() {
                return None;
            }
            Some(crate::ipsec::clients::ClientConn { name: p.name.clone(), address, reach, psk })
        })
        .collect())
}

/// The API's view of a client: this site as its `[Peer]`, with its own
/// prefixes and those reachable through it (its live peers', other
/// clients' left out), both narrowed to what the running policy lets the
/// client's address reach (`profiles::allowed`).
fn view(ctx: &Ctx, p: &ProfileRecord) -> Profile {
    let host = &ctx.profile_host;
    let s = ctx.status.get();
    let mut reachable: Vec<IpPrefix> = Vec::new();
    for peer in s.peers.iter().filter(|x| !x.gone && !x.removed && !x.client) {
        for x in peer.prefixes.iter().filter_map(|x| IpPrefix::parse(x).ok()) {
            if !host.prefixes.contains(&x) && !reachable.contains(&x) {
                reachable.push(x);
            }
        }
    }
    let (prefixes, reachable) = match IpPrefix::parse(&p.address) {
        Ok(client) => {
            let policy = ctx.policy.active();
            let narrow = |list: &[IpPrefix]| -> Vec<String> {
                narrow(&policy.policy, client.addr(), list)
                    .iter()
                    .map(ToString::to_string)
                    .collect()
            };
            (narrow(&host.prefixes), narrow(&reachable))
        }
        Err(_) => (
            host.prefixes.iter().map(ToString::to_string).collect(),
            reachable.iter().map(ToString::to_string).collect(),
        ),
    };
    Profile {
        name: p.name.clone(),
        public_key: p.public_key.clone(),
        address: p.address.clone(),
        sites: p.sites.clone(),
        created_unix_ms: p.created_unix_ms,
        ipsec: p.ipsec_psk.is_some(),
        served_here: p.sites.contains(&host.site),
        mesh_sites: Vec::new(),
        site: ProfileSite {
            name: host.site.clone(),
            public_key: host.public_key.to_base64(),
            endpoints: host.endpoints.clone(),
            prefixes,
            reachable,
        },
    }
}
