//! Read endpoints over the published status, and the steering ones that ask
//! the control loop (path tests, explanations, site removal).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;
use weft_api::{
    ApiError, Explanation, Flow, ListQuery, Page, Path, PathSample, PathTestRequest,
    PathTestResult, Peer, Route, Site, Status, Topology,
};
use weft_types::{FlowKey, IpProtocol};

use super::auth::Caller;
use super::error::{ApiResult, Failure, J, P, Q};
use super::page::page;
use super::{Ctx, blocking, views};
use crate::agent::ControlMsg;
use crate::store::NewAudit;

/// The agent at a glance.
#[utoipa::path(get, path = "/api/v1/status", tag = "state",
    responses((status = 200, body = Status), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn status(State(ctx): State<Arc<Ctx>>) -> ApiResult<Json<Status>> {
    let s = ctx.status.get();
    let store = ctx.store.clone();
    let last = blocking(move || store.last_event_id()).await?;
    Ok(Json(views::status(&s, last)))
}

fn state_filter(q: &ListQuery, state: &str) -> bool {
    q.state.as_deref().is_none_or(|w| w == state)
}

fn site_filter(q: &ListQuery, site: Option<&str>) -> bool {
    q.site.as_deref().is_none_or(|w| Some(w) == site)
}

/// Sites: the local one and every peer.
#[utoipa::path(get, path = "/api/v1/sites", tag = "state", params(ListQuery),
    responses((status = 200, body = Page<Site>), (status = 400, body = ApiError), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn sites(
    State(ctx): State<Arc<Ctx>>,
    Q(q): Q<ListQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let s = ctx.status.get();
    ctx.rendered.answer(&uri, &headers, s.generation, || {
        let all: Vec<Site> = views::sites(&s)
            .into_iter()
            .filter(|x| state_filter(&q, x.state.as_str()) && site_filter(&q, Some(&x.id)))
            .collect();
        page(all, |x| x.id.clone(), &q)
    })
}

/// One site.
#[utoipa::path(get, path = "/api/v1/sites/{id}", tag = "state", params(("id" = String, Path, description = "site id", pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", max_length = 63)),
    responses((status = 200, body = Site), (status = 404, body = ApiError), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn site(State(ctx): State<Arc<Ctx>>, P(id): P<String>) -> ApiResult<Json<Site>> {
    let s = ctx.status.get();
    views::site(&s, &id).map(Json).ok_or_else(|| Failure::not_found(format!("no site {id:?}")))
}

async fn set_removed(
    ctx: &Arc<Ctx>,
    caller: &Caller,
    id: &str,
    removed: bool,
) -> ApiResult<Json<Site>> {
    let s = ctx.status.get();
    let Some(peer) = s.peers.iter().position(|p| p.name == id) else {
        return Err(if id == s.site {
            Failure::conflict(if removed {
                "the local site cannot be removed from itself"
            } else {
                "the local site is never removed"
            })
        } else {
            Failure::not_found(format!("no site {id:?}"))
        });
    };
    let before = if s.peers[peer].removed { "removed" } else { "active" };
    let after = if removed { "removed" } else { "active" };
    let store = ctx.store.clone();
    let (sid, who) = (id.to_owned(), caller.who.clone());
    let now = super::unix_ms();
    blocking(move || {
        store.set_site_removed(&sid, removed, now)?;
        store.audit(
            &NewAudit {
                who,
                action: if removed { "site.remove" } else { "site.restore" }.to_owned(),
                target: format!("site {sid}"),
                before: Some(before.to_owned()),
                after: Some(after.to_owned()),
                detail: String::new(),
            },
            now,
        )
    })
    .await?;
    ctx.ask(Duration::from_secs(5), |done| ControlMsg::SetRemoved { peer, removed, done })
        .await
        .map_err(|()| {
            Failure::unavailable(
                "the control loop did not confirm; the change is stored and applies at the latest on restart",
            )
        })?;
    ctx.wait_for_publication().await;
    site(State(ctx.clone()), P(id.to_owned())).await
}

/// Removes a site: nothing is sent to it or accepted from it (durable; undo
/// with `POST /api/v1/sites/{id}/restore`).
#[utoipa::path(delete, path = "/api/v1/sites/{id}", tag = "steering", params(("id" = String, Path, description = "site id", pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", max_length = 63)),
    responses((status = 200, body = Site), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 503, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn remove_site(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    P(id): P<String>,
) -> ApiResult<Json<Site>> {
    set_removed(&ctx, &caller, &id, true).await
}

/// Restores a removed site.
#[utoipa::path(post, path = "/api/v1/sites/{id}/restore", tag = "steering", params(("id" = String, Path, description = "site id", pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", max_length = 63)),
    responses((status = 200, body = Site), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 503, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn restore_site(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    P(id): P<String>,
) -> ApiResult<Json<Site>> {
    set_removed(&ctx, &caller, &id, false).await
}

/// WireGuard peers.
#[utoipa::path(get, path = "/api/v1/peers", tag = "state", params(ListQuery),
    responses((status = 200, body = Page<Peer>), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn peers(
    State(ctx): State<Arc<Ctx>>,
    Q(q): Q<ListQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let s = ctx.status.get();
    ctx.rendered.answer(&uri, &headers, s.generation, || {
        let all = views::peers(&s).into_iter().filter(|p| site_filter(&q, Some(&p.site))).collect();
        page(all, |p: &Peer| p.site.clone(), &q)
    })
}

/// Paths with their measurements (`?site=&state=`).
#[utoipa::path(get, path = "/api/v1/paths", tag = "state", params(ListQuery),
    responses((status = 200, body = Page<Path>), (status = 400, body = ApiError), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn paths(
    State(ctx): State<Arc<Ctx>>,
    Q(q): Q<ListQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let s = ctx.status.get();
    ctx.rendered.answer(&uri, &headers, s.generation, || {
        let all = s
            .paths
            .iter()
            .map(|p| views::path(&s, p))
            .filter(|p| site_filter(&q, Some(&p.site)) && state_filter(&q, &p.state))
            .collect();
        // Zero-padded: any cursor string is a valid position, and order is numeric.
        page(all, |p: &Path| format!("{:010}", p.id), &q)
    })
}

/// One path.
#[utoipa::path(get, path = "/api/v1/paths/{id}", tag = "state", params(("id" = u32, Path, description = "path id")),
    responses((status = 200, body = Path), (status = 404, body = ApiError), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn path(State(ctx): State<Arc<Ctx>>, P(id): P<u32>) -> ApiResult<Json<Path>> {
    let s = ctx.status.get();
    s.path(id)
        .map(|p| Json(views::path(&s, p)))
        .ok_or_else(|| Failure::not_found(format!("no path {id}")))
}

/// `?since_unix_ms=&limit=` of a path's history.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryQuery {
    /// Only points from this time on (Unix milliseconds; default: the last hour).
    since_unix_ms: Option<i64>,
    /// Most points, 1..=10000 (default 1000).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<u32>,
}

/// A path's measurement history: raw 10-second samples for a day, 5-minute
/// averages for 30 days.
#[utoipa::path(get, path = "/api/v1/paths/{id}/metrics", tag = "state",
    params(("id" = u32, Path, description = "path id"), HistoryQuery),
    responses((status = 200, body = Vec<PathSample>), (status = 404, body = ApiError), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn path_history(
    State(ctx): State<Arc<Ctx>>,
    P(id): P<u32>,
    Q(q): Q<HistoryQuery>,
) -> ApiResult<Json<Vec<PathSample>>> {
    let s = ctx.status.get();
    let p = s.path(id).ok_or_else(|| Failure::not_found(format!("no path {id}")))?;
    let key = crate::store::path_key(&s.peers[p.peer].name, &p.uplink, &p.remote.to_string());
    let since = q.since_unix_ms.unwrap_or_else(|| super::unix_ms() - 3_600_000);
    let limit = match q.limit.unwrap_or(1000) {
        l @ 1..=10_000 => l as usize,
        l => return Err(Failure::bad_request(format!("limit must be 1..=10000, not {l}"))),
    };
    let store = ctx.store.clone();
    Ok(Json(blocking(move || store.history(&key, since, limit)).await?))
}

/// Tests a path now: a burst of authenticated probes, outside the schedule.
#[utoipa::path(post, path = "/api/v1/paths/{id}/test", tag = "steering",
    params(("id" = u32, Path, description = "path id")), request_body(content = Option<PathTestRequest>, description = "optional: an empty body sends 10 probes"),
    responses((status = 200, body = PathTestResult), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 503, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn path_test(
    State(ctx): State<Arc<Ctx>>,
    Extension(caller): Extension<Caller>,
    P(id): P<u32>,
    J(req): J<PathTestRequest>,
) -> ApiResult<Json<PathTestResult>> {
    let s = ctx.status.get();
    let p = s.path(id).ok_or_else(|| Failure::not_found(format!("no path {id}")))?;
    if s.peers[p.peer].stock {
        return Err(Failure::conflict(format!(
            "path {id} goes to a stock WireGuard peer, which does not answer Weft probes"
        )));
    }
    if s.peers[p.peer].removed {
        return Err(Failure::conflict(format!(
            "path {id} goes to site {}, which is removed",
            s.peers[p.peer].name
        )));
    }
    let probes = req.probes.unwrap_or(10);
    if !(1..=crate::agent::MAX_TEST_PROBES).contains(&probes) {
        return Err(Failure::bad_request(format!(
            "probes must be 1..={}",
            crate::agent::MAX_TEST_PROBES
        )));
    }
    let wait = Duration::from_secs(5) + Duration::from_millis(50) * probes;
    let result = ctx
        .ask(wait, |reply| ControlMsg::TestPath { path: id, probes, reply })
        .await
        .map_err(|()| {
            Failure::unavailable(format!(
                "the test did not run (at most {} run at once); try again",
                crate::agent::MAX_RUNNING_TESTS
            ))
        })?;
    let store = ctx.store.clone();
    let rec = NewAudit {
        who: caller.who,
        action: "path.test".to_owned(),
        target: format!("path {id}"),
        before: None,
        after: None,
        detail: format!("{}/{} answered", result.received, result.sent),
    };
    let now = super::unix_ms();
    blocking(move || store.audit(&rec, now)).await?;
    Ok(Json(result))
}

/// Flows seen recently (`?site=&state=allow|deny`).
#[utoipa::path(get, path = "/api/v1/flows", tag = "state", params(ListQuery),
    responses((status = 200, body = Page<Flow>), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn flows(
    State(ctx): State<Arc<Ctx>>,
    Q(q): Q<ListQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let s = ctx.status.get();
    ctx.rendered.answer(&uri, &headers, s.generation, || {
        let all = s
            .flows
            .iter()
            .map(|f| views::flow(&s, f))
            .filter(|f| site_filter(&q, f.site.as_deref()) && state_filter(&q, &f.verdict))
            .collect();
        page(all, |f: &Flow| f.id.clone(), &q)
    })
}

/// One flow.
#[utoipa::path(get, path = "/api/v1/flows/{id}", tag = "state", params(("id" = String, Path, description = "flow id (`out:PROTO:SRC:SPORT:DST:DPORT`, `in:…`)", pattern = "^[a-z0-9:.\\[\\]]{1,128}$", max_length = 128)),
    responses((status = 200, body = Flow), (status = 404, body = ApiError), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn flow(State(ctx): State<Arc<Ctx>>, P(id): P<String>) -> ApiResult<Json<Flow>> {
    let s = ctx.status.get();
    s.flows.iter().find(|f| views::flow_id(f) == id).map(|f| Json(views::flow(&s, f))).ok_or_else(
        || Failure::not_found(format!("no flow {id:?} (flows idle for a minute are forgotten)")),
    )
}

/// Where each overlay prefix goes, per class.
#[utoipa::path(get, path = "/api/v1/routes", tag = "state", params(ListQuery),
    responses((status = 200, body = Page<Route>), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn routes(
    State(ctx): State<Arc<Ctx>>,
    Q(q): Q<ListQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let s = ctx.status.get();
    ctx.rendered.answer(&uri, &headers, s.generation, || {
        let all =
            views::routes(&s).into_iter().filter(|r| site_filter(&q, Some(&r.site))).collect();
        page(all, |r: &Route| r.prefix.clone(), &q)
    })
}

/// The mesh as a graph with metrics.
#[utoipa::path(get, path = "/api/v1/topology", tag = "state",
    responses((status = 200, body = Topology), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn topology(
    State(ctx): State<Arc<Ctx>>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let s = ctx.status.get();
    ctx.rendered.answer(&uri, &headers, s.generation, || Ok(views::topology(&s)))
}

/// The flow to explain: `?proto=udp&src=10.77.1.1&dst=10.77.2.1&dport=5060`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ExplainQuery {
    /// `tcp`, `udp`, `icmp`, `icmpv6` or a protocol number.
    #[param(pattern = "^(tcp|udp|icmp|icmpv6|[0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])$")]
    proto: String,
    /// Source address (the pattern shows IPv4; IPv6 is accepted too, in the same family as `dst`).
    #[param(
        pattern = r"^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$"
    )]
    src: String,
    /// Destination address (the same family as `src`).
    #[param(
        pattern = r"^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$"
    )]
    dst: String,
    /// Source port (default 0).
    #[param(minimum = 0, maximum = 65535)]
    sport: Option<u16>,
    /// Destination port (default 0).
    #[param(minimum = 0, maximum = 65535)]
    dport: Option<u16>,
    /// DSCP, 0..=63 (default 0).
    #[param(minimum = 0, maximum = 63)]
    dscp: Option<u8>,
}

/// Which policy rule, class, eligible paths and scores decide a flow, and why.
#[utoipa::path(get, path = "/api/v1/explain", tag = "state", params(ExplainQuery),
    responses((status = 200, body = Explanation), (status = 400, body = ApiError), (status = 503, body = ApiError)),
    security(("bearer" = [])))]
pub(crate) async fn explain(
    State(ctx): State<Arc<Ctx>>,
    Q(q): Q<ExplainQuery>,
) -> ApiResult<Json<Explanation>> {
    let ip = |what: &str, v: &str| {
        v.parse::<IpAddr>()
            .map_err(|_| Failure::bad_request(format!("{what} {v:?} is not an IP address")))
    };
    let (src, dst) = (ip("src", &q.src)?, ip("dst", &q.dst)?);
    if src.is_ipv4() != dst.is_ipv4() {
        return Err(Failure::bad_request("src and dst must be the same address family"));
    }
    let protocol = IpProtocol::parse(&q.proto)
        .ok_or_else(|| Failure::bad_request(format!("unknown protocol {:?}", q.proto)))?;
    let dscp = q.dscp.unwrap_or(0);
    if dscp > 63 {
        return Err(Failure::bad_request("dscp must be 0..=63"));
    }
    let ports = protocol.has_ports();
    let key = FlowKey {
        src,
        dst,
        protocol,
        src_port: if ports { q.sport.unwrap_or(0) } else { 0 },
        dst_port: if ports { q.dport.unwrap_or(0) } else { 0 },
    };
    let e = ctx
        .ask(Duration::from_secs(5), |reply| ControlMsg::Explain { key, dscp, reply })
        .await
        .map_err(|()| Failure::unavailable("the control loop did not answer"))?;
    Ok(Json(e))
}
