//! The agent's REST API (`/api/v1`), live events and `/metrics`, on axum.
//!
//! It runs on a small tokio runtime of its own thread and never touches
//! protocol state: reads come from the status the control loop publishes,
//! steering goes to the control loop as [`ControlMsg`]s with a reply
//! channel, durable writes go to the SQLite [`Store`] (synced before the
//! answer). Two listeners share one router: TCP (`[api] listen`, tokens with
//! scopes) and the unix socket `STATE_DIR/api.sock` (mode 0600: root only,
//! full access; the CLI's default).
//!
//! # Layout
//! - `auth`: tokens, scopes, 401/403 and their audit records.
//! - `state`: sites, peers, paths, flows, routes, topology, explain, tests.
//! - `events`: stored history, SSE and WebSocket, resumable.
//! - `admin`: tokens, audit, policies, metrics, health, OpenAPI.
//! - `mesh`: the mesh view, join tokens and revocations (the mesh thread).
//! - `registry`: sites and services on controllers, cordon, drain, labels, watch.
//! - `identity`: the site's zero-trust workload identities, revocation.
//! - `console`: the web console at `/ui` (pages over the same state).
//! - `ddos`: the flood defence's counters, detections and nftables set.
//! - `qos`: the QoS scheduler's lanes on every shaped uplink.
//! - `bgp`: the BGP speaker's neighbors, announced and learnt prefixes.
//! - `gtm`: global services, DNS decisions, traffic shifts, the control store's audit.
//! - `views`: the status as API types; `page`: pagination; `etag`: 304s.
//! - `request_id`: `X-Request-Id` on mutating requests, their log line.
//! - `log`: the log level at run time (`GET/PUT /api/v1/log`).

mod admin;
mod auth;
mod bgp;
mod bounds;
mod cache;
mod console;
mod control;
mod ddos;
mod error;
mod etag;
mod events;
mod gtm;
mod identity;
pub(crate) mod incident;
mod ipsec;
mod limit;
mod log;
mod mesh;
mod openapi;
mod page;
pub(crate) mod profiles;
mod profiles_follow;
mod qos;
mod registry;
mod request_id;
mod reservations;
mod shards;
mod state;
mod tls;
pub(crate) mod views;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use tokio::sync::broadcast;
use weft_api::Event;

use crate::agent::ControlMsg;
use crate::agent::metrics::Metrics;
use crate::agent::policy_api::PolicyApi;
use crate::agent::status::SharedStatus;
use crate::store::Store;
use auth::Transport;
use error::Failure;

pub(crate) use cache::RenderCache;
pub(crate) use error::ApiResult;

/// What the handlers share.
pub(crate) struct Ctx {
    /// The latest status.
    pub(crate) status: Arc<SharedStatus>,
    /// Durable state.
    pub(crate) store: Store,
    /// The policy endpoints.
    pub(crate) policy: Arc<PolicyApi>,
    /// The control loop.
    pub(crate) control: Sender<ControlMsg>,
    /// Stored events as they happen.
    pub(crate) events: broadcast::Sender<Event>,
    /// The metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// Rendered list answers per status generation.
    pub(crate) rendered: cache::RenderCache,
    /// The mesh thread, when the agent is in a mesh.
    pub(crate) mesh: Option<std::sync::mpsc::Sender<crate::mesh::ctl::MeshCtl>>,
    /// The control plane's state (every site).
    pub(crate) plane: Arc<crate::controlplane::PlaneState>,
    /// The controller thread (controllers only).
    pub(crate) plane_ctl: Option<std::sync::mpsc::Sender<crate::controlplane::PlaneCtl>>,
    /// The zero-trust proxies (sites with `[zerotrust]` only).
    pub(crate) zt: Option<Arc<crate::zt::site::ZtSite>>,
    /// Every site's link-state advertisement (the mesh-wide path matrix).
    pub(crate) links: Arc<crate::agent::shared::LinkBoard>,
    /// Whether the TCP listener serves HTTPS (the console's cookie is then `Secure`).
    pub(crate) https: bool,
    /// The flood defence (`GET /api/v1/ddos`).
    pub(crate) flood: Arc<crate::flood::FloodShield>,
    /// The QoS schedulers (`GET /api/v1/qos`).
    pub(crate) qos: Arc<crate::agent::qos::QosBoard>,
    /// The BGP speaker, with `[bgp]` (`GET /api/v1/bgp`).
    pub(crate) bgp: Option<Arc<crate::bgp::BgpBoard>>,
    /// Bandwidth reservations (`/api/v1/reservations`).
    pub(crate) reservations: Arc<crate::agent::reservations::Reservations>,
    /// This site as connection profiles name it (`/api/v1/profiles`).
    pub(crate) profile_host: crate::profiles::ProfileHost,
    /// The IPsec gateways (`GET /api/v1/ipsec`; sites with `[[ipsec]]` only).
    pub(crate) ipsec: Option<Arc<crate::ipsec::Shared>>,
}

impl Ctx {
    /// Sends the message `make` builds around a reply channel and waits at
    /// most `wait` for the answer; `Err` when the loop dropped it or is late.
    pub(crate) async fn ask<T>(
        &self,
        wait: Duration,
        make: impl FnOnce(tokio::sync::oneshot::Sender<T>) -> ControlMsg,
    ) -> Result<T, ()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.control.send(make(tx)).map_err(|_| ())?;
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(v)) => Ok(v),
            _ => Err(()),
        }
    }

    /// Waits until the control loop has published a newer status (at most a
    /// second), so a read after a change sees it.
    pub(crate) async fn wait_for_publication(&self) {
        let g = self.status.get().generation;
        for _ in 0..100 {
            if self.status.get().generation > g {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Runs `f` (blocking: the store, a reply channel) off the async threads,
/// as the request the caller serves (see [`crate::log::context`]).
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> ApiResult<T> {
    match crate::log::context::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure::internal(&e)),
        Err(e) => Err(Failure::internal(&anyhow::anyhow!("task failed: {e}"))),
    }
}

/// Wall-clock now in Unix milliseconds (the store's time base).
pub(crate) fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn router(ctx: Arc<Ctx>) -> Router {
    let api = Router::new()
        .route("/status", get(state::status))
        .route("/sites", get(state::sites))
        .route("/sites/{id}", get(state::site).delete(state::remove_site))
        .route("/sites/{id}/restore", post(state::restore_site))
        .route("/sites/{id}/cordon", post(registry::cordon))
        .route("/sites/{id}/uncordon", post(registry::uncordon))
        .route("/sites/{id}/drain", post(registry::drain))
        .route("/sites/{id}/label", post(registry::label))
        .route("/registry/sites", get(registry::sites))
        .route("/registry/services", get(registry::services).post(registry::register))
        .route("/registry/services/{name}", axum::routing::delete(registry::deregister))
        .route("/registry/watch", get(registry::watch))
        .route("/peers", get(state::peers))
        .route("/paths", get(state::paths))
        .route("/paths/{id}", get(state::path))
        .route("/paths/{id}/metrics", get(state::path_history))
        .route("/paths/{id}/test", post(state::path_test))
        .route("/flows", get(state::flows))
        .route("/flows/{id}", get(state::flow))
        .route("/routes", get(state::routes))
        .route("/topology", get(state::topology))
        .route("/explain", get(state::explain))
        .route("/events", get(events::sse))
        .route("/events/ws", get(events::websocket))
        .route("/events/history", get(events::history))
        .route("/audit", get(admin::audit))
        .route("/tokens", get(admin::tokens).post(admin::create_token))
        .route("/tokens/{id}", axum::routing::delete(admin::revoke_token))
        .route("/policy", get(admin::policy_running).post(admin::policy_apply))
        .route("/policy/versions", get(admin::policy_versions))
        .route("/policy/versions/{version}", get(admin::policy_version))
        .route("/policy/check", post(admin::policy_check))
        .route("/policy/rollback", post(admin::policy_rollback))
        .route("/policy/promote", post(control::promote))
        .route("/policy/mesh", get(control::mesh_status))
        .route("/control", get(control::status))
        .route("/ddos", get(ddos::status))
        .route("/qos", get(qos::status))
        .route("/bgp", get(bgp::status))
        .route("/ipsec", get(ipsec::status))
        .route("/reservations", get(reservations::list).post(reservations::create))
        .route("/reservations/{id}", axum::routing::delete(reservations::delete))
        .route("/control/audit", get(gtm::control_audit))
        .route("/gtm", get(gtm::status))
        .route("/gtm/explain", get(gtm::explain))
        .route(
            "/gtm/services/{name}",
            axum::routing::put(gtm::set_service).delete(gtm::remove_service),
        )
        .route("/gtm/shifts", get(gtm::shifts).post(gtm::start_shift))
        .route("/gtm/shifts/{id}/{command}", post(gtm::shift_command))
        .route("/shards", get(shards::status))
        .route("/shards/simulate", post(shards::simulate))
        .route("/shards/plans/{id}/approve", post(shards::approve))
        .route("/mesh", get(mesh::status))
        .route("/mesh/tokens", post(mesh::create_token))
        .route("/mesh/revocations", post(mesh::revoke))
        .route("/identities", get(identity::list))
        .route("/identities/revoke", post(identity::revoke))
        .route("/identities/ca", post(identity::init_ca))
        .route("/identities/ca/rotate", post(identity::rotate_ca))
        .route("/identities/grants", post(identity::grant))
        .route("/identities/grants/remove", post(identity::ungrant))
        .route("/log", get(log::get).put(log::put))
        .route("/profiles", get(profiles::list).post(profiles::create))
        .route("/profiles/{name}", get(profiles::show).delete(profiles::revoke))
        .route("/health", get(admin::health))
        .route("/openapi.json", get(admin::openapi));
    let app = Router::new()
        .nest("/api/v1", api)
        .merge(console::routes())
        .route("/metrics", get(admin::metrics))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(middleware::from_fn(etag::conditional_get))
        .layer(middleware::from_fn_with_state(ctx.clone(), auth::authorize));
    // Bounds before authentication; refusals are counted too.
    bounds::bounded(app)
        .layer(middleware::from_fn(request_id::assign))
        .layer(middleware::from_fn_with_state(ctx.clone(), count_request))
        .with_state(ctx)
}

/// The peer address of a TCP (or TLS) connection.
#[derive(Debug, Clone, Copy)]
struct PeerAddr(std::net::SocketAddr);

type TcpIn = limit::Limited<tokio::net::TcpListener>;
type TlsIn = limit::Limited<tls::TlsListener>;

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TcpIn>> for PeerAddr {
    fn connect_info(s: axum::serve::IncomingStream<'_, TcpIn>) -> Self {
        Self(*s.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsIn>> for PeerAddr {
    fn connect_info(s: axum::serve::IncomingStream<'_, TlsIn>) -> Self {
        Self(*s.remote_addr())
    }
}

/// Starts the API thread serving `tcp` (HTTPS when `tls` names a PEM
/// certificate and key) and the unix socket at `socket`.
pub(crate) fn spawn(
    ctx: Arc<Ctx>,
    tcp: std::net::TcpListener,
    tls: Option<&(std::path::PathBuf, std::path::PathBuf)>,
    socket: &std::path::Path,
) -> Result<()> {
    let acceptor = tls.map(|(cert, key)| tls::acceptor(cert, key)).transpose()?;
    let _ = std::fs::remove_file(socket);
    let unix = std::os::unix::net::UnixListener::bind(socket)
        .with_context(|| format!("binding the API socket {}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {} to its owner", socket.display()))?;
    tcp.set_nonblocking(true)?;
    unix.set_nonblocking(true)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("weft-api")
        .enable_all()
        .build()
        .context("starting the API runtime")?;
    // Registered with the runtime here, so a failure stops the start with a message.
    let (tcp, unix) = {
        let _in_runtime = rt.enter();
        let tcp = tokio::net::TcpListener::from_std(tcp).context("registering the API listener")?;
        let unix =
            tokio::net::UnixListener::from_std(unix).context("registering the API socket")?;
        (tcp, unix)
    };
    std::thread::Builder::new().name("weft-api-main".into()).spawn(move || {
        rt.block_on(async move {
            let app = router(ctx);
            let tcp_app = app.clone().layer(middleware::from_fn(tag_tcp));
            let local_app = app.layer(axum::Extension(Transport::Local));
            let tcp_app = tcp_app.into_make_service_with_connect_info::<PeerAddr>();
            let tcp_srv = async move {
                match acceptor {
                    Some(acceptor) => match tls::TlsListener::new(tcp, acceptor) {
                        Ok(l) => {
                            axum::serve(limit::Limited::new(l, limit::MAX_CONNECTIONS), tcp_app)
                                .await
                        }
                        Err(e) => Err(e),
                    },
                    None => {
                        axum::serve(limit::Limited::new(tcp, limit::MAX_CONNECTIONS), tcp_app).await
                    }
                }
            };
            let unix = limit::Limited::new(unix, limit::MAX_CONNECTIONS);
            let unix_srv = axum::serve(unix, local_app).into_future();
            let (a, b) = tokio::join!(tcp_srv, unix_srv);
            if let Err(e) = a.and(b) {
                crate::log_warn!(Api, "API server stopped: {e}");
            }
        });
    })?;
    Ok(())
}

/// The route templates, for the request counter's `route` label (anything
/// else counts as `other`, so a scan cannot grow the label set).
const ROUTES: &[&str] = &[
    "/metrics",
    "/api/v1/status",
    "/api/v1/sites",
    "/api/v1/sites/{id}",
    "/api/v1/sites/{id}/restore",
    "/api/v1/sites/{id}/cordon",
    "/api/v1/sites/{id}/uncordon",
    "/api/v1/sites/{id}/drain",
    "/api/v1/sites/{id}/label",
    "/api/v1/registry/sites",
    "/api/v1/registry/services",
    "/api/v1/registry/services/{name}",
    "/api/v1/registry/watch",
    "/api/v1/identities",
    "/api/v1/identities/revoke",
    "/api/v1/identities/ca",
    "/api/v1/identities/ca/rotate",
    "/api/v1/identities/grants",
    "/api/v1/identities/grants/remove",
    "/api/v1/peers",
    "/api/v1/paths",
    "/api/v1/paths/{id}",
    "/api/v1/paths/{id}/metrics",
    "/api/v1/paths/{id}/test",
    "/api/v1/flows",
    "/api/v1/flows/{id}",
    "/api/v1/routes",
    "/api/v1/topology",
    "/api/v1/explain",
    "/api/v1/events",
    "/api/v1/events/ws",
    "/api/v1/events/history",
    "/api/v1/audit",
    "/api/v1/tokens",
    "/api/v1/profiles",
    "/api/v1/profiles/{name}",
    "/api/v1/tokens/{id}",
    "/api/v1/policy",
    "/api/v1/policy/versions",
    "/api/v1/policy/versions/{version}",
    "/api/v1/policy/check",
    "/api/v1/policy/rollback",
    "/api/v1/policy/promote",
    "/api/v1/policy/mesh",
    "/api/v1/control",
    "/api/v1/ddos",
    "/api/v1/qos",
    "/api/v1/bgp",
    "/api/v1/ipsec",
    "/api/v1/reservations",
    "/api/v1/reservations/{id}",
    "/api/v1/control/audit",
    "/api/v1/gtm",
    "/api/v1/gtm/explain",
    "/api/v1/gtm/services/{name}",
    "/api/v1/gtm/shifts",
    "/api/v1/gtm/shifts/{id}/{command}",
    "/api/v1/shards",
    "/api/v1/shards/simulate",
    "/api/v1/shards/plans/{id}/approve",
    "/api/v1/mesh",
    "/api/v1/mesh/tokens",
    "/api/v1/mesh/revocations",
    "/api/v1/log",
    "/api/v1/health",
    "/api/v1/openapi.json",
    "/ui",
    "/ui/login",
    "/ui/logout",
    "/ui/topology",
    "/ui/paths",
    "/ui/paths/{id}",
    "/ui/flows",
    "/ui/events",
    "/ui/policies",
    "/ui/registry",
    "/ui/live/{view}",
    "/ui/static/{name}",
];

/// The template `path` matches (`/api/v1/paths/{id}`), or `other`.
fn route_template(path: &str) -> &'static str {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let fits = |t: &str| {
        let ts: Vec<&str> = t.split('/').collect();
        ts.len() == segs.len()
            && ts.iter().zip(&segs).all(|(t, s)| t.starts_with('{') && !s.is_empty() || t == s)
    };
    // Literal routes before templated ones (`/policy/check` before `/policy/{…}`).
    ROUTES
        .iter()
        .find(|t| !t.contains('{') && fits(t))
        .or_else(|| ROUTES.iter().find(|t| fits(t)))
        .copied()
        .unwrap_or("other")
}

/// Counts every request by method, route template and status.
async fn count_request(
    axum::extract::State(ctx): axum::extract::State<Arc<Ctx>>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    // Any token is a valid HTTP method: label only the standard ones.
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let route = route_template(req.uri().path());
    let res = next.run(req).await;
    ctx.metrics.count_request(method, route, res.status().as_u16());
    res
}

/// Marks a TCP request with its peer address (before `authorize` runs).
async fn tag_tcp(
    axum::extract::ConnectInfo(PeerAddr(addr)): axum::extract::ConnectInfo<PeerAddr>,
    mut req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    req.extensions_mut().insert(Transport::Tcp(addr));
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::route_template;

    #[test]
    fn requests_are_counted_by_route_template_with_a_bounded_label_set() {
        assert_eq!(route_template("/api/v1/paths/17/test"), "/api/v1/paths/{id}/test");
        assert_eq!(route_template("/api/v1/paths/17"), "/api/v1/paths/{id}");
        assert_eq!(
            route_template("/api/v1/policy/versions/3"),
            "/api/v1/policy/versions/{version}"
        );
        assert_eq!(route_template("/api/v1/policy/check"), "/api/v1/policy/check");
        assert_eq!(route_template("/metrics"), "/metrics");
        assert_eq!(route_template("/api/v1/mesh"), "/api/v1/mesh");
        assert_eq!(route_template("/api/v1/mesh/tokens"), "/api/v1/mesh/tokens");
        assert_eq!(route_template("/api/v1/mesh/revocations"), "/api/v1/mesh/revocations");
        assert_eq!(route_template("/api/v1/sites/b/cordon"), "/api/v1/sites/{id}/cordon");
        assert_eq!(
            route_template("/api/v1/registry/services/web"),
            "/api/v1/registry/services/{name}"
        );
        assert_eq!(route_template("/api/v1/../../etc/passwd"), "other");
        assert_eq!(route_template("/wp-admin/x/y"), "other");
        assert_eq!(route_template("/ui/paths/3"), "/ui/paths/{id}");
        assert_eq!(route_template("/ui/live/overview"), "/ui/live/{view}");
    }
}
