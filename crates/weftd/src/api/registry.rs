//! The registry on controllers (elsewhere 409 `not_a_controller`): `GET
//! /registry/sites` (every site the controller knows, merged with its
//! registry record), `GET /registry/services`, `POST /registry/services`,
//! `DELETE /registry/services/{name}`, `POST /sites/{id}/cordon`,
//! `/uncordon`, `/drain`, `/label`, and `GET /registry/watch` (SSE).
//!
//! Lists filter by label selector and fields, page with `limit`/`cursor`
//! and carry an `ETag` (the conditional-GET middleware). Changes are
//! requests the leader commits (`submit_raw`), idempotent under an
//! `Idempotency-Key`; reads need `read`, site changes `operate`, services
//! `admin`.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use utoipa::IntoParams;
use weft_api::{
    ApiError, LabelChange, ListQuery, Page, RegistryChange, RegistryEvent, RegistryService,
    RegistrySite, ServiceRegistration, SiteState,
};
use weft_types::SiteId;

use super::auth::Caller;
use super::control::{ask_plane, refused, request_id, submit_raw};
use super::error::{ApiResult, B, Failure, P, Q};
use super::{Ctx, views};
use crate::controlplane::PlaneCtl;
use crate::controlplane::records::Ask;
use crate::controlplane::registry::{self, RegistryAsk, Snapshot};
use crate::controlplane::selector::Selector;
use crate::mesh::ctl::MeshCtl;

/// How often the watch polls the store.
const WATCH_EVERY: Duration = Duration::from_millis(500);

/// `GET /registry/sites` filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SitesQuery {
    /// Label selector: `k=v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a)`; comma is AND.
    selector: Option<String>,
    /// `alive` or `down`.
    #[param(pattern = "^(alive|down)$")]
    state: Option<String>,
    /// Only sites of this role.
    role: Option<String>,
    /// Only sites of this region.
    region: Option<String>,
    /// Only cordoned (true) or uncordoned (false) sites.
    cordoned: Option<bool>,
    /// Only drained (true) or undrained (false) sites.
    drained: Option<bool>,
    /// Page size, 1..=1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Cursor from the previous page's `next_cursor`.
    #[param(min_length = 1)]
    cursor: Option<String>,
}

/// `GET /registry/services` filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ServicesQuery {
    /// Label selector (as for sites).
    selector: Option<String>,
    /// Only services at this site.
    site: Option<String>,
    /// `tcp` or `udp`.
    #[param(pattern = "^(tcp|udp)$")]
    protocol: Option<String>,
    /// Page size, 1..=1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Cursor from the previous page's `next_cursor`.
    #[param(min_length = 1)]
    cursor: Option<String>,
}

fn selector(s: Option<&str>) -> ApiResult<Selector> {
    Selector::parse(s.unwrap_or_default()).map_err(|e| Failure::bad_request(e.to_string()))
}

fn list_query(limit: Option<u32>, cursor: Option<String>) -> ListQuery {
    ListQuery { limit, cursor, ..ListQuery::default() }
}

async fn snapshot(ctx: &Ctx) -> ApiResult<Snapshot> {
    ask_plane(ctx, |reply| PlaneCtl::Registry { reply }).await
}

/// Every site this controller knows: itself, the mesh's members (alive),
/// and sites known only from the store (down), merged with their records.
pub(crate) async fn all_sites(ctx: &Ctx) -> ApiResult<Vec<RegistrySite>> {
    let snap = snapshot(ctx).await?;
    let mesh = super::mesh::ask_mesh(ctx.mesh.as_ref(), super::mesh::MESH_WAIT, |reply| {
        MeshCtl::Status { reply }
    })
    .await?;
    let blank = |site: &str, state: &str| RegistrySite {
        site: site.to_owned(),
        state: state.to_owned(),
        role: None,
        region: None,
        gossip: None,
        endpoints: Vec::new(),
        cert_expires_unix_s: None,
        policy_version: None,
        labels: BTreeMap::new(),
        cordoned: false,
        drained: false,
        changed_by: None,
        changed_unix_ms: None,
    };
    let mut out: BTreeMap<String, RegistrySite> = BTreeMap::new();
    let status = ctx.status.get();
    let local = views::sites(&status).into_iter().find(|s| s.state == SiteState::Local);
    let mut me = blank(&mesh.site, "alive");
    me.cert_expires_unix_s = Some(mesh.cert_expires_unix_s);
    if let Some(l) = local {
        me.role = l.role;
        me.region = l.region;
        me.endpoints = l.endpoints;
    }
    out.insert(me.site.clone(), me);
    let some = |s: String| (!s.is_empty()).then_some(s);
    for m in mesh.members {
        let mut r = blank(&m.site, "alive");
        r.role = some(m.role);
        r.region = some(m.region);
        r.gossip = some(m.gossip);
        r.endpoints = m.endpoints;
        r.cert_expires_unix_s = m.cert_expires_unix_s;
        out.insert(m.site, r);
    }
    for a in &snap.acks {
        out.entry(a.site.clone()).or_insert_with(|| blank(&a.site, "down")).policy_version =
            Some(a.version);
    }
    for (site, rec) in snap.sites() {
        let r = out.entry(site.clone()).or_insert_with(|| blank(&site, "down"));
        r.labels = rec.labels;
        r.cordoned = rec.cordoned;
        r.drained = rec.drained;
        r.changed_by = Some(rec.changed_by);
        r.changed_unix_ms = Some(rec.at_unix_ms);
    }
    Ok(out.into_values().collect())
}

/// Sites in the registry.
#[utoipa::path(get, path = "/api/v1/registry/sites", tag = "registry", operation_id = "registry_sites", params(SitesQuery),
    responses((status = 200, body = Page<RegistrySite>), (status = 400, body = ApiError),
        (status = 409, description = "not a controller", body = ApiError), (status = 503, body = ApiError),
        (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn sites(
    State(ctx): State<Arc<Ctx>>,
    Q(q): Q<SitesQuery>,
) -> ApiResult<Json<Page<RegistrySite>>> {
    super::control::controller_only(&ctx)?;
    let sel = selector(q.selector.as_deref())?;
    if let Some(s) = q.state.as_deref().filter(|s| !matches!(*s, "alive" | "down")) {
        return Err(Failure::bad_request(format!("state {s:?}: alive or down")));
    }
    let eq = |want: &Option<String>, have: &Option<String>| {
        want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
    };
    let all: Vec<RegistrySite> = all_sites(&ctx)
        .await?
        .into_iter()
        .filter(|s| {
            sel.matches(&s.labels)
                && q.state.as_ref().is_none_or(|w| *w == s.state)
                && eq(&q.role, &s.role)
                && eq(&q.region, &s.region)
                && q.cordoned.is_none_or(|c| c == s.cordoned)
                && q.drained.is_none_or(|d| d == s.drained)
        })
        .collect();
    super::page::page(all, |s| s.site.clone(), &list_query(q.limit, q.cursor)).map(Json)
}

/// Services in the registry (unavailable while their site is drained).
#[utoipa::path(get, path = "/api/v1/registry/services", tag = "registry", operation_id = "registry_services", params(ServicesQuery),
    responses((status = 200, body = Page<RegistryService>), (status = 400, body = ApiError),
        (status = 409, description = "not a controller", body = ApiError), (status = 503, body = ApiError),
        (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn services(
    State(ctx): State<Arc<Ctx>>,
    Q(q): Q<ServicesQuery>,
) -> ApiResult<Json<Page<RegistryService>>> {
    super::control::controller_only(&ctx)?;
    let sel = selector(q.selector.as_deref())?;
    if let Some(p) = q.protocol.as_deref().filter(|p| !matches!(*p, "tcp" | "udp")) {
        return Err(Failure::bad_request(format!("protocol {p:?}: tcp or udp")));
    }
    let snap = snapshot(&ctx).await?;
    let sites = snap.sites();
    let all: Vec<RegistryService> = snap
        .services()
        .into_iter()
        .filter(|s| {
            sel.matches(&s.labels)
                && q.site.as_ref().is_none_or(|w| *w == s.site)
                && q.protocol.as_deref().is_none_or(|p| p == s.protocol.as_str())
        })
        .map(|s| s.view(sites.get(&s.site).is_some_and(|r| r.drained)))
        .collect();
    super::page::page(all, |s| s.name.clone(), &list_query(q.limit, q.cursor)).map(Json)
}

async fn change(
    ctx: &Ctx,
    caller: &Caller,
    headers: &HeaderMap,
    ask: RegistryAsk,
) -> ApiResult<Json<RegistryChange>> {
    let id = request_id(headers)?;
    let kv = submit_raw(ctx, id.clone(), Ask::Registry(ask), &caller.who).await?;
    registry::answer_of(&id, &kv).map(Json).map_err(refused)
}

fn site_id(id: &str) -> ApiResult<String> {
    SiteId::new(id)
        .map(|s| s.to_string())
        .map_err(|e| Failure::bad_request(format!("site {id:?}: {e}")))
}

/// Registers a service (or replaces the one of that name).
#[utoipa::path(post, path = "/api/v1/registry/services", tag = "registry", operation_id = "register_service",
    request_body = ServiceRegistration,
    params(("Idempotency-Key" = Option<String>, Header, description = "request id: asking again with it changes nothing", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses((status = 200, body = RegistryChange), (status = 400, body = ApiError),
        (status = 409, description = "not a controller", body = ApiError), (status = 503, body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn register(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    B(body): B,
) -> ApiResult<Json<RegistryChange>> {
    super::control::controller_only(&ctx)?;
    let s: ServiceRegistration = serde_json::from_slice(&body)
        .map_err(|e| Failure::bad_request(format!("a service registration: {e}")))?;
    registry::check_service(&s).map_err(|(_, m)| Failure::bad_request(m))?;
    change(&ctx, &caller, &headers, RegistryAsk::RegisterService(s)).await
}

/// Removes a service.
#[utoipa::path(delete, path = "/api/v1/registry/services/{name}", tag = "registry", operation_id = "deregister_service",
    params(("name" = String, Path, description = "service name (a DNS label)", pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", max_length = 63),
        ("Idempotency-Key" = Option<String>, Header, description = "request id: asking again with it changes nothing", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses((status = 200, body = RegistryChange), (status = 400, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "not a controller", body = ApiError), (status = 503, body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn deregister(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    P(name): P<String>,
) -> ApiResult<Json<RegistryChange>> {
    super::control::controller_only(&ctx)?;
    registry::check_service_name(&name).map_err(|(_, m)| Failure::bad_request(m))?;
    change(&ctx, &caller, &headers, RegistryAsk::DeregisterService { name }).await
}

macro_rules! site_change {
    ($fn:ident, $path:literal, $opid:literal, $what:literal, $variant:ident) => {
        #[doc = $what]
        #[utoipa::path(post, path = $path, tag = "registry", operation_id = $opid,
            params(("id" = String, Path, description = "site id", pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", max_length = 63),
                ("Idempotency-Key" = Option<String>, Header, description = "request id: asking again with it changes nothing", pattern = "^[A-Za-z0-9_-]{1,64}$")),
            responses((status = 200, body = RegistryChange), (status = 400, body = ApiError),
                (status = 409, description = "not a controller", body = ApiError), (status = 503, body = ApiError),
                (status = 401, body = ApiError), (status = 403, body = ApiError)),
            security(("bearer" = [])))]
        pub(crate) async fn $fn(
            State(ctx): State<Arc<Ctx>>,
            Extension(caller): Extension<Caller>,
            headers: HeaderMap,
            P(id): P<String>,
            B(_body): B,
        ) -> ApiResult<Json<RegistryChange>> {
            super::control::controller_only(&ctx)?;
            let site = site_id(&id)?;
            change(&ctx, &caller, &headers, RegistryAsk::$variant { site }).await
        }
    };
}

site_change!(
    cordon,
    "/api/v1/sites/{id}/cordon",
    "cordon_site",
    "Cordons a site: no new relayed traffic goes through it.",
    Cordon
);
site_change!(
    uncordon,
    "/api/v1/sites/{id}/uncordon",
    "uncordon_site",
    "Uncordons a site (ends a drain too).",
    Uncordon
);
site_change!(
    drain,
    "/api/v1/sites/{id}/drain",
    "drain_site",
    "Drains a site: cordoned, relayed traffic moves off it, its services unavailable.",
    Drain
);

/// Sets or removes a site's labels.
#[utoipa::path(post, path = "/api/v1/sites/{id}/label", tag = "registry", operation_id = "label_site",
    request_body = LabelChange,
    params(("id" = String, Path, description = "site id", pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", max_length = 63),
        ("Idempotency-Key" = Option<String>, Header, description = "request id: asking again with it changes nothing", pattern = "^[A-Za-z0-9_-]{1,64}$")),
    responses((status = 200, body = RegistryChange), (status = 400, body = ApiError),
        (status = 409, description = "not a controller", body = ApiError), (status = 503, body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn label(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    P(id): P<String>,
    B(body): B,
) -> ApiResult<Json<RegistryChange>> {
    super::control::controller_only(&ctx)?;
    let site = site_id(&id)?;
    let c: LabelChange = serde_json::from_slice(&body)
        .map_err(|e| Failure::bad_request(format!("a label change: {e}")))?;
    if c.set.is_empty() {
        return Err(Failure::bad_request("set names no label"));
    }
    registry::check_labels(c.set.iter().map(|(k, v)| (k, v.as_ref())))
        .map_err(|(_, m)| Failure::bad_request(m))?;
    change(&ctx, &caller, &headers, RegistryAsk::Label { site, set: c.set }).await
}

/// What changed between two polls of the registry's keys.
pub(crate) fn diff(
    before: &BTreeMap<String, (u64, String)>,
    after: &BTreeMap<String, (u64, String)>,
) -> Vec<RegistryEvent> {
    let event = |key: &str, change: &str, rev: u64, value: Option<&String>| {
        let (kind, name) = if let Some(n) = key.strip_prefix(registry::SITES) {
            ("site", n)
        } else if let Some(n) = key.strip_prefix(registry::SERVICES) {
            ("service", n)
        } else {
            return None;
        };
        Some(RegistryEvent {
            kind: kind.to_owned(),
            name: name.to_owned(),
            change: change.to_owned(),
            revision: rev,
            value: value.and_then(|v| serde_json::from_str(v).ok()),
        })
    };
    let mut out: Vec<RegistryEvent> = after
        .iter()
        .filter(|(k, (rev, _))| before.get(*k).is_none_or(|(r, _)| r != rev))
        .filter_map(|(k, (rev, v))| event(k, "put", *rev, Some(v)))
        .collect();
    out.extend(
        before
            .iter()
            .filter(|(k, _)| !after.contains_key(*k))
            .filter_map(|(k, (rev, _))| event(k, "delete", *rev, None)),
    );
    out.sort_by_key(|e| e.revision);
    out
}

/// Registry changes as Server-Sent Events (`event` = `site` or `service`,
/// `data` = a RegistryEvent): first every record as a `put`, then each
/// change as the store is polled (every 500 ms).
#[utoipa::path(get, path = "/api/v1/registry/watch", tag = "registry", operation_id = "watch_registry",
    responses((status = 200, description = "text/event-stream of RegistryEvent", content_type = "text/event-stream", body = RegistryEvent),
        (status = 409, description = "not a controller", body = ApiError), (status = 503, body = ApiError),
        (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn watch(
    State(ctx): State<Arc<Ctx>>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let first = snapshot(&ctx).await?;
    let pending: VecDeque<RegistryEvent> = diff(&BTreeMap::new(), &first.keys).into();
    let state = (ctx, first.keys, pending);
    let stream = futures_util::stream::unfold(state, |(ctx, mut seen, mut pending)| async move {
        loop {
            if let Some(e) = pending.pop_front() {
                let data = serde_json::to_string(&e).unwrap_or_default();
                let ev = SseEvent::default().event(e.kind.clone()).data(data);
                return Some((Ok(ev), (ctx, seen, pending)));
            }
            tokio::time::sleep(WATCH_EVERY).await;
            // The controller gone or its store unreachable: end the stream.
            let next = snapshot(&ctx).await.ok()?;
            pending.extend(diff(&seen, &next.keys));
            seen = next.keys;
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_reports_puts_and_deletes_in_revision_order_and_skips_other_keys() {
        let m = |kv: &[(&str, u64)]| -> BTreeMap<String, (u64, String)> {
            kv.iter().map(|(k, r)| ((*k).to_owned(), (*r, "{}".to_owned()))).collect()
        };
        let before = m(&[("/weft/registry/sites/a", 3), ("/weft/registry/services/web", 4)]);
        let after = m(&[
            ("/weft/registry/sites/a", 3),
            ("/weft/registry/sites/b", 9),
            ("/weft/registry/flags", 9),
        ]);
        let d = diff(&before, &after);
        let got: Vec<_> =
            d.iter().map(|e| (e.kind.as_str(), e.name.as_str(), e.change.as_str())).collect();
        assert_eq!(got, vec![("service", "web", "delete"), ("site", "b", "put")]);
        assert!(diff(&after, &after).is_empty());
    }
}
