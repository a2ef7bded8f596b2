//! The OpenAPI document, generated from the handlers' annotations and the
//! `weft-api` types (`GET /api/v1/openapi.json`).

use std::sync::OnceLock;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    admin, bgp, control, ddos, events, gtm, identity, ipsec, log, mesh, profiles, qos, registry,
    reservations, shards, state,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Weft agent API",
        description = "The REST API of weftd: sites, peers, paths with measurements, flows, routes, topology, policies (per site, or mesh-wide through a controller), global traffic management, events, tokens, audit, the mesh and the control plane. Over TCP every call but /api/v1/health and /api/v1/openapi.json needs `Authorization: Bearer <token>` with the scope the operation names (read < operate < admin).",
        license(name = "Apache-2.0")
    ),
    paths(
        state::status, state::sites, state::site, state::remove_site, state::restore_site,
        state::peers, state::paths, state::path, state::path_history, state::path_test,
        state::flows, state::flow, state::routes, state::topology, state::explain,
        events::history, events::sse, events::websocket,
        admin::audit, admin::tokens, admin::create_token, admin::revoke_token,
        admin::policy_running, admin::policy_versions, admin::policy_version, admin::policy_check,
        admin::policy_apply, admin::policy_rollback, admin::metrics, admin::health, admin::openapi,
        mesh::status, mesh::create_token, mesh::revoke,
        control::status, control::mesh_status, control::promote, ddos::status, qos::status, bgp::status, ipsec::status, reservations::list, reservations::create, reservations::delete,
        shards::status, shards::simulate, shards::approve,
        registry::sites, registry::services, registry::register, registry::deregister,
        registry::cordon, registry::uncordon, registry::drain, registry::label, registry::watch,
        gtm::status, gtm::explain, gtm::set_service, gtm::remove_service, gtm::shifts,
        gtm::start_shift, gtm::shift_command, gtm::control_audit,
        identity::list, identity::revoke, identity::init_ca, identity::rotate_ca,
        identity::grant, identity::ungrant,
        log::get, log::put,
        profiles::list, profiles::show, profiles::create, profiles::revoke,
    ),
    modifiers(&Bearer, &CommonErrors),
    tags(
        (name = "state", description = "What the agent sees (scope read)"),
        (name = "steering", description = "On-demand tests and site removal (scope operate)"),
        (name = "events", description = "The live event stream, resumable"),
        (name = "policy", description = "Policy as code: read (read), check (read), apply and rollback (admin)"),
        (name = "admin", description = "Tokens, the audit log and the log level (scope admin)"),
        (name = "mesh", description = "The zero-touch mesh: members (read), join tokens and revocations (admin, on the agent holding the mesh CA)"),
        (name = "gtm", description = "Global traffic management: global services and their DNS answers (read), services (admin) and traffic shifts (operate) on controllers"),
        (name = "control", description = "The control plane: controller role, leader, epoch, the mesh-wide policy in force (read)"),
        (name = "registry", description = "Sites and services on the controllers: lists (read), cordon, drain, labels (operate), services (admin)"),
        (name = "identity", description = "Zero-trust workload identities: this site's proxies (read), revocation (admin); on controllers the control plane's identity CA and grants (admin)"),
        (name = "ddos", description = "Flood defence: counters before crypto, detections, the nftables set (read)"),
        (name = "qos", description = "QoS: the scheduler lanes of every shaped uplink (read); bandwidth reservations (read, operate)"),
        (name = "bgp", description = "BGP with the routers: neighbors, announced and learnt prefixes (read)"),
        (name = "ipsec", description = "IPsec gateways as paths: SAs, probes, the chosen route (read)"),
        (name = "profiles", description = "Connection profiles: stock WireGuard clients this site serves as run-time stock peers (scope admin)"),
        (name = "metrics", description = "Prometheus exposition"),
        (name = "meta", description = "Health and this document (no token)"),
    )
)]
struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Declares on every operation the errors the shared layers can answer, so
/// each handler's annotation lists only its own: 401 and 403 where a token
/// is needed (the auth layer), 400 where there are parameters or a body
/// (the extractors), 413 where there is a body (the size limit), 414 and 431
/// everywhere (the bounds on the request line and the headers).
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |what: &str| {
            ResponseBuilder::new()
                .description(what)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("ApiError"))).build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let ops =
                [&mut item.get, &mut item.post, &mut item.put, &mut item.delete, &mut item.patch];
            for op in ops.into_iter().flatten() {
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let takes_input = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let has_body = op.request_body.is_some();
                let r = &mut op.responses.responses;
                let mut add = |code: &str, what: &str| {
                    r.entry(code.to_owned()).or_insert_with(|| error(what).into());
                };
                if secured {
                    add("401", "no token, or an unknown or revoked one");
                    add("403", "the token lacks the scope this operation needs");
                }
                if takes_input || has_body {
                    add("400", "a parameter or the body is malformed");
                }
                if has_body {
                    add("413", "the body is larger than 4 MiB");
                }
                // The bounds layer (`api::bounds`) answers these on any route.
                add(
                    "414",
                    "the path and query string are longer than 8 KiB, or the query than 4 KiB",
                );
                add("431", "more than 64 header fields, or more than 16 KiB of them");
            }
        }
    }
}

/// The document as JSON (built once).
pub(crate) fn document() -> String {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_every_endpoint_with_its_security() {
        let doc: serde_json::Value = serde_json::from_str(&document()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for p in [
            "/api/v1/sites",
            "/api/v1/sites/{id}",
            "/api/v1/paths/{id}/test",
            "/api/v1/events",
            "/api/v1/tokens",
            "/api/v1/policy",
            "/metrics",
            "/api/v1/explain",
            "/api/v1/mesh",
            "/api/v1/mesh/tokens",
            "/api/v1/mesh/revocations",
            "/api/v1/registry/sites",
            "/api/v1/registry/services",
            "/api/v1/registry/services/{name}",
            "/api/v1/registry/watch",
            "/api/v1/sites/{id}/cordon",
            "/api/v1/sites/{id}/uncordon",
            "/api/v1/sites/{id}/drain",
            "/api/v1/sites/{id}/label",
            "/api/v1/profiles",
            "/api/v1/profiles/{name}",
            "/api/v1/bgp",
        ] {
            assert!(paths.contains_key(p), "{p} missing from the OpenAPI document");
        }
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
        assert!(doc["components"]["schemas"]["Site"].is_object());
    }

    #[test]
    fn every_operation_id_is_unique() {
        let doc: serde_json::Value = serde_json::from_str(&document()).unwrap();
        let mut seen = std::collections::BTreeMap::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let Some(id) = op["operationId"].as_str() else { continue };
                if let Some(first) = seen.insert(id.to_owned(), format!("{method} {path}")) {
                    panic!("operationId {id:?} of {method} {path} is also {first}'s");
                }
            }
        }
        assert!(seen.len() > 30, "{seen:?}");
    }

    #[test]
    fn the_mesh_operations_declare_every_status_they_can_answer() {
        let doc: serde_json::Value = serde_json::from_str(&document()).unwrap();
        let codes = |path: &str, method: &str| -> Vec<String> {
            let r = doc["paths"][path][method]["responses"].as_object().unwrap();
            r.keys().cloned().collect()
        };
        for (path, method, expected) in [
            ("/api/v1/mesh", "get", &["200", "401", "403", "409", "503"][..]),
            ("/api/v1/mesh/tokens", "post", &["201", "400", "401", "403", "409", "413", "503"]),
            (
                "/api/v1/mesh/revocations",
                "post",
                &["200", "400", "401", "403", "404", "409", "413", "503"],
            ),
        ] {
            let got = codes(path, method);
            for c in expected {
                assert!(got.iter().any(|g| g == c), "{method} {path} lacks {c}: {got:?}");
            }
        }
        for path in ["/api/v1/registry/sites", "/api/v1/registry/services"] {
            let got = codes(path, "get");
            assert!(got.iter().any(|g| g == "409"), "{path} lacks its 409 off controllers");
        }
        for s in [
            "MeshStatus",
            "MeshMember",
            "MeshToken",
            "MeshTokenCreate",
            "MeshRevoke",
            "BgpStatus",
            "SharedLearntPrefix",
        ] {
            assert!(doc["components"]["schemas"][s].is_object(), "{s} missing");
        }
    }
}
