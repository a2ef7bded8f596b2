//! The proxy's counters in the OpenMetrics text format (prometheus-client):
//! `weft_zt_connections_total{proxy,service,decision}` and
//! `weft_zt_handshake_failures_total{proxy}`.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::Proxy;

type Labels = Vec<(String, String)>;

/// The counters of `proxies` (each with its name) as OpenMetrics text.
pub fn render(proxies: &[(&str, &Proxy)]) -> String {
    let mut registry = Registry::default();
    let conns = Family::<Labels, Counter>::default();
    let failures = Family::<Labels, Counter>::default();
    registry.register(
        "weft_zt_connections",
        "Connections the zero-trust proxy decided, by service and decision",
        conns.clone(),
    );
    registry.register(
        "weft_zt_handshake_failures",
        "TLS handshakes refused before a decision (no or untrusted SVID)",
        failures.clone(),
    );
    for (name, p) in proxies {
        for (service, allowed, denied) in p.counts() {
            for (decision, n) in [("allow", allowed), ("deny", denied)] {
                let labels = vec![
                    ("proxy".to_owned(), (*name).to_owned()),
                    ("service".to_owned(), service.clone()),
                    ("decision".to_owned(), decision.to_owned()),
                ];
                conns.get_or_create(&labels).inc_by(n);
            }
        }
        failures
            .get_or_create(&vec![("proxy".to_owned(), (*name).to_owned())])
            .inc_by(p.handshake_failures());
    }
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}
